//! What `watch` says, and where it goes: typed events and the sinks
//! that write them.

use crate::engine::Counters;
use crate::ftp::session::EndReason;
use crate::rules::{Finding, Rule};
use crate::timestamp::Timestamp;
use serde::Serialize;
use std::io::{self, Write};
use std::net::SocketAddr;

/// One thing `watch` has to say. Serialized with a `type` tag, one per
/// NDJSON line; every event has a timestamp (`ts`).
#[derive(Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Event<'a> {
    /// Reading began (of the input, or of one file of a directory).
    CaptureOpened {
        /// When reading began (wall clock).
        ts: Timestamp,
        /// The input (`-`: standard input).
        path: &'a str,
        /// For a file of a followed directory: the stream frame number of
        /// its frame 1 (frame numbers run on across the files).
        #[serde(skip_serializing_if = "Option::is_none")]
        first_frame: Option<u64>,
    },
    /// A file of a followed directory was rotated away before it was read.
    CaptureMissed {
        /// When it was found missing (wall clock).
        ts: Timestamp,
        /// The file.
        path: &'a str,
    },
    /// The evidence of a failing session was written (or could not be).
    Evidence {
        /// When it was written (capture clock).
        ts: Timestamp,
        /// The session's id.
        session: String,
        /// The pcapng file of its packets.
        #[serde(skip_serializing_if = "Option::is_none")]
        pcapng: Option<String>,
        /// Its Markdown report.
        #[serde(skip_serializing_if = "Option::is_none")]
        markdown: Option<String>,
        /// Packets written.
        packets: u64,
        /// Frames of the session that had already left the buffer.
        incomplete: bool,
        /// Why it could not be written, if it could not.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    SessionStarted {
        /// When its first packet was captured.
        ts: Timestamp,
        /// Its id, `s1`… in the order sessions are detected.
        session: String,
        /// The client's address and port.
        client: SocketAddr,
        /// The server's address and port.
        server: SocketAddr,
        /// The stream frame number of its first packet.
        frame: u64,
    },
    /// A finding, as soon as it is established: at once for the rules
    /// whose findings are final when seen, else when its session ends.
    Finding {
        /// When the finding was established: the time of
        /// `established_frame` (the finding's `first_ts` is when its first
        /// line was seen).
        ts: Timestamp,
        /// The packet that established it (before the session ended), or
        /// the session's last packet (judged when it ended).
        established_frame: u64,
        /// Replaces the finding said earlier with the same session, rule
        /// and first frame (more cases, or a data connection's outcome).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        revises_earlier: bool,
        #[serde(flatten)]
        finding: &'a Finding,
    },
    /// A finding said before its session ended no longer holds once the
    /// whole session is seen (a later data connection matched its setup).
    FindingWithdrawn {
        /// When the session ended.
        ts: Timestamp,
        /// The session's id.
        session: String,
        /// The rule of the finding withdrawn.
        rule: Rule,
        /// Its frames, as first said.
        frames: &'a [u64],
    },
    SessionEnded {
        /// When its last packet was captured (or, ended by silence, when the
        /// silence was noticed).
        ts: Timestamp,
        /// The session's id.
        session: String,
        /// The client's address and port.
        client: SocketAddr,
        /// The server's address and port.
        server: SocketAddr,
        /// How it ended.
        end_reason: EndReason,
        /// Commands it carried.
        commands: usize,
        /// Replies it carried.
        replies: usize,
        /// Its data connections.
        data_connections: usize,
        /// Its findings at the end.
        findings: usize,
    },
    /// A connection was seen again on another leg (the same first SYN's
    /// initial sequence number): the input holds two legs of a device
    /// (`tcpdump -i any` on it). Said once; from then on that leg is set
    /// aside, so each session and finding is counted once, as the leg
    /// where the connection was first seen shows it (`analyze FILE`
    /// compares the legs). What only the leg set aside carries is not
    /// read.
    LegsFolded {
        /// When (capture clock).
        ts: Timestamp,
        /// The leg whose reading stands.
        kept: &'a str,
        /// The leg whose copies are set aside.
        set_aside: &'a str,
        /// The stream frame number of the first copy's SYN.
        frame: u64,
    },
    /// Every `stats_every`, and at the end.
    Stats {
        /// When (wall clock while no packet arrives, else capture clock).
        ts: Timestamp,
        /// Where every frame went so far, as `analyze`'s `packets`.
        packets: &'a Counters,
        /// Sessions open now.
        sessions_live: u64,
        /// Findings written so far.
        finding_count: u64,
        /// Heap in use, where the binary measures it.
        #[serde(skip_serializing_if = "Option::is_none")]
        heap_bytes: Option<usize>,
        /// Live capture: what libpcap received and dropped.
        #[serde(skip_serializing_if = "Option::is_none")]
        capture_drops: Option<Drops>,
        /// `--exec` hooks not run (too many running) or that failed.
        #[serde(skip_serializing_if = "is_zero")]
        hooks_skipped: u64,
        /// `--exec` hooks that failed (exit code, timeout).
        #[serde(skip_serializing_if = "is_zero")]
        hooks_failed: u64,
        /// Live-session snapshots not taken: a session had had
        /// `SNAPSHOTS_PER_SESSION`, so its later findings wait for its end.
        #[serde(skip_serializing_if = "is_zero")]
        snapshots_skipped: u64,
        /// Connections the two legs both carry, counted once (see
        /// `legs-folded`).
        #[serde(skip_serializing_if = "is_zero")]
        copies_set_aside: u64,
        /// Frames of the leg set aside, not in `packets` (which counts
        /// what was read).
        #[serde(skip_serializing_if = "is_zero")]
        copy_frames_set_aside: u64,
    },
    /// Reading stopped: end of input, a read error, or a signal.
    CaptureClosed {
        /// When reading stopped.
        ts: Timestamp,
        /// The input.
        path: &'a str,
        /// `end of input`, `read error` or `interrupted`.
        why: &'a str,
        /// The read error, if there was one.
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// SHA-256 of every byte read from it.
        #[serde(skip_serializing_if = "Option::is_none")]
        sha256: Option<&'a str>,
    },
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Where events go. NDJSON and the terminal line writer write as they go;
/// a sink that needs the whole run (a document) would collect.
pub trait Sink {
    fn event(&mut self, e: &Event<'_>) -> io::Result<()>;
}

/// libpcap's counters, as `pcap_stats` gives them (live capture only;
/// defined in every build so that the event format does not depend on
/// the build).
#[derive(Clone, Copy, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Drops {
    /// Packets libpcap received.
    pub received: u32,
    /// Packets the kernel dropped (no room in the buffer).
    pub dropped_by_kernel: u32,
    /// Packets the interface or its driver dropped.
    pub dropped_by_interface: u32,
}

