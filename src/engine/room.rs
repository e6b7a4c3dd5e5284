//! Keeping the engine within its limits: the flow table under its cap,
//! live flows within the memory budget (least recently active evicted
//! first, each counted), and, for `watch`, sessions silent too long ended.

use super::*;

impl Engine {
    /// Keeps the flow table under its cap by evicting the least recently
    /// active flows (a tenth of the table at a time).
    pub(super) fn make_room(&mut self, out: &mut dyn SessionSink) {
        if self.flows.count() < self.opts.max_flows {
            return;
        }
        self.sweep(self.now);
        if self.flows.count() < self.opts.max_flows {
            return;
        }
        let n = (self.opts.max_flows / 10).max(1);
        for k in self.flows.least_recent(n, &|slot| self.session_last(slot)) {
            if self.evict(k, out) {
                self.counters.flows_evicted += 1;
            }
        }
    }

    /// When the session in `slot` was last active.
    pub(super) fn session_last(&self, slot: usize) -> Option<Timestamp> {
        self.slots[slot].as_ref().map(|s| s.session.last_ts())
    }

    /// Evicts the least recently active sessions and banner candidates
    /// until live flows hold at most `target` bytes (a quarter below the
    /// trigger, so the scan runs seldom).
    pub(super) fn shed(&mut self, target: usize, out: &mut dyn SessionSink) {
        for k in self.flows.by_age(&|slot| self.session_last(slot)) {
            if self.mem <= target {
                break;
            }
            if self.evict(k, out) {
                self.counters.flows_evicted_for_memory += 1;
            }
        }
    }

    /// Ends a flow early; false when there was no live flow to end.
    pub(super) fn evict(&mut self, k: FlowKey, out: &mut dyn SessionSink) -> bool {
        match self.flows.remove(&k) {
            Some(Flow::Control(slot)) => {
                self.finish_slot(slot, EndReason::Evicted, out);
            }
            Some(Flow::Data { slot, conn }) => {
                if let Some(s) = self.slots[slot].as_mut() {
                    s.data_flows.retain(|x| *x != k);
                    s.session.add_data_conn(*conn);
                }
            }
            Some(Flow::Candidate(c)) => {
                self.mem -= c.mem();
                self.counters.banner_candidates_rejected += 1;
                self.counters.other_tcp_segments += c.segs.len() as u64;
            }
            Some(Flow::Tombstone(_)) | None => return false,
        }
        true
    }

    /// The engine's clock: ages the flow table at `now`, at most once per
    /// second of it. Frames drive it by capture time; `watch` also drives
    /// it by the wall clock while its input is silent. Expired tombstones
    /// and stale banner candidates go, and with
    /// [`Options::idle_expiry_ns`], sessions silent that long end.
    pub fn tick(&mut self, now: Timestamp, out: &mut dyn SessionSink) {
        if now < self.next_tick {
            return;
        }
        self.next_tick = now + TICK_NS;
        let secs = |t: Timestamp| (t.0 / 1_000_000_000).clamp(0, i64::from(u32::MAX)) as u32;
        self.streams.set_clock(secs(now));
        self.sweep(now);
        if let Some(idle) = self.opts.idle_expiry_ns {
            self.expire_idle(now, idle, out);
            // Conversations silent past the idle time and the tombstones'
            // linger are over; the tcp.stream table forgets them (once a
            // minute: it is a walk over the whole table).
            if now >= self.next_forget {
                self.next_forget = now + 60 * TICK_NS;
                self.streams
                    .forget_unseen_since(secs(now - idle - flows::LINGER_NS));
            }
        }
    }

    /// Drops expired tombstones and stale candidates.
    pub(super) fn sweep(&mut self, now: Timestamp) {
        let swept = self.flows.sweep(now);
        self.mem -= swept.bytes;
        self.counters.banner_candidates_rejected += swept.candidates;
        self.counters.other_tcp_segments += swept.segments;
    }

    /// Wireshark's `tcp.stream` of the frame just handled (None when it
    /// was not TCP, or the numbering stopped at its cap).
    pub fn last_stream(&self) -> Option<u32> {
        self.stream
    }

    /// Ends the sessions silent since `now - idle_ns` (their control
    /// connection and every data connection).
    pub(super) fn expire_idle(&mut self, now: Timestamp, idle_ns: i64, out: &mut dyn SessionSink) {
        let idle = self.flows.silent_since(now - idle_ns, &|slot| {
            let s = self.slots[slot].as_ref()?;
            Some((s.session.last_ts(), s.data_flows.as_slice()))
        });
        for k in &idle {
            if let Some(Flow::Control(slot)) = self.flows.remove(k) {
                let Some(s) = self.slots[slot].as_mut() else {
                    continue;
                };
                s.session.silent_until = Some(now);
                let isn = s.session.conn.client_isn();
                self.finish_slot(slot, EndReason::Idle, out);
                // Late packets of the connection (its FIN or RST) are
                // absorbed, not taken for a new session.
                self.flows
                    .insert(*k, Flow::Tombstone(Tombstone::new(now, true, isn)));
            }
        }
    }
}
