//! `decode`: one row an operator must inspect (for example the row a changefeed stopped
//! at), decoded with a table's TiDB TableInfo and printed as one JSON object:
//! `{"table_id":…,"handle":…,"columns":{"name":"value as Canal-JSON renders it" | null}}`.
//! Without a value only the key is decoded (`columns` is absent). Every failure names what
//! could not be decoded and why.

use crate::codec::canal_json::write_value;

use crate::codec::go_json::write_json_string;
use crate::event::TableMeta;
use crate::model::TableInfo;
use crate::mount::Datum;
use crate::mount::key::Handle;
use crate::mount::{RowDecoder, TimeZone};

/// Why `decode` failed; `Input` is a usage problem (exit 2), `Decode` bad bytes (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum DecodeCliError {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Decode(String),
}

fn hex(what: &str, text: &str) -> Result<Vec<u8>, DecodeCliError> {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let t = t.strip_prefix("0x").unwrap_or(&t);
    ::hex::decode(t).map_err(|e| DecodeCliError::Input(format!("--{what} is not hex: {e}")))
}

/// Decodes `key` (and `value`, when given) with `table_info_json`; TIMESTAMP values are
/// rendered in `time_zone` (`UTC`, `+08:00`, `Asia/Shanghai`).
pub fn decode(
    table_info_json: &[u8],
    time_zone: &str,
    key_hex: &str,
    value_hex: Option<&str>,
) -> Result<String, DecodeCliError> {
    let table = TableInfo::from_json(table_info_json).map_err(|e| {
        DecodeCliError::Input(format!("the table info is not TiDB TableInfo JSON: {e}"))
    })?;
    let tz: TimeZone = time_zone
        .parse()
        .map_err(|e| DecodeCliError::Input(format!("--time-zone {time_zone:?}: {e}")))?;
    let key = hex("key", key_hex)?;
    let decoder = RowDecoder::new(&table, tz);
    let mut out = Vec::new();
    let (table_id, handle, columns) = match value_hex {
        None => {
            let (id, handle) = decoder.decode_key(&key).map_err(|e| {
                DecodeCliError::Decode(format!(
                    "cannot decode the key of table {} ({}): {e}",
                    table.name.o, table.id
                ))
            })?;
            (id, handle, None)
        }
        Some(v) => {
            let value = hex("value", v)?;
            let row = decoder.decode_row(&key, &value).map_err(|e| {
                DecodeCliError::Decode(format!(
                    "cannot decode the row of table {} ({}) at key {}: {e}",
                    table.name.o,
                    table.id,
                    ::hex::encode(&key)
                ))
            })?;
            (row.physical_table_id, row.handle, Some(row.columns))
        }
    };
    out.extend_from_slice(format!("{{\"table_id\":{table_id},\"handle\":").as_bytes());
    match &handle {
        Handle::Int(h) => out.extend_from_slice(h.to_string().as_bytes()),
        Handle::Common(datums) => {
            // A clustered primary key: its datums as strings, in key order.
            out.push(b'[');
            for (i, d) in datums.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let text = match d {
                    Datum::Null => {
                        out.extend_from_slice(b"null");
                        continue;
                    }
                    Datum::Int(v) => v.to_string(),
                    Datum::Uint(v) => v.to_string(),
                    Datum::Float(v) => v.to_string(),
                    Datum::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                    Datum::Decimal(d) => d.to_string(),
                    Datum::Duration(ns) => format!("{ns}ns"),
                    other => format!("{other:?}"),
                };
                write_json_string(&mut out, text.as_bytes());
            }
            out.push(b']');
        }
    }
    if let Some(columns) = columns {
        let meta = TableMeta::new(&table);
        out.extend_from_slice(b",\"columns\":{");
        for (i, c) in columns.iter().enumerate() {
            let Some(cm) = meta.position_of(c.id).and_then(|p| meta.columns.get(p)) else {
                continue;
            };
            if i > 0 {
                out.push(b',');
            }
            write_json_string(&mut out, cm.name.as_bytes());
            out.push(b':');
            write_value(&mut out, cm, &c.value);
        }
        out.push(b'}');
    }
    out.push(b'}');
    String::from_utf8(out).map_err(|e| DecodeCliError::Decode(format!("output is not UTF-8: {e}")))
}
