//! DATE / DATETIME / TIMESTAMP / TIME values and time zones.
//!
//! Owns [`Time`] (TiDB's packed u64 of row values, `types/time.go` `ToPackedUint`, and the
//! reading of the `CoreTime` bit layout used inside binary JSON, `types/core_time.go`, which
//! only the emulator writes), [`Duration`]
//! (nanoseconds, as Go's `time.Duration`), [`TimeZone`] and the conversions TiCDC applies:
//! TIMESTAMP values are stored in UTC and rendered in the changefeed's zone.
//! Guarantees: text renders exactly like TiDB's `Time.String()` / `Duration.String()`
//! (fraction truncated to the column fsp); packing round-trips; no panics on any input.

use std::fmt;
use std::str::FromStr;

use chrono::{
    Datelike, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, TimeZone as _, Timelike,
};

/// Which temporal column type a [`Time`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeType {
    Date,
    Datetime,
    Timestamp,
}

/// A DATE, DATETIME or TIMESTAMP value with its fractional-seconds precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Time {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    pub microsecond: u32,
    pub tp: TimeType,
    /// Digits of fraction rendered (0..=6).
    pub fsp: u8,
}

impl Time {
    /// The zero value `0000-00-00 00:00:00`.
    pub fn zero(tp: TimeType, fsp: u8) -> Self {
        Time {
            year: 0,
            month: 0,
            day: 0,
            hour: 0,
            minute: 0,
            second: 0,
            microsecond: 0,
            tp,
            fsp: fsp.min(6),
        }
    }

    /// Whether every field is zero.
    pub fn is_zero(&self) -> bool {
        self.to_packed() == 0
    }

    /// Unpacks TiDB's packed u64 (`FromPackedUint`); 0 is the zero time.
    pub fn from_packed(packed: u64, tp: TimeType, fsp: u8) -> Self {
        let ymdhms = packed >> 24;
        let ymd = ymdhms >> 17;
        let ym = ymd >> 5;
        let hms = ymdhms & ((1 << 17) - 1);
        Time {
            year: (ym / 13) as u16,
            month: (ym % 13) as u8,
            day: (ymd & 31) as u8,
            hour: (hms >> 12) as u8,
            minute: ((hms >> 6) & 63) as u8,
            second: (hms & 63) as u8,
            microsecond: (packed & ((1 << 24) - 1)) as u32,
            tp,
            fsp: fsp.min(6),
        }
    }

    /// Packs like TiDB's `ToPackedUint`.
    pub fn to_packed(&self) -> u64 {
        let ymd = ((u64::from(self.year) * 13 + u64::from(self.month)) << 5) | u64::from(self.day);
        let hms =
            (u64::from(self.hour) << 12) | (u64::from(self.minute) << 6) | u64::from(self.second);
        (((ymd << 17) | hms) << 24) | u64::from(self.microsecond)
    }

    /// Reads TiDB's `CoreTime` layout (binary JSON date/datetime/timestamp values): year 14
    /// bits at 50, month 4 at 46, day 5 at 41, hour 5 at 36, minute 6 at 30, second 6 at 24,
    /// microsecond 20 at 4.
    pub fn from_core_time(v: u64, tp: TimeType, fsp: u8) -> Self {
        let field = |off: u32, width: u32| (v >> off) & ((1u64 << width) - 1);
        Time {
            year: field(50, 14) as u16,
            month: field(46, 4) as u8,
            day: field(41, 5) as u8,
            hour: field(36, 5) as u8,
            minute: field(30, 6) as u8,
            second: field(24, 6) as u8,
            microsecond: field(4, 20) as u32,
            tp,
            fsp: fsp.min(6),
        }
    }

    fn to_naive(self) -> Option<NaiveDateTime> {
        NaiveDate::from_ymd_opt(
            i32::from(self.year),
            u32::from(self.month),
            u32::from(self.day),
        )?
        .and_hms_micro_opt(
            u32::from(self.hour),
            u32::from(self.minute),
            u32::from(self.second),
            self.microsecond,
        )
    }

