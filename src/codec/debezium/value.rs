//! Column values in the `before` / `after` / key payloads (tiflow v8.5.7
//! `pkg/sink/codec/debezium/codec.go` `writeDebeziumFieldValue`).
//!
//! Owns [`write_value`] and the date/time arithmetic it shares with the column schemas'
//! defaults ([`epoch_days`], [`epoch_datetime`], [`zoned_timestamp`]). Guarantees, each as
//! TiCDC classic v8.5 does it:
//! * a NULL value takes the column's default when it has one (TiCDC reads `col.Value`, then
//!   `GetDefaultValue()`), rendered by the same rules (defaults are strings);
//! * integers: numbers; a value above the type's maximum (or BIGINT UNSIGNED's maximum
//!   itself) or below its minimum is `-1`; other BIGINT UNSIGNED values above 2^63-1 wrap
//!   negative; FLOAT/DOUBLE as jsoniter prints float32/float64; DECIMAL parsed to float64;
//! * DATE: days since 1970-01-01 (years < 70 get +2000, < 100 +1900); zero or invalid
//!   dates are `null`, or `0` when the column is NOT NULL; DATETIME: epoch ms (fsp ≤ 3) or
//!   µs read as UTC, same year rule, invalid → `null`/`0`; TIMESTAMP: the UTC instant as
//!   `YYYY-MM-DDTHH:MM:SS[.fsp digits]Z`, values before `1970-01-01 00:00:01` (wall time in
//!   the changefeed zone) → `1970-01-01T00:00:00Z`; TIME: signed µs;
//! * BIT(1): boolean; BIT(n): base64 of the value's little-endian bytes, ceil(n/8) of them;
//! * CHAR/VARCHAR/TEXT: the string; binary-charset strings: base64 of the bytes (a binary
//!   string *default* is written twice — base64, then as text — as TiCDC does);
//! * ENUM/SET: element names (an index out of range → `""`); JSON: the text as a string;
//!   VECTOR: `[1,2]`; YEAR and anything else: as jsoniter writes the Go value.
//!
//! A value of a kind the column type cannot hold is an error naming the reason.

use chrono::{Datelike as _, NaiveDate, NaiveDateTime};

use super::json::Json;
use crate::event::ColumnMeta;
use crate::model::{ColumnDefault, tp};
use crate::mount::time::{parse_duration, parse_time};
use crate::mount::{Duration, Time, TimeType, TimeZone, Value};

