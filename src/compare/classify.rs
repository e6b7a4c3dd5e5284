//! What each difference between the two taps is (docs/middleboxes.md):
//! a NAT ALG's legitimate rewrite (`alg-rewrite`) or not
//! (`alg-rewrite-inconsistent`), an in-place mangling (`port-octet-mangled`,
//! `pasv-reply-mangled`, `string-227-mangled`, `verb-rewritten`), a
//! sequence-offset step, lines dropped, swallowed or injected, a passive /
//! active conversion.

use super::align::{Aligned, SeqStep, Status};

use crate::ftp::data::{DataSetup, Verdict};
use crate::ftp::message::verb_of;
use crate::ftp::session::Session;
use crate::reassembly::connection::Side;
use crate::rules::rewrite::{self, AddressChange, Change, What};
use crate::rules::signatures;
use crate::rules::{Finding, Other, Rule, Severity, q, ql};
use crate::timestamp::Timestamp;
use std::net::IpAddr;

/// One matched session pair and what is known about it.
pub struct Ctx<'a> {
    /// The session at the client-side tap and at the server-side tap.
    pub cs: &'a Session,
    pub ss: &'a Session,
    /// Capture indexes of the two taps in the report.
    pub cap: [usize; 2],
    pub lines: &'a [Aligned],
    pub steps: &'a [SeqStep],
    /// Server-side clock minus client-side clock.
    pub offset_secs: f64,
    /// First and last timestamps of the server-side and client-side
    /// captures, for lines that fell outside the other capture.
    pub client_capture_span: (Timestamp, Timestamp),
    pub server_capture_span: (Timestamp, Timestamp),
}

impl Ctx<'_> {
    fn finding(&self, rule: Rule, sev: Severity, msg: String, l: &Aligned) -> Finding {
        let mut f = Finding::new(rule, sev, self.cs, msg);
        f.capture = self.cap[0];
        f.other = Some(Other {
            capture: self.cap[1],
            session: self.ss.name(),
            frames: Vec::new(),
        });
        if let Some(c) = &l.client_side {
            f = f.evidence("at the client-side tap", c.frames.clone(), c.text.clone());
        }
        if let Some(s) = &l.server_side {
            f = f.other_evidence("at the server-side tap", s.frames.clone(), s.text.clone());
        }
        f
    }

    /// The data setup of a line, in the session of the given tap.
    fn setup(&self, at_server_tap: bool, dir: Side, item: usize) -> Option<&DataSetup> {
        super::setup_of(if at_server_tap { self.ss } else { self.cs }, dir, item)
    }

    /// Whether the sequence offset between the taps changed in a direction.
    fn stepped(&self, dir: Side) -> bool {
        self.steps.iter().any(|s| s.dir == dir)
    }
}

fn frames_of(v: Option<&super::align::Seen>) -> String {
    v.and_then(|s| s.frames.first())
        .map_or("-".into(), |f| f.to_string())
}

pub fn run(ctx: &Ctx<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut consumed = vec![false; ctx.lines.len()];
    mode_conversion(ctx, &mut consumed, &mut out);
    let mut stuck_behind: Option<usize> = None;
    for (i, l) in ctx.lines.iter().enumerate() {
        if consumed[i] {
            continue;
        }
        match l.status {
            Status::Identical => untranslated(ctx, l, &mut out),
            Status::Modified => modified(ctx, l, &mut out),
            Status::Dropped | Status::Injected => {
                if outside_other_capture(ctx, l) {
                    continue;
                }
                let cause = one_tap_cause(ctx, i);
                if let Cause::CaptureLoss(why) = &cause {
                    out.push(capture_loss(ctx, l, why));
                    continue;
                }
                if l.status == Status::Injected {
                    match &cause {
                        Cause::Path(why) => injected(ctx, l, why, &mut out),
                        Cause::Unknown(why) => out.push(undetermined(ctx, l, why)),
                        Cause::CaptureLoss(_) => {}
                    }
                    continue;
                }
                // Lines queued behind a dropped segment never arrive either.
                if let Some(k) = stuck_behind
                    && ctx.lines[k].dir == l.dir
                    && let Some(f) = out.last_mut()
                    && f.rule == Rule::AlgDropSuspected
                {
                    if let Some(c) = l.sent() {
                        f.frames.extend(&c.frames);
                    }
                    f.message.push_str(&format!(
                        " `{}` (frame {}) was queued behind it and never arrived either.",
                        q(&l.sent().map(|x| x.text.0.clone()).unwrap_or_default()),
                        frames_of(l.sent())
                    ));
                    continue;
                }
                if dropped(ctx, l, &cause, &mut out) {
                    stuck_behind = Some(i);
                }
            }
        }
    }
    // A step that only reflects lines swallowed or injected is their
    // consequence, already reported.
    for st in ctx.steps.iter().filter(|s| !s.from_one_tap_lines) {
        out.push(step(ctx, st));
    }
    for f in &mut out {
        f.normalise();
        f.stamp(ctx.cs);
    }
    out
}

