//! Where finished sessions go: the one seam between the engine and
//! every command that reads captures (analyze keeps or writes them, batch
//! records them, watch says them as they happen).

use crate::ftp::session::Session;
use crate::reassembly::Origin;
use crate::timestamp::Timestamp;
use std::net::SocketAddr;

/// Receives sessions as they finish.
pub trait SessionSink {
    /// A session ended (closed, reset, evicted, idle, or the capture ended).
    fn session(&mut self, s: Session);
    /// A session was detected (`watch` says so as it happens).
    fn started(&mut self, _s: &SessionStart) {}
    /// Whether the sink wants a snapshot of live session `id` now, after
    /// something that can establish a finding arrived (a 4xx/5xx reply, a
    /// data connection answered or refused). `watch` does, to say those
    /// findings before the session ends; a sink that only wants finished
    /// sessions does not, and costs nothing.
    fn wants_snapshot(&mut self, _id: u32) -> bool {
        false
    }
    /// The snapshot asked for ([`crate::ftp::live::LiveSession::snapshot`]),
    /// taken at the packet `at` that may establish a finding.
    fn snapshot(&mut self, _s: Session, _at: Origin) {}
}

/// A session as it is detected.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SessionStart {
    /// The session's id (`s1`…), in order of detection, in every mode.
    pub id: u32,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub frame: u64,
    pub ts: Timestamp,
}

impl SessionSink for Vec<Session> {
    fn session(&mut self, s: Session) {
        self.push(s)
    }
}
