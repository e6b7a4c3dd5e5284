//! Where a report or an evidence file goes, written so that it can never
//! harm the evidence.
//!
//! Two promises. An output never replaces an input: the same path, a
//! symbolic link to it or a hard link to it (the same device and inode)
//! is refused before anything is opened for writing. And an output appears
//! whole or not at all: it is written to a temporary file in the
//! destination's directory and renamed over the destination only once
//! complete, so a full disk or a crash leaves the previous file as it was
//! and no cut report behind. Devices and FIFOs (`-o /dev/null`) are
//! written in place: renaming over them would replace the device.

use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;

/// A JSON document, compact or indented (`--pretty`, which makes a large
/// report much larger). The serializer writes a few bytes at a time:
/// into a buffer of a concrete type, so each piece is a copy rather than a
/// call through `dyn Write` (that was a tenth of a large compare).
pub fn write_json<T: serde::Serialize + ?Sized>(
    w: &mut dyn Write,
    doc: &T,
    pretty: bool,
) -> io::Result<()> {
    let mut w = io::BufWriter::with_capacity(1 << 16, w);
    let r = if pretty {
        serde_json::to_writer_pretty(&mut w, doc)
    } else {
        serde_json::to_writer(&mut w, doc)
    };
    r.map_err(io::Error::from)?;
    w.flush()
}

/// Why an output cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(
        "refusing to write {output}: it is the input {input} (an output never replaces evidence)"
    )]
    IsInput { output: String, input: String },
    #[error("{path}: cannot create: {source}")]
    Create { path: String, source: io::Error },
}

/// Refuses `output` when it is one of `inputs`, by identity (device and
/// inode, links followed), not by name. `-` (standard output or input) and
/// an output that does not exist yet never conflict.
pub fn refuse_inputs<'a>(
    output: &Path,
    inputs: impl IntoIterator<Item = &'a Path>,
) -> Result<(), OutputError> {
    use std::os::unix::fs::MetadataExt;
    if output.as_os_str() == "-" {
        return Ok(());
    }
    let Ok(out) = fs::metadata(output) else {
        return Ok(());
    };
    for input in inputs {
        if input.as_os_str() == "-" {
            continue;
        }
        if let Ok(m) = fs::metadata(input)
            && m.dev() == out.dev()
            && m.ino() == out.ino()
        {
            return Err(OutputError::IsInput {
                output: crate::escape::printable(&output.to_string_lossy()),
                input: crate::escape::printable(&input.to_string_lossy()),
            });
        }
    }
    Ok(())
}

/// An output being written: standard output, a device written in place, or
/// a temporary file that becomes the destination on [`Destination::commit`]
/// (and is removed if dropped uncommitted).
pub struct Destination {
    target: Target,
    tty: bool,
}

