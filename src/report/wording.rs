//! What every report format says the same way: the verdict sentence, the
//! two versions of a changed line, and the Wireshark filter that opens a
//! finding's frames.

use super::model::{CaptureView, SessionView, Summary};
use crate::diff::ByteDiff;
use crate::escape::escape;
use crate::rules::{Finding, Severity};

/// Frame numbers as a list, cut after `max` with the count of the rest.
pub fn frame_list(v: &[u64], max: usize) -> String {
    frame_list_more(v, max, 0)
}

/// As [`frame_list`], when `more` frames followed that were counted but
/// not listed (a line carried by more segments than a line keeps): the
/// count after the list is of every frame not shown.
pub fn frame_list_more(v: &[u64], max: usize, more: u64) -> String {
    let mut s = v
        .iter()
        .take(max)
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let rest = v.len().saturating_sub(max) as u64 + more;
    if rest > 0 {
        s.push_str(&format!(" … (+{rest})"));
    }
    s
}

/// A piece of one of our messages, which put quoted lines between
/// backticks.
#[derive(Debug, PartialEq, Eq)]
pub enum Span<'a> {
    Text(&'a str),
    /// A quoted line: shown as code.
    Code(&'a str),
    /// A backtick without its pair (a quoted line may hold one): shown as
    /// itself, so it only changes what is shown as code and is never read
    /// as markup.
    Backtick,
}

/// A compared pair's lines by what happened to them: "10 identical, 1
/// modified, 0 dropped, 0 injected", and the lines a tap did not capture
/// where there are any (the tap's loss, never counted as dropped or
/// injected).
pub fn line_counts(c: &crate::compare::Counts) -> String {
    let mut s = format!(
        "{} identical, {} modified, {} dropped, {} injected",
        c.identical, c.modified, c.dropped, c.injected
    );
    if c.not_captured > 0 {
        s.push_str(&format!(
            ", {} not captured by one tap (the capture's loss)",
            c.not_captured
        ));
    }
    s
}

/// Splits a message into text and quoted lines, for formats that show the
/// quotes as code.
pub fn spans(s: &str) -> Vec<Span<'_>> {
    let parts: Vec<&str> = s.split('`').collect();
    let paired = parts.len() % 2 == 1;
    let mut out = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        if i % 2 == 1 && (paired || i + 1 < parts.len()) {
            out.push(Span::Code(p));
        } else {
            if i % 2 == 1 {
                out.push(Span::Backtick);
            }
            out.push(Span::Text(p));
        }
    }
    out
}

/// Whether a session kept less than it carried (a cap named under
/// "limits hit" with its id).
pub fn capped(s: &SessionView<'_>) -> bool {
    s.limits.any() || s.tcp.client.evidence_dropped + s.tcp.server.evidence_dropped > 0
}

/// Every cap a capture's analysis hit, one phrase each, so that no report
/// format leaves out what was not kept. `ss` are the capture's sessions.
pub fn limits_hit<'a>(
    c: &CaptureView<'_>,
    capped: impl IntoIterator<Item = &'a str>,
) -> Vec<String> {
    let p = c.packets;
    let mut limits = Vec::new();
    if p.flows_evicted > 0 {
        limits.push(format!(
            "{} flows evicted (flow table full, --max-flows)",
            p.flows_evicted
        ));
    }
    if p.flows_evicted_for_memory > 0 {
        limits.push(format!(
            "{} flows evicted to keep live flows under --max-memory-mb",
            p.flows_evicted_for_memory
        ));
    }
    if p.unnumbered_tcp_segments > 0 {
        limits.push(format!(
            "{} TCP segments have no tcp.stream number (the conversation table is full: a quarter of --max-memory-mb, at most {} conversations)",
            p.unnumbered_tcp_segments,
            crate::engine::streams::MAX_CONVERSATIONS
        ));
    }
    let capped: Vec<&str> = capped.into_iter().collect();
    if !capped.is_empty() {
        limits.push(format!(
            "sessions {} kept less than they carried (see `limits` in the JSON)",
            capped.join(", ")
        ));
    }
    if c.sessions_not_kept > 0 {
        limits.push(format!(
            "{} more sessions were analysed (their findings are listed) but not kept \
             (--max-sessions, --max-memory-mb)",
            c.sessions_not_kept
        ));
    }
    if c.findings_not_kept > 0 {
        limits.push(format!(
            "{} more findings were not kept (at most {} per capture)",
            c.findings_not_kept,
            crate::analysis::MAX_FINDINGS
        ));
    }
    limits
}

