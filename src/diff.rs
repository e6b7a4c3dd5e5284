//! Byte diffs of two versions of one line.
//!
//! The shape of a diff is itself evidence: equal length with substituted
//! bytes is an in-place rewrite by an inspection engine (the Check Point
//! `227`→`22_` case); a different length is a line rebuilt by a NAT ALG.
//! So equal-length lines are compared position by position, and only lines
//! of different length go through a Myers diff (the `similar` crate).

use crate::escape::{Bytes, describe_byte, escape};
use serde::Serialize;
use similar::{Algorithm, DiffOp, capture_diff_slices_deadline};
use std::time::{Duration, Instant};

/// One changed region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Edit {
    /// Offset of the region in the first version (0-based).
    pub offset: usize,
    /// Offset of the region in the second version.
    pub offset_new: usize,
    pub from: Bytes,
    pub to: Bytes,
}

/// How the second version differs from the first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ByteDiff {
    /// Whether both versions have the same length (an in-place substitution).
    pub same_length: bool,
    /// Length of the second version minus the first.
    pub length_delta: i64,
    /// The changed byte ranges, in order.
    pub edits: Vec<Edit>,
}

impl ByteDiff {
    pub fn is_identical(&self) -> bool {
        self.edits.is_empty()
    }

    /// Exactly one byte replaced by another, length unchanged.
    pub fn single_byte_substitution(&self) -> Option<(usize, u8, u8)> {
        match self.edits.as_slice() {
            [e] if self.same_length && e.from.0.len() == 1 => {
                Some((e.offset, e.from.0[0], e.to.0[0]))
            }
            _ => None,
        }
    }

    /// "byte at offset 25 changed from '7' (0x37) to '_' (0x5F)", or a
    /// list of regions.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .edits
            .iter()
            .map(|e| {
                if e.from.0.len() == 1 && e.to.0.len() == 1 {
                    format!(
                        "byte at offset {} changed from {} to {}",
                        e.offset,
                        describe_byte(e.from.0[0]),
                        describe_byte(e.to.0[0])
                    )
                } else if e.from.0.is_empty() {
                    format!("`{}` inserted at offset {}", escape(&e.to.0), e.offset)
                } else if e.to.0.is_empty() {
                    format!("`{}` removed at offset {}", escape(&e.from.0), e.offset)
                } else {
                    format!(
                        "offset {}: `{}` became `{}`",
                        e.offset,
                        escape(&e.from.0),
                        escape(&e.to.0)
                    )
                }
            })
            .collect();
        let mut s = parts.join("; ");
        if self.same_length {
            s.push_str(" (same length)");
        } else {
            s.push_str(&format!(" (length {:+})", self.length_delta));
        }
        s
    }
}

