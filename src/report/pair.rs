//! What every report for people says of a session seen at both taps
//! (text, Markdown, HTML), so the formats cannot disagree: the facts of
//! the pair, each tap's view of a data setup, and the sessions seen at
//! one tap only.

use crate::compare::views::{Tap, Views};
use crate::compare::{DataSide, PairReport, Seen2};
use crate::reassembly::connection::Side;
use crate::report::model::CompareReport;

/// The pair's facts, in order, each a line: how it was matched, the NAT
/// mapping of both endpoints, the TCP relation and its steps, the clocks,
/// and the line counts. `views`: two taps, or the legs of one file, timed
/// by one clock (no offset to estimate).
pub fn facts(p: &PairReport, views: &Views) -> Vec<String> {
    let mut v = vec![
        format!(
            "matched ({} confidence): {}",
            p.matched.confidence, p.matched.explanation
        ),
        format!("client: {}", seen(&p.client_endpoint, views)),
        format!("server: {}", seen(&p.server_endpoint, views)),
    ];
    let tcp = if p.tcp.same_connection {
        format!(
            "one TCP connection seen {} (same sequence numbers)",
            views.at_both()
        )
    } else {
        format!(
            "two TCP connections (server-side sequence numbers differ by {}): a proxy terminates the connection, or the firewall randomises sequence numbers",
            p.tcp
                .seq_offset_to_server
                .or(p.tcp.seq_offset_to_client)
                .map_or("?".into(), |v| format!("{v:+}"))
        )
    };
    v.push(format!("TCP: {tcp}"));
    for st in &p.tcp.steps {
        v.push(format!(
            "sequence offset ({}) stepped {:+} → {:+} after line {}",
            if st.dir == Side::Client {
                "client→server"
            } else {
                "server→client"
            },
            st.before,
            st.after,
            st.after_line + 1
        ));
    }
    if let Some(k) = &p.clock {
        // A latency is never negative: a figure below zero only says the
        // offset's midpoint is off by that much, within its uncertainty.
        let secs = |x: f64| {
            if x < 0.0 {
                format!(
                    "under {:.6} s (within the clock's uncertainty)",
                    k.uncertainty_secs
                )
            } else {
                format!("{x:.6} s")
            }
        };
        let lat = |l: &Option<crate::compare::align::Latency>| {
            l.as_ref().map_or("n/a".into(), |l| {
                format!("median {}, max {}", secs(l.median_secs), secs(l.max_secs))
            })
        };
        // Lines in one direction only bound the offset on one side: the
        // path's latency is in the figure, and no ± can be given.
        let offset = match (k.samples_to_server, k.samples_to_client) {
            (0, _) => format!(
                "at least {:+.6} s (lines from the server only: less the path's latency)",
                k.offset_secs
            ),
            (_, 0) => format!(
                "at most {:+.6} s (lines from the client only: plus the path's latency)",
                k.offset_secs
            ),
            _ => format!("{:+.6} s ± {:.6} s", k.offset_secs, k.uncertainty_secs),
        };
        let clock = if views.are_legs() {
            "one file, one clock".to_string()
        } else {
            format!("the server-side capture's clock is {offset} from the client-side one")
        };
        v.push(format!(
            "clock: {clock}; path latency client→server {}, server→client {}",
            lat(&p.latency_to_server),
            lat(&p.latency_to_client)
        ));
    }
    v.push(format!(
        "lines: {}",
        crate::report::wording::line_counts(&p.counts)
    ));
    v
}

/// An endpoint as both taps saw it: the NAT mapping when it differs.
fn seen(x: &Seen2, views: &Views) -> String {
    if x.translated {
        format!(
            "{} {}, {} {} (translated)",
            x.client_side,
            views.at(Tap::ClientSide),
            x.server_side,
            views.at(Tap::ServerSide)
        )
    } else {
        format!("{} {}", x.client_side, views.at_both())
    }
}

/// A data setup as one tap saw it: the announcement, what became of it,
/// and the connection that tap saw.
pub fn data_side(d: &Option<DataSide>) -> String {
    match d {
        Some(d) => format!(
            "{} {}{} — {}{}",
            d.kind.name(),
            d.announced
                .map(|e| e.to_string())
                .unwrap_or_else(|| "?".into()),
            if d.read_leniently {
                " (read leniently: the line is malformed)"
            } else {
                ""
            },
            d.status.name(),
            d.connection
                .as_ref()
                .map(|c| format!(
                    " ({} → {}, frame {})",
                    c.initiator, c.acceptor, c.first_frame
                ))
                .unwrap_or_default()
        ),
        None => "—".into(),
    }
}

/// The sessions seen at one tap only, in a sentence; None when none.
pub fn one_tap(r: &CompareReport<'_>) -> Option<String> {
    let (c, s) = (&r.unmatched.client_side, &r.unmatched.server_side);
    if c.is_empty() && s.is_empty() {
        return None;
    }
    Some(format!(
        "Seen at one tap only: client-side sessions [{}], server-side sessions [{}]",
        c.join(", "),
        s.join(", ")
    ))
}

/// Why a pair's lines are not listed.
pub fn lines_not_listed(n: usize) -> String {
    format!(
        "All {n} line(s) are identical at both taps and not listed: past the memory budget a pair in which nothing differs is kept as its counts."
    )
}
