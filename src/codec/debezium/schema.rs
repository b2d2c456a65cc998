//! The Kafka Connect `schema` blocks of Debezium messages (tiflow v8.5.7
//! `pkg/sink/codec/debezium/codec.go` `writeDebeziumFieldSchema`, `writeSourceSchema`, the
//! schema parts of `EncodeKey` / `EncodeValue`; `helper.go` `getSchemaTopicName`).
//!
//! Owns [`column_schema`] (and [`column_schema_with`], which adds the new architecture's
//! `tidb_type`), [`source_schema`], [`envelope_tail`] and [`schema_name`].
//! Guarantees, as TiCDC classic v8.5 writes them:
//! * a column schema's keys are `type`, `optional` (= the column is nullable), then for
//!   logical types `name`, `version` (1; none for vectors), `parameters`, then `field` and,
//!   when the column has a default, `default` rendered per type (numbers as float64 text,
//!   DATE days, DATETIME ms/µs, TIMESTAMP ZonedTimestamp read as UTC, TIME µs, BIT bytes
//!   base64 or boolean, strings as they are);
//! * types: TINYINT int16; SMALLINT int16 (UNSIGNED int32); MEDIUMINT int32; INT int32
//!   (UNSIGNED int64); BIGINT int64; FLOAT float (`double` when it declares decimals);
//!   DOUBLE/DECIMAL double; DATE `io.debezium.time.Date`; DATETIME `Timestamp` (fsp ≤ 3) or
//!   `MicroTimestamp`; TIMESTAMP `ZonedTimestamp`; TIME `MicroTime`; YEAR `Year`; BIT(1)
//!   boolean, BIT(n) `io.debezium.data.Bits` with `length`; strings and binary strings
//!   `string`; ENUM `Enum` with `allowed` (elements escaped); SET `EnumSet` (elements joined
//!   as they are); JSON `Json`; VECTOR `TiDBVectorFloat32`; any other type has no schema
//!   (TiCDC logs a warning and writes nothing), nor has a BIT column whose default is not a
//!   bit string;
//! * names: `SanitizeName(cluster id).SanitizeName(schema).SanitizeTopicName(table)`.

use super::json::Json;
use super::value::{
    EPOCH_ZONED, Input, bits_le, epoch_datetime, epoch_days, parse_bit, write_json_default,
};
use crate::codec::avro::sanitize_name;
use crate::event::ColumnMeta;
use crate::model::{ColumnDefault, tp};
use crate::mount::TimeType;
use crate::mount::time::{parse_duration, parse_time};

/// TiCDC `getSchemaTopicName`: the prefix of the `Envelope`, `Value` and `Key` names.
pub fn schema_name(cluster_id: &str, schema: &str, table: &str) -> String {
    let mut s = sanitize_name(cluster_id);
    s.push('.');
    s.push_str(&sanitize_name(schema));
    s.push('.');
    s.extend(table.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            c
        } else {
            '_'
        }
    }));
    s
}

/// TiCDC `EscapeEnumAndSetOptions`.
fn escape_element(e: &str) -> String {
    e.replace(',', "\\,").replace("\\'", "'").replace("''", "'")
}

/// The default as a string, when it is one (TiCDC's `GetDefaultValue().(string)`).
fn default_str(c: &ColumnMeta) -> Option<Result<String, ()>> {
    c.default.as_ref().map(|d| match Input::default(d) {
        Input::Str(s) => Ok(String::from_utf8_lossy(s).into_owned()),
        _ => Err(()),
    })
}

/// Writes `"default":<float64>` for a numeric default that parses as a float (Go
/// `strconv.ParseFloat`); nothing otherwise.
fn float_default(j: &mut Json, c: &ColumnMeta, year: bool) {
    let Some(Ok(text)) = default_str(c) else {
        return;
    };
    let Ok(mut f) = text.trim().parse::<f64>() else {
        return;
    };
    if year {
        if f < 70.0 {
            f += 2000.0;
        } else if f < 100.0 {
            f += 1900.0;
        }
    }
    if f.is_finite() {
        j.f64_field("default", f);
    }
}

/// `"default":<any>` for types TiCDC writes with `WriteAnyField`.
fn any_default(j: &mut Json, c: &ColumnMeta) {
    match c.default.as_ref().map(Input::default) {
        Some(Input::Str(s)) => j.string_field("default", s),
        Some(Input::Other(o)) => write_json_default(j, "default", o),
        _ => {}
    }
}

/// [`column_schema`], with TiCDC's new-architecture `tidb_type` as the element's first key
/// when `tidb_type` is set (`enable-tidb-extension` there).
pub fn column_schema_with(j: &mut Json, c: &ColumnMeta, tidb_type: bool) {
    let start = j.out.len();
    column_schema(j, c);
    if !tidb_type {
        return;
    }
    if let Some(open) = j.out[start..].iter().position(|&b| b == b'{') {
        let mut field = b"\"tidb_type\":".to_vec();
        super::json::write_string(&mut field, tidb_type_name(&c.field_type).as_bytes());
        field.push(b',');
        let at = start + open + 1;
        j.out.splice(at..at, field);
    }
}

