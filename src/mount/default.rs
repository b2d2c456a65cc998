//! Values of columns a row does not contain.
//!
//! Owns TiCDC's rule for a column missing from a stored row (`cdc/entry/mounter.go`
//! `getDefaultOrZeroValue`): the column's *origin* default converted to its type (TIMESTAMP
//! origin defaults are UTC and converted to the decoder's zone); else NULL when nullable;
//! else the first element for ENUM, an empty string for CHAR/VARCHAR, and TiDB's zero value
//! (`table.GetZeroValue`) for every other type. Guarantees: a default that cannot be
//! converted is reported as an error naming the column, only when a row needs it.

use super::column::{Kind, enum_value, fsp_of, set_value};
use super::decimal::Decimal;
use super::error::DecodeError;
use super::json::BinaryJson;
use super::time::{Duration, Time, TimeType, TimeZone, parse_duration, parse_time};
use super::value::{Value, bit_bytes};
use super::vector::VectorFloat32;
use crate::model::{ColumnInfo, DefaultValue, tp};

/// The value a row without this column takes.
pub(crate) fn missing_value(
    col: &ColumnInfo,
    kind: Kind,
    tz: &TimeZone,
) -> Result<Value, DecodeError> {
    let ft = &col.field_type;
    if let Some(d) = col.origin_default_value() {
        let text: Vec<u8> = match d {
            DefaultValue::Bytes(b) => b.to_vec(),
            DefaultValue::Json(v) => v.to_string().into_bytes(),
        };
        return convert_default(col, kind, &text, tz).map_err(|reason| DecodeError::Column {
            id: col.id,
            name: col.name.o.clone(),
            offset: 0,
            source: Box::new(DecodeError::invalid("origin default", 0, reason)),
        });
    }
    // TiDB's `GetZeroValue` has no case for NEWDATE (an internal type no column is declared
    // with), so its zero value is NULL even for a NOT NULL column (TiCDC mounter_test.go).
    if !ft.is_not_null() || ft.tp == tp::NEWDATE {
        return Ok(Value::Null);
    }
    Ok(match kind {
        Kind::Enum => enum_value(ft, 1),
        Kind::Int | Kind::Year => Value::Int(0),
        Kind::Uint => Value::Uint(0),
        Kind::Float32 => Value::Float32(0.0),
        Kind::Float64 => Value::Float64(0.0),
        Kind::Decimal => Value::Decimal(Decimal::zero()),
        // TiCDC returns empty bytes for CHAR/VARCHAR; BLOBs get TiDB's zero value, also empty.
        Kind::Bytes => Value::Bytes(Vec::new()),
        Kind::Time(tt) => Value::Time(Time::zero(tt, 0)),
        Kind::Duration => Value::Duration(Duration { nanos: 0, fsp: 0 }),
        Kind::Set => Value::Set {
            bits: 0,
            names: String::new(),
        },
        Kind::Bit => Value::Bit(Vec::new()),
        Kind::Json => Value::Json("null".to_owned()),
        Kind::Vector | Kind::Unsupported => Value::Null,
    })
}

fn parse_num<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    s.trim()
        .parse::<T>()
        .map_err(|_| format!("{s:?} is not a number of the column type"))
}