/// What TiCDC's value switch sees for a column.
#[derive(Debug, Clone, Copy)]
pub(super) enum Input<'a> {
    /// The row's value (never NULL here).
    Value(&'a Value),
    /// A string default (TiDB stores defaults as strings; BIT defaults as their bytes).
    Str(&'a [u8]),
    /// A non-string default (a JSON number or bool in the stored table info).
    Other(&'a serde_json::Value),
}

impl<'a> Input<'a> {
    /// The input for `v` in column `c`: the value, else the default, else `None` (null).
    pub(super) fn of(c: &'a ColumnMeta, v: &'a Value) -> Option<Input<'a>> {
        match (v, &c.default) {
            (Value::Null, None) => None,
            (Value::Null, Some(d)) => Some(Input::default(d)),
            (v, _) => Some(Input::Value(v)),
        }
    }

    pub(super) fn default(d: &'a ColumnDefault) -> Input<'a> {
        match d {
            ColumnDefault::Bytes(b) => Input::Str(b),
            ColumnDefault::Json(j) => Input::Other(j),
        }
    }

    fn is_default(&self) -> bool {
        !matches!(self, Input::Value(_))
    }
}

fn not_null(c: &ColumnMeta) -> bool {
    c.field_type.is_not_null()
}

fn kind(i: &Input<'_>) -> &'static str {
    match i {
        Input::Value(Value::Null) => "null",
        Input::Value(Value::Int(_)) => "int64",
        Input::Value(Value::Uint(_)) => "uint64",
        Input::Value(Value::Float32(_)) => "float32",
        Input::Value(Value::Float64(_)) => "float64",
        Input::Value(Value::Decimal(_)) => "decimal",
        Input::Value(Value::Bytes(_)) => "bytes",
        Input::Value(Value::Time(_)) => "time",
        Input::Value(Value::Duration(_)) => "duration",
        Input::Value(Value::Enum { .. }) => "enum",
        Input::Value(Value::Set { .. }) => "set",
        Input::Value(Value::Bit(_)) => "bit",
        Input::Value(Value::Json(_)) => "json",
        Input::Value(Value::Vector(_)) => "vector",
        Input::Str(_) => "string",
        Input::Other(_) => "non-string default",
    }
}

fn unexpected(i: &Input<'_>, what: &str) -> String {
    format!("unexpected value type {} for {what} column", kind(i))
}

/// Writes `"<name>":<value>` for column `c` (TiCDC `writeDebeziumFieldValue`). Some inputs
/// TiCDC writes nothing for (a non-string default of a string or integer column); so do we.
pub(super) fn write_value(
    j: &mut Json,
    c: &ColumnMeta,
    v: &Value,
    tz: &TimeZone,
) -> Result<(), String> {
    let name = c.name.as_str();
    let Some(input) = Input::of(c, v) else {
        j.null_field(name);
        return Ok(());
    };
    let ft = &c.field_type;
    match ft.tp {
        tp::BIT => {
            let n = ft.flen;
            let bits = match input {
                Input::Value(Value::Bit(_)) => v.bit_as_u64().unwrap_or(0),
                Input::Value(Value::Uint(u)) => *u,
                Input::Str(s) => {
                    parse_bit(s).ok_or_else(|| format!("bit default {:?} is not a bit value", s))?
                }
                other => return Err(unexpected(&other, "bit")),
            };
            if n == 1 {
                j.bool_field(name, bits != 0);
            } else {
                j.base64_field(name, &bits_le(n, bits));
            }
        }
        tp::VARCHAR
        | tp::STRING
        | tp::VAR_STRING
        | tp::TINY_BLOB
        | tp::MEDIUM_BLOB
        | tp::LONG_BLOB
        | tp::BLOB => {
            let binary = c.flags.is_binary();
            match input {
                Input::Value(Value::Bytes(b)) if binary => j.base64_field(name, b),
                Input::Value(Value::Bytes(b)) => j.string_field(name, b),
                Input::Str(s) => {
                    if binary {
                        j.base64_field(name, s);
                    }
                    j.string_field(name, s);
                }
                _ => {}
            }
        }
        tp::ENUM => match input {
            Input::Value(Value::Enum { index, .. }) => {
                let elem = usize::try_from(*index)
                    .ok()
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| ft.elems.get(i));
                j.string_field(name, elem.map_or(&b""[..], |e| e.as_bytes()));
            }
            Input::Str(s) => j.string_field(name, s),
            other => return Err(unexpected(&other, "enum")),
        },
        tp::SET => match input {
            Input::Value(Value::Set { bits, .. }) => {
                j.string_field(name, set_names(&ft.elems, *bits).as_bytes());
            }
            Input::Str(s) => j.string_field(name, s),
            other => return Err(unexpected(&other, "set")),
        },
        tp::NEWDECIMAL => {
            let text = match input {
                Input::Value(Value::Decimal(d)) => d.to_string(),
                Input::Str(s) => String::from_utf8_lossy(s).into_owned(),
                other => return Err(unexpected(&other, "decimal")),
            };
            let f: f64 = text
                .trim()
                .parse()
                .map_err(|e| format!("decimal {text:?}: {e}"))?;
            j.f64_field(name, f);
        }
        tp::DATE | tp::NEWDATE => {
            let text = match input {
                Input::Value(Value::Time(t)) => t.to_string(),
                Input::Str(s) => String::from_utf8_lossy(s).into_owned(),
                other => return Err(unexpected(&other, "date")),
            };
            match epoch_days(&text) {
                Some(days) => j.int_field(name, days),
                None if not_null(c) => j.int_field(name, 0),
                None => j.null_field(name),
            }
        }
        tp::DATETIME => {
            let fsp = u8::try_from(ft.decimal.clamp(0, 6)).unwrap_or(0);
            let t = match input {
                Input::Value(Value::Time(t)) => *t,
                Input::Str(b"CURRENT_TIMESTAMP") => {
                    j.int_field(name, 0);
                    return Ok(());
                }
                Input::Str(s) => parse_time(&String::from_utf8_lossy(s), TimeType::Datetime, fsp)?,
                other => return Err(unexpected(&other, "datetime")),
            };
            match epoch_datetime(&t, fsp) {
                Some(n) => j.int_field(name, n),
                None if not_null(c) => j.int_field(name, 0),
                None => j.null_field(name),
            }
        }
        tp::TIMESTAMP => {
            let fsp = u8::try_from(ft.decimal.clamp(0, 6)).unwrap_or(0);
            let t = match input {
                Input::Value(Value::Time(t)) => *t,
                Input::Str(b"CURRENT_TIMESTAMP") => {
                    if not_null(c) {
                        j.string_field(name, EPOCH_ZONED.as_bytes());
                    } else {
                        j.null_field(name);
                    }
                    return Ok(());
                }
                Input::Str(s) => parse_time(&String::from_utf8_lossy(s), TimeType::Timestamp, fsp)?,
                other => return Err(unexpected(&other, "timestamp")),
            };
            if before_min_timestamp(&t) {
                if input.is_default() {
                    j.null_field(name);
                } else {
                    j.string_field(name, EPOCH_ZONED.as_bytes());
                }
                return Ok(());
            }
            let text = zoned_timestamp(&t, tz, fsp)?;
            j.string_field(name, text.as_bytes());
        }
        tp::DURATION => {
            let fsp = u8::try_from(ft.decimal.clamp(0, 6)).unwrap_or(0);
            let d = match input {
                Input::Value(Value::Duration(d)) => *d,
                Input::Str(s) => parse_duration(&String::from_utf8_lossy(s), fsp)?,
                other => return Err(unexpected(&other, "time")),
            };
            j.int_field(name, micros(&d));
        }
        tp::LONGLONG | tp::LONG | tp::INT24 | tp::SHORT | tp::TINY => {
            let unsigned = c.flags.is_unsigned();
            let (min, max) = int_range(ft.tp, unsigned);
            let longlong = ft.tp == tp::LONGLONG;
            let out_of_range_u = |u: u64| (longlong && u == max as u64) || u > max as u64;
            match input {
                Input::Value(Value::Uint(u)) => {
                    if !unsigned {
                        return Err(unexpected(&input, "signed int"));
                    }
                    j.int_field(name, if out_of_range_u(*u) { -1 } else { *u as i64 });
                }
                Input::Value(Value::Int(i)) => {
                    if unsigned {
                        return Err(unexpected(&input, "unsigned int"));
                    }
                    let i = i128::from(*i);
                    j.int_field(name, if i < min || i > max { -1 } else { i as i64 });
                }
                Input::Str(s) => {
                    let text = String::from_utf8_lossy(s);
                    if unsigned {
                        let u: u64 = text
                            .parse()
                            .map_err(|_| format!("{text:?} is not an unsigned integer"))?;
                        j.int_field(name, if out_of_range_u(u) { -1 } else { u as i64 });
                    } else {
                        let i: i64 = text
                            .parse()
                            .map_err(|_| format!("{text:?} is not an integer"))?;
                        let w = i128::from(i);
                        j.int_field(name, if w < min || w > max { -1 } else { i });
                    }
                }
                _ => {}
            }
        }
        tp::DOUBLE | tp::FLOAT => match input {
            Input::Str(s) => {
                let text = String::from_utf8_lossy(s);
                let f: f64 = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("{text:?} is not a number"))?;
                j.f64_field(name, f);
            }
            other => write_any(j, name, other),
        },
        tp::TIDB_VECTOR_FLOAT32 => match input {
            Input::Value(Value::Vector(vec)) => j.string_field(name, vec.to_string().as_bytes()),
            other => return Err(unexpected(&other, "vector")),
        },
        _ => write_any(j, name, input),
    }
    Ok(())
}

/// jsoniter `WriteVal` of the Go value TiCDC's mounter produces for `input`.
fn write_any(j: &mut Json, name: &str, input: Input<'_>) {
    match input {
        Input::Value(v) => match v {
            Value::Null => j.null_field(name),
            Value::Int(i) => j.int_field(name, *i),
            Value::Uint(u) => j.uint_field(name, *u),
            Value::Float32(f) => j.f32_field(name, *f),
            Value::Float64(f) => j.f64_field(name, *f),
            // Go `[]byte` values marshal as base64.
            Value::Bytes(b) => j.base64_field(name, b),
            Value::Bit(_) => j.uint_field(name, v.bit_as_u64().unwrap_or(0)),
            Value::Enum { index, .. } => j.uint_field(name, *index),
            Value::Set { bits, .. } => j.uint_field(name, *bits),
            Value::Json(s) => j.string_field(name, s.as_bytes()),
            other => j.string_field(name, other.to_string().as_bytes()),
        },
        Input::Str(s) => j.string_field(name, s),
        Input::Other(o) => write_json_default(j, name, o),
    }
}

/// A non-string default as jsoniter writes the Go value `encoding/json` decoded it into.
pub(super) fn write_json_default(j: &mut Json, name: &str, o: &serde_json::Value) {
    match o {
        serde_json::Value::Bool(b) => j.bool_field(name, *b),
        serde_json::Value::Number(n) => j.f64_field(name, n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => j.string_field(name, s.as_bytes()),
        _ => j.null_field(name),
    }
}

/// `1970-01-01T00:00:00Z`, what TiCDC writes for TIMESTAMPs before the epoch minimum.
pub(super) const EPOCH_ZONED: &str = "1970-01-01T00:00:00Z";

/// TiDB `GetMinValue` / `GetMaxValue` of an integer column.
fn int_range(t: u8, unsigned: bool) -> (i128, i128) {
    let bits = match t {
        tp::TINY => 8,
        tp::SHORT => 16,
        tp::INT24 => 24,
        tp::LONG => 32,
        _ => 64,
    };
    if unsigned {
        (0, (1i128 << bits) - 1)
    } else {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    }
}

/// TiCDC `parseBit` then `strconv.ParseUint(…, 2, 64)`: the big-endian integer of the
/// bytes; `None` when empty or above 64 bits.
pub(super) fn parse_bit(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if acc >> 56 != 0 {
            None
        } else {
            Some((acc << 8) | u64::from(b))
        }
    })
}

