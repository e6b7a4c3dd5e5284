//! What a comparison calls its two views: the client-side and the
//! server-side tap of two captures, or the two legs of one file taken on
//! the device itself.
//!
//! Every sentence a comparison writes names the places it saw a line. A
//! firewall engineer who captured on the firewall knows its interfaces,
//! not "taps": there a line *entered* the device on one leg and *left* it
//! on the other, and the report says so with the legs' own names.

use crate::escape::escape_str;
use crate::reassembly::connection::Side;
use crate::rules::ProofKind;

/// One of the two views, by the side of the device it is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tap {
    ClientSide,
    ServerSide,
}

impl Tap {
    /// The view on the side of a line's sender (a command's is the
    /// client side).
    pub fn sender(dir: Side) -> Tap {
        match dir {
            Side::Client => Tap::ClientSide,
            Side::Server => Tap::ServerSide,
        }
    }

    /// The view on the side of a line's receiver.
    pub fn receiver(dir: Side) -> Tap {
        match dir {
            Side::Client => Tap::ServerSide,
            Side::Server => Tap::ClientSide,
        }
    }

    /// The side's own word, as "the client-side tap" uses it.
    pub fn side_word(self) -> &'static str {
        match self {
            Tap::ClientSide => "client",
            Tap::ServerSide => "server",
        }
    }
}

/// The names of the two views.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Views {
    /// The legs read as the client-side and the server-side view, when
    /// the two views are two legs of one file (escaped: they come from
    /// the file).
    legs: Option<[String; 2]>,
    /// The legs are of a file the device itself wrote (`fw monitor`).
    by_device: bool,
}

impl Views {
    /// Two taps (two captures).
    pub fn taps() -> Views {
        Views::default()
    }

    /// The views' leg names, client side first: two legs of one file
    /// where both views are a leg, else two taps.
    pub fn of(client_side: Option<&str>, server_side: Option<&str>) -> Views {
        Views {
            legs: client_side
                .zip(server_side)
                .map(|(c, s)| [escape_str(c), escape_str(s)]),
            by_device: false,
        }
    }

    /// The same views, of a file the device itself wrote when `yes`.
    pub fn written_by_device(mut self, yes: bool) -> Views {
        self.by_device = yes && self.legs.is_some();
        self
    }

    /// Whether the views are legs of a file the device itself wrote: a
    /// change between them happened inside it.
    pub fn by_device(&self) -> bool {
        self.by_device
    }

    /// Whether the views are the legs of one file.
    pub fn are_legs(&self) -> bool {
        self.legs.is_some()
    }

    /// What a difference between the two views proves by.
    pub fn proof(&self) -> ProofKind {
        if self.are_legs() {
            ProofKind::TwoLegs
        } else {
            ProofKind::TwoTaps
        }
    }

