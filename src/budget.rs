//! The memory budget of one run (`--max-memory-mb`) and every share of
//! it, named in one place (as Zeek's FTP script names its tunables in one
//! export block), so the engine, the analysis and the flag's help cannot
//! disagree about them.
//!
//! A capture's analysis holds three things that grow with the capture:
//! live flows (reassembly buffers, lines being read, open dialogues), the
//! sessions kept whole for the report, and the `tcp.stream` numbering
//! table. Each has its share of the budget; past it, live flows are
//! evicted, sessions are no longer kept in full and stream numbers stop,
//! and each is counted in the report. A command that analyses several
//! captures at once (compare: two; batch: `--jobs`) gives each the whole
//! per-capture budget, so the process's heap bound scales with them.

/// How much heap one run may use, and how it is shared out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Bytes one capture's analysis may hold.
    per_capture: usize,
    /// Captures analysed at once.
    at_once: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget::mib(Budget::DEFAULT_MIB)
    }
}

impl Budget {
    /// The default of `--max-memory-mb`.
    pub const DEFAULT_MIB: usize = 256;

    /// A budget of `mib` MiB per capture (at least 1), one capture at once.
    pub fn mib(mib: usize) -> Self {
        Budget {
            per_capture: mib.clamp(1, usize::MAX >> 21) << 20,
            at_once: 1,
        }
    }

    /// The same per-capture budget for `n` captures analysed at once.
    pub fn at_once(self, n: usize) -> Self {
        Budget {
            at_once: n.max(1),
            ..self
        }
    }

    /// Bytes one capture's analysis may hold.
    pub fn per_capture(self) -> usize {
        self.per_capture
    }

    /// Live flows together: past it the least recently active are evicted.
    pub fn live_flows(self) -> usize {
        self.per_capture
    }

    /// What an eviction brings live flows down to, so one eviction makes
    /// room for a while.
    pub fn evict_to(self) -> usize {
        self.share(EVICT_TO)
    }

    /// Sessions kept whole for the report, by their estimated size (their
    /// real heap runs about a quarter over the estimate). The estimate
    /// depends on the capture alone, so the same capture keeps the same
    /// sessions on every run.
    pub fn kept_sessions(self) -> usize {
        self.share(KEPT_SESSIONS)
    }

    /// Kept sessions stop at this much real heap of the analysing thread,
    /// should the estimate be further off.
    pub fn kept_sessions_heap(self) -> usize {
        self.share(KEPT_SESSIONS_HEAP)
    }

    /// The `tcp.stream` numbering table.
    pub fn stream_table(self) -> usize {
        self.share(STREAM_TABLE)
    }

    /// The heap the whole process may hold: the per-capture budget times
    /// the captures analysed at once.
    pub fn process_heap(self) -> usize {
        self.per_capture.saturating_mul(self.at_once)
    }

    /// Where the heap is measured (the command line's counting allocator),
    /// live flows give up a quarter of what they hold once the process is
    /// past this share of [`Self::process_heap`].
    pub fn process_heap_trigger(self) -> usize {
        self.process_heap() / HEAP_TRIGGER.1 * HEAP_TRIGGER.0
    }

    fn share(self, (n, d): Share) -> usize {
        self.per_capture / d * n
    }

    /// The help of `--max-memory-mb`, written from the shares themselves.
    pub fn help() -> String {
        format!(
            "Most heap memory, in MiB, one capture's analysis may hold: live flows \
             (reassembly buffers, lines being read, open dialogues; past it the least \
             recently active are evicted, down to {}), the sessions kept for the report \
             ({} by their estimated size, at most {} by real heap, so the same capture \
             keeps the same ones), and the tcp.stream table ({}), measured as the \
             process's real heap. Evicted flows and sessions not kept in full are counted \
             and reported. Peak RSS stays under about 1.25 × this plus 30 MiB, per \
             capture analysed at once (compare: two; batch: --jobs).",
            words(EVICT_TO),
            words(KEPT_SESSIONS),
            words(KEPT_SESSIONS_HEAP),
            words(STREAM_TABLE)
        )
    }
}

/// A share of the per-capture budget: numerator, denominator.
type Share = (usize, usize);

const EVICT_TO: Share = (3, 4);
const KEPT_SESSIONS: Share = (3, 8);
const KEPT_SESSIONS_HEAP: Share = (1, 2);
const STREAM_TABLE: Share = (1, 4);
const HEAP_TRIGGER: Share = (7, 8);

/// A share in words, for the help.
fn words((n, d): Share) -> String {
    let part = match d {
        2 => "half",
        4 => "quarter",
        8 => "eighth",
        _ => return format!("{n}/{d}"),
    };
    match n {
        1 if d == 2 => part.into(),
        1 => format!("a {part}"),
        2..=7 => format!(
            "{} {part}s",
            ["two", "three", "four", "five", "six", "seven"][n - 2]
        ),
        _ => format!("{n}/{d}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_scaling() {
        let b = Budget::mib(256);
        assert_eq!(b.per_capture(), 256 << 20);
        assert_eq!(b.evict_to(), 192 << 20);
        assert_eq!(b.kept_sessions(), 96 << 20);
        assert_eq!(b.kept_sessions_heap(), 128 << 20);
        assert_eq!(b.stream_table(), 64 << 20);
        assert_eq!(b.process_heap(), 256 << 20);
        assert_eq!(b.at_once(2).process_heap(), 512 << 20);
        assert_eq!(b.at_once(2).per_capture(), 256 << 20);
        assert_eq!(Budget::mib(0), Budget::mib(1));
        assert_eq!(Budget::default(), b);
    }

    #[test]
    fn shares_in_words() {
        assert_eq!(words((3, 4)), "three quarters");
        assert_eq!(words((3, 8)), "three eighths");
        assert_eq!(words((1, 2)), "half");
        assert_eq!(words((1, 4)), "a quarter");
        assert_eq!(words((5, 16)), "5/16");
        assert!(Budget::help().contains("down to three quarters"));
    }
}
