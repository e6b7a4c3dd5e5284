//! Every number a finding's sentence states comes from the case at hand
//! (issue #22): a number in a message must appear in the finding's own
//! facts, frames or evidence, in its session or capture as the report
//! gives them, or be one of the few cited constants below (an RFC's
//! number, the FTP ports and reply codes). A sentence that says "1 in
//! 256" where nothing in the case computes 256 is caught here, over every finding of every testdata capture and,
//! where present, the public corpus. (Decimal durations such as `25.0 s`
//! are derived from timestamps and are not checked.)

mod common;
use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

/// Digit runs of dotted or plain numbers in `s` ("198.51.100.60", "227"),
/// but for what only renders the case: a byte's hex value (`0x37`, the
/// byte itself is in the evidence), and the counts of what a quote or a
/// list leaves out (`…(+112559 bytes)`, `and 73 more`).
fn numbers(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    let s_chars: Vec<char> = s.chars().chain(std::iter::once(' ')).collect();
    for (i, &ch) in s_chars.iter().enumerate() {
        if ch.is_ascii_digit() || (ch == '.' && !cur.is_empty()) {
            if cur.is_empty() {
                start = i;
            }
            cur.push(ch);
        } else if !cur.is_empty() {
            let before: String = s_chars[start.saturating_sub(6)..start].iter().collect();
            let after: String = s_chars[i..(i + 6).min(s_chars.len())].iter().collect();
            let elided = before.ends_with("(+") && after.starts_with(" bytes")
                || before.ends_with("and ") && after.starts_with(" more")
                // The PORT formula p1·256+p2, whose terms are the case's.
                || before.ends_with('·') && after.starts_with('+');
            // Part of a word ("sha256", "0x37"): no number of its own.
            let in_word = before
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphabetic());
            if !in_word && !elided {
                out.push(cur.trim_end_matches('.').to_string());
            }
            cur.clear();
        }
    }
    out
}

/// Numbers a sentence may state that are no fact of the case: the
/// numbers of the RFCs and public documents it cites, and the ports and
/// reply codes the protocol fixes. Anything else must be computed.
const CITED: &[&str] = &[
    // RFCs cited by number, and their sections.
    "959", "854", "1812", "2428", "1639", "6298", "9293", "793", "3659", "4.1.3", "3.8.6.3",
    // Novell TID on Check Point and multi-line replies; the Python bug
    // after which ftplib ignores a 227's address.
    "10076230", "43285", // The vsftpd 2.3.4 backdoor: its CVE and the port of its shell.
    "2011", "2523", "6200", "2.3.4", // The FTP ports and the reply codes rules explain.
    "20", "21", "125", "150", "200", "220", "221", "226", "227", "228", "229", "230", "234", "331",
    "425", "500", "501", "502", "522", "530", "550",
    // The digit string the Check Point rewrite turns into `22_`, and the
    // port-space size the odds are counted in.
    "22", "65536",
];

fn constants() -> BTreeSet<String> {
    CITED.iter().map(|s| s.to_string()).collect()
}

fn check(path: &Path, consts: &BTreeSet<String>) -> Vec<String> {
    let out = bin()
        .args(["analyze", "-f", "json"])
        .arg(path)
        .output()
        .unwrap();
    let Ok(doc) = serde_json::from_slice::<Value>(&out.stdout) else {
        return vec![];
    };
    let mut bad = Vec::new();
    for f in doc["findings"].as_array().into_iter().flatten() {
        // Its session, and in a comparison (a file holding both legs of a
        // device is compared leg against leg) the other tap's session:
        // both are the case.
        let session_of = |capture: &Value, id: &Value| {
            doc["sessions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| &s["id"] == id && &s["capture"] == capture)
        };
        let session = session_of(&f["capture"], &f["session"]);
        let other = session_of(&f["other"]["capture"], &f["other"]["session"]);
        // The finding without its sentences (the message is what is
        // checked, and each merged case's message likewise).
        let mut bare = f.clone();
        bare.as_object_mut().unwrap().remove("message");
        for a in bare["also"].as_array_mut().into_iter().flatten() {
            a.as_object_mut().unwrap().remove("message");
        }
        let mut case = bare.to_string();
        // The case's numbers as the report gives them, and its evidence
        // bytes as text.
        for s in session.iter().chain(&other) {
            case.push_str(&s.to_string());
        }
        case.push_str(&doc["captures"].to_string());
        for ev in f["evidence"].as_array().into_iter().flatten() {
            if let Some(b) = ev["bytes"].as_str() {
                case.push_str(b);
            }
        }
        // Counts the case holds as a list's length (frames retransmitted,
        // segments of a line).
        let mut lists = vec![&bare];
        lists.extend(session);
        lists.extend(other);
        while let Some(v) = lists.pop() {
            match v {
                Value::Array(a) => {
                    case.push_str(&format!(" {} ", a.len()));
                    lists.extend(a);
                }
                Value::Object(o) => lists.extend(o.values()),
                _ => {}
            }
        }
        // Text in backticks quotes the capture's bytes (the evidence holds
        // them); the sentence's own numbers are what lies outside.
        let msg: String = f["message"]
            .as_str()
            .unwrap_or("")
            .split('`')
            .step_by(2)
            .collect::<Vec<_>>()
            .join("``");
        let msg = msg.as_str();
        let mut seen = numbers(&case).into_iter().collect::<BTreeSet<_>>();
        seen.extend(consts.iter().cloned());
        for n in numbers(msg) {
            // One decimal point: a duration or a ratio, derived.
            if n.matches('.').count() == 1 {
                continue;
            }
            if !seen.contains(&n) {
                bad.push(format!(
                    "{} {}: `{n}` comes from nowhere in the case: {msg}",
                    path.display(),
                    f["rule"]
                ));
            }
        }
    }
    bad
}

#[test]
fn every_number_in_a_sentence_comes_from_the_case() {
    let consts = constants();
    let mut paths: Vec<_> = testdata_captures().iter().map(|n| testdata(n)).collect();
    if have_public_corpus("every_number_in_a_sentence_comes_from_the_case (the corpus part)") {
        paths.extend(corpus_files());
    }
    let bad: Vec<String> = paths.iter().flat_map(|p| check(p, &consts)).collect();
    assert!(
        bad.is_empty(),
        "{} numbers from nowhere:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn a_number_from_nowhere_is_caught() {
    // The check itself: a constant the code never spells out, in a
    // sentence about nothing, is found.
    let consts: BTreeSet<String> = ["21".to_string()].into();
    let msg = "hits about 1 active transfer in 98765";
    let found: Vec<String> = numbers(msg)
        .into_iter()
        .filter(|n| !consts.contains(n) && !"case 1".contains(n.as_str()))
        .collect();
    assert_eq!(found, ["98765"]);
    assert_eq!(
        numbers("PORT 198,51,100,60,125,227."),
        ["198", "51", "100", "60", "125", "227"]
    );
    assert_eq!(
        numbers("to 198.51.100.60:32022 in 25.0 s"),
        ["198.51.100.60", "32022", "25.0"]
    );
}
