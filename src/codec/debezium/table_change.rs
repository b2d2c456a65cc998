//! The `table` struct of a Debezium schema-change message's `tableChanges` element
//! (`io.debezium.connector.schema.Table`), exactly as TiCDC's new architecture writes it
//! (pingcap/ticdc v8.5.7-release.1 `pkg/sink/codec/debezium/codec.go` `EncodeDDLEvent`,
//! `helper.go` `getCharset`, `getLen`, `getScale`, `getSuffix`, `getExpressionAndName`,
//! `parseBit`; `pkg/sink/codec/common/java.go` `MySQLType2JdbcType`).
//!
//! Owns [`write_table`] and the per-column rules it applies. Guarantees, key order included:
//! `defaultCharsetName` (the table's charset), `primaryKeyColumnNames` (the integer handle
//! column, else the primary index's columns, else the first unique index whose columns are all
//! NOT NULL and visible), `columns` (every column that is not hidden, `position` counting
//! hidden ones too), `comment` null. Each column: `name`, `jdbcType` (java.sql.Types),
//! `nativeType` null, `comment` (null when empty), `defaultValueExpression`, `enumValues`
//! (`'e'` each, or null), `typeName`, `typeExpression`, `charsetName`, `length`, `scale`,
//! `position`, `optional`, `autoIncremented`, `generated`, after the column definitions the
//! query itself writes have been taken over as [`super::ddl_columns`] describes.

use super::ddl_columns::{ColumnDef, column_defs};
use super::json::Json;
use crate::event::{default_flen_decimal, type_to_str};
use crate::model::{ColumnInfo, FieldType, TableInfo, flag, tp};

/// `"table":{…}` for `info` after the DDL `query`.
pub fn write_table(j: &mut Json, info: &TableInfo, query: &str) {
    let defs = column_defs(query);
    j.object_field("table", |j| {
        j.string_field("defaultCharsetName", info.charset.as_bytes());
        j.array_field("primaryKeyColumnNames", |j| {
            for name in primary_key_names(info) {
                j.string_element(name.as_bytes());
            }
        });
        j.array_field("columns", |j| {
            for (pos, col) in info.columns.iter().enumerate() {
                if col.hidden {
                    continue;
                }
                let def = defs.iter().find(|d| d.name == col.name.o);
                let col = taken_over(col, def);
                j.object_element(|j| write_column(j, &col, pos + 1));
            }
        });
        j.null_field("comment");
    });
}

/// The column with what the query's own definition of it overrides (TiCDC `parseColumns`).
fn taken_over(col: &ColumnInfo, def: Option<&ColumnDef>) -> ColumnInfo {
    let mut col = col.clone();
    let Some(def) = def else {
        return col;
    };
    col.comment.clear();
    if def.is_temporal() {
        let written = def.length.unwrap_or(-1);
        if def.type_name == "YEAR" {
            col.field_type.flen = written;
        } else {
            col.field_type.decimal = i32::try_from(written).unwrap_or(-1);
        }
        if let Some(d) = &def.default {
            col.default = Some(serde_json::Value::String(d.clone()));
        }
    }
    col
}

/// TiCDC `GetPrimaryKeyColumnNames`.
fn primary_key_names(info: &TableInfo) -> Vec<&str> {
    if info.pk_is_handle {
        return info
            .columns
            .iter()
            .find(|c| c.field_type.has_flag(flag::PRI_KEY))
            .map(|c| vec![c.name.o.as_str()])
            .unwrap_or_default();
    }
    let visible_not_null = |name: &str| {
        info.columns
            .iter()
            .find(|c| c.name.l == name && c.is_public())
            .is_some_and(|c| !c.hidden && c.field_type.is_not_null())
    };
    let index = info.indices.iter().find(|i| i.primary).or_else(|| {
        info.indices.iter().find(|i| {
            i.unique
                && !i.columns.is_empty()
                && i.columns.iter().all(|c| visible_not_null(&c.name.l))
        })
    });
    index
        .map(|i| i.columns.iter().map(|c| c.name.o.as_str()).collect())
        .unwrap_or_default()
}