/// The name an enum has in the JSON output (kebab-case), for tables.
pub fn wire_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

/// Session `id` of capture `capture` among a report's sessions.
pub fn session_of<'a>(
    ss: &'a [SessionView<'a>],
    capture: usize,
    id: &str,
) -> Option<&'a SessionView<'a>> {
    ss.iter().find(|s| s.capture == capture && s.id == id)
}

/// The filter for `frames` of session `id` of capture `capture`, if the
/// report holds that session.
pub fn session_filter(ss: &[SessionView<'_>], capture: usize, id: &str, frames: &[u64]) -> String {
    session_of(ss, capture, id)
        .map(|s| display_filter(s, frames))
        .unwrap_or_default()
}

/// The finding a report leads with: the most severe; among equals the
/// one that names a device signature or shows a changed line (a cause
/// rather than a consequence, such as a stall), then the first listed.
pub fn lead<'a>(findings: &[&'a Finding]) -> Option<&'a Finding> {
    findings
        .iter()
        .copied()
        .filter(|f| f.severity > Severity::Info)
        .enumerate()
        .max_by_key(|(i, f)| {
            (
                f.severity,
                f.signature.is_some(),
                f.diff.is_some(),
                std::cmp::Reverse(*i),
            )
        })
        .map(|(_, f)| f)
}

/// Who did it and what proves it, in one clause every format prints
/// under a finding: "who: the path — proof (echo): …".
pub fn attribution(f: &Finding) -> String {
    let who = match f.actor {
        crate::rules::Actor::Client => "the client",
        crate::rules::Actor::Server => "the server",
        crate::rules::Actor::Path => "the path",
        crate::rules::Actor::Capture => "the capture (the tap)",
        crate::rules::Actor::Unknown => "cannot tell",
    };
    format!(
        "who: {who} — proof ({}): {}.",
        f.proof.kind.name(),
        f.proof.text
    )
}

/// Another rule's reading of finding `f`'s event, as printed under it;
/// in a comparison (client-side capture 0, server-side 1) with the tap
/// whose frames it names.
pub fn related(
    f: &Finding,
    r: &crate::rules::Related,
    views: &crate::compare::views::Views,
) -> String {
    // A comparison's own finding folded into another is of both taps; a
    // tap's finding folded into a comparison's is of that tap.
    let of_one_tap = r.rule.needs() == crate::rules::Needs::OneCapture;
    let at = r
        .capture
        .or_else(|| f.other.as_ref().filter(|_| of_one_tap).map(|_| f.capture))
        .map(|c| {
            format!(
                "{}, ",
                views.at(crate::compare::views::Views::of_capture(c))
            )
        })
        .unwrap_or_default();
    let frames = if r.frames.is_empty() {
        String::new()
    } else {
        format!(
            " (frames {})",
            frame_list_more(&r.frames, 12, r.frames_not_listed)
        )
    };
    // The gist only (JSON keeps the whole message): another line of the
    // same kind up to its first colon (what follows is the proof the
    // finding already gave), another kind of fact its first sentence.
    let end = if r.rule == f.rule {
        cut(&r.message, b":")
    } else {
        cut(&r.message, b".")
    };
    format!(
        "same event, {at}{}{frames}: {}",
        r.rule,
        r.message[..end].trim_end_matches('.')
    )
}

/// `s` with its first letter capitalised (our messages start in lower
/// case, to read well after "rule: ").
pub fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The first sentence of a finding's message (up to the first ". " that
/// is not inside a `quoted` line), starting with a capital letter.
pub fn first_sentence(message: &str) -> String {
    let end = cut(message, b".");
    capitalized(message[..end].trim_end_matches('.'))
}

/// Where `message` first has one of `stops` followed by a space, outside
/// `quoted` lines and parentheses (its length when nowhere).
fn cut(message: &str, stops: &[u8]) -> usize {
    let (mut quoted, mut depth) = (false, 0usize);
    let b = message.as_bytes();
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'`' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth = depth.saturating_sub(1),
            c if !quoted && depth == 0 && stops.contains(&c) && b.get(i + 1) == Some(&b' ') => {
                return i;
            }
            _ => {}
        }
    }
    b.len()
}

/// The verdict in one sentence (plain text; lines quoted in backticks).
/// `captures` names the captures, in report order.
pub fn verdict(findings: &[&Finding], summary: &Summary, captures: &[&str]) -> String {
    let (headline, rest) = verdict_parts(findings, summary, captures);
    headline + &rest
}

