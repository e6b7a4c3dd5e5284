//! Sessions, connections and replies from the evidence (issue #31): a
//! reply pairs with the command it quotes, and a command's own ACK tells
//! whether bytes the capture missed could have held its reply.

mod common;
use common::*;
use serde_json::Value;

/// Each command's line and the line of the reply it pairs with.
fn pairs(doc: &Value, sid: &str) -> Vec<(String, Option<String>)> {
    let d = session(doc, sid)["dialogue"].as_array().unwrap();
    d.iter()
        .filter(|e| e["dir"] == "C")
        .map(|e| {
            let reply = e["pairs_with"]
                .as_u64()
                .map(|n| d[n as usize]["text"].as_str().unwrap().to_string());
            (e["text"].as_str().unwrap().to_string(), reply)
        })
        .collect()
}

#[test]
fn a_reply_that_quotes_its_command_pairs_with_it() {
    // Every command sent before the banner; each reply quotes its
    // command, the RETR's with code 225 (Zeek's fake-server-delays-all).
    let (_, doc) = analyze(&["hand-quoted-replies.pcap"], &[]);
    for (cmd, reply) in pairs(&doc, "s1") {
        let reply = reply.unwrap_or_else(|| panic!("`{cmd}` unpaired"));
        assert!(reply.ends_with(&cmd), "`{cmd}` paired with `{reply}`");
    }
}

#[test]
fn a_command_that_acknowledged_the_missing_bytes_is_paired_across_them() {
    // The rest of a multi-line 230 was never captured; the PORT's own ACK
    // covers it, so those bytes came before the PORT and are not its
    // reply: the `200` after them is.
    let (_, doc) = analyze(&["hand-multiline-gap.pcap"], &[]);
    let port = entry(&doc, "s1", "PORT 198,51,100,60,156,64");
    assert!(port["reply_unseen"].is_null(), "{port:#}");
    let reply = &session(&doc, "s1")["dialogue"][port["pairs_with"].as_u64().unwrap() as usize];
    assert_eq!(reply["text"], "200 PORT command successful.");
    assert_eq!(reply["follows_gap"], true);
    // Where the command's ACK does not cover them, it stays unknown.
    let (_, doc) = analyze(&["hand-lost-lines.pcap"], &[]);
    assert_eq!(entry(&doc, "s1", "TYPE I")["reply_unseen"], true);
}
