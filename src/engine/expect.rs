//! The expected-connection table: endpoints a session announced (PORT,
//! EPRT, 227, 229…) and which session a connection to one of them belongs
//! to, as Zeek's `ftp_data_expected` and conntrack's expectations keep
//! them. Protocol-neutral: anything that announces endpoints (SIP/SDP,
//! H.323, TFTP) could use it.

use ahash::AHashMap;
use std::collections::VecDeque;
use std::net::IpAddr;

/// An announced address and port.
pub type Endpoint = (IpAddr, u16);

/// Announced endpoints and their owners, at most `per_owner` each (the
/// oldest is forgotten first: data connections follow their announcement
/// closely).
pub struct Expectations<O> {
    by_endpoint: AHashMap<Endpoint, O>,
    by_owner: AHashMap<O, VecDeque<Endpoint>>,
    per_owner: usize,
}

impl<O: Copy + Eq + std::hash::Hash> Expectations<O> {
    pub fn new(per_owner: usize) -> Self {
        Expectations {
            by_endpoint: AHashMap::new(),
            by_owner: AHashMap::new(),
            per_owner: per_owner.max(1),
        }
    }

    /// `owner` announced `ep`; a later announcement of the same endpoint
    /// by another owner takes it over.
    pub fn announce(&mut self, owner: O, ep: Endpoint) {
        let list = self.by_owner.entry(owner).or_default();
        if list.len() >= self.per_owner
            && let Some(old) = list.pop_front()
            && self.by_endpoint.get(&old) == Some(&owner)
        {
            self.by_endpoint.remove(&old);
        }
        list.push_back(ep);
        self.by_endpoint.insert(ep, owner);
    }

    /// Whose announcement a connection to `ep` follows.
    pub fn owner_of(&self, ep: Endpoint) -> Option<O> {
        self.by_endpoint.get(&ep).copied()
    }

    /// The owner ended: its announcements expire (those another owner
    /// took over stay that owner's).
    pub fn forget(&mut self, owner: O) {
        for ep in self.by_owner.remove(&owner).into_iter().flatten() {
            if self.by_endpoint.get(&ep) == Some(&owner) {
                self.by_endpoint.remove(&ep);
            }
        }
    }

    /// Endpoints remembered.
    pub fn len(&self) -> usize {
        self.by_endpoint.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_endpoint.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(port: u16) -> Endpoint {
        ("198.51.100.60".parse().unwrap(), port)
    }

    #[test]
    fn an_announced_endpoint_belongs_to_its_announcer_until_it_ends() {
        let mut e = Expectations::new(16);
        e.announce(1, ep(32227));
        e.announce(2, ep(40000));
        assert_eq!(e.owner_of(ep(32227)), Some(1));
        assert_eq!(e.owner_of(ep(40000)), Some(2));
        assert_eq!(e.owner_of(ep(32022)), None);
        e.forget(1);
        assert_eq!(e.owner_of(ep(32227)), None);
        assert_eq!(e.owner_of(ep(40000)), Some(2));
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn each_owner_keeps_its_latest_announcements() {
        let mut e = Expectations::new(2);
        for p in [1, 2, 3] {
            e.announce(7, ep(p));
        }
        assert_eq!(e.owner_of(ep(1)), None);
        assert_eq!(e.owner_of(ep(2)), Some(7));
        assert_eq!(e.owner_of(ep(3)), Some(7));
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn a_later_announcer_takes_an_endpoint_over() {
        let mut e = Expectations::new(16);
        e.announce(1, ep(5000));
        e.announce(2, ep(5000));
        assert_eq!(e.owner_of(ep(5000)), Some(2));
        // The first owner ending does not take it from the second.
        e.forget(1);
        assert_eq!(e.owner_of(ep(5000)), Some(2));
        e.forget(2);
        assert!(e.is_empty());
    }
}
