//! TiDB's MySQL type strings of a column type, as TiCDC prints them: `TypeToStr` plus
//! ` unsigned`/` zerofill` (canal-json `mysqlType`) and `GetTypeDesc` (full declarations such as
//! `decimal(10,2) unsigned` or `enum('a','b')`).
//!
//! Guarantees: the same text TiDB's parser renders for each type code, charset and flags
//! (`pkg/parser/types/etc.go`, `field_type.go`), checked against TiCDC's type tests.

use std::fmt::Write as _;

use crate::model::{FieldType, flag, tp};

/// TiDB `types.TypeToStr(tp, charset)` (parser `types/etc.go`).
pub fn type_to_str(ft: &FieldType) -> &'static str {
    let binary = ft.charset == "binary";
    match ft.tp {
        tp::BIT => "bit",
        tp::BLOB if binary => "blob",
        tp::BLOB => "text",
        tp::DATE => "date",
        tp::DATETIME => "datetime",
        tp::NEWDECIMAL => "decimal",
        tp::DOUBLE => "double",
        tp::ENUM => "enum",
        tp::FLOAT => "float",
        tp::GEOMETRY => "geometry",
        tp::TIDB_VECTOR_FLOAT32 => "vector",
        tp::INT24 => "mediumint",
        tp::JSON => "json",
        tp::LONG => "int",
        tp::LONGLONG => "bigint",
        tp::LONG_BLOB if binary => "longblob",
        tp::LONG_BLOB => "longtext",
        tp::MEDIUM_BLOB if binary => "mediumblob",
        tp::MEDIUM_BLOB => "mediumtext",
        tp::NULL if binary => "binary",
        tp::NULL => "null",
        tp::SET => "set",
        tp::SHORT => "smallint",
        tp::STRING if binary => "binary",
        tp::STRING => "char",
        tp::DURATION => "time",
        tp::TIMESTAMP => "timestamp",
        tp::TINY => "tinyint",
        tp::TINY_BLOB if binary => "tinyblob",
        tp::TINY_BLOB => "tinytext",
        tp::VARCHAR if binary => "varbinary",
        tp::VARCHAR => "varchar",
        tp::VAR_STRING => "var_string",
        tp::YEAR => "year",
        0 => "unspecified",
        _ => "",
    }
}

fn unsigned_zerofill(ft: &FieldType, mut s: String) -> String {
    if ft.is_unsigned() && ft.tp != tp::BIT && ft.tp != tp::YEAR {
        s.push_str(" unsigned");
    }
    if ft.has_flag(flag::ZEROFILL) && ft.tp != tp::YEAR {
        s.push_str(" zerofill");
    }
    s
}

/// TiCDC `utils.GetMySQLType(col, false)`: `TypeToStr` + ` unsigned` + ` zerofill`.
pub fn type_name(ft: &FieldType) -> String {
    // TiCDC's own helpers (`withUnsigned4MySQLType`, `withZerofill4MySQLType`) compare the
    // rendered name with "bit"/"year", which is the same test as the type code.
    unsigned_zerofill(ft, type_to_str(ft).to_owned())
}

/// TiDB `mysql.GetDefaultFieldLengthAndDecimal` (`parser/mysql/util.go`).
pub fn default_flen_decimal(t: u8) -> (i64, i32) {
    match t {
        tp::BIT => (1, 0),
        tp::TINY => (4, 0),
        tp::SHORT => (6, 0),
        tp::INT24 => (9, 0),
        tp::LONG => (11, 0),
        tp::LONGLONG => (20, 0),
        tp::DOUBLE => (22, -1),
        tp::FLOAT => (12, -1),
        tp::NEWDECIMAL => (10, 0),
        tp::DURATION => (10, 0),
        tp::DATE => (10, 0),
        tp::TIMESTAMP | tp::DATETIME => (19, 0),
        tp::YEAR => (4, 0),
        tp::STRING => (1, 0),
        tp::VARCHAR | tp::VAR_STRING => (5, 0),
        tp::TINY_BLOB => (255, 0),
        tp::BLOB => (65535, 0),
        tp::MEDIUM_BLOB => (16_777_215, 0),
        tp::LONG_BLOB | tp::JSON => (4_294_967_295, 0),
        tp::NULL => (0, 0),
        tp::SET | tp::ENUM => (-1, 0),
        _ => (-1, -1),
    }
}

/// TiDB parser `format.OutputFormat` (ENUM/SET elements in a type description).
fn output_format(e: &str, out: &mut String) {
    for ch in e.chars() {
        match ch {
            '\0' => out.push_str("\\0"),
            '\'' => out.push_str("''"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// TiDB `ColumnInfo.GetTypeDesc()` = `FieldType.CompactStr()` + ` unsigned` + ` zerofill`,
/// with TiDB's default `TiDBStrictIntegerDisplayWidth = false` (integers keep their width).
pub fn type_desc(ft: &FieldType) -> String {
    let mut s = type_to_str(ft).to_owned();
    let (dflen, ddec) = default_flen_decimal(ft.tp);
    let flen = if ft.flen == -1 { dflen } else { ft.flen };
    let dec = if ft.decimal == -1 { ddec } else { ft.decimal };
    let decimal_not_default = ft.decimal != ddec && ft.decimal != 0 && ft.decimal != -1;
    // `write!` into a String cannot fail.
    let _ = match ft.tp {
        tp::ENUM | tp::SET => {
            s.push_str("('");
            for (i, e) in ft.elems.iter().enumerate() {
                if i > 0 {
                    s.push_str("','");
                }
                output_format(e, &mut s);
            }
            s.push_str("')");
            Ok(())
        }
        tp::TIMESTAMP | tp::DATETIME | tp::DURATION if decimal_not_default => {
            write!(s, "({dec})")
        }
        tp::DOUBLE | tp::FLOAT if decimal_not_default => write!(s, "({flen},{dec})"),
        tp::NEWDECIMAL => write!(s, "({flen},{dec})"),
        tp::BIT | tp::VARCHAR | tp::STRING | tp::VAR_STRING => write!(s, "({flen})"),
        tp::TINY | tp::SHORT | tp::INT24 | tp::LONG | tp::LONGLONG => write!(s, "({flen})"),
        tp::YEAR => write!(s, "({})", ft.flen),
        tp::TIDB_VECTOR_FLOAT32 if ft.flen != -1 => write!(s, "({})", ft.flen),
        tp::NULL => write!(s, "(0)"),
        _ => Ok(()),
    };
    unsigned_zerofill(ft, s)
}