/// Why a line was seen at one tap only.
enum Cause {
    /// The tap that lacks it missed it: its capture shows the sequence
    /// space the line took, or the receiver acknowledged the bytes.
    CaptureLoss(String),
    /// The path removed it (or added it): at the tap that lacks it the
    /// lines around it are contiguous in the sequence space.
    Path(String),
    /// The captures cannot tell, and why.
    Unknown(String),
}

/// Tells capture loss from device action for line `i` (seen at one tap),
/// from the sequence space of the tap that lacks it: a busy tap drops
/// packets, and a line it missed must never be reported as swallowed or
/// injected by the firewall.
fn one_tap_cause(ctx: &Ctx<'_>, i: usize) -> Cause {
    let l = &ctx.lines[i];
    let Some(here) = l.client_side.as_ref().or(l.server_side.as_ref()) else {
        return Cause::Unknown("the line has no bytes at either tap".into());
    };
    // The tap that lacks the line, and its view of the line's direction.
    let at_server_tap = l.client_side.is_some();
    let (lacking, tap) = if at_server_tap {
        (ctx.ss, "server-side")
    } else {
        (ctx.cs, "client-side")
    };
    let seen = |x: &Aligned| {
        if at_server_tap {
            x.server_side.clone()
        } else {
            x.client_side.clone()
        }
    };
    let same_dir = |x: &&Aligned| x.dir == l.dir;
    let prev = ctx.lines[..i].iter().rev().filter(same_dir).find_map(seen);
    let next = ctx.lines[i + 1..].iter().filter(same_dir).find_map(seen);
    let start = prev.as_ref().map_or(0, |p| p.offset + p.raw_len);
    let st = &lacking.tcp[l.side().index()];
    // The lines around it are contiguous at that tap: the line's bytes
    // were never in that sequence space (a tap that missed them would
    // show the sequence numbers jump by their length).
    if let (Some(p), Some(n)) = (&prev, &next)
        && n.offset == start
    {
        return Cause::Path(format!(
            "at the {tap} tap `{}` (frame {}) and `{}` (frame {}) follow each other with no byte between them in the sequence space",
            q(&p.text.0),
            frames_of(Some(p)),
            q(&n.text.0),
            frames_of(Some(n))
        ));
    }
    // Otherwise, if the receiver's cumulative ACK at that tap covers where
    // the line belongs, it got the bytes: only the tap can have missed
    // them. (A hole the receiver never acknowledged is what an in-path
    // drop leaves too: no proof either way.)
    let end = start + here.raw_len.max(1);
    if let Some(a) = st.peer_acked
        && a >= end
    {
        let hole = match &next {
            Some(n) if n.offset > start => format!(
                "its sequence numbers skip {} byte(s) there, between `{}` (frame {}) and `{}` (frame {}), ",
                n.offset - start,
                q(&prev.as_ref().map(|p| p.text.0.clone()).unwrap_or_default()),
                frames_of(prev.as_ref()),
                q(&n.text.0),
                frames_of(Some(n))
            ),
            _ => String::new(),
        };
        return Cause::CaptureLoss(format!(
            "at the {tap} tap {hole}and the receiver acknowledged the stream up to offset {a}, past offset {end} where the line ends: the bytes arrived, the tap missed them"
        ));
    }
    Cause::Unknown(match &next {
        Some(n) if n.offset > start => format!(
            "at the {tap} tap the sequence numbers skip {} byte(s) there, but the receiver never acknowledged them: the tap may have missed them or the path dropped them",
            n.offset - start
        ),
        _ => format!(
            "no later line of this direction and no acknowledgement past it at the {tap} tap"
        ),
    })
}

