//! Live capture through libpcap (`watch -i`, the `live` feature).

use super::Drops;
use super::queue::{Msg, Tx};
use crate::capture::{CaptureError, CaptureErrorKind, Frame};
use crate::timestamp::Timestamp;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// An open interface.
pub struct Live {
    pub name: String,
    cap: pcap::Capture<pcap::Active>,
    /// Updated by the reading thread about once a second.
    pub drops: Arc<Mutex<Option<Drops>>>,
}

impl Live {
    /// Opens `iface` with a BPF `filter` (default: TCP only, so data
    /// connections are seen too). Says when the privilege is missing.
    pub fn open(iface: &str, filter: &str) -> Result<Live, String> {
        let cap = pcap::Capture::from_device(iface)
            // Non-blocking: in immediate mode libpcap may wait for a packet
            // forever, and the thread must see Ctrl-C and refresh the drop
            // counters while the link is quiet.
            .and_then(|c| c.snaplen(65535).immediate_mode(true).open())
            .and_then(|c| c.setnonblock())
            .map_err(|e| {
                let s = e.to_string();
                if s.contains("ermission") || s.contains("not permitted") {
                    format!(
                        "cannot capture on {iface}: {s} (live capture needs root or CAP_NET_RAW: sudo setcap cap_net_raw+ep $(command -v portmortem))"
                    )
                } else {
                    format!("cannot capture on {iface}: {s}")
                }
            })?;
        let mut cap = cap;
        cap.filter(filter, true)
            .map_err(|e| format!("bad filter `{filter}`: {e}"))?;
        Ok(Live {
            name: format!("interface {iface}"),
            cap,
            drops: Arc::new(Mutex::new(None)),
        })
    }

    pub(super) fn pump(mut self, tx: &Tx, stop: &AtomicBool) {
        let linktype = self.cap.get_datalink().0 as u32;
        let mut n = 0u64;
        let mut last_stats = std::time::Instant::now();
        let error = loop {
            if stop.load(Ordering::Relaxed) {
                break None;
            }
            if last_stats.elapsed().as_secs() >= 1 {
                last_stats = std::time::Instant::now();
                if let Ok(st) = self.cap.stats() {
                    *self.drops.lock().unwrap_or_else(|e| e.into_inner()) = Some(Drops {
                        received: st.received,
                        dropped_by_kernel: st.dropped,
                        dropped_by_interface: st.if_dropped,
                    });
                }
            }
            match self.cap.next_packet() {
                Ok(p) => {
                    n += 1;
                    let h = p.header;
                    // time_t and suseconds_t are narrower on some targets.
                    #[allow(clippy::unnecessary_cast)]
                    let (secs, micros) = (h.ts.tv_sec as i64, h.ts.tv_usec as i64);
                    let frame = Frame {
                        number: n,
                        ts: Timestamp::from_parts(secs, micros.saturating_mul(1000)),
                        linktype,
                        data: p.data,
                        orig_len: h.len,
                        interface: 0,
                        outside_view: false,
                        point: None,
                    };
                    if tx.frame(&frame, n).is_err() {
                        break None;
                    }
                }
                Err(pcap::Error::TimeoutExpired) => {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(e) => {
                    break Some(CaptureError {
                        path: self.name.clone(),
                        kind: CaptureErrorKind::Io(e.to_string()),
                        frames_read: n,
                        offset: 0,
                        compressed: false,
                    });
                }
            }
        };
        let _ = tx.send(Msg::End(error, None));
    }
}
