//! A traced line's hop table, and the sentence that says where on the
//! path it changed. Pure: the quotes come in (from this host's raw
//! socket, or from the reflector's report), the table and the sentence go
//! out. A hop's quote shows the line as it *arrived* at that router, so a
//! line that hop L quotes as sent and hop L+1 quotes changed was changed
//! by the device at hop L or on the link after it (where a device that
//! does not decrement the TTL, a bridge or transparent proxy, would sit).

use super::family::Family;
use super::quote::Quote;
use super::wire::trim_eol;
use crate::escape::{Bytes, escape};
use crate::reassembly::connection::Side;
use crate::rules::rewrite;
use crate::rules::{Rule, Severity};
use serde::Serialize;
use std::net::IpAddr;

/// Which way the traced line went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// A command, sent by the probe with its TTL limited.
    ToServer,
    /// A reply, sent by the reflector with its TTL limited.
    ToClient,
}

impl Direction {
    pub fn side(self) -> Side {
        match self {
            Direction::ToServer => Side::Client,
            Direction::ToClient => Side::Server,
        }
    }
    fn what(self) -> &'static str {
        match self {
            Direction::ToServer => "the line",
            Direction::ToClient => "the reply",
        }
    }
}

/// What one hop showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Seen {
    /// The router quoted the whole line, as sent.
    Intact,
    /// The quoted part is as sent; the router did not quote the rest.
    IntactSoFar,
    /// The router received the line changed.
    Changed,
    /// The router quoted only the headers (RFC 792's minimum): no
    /// evidence about the line.
    HeadersOnly,
    /// No Time Exceeded came from this hop (a router that does not send
    /// them, filters them, or rate-limits them).
    Silent,
    /// A Time Exceeded came, but its quote is not of this line (damaged
    /// beyond reading on its way back, or another packet's): no evidence.
    Unmatched,
    /// At this TTL the segment reached the far end (it was not
    /// retransmitted, and no router answered).
    FarEnd,
}

impl Seen {
    pub fn name(self) -> &'static str {
        match self {
            Seen::Intact => "as sent",
            Seen::IntactSoFar => "as sent as far as quoted",
            Seen::Changed => "changed",
            Seen::HeadersOnly => "headers only: no evidence",
            Seen::Silent => "silent",
            Seen::Unmatched => "answered, but not with a quote of this line: no evidence",
            Seen::FarEnd => "far end reached",
        }
    }
}