/// A line one capture missed (info: not the path's doing).
fn capture_loss(ctx: &Ctx<'_>, l: &Aligned, why: &str) -> Finding {
    let (line, at) = seen_once(l);
    ctx.finding(
        Rule::CaptureLoss,
        Severity::Info,
        format!(
            "`{}` (frame {} at the {at}) is missing from the other capture, which lost it: {why}. Capture loss, not the path's doing.",
            q(&line.text.0),
            frames_of(Some(line))
        ),
        l,
    )
}

/// A line at one tap whose cause the captures cannot tell (info).
fn undetermined(ctx: &Ctx<'_>, l: &Aligned, why: &str) -> Finding {
    let (line, at) = seen_once(l);
    ctx.finding(
        Rule::SeenAtOneTap,
        Severity::Info,
        format!(
            "`{}` (frame {} at the {at}) is missing from the other capture; neither capture shows whether that tap missed it or the path removed or added it ({why}).",
            q(&line.text.0),
            frames_of(Some(line))
        ),
        l,
    )
}

/// The version of a one-tap line and the tap it was seen at.
fn seen_once(l: &Aligned) -> (&super::align::Seen, &'static str) {
    match (&l.client_side, &l.server_side) {
        (Some(c), _) => (c, "client-side tap"),
        (None, Some(s)) => (s, "server-side tap"),
        (None, None) => unreachable!("an aligned line is seen at one tap at least"),
    }
}

/// A line outside the time span of the capture that would have shown its
/// counterpart was simply not captured there.
fn outside_other_capture(ctx: &Ctx<'_>, l: &Aligned) -> bool {
    let off = (ctx.offset_secs * 1e9) as i64;
    match (&l.client_side, &l.server_side) {
        (Some(c), None) => {
            let t = c.ts + off;
            t < ctx.server_capture_span.0 || t > ctx.server_capture_span.1
        }
        (None, Some(s)) => {
            let t = s.ts - off;
            t < ctx.client_capture_span.0 || t > ctx.client_capture_span.1
        }
        _ => false,
    }
}

/// How NAT maps the address of a line's sender: as seen at the tap on its
/// side, and at the other tap.
fn nat_of(ctx: &Ctx<'_>, dir: Side) -> (IpAddr, IpAddr) {
    match dir {
        Side::Client => (ctx.cs.client.ip(), ctx.ss.client.ip()),
        Side::Server => (ctx.ss.server.ip(), ctx.cs.server.ip()),
    }
}

/// A line identical at both taps that names its sender's address from
/// before the NAT: the ALG did not translate it.
fn untranslated(ctx: &Ctx<'_>, l: &Aligned, out: &mut Vec<Finding>) {
    let (Some(sent), Some(recv)) = (l.sent(), l.received()) else {
        return;
    };
    let dir = l.side();
    let nat = nat_of(ctx, dir);
    let Some(ep) = rewrite::untranslated(dir, &sent.text.0, nat) else {
        return;
    };
    let msg = format!(
        "`{}` crossed the NAT unchanged ({} frame {} → {} frame {}): it still names {}, although the {} tap sees that host as {}; the ALG did not rewrite it, so the receiver is sent to an address it cannot reach through the NAT",
        q(&sent.text.0),
        sent_tap(dir),
        frames_of(Some(sent)),
        recv_tap(dir),
        frames_of(Some(recv)),
        ep,
        recv_tap(dir).trim_end_matches(" tap"),
        nat.1
    );
    out.push(ctx.finding(Rule::AlgNotTranslated, Severity::Warning, msg, l));
}