fn write_column(j: &mut Json, col: &ColumnInfo, position: usize) {
    let ft = &col.field_type;
    let jdbc = jdbc_type(ft);
    let (expression, name) = expression_and_name(ft);
    j.string_field("name", col.name.o.as_bytes());
    j.int_field("jdbcType", jdbc);
    j.null_field("nativeType");
    if col.comment.is_empty() {
        j.null_field("comment");
    } else {
        j.string_field("comment", col.comment.as_bytes());
    }
    write_default(j, col);
    if ft.elems.is_empty() {
        j.null_field("enumValues");
    } else {
        j.array_field("enumValues", |j| {
            for e in &ft.elems {
                j.string_element(format!("'{e}'").as_bytes());
            }
        });
    }
    j.string_field("typeName", name.as_bytes());
    j.string_field("typeExpression", expression.as_bytes());
    match charset(ft) {
        "" => j.null_field("charsetName"),
        cs => j.string_field("charsetName", cs.as_bytes()),
    }
    match length(ft) {
        -1 => j.null_field("length"),
        n => j.int_field("length", n),
    }
    match scale(ft) {
        None => j.null_field("scale"),
        Some(s) => j.f64_field("scale", f64::from(s)),
    }
    j.int_field("position", i64::try_from(position).unwrap_or(i64::MAX));
    j.bool_field("optional", !ft.is_not_null());
    let auto = ft.has_flag(flag::AUTO_INCREMENT)
        || (ft.has_flag(flag::ON_UPDATE_NOW) && jdbc == JDBC_TIMESTAMP_WITH_TIMEZONE);
    j.bool_field("autoIncremented", auto);
    j.bool_field("generated", auto);
}

/// `defaultValueExpression`.
fn write_default(j: &mut Json, col: &ColumnInfo) {
    const FIELD: &str = "defaultValueExpression";
    match &col.default {
        None | Some(serde_json::Value::Null) => j.null_field(FIELD),
        Some(serde_json::Value::String(v)) => {
            if v.eq_ignore_ascii_case("CURRENT_TIMESTAMP") {
                j.string_field(FIELD, b"1970-01-01 00:00:00");
            } else if v == "<nil>" {
                j.null_field(FIELD);
            } else if let Some(bits) = &col.default_bit {
                j.string_field(FIELD, bit_text(bits, col.field_type.flen).as_bytes());
            } else {
                j.string_field(FIELD, v.as_bytes());
            }
        }
        Some(other) => j.raw_field(FIELD, other.to_string().as_bytes()),
    }
}

/// TiCDC `parseBit`: the first byte in binary padded to `flen % 8` digits, each further byte
/// as eight.
fn bit_text(bytes: &[u8], flen: i64) -> String {
    let width = usize::try_from(flen.rem_euclid(8)).unwrap_or(0);
    let mut s = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if i == 0 {
            s.push_str(&format!("{b:0width$b}"));
        } else {
            s.push_str(&format!("{b:08b}"));
        }
    }
    s
}

const JDBC_TIMESTAMP_WITH_TIMEZONE: i64 = 2014;

/// TiCDC `MySQLType2JdbcType` (java.sql.Types codes); "binary" is the column's BINARY flag.
fn jdbc_type(ft: &FieldType) -> i64 {
    let binary = ft.has_flag(flag::BINARY);
    match ft.tp {
        tp::TINY | tp::SHORT => 5,
        tp::LONG | tp::INT24 | tp::YEAR => 4,
        tp::FLOAT => 6,
        tp::DOUBLE => 8,
        tp::NULL => 0,
        tp::NEWDECIMAL => 3,
        tp::TIMESTAMP => JDBC_TIMESTAMP_WITH_TIMEZONE,
        tp::DATETIME => 93,
        tp::LONGLONG => -5,
        tp::DATE | tp::NEWDATE => 91,
        tp::DURATION => 92,
        tp::ENUM | tp::SET => 1,
        tp::TINY_BLOB | tp::MEDIUM_BLOB | tp::LONG_BLOB | tp::BLOB if binary => 2004,
        tp::VAR_STRING | tp::VARCHAR if binary => -3,
        tp::STRING if binary => -2,
        tp::STRING => 1,
        tp::GEOMETRY | tp::JSON => 1111,
        tp::BIT => -7,
        _ => 12,
    }
}