enum Target {
    Stdout(io::BufWriter<io::StdoutLock<'static>>),
    InPlace(io::BufWriter<fs::File>),
    Atomic {
        tmp: io::BufWriter<NamedTempFile>,
        dest: PathBuf,
    },
}

impl Destination {
    /// Opens `path` (`None` or `-`: standard output) after checking that it
    /// is none of `inputs`.
    pub fn create<'a>(
        path: Option<&Path>,
        inputs: impl IntoIterator<Item = &'a Path>,
    ) -> Result<Self, OutputError> {
        let path = match path {
            Some(p) if p.as_os_str() != "-" => p,
            _ => {
                let out = io::stdout();
                let tty = out.is_terminal();
                return Ok(Destination {
                    target: Target::Stdout(io::BufWriter::new(out.lock())),
                    tty,
                });
            }
        };
        refuse_inputs(path, inputs)?;
        let failed = |source| OutputError::Create {
            path: crate::escape::printable(&path.to_string_lossy()),
            source,
        };
        // Write through a symbolic link, as `>` would, rather than
        // replacing the link itself.
        let dest = match fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_symlink() => fs::canonicalize(path).map_err(failed)?,
            _ => path.to_path_buf(),
        };
        if fs::metadata(&dest).is_ok_and(|m| !m.is_file()) {
            let f = fs::OpenOptions::new()
                .write(true)
                .open(&dest)
                .map_err(failed)?;
            return Ok(Destination {
                target: Target::InPlace(io::BufWriter::new(f)),
                tty: false,
            });
        }
        let dir = match dest.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = tempfile::Builder::new()
            .prefix(".portmortem-")
            .suffix(".part")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .tempfile_in(dir)
            .map_err(failed)?;
        Ok(Destination {
            target: Target::Atomic {
                tmp: io::BufWriter::with_capacity(1 << 16, tmp),
                dest,
            },
            tty: false,
        })
    }

    /// Whether the output is a terminal (for colour and width).
    pub fn is_terminal(&self) -> bool {
        self.tty
    }

    /// Flushes and, for a file, puts it in place. On error nothing replaced
    /// the destination and the temporary file is gone.
    pub fn commit(self) -> io::Result<()> {
        match self.target {
            Target::Stdout(mut w) => w.flush(),
            Target::InPlace(mut w) => w.flush(),
            Target::Atomic { tmp, dest } => {
                let tmp = tmp.into_inner().map_err(|e| e.into_error())?;
                tmp.as_file().sync_all()?;
                tmp.persist(&dest).map(drop).map_err(|e| e.error)
            }
        }
    }
}

impl Destination {
    /// Where bytes go now (a flush of a file empties the buffer into the
    /// temporary file; the destination appears on commit).
    fn sink(&mut self) -> &mut dyn Write {
        match &mut self.target {
            Target::Stdout(w) => w,
            Target::InPlace(w) => w,
            Target::Atomic { tmp, .. } => tmp,
        }
    }
}

impl Write for Destination {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sink().write(buf)
    }

    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.sink().write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sink().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn refuses_the_input_its_links_and_hard_links() {
        let d = dir();
        let input = d.path().join("in.pcap");
        fs::write(&input, b"evidence").unwrap();
        let sym = d.path().join("sym.pcap");
        std::os::unix::fs::symlink(&input, &sym).unwrap();
        let hard = d.path().join("hard.pcap");
        fs::hard_link(&input, &hard).unwrap();
        for out in [&input, &sym, &hard] {
            let e = Destination::create(Some(out), [input.as_path()]).err();
            assert!(matches!(e, Some(OutputError::IsInput { .. })), "{out:?}");
        }
        assert_eq!(fs::read(&input).unwrap(), b"evidence");
        // Another file, a new file and stdout are fine.
        let other = d.path().join("report.json");
        assert!(Destination::create(Some(&other), [input.as_path()]).is_ok());
        assert!(refuse_inputs(Path::new("-"), [input.as_path()]).is_ok());
    }

    #[test]
    fn appears_only_when_committed_and_keeps_the_old_file_otherwise() {
        let d = dir();
        let out = d.path().join("report.html");
        fs::write(&out, b"old report").unwrap();
        let mut w = Destination::create(Some(&out), []).unwrap();
        w.write_all(b"half a new rep").unwrap();
        w.flush().unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"old report");
        drop(w);
        assert_eq!(fs::read(&out).unwrap(), b"old report");
        let leftovers: Vec<_> = fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "the temporary file is removed");
        let mut w = Destination::create(Some(&out), []).unwrap();
        w.write_all(b"new report").unwrap();
        w.commit().unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"new report");
    }

    #[test]
    fn writes_through_a_symlink_and_into_devices() {
        let d = dir();
        let real = d.path().join("real.txt");
        fs::write(&real, b"x").unwrap();
        let link = d.path().join("link.txt");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let mut w = Destination::create(Some(&link), []).unwrap();
        w.write_all(b"through").unwrap();
        w.commit().unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read(&real).unwrap(), b"through");
        let mut w = Destination::create(Some(Path::new("/dev/null")), []).unwrap();
        w.write_all(b"gone").unwrap();
        w.commit().unwrap();
        assert!(
            fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }

    use std::os::unix::fs::FileTypeExt;
}
