//! Canal's type vocabulary: `java.sql.Types` codes and canal DDL event types.
//!
//! Owns [`java_sql_type`] (tiflow `pkg/sink/codec/internal/java.go` `MySQLType2JavaType` and
//! `pkg/sink/codec/canal/canal_entry.go` `getJavaSQLType`, including the per-value promotion of
//! unsigned integers) and [`canal_ddl_type`] (`convertDdlEventType`).
use crate::event::ColumnMeta;
use crate::model::{ActionType, tp};
use crate::mount::Value;

/// `java.sql.Types` codes canal uses.
pub mod java {
    pub const BIT: i32 = -7;
    pub const TINYINT: i32 = -6;
    pub const SMALLINT: i32 = 5;
    pub const INTEGER: i32 = 4;
    pub const BIGINT: i32 = -5;
    pub const REAL: i32 = 7;
    pub const DOUBLE: i32 = 8;
    pub const DECIMAL: i32 = 3;
    pub const CHAR: i32 = 1;
    pub const VARCHAR: i32 = 12;
    pub const DATE: i32 = 91;
    pub const TIME: i32 = 92;
    pub const TIMESTAMP: i32 = 93;
    pub const BINARY: i32 = -2;
    pub const NULL: i32 = 0;
    pub const BLOB: i32 = 2004;
    pub const CLOB: i32 = 2005;
}

/// `MySQLType2JavaType(tp, isBinary)`.
pub fn base_java_type(t: u8, binary: bool) -> i32 {
    match t {
        tp::TINY => java::TINYINT,
        tp::SHORT => java::SMALLINT,
        tp::LONG | tp::INT24 | tp::ENUM => java::INTEGER,
        tp::FLOAT => java::REAL,
        tp::DOUBLE => java::DOUBLE,
        tp::NULL => java::NULL,
        tp::NEWDECIMAL => java::DECIMAL,
        tp::TIMESTAMP | tp::DATETIME => java::TIMESTAMP,
        tp::LONGLONG => java::BIGINT,
        tp::DATE | tp::NEWDATE => java::DATE,
        tp::DURATION => java::TIME,
        tp::YEAR => java::VARCHAR,
        tp::SET | tp::BIT => java::BIT,
        tp::TINY_BLOB | tp::MEDIUM_BLOB | tp::LONG_BLOB | tp::BLOB => {
            if binary {
                java::BLOB
            } else {
                java::CLOB
            }
        }
        tp::VAR_STRING | tp::VARCHAR => {
            if binary {
                java::BLOB
            } else {
                java::VARCHAR
            }
        }
        tp::STRING => {
            if binary {
                java::BLOB
            } else {
                java::CHAR
            }
        }
        tp::GEOMETRY => java::BINARY,
        _ => java::VARCHAR,
    }
}

/// `getJavaSQLType(value, tp, flag)`: the base code, promoted for unsigned integers whose
/// value exceeds the signed range. `Err` carries the reason for a value of the wrong kind.
pub fn java_sql_type(col: &ColumnMeta, value: &Value) -> Result<i32, String> {
    let t = col.field_type.tp;
    let base = base_java_type(t, col.flags.is_binary());
    if !col.flags.is_unsigned() {
        return Ok(base);
    }
    match t {
        tp::YEAR | tp::BIT | tp::FLOAT | tp::DOUBLE | tp::NEWDECIMAL => return Ok(base),
        _ => {}
    }
    let n = match value {
        Value::Null => return Ok(base),
        Value::Uint(u) => *u,
        // TiCDC's mounter always yields uint64 for unsigned columns; accept a non-negative
        // signed value from our decoder as the same number rather than failing.
        Value::Int(i) if *i >= 0 => i.unsigned_abs(),
        other => return Err(format!("unexpected value {other:?} for an unsigned column")),
    };
    Ok(match t {
        tp::TINY if n > i8::MAX as u64 => java::SMALLINT,
        tp::SHORT if n > i16::MAX as u64 => java::INTEGER,
        tp::LONG if n > i32::MAX as u64 => java::BIGINT,
        tp::LONGLONG if n > i64::MAX as u64 => java::DECIMAL,
        _ => base,
    })
}