/// TiCDC `getBitFromUint64`: little-endian bytes of `v`, ceil(n/8) of them (at most 8).
pub(super) fn bits_le(n: i64, v: u64) -> Vec<u8> {
    let count = usize::try_from((n + 7) / 8).unwrap_or(1).clamp(0, 8);
    v.to_le_bytes()[..count].to_vec()
}

/// TiDB `ParseSetValue`: the names of the set bits, or `""` when a bit has no element.
fn set_names(elems: &[String], bits: u64) -> String {
    if elems.len() < 64 && bits >> elems.len() != 0 {
        return String::new();
    }
    elems
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1u64 << i) != 0)
        .map(|(_, e)| e.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Go `time.Parse("2006-01-02", text)` then TiCDC's year rule and `Unix()/86400`; `None`
/// when Go's parse fails (zero or invalid dates, other layouts).
pub(super) fn epoch_days(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = &text[r];
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let date = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, m, d)?;
    let date = shift_date(date)?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    Some((date - epoch).num_days())
}

/// TiCDC's year rule applied with Go's `AddDate(k, 0, 0)` (which normalises a Feb 29 that
/// does not exist in the target year to Mar 1).
fn shift_date(date: NaiveDate) -> Option<NaiveDate> {
    let y = date.year();
    if y >= 100 {
        return Some(date);
    }
    let first = NaiveDate::from_ymd_opt(shift_year(y), date.month(), 1)?;
    Some(first + chrono::TimeDelta::days(i64::from(date.day()) - 1))
}