fn convert_default(
    col: &ColumnInfo,
    kind: Kind,
    raw: &[u8],
    tz: &TimeZone,
) -> Result<Value, String> {
    let ft = &col.field_type;
    let text = || String::from_utf8_lossy(raw).into_owned();
    Ok(match kind {
        Kind::Int | Kind::Year => match parse_num::<i64>(&text()) {
            Ok(v) => Value::Int(v),
            Err(e) => Value::Int(parse_num::<f64>(&text()).map_err(|_| e)?.round() as i64),
        },
        Kind::Uint => match parse_num::<u64>(&text()) {
            Ok(v) => Value::Uint(v),
            Err(e) => Value::Uint(parse_num::<f64>(&text()).map_err(|_| e)?.round() as u64),
        },
        Kind::Float32 => Value::Float32(parse_num::<f32>(&text())?),
        Kind::Float64 => Value::Float64(parse_num::<f64>(&text())?),
        Kind::Bytes => {
            let mut b = raw.to_vec();
            // BINARY(n) pads with zero bytes on conversion.
            if ft.tp == tp::STRING && ft.is_binary_charset() {
                let n = usize::try_from(ft.flen).unwrap_or(0);
                if b.len() < n {
                    b.resize(n, 0);
                }
            }
            Value::Bytes(b)
        }
        Kind::Decimal => {
            let p = u8::try_from(ft.flen).map_err(|_| format!("precision {}", ft.flen))?;
            let f = u8::try_from(ft.decimal.max(0)).map_err(|_| format!("frac {}", ft.decimal))?;
            Value::Decimal(Decimal::parse(&text(), p.max(1), f).map_err(|e| e.to_string())?)
        }
        Kind::Time(tt) => {
            let t = parse_time(&text(), tt, fsp_of(ft))?;
            Value::Time(if tt == TimeType::Timestamp {
                t.utc_to_zone(tz)?
            } else {
                t
            })
        }
        Kind::Duration => Value::Duration(parse_duration(&text(), fsp_of(ft))?),
        Kind::Enum => {
            let t = text();
            match ft
                .elems
                .iter()
                .position(|e| *e == t)
                .or_else(|| ft.elems.iter().position(|e| e.eq_ignore_ascii_case(&t)))
            {
                Some(i) => enum_value(ft, i as u64 + 1),
                None => enum_value(ft, parse_num::<u64>(&t)?),
            }
        }
        Kind::Set => {
            let t = text();
            let mut bits = 0u64;
            if !t.is_empty() {
                for name in t.split(',') {
                    let i = ft
                        .elems
                        .iter()
                        .position(|e| e.eq_ignore_ascii_case(name))
                        .ok_or_else(|| format!("{name:?} is not a set element"))?;
                    if i < 64 {
                        bits |= 1 << i;
                    }
                }
            }
            set_value(ft, bits)?
        }
        Kind::Bit => {
            let v = raw.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x));
            Value::Bit(bit_bytes(v, ft.flen))
        }
        Kind::Json => Value::Json(
            BinaryJson::parse(&text())
                .map_err(|e| e.to_string())?
                .to_text()
                .map_err(|e| e.to_string())?,
        ),
        Kind::Vector => {
            let v: Vec<f32> = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
            Value::Vector(VectorFloat32(v))
        }
        Kind::Unsupported => return Err(format!("column type {} not supported", ft.tp)),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::column::kind_of;
    use super::*;
    use crate::model::{CIStr, FieldType, flag};

    fn col(tp: u8, flag: u32, origin: Option<serde_json::Value>) -> ColumnInfo {
        ColumnInfo {
            id: 9,
            name: CIStr::new("c"),
            origin_default: origin,
            field_type: FieldType {
                tp,
                flag,
                flen: 10,
                decimal: 2,
                charset: "utf8mb4".into(),
                elems: vec!["x".into(), "y".into()],
                ..FieldType::default()
            },
            ..ColumnInfo::default()
        }
    }

    fn missing(c: &ColumnInfo) -> Value {
        let tz: TimeZone = "Asia/Shanghai".parse().unwrap();
        missing_value(c, kind_of(&c.field_type), &tz).unwrap()
    }

    #[test]
    fn origin_defaults_convert() {
        let j = |s: &str| Some(serde_json::Value::String(s.into()));
        assert_eq!(missing(&col(tp::LONG, 0, j("42"))), Value::Int(42));
        assert_eq!(
            missing(&col(tp::NEWDECIMAL, 0, j("1.5"))).to_string(),
            "1.50"
        );
        assert_eq!(
            missing(&col(tp::TIMESTAMP, 0, j("2024-01-01 00:00:00.123"))).to_string(),
            "2024-01-01 08:00:00.12"
        );
        assert_eq!(
            missing(&col(tp::ENUM, 0, j("y"))),
            Value::Enum {
                index: 2,
                name: "y".into()
            }
        );
        assert_eq!(
            missing(&col(tp::SET, 0, j("y,x"))),
            Value::Set {
                bits: 3,
                names: "x,y".into()
            }
        );
        assert_eq!(
            missing(&col(tp::JSON, 0, j(r#"{"b":1,"a":[true]}"#))).to_string(),
            r#"{"a": [true], "b": 1}"#
        );
        assert_eq!(
            missing(&col(tp::DOUBLE, 0, Some(serde_json::json!(1.25)))),
            Value::Float64(1.25)
        );
        let mut bit = col(tp::BIT, 0, j("\u{1}"));
        bit.field_type.flen = 12;
        bit.origin_default_bit = Some(vec![0x01, 0x02]);
        assert_eq!(missing(&bit), Value::Bit(vec![0x01, 0x02]));
        let bad = col(tp::LONG, 0, j("abc"));
        assert!(missing_value(&bad, Kind::Int, &TimeZone::Utc).is_err());
    }

    #[test]
    fn no_default() {
        assert_eq!(missing(&col(tp::LONG, 0, None)), Value::Null);
        let nn = flag::NOT_NULL;
        assert_eq!(missing(&col(tp::LONG, nn, None)), Value::Int(0));
        assert_eq!(
            missing(&col(tp::LONG, nn | flag::UNSIGNED, None)),
            Value::Uint(0)
        );
        assert_eq!(missing(&col(tp::VARCHAR, nn, None)), Value::Bytes(vec![]));
        assert_eq!(missing(&col(tp::NEWDECIMAL, nn, None)).to_string(), "0");
        assert_eq!(
            missing(&col(tp::DATETIME, nn, None)).to_string(),
            "0000-00-00 00:00:00"
        );
        assert_eq!(
            missing(&col(tp::DURATION, nn, None)).to_string(),
            "00:00:00"
        );
        assert_eq!(
            missing(&col(tp::ENUM, nn, None)),
            Value::Enum {
                index: 1,
                name: "x".into()
            }
        );
        assert_eq!(missing(&col(tp::JSON, nn, None)).to_string(), "null");
        assert_eq!(missing(&col(tp::BIT, nn, None)).bit_as_u64(), Some(0));
        // TiCDC mounter_test.go "mysql.TypeNewDate": NULL, not a zero date.
        assert_eq!(missing(&col(tp::NEWDATE, nn, None)), Value::Null);
    }
}
