//! The tables of a report, for Parquet, Arrow, DuckDB and Spark:
//! `captures`, `sessions`, `lines`, `data_setups`, `data_connections` and
//! `findings`, each with one typed Arrow schema.
//!
//! The columns are not inferred from rows (a key absent from the first
//! row would be lost for every row, and an all-null column would get a
//! different type in every file): they are generated from the JSON
//! Schema of the `analyze` document ([`super::schema`]), which is itself
//! generated from the types that write the report. A field added to a
//! session, a line or a finding (a struct, a list, an enum) reaches its
//! table's Arrow schema with no change here. Timestamps are
//! `timestamp[ns, UTC]`, lists and objects are Arrow lists and structs,
//! maps are Arrow maps, every integer is `int64` (Spark and Parquet
//! readers have no unsigned types) and an absent value is a null of the
//! column's type.
//!
//! The description is plain JSON ([`text`]); the Python package builds
//! its `pyarrow` schemas from it (`portmortem.schema()`).

use super::schema::Document;
use serde::Serialize;
use serde_json::{Map, Value};

/// A column's Arrow type.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Type {
    Int64,
    /// For the few numbers read from capture bytes that may pass 2⁶³
    /// (see [`UNSIGNED`]); Spark reads them as `decimal(20,0)`.
    Uint64,
    Float64,
    Bool,
    /// UTF-8 text (bytes from captures are in the escape form).
    String,
    /// `timestamp[ns, UTC]`.
    TimestampNsUtc,
    List(Box<Field>),
    Struct(Vec<Field>),
    /// Keys are strings; the field is the value.
    Map(Box<Field>),
}

/// A column, or a child of a list, struct or map.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: Type,
    pub nullable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One table: where its rows are in an `analyze` (or `compare`)
/// document, and its columns (the key columns first).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Table {
    pub name: &'static str,
    /// The list its rows come from: a top-level list of the document
    /// (`["captures"]`), or a list inside each session
    /// (`["sessions", "dialogue"]`).
    pub rows: &'static [&'static str],
    /// The columns that join the tables: the capture (its SHA-256, or its
    /// path where hashing was off; and its path), the session, and a
    /// row's position in its session's list where the row has no number
    /// of its own. A row type's own `capture` (a position in its document)
    /// is left out: across a dataset of many documents it names nothing.
    pub keys: Vec<String>,
    /// Fields of the row type that are tables of their own (or keys).
    pub left_out: &'static [&'static str],
    pub fields: Vec<Field>,
}

/// Every table, in the order they are written.
pub fn tables() -> Result<Vec<Table>, String> {
    let schema = Document::Analyze.schema();
    let root = schema.as_value();
    let c = Converter {
        defs: root
            .get("$defs")
            .and_then(Value::as_object)
            .ok_or("the analyze schema has no $defs")?,
    };
    let items = |v: &Value, key: &str| -> Result<Value, String> {
        v.get("properties")
            .and_then(|p| p.get(key))
            .and_then(|p| p.get("items"))
            .cloned()
            .ok_or_else(|| format!("no list `{key}` in the analyze schema"))
    };
    let session = c.resolve(&items(root, "sessions")?, 0)?.clone();
    let key = |name: &str, ty: Type, nullable: bool, what: &str| Field {
        name: name.into(),
        ty,
        nullable,
        description: Some(what.into()),
    };
    let capture = key(
        "capture",
        Type::String,
        false,
        "The capture: its SHA-256, or its path where hashing was off; for \
         each leg of one file compared leg against leg, followed by ` leg ` \
         and the leg's name. The partition key of a dataset written by \
         appending.",
    );
    let capture_keys = || {
        vec![
            capture.clone(),
            key(
                "capture_path",
                Type::String,
                false,
                "The capture's path, as the document names it.",
            ),
        ]
    };
    let mut out = Vec::new();
    let mut table = |name: &'static str,
                     rows: &'static [&'static str],
                     mut keys: Vec<Field>,
                     left_out: &'static [&'static str],
                     row: &Value|
     -> Result<(), String> {
        let fields = c.fields(row, name, 0)?;
        let names: Vec<String> = keys.iter().map(|k| k.name.clone()).collect();
        for f in fields {
            if left_out.contains(&f.name.as_str()) {
                continue;
            }
            if keys.iter().any(|k| k.name == f.name) {
                return Err(format!("{name}.{}: a field named as a key column", f.name));
            }
            keys.push(f);
        }
        out.push(Table {
            name,
            rows,
            keys: names,
            left_out,
            fields: keys,
        });
        Ok(())
    };
    table(
        "captures",
        &["captures"],
        vec![capture.clone()],
        &[],
        &items(root, "captures")?,
    )?;
    let mut session_keys = capture_keys();
    session_keys.push(key(
        "session",
        Type::String,
        false,
        "The session id (`s1`…), unique within its capture.",
    ));
    table(
        "sessions",
        &["sessions"],
        session_keys.clone(),
        &[
            "capture",
            "id",
            "dialogue",
            "data_setups",
            "data_connections",
        ],
        &session,
    )?;
    table(
        "lines",
        &["sessions", "dialogue"],
        session_keys.clone(),
        &[],
        &items(&session, "dialogue")?,
    )?;
    let mut k = session_keys.clone();
    k.push(key(
        "setup",
        Type::Int64,
        false,
        "The setup's position in its session's `data_setups`.",
    ));
    table(
        "data_setups",
        &["sessions", "data_setups"],
        k,
        &[],
        &items(&session, "data_setups")?,
    )?;
    let mut k = session_keys;
    k.push(key(
        "connection",
        Type::Int64,
        false,
        "The connection's position in its session's `data_connections` (a setup's `connection`).",
    ));
    table(
        "data_connections",
        &["sessions", "data_connections"],
        k,
        &[],
        &items(&session, "data_connections")?,
    )?;
    table(
        "findings",
        &["findings"],
        capture_keys(),
        &["capture"],
        &items(root, "findings")?,
    )?;
    Ok(out)
}

