//! Where each packet was seen: the legs of a capture taken on a device.
//!
//! Firewall engineers capture on the firewall itself (`tcpdump -i any`,
//! `dumpcap -i a -i b`, a SPAN port mirroring two VLANs), so one file
//! holds every forwarded packet twice, once per leg. A leg is what the
//! file itself records of the place it saw a packet: the pcapng interface,
//! the Linux cooked v2 interface index, the 802.1Q tags. Linux cooked v1
//! records only whether the capturing host received or sent the packet;
//! a forwarded packet is received on the leg facing its sender and sent on
//! the leg facing its receiver, so its leg is named by the address it
//! faces ("toward 198.51.100.60") — exact where one host sits behind each
//! interface, as in a capture of one session through a device.
//!
//! A Check Point `fw monitor` file (snoop with FW-1 headers, see
//! [`super::fw1`]) names the interface of every packet and the point inside
//! the device it was seen at: its legs are the interfaces, each holding
//! what a capture on that interface would, the packets entering at `i` and
//! leaving at `O`. The copies at the points inside the device (`I` after
//! `i`, `o` before `O`, and `e`/`E`) are counted per point and set aside,
//! as a packet recorded twice is; one that differs from its wire copy (the
//! device changed the packet between the two points) is counted with both
//! frames.
//!
//! The same packet recorded twice on one leg (a mirror port copying
//! ingress and egress of one VLAN) is set aside and counted: it is one
//! packet, not a retransmission. Only where the packet carries its
//! sender's own number (IPv4 identification) can a copy be told from a
//! second send of the same bytes.

use super::fw1::{self, Point};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// What a frame's link header says of the place it was seen, besides the
/// pcapng interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mark {
    /// Nothing: one place for every packet of that interface.
    None,
    /// Linux cooked v2 (`tcpdump -i any`): the interface index.
    IfIndex(u32),
    /// 802.1Q tags: the outer VLAN id, and the inner one of a QinQ frame.
    Vlan(u16, Option<u16>),
    /// Linux cooked v1: the address the capturing host's leg faces
    /// (the source of a packet it received, the destination of one it
    /// sent).
    Toward(IpAddr),
    /// A Check Point `fw monitor` file's FW-1 header: the interface (the
    /// leg's `interface`, numbered by the reader in the order the names
    /// first appear).
    Fw1,
}

/// One leg: the pcapng interface (0 for pcap) and the link header's mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Leg {
    /// The interface's index in the whole file (across pcapng sections).
    pub interface: u32,
    pub mark: Mark,
}

/// A leg as reports show it, with its frames.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LegCount {
    /// The leg's name: the pcapng interface's `if_name` (its index when
    /// it has none), then the link header's mark (`ifindex 2`,
    /// `VLAN 10`, `toward 198.51.100.60`).
    pub name: String,
    /// What told this leg apart: `pcapng-interface`, `sll2-ifindex`,
    /// `vlan`, `sll-direction` (Linux cooked v1: received from or sent
    /// to that address) or `fw1-interface` (a Check Point `fw monitor`
    /// file's FW-1 header).
    pub seen_by: &'static str,
    /// The pcapng interface's `if_description`, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Frames recorded on this leg, duplicates included.
    pub frames: u64,
    /// Exact copies of a frame just recorded on the same leg (the same
    /// bytes within [`DUPLICATE_WINDOW`] frames and
    /// [`DUPLICATE_WITHIN_NS`]): set aside, not analysed.
    pub duplicates: u64,
    /// A `fw monitor` interface's frames at each inspection point
    /// (`i`, `I`, `o`, `O`, `e`, `E`; only the points seen).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub points: BTreeMap<Point, u64>,
    /// Frames at the points inside the device (`I`, `o`, `e`, `E`): the
    /// same packets as at `i` and `O`, set aside, not analysed.
    #[serde(skip_serializing_if = "is_zero")]
    pub inside_device: u64,
    /// Copies inside the device that differ from their copy on the wire
    /// (`I` from the `i` before it, `o` from the `O` after it, the same
    /// packet by its IPv4 identification): the device changed the packet
    /// between the two points.
    #[serde(skip_serializing_if = "is_zero")]
    pub changed_inside: u64,
    /// The first 16 of them ([`MAX_CHANGED_FRAMES`]): the wire copy's
    /// frame and the inside copy's (`i` then `I`, `O` then `o`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed_inside_frames: Vec<[u64; 2]>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Changed copies listed with their frames, per leg.
