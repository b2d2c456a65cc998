//! The Avro schemas TiCDC registers for a table version, as text byte for byte, and the plan
//! the binary writer follows for each field.
//!
//! Facts (tiflow v8.5.7 `pkg/sink/codec/avro/avro.go`, reference/formats.md §3.3-3.4):
//! * record `{"type":"record","name":<SanitizeName(table)>,"namespace":"default.<SanitizeName(schema)>","fields":[…]}`;
//! * a field is a Go map, so its keys come sorted: `default` (when there is one), `name`,
//!   `type`; the column type is `{"type":…,"connect.parameters":{…sorted…}}`, and a precise
//!   decimal adds `"logicalType":"decimal","precision":P,"scale":S`;
//! * a nullable column is a union: `["null",T]` with `"default":null` when the column has
//!   no default (or its default is the text `null`, kept as that string) and always for a
//!   precise decimal; otherwise `[T,"null"]` with the converted default; a NOT NULL column is
//!   `T`, with `"default"` when it has one (never for a precise decimal);
//! * defaults are TiDB's default text converted as a value of the column would be (ints and
//!   floats as numbers, binary strings and BIT as base64 of their bytes, the rest as text);
//! * with `enable-tidb-extension` the value record ends with `_tidb_op` (string, default
//!   ""), `_tidb_commit_ts` and `_tidb_commit_physical_time` (long, default 0).
//!
//! Guarantees: the same table version and modes always give the same text; a column whose
//! default cannot be converted is an error naming the table and column, as in TiCDC.

use std::fmt::Write as _;

use super::gojson;
use crate::codec::CodecError;
use crate::config::{AvroBigintUnsignedMode, AvroDecimalMode};
use crate::event::{ColumnMeta, TableMeta};
use crate::model::{ColumnDefault, tp};

/// The Avro options of a changefeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvroModes {
    pub enable_tidb_extension: bool,
    pub decimal: AvroDecimalMode,
    pub bigint_unsigned: AvroBigintUnsignedMode,
}

/// How one column's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Avro `int`: the value truncated to 32 bits (TiCDC `int32(v)`).
    Int,
    /// Avro `long`: signed, or unsigned wrapped to 64-bit two's complement.
    Long,
    /// Avro `string` holding an unsigned BIGINT in decimal.
    UnsignedText,
    Float,
    Double,
    /// Avro `bytes`: BIT as the minimal big-endian bytes of its integer.
    Bit,
    /// Avro `bytes` + logical type decimal: the unscaled integer at `scale`, big-endian
    /// two's complement, minimal length.
    Decimal {
        scale: u32,
    },
    /// Avro `string`: text, enum/set names, JSON, times, decimal text, vectors.
    Text,
    /// Avro `bytes`: binary strings.
    Binary,
}

/// Where null sits in a nullable field's union.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nullability {
    /// NOT NULL: no union.
    Required,
    /// `["null", T]`: null is branch 0.
    NullFirst,
    /// `[T, "null"]`: null is branch 1.
    NullSecond,
}

/// One field of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldPlan {
    /// Position in the row values (and in `TableMeta::columns`).
    pub position: usize,
    pub kind: FieldKind,
    pub nullability: Nullability,
}

/// A record schema and how to write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPlan {
    /// The schema text, as TiCDC registers it.
    pub schema: String,
    pub fields: Vec<FieldPlan>,
    /// The TiDB extension fields follow the columns.
    pub extension: bool,
}

/// TiCDC's `SanitizeName` (`pkg/sink/codec/common/helper.go`): a leading digit gets a `_`
/// prefix; every rune outside `[A-Za-z0-9_]` becomes `_`.
pub fn sanitize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for (i, c) in name.chars().enumerate() {
        if i == 0 && c.is_ascii_digit() {
            out.push('_');
            out.push(c);
        } else if c == '_' || c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            out.push('_');
        }
    }
    out
}