/// The verdict as a headline — what happened, in the lead finding's first
/// clause (up to its first `;`, `:` or `.` outside quotes and
/// parentheses) — and the rest of the sentence as it goes on from there.
pub fn verdict_parts(
    findings: &[&Finding],
    summary: &Summary,
    captures: &[&str],
) -> (String, String) {
    let n = |s| findings.iter().filter(|f| f.severity == s).count();
    match lead(findings) {
        None => (
            format!(
                "No error or warning findings in {} FTP session(s) of {}.",
                summary.sessions,
                summary.captures_counted()
            ),
            String::new(),
        ),
        Some(f) => {
            let first = first_sentence(&f.message);
            let (headline, rest) = first.split_at(cut(&first, b";:."));
            let mut rest = format!(
                "{rest}. ({}, {} session {}; {} error and {} warning finding(s) in all.)",
                f.rule,
                captures.get(f.capture).copied().unwrap_or("capture"),
                f.session,
                n(Severity::Error),
                n(Severity::Warning)
            );
            if let Some(sig) = f.signature {
                rest = format!(
                    "{rest} It matches what {} is known to do ({}).",
                    sig.device, sig.behaviour
                );
            }
            (headline.to_string(), rest)
        }
    }
}

/// A run of a line: escaped text, and whether it changed.
pub type Run = (String, bool);

/// Both versions of a line as runs, the changed ones marked: the first
/// version is `a`, the second is `a` with the diff applied. `None` when
/// the diff does not fit `a`.
pub fn diff_runs(a: &[u8], d: &ByteDiff) -> Option<(Vec<Run>, Vec<Run>)> {
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    let mut pos = 0;
    for e in &d.edits {
        let end = e.offset.checked_add(e.from.0.len())?;
        if e.offset < pos || a.get(e.offset..end) != Some(&e.from.0[..]) {
            return None;
        }
        if e.offset > pos {
            let same = escape(&a[pos..e.offset]);
            ra.push((same.clone(), false));
            rb.push((same, false));
        }
        if !e.from.0.is_empty() {
            ra.push((escape(&e.from.0), true));
        }
        if !e.to.0.is_empty() {
            rb.push((escape(&e.to.0), true));
        }
        pos = end;
    }
    if pos < a.len() {
        let same = escape(&a[pos..]);
        ra.push((same.clone(), false));
        rb.push((same, false));
    }
    Some((ra, rb))
}

/// Both versions of a same-length line, escaped, with `^` under every
/// changed byte (offsets mapped through the escaping).
pub fn aligned(a: &[u8], d: &ByteDiff) -> Option<(String, String, String)> {
    if !d.same_length || a.len() > 200 || d.edits.is_empty() {
        return None;
    }
    let mut b = a.to_vec();
    for e in &d.edits {
        let end = e.offset + e.to.0.len();
        if end > b.len() || a.get(e.offset..e.offset + e.from.0.len()) != Some(&e.from.0[..]) {
            return None;
        }
        b[e.offset..end].copy_from_slice(&e.to.0);
    }
    let (mut ea, mut eb, mut marks) = (String::new(), String::new(), String::new());
    for (x, y) in a.iter().zip(&b) {
        let (sx, sy) = (escape(&[*x]), escape(&[*y]));
        let w = sx.len().max(sy.len());
        ea.push_str(&format!("{sx:w$}"));
        eb.push_str(&format!("{sy:w$}"));
        marks.push_str(&format!("{:w$}", if x == y { " " } else { "^" }));
    }
    Some((ea, eb, marks.trim_end().to_string()))
}

/// The `tcp.stream` numbers a set of frames of a session lies in: the
/// control connection's, and each data connection's that one of the
/// frames is known to belong to.
fn streams_of(s: &SessionView<'_>, frames: &[u64]) -> Option<Vec<u32>> {
    let mut v = vec![s.tcp_stream?];
    for c in s.data_connections {
        let own = [
            Some(c.first_frame),
            c.syn_frame,
            c.syn_ack_frame,
            c.rst_frame,
            c.fin_frame,
            Some(c.last_frame),
        ];
        if frames.iter().any(|f| own.contains(&Some(*f)))
            && let Some(n) = c.tcp_stream
            && !v.contains(&n)
        {
            v.push(n);
        }
    }
    v.sort_unstable();
    Some(v)
}