fn modified(ctx: &Ctx<'_>, l: &Aligned, out: &mut Vec<Finding>) {
    let (Some(sent), Some(recv)) = (l.sent(), l.received()) else {
        return;
    };
    let dir = l.side();
    let (a, b) = (&sent.text.0, &recv.text.0);
    let nat = nat_of(ctx, dir);
    let Some(ch) = rewrite::classify(dir, a, b, nat) else {
        return;
    };
    if let What::Address(ac) = &ch.what {
        return address_change(ctx, l, &ch, ac, nat, out);
    }
    let mut msg = match ch.what {
        What::Verb => format!(
            "the client sent `{}` but the server received `{}`: the verb was rewritten",
            q(a),
            q(b)
        ),
        What::String227 { sites } => format!(
            "`{}` arrived as `{}`: the digit string 227 became 22_ ({sites} sites); the in-path device rewrites 227 anywhere in the control stream, not only in PORT",
            q(a),
            q(b),
        ),
        What::SystMasked => {
            format!("the server sent `{}`, the client received `{}`", q(a), q(b))
        }
        What::Other | What::Address(_) => format!("`{}` arrived as `{}`", q(a), q(b)),
    };
    msg.push_str(&format!(
        " ({}; {} frame {} → {} frame {}).",
        ch.diff.describe(),
        sent_tap(dir),
        frames_of(Some(sent)),
        recv_tap(dir),
        frames_of(Some(recv))
    ));
    if let Some(s) = ch.signature {
        msg.push_str(&format!(" Signature: {} ({}).", s.device, s.behaviour));
    }
    let mut f = ctx.finding(ch.rule, ch.severity, msg, l);
    f.compared(dir, a, b, ch.diff);
    f.signature = ch.signature;
    out.push(f);
}

fn sent_tap(dir: Side) -> &'static str {
    if dir == Side::Client {
        "client-side tap"
    } else {
        "server-side tap"
    }
}

fn recv_tap(dir: Side) -> &'static str {
    if dir == Side::Client {
        "server-side tap"
    } else {
        "client-side tap"
    }
}

fn address_change(
    ctx: &Ctx<'_>,
    l: &Aligned,
    ch: &Change,
    ac: &AddressChange,
    (orig_ip, nat_ip): (IpAddr, IpAddr),
    out: &mut Vec<Finding>,
) {
    let (Some(sent), Some(recv)) = (l.sent(), l.received()) else {
        return;
    };
    let dir = l.side();
    let (a, b) = (&sent.text.0, &recv.text.0);
    let d = &ch.diff;
    let numbers = &ac.fields;
    let taps = format!(
        "{} frame {} → {} frame {}",
        sent_tap(dir),
        frames_of(Some(sent)),
        recv_tap(dir),
        frames_of(Some(recv))
    );
    if ch.is_mangling() {
        let mut msg = format!(
            "`{}` at the {} arrived as `{}` at the {} ({taps}); {numbers}; {}",
            q(a),
            sent_tap(dir),
            q(b),
            recv_tap(dir),
            d.describe()
        );
        if let Some(sig) = ch.signature {
            msg.push_str(&format!(
                ". The same length means an in-place substitution by an inspection engine, not a NAT rewrite{}: the signature of {} (227→22_)",
                if ctx.stepped(dir) {
                    ""
                } else {
                    " (the TCP sequence offset between the taps did not change)"
                },
                sig.device
            ));
        } else {
            msg.push_str(&format!(
                ". Not explained by the NAT mapping ({orig_ip} ↔ {nat_ip})"
            ));
        }
        if let Some(p) = ac.sent.map(|e| e.port) {
            msg.push_str(&format!("; data port {p} became unusable"));
            if let Some(e) = ac.lenient
                && e.port != p
            {
                msg.push_str(&format!(" (a lenient server reads {e})"));
            }
        }
        msg.push('.');
        let mut f = ctx.finding(ch.rule, ch.severity, msg, l);
        f.compared(dir, a, b, d.clone());
        f.signature = ch.signature;
        out.push(f);
        return;
    }
    let style = ac.style;
    let nat_consistent = ac.nat_consistent;
    // Did the data connection at the receiving end use the rewritten endpoint?
    let downstream = ctx.setup(dir == Side::Client, dir, recv.item);
    // `consistent` is whether the rewrite matches the NAT mapping and the
    // data connection (where one was seen) used the rewritten endpoint.
    let (consistent, outcome) = match downstream.map(|s| (s.verdict, s.connection)) {
        Some((Verdict::Connected, Some(k))) => {
            let s = if dir == Side::Client { ctx.ss } else { ctx.cs };
            (
                true,
                format!(
                    "the data connection at the {} went to the rewritten endpoint (frame {})",
                    recv_tap(dir),
                    s.data_conns[k].first_frame
                ),
            )
        }
        Some((Verdict::WrongEndpoint, Some(k))) => {
            let s = if dir == Side::Client { ctx.ss } else { ctx.cs };
            (
                false,
                format!(
                    "but the data connection at the {} went to {} instead (frame {})",
                    recv_tap(dir),
                    s.data_conns[k].acceptor,
                    s.data_conns[k].first_frame
                ),
            )
        }
        Some((v, _)) => (
            nat_consistent,
            format!("data connection at the {}: {}", recv_tap(dir), v.describe()),
        ),
        None => (
            nat_consistent,
            "no data setup at the receiving tap".to_string(),
        ),
    };
    let (rule, sev) = if consistent {
        (Rule::AlgRewrite, Severity::Info)
    } else {
        (Rule::AlgRewriteInconsistent, Severity::Error)
    };
    let why = if nat_consistent {
        format!(
            "consistently with the NAT mapping of the control connection ({orig_ip} → {nat_ip})"
        )
    } else {
        format!("but not to the NAT address {nat_ip}")
    };
    let msg = format!(
        "`{}` was rewritten to `{}` by an ALG {why} ({taps}): {numbers}; {style}, length {:+}; {outcome}.",
        q(a),
        q(b),
        d.length_delta
    );
    let mut f = ctx.finding(rule, sev, msg, l);
    f.compared(dir, a, b, d.clone());
    out.push(f);
}