/// TiCDC's Avro namespace: `SanitizeName(namespace)` + `.` + `SanitizeName(schema)` (just the
/// first when the schema sanitises to nothing).
pub fn namespace(changefeed_namespace: &str, schema: &str) -> String {
    let ns = sanitize_name(changefeed_namespace);
    let s = sanitize_name(schema);
    if s.is_empty() {
        ns
    } else {
        format!("{ns}.{s}")
    }
}

/// TiCDC's escaping of ENUM/SET elements in the `allowed` parameter.
fn escape_element(e: &str) -> String {
    e.replace(',', "\\,").replace("\\'", "'").replace("''", "'")
}

/// TiCDC's `tidb_type` parameter of a column.
fn tidb_type(c: &ColumnMeta) -> &'static str {
    let unsigned = c.flags.is_unsigned();
    match c.field_type.tp {
        tp::TINY | tp::SHORT | tp::INT24 | tp::LONG if unsigned => "INT UNSIGNED",
        tp::TINY | tp::SHORT | tp::INT24 | tp::LONG => "INT",
        tp::LONGLONG if unsigned => "BIGINT UNSIGNED",
        tp::LONGLONG => "BIGINT",
        tp::FLOAT => "FLOAT",
        tp::DOUBLE => "DOUBLE",
        tp::BIT => "BIT",
        tp::NEWDECIMAL => "DECIMAL",
        tp::TINY_BLOB
        | tp::MEDIUM_BLOB
        | tp::BLOB
        | tp::LONG_BLOB
        | tp::VARCHAR
        | tp::VAR_STRING
        | tp::STRING
            if c.flags.is_binary() =>
        {
            "BLOB"
        }
        tp::TINY_BLOB
        | tp::MEDIUM_BLOB
        | tp::BLOB
        | tp::LONG_BLOB
        | tp::VARCHAR
        | tp::VAR_STRING
        | tp::STRING => "TEXT",
        tp::ENUM => "ENUM",
        tp::SET => "SET",
        tp::JSON => "JSON",
        tp::DATE => "DATE",
        tp::DATETIME => "DATETIME",
        tp::TIMESTAMP => "TIMESTAMP",
        tp::DURATION => "TIME",
        tp::YEAR => "YEAR",
        tp::TIDB_VECTOR_FLOAT32 => "TiDBVECTORFloat32",
        _ => "",
    }
}

/// TiDB's `GetDefaultFieldLengthAndDecimal` for DECIMAL and BIT.
fn default_flen(t: u8) -> (i64, i32) {
    match t {
        tp::NEWDECIMAL => (10, 0),
        tp::BIT => (1, 0),
        _ => (-1, -1),
    }
}

