//! `Timestamp`: a UTC instant written as KernelCI writes it, naive ISO-8601 without a zone.
use std::fmt;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A UTC instant with millisecond precision, the precision both stores keep.
///
/// On the wire it is `2024-02-01T09:58:28.479000` (microseconds printed as six digits when
/// non-zero, left out when zero), the format of the Python server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
// A string in the document: JSON Schema's `date-time` format requires a zone, which these
// values never carry.
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(value_type = String, example = "2024-02-01T09:58:28.479000")
)]
pub struct Timestamp(NaiveDateTime);

impl Timestamp {
    /// The current time, truncated to milliseconds.
    pub fn now() -> Self {
        Self::from_utc(Utc::now().naive_utc())
    }

    /// The current time, or one millisecond after `previous` when the clock is not past it:
    /// the `updated` of a new version of a node, strictly later than the version it
    /// replaces, so that versions are told apart by it (conditional writes rely on that).
    pub fn next_after(previous: Self) -> Self {
        let now = Self::now();
        if now > previous {
            now
        } else {
            Self(previous.0 + Duration::milliseconds(1))
        }
    }

    /// Wraps a naive UTC time, truncating it to milliseconds.
    pub fn from_utc(t: NaiveDateTime) -> Self {
        let ms = t.nanosecond() / 1_000_000 * 1_000_000;
        Self(t.with_nanosecond(ms).unwrap_or(t))
    }

    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0.and_utc().timestamp_millis()
    }

    /// The instant `ms` milliseconds after the Unix epoch, if representable.
    pub fn from_millis(ms: i64) -> Option<Self> {
        DateTime::from_timestamp_millis(ms).map(|t| Self(t.naive_utc()))
    }

    /// The naive UTC value.
    pub fn naive(self) -> NaiveDateTime {
        self.0
    }

    /// This instant plus `seconds`.
    pub fn plus_seconds(self, seconds: i64) -> Self {
        Self(self.0 + Duration::seconds(seconds))
    }

    /// Parses a datetime the way Python's `datetime.fromisoformat` (3.11) does: `YYYY-MM-DD`,
    /// `YYYY-MM-DDTHH[:MM[:SS[.f...]]]`, a space instead of `T`, the basic forms without
    /// separators, and a `Z` or `±HH[:MM]` suffix. Values without a zone are UTC.
    pub fn parse_iso(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.len() < 8 || !s.is_ascii() {
            return None;
        }
        let (date_part, rest) = split_date(s)?;
        let date = parse_date(date_part)?;
        let Some(rest) = rest else {
            return Some(Self::from_utc(date.and_time(NaiveTime::MIN)));
        };
        let (time_part, offset) = split_offset(rest)?;
        let time = parse_time(time_part)?;
        let naive = date.and_time(time);
        let utc = match offset {
            Some(off) => naive - Duration::seconds(i64::from(off.local_minus_utc())),
            None => naive,
        };
        Some(Self::from_utc(utc))
    }

    /// Interprets a JSON number as pydantic does: seconds since the epoch, or milliseconds
    /// when the value is larger than 2e10.
    pub fn from_epoch_number(n: f64) -> Option<Self> {
        if !n.is_finite() {
            return None;
        }
        let ms = if n.abs() > 2e10 { n } else { n * 1000.0 };
        Self::from_millis(ms.round() as i64)
    }
}

fn split_date(s: &str) -> Option<(&str, Option<&str>)> {
    // Extended date is 10 chars (YYYY-MM-DD), basic is 8 (YYYYMMDD).
    let date_len = if s.as_bytes().get(4) == Some(&b'-') {
        10
    } else {
        8
    };
    if s.len() < date_len {
        return None;
    }
    let (date, rest) = s.split_at(date_len);
    if rest.is_empty() {
        return Some((date, None));
    }
    let sep = rest.as_bytes()[0];
    if sep != b'T' && sep != b' ' {
        return None;
    }
    Some((date, Some(&rest[1..])))
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let fmt = if s.len() == 10 { "%Y-%m-%d" } else { "%Y%m%d" };
    if !s
        .bytes()
        .enumerate()
        .all(|(i, b)| b.is_ascii_digit() || (s.len() == 10 && (i == 4 || i == 7) && b == b'-'))
    {
        return None;
    }
    // Years 1 to 9999, as Python's `datetime` (and so the Python server) takes them; MongoDB
    // drivers refuse year 0 too.
    NaiveDate::parse_from_str(s, fmt)
        .ok()
        .filter(|d| d.year() >= 1)
}

