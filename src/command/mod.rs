//! Commands own their policy. The command line and the Python package
//! both turn what their user gave into plain [`Tunables`]; a command's
//! plan is then made here, once: the memory [`Budget`] scaled to the
//! captures it reads at once, how it hashes them, and the record of the
//! options that changed its result, which its report prints. Neither
//! front door re-implements a command, so a report from Python and one
//! from the command line are the same bytes. (ripgrep's two stages:
//! `lowargs` holds the flags as given, `hiargs` what a run does with them.)
//!
//! The schemas of every document are generated here too ([`schema`]):
//! this is where the commands are assembled, above everything they use.

pub mod schema;
pub mod tables;

use crate::analysis::{self, CaptureResult};
use crate::budget::Budget;
use crate::capture::input::HashMode;
use crate::capture::{CaptureError, Source};
use crate::compare::legs::LegPair;
use crate::compare::{self, Comparison, Roles, Settings};
use crate::report::model::{self, CompareReport};
use std::collections::BTreeMap;

/// The default of `--stall-secs`.
pub const DEFAULT_STALL_SECS: f64 = 20.0;
/// The default of `--max-flows`.
pub const DEFAULT_MAX_FLOWS: usize = 100_000;
/// The default of `--max-sessions`.
pub const DEFAULT_MAX_SESSIONS: usize = 100_000;

/// What the user chose for an analysis, as plain values: the command
/// line's flags or the Python package's keywords.
#[derive(Clone, Debug, PartialEq)]
pub struct Tunables {
    /// Control ports besides 21.
    pub ports: Vec<u16>,
    pub banner_detection: bool,
    pub show_passwords: bool,
    pub stall_secs: f64,
    pub max_flows: usize,
    pub max_memory_mb: usize,
    pub max_sessions: usize,
    pub anonymize: Anonymize,
    pub hash: bool,
}

/// `--anonymize-ips`, and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Anonymize {
    Off,
    /// A random key for this run.
    RandomKey,
    /// The same key gives the same mapping across runs and captures.
    Keyed(String),
}

impl Default for Tunables {
    fn default() -> Self {
        Tunables {
            ports: Vec::new(),
            banner_detection: true,
            show_passwords: false,
            stall_secs: DEFAULT_STALL_SECS,
            max_flows: DEFAULT_MAX_FLOWS,
            max_memory_mb: Budget::DEFAULT_MIB,
            max_sessions: DEFAULT_MAX_SESSIONS,
            anonymize: Anonymize::Off,
            hash: true,
        }
    }
}

impl Tunables {
    /// The options that differ from the defaults, as the report's header
    /// records them.
    pub fn changed(&self) -> BTreeMap<&'static str, String> {
        let d = Tunables::default();
        let mut m = BTreeMap::new();
        if !self.ports.is_empty() {
            let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
            m.insert("port", ports.join(","));
        }
        if !self.banner_detection {
            m.insert("banner_detection", "off".into());
        }
        if self.show_passwords {
            m.insert("show_passwords", "on".into());
        }
        if self.stall_secs != d.stall_secs {
            m.insert("stall_secs", self.stall_secs.to_string());
        }
        if self.max_flows != d.max_flows {
            m.insert("max_flows", self.max_flows.to_string());
        }
        if self.max_memory_mb != d.max_memory_mb {
            m.insert("max_memory_mb", self.max_memory_mb.to_string());
        }
        match self.anonymize {
            Anonymize::Off => {}
            Anonymize::RandomKey => {
                m.insert("anonymize_ips", "on (random key)".into());
            }
            Anonymize::Keyed(_) => {
                m.insert("anonymize_ips", "on (keyed)".into());
            }
        }
        if self.max_sessions != d.max_sessions {
            m.insert("max_sessions", self.max_sessions.to_string());
        }
        if !self.hash {
            m.insert("hash", "off".into());
        }
        m
    }

    /// The analysis options of one capture, for a command that reads
    /// `at_once` captures at the same time and hashes each as `hashing`
    /// says (when hashing is on at all).
    fn options(&self, at_once: usize, hashing: HashMode) -> analysis::Options {
        let mut o = analysis::Options::default();
        o.engine.ports = self.ports.clone();
        o.engine.detect_banners = self.banner_detection;
        o.engine.max_flows = self.max_flows.max(16);
        o.engine.budget = Budget::mib(self.max_memory_mb).at_once(at_once);
        o.engine.anonymize_key = match &self.anonymize {
            Anonymize::Off => None,
            Anonymize::RandomKey => Some(crate::anonymize::Anonymizer::random_key()),
            Anonymize::Keyed(k) => Some(k.as_bytes().to_vec()),
        };
        o.rules.stall_secs = self.stall_secs;
        o.show_passwords = self.show_passwords;
        o.max_sessions = self.max_sessions;
        o.hash = if self.hash { hashing } else { HashMode::Off };
        o
    }
}

