//! The shapes a control line is sent in: plain, split inside the
//! numbers, after another command in one segment, with a bare LF.

/// A control line's shape.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Plain,
    /// Two segments, the cut inside the numbers.
    Split,
    /// After `NOOP` in the same segment.
    Pipelined,
    Lowercase,
    BareLf,
}

impl Shape {
    pub(super) fn name(self) -> &'static str {
        match self {
            Shape::Plain => "one segment",
            Shape::Split => "split across two TCP segments",
            Shape::Pipelined => "after another command in one segment",
            Shape::Lowercase => "lower-case verb",
            Shape::BareLf => "bare LF terminator",
        }
    }

    /// The test line itself as sent (no prefix, no terminator): what the
    /// far end's report is compared with.
    pub(super) fn line(self, line: &[u8]) -> Vec<u8> {
        let mut l = line.to_vec();
        if self == Shape::Lowercase {
            let end = l.iter().position(|&b| b == b' ').unwrap_or(l.len());
            l[..end].make_ascii_lowercase();
        }
        l
    }

    /// The bytes sent for `line` (without terminator).
    pub(super) fn apply(self, line: &[u8]) -> Vec<u8> {
        let mut v = match self {
            Shape::Pipelined => b"NOOP\r\n".to_vec(),
            _ => Vec::new(),
        };
        v.extend_from_slice(&self.line(line));
        v.extend_from_slice(if self == Shape::BareLf {
            b"\n"
        } else {
            b"\r\n"
        });
        v
    }

    pub(super) fn parts(self, sent: &[u8]) -> Vec<&[u8]> {
        match self {
            Shape::Split => {
                let cut = (sent.len() / 2).max(1);
                vec![&sent[..cut], &sent[cut..]]
            }
            _ => vec![sent],
        }
    }

    pub(super) fn replies(self) -> usize {
        if self == Shape::Pipelined { 2 } else { 1 }
    }
}
