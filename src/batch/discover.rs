//! Finding the captures of an archive: directories walked recursively,
//! globs expanded, a list of paths read from standard input.
//!
//! Everything found is kept in one deterministic order (by path) whatever
//! the order of the arguments or of the directory entries, so that every
//! file has a stable index and `--shard K/N` cuts the same list the same way
//! on every machine. Whether a file is a capture is decided later, by its
//! magic bytes (see `capture::input::sniff_file`), never by its name.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// One file to look at, or a problem found while looking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Position among all entries found (stable across shards).
    pub index: usize,
    pub path: PathBuf,
    /// Bytes this entry will read, for progress and scheduling: the size
    /// on disk of a file, 0 for a duplicate (never read) or when unknown.
    pub size: u64,
    /// Named on the command line or in the list (not found by a walk or a
    /// glob): a file that is not a capture is then an error, not skipped.
    pub explicit: bool,
    pub kind: EntryKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A file to open.
    File,
    /// A path that could not be walked or read (an error entry).
    Problem(String),
    /// The same file as an earlier entry (through a link).
    Duplicate(PathBuf),
    /// Not a regular file (a FIFO, socket or device, perhaps behind a
    /// link): listed as skipped, never opened (a FIFO would block, a
    /// device might never end).
    Special(&'static str),
}

/// What a path turned out to be while looking.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Found {
    File,
    Special(&'static str),
    Problem(String),
}

/// The kind of a file that is neither a regular file nor a directory.
fn special_kind(t: std::fs::FileType) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if t.is_file() || t.is_dir() {
        None
    } else if t.is_fifo() {
        Some("a FIFO")
    } else if t.is_socket() {
        Some("a socket")
    } else if t.is_char_device() {
        Some("a character device")
    } else if t.is_block_device() {
        Some("a block device")
    } else {
        Some("not a regular file")
    }
}

/// Selects one of N shards: the files whose path hashes to K-1 mod N.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub k: u64,
    pub n: u64,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not K/N with 1 ≤ K ≤ N (e.g. 3/8)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (u64, u64) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// `--shard`: K/N, or `auto` (from the job runner's environment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShardArg {
    Fixed(Shard),
    Auto,
}

impl FromStr for ShardArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "auto" {
            Ok(ShardArg::Auto)
        } else {
            s.parse().map(ShardArg::Fixed)
        }
    }
}

impl ShardArg {
    /// The shard; for `auto`, from `env` (the process environment).
    pub fn resolve(self, env: &dyn Fn(&str) -> Option<String>) -> Result<Shard, String> {
        match self {
            ShardArg::Fixed(s) => Ok(s),
            ShardArg::Auto => Shard::from_env(env),
        }
    }
}

impl Shard {
    /// The shard a job runner gives this process:
    /// * a Slurm job array (`SLURM_ARRAY_TASK_ID`, `SLURM_ARRAY_TASK_COUNT`,
    ///   and `SLURM_ARRAY_TASK_MIN`, the first index, which `--array=1-8`
    ///   makes 1);
    /// * a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`, from 0, which
    ///   Kubernetes sets; `JOB_COMPLETIONS`, the Job's `completions`,
    ///   which the manifest must set, as docs/scale-out.md shows).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let num = |k: &str| -> Result<Option<u64>, String> {
            env(k)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| format!("--shard auto: {k}={v:?} is not a number"))
                })
                .transpose()
        };
        let check = |k: u64, n: u64, from: &str| {
            if k == 0 || n == 0 || k > n {
                Err(format!("--shard auto: {from} give shard {k} of {n}"))
            } else {
                Ok(Shard { k, n })
            }
        };
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let n = num("SLURM_ARRAY_TASK_COUNT")?.ok_or(
                "--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not",
            )?;
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let k = id.checked_sub(min).map_or(0, |i| i + 1);
            return check(k, n, "the SLURM_ARRAY_TASK_* variables");
        }
        if let Some(i) = num("JOB_COMPLETION_INDEX")? {
            let n = num("JOB_COMPLETIONS")?.ok_or(
                "--shard auto: JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS is not (set it to the Job's completions, see docs/scale-out.md)",
            )?;
            return check(i + 1, n, "JOB_COMPLETION_INDEX and JOB_COMPLETIONS");
        }
        Err("--shard auto: neither a Slurm array (SLURM_ARRAY_TASK_ID) nor a Kubernetes Indexed Job (JOB_COMPLETION_INDEX) is in the environment".into())
    }

    /// Whether `path` belongs to this shard. The hash is of the path as
    /// written (SHA-256, so it never changes between versions or
    /// machines); shards must therefore be given the same inputs.
    pub fn contains(&self, path: &Path) -> bool {
        let d = Sha256::digest(path.as_os_str().as_encoded_bytes());
        let mut h = [0u8; 8];
        h.copy_from_slice(&d[..8]);
        u64::from_be_bytes(h) % self.n == self.k - 1
    }
}