fn split_offset(s: &str) -> Option<(&str, Option<FixedOffset>)> {
    if let Some(t) = s.strip_suffix('Z') {
        return Some((t, FixedOffset::east_opt(0)));
    }
    let Some(pos) = s.find(['+', '-']) else {
        return Some((s, None));
    };
    let (time, off) = s.split_at(pos);
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let digits: String = off[1..].chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4 | 6) {
        return None;
    }
    let h: i32 = digits[0..2].parse().ok()?;
    let m: i32 = digits.get(2..4).map_or(Some(0), |d| d.parse().ok())?;
    let sec: i32 = digits.get(4..6).map_or(Some(0), |d| d.parse().ok())?;
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some((
        time,
        FixedOffset::east_opt(sign * (h * 3600 + m * 60 + sec)),
    ))
}

fn parse_time(s: &str) -> Option<NaiveTime> {
    let (hms, frac) = match s.find(['.', ',']) {
        Some(p) => (&s[..p], Some(&s[p + 1..])),
        None => (s, None),
    };
    let digits: String = hms.chars().filter(|c| *c != ':').collect();
    let extended = hms.contains(':');
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4 | 6) {
        return None;
    }
    if extended && hms.len() != digits.len() + digits.len() / 2 - 1 {
        return None;
    }
    let h: u32 = digits[0..2].parse().ok()?;
    let m: u32 = digits.get(2..4).map_or(Some(0), |d| d.parse().ok())?;
    let sec: u32 = digits.get(4..6).map_or(Some(0), |d| d.parse().ok())?;
    let nanos = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{f:0<9}").parse().ok()?
        }
        Some(_) => return None,
    };
    if frac.is_some() && digits.len() != 6 {
        return None;
    }
    NaiveTime::from_hms_nano_opt(h, m, sec, nanos)
}

/// The longest text of a [`Timestamp`]: `YYYY-MM-DDTHH:MM:SS.ffffff`.
const ISO_MAX: usize = 26;

