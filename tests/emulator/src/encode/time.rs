//! TiDB's time layouts on the writing side: the packed u64 of row values with TIMESTAMP moved
//! to UTC first (`types/time.go` `ToPackedUint`, as TiDB stores it), and the `CoreTime` bits
//! inside binary JSON (`types/core_time.go`).
//!
//! Guarantees: mount's [`Time::from_packed`] (then `utc_to_zone` for TIMESTAMP) and
//! [`Time::from_core_time`] give the same value back.

use tidb_changefeed::mount::error::EncodeError;
use tidb_changefeed::mount::time::{Time, TimeType, TimeZone};

/// The packed u64 TiDB stores for `t`; a TIMESTAMP is taken to be in `tz` and stored in UTC.
pub fn packed_utc(t: &Time, tz: &TimeZone) -> Result<u64, EncodeError> {
    let t = if t.tp == TimeType::Timestamp {
        t.zone_to_utc(tz).map_err(|reason| EncodeError::Invalid {
            what: "timestamp",
            reason,
        })?
    } else {
        *t
    };
    Ok(t.to_packed())
}

/// Writes TiDB's `CoreTime` layout (fsp/type nibble left zero, as `CoreTime()` does): year 14
/// bits at 50, month 4 at 46, day 5 at 41, hour 5 at 36, minute 6 at 30, second 6 at 24,
/// microsecond 20 at 4.
pub fn core_time(t: &Time) -> u64 {
    let f = |v: u64, off: u32, width: u32| (v & ((1u64 << width) - 1)) << off;
    f(u64::from(t.year), 50, 14)
        | f(u64::from(t.month), 46, 4)
        | f(u64::from(t.day), 41, 5)
        | f(u64::from(t.hour), 36, 5)
        | f(u64::from(t.minute), 30, 6)
        | f(u64::from(t.second), 24, 6)
        | f(u64::from(t.microsecond), 4, 20)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tidb_changefeed::mount::time::parse_time;

    #[test]
    fn core_time_layout() {
        let t = parse_time("2018-01-19 03:14:07.123456", TimeType::Datetime, 6).unwrap();
        let v = core_time(&t);
        assert_eq!(v >> 50, 2018);
        assert_eq!(Time::from_core_time(v, TimeType::Datetime, 6), t);
    }

    /// The body mount's JSON renderer reads in its DATETIME test (`json.rs`
    /// `opaque_time_duration`) is this layout of 2024-01-02 03:04:05.5.
    #[test]
    fn core_time_of_json_vector() {
        let t = parse_time("2024-01-02 03:04:05.5", TimeType::Datetime, 6).unwrap();
        assert_eq!(core_time(&t), 0x1fa0_4431_057a_1200);
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
        fn core_time_roundtrip(t in any_time()) {
            prop_assert_eq!(Time::from_core_time(core_time(&t), t.tp, t.fsp), t);
        }
    }
}