/// Columns whose integers are read from capture bytes with no bound but
/// u64's (a saturating reader's value of a digit string, `…,99999999999999999999`):
/// `uint64`, not `int64`, so no value is lost. Named by where they are.
const UNSIGNED: &[&str] = &[".defects[].value"];

/// JSON Schema → Arrow, over one document's `$defs`.
struct Converter<'a> {
    defs: &'a Map<String, Value>,
}

/// Deeper than any report nests: a recursive type would be an error, not
/// a stack overflow.
const MAX_DEPTH: usize = 32;

impl<'a> Converter<'a> {
    /// Follows `$ref`s to the schema they name.
    fn resolve<'s>(&'s self, mut s: &'s Value, depth: usize) -> Result<&'s Value, String>
    where
        'a: 's,
    {
        for _ in depth..MAX_DEPTH {
            match s.get("$ref").and_then(Value::as_str) {
                None => return Ok(s),
                Some(r) => {
                    let name = r
                        .strip_prefix("#/$defs/")
                        .ok_or_else(|| format!("a $ref outside $defs: {r}"))?;
                    s = self
                        .defs
                        .get(name)
                        .ok_or_else(|| format!("no $defs/{name}"))?;
                }
            }
        }
        Err("$refs nest too deep (a recursive type?)".into())
    }