/// Returns true when the line is reported as dropped by an in-path device
/// (later lines of the direction are then stuck behind it).
fn dropped(ctx: &Ctx<'_>, l: &Aligned, cause: &Cause, out: &mut Vec<Finding>) -> bool {
    let Some(sent) = l.sent() else { return false };
    let dir = l.side();
    let sender = if dir == Side::Client { ctx.cs } else { ctx.ss };
    let st = &sender.tcp[dir.index()];
    let retrans = st.retransmissions.iter().find(|r| {
        !r.acked && r.offset < sent.offset + sent.raw_len.max(1) && r.offset + r.len > sent.offset
    });
    if let Some(r) = retrans {
        let mut msg = format!(
            "the segment carrying `{}` (frame {} at the {}) was retransmitted {}× and never reached the {}: an in-path device is discarding it",
            q(&sent.text.0),
            r.first_frame,
            sent_tap(dir),
            r.retransmission_frames.len(),
            recv_tap(dir)
        );
        if sent.segments > 1 {
            msg.push_str(&format!(
                " (the line was split across {} segments; {} drops a partial PORT)",
                sent.segments,
                crate::rules::signatures::LINUX_CONNTRACK_PARTIAL.device
            ));
        }
        if rewrite::parse_address(dir, &sent.text.0).is_some()
            && signatures::apply_227_rewrite(&sent.text.0).is_some()
        {
            msg.push_str(
                "; it carries `227`, which a 227→22_ rewriter in front of a conntrack helper turns into an unparsable line that the helper drops",
            );
        }
        msg.push('.');
        let f = ctx
            .finding(Rule::AlgDropSuspected, Severity::Error, msg, l)
            .frames(r.retransmission_frames.iter().copied());
        out.push(f);
        return true;
    }
    // Swallowed only on positive evidence that the bytes were never there.
    let why = match cause {
        Cause::Path(why) => why,
        Cause::Unknown(why) | Cause::CaptureLoss(why) => {
            out.push(undetermined(ctx, l, why));
            return false;
        }
    };
    let (rule, msg) = match dir {
        Side::Client => (
            Rule::CommandSwallowed,
            format!(
                "the client sent `{}` (frame {}) but it never reached the server-side tap ({why}): an in-path proxy or firewall swallowed it (WatchGuard, SmartDefense \"Blocked FTP Commands\")",
                q(&sent.text.0),
                frames_of(Some(sent))
            ),
        ),
        Side::Server => (
            Rule::ReplySwallowed,
            format!(
                "the server sent `{}` (frame {}) but it never reached the client-side tap ({why})",
                q(&sent.text.0),
                frames_of(Some(sent))
            ),
        ),
    };
    out.push(ctx.finding(rule, Severity::Error, format!("{msg}."), l));
    false
}