impl Timestamp {
    /// The wire text written into `buf` (digit by digit: `write!` with padded integers cost
    /// ~2,600 instructions a timestamp, and every node carries four), or `None` for a year
    /// outside 0-9999, which has no four-digit form, and a leap second: [`Timestamp::write_slow`]
    /// writes those.
    fn iso_into(self, buf: &mut [u8; ISO_MAX]) -> Option<&str> {
        fn digits(out: &mut [u8], mut v: u32) {
            for b in out.iter_mut().rev() {
                *b = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
        let (d, t) = (self.0.date(), self.0.time());
        let year = u32::try_from(d.year()).ok().filter(|y| *y <= 9999)?;
        digits(&mut buf[0..4], year);
        buf[4] = b'-';
        digits(&mut buf[5..7], d.month());
        buf[7] = b'-';
        digits(&mut buf[8..10], d.day());
        buf[10] = b'T';
        digits(&mut buf[11..13], t.hour());
        buf[13] = b':';
        digits(&mut buf[14..16], t.minute());
        buf[16] = b':';
        digits(&mut buf[17..19], t.second());
        // A leap second (chrono's nanoseconds past 10^9) is left to the general form.
        let micros = Some(t.nanosecond() / 1000).filter(|m| *m < 1_000_000)?;
        let len = if micros == 0 {
            19
        } else {
            buf[19] = b'.';
            digits(&mut buf[20..26], micros);
            ISO_MAX
        };
        std::str::from_utf8(&buf[..len]).ok()
    }

    /// The general form of the wire text, through `write!`.
    fn write_slow(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (d, t) = (self.0.date(), self.0.time());
        let micros = t.nanosecond() / 1000;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            d.year(),
            d.month(),
            d.day(),
            t.hour(),
            t.minute(),
            t.second()
        )?;
        if micros != 0 {
            write!(f, ".{micros:06}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.iso_into(&mut [0; ISO_MAX]) {
            Some(text) => f.write_str(text),
            None => self.write_slow(f),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.iso_into(&mut [0; ISO_MAX]) {
            Some(text) => s.serialize_str(text),
            None => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO-8601 datetime or a Unix timestamp")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                Timestamp::parse_iso(v)
                    .ok_or_else(|| E::custom(format!("Input should be a valid datetime: '{v}'")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                Timestamp::from_epoch_number(v)
                    .ok_or_else(|| E::custom("Input should be a valid datetime"))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digit-by-digit text is the one `write!` gives, for every field's extremes.
    #[test]
    fn fast_text_matches_the_general_form() {
        struct Slow(Timestamp);
        impl fmt::Display for Slow {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.write_slow(f)
            }
        }
        for text in [
            "0001-01-01T00:00:00",
            "0999-12-31T23:59:59.999",
            "2024-02-01T09:58:28.479",
            "2024-02-29T07:08:09.001",
            "2026-10-10T10:10:10.100",
            "9999-12-31T23:59:59.999",
        ] {
            let t = Timestamp::parse_iso(text).unwrap();
            let fast = t.iso_into(&mut [0; ISO_MAX]).unwrap().to_owned();
            assert_eq!(fast, Slow(t).to_string(), "{text}");
            assert_eq!(t.to_string(), fast);
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{fast}\""));
        }
    }

    #[test]
    fn prints_like_python_isoformat() {
        let t = Timestamp::parse_iso("2024-02-01T09:58:28.479").unwrap();
        assert_eq!(t.to_string(), "2024-02-01T09:58:28.479000");
        let t = Timestamp::parse_iso("2024-01-01").unwrap();
        assert_eq!(t.to_string(), "2024-01-01T00:00:00");
    }

    #[test]
    fn parses_the_fromisoformat_forms() {
        let utc = Timestamp::parse_iso("2025-01-01T12:00:00").unwrap();
        for s in [
            "2025-01-01T12:00:00Z",
            "2025-01-01T14:00:00+02:00",
            "2025-01-01T10:00:00-0200",
            "2025-01-01 12:00",
            "20250101T120000",
            "2025-01-01T12",
            "2025-01-01T12:00:00.000000+00:00",
        ] {
            assert_eq!(Timestamp::parse_iso(s), Some(utc), "{s}");
        }
        for bad in [
            "",
            "yesterday",
            "2025-13-01",
            "2025-01-01T25:00",
            "2025-01-01X12",
            "12",
        ] {
            assert_eq!(Timestamp::parse_iso(bad), None, "{bad}");
        }
    }

    #[test]
    fn next_after_is_strictly_later() {
        let future = Timestamp::now().plus_seconds(3600);
        assert_eq!(Timestamp::next_after(future).millis(), future.millis() + 1);
        let past = Timestamp::from_millis(0).unwrap();
        assert!(Timestamp::next_after(past) > past);
    }

    #[test]
    fn truncates_to_milliseconds() {
        let t = Timestamp::parse_iso("2025-01-01T00:00:00.123456").unwrap();
        assert_eq!(t.to_string(), "2025-01-01T00:00:00.123000");
        assert_eq!(Timestamp::from_millis(t.millis()), Some(t));
    }

    #[test]
    fn accepts_epoch_numbers() {
        let t: Timestamp = serde_json::from_str("1700000000").unwrap();
        assert_eq!(t.to_string(), "2023-11-14T22:13:20");
    }
}