    /// The columns of an object schema: its properties, then those of
    /// each `oneOf`/`anyOf` variant (an enum with data: every variant's
    /// fields, null where another variant was written).
    fn fields(&self, s: &Value, at: &str, depth: usize) -> Result<Vec<Field>, String> {
        if depth > MAX_DEPTH {
            return Err(format!("{at}: nested too deep (a recursive type?)"));
        }
        let s = self.resolve(s, depth)?;
        let mut fields: Vec<Field> = Vec::new();
        let add = |f: Field, fields: &mut Vec<Field>| -> Result<(), String> {
            match fields.iter_mut().find(|g| g.name == f.name) {
                None => fields.push(f),
                Some(g) if g.ty == f.ty => g.nullable |= f.nullable,
                Some(g) => {
                    return Err(format!(
                        "{at}.{}: two types ({:?} and {:?}) in one column",
                        f.name, g.ty, f.ty
                    ));
                }
            }
            Ok(())
        };
        let required = |s: &Value, name: &str| {
            s.get("required")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|n| n == name))
        };
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            for (name, p) in props {
                let (ty, nullable) = self.ty(p, &format!("{at}.{name}"), depth + 1)?;
                add(
                    Field {
                        name: name.clone(),
                        ty,
                        nullable: nullable || !required(s, name),
                        description: description(p),
                    },
                    &mut fields,
                )?;
            }
        }
        for key in ["oneOf", "anyOf"] {
            for variant in s.get(key).and_then(Value::as_array).into_iter().flatten() {
                let v = self.resolve(variant, depth)?;
                if is_null(v) {
                    continue;
                }
                for mut f in self.fields(v, at, depth + 1)? {
                    f.nullable = true;
                    add(f, &mut fields)?;
                }
            }
        }
        Ok(fields)
    }

    /// A value's type, and whether it may be null.
    fn ty(&self, s: &Value, at: &str, depth: usize) -> Result<(Type, bool), String> {
        if depth > MAX_DEPTH {
            return Err(format!("{at}: nested too deep (a recursive type?)"));
        }
        let s = self.resolve(s, depth)?;
        // `Option<T>`: anyOf [T, null]; a plain enum: oneOf of strings;
        // an enum with data: oneOf of objects.
        let variants: Vec<&Value> = ["oneOf", "anyOf"]
            .iter()
            .filter_map(|k| s.get(*k).and_then(Value::as_array))
            .flatten()
            .map(|v| self.resolve(v, depth))
            .collect::<Result<_, _>>()?;
        let (types, nullable) = self.types(s);
        if !variants.is_empty() && !types.contains(&"object") {
            let nullable = nullable || variants.iter().any(|v| is_null(v));
            let real: Vec<&Value> = variants.into_iter().filter(|v| !is_null(v)).collect();
            let typed: Vec<(Type, bool)> = real
                .iter()
                .map(|v| self.ty(v, at, depth + 1))
                .collect::<Result<_, _>>()?;
            return match typed.as_slice() {
                [] => Err(format!("{at}: no type but null")),
                [(t, n)] => Ok((t.clone(), nullable || *n)),
                many if many.iter().all(|(t, _)| *t == Type::String) => {
                    Ok((Type::String, nullable || many.iter().any(|(_, n)| *n)))
                }
                _ if real.iter().all(|v| self.types(v).0 == ["object"]) => {
                    Ok((Type::Struct(self.fields(s, at, depth + 1)?), nullable))
                }
                _ => Err(format!("{at}: variants of different kinds in one column")),
            };
        }
        if types.is_empty() && (s.get("const").is_some() || s.get("enum").is_some()) {
            return Ok((Type::String, nullable));
        }
        let ty = match types.as_slice() {
            ["string"] if s.get("format").and_then(Value::as_str) == Some("date-time") => {
                Type::TimestampNsUtc
            }
            ["string"] => Type::String,
            ["integer"] if UNSIGNED.iter().any(|u| at.ends_with(u)) => Type::Uint64,
            ["integer"] => Type::Int64,
            ["number"] => Type::Float64,
            ["boolean"] => Type::Bool,
            ["array"] => {
                let item = s
                    .get("items")
                    .ok_or_else(|| format!("{at}: a list without `items`"))?;
                let (ty, n) = self.ty(item, &format!("{at}[]"), depth + 1)?;
                Type::List(Box::new(Field {
                    name: "element".into(),
                    ty,
                    nullable: n,
                    description: None,
                }))
            }
            ["object"] => match s.get("additionalProperties") {
                Some(v) if v.is_object() && s.get("properties").is_none() => {
                    let (ty, n) = self.ty(v, &format!("{at}{{}}"), depth + 1)?;
                    Type::Map(Box::new(Field {
                        name: "value".into(),
                        ty,
                        nullable: n,
                        description: None,
                    }))
                }
                _ => Type::Struct(self.fields(s, at, depth + 1)?),
            },
            _ => {
                return Err(format!(
                    "{at}: no Arrow type for this JSON Schema: {}",
                    serde_json::to_string(s).unwrap_or_default()
                ));
            }
        };
        if let Type::Struct(f) = &ty
            && f.is_empty()
        {
            return Err(format!("{at}: an object without fields"));
        }
        Ok((ty, nullable))
    }

    /// The non-null `type`s a schema names, and whether it names null.
    fn types<'s>(&self, s: &'s Value) -> (Vec<&'s str>, bool) {
        let all: Vec<&str> = match s.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let nullable = all.contains(&"null");
        (all.into_iter().filter(|t| *t != "null").collect(), nullable)
    }
}

fn is_null(s: &Value) -> bool {
    s.get("type").and_then(Value::as_str) == Some("null")
}

