//! The probe's data listeners: every port a sweep can produce is
//! listened on, so a server that connects to a neighbour port is seen.

use std::collections::BTreeMap;
use std::net::{IpAddr, TcpListener};
use std::time::{Duration, Instant};

/// The port that puts `v` in `octet` (5: high byte, 6: low byte) with
/// the other byte `fixed`.
pub(super) fn sweep_port(octet: u8, fixed: u16, v: u16) -> u16 {
    if octet == 6 {
        fixed << 8 | v
    } else {
        v << 8 | fixed
    }
}

/// A random number from the standard library's per-process hash keys: the
/// fixed octets of sweeps differ between runs, so two probes on one host
/// do not listen on each other's ports.
pub(super) fn random() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish() as u16
}

/// The probe's listening sockets for data connections.
pub(super) struct Listeners {
    by_port: BTreeMap<u16, TcpListener>,
    pub(super) missing: usize,
    /// The ports the last cases expected, this case's last: a connection
    /// to an earlier case's port is that case's late connection, not a
    /// misreading of this one.
    expected: std::cell::RefCell<std::collections::VecDeque<u16>>,
}

impl Listeners {
    /// Listeners on the 256 ports a sweep of `octet` can produce, for a
    /// fixed other byte (≥ 4 as a high byte, so the ports are above 1023)
    /// on whose ports nothing else listens; the best of a few tries.
    pub(super) fn sweep(ip: IpAddr, octet: u8) -> (u16, Listeners) {
        let attempt = || {
            let fixed = if octet == 6 {
                4 + random() % 250
            } else {
                random() % 256
            };
            let l = Listeners::bind(ip, (0..=255).map(|v| sweep_port(octet, fixed, v)));
            (fixed, l)
        };
        // Without root, the octet-5 sweep's four ports below 1024 fail.
        let floor = if octet == 5 { 4 } else { 0 };
        let mut best = attempt();
        for _ in 1..16 {
            if best.1.missing <= floor {
                break;
            }
            let next = attempt();
            if next.1.missing < best.1.missing {
                best = next;
            }
        }
        best
    }

    pub(super) fn bind(ip: IpAddr, ports: impl IntoIterator<Item = u16>) -> Listeners {
        let mut by_port = BTreeMap::new();
        let mut missing = 0;
        for p in ports {
            match TcpListener::bind((ip, p)).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
                Ok(l) => {
                    by_port.insert(p, l);
                }
                Err(_) => missing += 1,
            }
        }
        Listeners {
            by_port,
            missing,
            expected: Default::default(),
        }
    }

    pub(super) fn has(&self, port: u16) -> bool {
        self.by_port.contains_key(&port)
    }

    /// Starts a case that expects a connection on `port`: earlier
    /// connections are closed.
    pub(super) fn begin(&self, port: u16) {
        self.drain();
        let mut e = self.expected.borrow_mut();
        e.push_back(port);
        while e.len() > 3 {
            e.pop_front();
        }
    }

    /// The first port a connection arrives on within `t`, past late
    /// connections to the ports the two cases before expected.
    pub(super) fn wait(&self, t: Duration) -> Option<u16> {
        let end = Instant::now() + t;
        let late: Vec<u16> = {
            let e = self.expected.borrow();
            e.iter().take(e.len().saturating_sub(1)).copied().collect()
        };
        let current = self.expected.borrow().back().copied();
        loop {
            for (&p, l) in &self.by_port {
                if let Ok((c, _)) = l.accept() {
                    drop(c);
                    if late.contains(&p) && Some(p) != current {
                        continue;
                    }
                    return Some(p);
                }
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Closes connections left over from an earlier case.
    pub(super) fn drain(&self) {
        for l in self.by_port.values() {
            while l.accept().is_ok() {}
        }
    }
}