/// TiCDC new-architecture `getTiDBType`: `TypeToStr`, plus ` unsigned` for unsigned numeric
/// types other than YEAR, BIT and DECIMAL.
fn tidb_type_name(ft: &crate::model::FieldType) -> String {
    let base = crate::event::type_to_str(ft);
    match ft.tp {
        tp::YEAR | tp::BIT | tp::VARCHAR | tp::STRING | tp::NEWDECIMAL => base.to_owned(),
        _ if ft.is_unsigned() => format!("{base} unsigned"),
        _ => base.to_owned(),
    }
}

/// Appends the schema of column `c` as an array element (TiCDC `writeDebeziumFieldSchema`).
pub fn column_schema(j: &mut Json, c: &ColumnMeta) {
    let ft = &c.field_type;
    let optional = !ft.is_not_null();
    let name = c.name.as_bytes();
    let fsp = u8::try_from(ft.decimal.clamp(0, 6)).unwrap_or(0);
    match ft.tp {
        tp::BIT => {
            let n = ft.flen;
            let default = match &c.default {
                None => None,
                Some(ColumnDefault::Bytes(s)) => match parse_bit(s) {
                    Some(v) => Some(v),
                    None => return,
                },
                Some(ColumnDefault::Json(_)) => return,
            };
            j.object_element(|j| {
                if n == 1 {
                    j.string_field("type", b"boolean");
                    j.bool_field("optional", optional);
                    j.string_field("field", name);
                    if let Some(v) = default {
                        j.bool_field("default", v != 0);
                    }
                } else {
                    j.string_field("type", b"bytes");
                    j.bool_field("optional", optional);
                    j.string_field("name", b"io.debezium.data.Bits");
                    j.int_field("version", 1);
                    j.object_field("parameters", |j| {
                        j.string_field("length", n.to_string().as_bytes());
                    });
                    j.string_field("field", name);
                    if let Some(v) = default {
                        j.base64_field("default", &bits_le(n, v));
                    }
                }
            });
        }
        tp::VARCHAR
        | tp::STRING
        | tp::VAR_STRING
        | tp::TINY_BLOB
        | tp::MEDIUM_BLOB
        | tp::LONG_BLOB
        | tp::BLOB => j.object_element(|j| {
            j.string_field("type", b"string");
            j.bool_field("optional", optional);
            j.string_field("field", name);
            any_default(j, c);
        }),
        tp::ENUM | tp::SET => j.object_element(|j| {
            let (logical, allowed) = if ft.tp == tp::ENUM {
                let elems: Vec<String> = ft.elems.iter().map(|e| escape_element(e)).collect();
                ("io.debezium.data.Enum", elems.join(","))
            } else {
                ("io.debezium.data.EnumSet", ft.elems.join(","))
            };
            j.string_field("type", b"string");
            j.bool_field("optional", optional);
            j.string_field("name", logical.as_bytes());
            j.int_field("version", 1);
            j.object_field("parameters", |j| {
                j.string_field("allowed", allowed.as_bytes());
            });
            j.string_field("field", name);
            any_default(j, c);
        }),
        tp::DATE | tp::NEWDATE => j.object_element(|j| {
            logical(j, "int32", optional, "io.debezium.time.Date", name);
            let Some(Ok(text)) = default_str(c) else {
                return;
            };
            match epoch_days(&text) {
                Some(days) => j.int_field("default", days),
                None if !optional => j.int_field("default", 0),
                None => {}
            }
        }),
        tp::DATETIME => j.object_element(|j| {
            let logical_name = if ft.decimal <= 3 {
                "io.debezium.time.Timestamp"
            } else {
                "io.debezium.time.MicroTimestamp"
            };
            logical(j, "int64", optional, logical_name, name);
            let Some(Ok(text)) = default_str(c) else {
                return;
            };
            if text == "CURRENT_TIMESTAMP" {
                j.int_field("default", 0);
                return;
            }
            let Ok(t) = parse_time(&text, TimeType::Datetime, fsp) else {
                j.int_field("default", 0);
                return;
            };
            match epoch_datetime(&t, u8::try_from(ft.decimal.max(0)).unwrap_or(0)) {
                Some(n) => j.int_field("default", n),
                None if !optional => j.int_field("default", 0),
                None => {}
            }
        }),
        tp::TIMESTAMP => j.object_element(|j| {
            logical(
                j,
                "string",
                optional,
                "io.debezium.time.ZonedTimestamp",
                name,
            );
            let Some(Ok(text)) = default_str(c) else {
                return;
            };
            if text == "CURRENT_TIMESTAMP" {
                if !optional {
                    j.string_field("default", EPOCH_ZONED.as_bytes());
                }
                return;
            }
            let Ok(t) = parse_time(&text, TimeType::Timestamp, fsp) else {
                j.int_field("default", 0);
                return;
            };
            if (t.year, t.month, t.day, t.hour, t.minute, t.second) < (1970, 1, 1, 0, 0, 1) {
                if !optional {
                    j.string_field("default", EPOCH_ZONED.as_bytes());
                }
                return;
            }
            // TiCDC reads a TIMESTAMP default as UTC (the row values are read in the
            // changefeed's zone).
            match super::value::zoned_timestamp(&t, &crate::mount::TimeZone::Utc, fsp) {
                Ok(s) => j.string_field("default", s.as_bytes()),
                Err(_) => j.int_field("default", 0),
            }
        }),
        tp::DURATION => j.object_element(|j| {
            logical(j, "int64", optional, "io.debezium.time.MicroTime", name);
            let Some(Ok(text)) = default_str(c) else {
                return;
            };
            if let Ok(d) = parse_duration(&text, fsp) {
                j.int_field("default", super::value::micros(&d));
            }
        }),
        tp::JSON => j.object_element(|j| {
            logical(j, "string", optional, "io.debezium.data.Json", name);
            any_default(j, c);
        }),
        tp::TINY
        | tp::SHORT
        | tp::INT24
        | tp::LONG
        | tp::LONGLONG
        | tp::FLOAT
        | tp::DOUBLE
        | tp::NEWDECIMAL => j.object_element(|j| {
            let unsigned = ft.is_unsigned();
            let ty: &[u8] = match ft.tp {
                tp::TINY => b"int16",
                tp::SHORT if unsigned => b"int32",
                tp::SHORT => b"int16",
                tp::INT24 => b"int32",
                tp::LONG if c.flags.is_unsigned() => b"int64",
                tp::LONG => b"int32",
                tp::LONGLONG => b"int64",
                tp::FLOAT if ft.decimal != -1 => b"double",
                tp::FLOAT => b"float",
                _ => b"double",
            };
            j.string_field("type", ty);
            j.bool_field("optional", optional);
            j.string_field("field", name);
            float_default(j, c, false);
        }),
        tp::YEAR => j.object_element(|j| {
            logical(j, "int32", optional, "io.debezium.time.Year", name);
            float_default(j, c, true);
        }),
        tp::TIDB_VECTOR_FLOAT32 => j.object_element(|j| {
            j.string_field("type", b"string");
            j.bool_field("optional", optional);
            j.string_field("name", b"io.debezium.data.TiDBVectorFloat32");
            j.string_field("field", name);
            any_default(j, c);
        }),
        _ => {}
    }
}

