//! The sockets a trace needs: a raw ICMP socket that hears the routers'
//! Time Exceeded, and a TTL-limited write on a TCP connection that sets
//! the TTL (IPv6 hop limit) back before TCP retransmits the segment, so
//! the retransmission reaches the far end and the session goes on.
//!
//! Linux only: it is the TCP_INFO counters that tell whether the
//! TTL-limited segment itself reached the far end (it was not
//! retransmitted), and whether it has left the socket before the TTL is
//! set back.

use super::quote::Quote;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::io::{self, Write};
use std::mem::MaybeUninit;
use std::net::{IpAddr, TcpStream};
use std::time::{Duration, Instant};

/// What a trace cannot do without: said in the report, with the remedy.
pub const NEEDS_RAW: &str = "reading the routers' ICMP Time Exceeded needs a raw socket: run as root or give the binary the CAP_NET_RAW capability (setcap cap_net_raw+ep $(which portmortem))";

/// A raw socket that hears every ICMP (ICMPv6) message to this host.
pub struct Listener {
    sock: Socket,
    v6: bool,
}

impl Listener {
    /// Opens the socket for the family of `peer`; the error names the
    /// capability when that is what is missing.
    fn open(peer: IpAddr) -> Result<Listener, String> {
        let (domain, proto) = match peer {
            IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
            IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
        };
        let sock = Socket::new(domain, Type::RAW, Some(proto)).map_err(|e| {
            if e.kind() == io::ErrorKind::PermissionDenied {
                NEEDS_RAW.to_string()
            } else {
                format!("cannot open a raw ICMP socket: {e}")
            }
        })?;
        sock.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok(Listener {
            sock,
            v6: peer.is_ipv6(),
        })
    }

    /// The socket for tracing connection `s`: its peer's family, and TCP's
    /// counters readable on `s` (they tell when a segment got through).
    pub fn for_connection(s: &TcpStream) -> Result<Listener, String> {
        let peer = s.peer_addr().map_err(|e| e.to_string())?;
        let l = Listener::open(peer.ip())?;
        counts(s).map_err(|e| format!("cannot read TCP's counters: {e}"))?;
        Ok(l)
    }

    /// Drops what has queued up (quotes of earlier segments, other
    /// traffic's ICMP).
    pub fn clear(&self) {
        while self.next().is_some() {}
    }

    /// Every Time Exceeded quoting a TCP segment that arrives until
    /// `until`, waiting at most that long.
    pub fn collect(&self, until: Instant) -> Vec<Quote> {
        let mut out = Vec::new();
        loop {
            match self.next() {
                Some(Some(q)) => out.push(q),
                Some(None) => {}
                None if Instant::now() >= until => return out,
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    }

    /// The next message: None when none is queued, Some(None) when it is
    /// no quote of a TCP segment.
    fn next(&self) -> Option<Option<Quote>> {
        let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
        let (n, from) = self.sock.recv_from(&mut buf).ok()?;
        // SAFETY: recv_from initialised the first n bytes.
        let b: &[u8] = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
        Some(if self.v6 {
            // An ICMPv6 raw socket delivers the message without the IPv6
            // header; the sender is the source address.
            from.as_socket().and_then(|a| Quote::parse(a.ip(), b, true))
        } else {
            Quote::parse_v4_datagram(b)
        })
    }
}

/// TCP's own counters for a connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcpCounts {
    /// Segments retransmitted over the connection's life.
    pub retransmits: u32,
    /// Bytes written but not yet sent.
    pub not_sent: u32,
    /// Segments sent and not yet acknowledged.
    pub unacked: u32,
}

#[cfg(target_os = "linux")]
pub fn counts(s: &TcpStream) -> io::Result<TcpCounts> {
    use std::os::fd::AsRawFd;
    // SAFETY: tcp_info is plain data; getsockopt writes at most `len`
    // bytes of it.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpCounts {
        retransmits: info.tcpi_total_retrans,
        not_sent: info.tcpi_notsent_bytes,
        unacked: info.tcpi_unacked,
    })
}

#[cfg(not(target_os = "linux"))]
pub fn counts(_: &TcpStream) -> io::Result<TcpCounts> {
    Err(io::Error::other("tracing needs Linux's TCP_INFO"))
}

/// Writes `bytes` as one segment that leaves with TTL (hop limit) `ttl`,
/// then sets the old value back once the segment has left the socket.
/// Returns the retransmit count before the write, to tell later whether
/// the segment itself got through.
pub fn write_limited(s: &TcpStream, bytes: &[u8], ttl: u8) -> io::Result<u32> {
    let v6 = s.peer_addr()?.is_ipv6();
    let sock = SockRef::from(s);
    let before = counts(s)?;
    let old = if v6 {
        sock.unicast_hops_v6()?
    } else {
        sock.ttl_v4()?
    };
    let set = |v: u32| {
        if v6 {
            sock.set_unicast_hops_v6(v)
        } else {
            sock.set_ttl_v4(v)
        }
    };
    set(u32::from(ttl))?;
    let written = { s }.write_all(bytes);
    // Until the bytes have left (a full congestion window holds them
    // back), the TTL stays: set back too early, the segment would leave
    // unlimited and pass for one that reached the far end.
    let deadline = Instant::now() + Duration::from_secs(2);
    while written.is_ok() && Instant::now() < deadline {
        match counts(s) {
            Ok(c) if c.not_sent > 0 => std::thread::sleep(Duration::from_millis(1)),
            _ => break,
        }
    }
    set(old)?;
    written.map(|()| before.retransmits)
}

/// Whether the TTL-limited segment reached the far end: acknowledged
/// without a retransmission since `before`.
pub fn got_through(s: &TcpStream, before: u32) -> Option<bool> {
    let c = counts(s).ok()?;
    (c.unacked == 0).then_some(c.retransmits == before)
}
