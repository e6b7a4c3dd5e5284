//! What crosses from the thread that reads the input to the engine's:
//! frames and what happened to files, in order, handed over in batches.
//!
//! A channel message per frame cost more than the analysis itself (an
//! allocation and a copy per frame, a wake-up per message). Here the
//! reader appends each frame's bytes to one buffer and its facts to a
//! list, under a lock taken once per frame and never waited on for long;
//! the engine's thread takes everything there is in one swap. When the
//! engine keeps up, it is woken by the first frame of a batch, so a frame
//! is analysed as soon as it is read (no timer, nothing held back on a
//! quiet input); when it is busy, frames gather and are taken together.
//! A batch past [`MAX_BYTES`] or [`MAX_ITEMS`] makes the reader wait, so
//! memory stays bounded whatever the input's rate.

use crate::capture::{CaptureError, CaptureInfo, Frame};
use crate::timestamp::Timestamp;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Bytes of frames a batch may hold before the reader waits.
const MAX_BYTES: usize = 4 << 20;
/// Frames and messages a batch may hold before the reader waits.
const MAX_ITEMS: usize = 16_384;

/// A frame copied out of the reader (the evidence recorder keeps these).
pub(super) struct OwnedFrame {
    pub(super) number: u64,
    pub(super) ts: Timestamp,
    pub(super) linktype: u32,
    pub(super) data: Vec<u8>,
    pub(super) orig_len: u32,
    pub(super) interface: u32,
    pub(super) point: Option<crate::capture::fw1::Point>,
}

impl OwnedFrame {
    pub(super) fn as_frame(&self) -> Frame<'_> {
        Frame {
            number: self.number,
            ts: self.ts,
            linktype: self.linktype,
            data: &self.data,
            orig_len: self.orig_len,
            interface: self.interface,
            outside_view: false,
            point: self.point,
        }
    }

    pub(super) fn of(f: &Frame<'_>) -> OwnedFrame {
        OwnedFrame {
            number: f.number,
            ts: f.ts,
            linktype: f.linktype,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
            interface: f.interface,
            point: f.point,
        }
    }
}

pub(super) enum Msg {
    /// A file of a followed directory: reading begins; its frame 1 is
    /// stream frame `first_frame`.
    FileOpened { path: String, first_frame: u64 },
    /// A file of a followed directory was read (to its end or an error).
    FileDone {
        path: String,
        error: Option<CaptureError>,
        sha256: Option<String>,
    },
    /// A file listed earlier was gone (rotated away) before it was read.
    FileMissed { path: String },
    /// The input ended; a file's info (its hash) when it was a file.
    End(Option<CaptureError>, Option<Box<CaptureInfo>>),
}

/// A frame in a batch: its facts and where its bytes are.
pub(super) struct FrameAt {
    number: u64,
    ts: Timestamp,
    linktype: u32,
    orig_len: u32,
    interface: u32,
    point: Option<crate::capture::fw1::Point>,
    start: usize,
    len: usize,
}

pub(super) enum Item {
    Frame(FrameAt),
    Msg(Msg),
}

/// What crossed since the last take, in order.
#[derive(Default)]
pub(super) struct Batch {
    pub(super) items: Vec<Item>,
    pub(super) data: Vec<u8>,
}

impl Batch {
    /// The frame `f` of this batch.
    pub(super) fn frame<'a>(data: &'a [u8], f: &FrameAt) -> Frame<'a> {
        Frame {
            number: f.number,
            ts: f.ts,
            linktype: f.linktype,
            data: &data[f.start..f.start + f.len],
            orig_len: f.orig_len,
            interface: f.interface,
            outside_view: false,
            point: f.point,
        }
    }
}

struct State {
    batch: Batch,
    reader_gone: bool,
    engine_gone: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Something to take (or the reader is gone).
    ready: Condvar,
    /// Room in the batch (or the engine is gone).
    room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The engine's thread is gone: nothing more is wanted.
pub(super) struct Gone;

/// The reader's end.
pub(super) struct Tx(Arc<Shared>);

/// The engine's end.
pub(super) struct Rx(Arc<Shared>);

pub(super) fn channel() -> (Tx, Rx) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            batch: Batch::default(),
            reader_gone: false,
            engine_gone: false,
        }),
        ready: Condvar::new(),
        room: Condvar::new(),
    });
    (Tx(shared.clone()), Rx(shared))
}