fn injected(ctx: &Ctx<'_>, l: &Aligned, why: &str, out: &mut Vec<Finding>) {
    let Some(recv) = l.received() else { return };
    let dir = l.side();
    let (rule, sev, mut msg) = match dir {
        Side::Server => (
            Rule::ReplyInjected,
            Severity::Error,
            format!(
                "`{}` was delivered to the client (frame {}) but never sent by the server ({why}): generated by an in-path proxy or firewall",
                q(&recv.text.0),
                frames_of(Some(recv))
            ),
        ),
        Side::Client => (
            Rule::CommandInjected,
            Severity::Warning,
            format!(
                "the server received `{}` (frame {}) that the client never sent ({why}): generated by an in-path proxy or ALG",
                q(&recv.text.0),
                frames_of(Some(recv))
            ),
        ),
    };
    if dir == Side::Server {
        let prev_cmd = ctx
            .cs
            .commands
            .iter()
            .rev()
            .find(|c| c.line.last_ts() <= recv.ts);
        if let Some(c) = prev_cmd {
            if c.is("AUTH") && recv.text.0.first() == Some(&b'5') {
                msg.push_str(" (AUTH refused by the firewall itself: Microsoft ISA/TMG does this)");
            } else {
                msg.push_str(&format!(" (after `{}`)", ql(&c.line)));
            }
        }
    }
    msg.push('.');
    out.push(ctx.finding(rule, sev, msg, l));
}

/// PASV/EPSV seen at one tap where PORT/EPRT is seen at the other; the
/// replies the conversion swapped (227 injected, 200 swallowed, or the
/// reverse) belong to the same finding.
fn mode_conversion(ctx: &Ctx<'_>, consumed: &mut [bool], out: &mut Vec<Finding>) {
    let verb = |l: &Aligned| {
        l.client_side
            .as_ref()
            .or(l.server_side.as_ref())
            .and_then(|s| verb_of(&s.text.0))
    };
    let one_tap = |l: &Aligned| matches!(l.status, Status::Dropped | Status::Injected);
    let passive = |v: &str| matches!(v, "PASV" | "EPSV" | "LPSV");
    let active = |v: &str| matches!(v, "PORT" | "EPRT" | "LPRT");
    let n = ctx.lines.len();
    for i in 0..n {
        let a = &ctx.lines[i];
        if consumed[i] || a.dir != Side::Client || !one_tap(a) {
            continue;
        }
        let Some(va) = verb(a) else { continue };
        let partner = (i + 1..n.min(i + 4)).find(|&j| {
            let b = &ctx.lines[j];
            !consumed[j]
                && b.dir == Side::Client
                && one_tap(b)
                && b.status != a.status
                && verb(b).is_some_and(|vb| {
                    (passive(&va) && active(&vb)) || (active(&va) && passive(&vb))
                })
        });
        let Some(j) = partner else { continue };
        let b = &ctx.lines[j];
        let (cl, sl) = if a.client_side.is_some() {
            (a, b)
        } else {
            (b, a)
        };
        let (cv, sv) = (verb(cl).unwrap_or_default(), verb(sl).unwrap_or_default());
        consumed[i] = true;
        consumed[j] = true;
        let mut f = ctx.finding(
            Rule::ModeConverted,
            Severity::Warning,
            format!(
                "the client sent {cv} but the server received {sv}: an in-path ALG converted {} mode (D-Link/Clavister \"hybrid mode\", Stormshield proxy transfer-mode settings)",
                if passive(&cv) { "passive to active" } else { "active to passive" }
            ),
            cl,
        );
        if let Some(s) = &sl.server_side {
            f = f.other_evidence("at the server-side tap", s.frames.clone(), s.text.clone());
        }
        // The replies it swapped: the next server lines seen at one tap
        // after the first of the two commands (capture timing may place a
        // reply between them).
        let mut swapped = Vec::new();
        let window = i + 1..n.min(j + 5);
        for (r, used) in ctx.lines[window.clone()].iter().zip(&mut consumed[window]) {
            if r.dir == Side::Server && one_tap(r) && !*used {
                *used = true;
                if let Some(c) = &r.client_side {
                    f = f.evidence(
                        "reply at the client-side tap",
                        c.frames.clone(),
                        c.text.clone(),
                    );
                    swapped.push(format!("the client got `{}`", q(&c.text.0)));
                }
                if let Some(s) = &r.server_side {
                    f = f.other_evidence(
                        "reply at the server-side tap",
                        s.frames.clone(),
                        s.text.clone(),
                    );
                    swapped.push(format!("the server answered `{}`", q(&s.text.0)));
                }
            }
        }
        if !swapped.is_empty() {
            f.message.push_str(&format!("; {}", swapped.join(", ")));
        }
        f.message.push('.');
        out.push(f);
    }
}