pub const MAX_CHANGED_FRAMES: usize = 16;

/// Why a frame was not handed on to be analysed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetAside {
    /// An exact copy of a frame just recorded on the same leg.
    Duplicate,
    /// A `fw monitor` copy at a point inside the device.
    InsideDevice,
}

/// How many earlier frames of the same leg a frame is held against
/// (editcap -d's window of five frames, the frame itself included).
pub const DUPLICATE_WINDOW: usize = 4;

/// Two identical frames further apart than this are two packets (a TCP
/// retransmission waits at least a round trip, and Linux numbers each IP
/// packet anew); a packet recorded twice is microseconds apart.
pub const DUPLICATE_WITHIN_NS: i64 = 1_000_000;

/// Legs counted apart; frames of any further leg are counted together
/// under [`OTHER_LEGS`] (a Linux cooked v1 capture names one leg per
/// address it faces, and a busy one faces many).
pub const MAX_LEGS: usize = 64;

/// The name of the legs past [`MAX_LEGS`].
pub const OTHER_LEGS: &str = "other legs";

/// The leg a frame was seen on.
pub fn of(f: &super::Frame<'_>) -> Leg {
    Leg {
        interface: f.interface,
        mark: match f.point {
            Some(_) => Mark::Fw1,
            None => mark(f.linktype, f.data),
        },
    }
}

/// The interface of a snoop file's frames that have no FW-1 header (a
/// `fw monitor` file's interfaces are numbered from 0 by their names).
pub const NO_INTERFACE: u32 = u32::MAX;

/// The name of the frames of a pcap file whose link header names no leg
/// (ARP in a Linux cooked v1 capture, untagged frames beside VLANs).
pub const NOT_MARKED: &str = "not marked";