impl Tx {
    /// Hands a frame over, its number given (a followed directory numbers
    /// frames across files).
    pub(super) fn frame(&self, f: &Frame<'_>, number: u64) -> Result<(), Gone> {
        self.push(f.data.len(), |b| {
            let start = b.data.len();
            b.data.extend_from_slice(f.data);
            b.items.push(Item::Frame(FrameAt {
                number,
                ts: f.ts,
                linktype: f.linktype,
                orig_len: f.orig_len,
                interface: f.interface,
                point: f.point,
                start,
                len: f.data.len(),
            }));
        })
    }

    pub(super) fn send(&self, m: Msg) -> Result<(), Gone> {
        self.push(0, |b| b.items.push(Item::Msg(m)))
    }

    fn push(&self, bytes: usize, add: impl FnOnce(&mut Batch)) -> Result<(), Gone> {
        let mut st = self.0.lock();
        loop {
            if st.engine_gone {
                return Err(Gone);
            }
            let b = &st.batch;
            let full = !b.items.is_empty()
                && (b.items.len() >= MAX_ITEMS || b.data.len() + bytes > MAX_BYTES);
            if !full {
                break;
            }
            st = self.0.room.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
        let first = st.batch.items.is_empty();
        add(&mut st.batch);
        drop(st);
        if first {
            self.0.ready.notify_one();
        }
        Ok(())
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        self.0.lock().reader_gone = true;
        self.0.ready.notify_one();
    }
}

/// What a take found.
pub(super) enum Taken {
    /// A batch (never empty).
    Some,
    /// Nothing within the timeout.
    Timeout,
    /// Nothing, and the reader is gone.
    Closed,
}

impl Rx {
    /// Swaps whatever crossed into `into` (emptied first, its buffers
    /// given back to the reader), waiting up to `timeout` for something.
    pub(super) fn take(&self, into: &mut Batch, timeout: Duration) -> Taken {
        into.items.clear();
        into.data.clear();
        let mut st = self.0.lock();
        if st.batch.items.is_empty() && !st.reader_gone {
            st = self
                .0
                .ready
                .wait_timeout_while(st, timeout, |s| s.batch.items.is_empty() && !s.reader_gone)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if st.batch.items.is_empty() {
            return if st.reader_gone {
                Taken::Closed
            } else {
                Taken::Timeout
            };
        }
        std::mem::swap(&mut st.batch, into);
        drop(st);
        self.0.room.notify_one();
        Taken::Some
    }
}

impl Drop for Rx {
    fn drop(&mut self) {
        self.0.lock().engine_gone = true;
        self.0.room.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(data: &[u8], n: u64) -> Frame<'_> {
        Frame {
            number: n,
            ts: Timestamp::from_parts(n as i64, 0),
            linktype: 1,
            data,
            orig_len: data.len() as u32,
            interface: 0,
            outside_view: false,
            point: None,
        }
    }

    #[test]
    fn frames_and_messages_cross_in_order_and_the_end_is_seen() {
        let (tx, rx) = channel();
        let reader = std::thread::spawn(move || {
            for n in 1..=50_000u64 {
                let bytes = n.to_le_bytes();
                tx.frame(&frame(&bytes, n), n).ok().unwrap();
                if n % 10_000 == 0 {
                    tx.send(Msg::FileMissed {
                        path: n.to_string(),
                    })
                    .ok()
                    .unwrap();
                }
            }
        });
        let (mut next, mut msgs, mut batch) = (1u64, 0, Batch::default());
        loop {
            match rx.take(&mut batch, Duration::from_millis(100)) {
                Taken::Closed => break,
                Taken::Timeout => continue,
                Taken::Some => {}
            }
            for item in &batch.items {
                match item {
                    Item::Frame(f) => {
                        let f = Batch::frame(&batch.data, f);
                        assert_eq!(f.number, next);
                        assert_eq!(f.data, next.to_le_bytes());
                        next += 1;
                    }
                    Item::Msg(Msg::FileMissed { path }) => {
                        assert_eq!(path, &(next - 1).to_string());
                        msgs += 1;
                    }
                    Item::Msg(_) => unreachable!(),
                }
            }
        }
        reader.join().unwrap();
        assert_eq!((next, msgs), (50_001, 5));
    }

    #[test]
    fn a_reader_stops_once_the_engine_is_gone() {
        let (tx, rx) = channel();
        drop(rx);
        assert!(tx.frame(&frame(b"x", 1), 1).is_err());
    }
}
