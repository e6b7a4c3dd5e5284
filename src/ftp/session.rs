//! A finished FTP control session: what the live decoder
//! ([`super::live::LiveSession`]) saw, with commands paired with their
//! replies and every data setup with its outcome ([`super::pairing`]).

use super::data::{DataConn, DataSetup};
use super::fingerprint::Server;
use super::line::Item;
use super::message::{Command, Reply, quoted_secret, secret_of};
use crate::escape::Bytes;
use crate::reassembly::connection::{Lifecycle, Side};
use crate::reassembly::{DirStats, Limits};
use crate::timestamp::Timestamp;
use serde::Serialize;
use std::net::SocketAddr;

/// How the control connection was recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Detection {
    /// TCP port 21.
    Port21,
    /// A port given with `--port`.
    ConfiguredPort,
    /// A `220` banner followed by an FTP command, on any port.
    Banner,
}

/// Why the session record was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EndReason {
    /// FIN in both directions.
    Closed,
    Reset,
    /// The capture ended with the connection open.
    CaptureEnd,
    /// The same 4-tuple started a new connection.
    Reused,
    /// Idle for too long while the flow table was full.
    Evicted,
    /// The capture file stopped with an error.
    ReadError,
    /// Silent for longer than `watch --idle-timeout`: no longer followed.
    Idle,
    /// Not ended: a snapshot of a live session ([`LiveSession::snapshot`]).
    Ongoing,
}

/// Encryption of the control channel.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Tls {
    /// The `AUTH` command that was accepted with 234.
    pub auth_command: Option<usize>,
    /// The frame where TLS began (the first TLS record).
    pub started_frame: Option<u64>,
    /// Cleartext resumed (CCC) at this frame, per direction.
    pub client_cleartext_again_frame: Option<u64>,
    /// The same for the server.
    pub server_cleartext_again_frame: Option<u64>,
    /// Bytes inside TLS records, not analysed.
    pub client_encrypted_bytes: u64,
    /// The same for the server.
    pub server_encrypted_bytes: u64,
}

/// Limits on what one session keeps.
#[derive(Clone, Copy, Debug)]
pub struct SessionLimits {
    pub tcp: Limits,
    /// Lines stored per direction; the rest are counted.
    pub max_lines: usize,
    /// Data connection attempts recorded.
    pub max_data_conns: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            tcp: Limits::default(),
            max_lines: 100_000,
            max_data_conns: 10_000,
        }
    }
}

/// What a session record could not keep.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct SessionCaps {
    /// Command lines and replies not stored (per direction).
    pub lines_not_kept: [u64; 2],
    /// Lines of multi-line replies not stored past the per-reply cap.
    pub reply_lines_not_kept: u64,
    /// Data connections not stored past the per-session cap.
    pub data_conns_not_kept: u64,
    /// Bytes dropped while waiting to see whether TLS began (after AUTH TLS).
    pub bytes_lost_waiting_for_tls_decision: u64,
    #[serde(flatten)]
    pub lines: LineCuts,
}

impl SessionCaps {
    pub fn any(&self) -> bool {
        self.lines_not_kept != [0, 0]
            || self.reply_lines_not_kept > 0
            || self.data_conns_not_kept > 0
            || self.bytes_lost_waiting_for_tls_decision > 0
            || self.lines != LineCuts::default()
    }
}

/// What the lines of a session could not keep (see the caps in
/// [`crate::ftp::line`]): a line's bytes past `MAX_LINE`, the frames of a
/// line spread over very many segments, Telnet commands past the first
/// ones. Each line says the same in its own fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LineCuts {
    /// Lines longer than `MAX_LINE`: their start is kept.
    pub lines_cut: u64,
    /// Bytes of those lines not kept.
    pub line_bytes_not_kept: u64,
    /// Frames that carried lines but are not listed with them.
    pub line_frames_not_listed: u64,
    /// Telnet commands removed from lines but not recorded.
    pub telnet_commands_not_recorded: u64,
}