    /// What one view is: "tap", or "leg".
    pub fn word(&self) -> &'static str {
        if self.are_legs() { "leg" } else { "tap" }
    }

    /// The two views together: "the taps", "the legs".
    pub fn both(&self) -> &'static str {
        if self.are_legs() {
            "the legs"
        } else {
            "the taps"
        }
    }

    /// Seen by both views: "at both taps", "on both legs".
    pub fn at_both(&self) -> &'static str {
        if self.are_legs() {
            "on both legs"
        } else {
            "at both taps"
        }
    }

    /// What one view captured with, as a sentence's subject: "the tap"
    /// (a tap misses packets), or on a leg "the capture".
    pub fn capturer(&self) -> &'static str {
        if self.are_legs() {
            "the capture"
        } else {
            "the tap"
        }
    }

    /// Where the view other than `t` holds a line: "the other capture",
    /// or "leg fwout".
    pub fn other(&self, t: Tap) -> String {
        match &self.legs {
            Some(l) => format!("leg {}", l[1 - t as usize]),
            None => "the other capture".into(),
        }
    }

    /// Where the view other than `t` saw something: "at the other tap",
    /// or "on leg fwout".
    pub fn elsewhere(&self, t: Tap) -> String {
        match &self.legs {
            Some(l) => format!("on leg {}", l[1 - t as usize]),
            None => "at the other tap".into(),
        }
    }

    /// A view as a noun: "the client-side tap", "leg fwin".
    pub fn name(&self, t: Tap) -> String {
        match &self.legs {
            Some(l) => format!("leg {}", l[t as usize]),
            None => format!("the {}-side tap", t.side_word()),
        }
    }

    /// Where a view saw something: "at the client-side tap", "on leg fwin".
    pub fn at(&self, t: Tap) -> String {
        match &self.legs {
            Some(l) => format!("on leg {}", l[t as usize]),
            None => format!("at the {}-side tap", t.side_word()),
        }
    }

    /// A view's frame: "client-side tap frame 29", "leg fwin frame 29".
    pub fn frame(&self, t: Tap, frame: &str) -> String {
        match &self.legs {
            Some(l) => format!("leg {} frame {frame}", l[t as usize]),
            None => format!("{}-side tap frame {frame}", t.side_word()),
        }
    }

    /// A capture section's title: "Client-side capture", "Client side,
    /// leg fwin".
    pub fn title(&self, t: Tap) -> String {
        let side = match t {
            Tap::ClientSide => "Client",
            Tap::ServerSide => "Server",
        };
        match &self.legs {
            Some(l) => format!("{side} side, leg {}", l[t as usize]),
            None => format!("{side}-side capture"),
        }
    }

    /// A capture as a report's sentences name it: "client-side capture",
    /// "leg fwin".
    pub fn capture_name(&self, t: Tap) -> String {
        match &self.legs {
            Some(l) => format!("leg {}", l[t as usize]),
            None => format!("{}-side capture", t.side_word()),
        }
    }

    /// The view of capture `k` of a comparison (0 the client side).
    pub fn of_capture(k: usize) -> Tap {
        if k == 0 {
            Tap::ClientSide
        } else {
            Tap::ServerSide
        }
    }

    /// A view as a column heading: "client-side tap", "fwin (client side)".
    pub fn heading(&self, t: Tap) -> String {
        match &self.legs {
            Some(l) => format!("{} ({} side)", l[t as usize], t.side_word()),
            None => format!("{}-side tap", t.side_word()),
        }
    }

    /// A line seen on both sides, `sent` as its sender's view saw it and
    /// `received` as its receiver's did (both already quoted for the
    /// report): "`a` at the client-side tap arrived as `b` at the
    /// server-side tap", or on a device's legs "`a` entered on leg fwin
    /// and left on leg fwout as `b`".
    pub fn crossed(&self, dir: Side, sent: &str, received: &str) -> String {
        let (from, to) = (Tap::sender(dir), Tap::receiver(dir));
        match &self.legs {
            Some(l) => format!(
                "`{sent}` entered on leg {} and left on leg {} as `{received}`",
                l[from as usize], l[to as usize]
            ),
            None => format!(
                "`{sent}` at the {}-side tap arrived as `{received}` at the {}-side tap",
                from.side_word(),
                to.side_word()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_keep_their_words() {
        let v = Views::taps();
        assert_eq!(v.name(Tap::ClientSide), "the client-side tap");
        assert_eq!(v.at(Tap::receiver(Side::Client)), "at the server-side tap");
        assert_eq!(v.frame(Tap::ServerSide, "30"), "server-side tap frame 30");
        assert_eq!(
            v.crossed(Side::Client, "PORT 1,2,3,4,5,227", "PORT 1,2,3,4,5,22_"),
            "`PORT 1,2,3,4,5,227` at the client-side tap arrived as `PORT 1,2,3,4,5,22_` at the server-side tap"
        );
    }

    #[test]
    fn legs_say_where_a_line_entered_and_left() {
        let v = Views::of(Some("fwin"), Some("fwout"));
        assert!(v.are_legs());
        // A reply enters on the server's leg and leaves on the client's.
        assert_eq!(
            v.crossed(Side::Server, "227 x", "227 y"),
            "`227 x` entered on leg fwout and left on leg fwin as `227 y`"
        );
        assert_eq!(v.at(Tap::ClientSide), "on leg fwin");
        assert_eq!(v.heading(Tap::ServerSide), "fwout (server side)");
    }

    #[test]
    fn only_legs_are_written_by_the_device() {
        assert!(
            Views::of(Some("fwin"), Some("fwout"))
                .written_by_device(true)
                .by_device()
        );
        assert!(!Views::taps().written_by_device(true).by_device());
    }

    #[test]
    fn one_view_without_a_leg_is_two_taps() {
        assert!(!Views::of(Some("fwin"), None).are_legs());
    }

    #[test]
    fn leg_names_from_the_file_are_escaped() {
        let v = Views::of(Some("eth\u{1b}[31m"), Some("b"));
        assert!(!v.name(Tap::ClientSide).contains('\u{1b}'));
    }
}