/// `analyze`: one capture at a time, its hash computed beside the
/// analysis on another core, so the analysis keeps its speed and the
/// report still carries the hash.
pub struct AnalyzePlan {
    pub options: analysis::Options,
    /// The options that changed the result (the report's header).
    pub changed: BTreeMap<&'static str, String>,
    /// How a capture holding both legs of a device is compared.
    legs: Option<ComparePlan>,
}

impl AnalyzePlan {
    pub fn new(t: &Tunables) -> Self {
        AnalyzePlan {
            options: t.options(1, HashMode::Concurrent),
            changed: t.changed(),
            legs: ComparePlan::new(t, Roles::Infer, None).ok(),
        }
    }

    /// A capture holding both legs of a device that carry the same FTP
    /// sessions is compared leg against leg, as `compare` compares two
    /// captures, since that is what the file can prove: the comparison
    /// and the plan for its report. None for any other capture (it is
    /// analysed as one: legs that share connections but no FTP session
    /// pair nothing), for one that cannot be read twice (a stream), and
    /// for one that cannot be read (the analysis says why).
    pub fn legs(&self, source: &Source) -> Option<(&ComparePlan, Comparison)> {
        let plan = self.legs.as_ref()?;
        let (_, cmp) = compare::legs_compared(source, plan.settings, &plan.options)?;
        Some((plan, cmp))
    }

    /// A capture whose two legs each carry one direction
    /// (`compare::legs::Carry::OneWay`) is read as one view stitched from
    /// both, and each leg held against the far end's ACKs on the other
    /// (`compare::far_acks`): this plan's options are set so. Not for
    /// `--anonymize-ips` (the ACKs' findings name addresses before they
    /// are mapped), nor a capture that cannot be read twice; true when
    /// set.
    pub fn stitch_legs(&mut self, source: &Source) -> bool {
        let Some(Ok(Some(pair))) = source
            .again()
            .map(|s| compare::legs::find(s, HashMode::Off))
        else {
            return false;
        };
        match compare::far_acks::stitched(source, &pair, &self.options) {
            Some(o) => {
                self.options = o;
                true
            }
            None => false,
        }
    }

    /// Analyses one capture and keeps its sessions (within the budget).
    pub fn run(&self, source: Source) -> Result<CaptureResult, CaptureError> {
        analysis::analyze_source(source, &self.options)
    }

    /// The JSON report of captures this plan analysed.
    pub fn report<'a>(&self, results: &'a [CaptureResult]) -> model::Report<'a> {
        model::analyze_report(results, self.changed.clone())
    }
}

/// `compare`: two captures read at once, one per thread, so each gets the
/// per-capture budget; each reading thread hashes its own file as it reads
/// it: two helper threads would only compete for the same cores (the
/// figures are in the README's "Against the limit").
pub struct ComparePlan {
    pub options: analysis::Options,
    pub settings: Settings,
    pub changed: BTreeMap<&'static str, String>,
}

impl ComparePlan {
    /// `clock_offset_secs`: the second capture's clock minus the first's,
    /// where the user knows it.
    pub fn new(t: &Tunables, roles: Roles, clock_offset_secs: Option<f64>) -> Result<Self, String> {
        let clock_offset_ns = match clock_offset_secs {
            Some(secs) if !secs.is_finite() || secs.abs() > 1e9 => {
                return Err(
                    "--clock-offset is a number of seconds (at most 10⁹ either way)".into(),
                );
            }
            secs => secs.map(|s| (s * 1e9).round() as i64),
        };
        let mut changed = t.changed();
        if let Some(secs) = clock_offset_secs {
            changed.insert("clock_offset", secs.to_string());
        }
        Ok(ComparePlan {
            options: t.options(2, HashMode::Inline),
            settings: Settings {
                roles,
                clock_offset_ns,
                written_by_device: false,
            },
            changed,
        })
    }