/// TiCDC's two-digit-year rule: years below 70 get +2000, below 100 +1900.
fn shift_year(y: i32) -> i32 {
    if y < 70 {
        y + 2000
    } else if y < 100 {
        y + 1900
    } else {
        y
    }
}

/// The wall time of `t` as a calendar value, `None` when TiDB's `GoTime` would fail (zero
/// or out-of-range fields).
fn naive(t: &Time) -> Option<NaiveDateTime> {
    NaiveDate::from_ymd_opt(i32::from(t.year), u32::from(t.month), u32::from(t.day))?
        .and_hms_micro_opt(
            u32::from(t.hour),
            u32::from(t.minute),
            u32::from(t.second),
            t.microsecond,
        )
}

/// A DATETIME as Debezium's Timestamp (ms, fsp ≤ 3) or MicroTimestamp (µs), read as UTC,
/// with the two-digit-year rule; `None` for a zero or invalid value.
pub(super) fn epoch_datetime(t: &Time, fsp: u8) -> Option<i64> {
    let n = naive(t)?;
    let utc = shift_date(n.date())?.and_time(n.time()).and_utc();
    Some(if fsp <= 3 {
        utc.timestamp_millis()
    } else {
        utc.timestamp_micros()
    })
}

/// TiDB `MinTimestamp` (`1970-01-01 00:00:01`) compared with a wall time.
fn before_min_timestamp(t: &Time) -> bool {
    (
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        t.microsecond,
    ) < (1970, 1, 1, 0, 0, 1, 0)
}

/// A TIMESTAMP wall time in `tz` as Debezium's ZonedTimestamp in UTC:
/// `YYYY-MM-DDTHH:MM:SS`, then `.` and the first `fsp` digits of the microseconds, then `Z`.
pub(super) fn zoned_timestamp(t: &Time, tz: &TimeZone, fsp: u8) -> Result<String, String> {
    let u = t.zone_to_utc(tz)?;
    if naive(&u).is_none() {
        return Err(format!("{t} is not a valid time"));
    }
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        u.year, u.month, u.day, u.hour, u.minute, u.second
    );
    if fsp > 0 {
        let frac = format!("{:06}", u.microsecond);
        s.push('.');
        s.push_str(&frac[..usize::from(fsp.min(6))]);
    }
    s.push('Z');
    Ok(s)
}

/// Go `Duration.Microseconds()`: truncation toward zero.
pub(super) fn micros(d: &Duration) -> i64 {
    d.nanos / 1000
}