/// A Wireshark display filter that shows `frames` of session `s` and
/// little else: `tcp.stream eq 3 && frame.number >= 120 && frame.number
/// <= 131`. Without stream numbers, the control connection's addresses
/// and ports stand in.
pub fn display_filter(s: &SessionView<'_>, frames: &[u64]) -> String {
    // Exactly the frames claimed: a set (comma-separated, as Wireshark 3.6
    // and later read it), not a range that would also show the frames
    // between them.
    let mut set: Vec<u64> = frames.to_vec();
    set.sort_unstable();
    set.dedup();
    let range = match set.as_slice() {
        [] => return String::new(),
        [one] => format!("frame.number == {one}"),
        many => format!(
            "frame.number in {{{}}}",
            many.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    match streams_of(s, frames) {
        Some(v) if v.len() == 1 => format!("tcp.stream eq {} && {range}", v[0]),
        Some(v) => format!(
            "({}) && {range}",
            v.iter()
                .map(|n| format!("tcp.stream eq {n}"))
                .collect::<Vec<_>>()
                .join(" || ")
        ),
        None => {
            let addr = |sa: &str| -> String {
                match sa.parse::<std::net::SocketAddr>() {
                    Ok(a) if a.is_ipv6() => {
                        format!("ipv6.addr == {} && tcp.port == {}", a.ip(), a.port())
                    }
                    Ok(a) => format!("ip.addr == {} && tcp.port == {}", a.ip(), a.port()),
                    Err(_) => String::new(),
                }
            };
            format!("{} && {} && {range}", addr(&s.client), addr(&s.server))
        }
    }
}

/// The connections to a control port that never were FTP sessions
/// (refused or unanswered SYNs, stray segments answered by a reset), one
/// phrase each with its frames; None when there were none.
pub fn not_sessions(n: &crate::engine::NotSessions) -> Option<String> {
    if n.is_empty() {
        return None;
    }
    let mut listed: Vec<&crate::engine::NotSession> = n.listed.iter().collect();
    listed.sort_by_key(|x| x.first_frame);
    let mut parts: Vec<String> = listed
        .iter()
        .map(|x| {
            let frames = if x.first_frame == x.last_frame {
                format!("frame {}", x.first_frame)
            } else {
                format!("frames {}–{}", x.first_frame, x.last_frame)
            };
            format!(
                "{} → {}: {} ({frames})",
                x.client,
                x.server,
                x.standing.describe()
            )
        })
        .collect();
    let more = n.count() - n.listed.len() as u64;
    if more > 0 {
        parts.push(format!("{more} more"));
    }
    Some(format!(
        "{} connection(s), {} segment(s), not FTP sessions: {}",
        n.count(),
        n.segments,
        parts.join("; ")
    ))
}

/// Where the capture saw its packets, when it tells legs apart: each
/// leg with its frames, and the leg a view holds; None for a capture of
/// one place.
pub fn legs(info: &crate::capture::CaptureInfo) -> Option<String> {
    let mut parts: Vec<String> = info
        .legs
        .iter()
        .map(|l| {
            let dup = match l.duplicates {
                0 => String::new(),
                n => format!(", {n} duplicate(s)"),
            };
            let points: Vec<String> = l
                .points
                .iter()
                .map(|(p, n)| format!("{n} at {}", p.letter()))
                .collect();
            let points = match points.is_empty() {
                true => String::new(),
                false => format!(": {}", points.join(", ")),
            };
            let description = l
                .description
                .as_deref()
                .map(|d| format!(" \"{}\"", crate::escape::escape_str(d)))
                .unwrap_or_default();
            format!(
                "{}{description} ({} frame{}{points}{dup})",
                crate::escape::escape_str(&l.name),
                l.frames,
                if l.frames == 1 { "" } else { "s" }
            )
        })
        .collect();
    if let Some(v) = &info.view {
        parts.push(format!(
            "this view holds leg {} only, frames numbered in the whole file",
            crate::escape::escape_str(v)
        ));
    }
    if let Some(v) = &info.stitched {
        parts.push(v.clone());
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The frames of a Check Point `fw monitor` file set aside as its copies
/// inside the device, when there are any, and those the device changed
/// between the two points, with their frames.
pub fn inside_device(info: &crate::capture::CaptureInfo) -> Option<String> {
    (info.inside_device > 0).then(|| {
        let mut s = format!(
            "{} frame(s) set aside: fw monitor's copies of a packet at the points inside the device (I, o, e, E); each leg is read as a capture on its interface would see it, the packets entering at i and leaving at O",
            info.inside_device
        );
        let changed: u64 = info.legs.iter().map(|l| l.changed_inside).sum();
        if changed > 0 {
            let frames: Vec<String> = info
                .legs
                .iter()
                .flat_map(|l| {
                    l.changed_inside_frames.iter().map(move |[w, i]| {
                        format!("{w} and {i} on {}", crate::escape::escape_str(&l.name))
                    })
                })
                .collect();
            let listed = frames.len() as u64;
            let more = match changed - listed {
                0 => String::new(),
                n => format!(", and {n} more"),
            };
            s.push_str(&format!(
                "; {changed} of them not the same bytes as the same packet (same IPv4 identification) on the wire: the device changed the packet between the two points (frames {}{more})",
                frames.join(", ")
            ));
        }
        s
    })
}

/// The frames set aside as a packet recorded twice, when there are any.
pub fn duplicates(info: &crate::capture::CaptureInfo) -> Option<String> {
    (info.duplicates > 0).then(|| {
        format!(
            "{} frame(s) set aside: exact copies (same bytes, same IPv4 identification, within {} ms) of a frame just recorded on the same leg: the same IP packet again (recorded twice, or duplicated on the way), analysed once",
            info.duplicates,
            crate::capture::legs::DUPLICATE_WITHIN_NS / 1_000_000
        )
    })
}

/// What the capture says of its own loss (pcapng interface statistics),
/// with what follows for statements of absence; None when it says nothing.
pub fn interface_loss(info: &crate::capture::CaptureInfo) -> Option<String> {
    if info.interface_stats.is_empty() {
        return None;
    }
    let parts: Vec<String> = info
        .interface_stats
        .iter()
        .map(|st| {
            let counter = |v: Option<u64>| v.map_or("not recorded".to_string(), |n| n.to_string());
            format!(
                "interface {}: {} dropped by the interface, {} by the OS, {} received",
                st.interface,
                counter(st.if_dropped),
                counter(st.os_dropped),
                counter(st.received)
            )
        })
        .collect();
    let dropped: u64 = info.interface_stats.iter().map(|s| s.dropped()).sum();
    let tail = if dropped > 0 {
        format!(
            "; the capture itself reports {dropped} packets dropped, so what it shows missing may be what it dropped"
        )
    } else {
        String::new()
    };
    Some(format!("{}{tail}", parts.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::Edit;
    use crate::escape::Bytes;

    #[test]
    fn a_headline_ends_at_the_first_stop_outside_quotes_and_parentheses() {
        let first = |m: &str| {
            let f = first_sentence(m);
            f[..cut(&f, b";:.")].to_string()
        };
        assert_eq!(
            first("the server received a different PORT: the client sent `PORT 1,2` (frame 3)"),
            "The server received a different PORT"
        );
        // Neither the quoted line's `;` and `. ` nor the parenthesis' `:` ends it.
        assert_eq!(
            first("`SITE a; b. c` was split (2 segments: 14 bytes, 13 bytes); Linux drops it"),
            "`SITE a; b. c` was split (2 segments: 14 bytes, 13 bytes)"
        );
        assert_eq!(first("no stop at all"), "No stop at all");
    }

    #[test]
    fn spans_pair_backticks_and_keep_a_stray_one() {
        use Span::*;
        assert_eq!(
            spans("sent `PORT 1,2` then `x`."),
            [
                Text("sent "),
                Code("PORT 1,2"),
                Text(" then "),
                Code("x"),
                Text(".")
            ]
        );
        // A quoted line holding a backtick leaves one unpaired: the last
        // one shows as itself, never opening code that does not close.
        assert_eq!(
            spans("`RETR a`b` c"),
            [Text(""), Code("RETR a"), Text("b"), Backtick, Text(" c")]
        );
        assert_eq!(spans("plain"), [Text("plain")]);
    }

    #[test]
    fn first_sentences_skip_quoted_periods() {
        assert_eq!(
            first_sentence("the reply `220 Hi. Go` was cut. More here."),
            "The reply `220 Hi. Go` was cut"
        );
        assert_eq!(first_sentence("no period"), "No period");
    }

    #[test]
    fn runs_mark_what_changed() {
        let d = ByteDiff {
            same_length: false,
            length_delta: -2,
            edits: vec![Edit {
                offset: 5,
                offset_new: 5,
                from: Bytes(b"198,51,100,60".to_vec()),
                to: Bytes(b"203,0,113,1".to_vec()),
            }],
        };
        let (a, b) = diff_runs(b"PORT 198,51,100,60,4,1\r", &d).unwrap();
        assert_eq!(a[1], ("198,51,100,60".to_string(), true));
        assert_eq!(b[1], ("203,0,113,1".to_string(), true));
        assert_eq!(b[2], (",4,1\\r".to_string(), false));
        assert!(diff_runs(b"PORT", &d).is_none());
    }
}