/// One row of the hop table.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Hop {
    /// The TTL (IPv6 hop limit) the line left with.
    pub hop: u8,
    /// The router that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router: Option<IpAddr>,
    /// What the hop's quote shows of the line.
    pub seen: Seen,
    /// Bytes of the line the router quoted, and the line's length in the
    /// datagram it received.
    pub quoted: usize,
    /// The line's length in the datagram the router received (see `quoted`).
    pub of: usize,
    /// The line as the router received it (without terminator).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received: Option<Bytes>,
    /// The change from the line as sent, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The rule that names the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<Rule>,
    /// How serious the change is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// The id of the device signature the change matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<&'static str>,
    /// The changed fields of an address argument.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<String>,
    /// What to know about this quote (damaged on its way back, an address
    /// a NAT rewrote).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Hop {
    pub fn silent(hop: u8) -> Hop {
        Hop::bare(hop, None, Seen::Silent)
    }

    /// A router answered with a quote that is not of the line.
    pub fn unmatched(hop: u8, router: IpAddr) -> Hop {
        Hop::bare(hop, Some(router), Seen::Unmatched)
    }

    /// The far end, reached at this TTL; `arrived` is the line as it
    /// says it received it (without terminator), when it says.
    pub fn far_end(
        hop: u8,
        at: IpAddr,
        dir: Direction,
        sent: &[u8],
        arrived: Option<&[u8]>,
        nat: (IpAddr, IpAddr),
    ) -> Hop {
        let mut h = Hop::bare(hop, Some(at), Seen::FarEnd);
        if let Some(a) = arrived {
            h.received = Some(Bytes(a.to_vec()));
            h.classify(dir, line_of(dir, sent), a, nat);
        }
        h
    }

    /// Names the change from `sent` to `received` (lines, no terminator).
    fn classify(&mut self, dir: Direction, sent: &[u8], received: &[u8], nat: (IpAddr, IpAddr)) {
        if let Some(ch) = rewrite::classify(dir.side(), sent, received, nat) {
            (
                self.rule,
                self.severity,
                self.diff,
                self.signature,
                self.fields,
            ) = ch.named();
        }
    }

    fn bare(hop: u8, router: Option<IpAddr>, seen: Seen) -> Hop {
        Hop {
            hop,
            router,
            seen,
            quoted: 0,
            of: 0,
            received: None,
            diff: None,
            rule: None,
            severity: None,
            signature: None,
            fields: None,
            note: None,
        }
    }

    /// The row for a router's quote of `sent` (the segment as written,
    /// terminator included). `nat` as for `rewrite::classify`.
    pub fn quoted(hop: u8, dir: Direction, sent: &[u8], q: &Quote, nat: (IpAddr, IpAddr)) -> Hop {
        let mut h = Hop::bare(hop, Some(q.router), Seen::HeadersOnly);
        h.quoted = q.payload.len();
        h.of = q.payload_len;
        if !q.is_tcp() {
            h.note = Some(format!(
                "quote damaged on its way back (protocol field {}, not TCP); read as TCP: its ports and first bytes are the connection's",
                q.protocol
            ));
        }
        if q.payload.is_empty() {
            return h;
        }
        let line = |b: &[u8]| line_of(dir, b).to_vec();
        h.received = Some(Bytes(line(&q.payload)));
        if sent.starts_with(&q.payload) {
            h.seen = if q.is_whole() && q.payload.len() == sent.len() {
                Seen::Intact
            } else {
                Seen::IntactSoFar
            };
            return h;
        }
        h.seen = Seen::Changed;
        h.classify(dir, &line(sent), &line(&q.payload), nat);
        if h.rule.is_none() {
            // Only the terminator differs.
            h.diff = Some(crate::diff::diff(sent, &q.payload).describe());
            h.severity = Some(Severity::Warning);
        }
        h
    }

    fn at(&self) -> String {
        match self.router {
            Some(r) => format!("hop {} ({r})", self.hop),
            None => format!("hop {}", self.hop),
        }
    }
}

/// The line of a segment: without its terminator, and for the reflector's
/// replies without its own report (` tx=…`), which the router quoted too.
fn line_of(dir: Direction, b: &[u8]) -> &[u8] {
    let b = match b.iter().position(|&c| c == b'\n') {
        Some(p) => &b[..=p],
        None => b,
    };
    let b = trim_eol(b);
    match dir {
        Direction::ToClient => super::wire::without_report(b),
        Direction::ToServer => b,
    }
}

/// A traced line: the hop table and where it changed.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Trace {
    /// Towards the server (a command) or the client (a reply, traced by the
    /// reflector).
    pub direction: Direction,
    /// The test family of the traced line.
    pub family: Family,
    /// The test this trace repeats.
    pub case: String,
    /// The segment sent with each TTL (terminator included).
    pub sent: Bytes,
    /// What each hop received.
    pub hops: Vec<Hop>,
    /// The TTL at which it reached the far end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reached: Option<u8>,
    /// The TTL at which the line got no reply at all (neither a quote
    /// nor, after TCP's retransmission, the far end's answer): it was
    /// dropped on the way, as the test itself found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_reply: Option<u8>,
    /// Why the trace ended before the far end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// The last hop that received it as sent (0: the sender) and the
    /// first that received it changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub between: Option<[u8; 2]>,
    /// Where the line changed, in a sentence.
    pub conclusion: String,
}

impl Trace {
    /// The line traced, without terminator (and, for a reply, without the
    /// reflector's own report).
    pub fn line(&self) -> &[u8] {
        line_of(self.direction, &self.sent.0)
    }

    /// A router address that an earlier hop also had: a NAT on the way back
    /// rewrote the ICMP message's source (Linux does, for errors it
    /// forwards out of its NATed side), so the address is the NAT's, not
    /// the router's.
    fn note_repeats(&mut self) {
        for i in 1..self.hops.len() {
            let (before, rest) = self.hops.split_at_mut(i);
            let h = &mut rest[0];
            if h.seen == Seen::FarEnd {
                continue;
            }
            if let Some(e) = before
                .iter()
                .find(|e| e.router.is_some() && e.router == h.router)
            {
                let n = format!(
                    "same address as hop {}: a NAT on the way back rewrote the ICMP source (the NAT's address, not this router's)",
                    e.hop
                );
                h.note = Some(match h.note.take() {
                    Some(m) => format!("{m}; {n}"),
                    None => n,
                });
            }
        }
    }