/// TiCDC `getCharset`: the column charset for character-like types, else none.
fn charset(ft: &FieldType) -> &str {
    if ft.charset == "binary" {
        return "";
    }
    match ft.tp {
        tp::TIMESTAMP
        | tp::DURATION
        | tp::NEWDECIMAL
        | tp::STRING
        | tp::VARCHAR
        | tp::BLOB
        | tp::TINY_BLOB
        | tp::MEDIUM_BLOB
        | tp::LONG_BLOB
        | tp::ENUM
        | tp::SET => &ft.charset,
        _ => "",
    }
}

/// TiCDC `getLen` (−1 = none).
fn length(ft: &FieldType) -> i64 {
    let (mut default_flen, _) = default_flen_decimal(ft.tp);
    let flen = ft.flen;
    match ft.tp {
        tp::TIMESTAMP | tp::DURATION | tp::DATETIME => i64::from(ft.decimal),
        tp::BIT
        | tp::VARCHAR
        | tp::STRING
        | tp::VAR_STRING
        | tp::TIDB_VECTOR_FLOAT32
        | tp::LONGLONG
        | tp::FLOAT
        | tp::DOUBLE
            if flen != default_flen =>
        {
            flen
        }
        tp::TINY | tp::SHORT | tp::INT24 | tp::LONG => {
            if ft.is_unsigned() {
                default_flen -= 1;
            }
            if ft.tp == tp::TINY && ft.has_flag(flag::ZEROFILL) {
                default_flen += 1;
            }
            if flen != default_flen { flen } else { -1 }
        }
        tp::YEAR | tp::NEWDECIMAL => flen,
        tp::SET => 2 * i64::try_from(ft.elems.len()).unwrap_or(0) - 1,
        tp::ENUM => 1,
        _ => -1,
    }
}

/// TiCDC `getScale`: the declared decimals of DECIMAL, FLOAT and DOUBLE (`None` for −1 and
/// other types).
fn scale(ft: &FieldType) -> Option<i32> {
    match ft.tp {
        tp::NEWDECIMAL | tp::FLOAT | tp::DOUBLE if ft.decimal != -1 => Some(ft.decimal),
        _ => None,
    }
}

/// TiCDC `getExpressionAndName`: (`typeExpression`, `typeName`).
fn expression_and_name(ft: &FieldType) -> (String, String) {
    let prefix = type_to_str(ft).to_ascii_uppercase();
    if matches!(
        ft.tp,
        tp::YEAR | tp::BIT | tp::VARCHAR | tp::STRING | tp::NEWDECIMAL
    ) {
        return (prefix.clone(), prefix);
    }
    let suffix = if ft.has_flag(flag::ZEROFILL) {
        " UNSIGNED ZEROFILL"
    } else if ft.is_unsigned() {
        " UNSIGNED"
    } else {
        ""
    };
    (
        format!("{prefix}{}{suffix}", type_suffix(ft)),
        format!("{prefix}{suffix}"),
    )
}

