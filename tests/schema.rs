//! The JSON Schemas in `docs/schema/` are the ones the types generate,
//! and every machine-readable output of every testdata capture validates
//! against them, made strict: an object may hold no field its schema does
//! not name, so a field added without its type (or a misspelt one) fails
//! here rather than in a user's SIEM mapping.

mod common;

use common::{bin, testdata, testdata_captures};
use portmortem::command::schema::Document;
use serde_json::Value;
use std::path::Path;

fn shipped(d: Document) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/schema")
        .join(d.file_name())
}

#[test]
fn the_shipped_schemas_are_the_generated_ones() {
    // `PORTMORTEM_BLESS=1 cargo test --test schema` rewrites them.
    let bless = std::env::var_os("PORTMORTEM_BLESS").is_some();
    for d in Document::ALL {
        let path = shipped(d);
        let text = d.text().unwrap();
        if bless {
            std::fs::write(&path, &text).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == text,
            "{} is not what `portmortem schema` generates; run PORTMORTEM_BLESS=1 cargo test --test schema",
            path.display()
        );
    }
}

/// The tables' Arrow schemas (`docs/schema/tables.arrow.json`, for
/// Parquet, DuckDB and Spark users) are generated from the analyze
/// schema: a field added there moves them, blessed the same way.
#[test]
fn the_shipped_table_schemas_are_the_generated_ones() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema/tables.arrow.json");
    let text = portmortem::command::tables::text().unwrap();
    if std::env::var_os("PORTMORTEM_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == text,
        "{} is not what command::tables generates; run PORTMORTEM_BLESS=1 cargo test --test schema",
        path.display()
    );
}

/// Every object schema with named properties admits no others. Where
/// such an object's `oneOf`/`anyOf`/`allOf` branches name more (an
/// internally tagged enum), the object itself carries the rule: the draft
/// 2020-12 keyword counts what its successful branches evaluated, and a
/// branch's own would not see the object's fields.
fn strict(v: &mut Value) {
    let defs = v.get("$defs").cloned().unwrap_or_default();
    inline(v, &defs, 0);
    strict_in(v, false)
}

/// Replaces each `$ref` by its definition (beside other keywords: as an
/// `allOf` branch), so that a struct flattened into another is judged
/// with the fields around it, not alone.
fn inline(v: &mut Value, defs: &Value, depth: usize) {
    assert!(depth < 64, "the output types are not recursive");
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.remove("$ref") {
                let name = r.strip_prefix("#/$defs/").expect("local references only");
                let mut def = defs[name].clone();
                inline(&mut def, defs, depth + 1);
                if m.keys().all(|k| k == "description") {
                    *v = def;
                    return;
                }
                let all = m.entry("allOf").or_insert_with(|| Value::Array(vec![]));
                all.as_array_mut().unwrap().push(def);
            }
            m.remove("$defs");
            m.values_mut().for_each(|x| inline(x, defs, depth + 1));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| inline(x, defs, depth + 1)),
        _ => {}
    }
}