    fn with_naive(self, n: NaiveDateTime) -> Option<Self> {
        Some(Time {
            year: u16::try_from(n.year()).ok()?,
            month: n.month() as u8,
            day: n.day() as u8,
            hour: n.hour() as u8,
            minute: n.minute() as u8,
            second: n.second() as u8,
            microsecond: n.nanosecond() / 1000,
            ..self
        })
    }

    /// Converts a UTC wall time to `tz` (TiDB `ConvertTimeZone(UTC, loc)`); the zero time is
    /// returned unchanged. Fails for a date that does not exist (TiDB fails too).
    pub fn utc_to_zone(&self, tz: &TimeZone) -> Result<Time, String> {
        if self.is_zero() {
            return Ok(*self);
        }
        let n = self
            .to_naive()
            .ok_or_else(|| format!("{self} is not a valid time to convert to {tz}"))?;
        let local = match tz {
            TimeZone::Utc => n,
            TimeZone::Fixed(o) => o.from_utc_datetime(&n).naive_local(),
            TimeZone::Named(z) => z.from_utc_datetime(&n).naive_local(),
        };
        self.with_naive(local)
            .ok_or_else(|| format!("{self} in {tz} is out of range"))
    }

    /// Converts a wall time in `tz` to UTC (TiDB `ConvertTimeZone(loc, UTC)`); a time that
    /// occurs twice is read as its first occurrence, a time skipped by DST is an error.
    pub fn zone_to_utc(&self, tz: &TimeZone) -> Result<Time, String> {
        if self.is_zero() {
            return Ok(*self);
        }
        let n = self
            .to_naive()
            .ok_or_else(|| format!("{self} is not a valid time in {tz}"))?;
        let utc = match tz {
            TimeZone::Utc => Some(n),
            TimeZone::Fixed(o) => first(o.from_local_datetime(&n)).map(|t| t.naive_utc()),
            TimeZone::Named(z) => first(z.from_local_datetime(&n)).map(|t| t.naive_utc()),
        }
        .ok_or_else(|| format!("{self} does not exist in {tz}"))?;
        self.with_naive(utc)
            .ok_or_else(|| format!("{self} in UTC is out of range"))
    }
}

fn first<T>(r: LocalResult<T>) -> Option<T> {
    match r {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t),
        LocalResult::None => None,
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)?;
        if self.tp == TimeType::Date {
            return Ok(());
        }
        write!(f, " {:02}:{:02}:{:02}", self.hour, self.minute, self.second)?;
        if self.fsp > 0 {
            let frac = format!("{:06}", self.microsecond);
            let n = usize::from(self.fsp.min(6));
            write!(f, ".{}", &frac[..n])?;
        }
        Ok(())
    }
}

/// A TIME value: signed nanoseconds (Go `time.Duration`) and fsp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Duration {
    pub nanos: i64,
    pub fsp: u8,
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos < 0 {
            f.write_str("-")?;
        }
        let t = self.nanos.unsigned_abs();
        let hours = t / 3_600_000_000_000;
        let minutes = t / 60_000_000_000 % 60;
        let seconds = t / 1_000_000_000 % 60;
        let micros = t % 1_000_000_000 / 1000;
        write!(f, "{hours:02}:{minutes:02}:{seconds:02}")?;
        if self.fsp > 0 {
            let frac = format!("{micros:06}");
            write!(f, ".{}", &frac[..usize::from(self.fsp.min(6))])?;
        }
        Ok(())
    }
}

/// The zone TIMESTAMP values are rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeZone {
    Utc,
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl FromStr for TimeZone {
    type Err = String;

    /// `UTC`, a fixed offset `+08:00` / `-05:30`, or an IANA name `Asia/Shanghai`.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("utc") || s == "Z" {
            return Ok(TimeZone::Utc);
        }
        if let Some(sign) = s.chars().next().filter(|c| *c == '+' || *c == '-') {
            let (h, m) = s[1..]
                .split_once(':')
                .ok_or_else(|| format!("time zone offset {s:?} is not ±HH:MM"))?;
            let h: i32 = h.parse().map_err(|_| format!("bad hours in {s:?}"))?;
            let m: i32 = m.parse().map_err(|_| format!("bad minutes in {s:?}"))?;
            let secs = (h * 3600 + m * 60) * if sign == '-' { -1 } else { 1 };
            return FixedOffset::east_opt(secs)
                .map(TimeZone::Fixed)
                .ok_or_else(|| format!("time zone offset {s:?} out of range"));
        }
        s.parse::<chrono_tz::Tz>()
            .map(TimeZone::Named)
            .map_err(|e| format!("unknown time zone {s:?}: {e}"))
    }
}