/// TiCDC `getSuffix` for the types that reach it.
fn type_suffix(ft: &FieldType) -> String {
    let (default_flen, default_decimal) = default_flen_decimal(ft.tp);
    let flen = if ft.flen == -1 { default_flen } else { ft.flen };
    let decimal = if ft.decimal == -1 {
        default_decimal
    } else {
        ft.decimal
    };
    match ft.tp {
        tp::DOUBLE if ft.decimal != default_decimal && ft.decimal != 0 && ft.decimal != -1 => {
            format!("({flen},{decimal})")
        }
        tp::VAR_STRING if !ft.has_flag(flag::BINARY) && flen != 1 => format!("({flen})"),
        tp::TIDB_VECTOR_FLOAT32 if ft.flen != -1 => format!("({})", ft.flen),
        tp::NULL => "(0)".to_owned(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ft(t: u8, flag: u32, flen: i64, decimal: i32, charset: &str) -> FieldType {
        FieldType {
            tp: t,
            flag,
            flen,
            decimal,
            charset: charset.into(),
            ..FieldType::default()
        }
    }

    #[test]
    fn type_expression_and_name() {
        let unsigned_int = ft(tp::LONG, flag::UNSIGNED, 10, 0, "binary");
        assert_eq!(
            expression_and_name(&unsigned_int),
            ("INT UNSIGNED".into(), "INT UNSIGNED".into())
        );
        let zerofill = ft(tp::TINY, flag::UNSIGNED | flag::ZEROFILL, 3, 0, "binary");
        assert_eq!(
            expression_and_name(&zerofill).0,
            "TINYINT UNSIGNED ZEROFILL"
        );
        let double = ft(tp::DOUBLE, 0, 10, 2, "binary");
        assert_eq!(expression_and_name(&double).0, "DOUBLE(10,2)");
        let varchar = ft(tp::VARCHAR, 0, 10, 0, "utf8mb4");
        assert_eq!(
            expression_and_name(&varchar),
            ("VARCHAR".into(), "VARCHAR".into())
        );
        let text = ft(tp::BLOB, 0, 65535, 0, "utf8mb4");
        assert_eq!(expression_and_name(&text).1, "TEXT");
        let blob = ft(tp::BLOB, flag::BINARY, 65535, 0, "binary");
        assert_eq!(expression_and_name(&blob).1, "BLOB");
    }

    #[test]
    fn lengths_scales_and_charsets() {
        assert_eq!(length(&ft(tp::LONG, 0, 11, 0, "binary")), -1);
        assert_eq!(length(&ft(tp::LONG, 0, 10, 0, "binary")), 10);
        assert_eq!(length(&ft(tp::LONG, flag::UNSIGNED, 10, 0, "binary")), -1);
        assert_eq!(length(&ft(tp::DATETIME, 0, 19, -1, "binary")), -1);
        assert_eq!(length(&ft(tp::DATETIME, 0, 23, 3, "binary")), 3);
        let mut set = ft(tp::SET, 0, -1, 0, "utf8mb4");
        set.elems = vec!["a".into(), "b".into(), "c".into()];
        assert_eq!(length(&set), 5);
        assert_eq!(scale(&ft(tp::NEWDECIMAL, 0, 10, 2, "binary")), Some(2));
        assert_eq!(scale(&ft(tp::FLOAT, 0, 12, -1, "binary")), None);
        assert_eq!(charset(&ft(tp::VARCHAR, 0, 10, 0, "utf8mb4")), "utf8mb4");
        assert_eq!(charset(&ft(tp::LONG, 0, 10, 0, "utf8mb4")), "");
        assert_eq!(charset(&ft(tp::BLOB, 0, 10, 0, "binary")), "");
    }

    #[test]
    fn bit_defaults_and_jdbc_types() {
        assert_eq!(bit_text(&[0b101], 3), "101");
        assert_eq!(bit_text(&[0b1, 0b1000_0001], 10), "0110000001");
        assert_eq!(bit_text(&[5], 8), "101");
        assert_eq!(jdbc_type(&ft(tp::TIMESTAMP, 0, 19, 0, "binary")), 2014);
        assert_eq!(
            jdbc_type(&ft(tp::VARCHAR, flag::BINARY, 10, 0, "binary")),
            -3
        );
        assert_eq!(jdbc_type(&ft(tp::VARCHAR, 0, 10, 0, "utf8mb4")), 12);
        assert_eq!(jdbc_type(&ft(tp::JSON, 0, 10, 0, "binary")), 1111);
    }
}