/// The column's Avro type text and how its values are written.
fn column_type(c: &ColumnMeta, modes: &AvroModes) -> Result<(String, FieldKind), String> {
    let ft = &c.field_type;
    let tt = tidb_type(c);
    let plain = |t: &str, kind: FieldKind| {
        let mut s = String::new();
        let _ = write!(
            s,
            "{{\"type\":\"{t}\",\"connect.parameters\":{{\"tidb_type\":"
        );
        gojson::string(&mut s, tt);
        s.push_str("}}");
        (s, kind)
    };
    Ok(match ft.tp {
        tp::TINY | tp::SHORT | tp::INT24 | tp::YEAR => plain("int", FieldKind::Int),
        tp::LONG if c.flags.is_unsigned() => plain("long", FieldKind::Long),
        tp::LONG => plain("int", FieldKind::Int),
        tp::LONGLONG
            if c.flags.is_unsigned() && modes.bigint_unsigned == AvroBigintUnsignedMode::String =>
        {
            plain("string", FieldKind::UnsignedText)
        }
        tp::LONGLONG => plain("long", FieldKind::Long),
        tp::FLOAT => plain("float", FieldKind::Float),
        tp::DOUBLE => plain("double", FieldKind::Double),
        tp::BIT => {
            let flen = if ft.flen == -1 {
                default_flen(tp::BIT).0
            } else {
                ft.flen
            };
            let mut s = String::from("{\"type\":\"bytes\",\"connect.parameters\":{\"length\":");
            gojson::string(&mut s, &flen.to_string());
            s.push_str(",\"tidb_type\":");
            gojson::string(&mut s, tt);
            s.push_str("}}");
            (s, FieldKind::Bit)
        }
        tp::NEWDECIMAL if modes.decimal == AvroDecimalMode::Precise => {
            let (dflen, ddec) = default_flen(tp::NEWDECIMAL);
            let precision = if ft.flen == -1 { dflen } else { ft.flen };
            let scale = if ft.decimal == -1 { ddec } else { ft.decimal };
            let mut s = String::from("{\"type\":\"bytes\",\"connect.parameters\":{\"tidb_type\":");
            gojson::string(&mut s, tt);
            let _ = write!(
                s,
                "}},\"logicalType\":\"decimal\",\"precision\":{precision},\"scale\":{scale}}}"
            );
            let scale = u32::try_from(scale).map_err(|_| format!("decimal scale {scale}"))?;
            (s, FieldKind::Decimal { scale })
        }
        tp::NEWDECIMAL => plain("string", FieldKind::Text),
        tp::VARCHAR
        | tp::STRING
        | tp::VAR_STRING
        | tp::TINY_BLOB
        | tp::MEDIUM_BLOB
        | tp::LONG_BLOB
        | tp::BLOB => {
            if c.flags.is_binary() {
                plain("bytes", FieldKind::Binary)
            } else {
                plain("string", FieldKind::Text)
            }
        }
        tp::ENUM | tp::SET => {
            let allowed: Vec<String> = ft.elems.iter().map(|e| escape_element(e)).collect();
            let mut s = String::from("{\"type\":\"string\",\"connect.parameters\":{\"allowed\":");
            gojson::string(&mut s, &allowed.join(","));
            s.push_str(",\"tidb_type\":");
            gojson::string(&mut s, tt);
            s.push_str("}}");
            (s, FieldKind::Text)
        }
        tp::JSON
        | tp::DATE
        | tp::DATETIME
        | tp::TIMESTAMP
        | tp::DURATION
        | tp::TIDB_VECTOR_FLOAT32 => plain("string", FieldKind::Text),
        other => return Err(format!("unknown mysql type {other}")),
    })
}

/// The column's default as TiCDC writes it into the schema (`None` = no default), or why
/// TiCDC could not convert it.
fn default_json(c: &ColumnMeta, kind: FieldKind) -> Result<Option<String>, String> {
    let text = match &c.default {
        None => return Ok(None),
        Some(ColumnDefault::Bytes(b)) => b,
        Some(ColumnDefault::Json(v)) => {
            return Err(format!("default value {v} is not TiDB's default text"));
        }
    };
    let s = String::from_utf8_lossy(text);
    let bad = |e: &dyn std::fmt::Display| format!("default value {s:?}: {e}");
    let mut out = String::new();
    match kind {
        FieldKind::Int => {
            let n: i32 = s.parse().map_err(|e| bad(&e))?;
            let _ = write!(out, "{n}");
        }
        FieldKind::Long => {
            if c.flags.is_unsigned() && c.field_type.tp == tp::LONGLONG {
                let n: u64 = s.parse().map_err(|e| bad(&e))?;
                let _ = write!(out, "{}", n as i64);
            } else {
                let n: i64 = s.parse().map_err(|e| bad(&e))?;
                let _ = write!(out, "{n}");
            }
        }
        FieldKind::Float => {
            let n: f32 = s.parse().map_err(|e| bad(&e))?;
            gojson::float64(&mut out, f64::from(n));
        }
        FieldKind::Double => {
            let n: f64 = s.parse().map_err(|e| bad(&e))?;
            gojson::float64(&mut out, n);
        }
        FieldKind::Bit | FieldKind::Binary => gojson::bytes(&mut out, text),
        // A logical type never gets a default (goavro cannot take one).
        FieldKind::Decimal { .. } => return Ok(None),
        FieldKind::UnsignedText | FieldKind::Text => {
            if c.field_type.tp == tp::TIDB_VECTOR_FLOAT32 {
                return Err(bad(&"a VECTOR column's default cannot be encoded"));
            }
            gojson::string(&mut out, &s)
        }
    }
    Ok(Some(out))
}