fn step(ctx: &Ctx<'_>, st: &SeqStep) -> Finding {
    let l = &ctx.lines[st.after_line];
    let line = l.sent().map(|s| q(&s.text.0)).unwrap_or_default();
    let by = st.after - st.before;
    let dir = l.side();
    // After the step, did the sender keep retransmitting data the receiver
    // had? Then the ACKs were not translated back consistently.
    let sender = if dir == Side::Client { ctx.cs } else { ctx.ss };
    let after_off = l.sent().map_or(0, |s| s.offset + s.raw_len);
    let received_later: Vec<u64> = ctx
        .lines
        .iter()
        .skip(st.after_line + 1)
        .filter(|x| x.dir == l.dir && x.status != Status::Dropped)
        .filter_map(|x| x.sent().map(|s| s.offset))
        .collect();
    let ack_bad = sender.tcp[dir.index()]
        .retransmissions
        .iter()
        .any(|r| r.offset >= after_off && received_later.contains(&r.offset));
    // Lines only one tap saw between the two lines the offsets come from:
    // a tap missed one of them (capture loss) or the path removed it; its
    // own rewrite, if any, is unknown, so the step cannot be judged.
    let unseen: Vec<&Aligned> = ctx.lines[st.after_line + 1..]
        .iter()
        .filter(|x| x.dir == l.dir)
        .take_while(|x| matches!(x.status, Status::Dropped | Status::Injected))
        .collect();
    let flow = if dir == Side::Client {
        "client→server"
    } else {
        "server→client"
    };
    let (sev, mut msg) = if !st.explained_by_length_change && !ack_bad && st.across_gap {
        (
            Severity::Info,
            format!(
                "the TCP sequence offset between the taps ({}) changed from {:+} to {:+} ({by:+}) across bytes a tap did not capture after `{line}`; what they held, and how the path rewrote them (an ALG changes lengths), is not in the captures, so the change is not judged",
                flow, st.before, st.after,
            ),
        )
    } else if !st.explained_by_length_change && !ack_bad && !unseen.is_empty() {
        (
            Severity::Info,
            format!(
                "the TCP sequence offset between the taps ({}) changed from {:+} to {:+} ({by:+}) across {} that only one tap saw; how that line was rewritten on the way (an ALG changes lengths) is not in the captures, so the change is not judged",
                flow,
                st.before,
                st.after,
                unseen
                    .iter()
                    .map(|x| format!("`{}`", q(&seen_once(x).0.text.0)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    } else if st.explained_by_length_change && !ack_bad {
        (
            Severity::Info,
            format!(
                "the TCP sequence offset between the taps ({}) stepped from {:+} to {:+} ({by:+}) at the segment carrying `{line}`: an in-path ALG changed the line's length and adjusts sequence numbers from there on",
                flow, st.before, st.after
            ),
        )
    } else {
        (
            Severity::Error,
            format!(
                "the TCP sequence offset between the taps ({}) stepped from {:+} to {:+} ({by:+}) after `{line}`{}",
                flow,
                st.before,
                st.after,
                if st.explained_by_length_change {
                    ""
                } else {
                    ", which no change of line length explains"
                }
            ),
        )
    };
    if ack_bad {
        msg.push_str(": the sender kept retransmitting data the receiver had already got — the ACK mapping after the step is inconsistent (one correction point per direction in Linux seqadj); expect stalls and resets");
    }
    msg.push('.');
    let mut f = ctx.finding(Rule::SeqOffsetStep, sev, msg, l);
    if let (Some(d), Some(a), Some(b)) = (&l.diff, l.sent(), l.received()) {
        f.compared(dir, &a.text.0, &b.text.0, d.clone());
    }
    f
}