/// One JSON object per line, flushed per event (a SIEM tails it).
pub struct NdjsonSink<W: Write>(pub W);

impl<W: Write> Sink for NdjsonSink<W> {
    fn event(&mut self, e: &Event<'_>) -> io::Result<()> {
        // One write per line: a reopened log (SIGHUP) never splits one.
        let mut line = serde_json::to_vec(e)?;
        line.push(b'\n');
        self.0.write_all(&line)?;
        self.0.flush()
    }
}

/// One readable line per finding, session end and summary (a terminal).
pub struct TextSink<W: Write>(pub W);

impl<W: Write> Sink for TextSink<W> {
    fn event(&mut self, e: &Event<'_>) -> io::Result<()> {
        let line = match e {
            Event::CaptureOpened {
                path,
                first_frame: None,
                ..
            } => format!("watching {}", crate::escape::printable(path)),
            // A file of a followed directory: the stream goes on.
            Event::CaptureOpened {
                path,
                first_frame: Some(n),
                ..
            } => format!(
                "reading {} (its frame 1 is stream frame {n})",
                crate::escape::printable(path)
            ),
            Event::CaptureMissed { path, .. } => format!(
                "missed {}: rotated away before it was read",
                crate::escape::printable(path)
            ),
            Event::Finding {
                ts,
                established_frame,
                revises_earlier,
                finding,
            } => format!(
                "{ts} (frame {established_frame}) {} {} → {} {}{} {}{}: {}",
                finding.session,
                finding.client,
                finding.server,
                if *revises_earlier { "revised " } else { "" },
                finding.severity.name(),
                finding.rule,
                // The same event's other readings, by rule (the stall a
                // damaged PORT caused): their words are in the JSON.
                if finding.related.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (same event: {})",
                        finding
                            .related
                            .iter()
                            .map(|r| r.rule.id())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
                crate::escape::printable(&finding.message)
            ),
            Event::FindingWithdrawn {
                ts, session, rule, ..
            } => format!("{ts} {session} withdrawn {rule}: the whole session no longer shows it"),
            Event::SessionEnded {
                ts,
                session,
                end_reason,
                findings,
                ..
            } if *findings > 0 => format!(
                "{ts} {session} ended ({}), {findings} finding{}",
                crate::report::wording::wire_name(end_reason),
                if *findings == 1 { "" } else { "s" }
            ),
            // Each line names its file: with --dir, one file ends and the
            // stream goes on ("end of file"); the run itself stops once.
            Event::CaptureClosed {
                path, why, error, ..
            } => {
                let path = crate::escape::printable(path);
                match (*why, error) {
                    ("end of file", _) => format!("done with {path}: read to its end"),
                    (_, Some(e)) => format!("{path}: {why}: {}", crate::escape::printable(e)),
                    _ => format!("stopped watching {path}: {why}"),
                }
            }
            Event::LegsFolded {
                kept,
                set_aside,
                frame,
                ..
            } => format!(
                "two legs: frame {frame} shows on leg {aside} a connection leg {kept} carried (the same initial sequence number); from there on leg {aside} is set aside, so each session and finding is counted once, as leg {kept} shows it (analyze FILE compares the legs)",
                aside = crate::escape::printable(set_aside),
                kept = crate::escape::printable(kept),
            ),
            Event::Stats {
                packets,
                sessions_live,
                finding_count,
                copies_set_aside,
                copy_frames_set_aside,
                ..
            } => {
                use crate::batch::words::count;
                let copies = if *copies_set_aside > 0 {
                    format!(
                        ", {} of the other leg set aside ({} on both legs)",
                        count(*copy_frames_set_aside, "frame", "frames"),
                        count(*copies_set_aside, "connection", "connections")
                    )
                } else {
                    String::new()
                };
                format!(
                    "{}, {} ({sessions_live} live), {}{copies}",
                    count(packets.frames, "frame", "frames"),
                    count(packets.sessions, "session", "sessions"),
                    count(*finding_count, "finding", "findings")
                )
            }
            _ => return Ok(()),
        };
        self.0.write_all(format!("{line}\n").as_bytes())?;
        self.0.flush()
    }
}