/// The mark in a frame's link header (`linktype` as LINKTYPE_*).
pub fn mark(linktype: u32, data: &[u8]) -> Mark {
    match linktype {
        276 => data
            .get(4..8)
            .map_or(Mark::None, |b| Mark::IfIndex(be32(b))),
        113 => sll_toward(data).map_or(Mark::None, Mark::Toward),
        1 => vlan(data),
        _ => Mark::None,
    }
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// 802.1Q (0x8100), 802.1ad (0x88a8) and the older QinQ 0x9100 tags.
fn is_tag(ethertype: u16) -> bool {
    matches!(ethertype, 0x8100 | 0x88a8 | 0x9100)
}

fn vlan(data: &[u8]) -> Mark {
    let tag = |at: usize| {
        let et = data.get(at..at + 2).map(be16)?;
        let tci = data.get(at + 2..at + 4).map(be16)?;
        is_tag(et).then_some(tci & 0x0fff)
    };
    match tag(12) {
        Some(outer) => Mark::Vlan(outer, tag(16)),
        None => Mark::None,
    }
}

/// Linux cooked v1: packet type (2 bytes), then 12 bytes of link address
/// fields, the protocol, and the network header at 16. Received packets
/// (to us, broadcast, multicast, to another host) face their source; a
/// packet the host sent (4) faces its destination.
fn sll_toward(data: &[u8]) -> Option<IpAddr> {
    let pkttype = data.get(0..2).map(be16)?;
    let protocol = data.get(14..16).map(be16)?;
    let ip = data.get(16..)?;
    let (src, dst) = match protocol {
        0x0800 if ip.len() >= 20 => (
            IpAddr::from(<[u8; 4]>::try_from(&ip[12..16]).ok()?),
            IpAddr::from(<[u8; 4]>::try_from(&ip[16..20]).ok()?),
        ),
        0x86dd if ip.len() >= 40 => (
            IpAddr::from(<[u8; 16]>::try_from(&ip[8..24]).ok()?),
            IpAddr::from(<[u8; 16]>::try_from(&ip[24..40]).ok()?),
        ),
        _ => return None,
    };
    match pkttype {
        0..=3 => Some(src),
        4 => Some(dst),
        _ => None,
    }
}

/// Whether a frame is a TCP segment in an IPv4 packet with a non-zero
/// identification: Linux and the other common stacks number each packet
/// of a connection anew, so the same number twice is one packet recorded
/// twice. Linux sends RSTs of no socket with 0, and IPv6 has no number.
pub fn numbered(linktype: u32, data: &[u8]) -> bool {
    crate::decode::decode(linktype, data, 0).is_ok_and(|s| s.ip_id.is_some_and(|id| id != 0))
}

/// A pcapng interface's names, as its description block gives them.
#[derive(Clone, Debug, Default)]
pub struct InterfaceName {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// A frame recently recorded on a leg: enough to know its copy.
#[derive(Clone, Copy)]
struct Recent {
    hash: u64,
    len: usize,
    ts: i64,
}

/// A `fw monitor` copy on the wire, waiting for its copy inside the
/// device: its frame, its IP packet's identity and hash.
#[derive(Clone, Copy)]
struct WireCopy {
    frame: u64,
    id: Option<u16>,
    hash: u64,
    len: usize,
}

#[derive(Default)]
struct Tally {
    frames: u64,
    duplicates: u64,
    recent: Vec<Recent>,
    points: BTreeMap<Point, u64>,
    inside_device: u64,
    changed_inside: u64,
    changed_inside_frames: Vec<[u64; 2]>,
    /// The last `i` copy not yet followed by its `I`.
    last_in: Option<WireCopy>,
    /// The last `o` copy not yet followed by its `O`.
    last_out: Option<WireCopy>,
}

impl Tally {
    /// Counts a `fw monitor` frame at `point`, and holds a copy inside the
    /// device against its wire copy; true when it is inside (set aside).
    fn point(&mut self, point: Point, copy: WireCopy) -> bool {
        *self.points.entry(point).or_default() += 1;
        // I follows its i; o precedes its O.
        let (wire, inside) = match point {
            Point::PreInbound => {
                self.last_in = Some(copy);
                return false;
            }
            Point::PostInbound => (self.last_in.take(), copy),
            Point::PreOutbound => {
                self.last_out = Some(copy);
                self.inside_device += 1;
                return true;
            }
            Point::PostOutbound => match self.last_out.take() {
                Some(o) => (Some(copy), o),
                None => return false,
            },
            Point::PreEncrypt | Point::PostEncrypt => {
                self.inside_device += 1;
                return true;
            }
        };
        // The same packet (by its IPv4 identification), other bytes.
        let changed = wire.filter(|w| {
            w.id.is_some() && w.id == inside.id && (w.hash, w.len) != (inside.hash, inside.len)
        });
        if let Some(w) = changed {
            self.changed_inside += 1;
            if self.changed_inside_frames.len() < MAX_CHANGED_FRAMES {
                self.changed_inside_frames.push([w.frame, inside.frame]);
            }
        }
        if point == Point::PostInbound {
            self.inside_device += 1;
        }
        !point.on_wire()
    }
}

/// The IPv4 identification of an IP packet (None for IPv6 or a packet too
/// short).
fn ipv4_id(ip: &[u8]) -> Option<u16> {
    (ip.first()? >> 4 == 4).then(|| ip.get(4..6).map(be16))?
}

/// The legs of a capture as it is read: frames and duplicates per leg.
pub struct Legs {
    tally: BTreeMap<Leg, Tally>,
    other: Tally,
    hasher: ahash::RandomState,
}

impl Default for Legs {
    fn default() -> Self {
        Self::new()
    }
}

impl Legs {
    pub fn new() -> Self {
        Legs {
            tally: BTreeMap::new(),
            other: Tally::default(),
            // Fixed keys: the same file gives the same answer every run.
            hasher: ahash::RandomState::with_seeds(1, 2, 3, 4),
        }
    }

    /// Records frame `number` seen on `leg` at `ts` (ns), at `point` in a
    /// `fw monitor` file; why it is set aside, if it is: an exact copy of
    /// a frame just recorded on the same leg, or a `fw monitor` copy
    /// inside the device. `numbered` says whether the frame's packet
    /// carries a number its sender gives each packet anew (see
    /// [`numbered`]): without one, two identical packets may be two sends
    /// (two RSTs of a closed socket, two duplicate ACKs over IPv6), and
    /// both are kept.
    pub fn record(
        &mut self,
        leg: Leg,
        (number, ts, point): (u64, i64, Option<Point>),
        data: &[u8],
        numbered: impl FnOnce() -> bool,
    ) -> Option<SetAside> {
        let full = self.tally.len() >= MAX_LEGS && !self.tally.contains_key(&leg);
        let t = if full {
            &mut self.other
        } else {
            self.tally.entry(leg).or_default()
        };
        t.frames += 1;
        if let Some(p) = point {
            let ip = data.get(fw1::HEADER_LEN..).unwrap_or_default();
            let copy = WireCopy {
                frame: number,
                id: ipv4_id(ip),
                hash: self.hasher.hash_one(ip),
                len: ip.len(),
            };
            if t.point(p, copy) {
                return Some(SetAside::InsideDevice);
            }
        }
        let now = Recent {
            hash: self.hasher.hash_one(data),
            len: data.len(),
            ts,
        };
        let copy = t.recent.iter().any(|r| {
            r.len == now.len && r.hash == now.hash && (r.ts - ts).abs() <= DUPLICATE_WITHIN_NS
        }) && numbered();
        if copy {
            t.duplicates += 1;
            return Some(SetAside::Duplicate);
        }
        if t.recent.len() == DUPLICATE_WINDOW {
            t.recent.remove(0);
        }
        t.recent.push(now);
        None
    }

    /// Frames set aside as duplicates, on every leg.
    pub fn duplicates(&self) -> u64 {
        self.tally.values().map(|t| t.duplicates).sum::<u64>() + self.other.duplicates
    }

    /// `fw monitor` frames set aside as copies inside the device, on
    /// every leg.
    pub fn inside_device(&self) -> u64 {
        self.tally.values().map(|t| t.inside_device).sum::<u64>() + self.other.inside_device
    }

    /// The legs for the report: none when every frame was seen in one
    /// place (nothing to tell apart), else each with its frames, in the
    /// order of the interface and the mark.
    pub fn counts(&self, names: &[InterfaceName]) -> Vec<LegCount> {
        // One fw monitor interface is listed: its points are news.
        let fw1 = self.tally.keys().any(|l| l.mark == Mark::Fw1);
        if self.tally.len() < 2 && !fw1 {
            return Vec::new();
        }
        let mut out: Vec<LegCount> = self
            .tally
            .iter()
            .map(|(leg, t)| count(leg, t, names))
            .collect();
        if self.other.frames > 0 {
            let mut other = count(
                &Leg {
                    interface: u32::MAX,
                    mark: Mark::None,
                },
                &self.other,
                &[],
            );
            other.name = OTHER_LEGS.into();
            other.seen_by = "several";
            out.push(other);
        }
        out
    }

    /// One leg as reports show it (no frames when it was never seen).
    pub fn count(&self, leg: &Leg, names: &[InterfaceName]) -> LegCount {
        count(leg, self.tally.get(leg).unwrap_or(&Tally::default()), names)
    }
}

fn count(leg: &Leg, t: &Tally, names: &[InterfaceName]) -> LegCount {
    let (name, description) = leg_name(leg, names);
    LegCount {
        name,
        seen_by: seen_by(leg, names),
        description,
        frames: t.frames,
        duplicates: t.duplicates,
        points: t.points.clone(),
        inside_device: t.inside_device,
        changed_inside: t.changed_inside,
        changed_inside_frames: t.changed_inside_frames.clone(),
    }
}

/// `names` is empty for a pcap file (pcapng describes every interface).
fn seen_by(leg: &Leg, names: &[InterfaceName]) -> &'static str {
    match leg.mark {
        Mark::None if names.is_empty() || leg.interface == NO_INTERFACE => "none",
        Mark::None => "pcapng-interface",
        Mark::IfIndex(_) => "sll2-ifindex",
        Mark::Vlan(..) => "vlan",
        Mark::Toward(_) => "sll-direction",
        Mark::Fw1 => "fw1-interface",
    }
}

/// The name of `leg`: its interface's (when the file has several, or
/// the mark says nothing more), then its mark; and the interface's
/// description. `names` is empty for a pcap file.
fn leg_name(leg: &Leg, names: &[InterfaceName]) -> (String, Option<String>) {
    let named_interfaces = names.len() > 1 && leg.interface != NO_INTERFACE;
    let iface = names.get(leg.interface as usize);
    let iface_name = iface
        .and_then(|n| n.name.clone())
        .unwrap_or_else(|| format!("interface {}", leg.interface));
    let description = iface.and_then(|n| n.description.clone());
    let mark = match leg.mark {
        Mark::None => None,
        Mark::IfIndex(i) => Some(format!("ifindex {i}")),
        Mark::Vlan(o, None) => Some(format!("VLAN {o}")),
        Mark::Vlan(o, Some(i)) => Some(format!("VLAN {o}.{i}")),
        Mark::Toward(a) => Some(format!("toward {a}")),
        Mark::Fw1 => None,
    };
    let name = match (named_interfaces, mark) {
        (true, Some(m)) => format!("{iface_name} {m}"),
        (_, Some(m)) => m,
        (_, None) if leg.interface == NO_INTERFACE => NOT_MARKED.into(),
        (_, None) if names.is_empty() && leg.mark != Mark::Fw1 => NOT_MARKED.into(),
        (_, None) => iface_name,
    };
    (name, description)
}

/// The name of `leg` where its interface's name is not at hand (a stream
/// read frame by frame): its mark, else its interface's index.
pub fn unnamed(leg: &Leg) -> String {
    match leg.mark {
        Mark::None => format!("interface {}", leg.interface),
        _ => leg_name(leg, &[]).0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sll2(ifindex: u32) -> Vec<u8> {
        let mut v = vec![0x08, 0x00, 0, 0];
        v.extend_from_slice(&ifindex.to_be_bytes());
        v.extend_from_slice(&[0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0]);
        v
    }

    fn ipv4(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut v = vec![0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0];
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        v
    }

    fn sll1(pkttype: u16, ip: &[u8]) -> Vec<u8> {
        let mut v = pkttype.to_be_bytes().to_vec();
        v.extend_from_slice(&[0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00]);
        v.extend_from_slice(ip);
        v
    }

    #[test]
    fn sll2_legs_are_interface_indexes() {
        assert_eq!(mark(276, &sll2(3)), Mark::IfIndex(3));
        assert_eq!(mark(276, &[0; 5]), Mark::None);
    }

    #[test]
    fn an_sll_packet_faces_its_source_when_received_and_its_destination_when_sent() {
        let ip = ipv4([198, 51, 100, 60], [203, 0, 113, 10]);
        let client = IpAddr::from([198, 51, 100, 60]);
        let server = IpAddr::from([203, 0, 113, 10]);
        assert_eq!(mark(113, &sll1(0, &ip)), Mark::Toward(client));
        assert_eq!(mark(113, &sll1(4, &ip)), Mark::Toward(server));
        // ARP has no addresses to face.
        let mut arp = sll1(0, &ip);
        arp[14..16].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(mark(113, &arp), Mark::None);
    }

    #[test]
    fn vlan_tags_outer_then_inner() {
        let mut f = vec![0; 12];
        f.extend_from_slice(&[0x81, 0x00, 0x20, 0x0a, 0x08, 0x00]);
        assert_eq!(mark(1, &f), Mark::Vlan(10, None));
        let mut q = vec![0; 12];
        q.extend_from_slice(&[0x88, 0xa8, 0x00, 0xc9, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00]);
        assert_eq!(mark(1, &q), Mark::Vlan(201, Some(20)));
        let mut untagged = vec![0; 12];
        untagged.extend_from_slice(&[0x08, 0x00]);
        assert_eq!(mark(1, &untagged), Mark::None);
    }

    /// Records a frame outside any `fw monitor` file; true when set aside.
    fn rec(l: &mut Legs, leg: Leg, ts: i64, data: &[u8], numbered: impl FnOnce() -> bool) -> bool {
        l.record(leg, (0, ts, None), data, numbered).is_some()
    }

    fn leg(i: u32) -> Leg {
        Leg {
            interface: 0,
            mark: Mark::IfIndex(i),
        }
    }

    #[test]
    fn the_same_bytes_on_the_same_leg_within_a_millisecond_are_one_packet() {
        let mut l = Legs::new();
        let yes = || true;
        assert!(!rec(&mut l, leg(2), 0, b"abc", yes));
        // The forwarded copy on the other leg is not a duplicate.
        assert!(!rec(&mut l, leg(3), 10, b"abc", yes));
        assert!(rec(&mut l, leg(2), 20, b"abc", yes));
        // Without a packet number, the same bytes may be a second send.
        assert!(!rec(&mut l, leg(2), 30, b"abc", || false));
        // A retransmission a second later is a packet of its own.
        assert!(!rec(&mut l, leg(2), 1_000_000_000, b"abc", yes));
        assert_eq!(l.duplicates(), 1);
        let c = l.counts(&[]);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].name.as_str(), c[0].frames, c[0].duplicates),
            ("ifindex 2", 4, 1)
        );
        assert_eq!(c[1].seen_by, "sll2-ifindex");
    }

    #[test]
    fn one_leg_is_not_listed_and_pcapng_interfaces_go_by_their_names() {
        let mut l = Legs::new();
        let iface = |i| Leg {
            interface: i,
            mark: Mark::None,
        };
        rec(&mut l, iface(0), 0, b"a", || true);
        assert!(l.counts(&[]).is_empty());
        rec(&mut l, iface(1), 0, b"a", || true);
        let names = [
            InterfaceName {
                name: Some("fwin".into()),
                description: Some("inside".into()),
            },
            InterfaceName::default(),
        ];
        let c = l.counts(&names);
        assert_eq!(c[0].name, "fwin");
        assert_eq!(c[0].description.as_deref(), Some("inside"));
        assert_eq!(c[1].name, "interface 1");
    }

    #[test]
    fn legs_past_the_cap_are_counted_together() {
        let mut l = Legs::new();
        for i in 0..MAX_LEGS as u32 + 3 {
            rec(&mut l, leg(i), 0, b"x", || true);
        }
        let c = l.counts(&[]);
        assert_eq!(c.len(), MAX_LEGS + 1);
        assert_eq!(c[MAX_LEGS].name, OTHER_LEGS);
        assert_eq!(c[MAX_LEGS].frames, 3);
    }

    /// A `fw monitor` frame: the FW-1 header, then an IPv4 header with
    /// identification `id` and one byte of payload `b`.
    fn fw1_frame(point: u8, id: u16, b: u8) -> Vec<u8> {
        let mut v = vec![point, 0, b'e', b't', b'h', b'1', 0, 0, 0, 0, 0, 0, 8, 0];
        v.extend_from_slice(&[0x45, 0, 0, 21]);
        v.extend_from_slice(&id.to_be_bytes());
        v.extend_from_slice(&[0; 14]);
        v.push(b);
        v
    }

    #[test]
    fn fw_monitor_points_inside_the_device_are_set_aside_and_changes_counted() {
        let mut l = Legs::new();
        let eth1 = Leg {
            interface: 0,
            mark: Mark::Fw1,
        };
        let mut n = 0;
        let mut at = |l: &mut Legs, point: u8, id: u16, b: u8| {
            n += 1;
            let p = Point::from_byte(point);
            l.record(eth1, (n, n as i64, p), &fw1_frame(point, id, b), || true)
        };
        // i then I of one packet, unchanged: I is set aside.
        assert_eq!(at(&mut l, b'i', 1, b'a'), None);
        assert_eq!(at(&mut l, b'I', 1, b'a'), Some(SetAside::InsideDevice));
        // The device changed the next packet between i (3) and I (4).
        assert_eq!(at(&mut l, b'i', 2, b'a'), None);
        assert_eq!(at(&mut l, b'I', 2, b'b'), Some(SetAside::InsideDevice));
        // o (5) then O (6), changed; and an O whose o was another packet.
        assert_eq!(at(&mut l, b'o', 3, b'x'), Some(SetAside::InsideDevice));
        assert_eq!(at(&mut l, b'O', 3, b'y'), None);
        assert_eq!(at(&mut l, b'o', 4, b'x'), Some(SetAside::InsideDevice));
        assert_eq!(at(&mut l, b'O', 5, b'y'), None);
        // Only i and O (fw monitor -m iO): nothing set aside.
        assert_eq!(at(&mut l, b'O', 6, b'y'), None);
        let c = l.counts(&[InterfaceName {
            name: Some("eth1".into()),
            description: None,
        }]);
        assert_eq!(c.len(), 1, "one fw monitor interface is listed");
        let c = &c[0];
        assert_eq!((c.name.as_str(), c.seen_by), ("eth1", "fw1-interface"));
        assert_eq!((c.frames, c.inside_device, c.changed_inside), (9, 4, 2));
        assert_eq!(c.changed_inside_frames, vec![[3, 4], [6, 5]]);
        let points: Vec<(char, u64)> = c.points.iter().map(|(p, n)| (p.letter(), *n)).collect();
        assert_eq!(points, [('i', 2), ('I', 2), ('o', 2), ('O', 3)]);
        assert_eq!(l.inside_device(), 4);
    }
}