impl LineCuts {
    pub(super) fn count(&mut self, item: &Item) {
        if let Item::Line(l) = item {
            self.lines_cut += u64::from(l.overlong_bytes > 0);
            self.line_bytes_not_kept += l.overlong_bytes;
            self.line_frames_not_listed += u64::from(l.pieces_dropped);
            self.telnet_commands_not_recorded += u64::from(l.telnet_dropped);
        }
    }
}

/// A finished FTP control session.
#[derive(Clone, Debug)]
pub struct Session {
    /// 1-based, in order of the first frame.
    pub id: u32,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub detection: Detection,
    pub start: Timestamp,
    pub end: Timestamp,
    pub first_frame: u64,
    pub last_frame: u64,
    /// When the connection's last captured packet (`last_frame`) was seen;
    /// `end` may be later (the session known silent until then).
    pub last_seen: Timestamp,
    pub packets: [u64; 2],
    /// TTL of the first packet from client and from server.
    pub ttl: [Option<u8>; 2],
    /// Wireshark's `tcp.stream` of the control connection.
    pub tcp_stream: Option<u32>,
    pub lifecycle: Lifecycle,
    pub end_reason: EndReason,
    pub banner: Option<Bytes>,
    pub server_software: Option<Server>,
    pub commands: Vec<Command>,
    pub replies: Vec<Reply>,
    /// For each command, the index of its final reply.
    pub reply_of: Vec<Option<usize>>,
    /// For each reply, the index of the command it answers.
    pub command_of: Vec<Option<usize>>,
    /// Per command: its reply may lie in bytes the capture missed.
    pub reply_unseen: Vec<bool>,
    pub data_setups: Vec<DataSetup>,
    pub data_conns: Vec<DataConn>,
    /// A frame of traffic between the session's hosts beyond its control
    /// connection, captured while it lived; None: the capture holds none
    /// (filtered to the control port, say), so it could not see the
    /// session's data connections.
    pub beyond_control: Option<u64>,
    pub tls: Option<Tls>,
    pub tcp: [DirStats; 2],
    pub limits: SessionCaps,
}

impl Session {
    /// When frame `frame` was captured, if it carried a line of this
    /// session or a data connection's SYN, SYN-ACK or last packet.
    pub fn time_of(&self, frame: u64) -> Option<Timestamp> {
        let lines = self
            .commands
            .iter()
            .map(|c| &c.line)
            .chain(self.replies.iter().flat_map(|r| &r.lines));
        for l in lines {
            if let Some(p) = l.pieces.iter().find(|p| p.frame == frame) {
                return Some(p.ts);
            }
        }
        self.data_conns.iter().find_map(|c| {
            if c.first_frame == frame {
                Some(c.first_ts)
            } else if c.syn_ack_frame == Some(frame) {
                c.syn_ack_ts
            } else {
                (c.last_frame == frame).then_some(c.last_ts)
            }
        })
    }

    /// The line that announced a data setup, and its direction: the
    /// PORT-type command of an active setup, the 227/228/229 of a passive
    /// one.
    pub fn announcing(&self, d: &DataSetup) -> Option<(Side, &super::line::Line)> {
        if d.kind.is_active() {
            d.command.map(|i| (Side::Client, &self.commands[i].line))
        } else {
            d.reply.map(|i| (Side::Server, self.replies[i].last()))
        }
    }

    pub fn name(&self) -> String {
        format!("s{}", self.id)
    }

    /// Bytes the record occupies, mostly its dialogue (to bound what a
    /// report keeps).
    pub fn mem_size(&self) -> usize {
        use std::mem::size_of;
        size_of::<Self>()
            + self
                .commands
                .iter()
                .map(|c| size_of::<Command>() + c.line.mem_size())
                .sum::<usize>()
            + self
                .replies
                .iter()
                .map(|r| size_of::<Reply>() + r.lines.iter().map(|l| l.mem_size()).sum::<usize>())
                .sum::<usize>()
            + (self.reply_of.len() + self.command_of.len()) * size_of::<Option<usize>>()
            + self.reply_unseen.len()
            + self.data_setups.len() * size_of::<DataSetup>()
            + self.data_conns.len() * size_of::<DataConn>()
    }