/// The time zone a `time-zone` setting names: `System` is the `TZ` variable, else the zone
/// `/etc/localtime` links to, else UTC; anything else as [`TimeZone::from_str`] reads it.
pub fn resolve_time_zone(name: &str) -> Result<TimeZone, String> {
    if !name.eq_ignore_ascii_case("system") {
        return name.parse();
    }
    if let Ok(tz) = std::env::var("TZ")
        && let Ok(z) = tz.trim_start_matches(':').parse()
    {
        return Ok(z);
    }
    if let Ok(target) = std::fs::read_link("/etc/localtime") {
        let t = target.to_string_lossy();
        if let Some((_, name)) = t.split_once("zoneinfo/")
            && let Ok(z) = name.parse()
        {
            return Ok(z);
        }
    }
    Ok(TimeZone::Utc)
}

impl TimeZone {
    /// The Unix time in milliseconds of the wall-clock time `local` in this zone; an error
    /// names a local time that a daylight-saving change skips or repeats.
    pub fn local_to_unix_millis(self, local: chrono::NaiveDateTime) -> Result<i64, String> {
        use chrono::TimeZone as _;
        use chrono::offset::LocalResult;
        let r = match self {
            TimeZone::Utc => return Ok(local.and_utc().timestamp_millis()),
            TimeZone::Fixed(o) => o.from_local_datetime(&local).map(|t| t.timestamp_millis()),
            TimeZone::Named(z) => z.from_local_datetime(&local).map(|t| t.timestamp_millis()),
        };
        match r {
            LocalResult::Single(ms) => Ok(ms),
            LocalResult::Ambiguous(a, b) => Err(format!(
                "{local} happens twice in time zone {self} (a daylight-saving change): write it as an RFC 3339 time with its offset, e.g. {}",
                chrono::DateTime::from_timestamp_millis(a.min(b))
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            )),
            LocalResult::None => Err(format!(
                "{local} does not exist in time zone {self} (skipped by a daylight-saving change)"
            )),
        }
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeZone::Utc => f.write_str("UTC"),
            TimeZone::Fixed(o) => write!(f, "{o}"),
            TimeZone::Named(z) => f.write_str(z.name()),
        }
    }
}

/// Splits `digits` (fraction text) into microseconds rounded half up to `fsp` digits; returns
/// (microseconds, carry into the next second).
fn round_fraction(digits: &str, fsp: u8) -> Result<(u32, bool), String> {
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("bad fraction {digits:?}"));
    }
    let fsp = usize::from(fsp.min(6));
    let mut d: Vec<u8> = digits.bytes().map(|c| c - b'0').collect();
    let up = d.len() > fsp && d[fsp] >= 5;
    d.truncate(fsp);
    d.resize(6, 0);
    let mut micro = d.iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    if up {
        micro += 10u32.pow((6 - fsp) as u32);
    }
    Ok(if micro >= 1_000_000 {
        (micro - 1_000_000, true)
    } else {
        (micro, false)
    })
}

