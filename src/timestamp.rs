//! Capture timestamps.
//!
//! Kept as signed nanoseconds since the Unix epoch: pcap gives µs or ns,
//! pcapng any power of 10 or 2 plus an offset, and the two-capture compare
//! needs signed differences. Shown as RFC 3339 in UTC, the time zone every
//! report states.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use time::OffsetDateTime;
use time::macros::format_description;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const NANOS_PER_SEC: i64 = 1_000_000_000;

    pub fn from_parts(secs: i64, nanos: i64) -> Self {
        Timestamp(
            secs.saturating_mul(Self::NANOS_PER_SEC)
                .saturating_add(nanos),
        )
    }

    /// The wall clock now (for events about the run, not the capture).
    pub fn now() -> Self {
        Timestamp(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        )
    }

    pub fn nanos(self) -> i64 {
        self.0
    }

    /// Seconds since the Unix epoch with microseconds, as Zeek logs
    /// write time (`1329327783.207785`).
    pub fn unix_secs_text(self) -> String {
        let secs = self.0.div_euclid(Self::NANOS_PER_SEC);
        let micros = self.0.rem_euclid(Self::NANOS_PER_SEC) / 1000;
        format!("{secs}.{micros:06}")
    }

    /// Seconds from `earlier` to `self` (negative when `self` is earlier).
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        self.0.saturating_sub(earlier.0) as f64 / 1e9
    }

    /// RFC 3339 in UTC with nanoseconds, e.g. `2026-11-24T03:58:33.123456789Z`
    /// (always nine digits, as Wireshark shows them); out of that calendar's
    /// range, the nanoseconds with `ns`.
    pub fn rfc3339(self) -> String {
        let mut buf = [0u8; RFC3339_LEN];
        match self.rfc3339_into(&mut buf) {
            Some(s) => s.to_string(),
            None => self.rfc3339_slow(),
        }
    }

    /// [`Timestamp::rfc3339`] through the `time` crate, for every year.
    fn rfc3339_slow(self) -> String {
        match OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128)
            .ok()
            .and_then(|t| t.format(RFC3339_NANOS).ok())
        {
            Some(s) => s,
            None => format!("{}ns", self.0),
        }
    }

    /// [`Timestamp::rfc3339`] written into `buf` without allocating, for
    /// years 0000–9999 (None otherwise): reports write millions of
    /// timestamps, and consecutive ones share their day, whose date is
    /// computed once and kept.
    fn rfc3339_into(self, buf: &mut [u8; RFC3339_LEN]) -> Option<&str> {
        thread_local! {
            static DAY: std::cell::Cell<(i64, [u8; 10])> = const { std::cell::Cell::new((i64::MIN, [0; 10])) };
        }
        let secs = self.0.div_euclid(Self::NANOS_PER_SEC);
        let nanos = self.0.rem_euclid(Self::NANOS_PER_SEC);
        let (day, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (cached, mut date) = DAY.get();
        if cached != day {
            let d = OffsetDateTime::from_unix_timestamp(day * 86_400)
                .ok()?
                .date();
            if !(0..=9999).contains(&d.year()) {
                return None;
            }
            let text = format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
            date.copy_from_slice(text.as_bytes());
            DAY.set((day, date));
        }
        buf[..10].copy_from_slice(&date);
        buf[10] = b'T';
        let two = |b: &mut [u8], v: i64| {
            b[0] = b'0' + (v / 10) as u8;
            b[1] = b'0' + (v % 10) as u8;
        };
        two(&mut buf[11..13], sod / 3600);
        buf[13] = b':';
        two(&mut buf[14..16], sod / 60 % 60);
        buf[16] = b':';
        two(&mut buf[17..19], sod % 60);
        buf[19] = b'.';
        let mut n = nanos;
        for i in (20..29).rev() {
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        buf[29] = b'Z';
        std::str::from_utf8(buf).ok()
    }

    /// Reads what [`Timestamp::rfc3339`] writes.
    pub fn parse(s: &str) -> Option<Timestamp> {
        if let Some(n) = s.strip_suffix("ns") {
            return n.parse().ok().map(Timestamp);
        }
        let t = time::PrimitiveDateTime::parse(s, RFC3339_NANOS).ok()?;
        i64::try_from(t.assume_utc().unix_timestamp_nanos())
            .ok()
            .map(Timestamp)
    }

    /// The hour of the day in UTC (0–23).
    pub fn hour_utc(self) -> u8 {
        self.0.div_euclid(3600 * Self::NANOS_PER_SEC).rem_euclid(24) as u8
    }

    /// The day in UTC, as days since the Unix epoch.
    pub fn day(self) -> i64 {
        self.0.div_euclid(86_400 * Self::NANOS_PER_SEC)
    }

    /// The date in UTC, `2026-11-24`.
    pub fn date_text(self) -> String {
        let full = self.rfc3339();
        match full.split_once('T') {
            Some((date, _)) => date.to_string(),
            None => full,
        }
    }

    /// The time of day in UTC with `digits` digits of a second (0–9):
    /// `04:29:18.157015` for 6. For people: machine formats write
    /// [`Timestamp::rfc3339`].
    pub fn time_of_day(self, digits: u8) -> String {
        let full = self.rfc3339();
        let Some((_, time)) = full.split_once('T') else {
            return full;
        };
        let time = time.trim_end_matches('Z');
        // `HH:MM:SS.nnnnnnnnn`: keep the dot only with digits after it.
        let keep = match digits.min(9) {
            0 => 8,
            d => 9 + usize::from(d),
        };
        time.get(..keep).unwrap_or(time).to_string()
    }
}

/// `2026-11-24T03:58:33.123456789Z`
const RFC3339_LEN: usize = 30;

const RFC3339_NANOS: &[time::format_description::BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");

/// Time arithmetic saturates: a bit flip in a capture can put a timestamp
/// anywhere in `i64`, and a window or offset around it must not overflow.
impl std::ops::Add<i64> for Timestamp {
    type Output = Timestamp;
    fn add(self, ns: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ns))
    }
}