    /// The Community ID (v1, seed 0) of the control connection: the same
    /// string Zeek's and Suricata's logs give this flow.
    pub fn community_id(&self) -> Option<String> {
        community_id::calculate_community_id(
            0,
            self.client.ip(),
            self.server.ip(),
            Some(self.client.port()),
            Some(self.server.port()),
            6,
            false,
        )
        .ok()
    }

    /// Whether TLS was asked for or agreed (AUTH, or a 234 even when the
    /// capture missed the AUTH): encrypted bytes may then be read as text
    /// wherever the capture missed where they began.
    pub fn asked_for_tls(&self) -> bool {
        self.tls.is_some()
            || self.commands.iter().any(|c| c.is("AUTH"))
            || self.replies.iter().any(|r| r.code == Some(234))
    }

    /// The final reply to command `i`.
    pub fn reply_to(&self, i: usize) -> Option<&Reply> {
        self.reply_of
            .get(i)
            .copied()
            .flatten()
            .map(|r| &self.replies[r])
    }

    /// Replaces every credential (the argument of `PASS` and `ACCT`, the
    /// password of `SITE PASSWD`-like commands) with `<redacted:N>` (N =
    /// its length), also where a server quoted it back and in
    /// retransmission evidence, so no output can carry a password.
    pub fn redact_passwords(&mut self) {
        // (what stood before the secret, the secret, its stream range)
        let mut secrets: Vec<(Vec<u8>, Vec<u8>, u64, u64)> = Vec::new();
        for c in &mut self.commands {
            let Some(at) = secret_of(&c.line.bytes.0) else {
                continue;
            };
            let line = &mut c.line.bytes.0;
            let secret = line.split_off(at.start);
            line.extend_from_slice(format!("<redacted:{}>", secret.len()).as_bytes());
            secrets.push((
                line[..at.start].to_vec(),
                secret,
                c.line.offset,
                c.line.offset + c.line.raw_len,
            ));
        }
        if secrets.is_empty() {
            return;
        }
        for r in &mut self.replies {
            for l in &mut r.lines {
                for (before, secret, _, _) in &secrets {
                    redact_in(&mut l.bytes.0, before, secret);
                }
            }
        }
        let st = &mut self.tcp[Side::Client.index()];
        for k in &mut st.conflicts {
            if secrets
                .iter()
                .any(|(_, _, a, b)| k.offset < *b && k.offset + k.kept.0.len() as u64 > *a)
            {
                let n = k.kept.0.len();
                k.kept = Bytes(format!("<redacted:{n}>").into_bytes());
                k.other = Bytes(format!("<redacted:{}>", k.other.0.len()).into_bytes());
            }
        }
    }

    /// Preliminary (1xx) replies that answered command `i`.
    pub fn preliminaries(&self, i: usize) -> impl Iterator<Item = &Reply> {
        self.replies
            .iter()
            .zip(&self.command_of)
            .filter(move |(r, c)| **c == Some(i) && r.is_preliminary())
            .map(|(r, _)| r)
    }
}