/// Parses `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` (the form TiDB stores defaults in); the fraction
/// is rounded to `fsp`. Zero dates are accepted.
pub fn parse_time(text: &str, tp: TimeType, fsp: u8) -> Result<Time, String> {
    let bad = || format!("bad time {text:?}");
    let t = text.trim();
    let (date, clock) = t.split_once([' ', 'T']).unwrap_or((t, ""));
    let mut dp = date.splitn(3, '-');
    let num = |it: &mut dyn Iterator<Item = &str>| -> Result<u32, String> {
        it.next()
            .and_then(|s| s.parse::<u32>().ok())
            .ok_or_else(bad)
    };
    let (y, mo, d) = (num(&mut dp)?, num(&mut dp)?, num(&mut dp)?);
    let (mut h, mut mi, mut s, mut micro) = (0, 0, 0, 0u32);
    let mut carry = false;
    if !clock.is_empty() {
        let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
        let mut cp = hms.splitn(3, ':');
        h = num(&mut cp)?;
        mi = num(&mut cp)?;
        s = num(&mut cp)?;
        (micro, carry) = round_fraction(frac, fsp)?;
    }
    if y > 9999 || mo > 12 || d > 31 || h > 23 || mi > 59 || s > 59 {
        return Err(bad());
    }
    let mut out = Time {
        year: y as u16,
        month: mo as u8,
        day: d as u8,
        hour: h as u8,
        minute: mi as u8,
        second: s as u8,
        microsecond: micro,
        tp,
        fsp: fsp.min(6),
    };
    if tp == TimeType::Date {
        out.hour = 0;
        out.minute = 0;
        out.second = 0;
        out.microsecond = 0;
    } else if carry {
        let n = out.to_naive().ok_or_else(bad)? + chrono::TimeDelta::seconds(1);
        out = out.with_naive(n).ok_or_else(bad)?;
    }
    Ok(out)
}