/// Builds the record of `columns` (positions in `meta.columns`, in order) of table `table` of
/// database `schema`.
pub fn record(
    meta: &TableMeta,
    schema: &str,
    table: &str,
    columns: &[usize],
    modes: &AvroModes,
    extension: bool,
) -> Result<RecordPlan, CodecError> {
    let mut text = String::from("{\"type\":\"record\",\"name\":");
    gojson::string(&mut text, &sanitize_name(table));
    text.push_str(",\"namespace\":");
    gojson::string(&mut text, &namespace("default", schema));
    text.push_str(",\"fields\":[");
    let mut fields = Vec::with_capacity(columns.len());
    for (n, &position) in columns.iter().enumerate() {
        let Some(c) = meta.columns.get(position) else {
            continue;
        };
        let fail = |reason: String| CodecError::UnexpectedValue {
            table: format!("`{schema}`.`{table}`"),
            column: c.name.clone(),
            reason,
        };
        let (ty, kind) = column_type(c, modes).map_err(fail)?;
        let default = default_json(c, kind).map_err(fail)?;
        let nullable = c.flags.has(crate::event::ColumnFlags::NULLABLE);
        let decimal = matches!(kind, FieldKind::Decimal { .. });
        if n > 0 {
            text.push(',');
        }
        text.push('{');
        let nullability = match (nullable, decimal, default.as_deref()) {
            (false, _, d) => {
                if let (Some(d), false) = (d, decimal) {
                    let _ = write!(text, "\"default\":{d},");
                }
                Nullability::Required
            }
            (true, true, _) | (true, false, None) => {
                text.push_str("\"default\":null,");
                Nullability::NullFirst
            }
            (true, false, Some("\"null\"")) => {
                text.push_str("\"default\":\"null\",");
                Nullability::NullFirst
            }
            (true, false, Some(d)) => {
                let _ = write!(text, "\"default\":{d},");
                Nullability::NullSecond
            }
        };
        text.push_str("\"name\":");
        gojson::string(&mut text, &sanitize_name(&c.name));
        text.push_str(",\"type\":");
        match nullability {
            Nullability::Required => text.push_str(&ty),
            Nullability::NullFirst => {
                let _ = write!(text, "[\"null\",{ty}]");
            }
            Nullability::NullSecond => {
                let _ = write!(text, "[{ty},\"null\"]");
            }
        }
        text.push('}');
        fields.push(FieldPlan {
            position,
            kind,
            nullability,
        });
    }
    if extension {
        if !fields.is_empty() {
            text.push(',');
        }
        text.push_str(
            "{\"default\":\"\",\"name\":\"_tidb_op\",\"type\":\"string\"},\
             {\"default\":0,\"name\":\"_tidb_commit_ts\",\"type\":\"long\"},\
             {\"default\":0,\"name\":\"_tidb_commit_physical_time\",\"type\":\"long\"}",
        );
    }
    text.push_str("]}");
    Ok(RecordPlan {
        schema: text,
        fields,
        extension,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised_as_ticdc_does() {
        assert_eq!(sanitize_name("normalColumnName123"), "normalColumnName123");
        assert_eq!(sanitize_name("1abc"), "_1abc");
        assert_eq!(sanitize_name("A.B"), "A_B");
        assert_eq!(sanitize_name("名"), "_");
        assert_eq!(namespace("default", "test"), "default.test");
        assert_eq!(namespace("default", ""), "default");
    }

    #[test]
    fn enum_elements_are_escaped() {
        assert_eq!(escape_element("a,b"), "a\\,b");
        assert_eq!(escape_element("it''s"), "it's");
        assert_eq!(escape_element("it\\'s"), "it's");
    }
}