    /// A hop received the line damaged (worse than a NAT-consistent
    /// rewrite), or the line got no reply: as a test line that gets none,
    /// it was dropped.
    pub fn is_damage(&self) -> bool {
        self.no_reply.is_some()
            || self
                .hops
                .iter()
                .any(|h| h.seen == Seen::Changed && h.severity.is_some_and(|s| s > Severity::Info))
    }

    /// Fills `between` and `conclusion` from the hops. Whether the far end
    /// received the line changed is read off its row when it says how the
    /// line arrived (the reflector's copy, the server's echo), else
    /// `far_end_changed`, what the test itself found.
    pub fn conclude(&mut self, far_end_changed: Option<bool>) {
        self.note_repeats();
        let far_end_changed = self
            .hops
            .iter()
            .find(|h| h.seen == Seen::FarEnd && h.received.is_some())
            .map(|h| h.rule.is_some())
            .or(far_end_changed);
        let what = self.direction.what();
        let mut last_intact: Option<&Hop> = None;
        let mut first_changed: Option<&Hop> = None;
        let mut intact_again: Option<&Hop> = None;
        for h in &self.hops {
            match (h.seen, first_changed) {
                (Seen::Intact, None) => last_intact = Some(h),
                (Seen::Intact, Some(_)) => intact_again = intact_again.or(Some(h)),
                (Seen::Changed, None) => first_changed = Some(h),
                _ => {}
            }
        }
        let l = last_intact.map_or(0, |h| h.hop);
        let answered = self
            .hops
            .iter()
            .filter(|h| matches!(h.seen, Seen::Intact | Seen::IntactSoFar | Seen::Changed))
            .count();
        let mut s = match (first_changed, last_intact) {
            (Some(c), li) => {
                self.between = Some([l, c.hop]);
                let got = format!(
                    "as `{}`{}",
                    c.received
                        .as_ref()
                        .map(|b| escape(&b.0))
                        .unwrap_or_default(),
                    c.rule.map_or(String::new(), |r| format!(" ({})", r.id()))
                );
                match li {
                    None if c.hop == 1 => format!(
                        "{what} reached {} already changed, {got}: it was changed on the sending host or on its first link",
                        c.at()
                    ),
                    None => format!(
                        "{what} reached {} changed, {got}; no hop before it quoted {what} whole, so it was changed somewhere before hop {}",
                        c.at(),
                        c.hop
                    ),
                    Some(i) if c.hop == i.hop + 1 => format!(
                        "{what} reached {} intact and {} {got}: it was changed by the device at hop {} or on the link from it to hop {}",
                        i.at(),
                        c.at(),
                        i.hop,
                        c.hop
                    ),
                    Some(i) => format!(
                        "{what} reached {} intact and {} {got}; hops {}–{} gave no evidence, so it was changed between hops {} and {}",
                        i.at(),
                        c.at(),
                        i.hop + 1,
                        c.hop - 1,
                        i.hop,
                        c.hop
                    ),
                }
            }
            (None, li) if self.no_reply.is_some() => {
                let n = self.no_reply.unwrap_or_default();
                self.between = Some([l, n]);
                match li {
                    Some(i) if n == i.hop + 1 => format!(
                        "{what} reached {} intact; sent one hop further it got no reply, and no later hop quoted it: it was dropped by the device at hop {} or after it (or the far end did not answer)",
                        i.at(),
                        i.hop
                    ),
                    Some(i) => format!(
                        "{what} reached {} intact; hops {}–{} gave no evidence, and sent with TTL {n} it got no reply: it was dropped after hop {} (or the far end did not answer)",
                        i.at(),
                        i.hop + 1,
                        n - 1,
                        i.hop
                    ),
                    None => format!(
                        "no hop quoted {what} whole, and sent with TTL {n} it got no reply: the trace cannot say where it was dropped"
                    ),
                }
            }
            (None, Some(i)) if far_end_changed == Some(true) => {
                self.between = self.reached.map(|r| [l, r]);
                format!(
                    "{what} reached every hop that quoted it whole as sent, the last {}, but the far end received it changed: it was changed after hop {}, by the device there, by a later hop that did not quote it, or on the far end's own host",
                    i.at(),
                    i.hop
                )
            }
            (None, None) if far_end_changed == Some(true) => format!(
                "no hop quoted {what} whole ({answered} of {} quoted any of it), so the trace cannot say where it was changed; the far end received it changed",
                self.hops.len()
            ),
            (None, Some(i)) => {
                let whole = self
                    .hops
                    .iter()
                    .filter(|h| h.seen == Seen::Intact)
                    .map(|h| h.hop.to_string())
                    .collect::<Vec<_>>();
                let seen = format!(
                    "every hop that quoted {what} received it as sent (hop{} {})",
                    if whole.len() == 1 { "" } else { "s" },
                    whole.join(", ")
                );
                match (self.reached, far_end_changed) {
                    (Some(r), Some(false)) => format!(
                        "{seen}, and the far end (hop {r}) received it as sent: no hop on the path changed it"
                    ),
                    (Some(r), _) => format!(
                        "{seen}, up to {}; the far end (hop {r}) does not say how it arrived, so a change after hop {} is not ruled out",
                        i.at(),
                        i.hop
                    ),
                    (None, _) => format!(
                        "{seen}, up to {}; the trace did not reach the far end",
                        i.at()
                    ),
                }
            }
            (None, None) if far_end_changed == Some(false) && self.reached.is_some() => {
                let r = self.reached.unwrap_or_default();
                let before = if r == 1 {
                    "there is no router before it".to_string()
                } else {
                    format!("no router before it quoted {what} whole")
                };
                format!(
                    "the far end (hop {r}) received {what} as sent ({before}): no hop on the path changed it"
                )
            }
            (None, None) => format!(
                "no hop quoted {what} whole ({answered} of {} quoted any of it): the trace gives no evidence of where it changed, or whether it did",
                self.hops.len()
            ),
        };
        if let Some(a) = intact_again {
            s.push_str(&format!(
                "; {} quoted it as sent again, so not every packet takes the same path or the change was undone",
                a.at()
            ));
        }
        if let Some(why) = self.stopped.as_ref().filter(|_| self.no_reply.is_none()) {
            s.push_str(&format!("; the trace ended before the far end: {why}"));
        }
        if let Some(c) = s.get(..1) {
            s = c.to_uppercase() + &s[1..];
        }
        s.push('.');
        self.conclusion = s;
    }
}