/// `type`, `optional`, `name`, `version`, `field` of a logical type.
fn logical(j: &mut Json, ty: &str, optional: bool, logical: &str, field: &[u8]) {
    j.string_field("type", ty.as_bytes());
    j.bool_field("optional", optional);
    j.string_field("name", logical.as_bytes());
    j.int_field("version", 1);
    j.string_field("field", field);
}

/// One `{"type":…,"optional":…,"field":…}` element.
fn plain(j: &mut Json, ty: &str, optional: bool, field: &str) {
    j.object_element(|j| {
        j.string_field("type", ty.as_bytes());
        j.bool_field("optional", optional);
        j.string_field("field", field.as_bytes());
    });
}

/// The `io.debezium.connector.mysql.Source` struct element (TiCDC `writeSourceSchema`):
/// Debezium's MySQL source fields only; TiCDC's `commit_ts` and `cluster_id` are in the
/// payload but not in this schema.
pub fn source_schema(j: &mut Json) {
    j.object_element(|j| {
        j.string_field("type", b"struct");
        j.array_field("fields", |j| {
            plain(j, "string", false, "version");
            plain(j, "string", false, "connector");
            plain(j, "string", false, "name");
            plain(j, "int64", false, "ts_ms");
            j.object_element(|j| {
                j.string_field("type", b"string");
                j.bool_field("optional", true);
                j.string_field("name", b"io.debezium.data.Enum");
                j.int_field("version", 1);
                j.object_field("parameters", |j| {
                    j.string_field("allowed", b"true,last,false,incremental");
                });
                j.string_field("default", b"false");
                j.string_field("field", b"snapshot");
            });
            plain(j, "string", false, "db");
            plain(j, "string", true, "sequence");
            plain(j, "string", true, "table");
            plain(j, "int64", false, "server_id");
            plain(j, "string", true, "gtid");
            plain(j, "string", false, "file");
            plain(j, "int64", false, "pos");
            plain(j, "int32", false, "row");
            plain(j, "int64", true, "thread");
            plain(j, "string", true, "query");
        });
        j.bool_field("optional", false);
        j.string_field("name", b"io.debezium.connector.mysql.Source");
        j.string_field("field", b"source");
    });
}

/// The envelope's elements after `before`, `after` and `source`: `op`, `ts_ms` and the
/// `event.block` transaction struct.
pub fn envelope_tail(j: &mut Json) {
    plain(j, "string", false, "op");
    plain(j, "int64", true, "ts_ms");
    j.object_element(|j| {
        j.string_field("type", b"struct");
        j.array_field("fields", |j| {
            plain(j, "string", false, "id");
            plain(j, "int64", false, "total_order");
            plain(j, "int64", false, "data_collection_order");
        });
        j.bool_field("optional", true);
        j.string_field("name", b"event.block");
        j.int_field("version", 1);
        j.string_field("field", b"transaction");
    });
}
