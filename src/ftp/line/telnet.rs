//! Telnet in the control stream (RFC 959 §4.1.3: the control connection
//! is a Telnet connection): IAC sequences are taken out of the line and
//! kept beside it, and the abort signal (IP then Synch) named.

use super::*;

/// What a Telnet command (RFC 854) is, by its bytes after IAC.
pub fn telnet_name(cmd: &[u8]) -> String {
    match cmd {
        [0xff, 0xf4] => "IP (interrupt process)".into(),
        [0xff, 0xf2] => "DM (the Synch's data mark)".into(),
        [0xff, 0xf5] => "AO (abort output)".into(),
        [0xff, 0xf1] => "NOP".into(),
        [0xff, 0xf6] => "AYT (are you there)".into(),
        _ => format!("IAC {}", crate::escape::escape(cmd.get(1..).unwrap_or(&[]))),
    }
}

/// Telnet commands in the order they stood, named; with IP followed by
/// DM it says that was the RFC 959 §4.1.3 abort signal (what a client
/// sends before ABOR, or instead of one before it closes).
pub fn telnet_description<'a>(cmds: impl IntoIterator<Item = &'a [u8]>) -> String {
    let cmds: Vec<&[u8]> = cmds.into_iter().collect();
    let names: Vec<String> = cmds.iter().map(|c| telnet_name(c)).collect();
    let abort = cmds
        .windows(2)
        .any(|w| w[0] == [0xff, 0xf4] && w[1] == [0xff, 0xf2]);
    format!(
        "Telnet {}{}",
        names.join(", "),
        if abort {
            ": the RFC 959 abort signal"
        } else {
            ""
        }
    )
}

impl Decoder {
    pub(super) fn telnet_begin(&mut self) {
        let Some(p) = self.cur.as_mut() else { return };
        p.telnet_kept = p.line.telnet.len() < MAX_TELNET;
        if p.telnet_kept {
            let at = p.line.bytes.0.len() as u32;
            p.line.telnet.push(TelnetCmd {
                at,
                bytes: Bytes(vec![0xff]),
            });
        } else {
            p.line.telnet_dropped = p.line.telnet_dropped.saturating_add(1);
        }
    }

    /// The Telnet command being read, if it is recorded: once the line's
    /// list is full, later commands are counted, never written over the
    /// last recorded one.
    pub(super) fn telnet_current(&mut self) -> Option<&mut TelnetCmd> {
        self.cur
            .as_mut()
            .filter(|p| p.telnet_kept)
            .and_then(|p| p.line.telnet.last_mut())
    }

    pub(super) fn telnet_partial(&mut self, b: u8) {
        if let Some(t) = self.telnet_current() {
            t.bytes.0.push(b);
        }
    }

    pub(super) fn telnet_finish(&mut self, b: u8) {
        self.telnet_partial(b);
    }

    pub(super) fn telnet(&mut self, seq: &[u8]) {
        if let Some(t) = self.telnet_current() {
            t.bytes.0.clear();
            t.bytes.0.extend_from_slice(seq);
        }
    }
}
