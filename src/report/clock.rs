//! How reports for people show a capture's times: the date once, then
//! times of day to the capture's own precision. Machine formats write
//! RFC 3339 with nine digits ([`Timestamp::rfc3339`]).

use crate::capture::CaptureInfo;
use crate::timestamp::Timestamp;

/// How one capture's times are shown to people: the date once (in the
/// capture's summary), then each time of day with as many digits of a
/// second as the capture's timestamps carry; a time on another day than
/// the capture's first keeps its date.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    day: Option<i64>,
    digits: u8,
}

impl Clock {
    pub fn of(info: &CaptureInfo) -> Self {
        Clock {
            day: info.first_ts.map(Timestamp::day),
            digits: if info.ts_digits == 0 {
                9
            } else {
                info.ts_digits
            },
        }
    }

    /// A time of this capture.
    pub fn show(self, t: Timestamp) -> String {
        if Some(t.day()) == self.day {
            t.time_of_day(self.digits)
        } else {
            format!("{} {}", t.date_text(), t.time_of_day(self.digits))
        }
    }

    /// The capture's first and last time: the date once.
    pub fn span(self, first: Timestamp, last: Timestamp) -> String {
        format!(
            "{} {} – {}",
            first.date_text(),
            first.time_of_day(self.digits),
            self.show(last)
        )
    }
}
