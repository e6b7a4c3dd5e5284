//! Check Point `fw monitor` files: the FW-1 header in place of Ethernet's.
//!
//! `fw monitor -o FILE` writes a snoop file (see [`super::snoop`]) of
//! Ethernet link type whose 14-byte link header is not Ethernet's: the
//! first byte is the inspection point the packet was seen at, the second
//! the chain position, bytes 2–11 the interface's name (NUL-padded), and
//! bytes 12–13 the real EtherType of the IP packet that follows. Read as
//! Wireshark reads it: its Ethernet dissector (`epan/dissectors/packet-eth.c`,
//! `dissect_eth_common`, preference `eth.interpret_as_fw1_monitor`) hands an
//! Ethernet II frame (type field past the 802.3 lengths) to the FW-1
//! dissector when the first byte is `i`, `I`, `o`, `O`, `e` or `E`, and
//! `dissect_fw1` (`epan/dissectors/packet-fw1.c`) takes the direction from
//! byte 0 and the interface from bytes 2–11, a string that ends at its
//! first NUL, in ASCII.
//!
//! Wireshark needs the preference because the format cannot be told from
//! snoop's; portmortem reads the header without being asked, in snoop files
//! only, because those six bytes as the first byte of a destination MAC
//! have the group bit set: a multicast address, which no unicast TCP segment
//! is ever sent to.
//!
//! Not read (Wireshark reads them only when told, by preferences that are
//! off by default): the chain position (`fw1.iflist_with_chain`) and the
//! UUID that `fw monitor -u|-s` writes in bytes 8–11 (`fw1.with_uuid`, which
//! shortens the name to 6 bytes). In such a file a name of six characters
//! or more runs into the UUID's bytes, as it does in Wireshark by default.

use serde::Serialize;

/// Where inside the device `fw monitor` saw a packet. `i` and `O` are the
/// packet as on the wire of the interface (entering before the device
/// touched it, leaving after it is done); the others are the same packet
/// inside the device.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
pub enum Point {
    /// `i`: inbound, before the firewall's inspection (pre-inbound).
    #[serde(rename = "i")]
    PreInbound,
    /// `I`: inbound, after the inspection (post-inbound).
    #[serde(rename = "I")]
    PostInbound,
    /// `o`: outbound, before the inspection (pre-outbound).
    #[serde(rename = "o")]
    PreOutbound,
    /// `O`: outbound, after the inspection (post-outbound).
    #[serde(rename = "O")]
    PostOutbound,
    /// `e`: a point Wireshark's Ethernet dissector also accepts (Check
    /// Point's VPN encryption points); inside the device.
    #[serde(rename = "e")]
    PreEncrypt,
    /// `E`: likewise.
    #[serde(rename = "E")]
    PostEncrypt,
}

impl Point {
    /// Every point, in the order reports list them.
    pub const ALL: [Point; 6] = [
        Point::PreInbound,
        Point::PostInbound,
        Point::PreOutbound,
        Point::PostOutbound,
        Point::PreEncrypt,
        Point::PostEncrypt,
    ];

    /// The point a header's first byte names.
    pub fn from_byte(b: u8) -> Option<Point> {
        Some(match b {
            b'i' => Point::PreInbound,
            b'I' => Point::PostInbound,
            b'o' => Point::PreOutbound,
            b'O' => Point::PostOutbound,
            b'e' => Point::PreEncrypt,
            b'E' => Point::PostEncrypt,
            _ => return None,
        })
    }

    /// The letter `fw monitor` and Wireshark (`fw1.direction`) use.
    pub fn letter(self) -> char {
        match self {
            Point::PreInbound => 'i',
            Point::PostInbound => 'I',
            Point::PreOutbound => 'o',
            Point::PostOutbound => 'O',
            Point::PreEncrypt => 'e',
            Point::PostEncrypt => 'E',
        }
    }

    /// Whether the packet is as on the interface's wire: entering it
    /// before the device touched it (`i`) or leaving it when the device is
    /// done (`O`). A capture taken on that interface would hold these.
    pub fn on_wire(self) -> bool {
        matches!(self, Point::PreInbound | Point::PostOutbound)
    }
}

/// Bytes of the FW-1 header, where Ethernet's would be.
pub const HEADER_LEN: usize = 14;

/// Bytes of the interface name (`dissect_fw1`'s `iface_len`).
const NAME_LEN: usize = 10;

/// The point and the interface's name bytes of a frame of a snoop file
/// of Ethernet link type, when its link header is FW-1's: an Ethernet II
/// type (at least 0x0600, as `dissect_eth_common` requires before asking)
/// and a point letter first. The name stops at its first NUL.
pub fn header(data: &[u8]) -> Option<(Point, &[u8])> {
    let h = data.get(..HEADER_LEN)?;
    if u16::from_be_bytes([h[12], h[13]]) < 0x0600 {
        return None;
    }
    let point = Point::from_byte(h[0])?;
    let name = &h[2..2 + NAME_LEN];
    let end = name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
    Some((point, &name[..end]))
}

/// An interface name as tshark shows `fw1.interface` (an ASCII string:
/// each byte past 0x7f is U+FFFD); control characters are escaped where
/// it is written, as every name from outside is.
pub fn name_text(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| if b < 0x80 { b as char } else { '\u{fffd}' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fw1(point: u8, name: &[u8]) -> Vec<u8> {
        let mut v = vec![point, 0];
        let mut n = name.to_vec();
        n.resize(NAME_LEN, 0);
        v.extend_from_slice(&n);
        v.extend_from_slice(&[0x08, 0x00, 0x45]);
        v
    }

    #[test]
    fn the_point_and_the_name_up_to_its_nul() {
        assert_eq!(
            header(&fw1(b'i', b"eth1")),
            Some((Point::PreInbound, &b"eth1"[..]))
        );
        assert_eq!(
            header(&fw1(b'O', b"bond0.1234")),
            Some((Point::PostOutbound, &b"bond0.1234"[..]))
        );
        // Not a point letter, an 802.3 length, too short: Ethernet.
        assert_eq!(header(&fw1(b'x', b"eth1")), None);
        let mut len = fw1(b'i', b"eth1");
        len[12..14].copy_from_slice(&[0x05, 0xdc]);
        assert_eq!(header(&len), None);
        assert_eq!(header(b"iI"), None);
    }

    #[test]
    fn i_and_o_upper_are_the_wire_points() {
        let wire: Vec<char> = Point::ALL
            .iter()
            .filter(|p| p.on_wire())
            .map(|p| p.letter())
            .collect();
        assert_eq!(wire, ['i', 'O']);
        for p in Point::ALL {
            assert_eq!(Point::from_byte(p.letter() as u8), Some(p));
        }
    }

    #[test]
    fn names_read_as_ascii() {
        assert_eq!(name_text(b"eth\x01\xc3\xa9"), "eth\u{1}\u{fffd}\u{fffd}");
    }
}
