//! What the capture's blocks say besides packets: the pcap header, pcapng
//! sections, interfaces (link type, timestamp resolution and offset) and
//! interface statistics, learnt as they are read, and each packet turned
//! into a [`Frame`].

use super::*;
use crate::timestamp::Timestamp;
use input::Container;
use pcap_parser::PcapBlockOwned;
use pcap_parser::pcapng::Block;
use std::collections::BTreeSet;

/// Reads an ISB counter option in the section's byte order (pcap-parser
/// 0.17's `isb_ifdrop()` and friends read every section as little-endian,
/// so a big-endian capture's counters come out byte-swapped).
pub(super) fn isb_counter(
    isb: &pcap_parser::InterfaceStatisticsBlock<'_>,
    code: u16,
    big_endian: bool,
) -> Option<u64> {
    let o = isb.options.iter().find(|o| o.code.0 == code)?;
    let b: [u8; 8] = o.value().get(..8)?.try_into().ok()?;
    Some(if big_endian {
        u64::from_be_bytes(b)
    } else {
        u64::from_le_bytes(b)
    })
}

#[derive(Clone, Copy)]
pub(super) struct Interface {
    pub(super) linktype: u32,
    /// Timestamp units per second.
    pub(super) resolution: u64,
    pub(super) offset_secs: i64,
}

/// Everything learnt from the blocks read so far.
pub(super) struct Meta {
    pub(super) container: Container,
    pub(super) format: String,
    pub(super) pcap_linktype: u32,
    pub(super) pcap_nanos: bool,
    pub(super) ng_big_endian: bool,
    pub(super) ifaces: Vec<Interface>,
    pub(super) sections: u32,
    pub(super) total_ifaces: u32,
    pub(super) frames: u64,
    pub(super) link_types: BTreeSet<u32>,
    pub(super) first_ts: Option<Timestamp>,
    pub(super) last_ts: Option<Timestamp>,
    /// Digits of a second of the finest timestamp resolution seen.
    pub(super) ts_digits: u8,
    /// The last ISB of each interface, by its index in the file.
    pub(super) iface_stats: std::collections::BTreeMap<u32, InterfaceStats>,
    /// Each interface's names, by its index in the file.
    pub(super) iface_names: Vec<legs::InterfaceName>,
    pub(super) legs: legs::Legs,
    /// The legs a view of the file holds; every leg when None.
    pub(super) view: Option<Vec<legs::Leg>>,
    /// A `fw monitor` file's interface names as its FW-1 headers have
    /// them, by index.
    pub(super) fw1_names: Vec<Vec<u8>>,
}

/// Characters of an interface's name or description kept (a name is a
/// word; a longer one is corruption or an attack on the report).
const MAX_INTERFACE_NAME: usize = 256;

/// Interfaces whose names are kept; later ones go by their index (a file
/// of a million interface blocks must not hold a million names).
const MAX_NAMED_INTERFACES: usize = 4096;

pub(super) enum Step {
    Consume(usize, Result<(), CaptureErrorKind>),
    Refill,
    Grow,
    Fail(CaptureErrorKind),
}