fn description(s: &Value) -> Option<String> {
    s.get("description")
        .and_then(Value::as_str)
        .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The description as shipped (pretty JSON, a final line end).
pub fn text() -> Result<String, String> {
    let mut s = serde_json::to_string_pretty(&tables()?).map_err(|e| e.to_string())?;
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column<'t>(t: &'t [Table], table: &str, name: &str) -> &'t Field {
        let t = t.iter().find(|t| t.name == table).unwrap();
        t.fields
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{table}.{name} missing"))
    }

    #[test]
    fn every_table_has_its_columns_typed() {
        let t = tables().unwrap();
        let names: Vec<&str> = t.iter().map(|t| t.name).collect();
        assert_eq!(
            names,
            [
                "captures",
                "sessions",
                "lines",
                "data_setups",
                "data_connections",
                "findings"
            ]
        );
        // The columns the issue found lost when taken from the first row.
        assert_eq!(column(&t, "lines", "verb").ty, Type::String);
        assert!(column(&t, "lines", "verb").nullable);
        assert_eq!(column(&t, "lines", "code").ty, Type::Int64);
        assert_eq!(column(&t, "lines", "pairs_with").ty, Type::Int64);
        assert_eq!(column(&t, "lines", "follows_gap").ty, Type::Bool);
        assert_eq!(column(&t, "lines", "ts").ty, Type::TimestampNsUtc);
        assert!(matches!(&column(&t, "lines", "frames").ty, Type::List(f) if f.ty == Type::Int64));
        assert_eq!(column(&t, "data_setups", "failure").ty, Type::String);
        let Type::Struct(arg) = &column(&t, "data_setups", "arg").ty else {
            panic!()
        };
        let defects = arg.iter().find(|f| f.name == "defects").unwrap();
        let Type::List(defect) = &defects.ty else {
            panic!()
        };
        let Type::Struct(defect) = &defect.ty else {
            panic!()
        };
        let value = defect.iter().find(|f| f.name == "value").unwrap();
        assert_eq!(value.ty, Type::Uint64, "every u64 a line can spell fits");
        assert!(matches!(
            column(&t, "findings", "facts").ty,
            Type::Struct(_)
        ));
        assert!(matches!(column(&t, "sessions", "ttl").ty, Type::Struct(_)));
        assert!(matches!(
            column(&t, "captures", "error").ty,
            Type::Struct(_)
        ));
        // A map of counts.
        let Type::Struct(packets) = &column(&t, "captures", "packets").ty else {
            panic!()
        };
        let skipped = packets.iter().find(|f| f.name == "skipped").unwrap();
        assert!(matches!(&skipped.ty, Type::Map(v) if v.ty == Type::Int64));
        // An enum with data (`Mismatch`): the tag and every variant's fields.
        let Type::Struct(m) = &column(&t, "data_setups", "mismatch").ty else {
            panic!()
        };
        let m: Vec<&str> = m.iter().map(|f| f.name.as_str()).collect();
        assert!(m.contains(&"kind") && m.contains(&"read_as"), "{m:?}");
        // Keys first, and the lists that are tables of their own left out.
        let s = t.iter().find(|t| t.name == "sessions").unwrap();
        let cols: Vec<&str> = s.fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(cols[..3], ["capture", "capture_path", "session"]);
        assert!(!cols.contains(&"dialogue") && !cols.contains(&"id"));
        assert_eq!(s.keys, ["capture", "capture_path", "session"]);
    }

    #[test]
    fn schemas_that_have_no_column_type_are_refused() {
        let defs = Map::new();
        let c = Converter { defs: &defs };
        let any = serde_json::json!({});
        assert!(c.ty(&any, "x", 0).is_err());
        let mixed = serde_json::json!({"oneOf": [{"type": "string"}, {"type": "integer"}]});
        assert!(c.ty(&mixed, "x", 0).is_err());
        let clash = serde_json::json!({"type": "object", "oneOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}},
            {"type": "object", "properties": {"a": {"type": "integer"}}}]});
        assert!(c.ty(&clash, "x", 0).unwrap_err().contains("two types"));
        let looped = serde_json::json!({"$ref": "#/$defs/L"});
        let mut defs = Map::new();
        defs.insert(
            "L".into(),
            serde_json::json!({"type": "object", "properties": {"next": {"$ref": "#/$defs/L"}}}),
        );
        let c = Converter { defs: &defs };
        assert!(c.ty(&looped, "x", 0).is_err());
    }
}