/// Replaces `secret` in `hay` by `<redacted:N>` wherever it is quoted
/// after `before`.
fn redact_in(hay: &mut Vec<u8>, before: &[u8], secret: &[u8]) {
    let rep = format!("<redacted:{}>", secret.len()).into_bytes();
    for at in quoted_secret(hay, before, secret).into_iter().rev() {
        hay.splice(at..at + secret.len(), rep.iter().copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftp::line::{Line, Piece, Terminator};
    use crate::ftp::message::ReplyAssembler;
    use crate::ftp::pairing::pair;

    fn line(s: &str, frame: u64) -> Line {
        Line {
            bytes: Bytes(s.as_bytes().to_vec()),
            terminator: Terminator::CrLf,
            offset: 0,
            raw_len: 0,
            pieces: vec![Piece {
                frame,
                ts: Timestamp(frame as i64),
                seg_offset: 0,
                len: s.len() as u32,
            }],
            pieces_dropped: 0,
            telnet: vec![],
            telnet_dropped: 0,
            overlong_bytes: 0,
            after_gap: false,
            follows_gap: false,
            bare_cr: false,
            peer_acked: None,
        }
    }

    fn reply(s: &str, frame: u64) -> Reply {
        ReplyAssembler::default().push(line(s, frame)).unwrap()
    }

    #[test]
    fn pairing_survives_pipelining_and_preliminaries() {
        let cmds = vec![
            Command::new(line("USER a", 3)),
            Command::new(line("TYPE I", 10)),
            Command::new(line("RETR f", 11)),
        ];
        let reps = vec![
            reply("220 hi", 1),
            reply("331 pass", 4),
            reply("200 ok", 12),
            reply("150 here", 13),
            reply("226 done", 14),
        ];
        let p = pair(&cmds, &reps);
        let (rof, cof) = (p.reply_of, p.command_of);
        assert_eq!(cof, vec![None, Some(0), Some(1), Some(2), Some(2)]);
        assert_eq!(rof, vec![Some(1), Some(2), Some(4)]);
    }

    #[test]
    fn early_client_does_not_steal_banner() {
        let cmds = vec![Command::new(line("USER a", 1))];
        let reps = vec![reply("220 hi", 2), reply("331 pass", 3)];
        let p = pair(&cmds, &reps);
        let (rof, cof) = (p.reply_of, p.command_of);
        assert_eq!(cof, vec![None, Some(0)]);
        assert_eq!(rof, vec![Some(1)]);
    }

    #[test]
    fn redaction_terminates_on_hostile_password() {
        let mut hay = b"500 'PASS <redacted:12>': x".to_vec();
        redact_in(&mut hay, b"PASS ", b"<redacted:12>");
        assert_eq!(hay, b"500 'PASS <redacted:13>': x");
        // Quoted back in the server's own case and with the client's tab.
        let mut hay = b"500 'pass\thunter2': command not understood; hunter2".to_vec();
        redact_in(&mut hay, b"PASS\t", b"hunter2");
        assert_eq!(
            hay,
            b"500 'pass\t<redacted:7>': command not understood; hunter2"
        );
    }

    #[test]
    fn community_id_is_the_standard_one() {
        // The spec's and Zeek's test vector: 1.2.3.4:1122 → 5.6.7.8:3344 TCP.
        let id = community_id::calculate_community_id(
            0,
            "1.2.3.4".parse().unwrap(),
            "5.6.7.8".parse().unwrap(),
            Some(1122),
            Some(3344),
            6,
            false,
        );
        assert_eq!(id.unwrap(), "1:wCb3OG7yAFWelaUydu0D+125CLM=");
    }

    #[test]
    fn unsolicited_reply_is_unpaired() {
        let cmds = vec![Command::new(line("NOOP", 5))];
        let reps = vec![reply("220 hi", 1), reply("200 ok", 6), reply("421 bye", 9)];
        let cof = pair(&cmds, &reps).command_of;
        assert_eq!(cof, vec![None, Some(0), None]);
    }

    #[test]
    fn a_reply_goes_to_a_command_that_can_get_it() {
        // An unanswered PORT, then QUIT: 221 is QUIT's.
        let cmds = vec![
            Command::new(line("PORT 1,2,3,4,5,6", 3)),
            Command::new(line("QUIT", 4)),
        ];
        let reps = vec![reply("220 hi", 1), reply("221 Goodbye.", 5)];
        let p = pair(&cmds, &reps);
        assert_eq!(p.reply_of, vec![None, Some(1)]);
        assert_eq!(p.reply_unseen, vec![false, false]);
        // PASV answered by `221 Bye` (Zeek's ftp-invalid-reply-code): no pair.
        let cmds = vec![Command::new(line("PASV", 3))];
        let reps = vec![reply("220 hi", 1), reply("221 Bye", 5)];
        assert_eq!(pair(&cmds, &reps).reply_of, vec![None]);
        // PORT then PWD: the 257 is PWD's.
        let cmds = vec![
            Command::new(line("PORT 1,2,3,4,5,6", 3)),
            Command::new(line("PWD", 4)),
        ];
        let reps = vec![reply("220 hi", 1), reply("257 \"/\"", 5)];
        assert_eq!(pair(&cmds, &reps).reply_of, vec![None, Some(1)]);
    }

    #[test]
    fn a_reply_quoting_a_commands_line_answers_it() {
        // Zeek's fake-server-delays-all: every command sent before the
        // banner, each reply quoting its command, `225` for a RETR.
        let lines = [
            "USER anonymous",
            "PASV",
            "RETR robots.txt",
            "PORT 114,115",
            "QUIT",
        ];
        let cmds: Vec<Command> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| Command::new(line(l, 1 + i as u64)))
            .collect();
        let mut reps = vec![reply("220 py.fake ready", 10)];
        for (i, (code, l)) in [230, 227, 225, 200, 221].iter().zip(lines).enumerate() {
            reps.push(reply(&format!("{code} Fake response {l}"), 11 + i as u64));
        }
        let p = pair(&cmds, &reps);
        assert_eq!(
            p.reply_of,
            vec![Some(1), Some(2), Some(3), Some(4), Some(5)]
        );
        // A verb alone is no quote: `200 PORT command successful` after
        // two PORTs goes to the first, by order.
        let cmds = vec![
            Command::new(line("PORT 1,2,3,4,5,6", 2)),
            Command::new(line("PORT 1,2,3,4,5,7", 3)),
        ];
        let reps = vec![
            reply("220 hi", 1),
            reply("200 PORT command successful", 4),
            reply("200 Fake response PORT 1,2,3,4,5,7", 5),
        ];
        assert_eq!(pair(&cmds, &reps).reply_of, vec![Some(1), Some(2)]);
    }

    #[test]
    fn a_command_whose_ack_covers_the_missing_bytes_keeps_its_reply() {
        // The rest of a multi-line 230 was never captured (bytes 40..1481
        // of the server's stream); the PORT after it acknowledged them.
        let mut port = line("PORT 1,2,3,4,5,6", 5);
        port.peer_acked = Some(1481);
        let mut ok = line("200 PORT command successful.", 6);
        ok.follows_gap = true;
        ok.offset = 1481;
        let cmds = vec![Command::new(line("USER a", 2)), Command::new(port.clone())];
        let reps = vec![
            reply("220 hi", 1),
            reply("230 Welcome", 3),
            ReplyAssembler::default().push(ok.clone()).unwrap(),
        ];
        let p = pair(&cmds, &reps);
        assert_eq!(p.reply_of, vec![Some(1), Some(2)]);
        assert_eq!(p.reply_unseen, vec![false, false]);
        // Its ACK short of the missing bytes: the reply may be in them.
        port.peer_acked = Some(40);
        let cmds = vec![Command::new(line("USER a", 2)), Command::new(port)];
        let p = pair(&cmds, &reps);
        assert_eq!(p.reply_of, vec![Some(1), None]);
        assert_eq!(p.reply_unseen, vec![false, true]);
    }

    #[test]
    fn never_paired_across_a_gap() {
        // TYPE I sent; `200 Type set to I` and `PASV` lost; then 227.
        let mut after = line("227 Entering Passive Mode (1,2,3,4,5,6)", 9);
        after.follows_gap = true;
        let mut list = line("LIST", 10);
        list.follows_gap = true;
        let cmds = vec![Command::new(line("TYPE I", 3)), Command::new(list)];
        let reps = vec![
            reply("220 hi", 1),
            ReplyAssembler::default().push(after).unwrap(),
            reply("150 here", 11),
            reply("226 done", 12),
        ];
        let p = pair(&cmds, &reps);
        assert_eq!(p.reply_of, vec![None, Some(3)]);
        assert_eq!(p.command_of[1], None, "the 227 answers no command seen");
        assert_eq!(p.reply_unseen, vec![true, false]);
        // A generic reply after a lost command is not given to the next.
        let mut pwd = line("PWD", 6);
        pwd.follows_gap = true;
        let cmds = vec![Command::new(line("CWD a", 3)), Command::new(pwd)];
        let reps = vec![
            reply("220 hi", 1),
            reply("250 ok", 4),
            reply("250 ok", 7),
            reply("257 \"/b\"", 8),
        ];
        let p = pair(&cmds, &reps);
        assert_eq!(p.reply_of, vec![Some(1), Some(3)]);
        assert_eq!(p.command_of[2], None);
    }
}