impl std::ops::Sub<i64> for Timestamp {
    type Output = Timestamp;
    fn sub(self, ns: i64) -> Timestamp {
        Timestamp(self.0.saturating_sub(ns))
    }
}

/// Nanoseconds from `earlier` to `self`, saturating.
impl std::ops::Sub for Timestamp {
    type Output = i64;
    fn sub(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; RFC3339_LEN];
        match self.rfc3339_into(&mut buf) {
            Some(t) => s.serialize_str(t),
            None => s.serialize_str(&self.rfc3339_slow()),
        }
    }
}

impl schemars::JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 in UTC with nine fractional digits: `2026-11-30T20:34:48.123456000Z`."
        })
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not a timestamp: {s:?}")))
    }
}

/// A duration in seconds, rounded for people (3 significant decimals).
pub fn fmt_secs(secs: f64) -> String {
    if secs.abs() >= 10.0 {
        format!("{secs:.1} s")
    } else if secs.abs() >= 0.001 {
        format!("{secs:.3} s")
    } else {
        format!("{:.0} µs", secs * 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_of_day_to_the_capture_precision() {
        let t = Timestamp::parse("2026-11-24T04:29:18.157015123Z").unwrap();
        assert_eq!(t.time_of_day(6), "04:29:18.157015");
        assert_eq!(t.time_of_day(9), "04:29:18.157015123");
        assert_eq!(t.time_of_day(0), "04:29:18");
        assert_eq!(t.date_text(), "2026-11-24");
        assert_eq!(
            t.day(),
            Timestamp::parse("2026-11-24T00:00:00.000000000Z")
                .unwrap()
                .day()
        );
    }

    /// The fast formatter writes what the `time` crate writes, across
    /// days, before 1970, at a leap day and at both ends of the range
    /// (1677–2262).
    #[test]
    fn the_fast_format_is_the_time_crates() {
        let mut ts: Vec<i64> = vec![
            0,
            -1,
            1,
            i64::MIN,
            i64::MAX,
            -86_400 * Timestamp::NANOS_PER_SEC,
            -86_400 * Timestamp::NANOS_PER_SEC - 1,
            951_782_400 * Timestamp::NANOS_PER_SEC - 1,
            951_782_400 * Timestamp::NANOS_PER_SEC,
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ts.push(x as i64 >> (x % 20));
        }
        for t in ts {
            let t = Timestamp(t);
            assert_eq!(t.rfc3339(), t.rfc3339_slow(), "{}", t.0);
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.rfc3339_slow())
            );
        }
    }

    #[test]
    fn formats_utc_with_nanos() {
        let t = Timestamp::from_parts(1_371_506_340, 463_468_000);
        assert_eq!(t.rfc3339(), "2013-06-17T21:59:00.463468000Z");
        assert_eq!(Timestamp(0).rfc3339(), "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn past_2038() {
        let t = Timestamp::from_parts(2_164_233_600, 0);
        assert_eq!(t.rfc3339(), "2038-08-01T00:00:00.000000000Z");
    }

    #[test]
    fn differences() {
        let a = Timestamp::from_parts(10, 0);
        let b = Timestamp::from_parts(12, 500_000_000);
        assert!((b.secs_since(a) - 2.5).abs() < 1e-9);
        assert_eq!(fmt_secs(2.5), "2.500 s");
        assert_eq!(fmt_secs(0.0002), "200 µs");
    }

    #[test]
    fn parses_what_it_writes() {
        for t in [
            Timestamp(0),
            Timestamp::from_parts(1_371_506_340, 463_468_001),
            Timestamp(-1),
            Timestamp(i64::MAX),
        ] {
            assert_eq!(Timestamp::parse(&t.rfc3339()), Some(t), "{t}");
        }
        assert_eq!(Timestamp::parse("yesterday"), None);
        assert_eq!(Timestamp::from_parts(1_371_506_340, 0).hour_utc(), 21);
        assert_eq!(Timestamp(-1).hour_utc(), 23);
    }
}