impl Meta {
    pub(super) fn emit(
        &mut self,
        ts: Timestamp,
        linktype: u32,
        data: &[u8],
        orig_len: u32,
        section_interface: u32,
        f: &mut dyn FnMut(&Frame<'_>),
    ) {
        self.frames += 1;
        self.link_types.insert(linktype);
        // The span of the capture: a file need not be in time order
        // (dumpcap may write one interface's packets after another's).
        self.first_ts = Some(self.first_ts.map_or(ts, |t| t.min(ts)));
        self.last_ts = Some(self.last_ts.map_or(ts, |t| t.max(ts)));
        // A frame of a `fw monitor` file: its interface is the FW-1
        // header's, its point kept.
        let fw1 = (self.container == Container::Snoop && linktype == 1)
            .then(|| fw1::header(data))
            .flatten();
        let (interface, point) = match fw1 {
            Some((point, name)) => (self.fw1_interface(name), Some(point)),
            // In a snoop file, frames without an FW-1 header have no
            // interface of their own: never one an FW-1 name took.
            None if self.container == Container::Snoop => (legs::NO_INTERFACE, None),
            None => (self.file_interface(section_interface), None),
        };
        let mut frame = Frame {
            number: self.frames,
            ts,
            linktype,
            data,
            orig_len,
            interface,
            outside_view: false,
            point,
        };
        let leg = legs::of(&frame);
        // A copy of a frame just recorded on the same leg, or a `fw
        // monitor` copy inside the device, is counted there and not
        // analysed; a view analyses its own legs' frames only, numbered
        // in the whole file.
        let set_aside = self
            .legs
            .record(leg, (frame.number, ts.0, point), data, || {
                legs::numbered(linktype, data)
            });
        frame.outside_view = self.view.as_ref().is_some_and(|v| !v.contains(&leg));
        if set_aside.is_none() {
            f(&frame);
        }
    }

    /// The interface of a `fw monitor` frame: its name's index, in the
    /// order the names first appear (past [`legs::MAX_LEGS`] names, one
    /// index for the rest, which the legs count together anyway).
    fn fw1_interface(&mut self, name: &[u8]) -> u32 {
        if let Some(i) = self.fw1_names.iter().position(|n| n == name) {
            return i as u32;
        }
        if self.fw1_names.len() >= legs::MAX_LEGS {
            return legs::MAX_LEGS as u32;
        }
        self.fw1_names.push(name.to_vec());
        self.iface_names.push(legs::InterfaceName {
            name: Some(fw1::name_text(name)),
            description: None,
        });
        self.total_ifaces = self.fw1_names.len() as u32;
        self.total_ifaces - 1
    }

    /// An interface's index in the whole file: the section's interfaces
    /// come after the earlier sections' ones.
    fn file_interface(&self, section_interface: u32) -> u32 {
        match self.container {
            Container::Pcap | Container::Snoop => section_interface,
            Container::PcapNg => {
                (self.total_ifaces - self.ifaces.len() as u32).saturating_add(section_interface)
            }
        }
    }

    pub(super) fn iface(&self, id: u32) -> Result<Interface, CaptureErrorKind> {
        self.ifaces.get(id as usize).copied().ok_or_else(|| {
            CaptureErrorKind::Malformed(format!(
                "packet block: interface {id} was never described (section has {})",
                self.ifaces.len()
            ))
        })
    }

    pub(super) fn handle_block(
        &mut self,
        block: PcapBlockOwned<'_>,
        f: &mut dyn FnMut(&Frame<'_>),
    ) -> Result<(), CaptureErrorKind> {
        let st = self;
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                st.pcap_linktype = (h.network.0 as u32) & 0x0fff_ffff;
                st.pcap_nanos = h.is_nanosecond_precision();
                st.ts_digits = if st.pcap_nanos { 9 } else { 6 };
                st.format = format!(
                    "pcap {}.{} ({}, {}{})",
                    h.version_major,
                    h.version_minor,
                    if h.is_bigendian() {
                        "big-endian"
                    } else {
                        "little-endian"
                    },
                    if h.is_nanosecond_precision() {
                        "ns"
                    } else {
                        "µs"
                    },
                    if h.is_modified_format() {
                        ", modified format"
                    } else {
                        ""
                    }
                );
                st.sections = 1;
                st.total_ifaces = 1;
                Ok(())
            }
            PcapBlockOwned::Legacy(b) => {
                let frac = if st.pcap_nanos {
                    b.ts_usec as i64
                } else {
                    b.ts_usec as i64 * 1000
                };
                let ts = Timestamp::from_parts(b.ts_sec as i64, frac);
                let caplen = (b.caplen as usize).min(b.data.len());
                let lt = st.pcap_linktype;
                st.emit(ts, lt, &b.data[..caplen], b.origlen, 0, f);
                Ok(())
            }
            PcapBlockOwned::NG(block) => st.handle_ng(block, f),
        }
    }

