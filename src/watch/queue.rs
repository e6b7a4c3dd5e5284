//! What crosses from the thread that reads the input to the engine's:
//! frames copied out of the reader's buffer, and what happened to files.

use crate::capture::{CaptureError, CaptureInfo, Frame};
use crate::timestamp::Timestamp;

/// A frame copied out of the reader, to cross to the engine's thread.
pub(super) struct OwnedFrame {
    pub(super) number: u64,
    pub(super) ts: Timestamp,
    pub(super) linktype: u32,
    pub(super) data: Vec<u8>,
    pub(super) orig_len: u32,
    pub(super) interface: u32,
}

pub(super) enum Msg {
    Frame(OwnedFrame),
    /// A file of a followed directory: reading begins; its frame 1 is
    /// stream frame `first_frame`.
    FileOpened {
        path: String,
        first_frame: u64,
    },
    /// A file of a followed directory was read (to its end or an error).
    FileDone {
        path: String,
        error: Option<CaptureError>,
        sha256: Option<String>,
    },
    /// A file listed earlier was gone (rotated away) before it was read.
    FileMissed {
        path: String,
    },
    /// The input ended; a file's info (its hash) when it was a file.
    End(Option<CaptureError>, Option<Box<CaptureInfo>>),
}

impl OwnedFrame {
    pub(super) fn of(f: &Frame<'_>) -> OwnedFrame {
        OwnedFrame {
            number: f.number,
            ts: f.ts,
            linktype: f.linktype,
            data: f.data.to_vec(),
            orig_len: f.orig_len,
            interface: f.interface,
        }
    }
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
        }
    }
}