#[cfg(test)]
mod tests {
    use super::super::quote::tests::time_exceeded;
    use super::*;

    const SENT: &[u8] = b"PORT 198,51,100,60,4,227\r\n";
    const NAT: (IpAddr, IpAddr) = (
        IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 60)),
        IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 60)),
    );

    fn hop(n: u8, router: [u8; 4], payload: &[u8], cut: usize) -> Hop {
        let q = Quote::parse_v4_datagram(&time_exceeded(router, 1, payload, cut)).unwrap();
        Hop::quoted(n, Direction::ToServer, SENT, &q, NAT)
    }

    /// The server, reached at `n`, saying nothing of how the line arrived.
    fn far(n: u8) -> Hop {
        let at = "203.0.113.10".parse().unwrap();
        Hop::far_end(n, at, Direction::ToServer, SENT, None, NAT)
    }

    fn trace(hops: Vec<Hop>, reached: Option<u8>, far: Option<bool>) -> Trace {
        let mut t = Trace {
            direction: Direction::ToServer,
            family: Family::PortOctet6,
            case: "octet 6 = 227".into(),
            sent: Bytes(SENT.to_vec()),
            hops,
            reached,
            no_reply: None,
            stopped: None,
            between: None,
            conclusion: String::new(),
        };
        t.conclude(far);
        t
    }

    #[test]
    fn the_rewrite_is_placed_between_the_last_intact_and_the_first_changed_hop() {
        let mangled = b"PORT 198,51,100,60,4,22_\r\n";
        let t = trace(
            vec![
                hop(1, [198, 51, 100, 1], SENT, 576),
                hop(2, [192, 0, 2, 2], SENT, 576),
                hop(3, [192, 0, 2, 6], mangled, 576),
                far(4),
            ],
            Some(4),
            Some(true),
        );
        assert_eq!(t.between, Some([2, 3]));
        assert_eq!(t.hops[2].seen, Seen::Changed);
        assert_eq!(t.hops[2].signature, Some("checkpoint-ftp-bounce-227"));
        assert_eq!(
            t.conclusion,
            "The line reached hop 2 (192.0.2.2) intact and hop 3 (192.0.2.6) as `PORT 198,51,100,60,4,22_` (port-octet-mangled): it was changed by the device at hop 2 or on the link from it to hop 3."
        );
    }

    #[test]
    fn hops_without_evidence_widen_the_interval_and_say_so() {
        let mangled = b"PORT 198,51,100,60,4,22_\r\n";
        let t = trace(
            vec![
                hop(1, [198, 51, 100, 1], SENT, 576),
                Hop::unmatched(2, "192.0.2.1".parse().unwrap()),
                hop(3, [192, 0, 2, 9], SENT, 28),
                hop(4, [192, 0, 2, 6], mangled, 576),
            ],
            None,
            None,
        );
        assert_eq!(t.hops[2].seen, Seen::HeadersOnly);
        assert_eq!(t.between, Some([1, 4]));
        assert!(
            t.conclusion.contains("hops 2–3 gave no evidence"),
            "{}",
            t.conclusion
        );
    }

    #[test]
    fn a_clean_path_says_no_hop_changed_it_and_a_cut_quote_is_weaker() {
        let t = trace(
            vec![
                hop(1, [198, 51, 100, 1], SENT, 576),
                hop(2, [192, 0, 2, 2], SENT, 50),
                far(3),
            ],
            Some(3),
            Some(false),
        );
        assert_eq!(t.hops[1].seen, Seen::IntactSoFar);
        assert_eq!(t.between, None);
        assert_eq!(
            t.conclusion,
            "Every hop that quoted the line received it as sent (hop 1), and the far end (hop 3) received it as sent: no hop on the path changed it."
        );
        // A far end that does not say how the line arrived (vsftpd) leaves
        // the last stretch open; a trace that never got there says so.
        let quiet = trace(
            vec![hop(1, [198, 51, 100, 1], SENT, 576), far(2)],
            Some(2),
            None,
        );
        assert!(
            quiet
                .conclusion
                .ends_with("so a change after hop 1 is not ruled out."),
            "{}",
            quiet.conclusion
        );
        let short = trace(vec![hop(1, [198, 51, 100, 1], SENT, 576)], None, None);
        assert!(
            short
                .conclusion
                .contains("up to hop 1 (198.51.100.1); the trace did not reach the far end")
        );
        let none = trace(vec![Hop::silent(1), Hop::silent(2)], None, None);
        assert!(
            none.conclusion
                .starts_with("No hop quoted the line whole (0 of 2")
        );
    }

    #[test]
    fn a_line_that_stops_being_quoted_and_gets_no_reply_was_dropped_there() {
        let mut t = trace(
            vec![
                hop(1, [198, 51, 100, 1], SENT, 576),
                hop(2, [192, 0, 2, 2], SENT, 576),
                Hop::silent(3),
            ],
            None,
            None,
        );
        t.no_reply = Some(3);
        t.stopped = Some("the line sent with TTL 3 got no reply (timed out)".into());
        t.conclude(None);
        assert_eq!(t.between, Some([2, 3]));
        assert_eq!(
            t.conclusion,
            "The line reached hop 2 (192.0.2.2) intact; sent one hop further it got no reply, and no later hop quoted it: it was dropped by the device at hop 2 or after it (or the far end did not answer)."
        );
    }

    #[test]
    fn a_change_after_the_last_answering_hop_is_placed_after_it() {
        let t = trace(
            vec![hop(1, [198, 51, 100, 1], SENT, 576), Hop::silent(2), far(3)],
            Some(3),
            Some(true),
        );
        assert_eq!(t.between, Some([1, 3]));
        assert!(
            t.conclusion.contains("changed after hop 1"),
            "{}",
            t.conclusion
        );
    }

    #[test]
    fn the_reflectors_report_is_not_part_of_the_reply() {
        assert_eq!(
            line_of(
                Direction::ToClient,
                b"227 Entering (1,2,3,4,5,6). tx=ab rx=cd\r\n"
            ),
            b"227 Entering (1,2,3,4,5,6)."
        );
        assert_eq!(
            line_of(Direction::ToServer, b"PORT x\r\nNOOP\r\n"),
            b"PORT x"
        );
    }
}