    pub fn run(&self, a: Source, b: Source) -> Result<Comparison, CaptureError> {
        compare::compare(a, b, self.settings, &self.options)
    }

    /// Compares the two legs of one file as two captures.
    pub fn run_legs(&self, source: &Source, pair: &LegPair) -> Result<Comparison, CaptureError> {
        compare::compare_legs(source, pair, self.settings, &self.options)
    }

    pub fn report<'a>(&self, c: &'a Comparison) -> CompareReport<'a> {
        model::compare_report(c, self.changed.clone())
    }
}

/// `batch`: `jobs` captures at once, each with the per-capture budget,
/// each worker hashing its own file as it reads it (the parallelism is
/// across files; a helper thread per file would only compete).
pub struct BatchPlan {
    pub options: crate::batch::Options,
    pub changed: BTreeMap<&'static str, String>,
}

impl BatchPlan {
    /// `jobs`: worker threads; None for one per core. A capture holding
    /// both legs of a device is counted as `analyze` reports it: its legs
    /// compared, each session and each event once
    /// ([`compare::legs_compared`]); each worker then reads two views at
    /// once, so each view has the budget of one of `2 × jobs` captures.
    pub fn new(t: &Tunables, jobs: Option<usize>) -> Self {
        let jobs = jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);
        BatchPlan {
            options: crate::batch::Options {
                analysis: t.options(jobs, HashMode::Inline),
                jobs,
                legs: Some(crate::batch::Legs {
                    settings: Roles::Infer.into(),
                    analysis: t.options(2 * jobs, HashMode::Inline),
                }),
            },
            changed: t.changed(),
        }
    }

    /// `--one-view`: every capture read as one, a file holding two legs
    /// too (as `analyze --one-view` reads it); the header records it,
    /// since the counts differ.
    pub fn one_view(mut self) -> Self {
        self.options.legs = None;
        self.changed.insert("one_view", "on".into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_change_nothing_and_each_change_is_recorded() {
        let t = Tunables::default();
        assert!(t.changed().is_empty());
        let t = Tunables {
            show_passwords: true,
            ports: vec![2121, 8021],
            anonymize: Anonymize::Keyed("k".into()),
            hash: false,
            ..Tunables::default()
        };
        let c = t.changed();
        assert_eq!(c["show_passwords"], "on");
        assert_eq!(c["port"], "2121,8021");
        assert_eq!(c["anonymize_ips"], "on (keyed)");
        assert_eq!(c["hash"], "off");
    }

    /// One walk of `--max-memory-mb`: the same budget per capture for
    /// every command, scaled by the captures each reads at once.
    #[test]
    fn the_budget_scales_with_the_captures_read_at_once() {
        let t = Tunables {
            max_memory_mb: 64,
            ..Tunables::default()
        };
        let a = AnalyzePlan::new(&t).options.engine.budget;
        let c = ComparePlan::new(&t, Roles::Infer, None)
            .unwrap()
            .options
            .engine
            .budget;
        let b = BatchPlan::new(&t, Some(3)).options.analysis.engine.budget;
        assert_eq!(a.per_capture(), 64 << 20);
        assert_eq!(c.per_capture(), 64 << 20);
        assert_eq!(b.per_capture(), 64 << 20);
        assert_eq!(a.process_heap(), 64 << 20);
        assert_eq!(c.process_heap(), 128 << 20);
        assert_eq!(b.process_heap(), 192 << 20);
    }

    #[test]
    fn hashing_follows_the_command() {
        let t = Tunables::default();
        assert_eq!(AnalyzePlan::new(&t).options.hash, HashMode::Concurrent);
        let c = ComparePlan::new(&t, Roles::Infer, Some(1.5)).unwrap();
        assert_eq!(c.options.hash, HashMode::Inline);
        assert_eq!(c.settings.clock_offset_ns, Some(1_500_000_000));
        assert_eq!(c.changed["clock_offset"], "1.5");
        let off = Tunables {
            hash: false,
            ..Tunables::default()
        };
        assert_eq!(
            BatchPlan::new(&off, Some(2)).options.analysis.hash,
            HashMode::Off
        );
        assert!(ComparePlan::new(&t, Roles::Infer, Some(f64::NAN)).is_err());
    }
}
