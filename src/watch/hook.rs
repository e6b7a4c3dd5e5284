//! `--exec CMD`: a command run per finding (warning or error) with the
//! finding's event (one JSON line) on its standard input — a mail or chat
//! hook. Bounded: at most a few run at once (more are counted as skipped),
//! each is killed past its timeout, and the stream never waits for one.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Hooks running at once at most.
const MAX_RUNNING: usize = 4;

pub struct Hook {
    cmd: String,
    timeout: Duration,
    running: Vec<(Child, Instant)>,
    /// Not run because `MAX_RUNNING` were running.
    pub skipped: u64,
    /// Could not start, exited non-zero, or were killed at the timeout.
    pub failed: u64,
}

impl Hook {
    pub fn new(cmd: String, timeout: Duration) -> Hook {
        Hook {
            cmd,
            timeout,
            running: Vec::new(),
            skipped: 0,
            failed: 0,
        }
    }

    /// Runs the command with `line` on its standard input (its standard
    /// output goes nowhere: ours may be the event stream).
    pub fn fire(&mut self, line: &[u8]) {
        self.reap();
        if self.running.len() >= MAX_RUNNING {
            self.skipped += 1;
            return;
        }
        let child = Command::new("sh")
            .args(["-c", &self.cmd])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn();
        match child {
            Ok(mut c) => {
                if let Some(mut stdin) = c.stdin.take() {
                    // A hook that does not read its input is its business.
                    let _ = stdin.write_all(line);
                }
                self.running.push((c, Instant::now()));
            }
            Err(_) => self.failed += 1,
        }
    }

    /// Collects hooks that ended; kills those past their timeout.
    pub fn reap(&mut self) {
        let timeout = self.timeout;
        let mut failed = 0;
        self.running.retain_mut(|(c, started)| match c.try_wait() {
            Ok(Some(status)) => {
                failed += u64::from(!status.success());
                false
            }
            Ok(None) if started.elapsed() > timeout => {
                let _ = c.kill();
                let _ = c.wait();
                failed += 1;
                false
            }
            Ok(None) => true,
            Err(_) => {
                failed += 1;
                false
            }
        });
        self.failed += failed;
    }

    /// At the end: waits for the running hooks up to their timeout.
    pub fn finish(&mut self) {
        while !self.running.is_empty() {
            self.reap();
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_get_the_line_and_are_bounded() {
        let dir = std::env::temp_dir().join(format!("pm-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("got");
        let mut h = Hook::new(format!("cat >> {}", out.display()), Duration::from_secs(5));
        h.fire(b"{\"a\":1}\n");
        h.finish();
        assert_eq!(std::fs::read(&out).unwrap(), b"{\"a\":1}\n");
        assert_eq!((h.skipped, h.failed), (0, 0));
        // Slow hooks: the fifth at once is skipped, all are killed.
        let mut h = Hook::new("sleep 5".into(), Duration::from_millis(200));
        for _ in 0..5 {
            h.fire(b"x\n");
        }
        assert_eq!(h.skipped, 1);
        let t = Instant::now();
        h.finish();
        assert!(t.elapsed() < Duration::from_secs(3));
        assert_eq!(h.failed, 4);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