    pub(super) fn handle_ng(
        &mut self,
        block: Block<'_>,
        f: &mut dyn FnMut(&Frame<'_>),
    ) -> Result<(), CaptureErrorKind> {
        let st = self;
        match block {
            Block::SectionHeader(shb) => {
                st.sections += 1;
                st.ng_big_endian = shb.big_endian();
                st.ifaces.clear();
                if st.format.is_empty() {
                    st.format = format!(
                        "pcapng {}.{} ({})",
                        shb.major_version,
                        shb.minor_version,
                        if shb.big_endian() {
                            "big-endian"
                        } else {
                            "little-endian"
                        }
                    );
                }
                Ok(())
            }
            Block::InterfaceDescription(idb) => {
                // An unknown resolution is corruption; fall back to the
                // default (µs) rather than dropping the interface's packets.
                let resolution = ts_resolution(idb.if_tsresol).unwrap_or(1_000_000);
                st.ts_digits = st.ts_digits.max(digits_of(resolution));
                st.total_ifaces += 1;
                let text = |o: Option<Result<&str, _>>| {
                    o.and_then(Result::ok)
                        .map(|s: &str| s.chars().take(MAX_INTERFACE_NAME).collect())
                };
                if st.iface_names.len() < MAX_NAMED_INTERFACES {
                    st.iface_names.push(legs::InterfaceName {
                        name: text(idb.if_name()),
                        description: text(idb.if_description()),
                    });
                }
                st.ifaces.push(Interface {
                    linktype: (idb.linktype.0 as u32) & 0x0fff_ffff,
                    resolution,
                    offset_secs: idb.ts_offset(),
                });
                Ok(())
            }
            Block::EnhancedPacket(epb) => {
                let iface = st.iface(epb.if_id)?;
                let units = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                let ts = ng_timestamp(units, iface);
                let caplen = (epb.caplen as usize).min(epb.data.len());
                st.emit(
                    ts,
                    iface.linktype,
                    &epb.data[..caplen],
                    epb.origlen,
                    epb.if_id,
                    f,
                );
                Ok(())
            }
            Block::SimplePacket(spb) => {
                let iface = st.iface(0)?;
                // A simple packet has no timestamp; reuse the latest one so
                // that time-based logic stays monotonic.
                let ts = st.last_ts.unwrap_or_default();
                let caplen = (spb.origlen as usize).min(spb.data.len());
                st.emit(ts, iface.linktype, &spb.data[..caplen], spb.origlen, 0, f);
                Ok(())
            }
            Block::Unknown(ub) if ub.block_type == OBSOLETE_PACKET_BLOCK => {
                let be = st.ng_big_endian;
                let d = ub.data;
                if d.len() < 20 {
                    return Err(CaptureErrorKind::Malformed(
                        "pcapng obsolete packet block".into(),
                    ));
                }
                let u16_at = |o: usize| {
                    let b = [d[o], d[o + 1]];
                    if be {
                        u16::from_be_bytes(b)
                    } else {
                        u16::from_le_bytes(b)
                    }
                };
                let u32_at = |o: usize| {
                    let b = [d[o], d[o + 1], d[o + 2], d[o + 3]];
                    if be {
                        u32::from_be_bytes(b)
                    } else {
                        u32::from_le_bytes(b)
                    }
                };
                let if_id = u16_at(0) as u32;
                let iface = st.iface(if_id)?;
                let units = ((u32_at(4) as u64) << 32) | u32_at(8) as u64;
                let caplen = (u32_at(12) as usize).min(d.len() - 20);
                let ts = ng_timestamp(units, iface);
                st.emit(
                    ts,
                    iface.linktype,
                    &d[20..20 + caplen],
                    u32_at(16),
                    if_id,
                    f,
                );
                Ok(())
            }
            Block::InterfaceStatistics(isb) => {
                // The interface's index in the whole file: the section's
                // interfaces come after the earlier sections' ones.
                let be = st.ng_big_endian;
                let interface = st.file_interface(isb.if_id);
                st.iface_stats.insert(
                    interface,
                    InterfaceStats {
                        interface,
                        received: isb_counter(&isb, 4, be),
                        if_dropped: isb_counter(&isb, 5, be),
                        filter_accepted: isb_counter(&isb, 6, be),
                        os_dropped: isb_counter(&isb, 7, be),
                    },
                );
                Ok(())
            }
            // Name resolution, secrets, custom blocks: not packets.
            _ => Ok(()),
        }
    }
}

/// The digits of a second that show a timestamp of `resolution` units
/// per second whole: 6 for µs, 9 for ns, 4 for 2^10 (1/1024 s is about
/// 0.001 s, shown to 0.0001); never more than nine (a nanosecond is the
/// finest a [`Timestamp`] holds).
pub(super) fn digits_of(resolution: u64) -> u8 {
    let mut digits = 0;
    let mut step = 1u64;
    while step < resolution && digits < 9 {
        step = step.saturating_mul(10);
        digits += 1;
    }
    digits
}

/// Timestamp units per second of an interface's `if_tsresol`: 10^n, or
/// 2^n when the high bit is set. pcap-parser 0.17's `ts_resolution` tests
/// the value before masking the bit, so every binary resolution (0x80 and
/// up) comes back as unknown; hence our own. `None` when the unit does not
/// fit a u64.
pub(super) fn ts_resolution(tsresol: u8) -> Option<u64> {
    let n = u32::from(tsresol & 0x7f);
    if tsresol & 0x80 == 0 {
        10u64.checked_pow(n)
    } else {
        1u64.checked_shl(n).filter(|_| n < 64)
    }
}

pub(super) fn ng_timestamp(units: u64, iface: Interface) -> Timestamp {
    let r = iface.resolution as u128;
    let u = units as u128;
    let secs = (u / r) as i64;
    let nanos = ((u % r) * 1_000_000_000 / r) as i64;
    Timestamp::from_parts(secs.saturating_add(iface.offset_secs), nanos)
}