/// Parses `[-]HH:MM:SS[.ffffff]` (hours may exceed 24), rounding the fraction to `fsp`.
pub fn parse_duration(text: &str, fsp: u8) -> Result<Duration, String> {
    let bad = || format!("bad time value {text:?}");
    let t = text.trim();
    let (neg, t) = t.strip_prefix('-').map_or((false, t), |r| (true, r));
    let (hms, frac) = t.split_once('.').unwrap_or((t, ""));
    let parts: Vec<&str> = hms.split(':').collect();
    let nums: Vec<i64> = parts
        .iter()
        .map(|p| p.parse::<i64>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let (h, m, s) = match nums[..] {
        [h, m, s] => (h, m, s),
        [h, m] => (h, m, 0),
        _ => return Err(bad()),
    };
    let (micro, carry) = round_fraction(frac, fsp)?;
    let secs = h * 3600 + m * 60 + s + i64::from(carry);
    let nanos = secs
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(i64::from(micro) * 1000))
        .ok_or_else(bad)?;
    Ok(Duration {
        nanos: if neg { -nanos } else { nanos },
        fsp: fsp.min(6),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// V9: TIDB pkg/util/rowcodec/rowcodec_test.go TestTypesNewRowCodec,
    /// timestamp(6) 2011-11-10 11:11:11.999999 packs to 1840446893366133311.
    #[test]
    fn packed_v9() {
        let t = parse_time("2011-11-10 11:11:11.999999", TimeType::Timestamp, 6).unwrap();
        assert_eq!(t.to_packed(), 1840446893366133311);
        let back = Time::from_packed(1840446893366133311, TimeType::Timestamp, 6);
        assert_eq!(back.to_string(), "2011-11-10 11:11:11.999999");
    }

    /// V10: datetime 2018-01-19 03:14:07 packs to 1846166006251126784 (V4 column 13).
    #[test]
    fn packed_v10() {
        let t = Time::from_packed(1846166006251126784, TimeType::Datetime, 0);
        assert_eq!(t.to_string(), "2018-01-19 03:14:07");
        assert_eq!(t.to_packed(), 1846166006251126784);
    }

    #[test]
    fn rendering_like_tidb() {
        let t = Time::from_packed(0, TimeType::Datetime, 3);
        assert_eq!(t.to_string(), "0000-00-00 00:00:00.000");
        assert_eq!(
            Time::from_packed(0, TimeType::Date, 0).to_string(),
            "0000-00-00"
        );
        let t = parse_time("2024-01-02 03:04:05.123456", TimeType::Datetime, 3).unwrap();
        assert_eq!(t.to_string(), "2024-01-02 03:04:05.123");
        let t = parse_time("2024-01-02 23:59:59.9999996", TimeType::Datetime, 6).unwrap();
        assert_eq!(t.to_string(), "2024-01-03 00:00:00.000000");
        let d = Duration {
            nanos: -(838 * 3600 + 59 * 60 + 59) * 1_000_000_000,
            fsp: 6,
        };
        assert_eq!(d.to_string(), "-838:59:59.000000");
        // V4 column 16: 1 s with fsp 0
        assert_eq!(
            Duration {
                nanos: 1_000_000_000,
                fsp: 0
            }
            .to_string(),
            "00:00:01"
        );
        assert_eq!(
            parse_duration("-01:02:03.5", 1).unwrap().to_string(),
            "-01:02:03.5"
        );
        assert_eq!(
            Duration {
                nanos: i64::MIN,
                fsp: 6
            }
            .to_string(),
            "-2562047:47:16.854775"
        );
    }

    #[test]
    fn timestamp_zones() {
        let tz: TimeZone = "Asia/Shanghai".parse().unwrap();
        let t = parse_time("2024-01-02 03:04:05.5", TimeType::Timestamp, 1).unwrap();
        let local = t.utc_to_zone(&tz).unwrap();
        assert_eq!(local.to_string(), "2024-01-02 11:04:05.5");
        assert_eq!(local.zone_to_utc(&tz).unwrap(), t);
        let fixed: TimeZone = "-05:30".parse().unwrap();
        assert_eq!(
            t.utc_to_zone(&fixed).unwrap().to_string(),
            "2024-01-01 21:34:05.5"
        );
        // zero timestamps are not converted
        let z = Time::zero(TimeType::Timestamp, 0);
        assert_eq!(z.utc_to_zone(&tz).unwrap(), z);
        // DST gap in New York: 2024-03-10 02:30 does not exist
        let ny: TimeZone = "America/New_York".parse().unwrap();
        let gap = parse_time("2024-03-10 02:30:00", TimeType::Timestamp, 0).unwrap();
        assert!(gap.zone_to_utc(&ny).is_err());
        // invalid date in a non-zero timestamp is an error, not a panic
        let bad = Time::from_packed(1 << 46, TimeType::Timestamp, 0);
        assert!(bad.utc_to_zone(&tz).is_err());
        assert!("Mars/Base".parse::<TimeZone>().is_err());
    }

    prop_compose! {
        fn any_time()(year in 0u16..=9999, month in 0u8..=12, day in 0u8..=31, hour in 0u8..=23,
                      minute in 0u8..=59, second in 0u8..=59, microsecond in 0u32..=999_999,
                      fsp in 0u8..=6) -> Time {
            Time { year, month, day, hour, minute, second, microsecond, tp: TimeType::Datetime, fsp }
        }
    }

    proptest! {
        #[test]
        fn packed_roundtrip(t in any_time()) {
            prop_assert_eq!(Time::from_packed(t.to_packed(), t.tp, t.fsp), t);
            // the CoreTime layout's round trip: tests/emulator/src/encode/time.rs
        }

        #[test]
        fn text_roundtrip(t in any_time()) {
            let t = Time { microsecond: t.microsecond / 10u32.pow(6 - u32::from(t.fsp)) * 10u32.pow(6 - u32::from(t.fsp)), ..t };
            prop_assert_eq!(parse_time(&t.to_string(), t.tp, t.fsp).unwrap(), t);
        }

        #[test]
        fn duration_text_roundtrip(secs in -3_020_399i64..=3_020_399, micro in 0i64..1_000_000, fsp in 0u8..=6) {
            let scale = 10i64.pow(6 - u32::from(fsp));
            let micro = micro / scale * scale;
            let nanos = secs * 1_000_000_000 + if secs < 0 { -micro * 1000 } else { micro * 1000 };
            let d = Duration { nanos, fsp };
            prop_assert_eq!(parse_duration(&d.to_string(), fsp).unwrap(), d);
        }

        #[test]
        fn any_packed_never_panics(v: u64) {
            let t = Time::from_packed(v, TimeType::Timestamp, 6);
            let _ = t.to_string();
            let _ = t.utc_to_zone(&TimeZone::Named(chrono_tz::Tz::Europe__Berlin));
            let _ = Time::from_core_time(v, TimeType::Date, 0).to_string();
        }
    }
}