fn strict_in(v: &mut Value, branch_of_object: bool) {
    match v {
        Value::Object(m) => {
            let named = m.contains_key("properties");
            if named && !branch_of_object && !m.contains_key("additionalProperties") {
                m.insert("unevaluatedProperties".into(), Value::Bool(false));
            }
            for (k, sub) in m.iter_mut() {
                match (k.as_str(), sub) {
                    ("oneOf" | "anyOf" | "allOf", Value::Array(branches)) => {
                        for b in branches {
                            strict_in(b, named || branch_of_object);
                        }
                    }
                    (_, sub) => strict_in(sub, false),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| strict_in(x, false)),
        _ => {}
    }
}

struct Validator(jsonschema::Validator);

impl Validator {
    fn of(d: Document) -> Self {
        let mut schema = serde_json::to_value(d.schema()).unwrap();
        strict(&mut schema);
        Validator(jsonschema::draft202012::new(&schema).unwrap())
    }

    fn check(&self, what: &str, v: &Value) {
        let errors: Vec<String> = self
            .0
            .iter_errors(v)
            .take(5)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{what}:\n{}", errors.join("\n"));
    }

    fn check_lines(&self, what: &str, text: &[u8]) -> usize {
        let mut n = 0;
        for (i, l) in text.split(|&b| b == b'\n').enumerate() {
            if l.is_empty() {
                continue;
            }
            let v: Value = serde_json::from_slice(l)
                .unwrap_or_else(|e| panic!("{what} line {}: not JSON ({e})", i + 1));
            self.check(&format!("{what} line {}", i + 1), &v);
            n += 1;
        }
        n
    }
}

fn output(args: &[&str], paths: &[std::path::PathBuf]) -> Vec<u8> {
    let out = bin().args(args).args(paths).output().unwrap();
    // 2 is a capture that could not be read to its end: the report of
    // what was read is still written, and must validate too.
    assert!(
        matches!(out.status.code(), Some(0..=2)) && !out.stdout.is_empty(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn json(what: &str, bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{what}: not JSON ({e})"))
}

#[test]
fn analyze_outputs_validate() {
    let v = Validator::of(Document::Analyze);
    let compare = Validator::of(Document::Compare);
    let lines = Validator::of(Document::ReportLines);
    for name in testdata_captures() {
        let p = [testdata(&name)];
        for pretty in [&[][..], &["--pretty"][..]] {
            let args = [&["analyze", "-f", "json"][..], pretty].concat();
            let doc = json(&name, &output(&args, &p));
            // A capture holding both legs of a device is compared leg
            // against leg: its report is compare's document.
            let v = if doc["command"] == "compare" {
                &compare
            } else {
                &v
            };
            v.check(&format!("{name} {pretty:?}"), &doc);
        }
        let n = lines.check_lines(&name, &output(&["analyze", "-f", "ndjson"], &p));
        assert!(n >= 2, "{name}: {n} lines");
    }
}

#[test]
fn compare_outputs_validate() {
    let v = Validator::of(Document::Compare);
    let lines = Validator::of(Document::ReportLines);
    let mut pairs = 0;
    for name in testdata_captures() {
        let Some(stem) = name.strip_suffix("-client.pcap") else {
            continue;
        };
        let server = testdata(&format!("{stem}-server.pcap"));
        if !server.exists() {
            continue;
        }
        let p = [testdata(&name), server];
        v.check(stem, &json(stem, &output(&["compare", "-f", "json"], &p)));
        lines.check_lines(stem, &output(&["compare", "-f", "ndjson"], &p));
        pairs += 1;
    }
    assert!(pairs >= 10, "{pairs} client/server pairs in testdata");
}

#[test]
fn the_rules_list_validates() {
    let rules = json("rules", &output(&["rules", "-f", "json"], &[]));
    assert!(rules.as_array().is_some_and(|r| r.len() > 10));
    Validator::of(Document::Rules).check("rules", &rules);
}

#[test]
fn batch_merge_and_watch_outputs_validate() {
    let dir = [testdata("")];
    let doc = json("batch", &output(&["batch", "-f", "json", "-j", "2"], &dir));
    Validator::of(Document::Batch).check("batch", &doc);
    let ndjson = output(&["batch", "-f", "ndjson", "-j", "2"], &dir);
    let n = Validator::of(Document::BatchLines).check_lines("batch ndjson", &ndjson);
    assert!(n > testdata_captures().len(), "{n} lines");

    let tmp = common::temp_dir("schema-merge");
    let shard = tmp.join("all.ndjson");
    std::fs::write(&shard, &ndjson).unwrap();
    let merged = json("merge", &output(&["merge", "-f", "json"], &[shard]));
    Validator::of(Document::Batch).check("merge", &merged);

    let watch = Validator::of(Document::Watch);
    for name in testdata_captures() {
        let out = bin()
            .args(["watch", "-f", "ndjson", "-"])
            .stdin(std::fs::File::open(testdata(&name)).unwrap())
            .output()
            .unwrap();
        watch.check_lines(&format!("watch {name}"), &out.stdout);
    }
}

#[test]
fn an_unnamed_field_or_a_wrong_type_fails() {
    let v = Validator::of(Document::Analyze);
    let name = "lab-mangle-inetutils-client.pcap";
    let doc = json(name, &output(&["analyze", "-f", "json"], &[testdata(name)]));
    v.check(name, &doc);
    let breaks: [(&str, Value); 4] = [
        ("/findings/0/surprise", Value::from(1)),
        ("/sessions/0/dialogue/0/surprise", Value::from(1)),
        ("/findings/0/severity", Value::from("fatal")),
        ("/sessions/0/dialogue/0/text", Value::from("\u{1b}[2J")),
    ];
    for (at, value) in breaks {
        let mut bad = doc.clone();
        let (parent, key) = at.rsplit_once('/').unwrap();
        bad.pointer_mut(parent).unwrap()[key] = value;
        assert!(!v.0.is_valid(&bad), "{at} accepted");
    }
}

#[test]
fn a_probe_of_the_reflector_validates() {
    use std::io::{BufRead, BufReader};
    let mut reflect = bin()
        .args(["reflect", "--listen", "127.0.0.1:0", "--quiet"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(reflect.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .rsplit_once("listening on ")
        .map(|(_, a)| a.trim().to_string())
        .unwrap_or_else(|| panic!("reflect said {line:?}"));
    let out = bin()
        .args([
            "probe",
            "--only",
            "shapes,passive",
            "--trace",
            "-q",
            "-f",
            "json",
            "--reflector",
        ])
        .arg(format!("ftp://{addr}"))
        .output()
        .unwrap();
    let _ = reflect.kill();
    let _ = reflect.wait();
    let doc = json(&String::from_utf8_lossy(&out.stderr), &out.stdout);
    // The traces are in the document with or without the raw socket
    // they need (without it, the reply's trace says the reflector cannot).
    assert!(!doc["traces"].as_array().unwrap().is_empty());
    Validator::of(Document::Probe).check("probe", &doc);
}

/// Every property of every shipped schema says what it holds: a
/// `description` on the property, or on the one definition it refers to
/// (alone, or beside `null`); a tag's constant is described by its
/// variant. A field added without a doc comment fails here, naming where
/// it is.
#[test]
fn every_property_is_described() {
    fn described(p: &Value, defs: &Value) -> bool {
        // A tag (`"type": "finding"`) is described by its variant.
        if p.get("description").is_some() || p.get("const").is_some() {
            return true;
        }
        let by_ref = |r: &Value| {
            r.as_str()
                .and_then(|r| r.strip_prefix("#/$defs/"))
                .is_some_and(|n| defs[n].get("description").is_some())
        };
        if let Some(r) = p.get("$ref") {
            return by_ref(r);
        }
        ["anyOf", "oneOf"].iter().any(|k| {
            p.get(*k).and_then(Value::as_array).is_some_and(|bs| {
                let refs: Vec<&Value> = bs.iter().filter_map(|b| b.get("$ref")).collect();
                let rest = bs.iter().filter(|b| b.get("$ref").is_none());
                refs.len() == 1
                    && by_ref(refs[0])
                    && rest
                        .into_iter()
                        .all(|b| b.get("type") == Some(&"null".into()))
            })
        })
    }
    fn walk(v: &Value, at: &str, defs: &Value, missing: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Object(props)) = m.get("properties") {
                    for (k, p) in props {
                        if !described(p, defs) {
                            missing.push(format!("{at}.{k}"));
                        }
                    }
                }
                for (k, sub) in m {
                    if k != "$defs" {
                        walk(sub, at, defs, missing);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, at, defs, missing)),
            _ => {}
        }
    }
    let mut missing = Vec::new();
    for d in Document::ALL {
        let s = serde_json::to_value(d.schema()).unwrap();
        let defs = s.get("$defs").cloned().unwrap_or_default();
        walk(&s, d.file_name(), &defs, &mut missing);
        if let Value::Object(m) = &defs {
            for (name, def) in m {
                walk(def, name, &defs, &mut missing);
            }
        }
    }
    missing.sort();
    missing.dedup();
    assert!(
        missing.is_empty(),
        "{} properties without a description (a doc comment on the field):\n{}",
        missing.len(),
        missing.join("\n")
    );
}