/// Diffs `a` (first version) against `b`.
pub fn diff(a: &[u8], b: &[u8]) -> ByteDiff {
    let length_delta = b.len() as i64 - a.len() as i64;
    if a.len() == b.len() {
        let mut edits = Vec::new();
        let mut i = 0;
        while i < a.len() {
            if a[i] == b[i] {
                i += 1;
                continue;
            }
            let start = i;
            while i < a.len() && a[i] != b[i] {
                i += 1;
            }
            edits.push(Edit {
                offset: start,
                offset_new: start,
                from: a[start..i].into(),
                to: b[start..i].into(),
            });
        }
        return ByteDiff {
            same_length: true,
            length_delta,
            edits,
        };
    }
    // Different lengths: diff tokens (digit runs, letter runs, single
    // other bytes) so numbers change as units, then merge edits separated
    // only by punctuation — `198,51,100,60` → `203,0,113,1` is one change.
    let (ta, tb) = (tokens(a), tokens(b));
    let (ka, kb): (Vec<&[u8]>, Vec<&[u8]>) = (
        ta.iter().map(|&(s, e)| &a[s..e]).collect(),
        tb.iter().map(|&(s, e)| &b[s..e]).collect(),
    );
    let deadline = Instant::now() + Duration::from_millis(50);
    let ops = capture_diff_slices_deadline(Algorithm::Myers, &ka, &kb, Some(deadline));
    // Byte ranges in a and b of each changed run of tokens.
    let span = |t: &[(usize, usize)], i: usize, n: usize, len: usize| -> (usize, usize) {
        if n == 0 {
            let at = t.get(i).map_or(len, |x| x.0);
            (at, at)
        } else {
            (t[i].0, t[i + n - 1].1)
        }
    };
    let mut regions: Vec<((usize, usize), (usize, usize))> = Vec::new();
    for op in ops {
        let (oi, ol, ni, nl) = match op {
            DiffOp::Equal { .. } => continue,
            DiffOp::Delete {
                old_index,
                old_len,
                new_index,
            } => (old_index, old_len, new_index, 0),
            DiffOp::Insert {
                old_index,
                new_index,
                new_len,
            } => (old_index, 0, new_index, new_len),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => (old_index, old_len, new_index, new_len),
        };
        let ra = span(&ta, oi, ol, a.len());
        let rb = span(&tb, ni, nl, b.len());
        match regions.last_mut() {
            Some((pa, pb))
                if a[pa.1..ra.0].iter().all(|c| !c.is_ascii_alphanumeric())
                    && ra.0 - pa.1 <= 2
                    && rb.0 - pb.1 == ra.0 - pa.1 =>
            {
                pa.1 = ra.1;
                pb.1 = rb.1;
            }
            _ => regions.push((ra, rb)),
        }
    }
    let edits = regions
        .into_iter()
        .map(|((a0, a1), (b0, b1))| Edit {
            offset: a0,
            offset_new: b0,
            from: a[a0..a1].into(),
            to: b[b0..b1].into(),
        })
        .collect();
    ByteDiff {
        same_length: false,
        length_delta,
        edits,
    }
}

/// Splits into digit runs, letter runs and single other bytes, as (start,
/// end) ranges.
fn tokens(s: &[u8]) -> Vec<(usize, usize)> {
    let class = |c: u8| {
        if c.is_ascii_digit() {
            1
        } else if c.is_ascii_alphabetic() {
            2
        } else {
            0
        }
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let k = class(s[i]);
        let mut j = i + 1;
        if k != 0 {
            while j < s.len() && class(s[j]) == k {
                j += 1;
            }
        }
        out.push((i, j));
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_place_substitution() {
        let d = diff(b"PORT 198,51,100,60,125,227", b"PORT 198,51,100,60,125,22_");
        assert!(d.same_length);
        assert_eq!(d.single_byte_substitution(), Some((25, b'7', b'_')));
        assert_eq!(
            d.describe(),
            "byte at offset 25 changed from '7' (0x37) to '_' (0x5F) (same length)"
        );
    }

    #[test]
    fn nat_rewrite_changes_length() {
        let d = diff(b"PORT 198,51,100,60,125,227", b"PORT 203,0,113,1,125,227");
        assert!(!d.same_length);
        assert_eq!(d.length_delta, -2);
        assert_eq!(d.edits.len(), 1);
        assert_eq!(d.edits[0].from.0, b"198,51,100,60");
        assert_eq!(d.edits[0].to.0, b"203,0,113,1");
        assert_eq!(
            d.describe(),
            "offset 5: `198,51,100,60` became `203,0,113,1` (length -2)"
        );
        // Applying the edits to `a` must give `b`.
        let a = b"PORT 198,51,100,60,125,227";
        let mut out = Vec::new();
        let mut pos = 0;
        for e in &d.edits {
            out.extend_from_slice(&a[pos..e.offset]);
            out.extend_from_slice(&e.to.0);
            pos = e.offset + e.from.0.len();
        }
        out.extend_from_slice(&a[pos..]);
        assert_eq!(out, b"PORT 203,0,113,1,125,227");
    }

    #[test]
    fn words_change_as_units() {
        let d = diff(
            b"500 command not understood",
            b"500 command not recognized!",
        );
        assert_eq!(d.edits.len(), 1);
        assert_eq!(d.edits[0].from.0, b"understood");
        assert_eq!(d.edits[0].to.0, b"recognized!");
        let d = diff(b"PORT 1,2,3,4,5,6", b"PORT 1,2,3,4,5,6,7");
        assert_eq!(d.edits[0].from.0, b"");
        assert_eq!(d.edits[0].to.0, b",7");
    }

    #[test]
    fn identical() {
        assert!(diff(b"NOOP", b"NOOP").is_identical());
    }
}