/// Canal event type name of a DDL action (`convertDdlEventType`).
pub fn canal_ddl_type(a: ActionType) -> &'static str {
    match a {
        ActionType::CREATE_TABLE => "CREATE",
        ActionType::RENAME_TABLE | ActionType::RENAME_TABLES => "RENAME",
        ActionType::ADD_INDEX | ActionType::ADD_FOREIGN_KEY | ActionType::ADD_PRIMARY_KEY => {
            "CINDEX"
        }
        ActionType::DROP_INDEX | ActionType::DROP_FOREIGN_KEY | ActionType::DROP_PRIMARY_KEY => {
            "DINDEX"
        }
        ActionType::ADD_COLUMN
        | ActionType::DROP_COLUMN
        | ActionType::MODIFY_COLUMN
        | ActionType::REBASE_AUTO_ID
        | ActionType::SET_DEFAULT_VALUE
        | ActionType::MODIFY_TABLE_COMMENT
        | ActionType::RENAME_INDEX
        | ActionType::ADD_TABLE_PARTITION
        | ActionType::DROP_TABLE_PARTITION
        | ActionType::MODIFY_TABLE_CHARSET_AND_COLLATE
        | ActionType::TRUNCATE_TABLE_PARTITION
        | ActionType::ALTER_INDEX_VISIBILITY
        | ActionType::MULTI_SCHEMA_CHANGE
        | ActionType::REORGANIZE_PARTITION
        | ActionType::ALTER_TABLE_PARTITIONING
        | ActionType::REMOVE_PARTITIONING
        | ActionType::ADD_COLUMNS
        | ActionType::DROP_COLUMNS => "ALTER",
        ActionType::DROP_TABLE => "ERASE",
        ActionType::TRUNCATE_TABLE => "TRUNCATE",
        // Schema DDLs, views, sequences, locks, TiFlash replicas, exchange partition, batch
        // create tables and everything unknown.
        _ => "QUERY",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::event::test_support::ft;
    use crate::event::{ColumnFlags, TableMeta};
    use crate::model::{CIStr, TableInfo, flag};

    fn column(t: u8, fl: u32, charset: &str) -> ColumnMeta {
        let info = TableInfo {
            id: 1,
            name: CIStr::new("t"),
            columns: vec![crate::event::test_support::col(
                1,
                "c",
                ft(t, fl, -1, 0, charset),
            )],
            ..TableInfo::default()
        };
        TableMeta::new(&info).columns.remove(0)
    }

    /// Expected codes from tiflow release-8.5 `pkg/sink/codec/canal/type_test.go`
    /// (e.g. :49-52 int → INTEGER, :117-123 int unsigned 2147483648 → BIGINT,
    /// :138-146 tinyint unsigned 128 → SMALLINT, bigint unsigned max → DECIMAL).
    #[test]
    fn promotion_matches_ticdc_type_test() {
        let b = "binary";
        let i = column(tp::LONG, 0, b);
        assert_eq!(
            java_sql_type(&i, &Value::Int(2147483647)).unwrap(),
            java::INTEGER
        );
        let iu = column(tp::LONG, flag::UNSIGNED, b);
        assert!(iu.flags.has(ColumnFlags::UNSIGNED));
        assert_eq!(
            java_sql_type(&iu, &Value::Uint(2147483647)).unwrap(),
            java::INTEGER
        );
        assert_eq!(
            java_sql_type(&iu, &Value::Uint(2147483648)).unwrap(),
            java::BIGINT
        );
        assert_eq!(java_sql_type(&iu, &Value::Null).unwrap(), java::INTEGER);
        let tu = column(tp::TINY, flag::UNSIGNED, b);
        assert_eq!(
            java_sql_type(&tu, &Value::Uint(127)).unwrap(),
            java::TINYINT
        );
        assert_eq!(
            java_sql_type(&tu, &Value::Uint(128)).unwrap(),
            java::SMALLINT
        );
        let su = column(tp::SHORT, flag::UNSIGNED, b);
        assert_eq!(
            java_sql_type(&su, &Value::Uint(32768)).unwrap(),
            java::INTEGER
        );
        let mu = column(tp::INT24, flag::UNSIGNED, b);
        assert_eq!(
            java_sql_type(&mu, &Value::Uint(16777215)).unwrap(),
            java::INTEGER
        );
        let bu = column(tp::LONGLONG, flag::UNSIGNED, b);
        assert_eq!(
            java_sql_type(&bu, &Value::Uint(u64::MAX)).unwrap(),
            java::DECIMAL
        );
        assert_eq!(
            java_sql_type(&bu, &Value::Uint(1 << 62)).unwrap(),
            java::BIGINT
        );
        assert!(java_sql_type(&bu, &Value::Float64(1.0)).is_err());
        let fu = column(tp::FLOAT, flag::UNSIGNED, b);
        assert_eq!(
            java_sql_type(&fu, &Value::Float32(1.0)).unwrap(),
            java::REAL
        );
        assert_eq!(base_java_type(tp::BLOB, false), java::CLOB);
        assert_eq!(base_java_type(tp::BLOB, true), java::BLOB);
        assert_eq!(base_java_type(tp::VARCHAR, true), java::BLOB);
        assert_eq!(base_java_type(tp::STRING, false), java::CHAR);
        assert_eq!(base_java_type(tp::YEAR, true), java::VARCHAR);
        assert_eq!(base_java_type(tp::JSON, true), java::VARCHAR);
        assert_eq!(base_java_type(tp::TIDB_VECTOR_FLOAT32, true), java::VARCHAR);
    }

    #[test]
    fn ddl_types() {
        assert_eq!(canal_ddl_type(ActionType::CREATE_TABLE), "CREATE");
        assert_eq!(canal_ddl_type(ActionType::RENAME_TABLES), "RENAME");
        assert_eq!(canal_ddl_type(ActionType::ADD_PRIMARY_KEY), "CINDEX");
        assert_eq!(canal_ddl_type(ActionType::DROP_FOREIGN_KEY), "DINDEX");
        assert_eq!(canal_ddl_type(ActionType::MULTI_SCHEMA_CHANGE), "ALTER");
        assert_eq!(canal_ddl_type(ActionType::DROP_TABLE), "ERASE");
        assert_eq!(canal_ddl_type(ActionType::TRUNCATE_TABLE), "TRUNCATE");
        assert_eq!(canal_ddl_type(ActionType::CREATE_SCHEMA), "QUERY");
        assert_eq!(
            canal_ddl_type(ActionType::EXCHANGE_TABLE_PARTITION),
            "QUERY"
        );
        assert_eq!(canal_ddl_type(ActionType::CREATE_TABLES), "QUERY");
        assert_eq!(canal_ddl_type(ActionType(200)), "QUERY");
    }
}