pub fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Finds every file under `inputs` (directories, files, globs; `-` means
/// "read more inputs, one per line, from `stdin_list`"), sorted by path,
/// with duplicates (the same file reached twice) marked.
pub fn discover(inputs: &[String], stdin_list: &mut dyn FnMut() -> Vec<String>) -> Vec<Entry> {
    let mut found: Vec<(PathBuf, bool, Found)> = Vec::new();
    let mut named: Vec<String> = Vec::new();
    for i in inputs {
        if i == "-" {
            named.extend(stdin_list().into_iter().filter(|l| !l.trim().is_empty()));
        } else {
            named.push(i.clone());
        }
    }
    for i in named {
        let p = PathBuf::from(&i);
        if p.symlink_metadata().is_ok() {
            add_path(&p, true, &mut found);
        } else if is_glob(&i) {
            match glob::glob(&i) {
                Err(e) => found.push((p, true, Found::Problem(format!("bad pattern: {e}")))),
                Ok(paths) => {
                    let mut any = false;
                    for r in paths {
                        any = true;
                        match r {
                            Ok(m) => add_path(&m, false, &mut found),
                            Err(e) => found.push((
                                e.path().to_path_buf(),
                                false,
                                Found::Problem(e.to_string()),
                            )),
                        }
                    }
                    if !any {
                        found.push((
                            p,
                            true,
                            Found::Problem("the pattern matches nothing".into()),
                        ));
                    }
                }
            }
        } else {
            found.push((p, true, Found::Problem("no such file or directory".into())));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found.dedup_by(|b, a| a.0 == b.0);
    // Canonical path → the first path that reached it.
    let mut first_of: HashMap<PathBuf, PathBuf> = HashMap::new();
    found
        .into_iter()
        .enumerate()
        .map(|(index, (path, explicit, problem))| {
            let kind = match problem {
                Found::Problem(p) => EntryKind::Problem(p),
                Found::Special(what) => EntryKind::Special(what),
                Found::File => match std::fs::canonicalize(&path) {
                    Ok(c) => match first_of.get(&c) {
                        Some(first) => EntryKind::Duplicate(first.clone()),
                        None => {
                            first_of.insert(c, path.clone());
                            EntryKind::File
                        }
                    },
                    Err(e) => EntryKind::Problem(format!("cannot resolve: {e}")),
                },
            };
            let size = match kind {
                EntryKind::File => std::fs::metadata(&path).map_or(0, |m| m.len()),
                _ => 0,
            };
            Entry {
                index,
                size,
                path,
                explicit,
                kind,
            }
        })
        .collect()
}

/// Adds a file, or every file under a directory (links followed, loops
/// reported).
fn add_path(p: &Path, explicit: bool, found: &mut Vec<(PathBuf, bool, Found)>) {
    if !p.is_dir() {
        let what = std::fs::metadata(p).map_or(Found::File, |m| {
            special_kind(m.file_type()).map_or(Found::File, Found::Special)
        });
        found.push((p.to_path_buf(), explicit, what));
        return;
    }
    for r in walkdir::WalkDir::new(p).follow_links(true) {
        match r {
            Ok(e) if e.file_type().is_file() => found.push((e.into_path(), false, Found::File)),
            Ok(e) => {
                if let Some(what) = special_kind(e.file_type()) {
                    found.push((e.into_path(), false, Found::Special(what)));
                }
            }
            Err(e) => {
                let at = e.path().unwrap_or(p).to_path_buf();
                let why = match e.loop_ancestor() {
                    Some(a) => format!("symbolic link loop back to {}", a.display()),
                    None => match e.io_error() {
                        Some(io) => format!("cannot read: {io}"),
                        None => e.to_string(),
                    },
                };
                found.push((at, false, Found::Problem(why)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shard_comes_from_slurm_or_kubernetes() {
        let from = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Shard::from_env(&|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        };
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
        ];
        assert_eq!(from(&slurm), Ok(Shard { k: 3, n: 8 }));
        assert_eq!(
            from(&slurm[..2]),
            Ok(Shard { k: 4, n: 8 }),
            "indices from 0"
        );
        let k8s = [("JOB_COMPLETION_INDEX", "0"), ("JOB_COMPLETIONS", "4")];
        assert_eq!(from(&k8s), Ok(Shard { k: 1, n: 4 }));
        for bad in [
            &[][..],
            &k8s[..1],
            &slurm[..1],
            &[("JOB_COMPLETION_INDEX", "4"), ("JOB_COMPLETIONS", "4")][..],
            &[
                ("SLURM_ARRAY_TASK_ID", "x"),
                ("SLURM_ARRAY_TASK_COUNT", "2"),
            ][..],
            &[
                ("SLURM_ARRAY_TASK_ID", "0"),
                ("SLURM_ARRAY_TASK_COUNT", "2"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
            ][..],
        ] {
            assert!(from(bad).is_err(), "{bad:?}");
        }
        assert_eq!("auto".parse::<ShardArg>(), Ok(ShardArg::Auto));
        assert_eq!(
            "2/3".parse::<ShardArg>(),
            Ok(ShardArg::Fixed(Shard { k: 2, n: 3 }))
        );
    }

    #[test]
    fn shard_parsing_and_partition() {
        assert_eq!("3/8".parse::<Shard>(), Ok(Shard { k: 3, n: 8 }));
        for bad in ["0/3", "4/3", "3", "a/b", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        // Every path is in exactly one shard.
        for i in 0..200 {
            let p = PathBuf::from(format!("archive/day{}/cap{i}.pcap", i % 7));
            let n = (1..=5).filter(|&k| Shard { k, n: 5 }.contains(&p)).count();
            assert_eq!(n, 1);
        }
    }

    #[test]
    fn walks_sorted_reports_loops_missing_and_duplicates() {
        let root = std::env::temp_dir().join(format!("portmortem-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("b/sub")).unwrap();
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(root.join("b/sub/z.pcap"), b"x").unwrap();
        std::fs::write(root.join("a/y"), b"x").unwrap();
        std::os::unix::fs::symlink(&root, root.join("b/loop")).unwrap();
        std::os::unix::fs::symlink(root.join("a/y"), root.join("b/link-to-y")).unwrap();
        let r = root.to_string_lossy().into_owned();
        let missing = format!("{r}/nothing-here");
        let glob_none = format!("{r}/*.none");
        let es = discover(&[r.clone(), "-".into(), glob_none.clone()], &mut || {
            vec![missing.clone(), String::new()]
        });
        let rel: Vec<(String, &EntryKind)> = es
            .iter()
            .map(|e| {
                (
                    e.path.strip_prefix(&root).unwrap().display().to_string(),
                    &e.kind,
                )
            })
            .collect();
        assert_eq!(
            rel[0],
            (
                "*.none".into(),
                &EntryKind::Problem("the pattern matches nothing".into())
            )
        );
        assert_eq!(rel[1], ("a/y".into(), &EntryKind::File));
        assert_eq!(
            rel[2],
            (
                "b/link-to-y".into(),
                &EntryKind::Duplicate(root.join("a/y"))
            )
        );
        assert!(
            matches!(rel[3], (ref p, EntryKind::Problem(m)) if p == "b/loop" && m.contains("loop"))
        );
        assert_eq!(rel[4], ("b/sub/z.pcap".into(), &EntryKind::File));
        assert_eq!(
            rel[5],
            (
                "nothing-here".into(),
                &EntryKind::Problem("no such file or directory".into())
            )
        );
        assert_eq!(es.len(), 6);
        assert!(es.iter().enumerate().all(|(i, e)| e.index == i));
        // Only files to be read count towards the bytes of the progress bar.
        let sizes: Vec<u64> = es.iter().map(|e| e.size).collect();
        assert_eq!(sizes, [0, 1, 0, 0, 1, 0]);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
