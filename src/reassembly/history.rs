//! What the reassembler remembers of the bytes it delivered: a window of
//! history, so a later copy of the same bytes that differs is caught as an
//! overlap conflict (both copies kept as evidence), and a record per data
//! segment, so retransmissions and whether the peer acknowledged them can
//! be reported.

use super::*;

impl Reassembler {
    pub(super) fn remember(&mut self, off: u64, data: &[u8], origin: Origin) {
        if self.limits.history == 0 {
            return;
        }
        if self.history.is_empty() {
            self.history_start = off;
        }
        self.history.extend(data);
        self.history_frames.push_back((off, origin));
        let mut drop = self.history.len().saturating_sub(self.limits.history);
        // Behind the peer's ACK only ACKED_HISTORY is kept: a long session
        // then holds a few KB, not the whole history limit.
        if let Some(floor) = self.peer_ack.map(|a| a.saturating_sub(ACKED_HISTORY))
            && floor > self.history_start
        {
            drop = drop.max(((floor - self.history_start) as usize).min(self.history.len()));
        }
        if drop > 0 {
            self.history.drain(..drop);
            self.history_start += drop as u64;
        }
        while self.history_frames.len() > 1 && self.history_frames[1].0 <= self.history_start {
            self.history_frames.pop_front();
        }
    }

    pub(super) fn compare_history(&mut self, off: u64, data: &[u8], origin: Origin) {
        let hs = self.history_start;
        let he = hs + self.history.len() as u64;
        let a = off.max(hs);
        let b = (off + data.len() as u64).min(he);
        if a >= b {
            return;
        }
        let kept: Vec<u8> = self
            .history
            .range((a - hs) as usize..(b - hs) as usize)
            .copied()
            .collect();
        let other = &data[(a - off) as usize..(b - off) as usize];
        if kept != other {
            let idx = self.history_frames.partition_point(|&(o, _)| o <= a);
            let kept_origin = self
                .history_frames
                .get(idx.wrapping_sub(1))
                .map_or_else(Origin::default, |f| f.1);
            self.conflict(a, &kept, kept_origin, other, origin);
        }
    }

    pub(super) fn conflict(
        &mut self,
        offset: u64,
        kept: &[u8],
        kept_at: Origin,
        other: &[u8],
        other_at: Origin,
    ) {
        // Narrow the evidence to where the copies actually differ.
        let first = kept
            .iter()
            .zip(other)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        let last = kept
            .iter()
            .zip(other)
            .rposition(|(a, b)| a != b)
            .map_or(kept.len(), |i| i + 1);
        let last = last.min(first + MAX_CONFLICT_BYTES);
        if self.stats.conflicts.len() < self.limits.max_evidence {
            self.stats.conflicts.push(OverlapConflict {
                offset: offset + first as u64,
                kept: Bytes(kept[first..last].to_vec()),
                kept_frame: kept_at.frame,
                kept_ts: kept_at.ts,
                kept_ip: kept_at.ip,
                other: Bytes(other[first..last].to_vec()),
                other_frame: other_at.frame,
                other_ts: other_at.ts,
                other_ip: other_at.ip,
            });
        } else {
            self.stats.evidence_dropped += 1;
        }
    }

    pub(super) fn note_record(&mut self, off: u64, end: u64, frame: u64, ts: Timestamp) {
        if end <= off {
            return;
        }
        let at = self.records.partition_point(|(k, _)| *k <= off);
        if let Some((_, r)) = at.checked_sub(1).map(|i| &mut self.records[i])
            && off < r.end
        {
            if r.retrans.is_empty() {
                self.stats.retransmitted_segments += 1;
            }
            if r.retrans.len() < MAX_RETRANS_FRAMES {
                r.retrans.push(frame);
                r.retrans_ts.push(ts);
            }
            return;
        }
        if off < self.next && end <= self.next {
            // Old data whose record was pruned: still a retransmission.
            self.stats.retransmitted_segments += 1;
            return;
        }
        // No record starts at `off` (it would have matched above).
        self.records.insert(
            at,
            (
                off,
                SegRecord {
                    end,
                    first_frame: frame,
                    retrans: Vec::new(),
                    retrans_ts: Vec::new(),
                    acked: self.peer_ack.is_some_and(|a| a >= end),
                },
            ),
        );
        if self.records.len() > self.limits.max_seg_records {
            self.prune_records();
        }
    }

    /// Drops records that can no longer become evidence; keeps the rest
    /// within the cap, moving retransmitted ones to the stats.
    pub(super) fn prune_records(&mut self) {
        if self.records.iter().any(|(_, r)| r.acked) {
            let acked: Vec<(u64, SegRecord)> =
                self.records.extract_if(.., |(_, r)| r.acked).collect();
            for (k, r) in acked {
                self.keep_record(k, r);
            }
        }
        let excess = self
            .records
            .len()
            .saturating_sub(self.limits.max_seg_records);
        if excess > 0 {
            let oldest: Vec<(u64, SegRecord)> = self.records.drain(..excess).collect();
            for (k, r) in oldest {
                self.keep_record(k, r);
            }
        }
    }

    pub(super) fn keep_record(&mut self, off: u64, r: SegRecord) {
        if r.retrans.is_empty() {
            return;
        }
        if self.stats.retransmissions.len() < self.limits.max_evidence {
            self.stats.retransmissions.push(Retransmitted {
                offset: off,
                len: r.end - off,
                first_frame: r.first_frame,
                retransmission_frames: r.retrans,
                retransmission_ts: r.retrans_ts,
                acked: r.acked,
            });
        } else {
            self.stats.evidence_dropped += 1;
        }
    }

    pub(super) fn finish_records(&mut self) {
        let recs = std::mem::take(&mut self.records);
        for (k, r) in recs {
            self.keep_record(k, r);
        }
        self.stats.retransmissions.sort_by_key(|r| r.offset);
    }
}
