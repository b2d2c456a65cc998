//! TiDB-shaped data for the emulator: typed rows encoded as TiDB writes them
//! (record keys with int or common handles, row format v2), TiDB's meta keys
//! (`m` prefix: `DBs`/`DB:<id>` hashes, `SchemaVersionKey`) and DDL job rows of
//! `mysql.tidb_ddl_job`.
//!
//! Owns only the mapping from scenario values to bytes; the codecs come from
//! [`tidb_changefeed::mount`] and this crate's [`crate::encode`], the table model from
//! [`tidb_changefeed::model`]. Guarantees: the int
//! primary-key column of a `pk_is_handle` table is the handle and is not stored in
//! the value; common-handle primary-key columns are stored in both key and value;
//! columns not given are absent from the row (not NULL); a job row carries the
//! job JSON in `job_meta` with `state = 4` (done) and the table after the DDL in
//! `binlog.TableInfo`.

use std::collections::BTreeMap;

use serde_json::json;

use tidb_changefeed::model::{ColumnInfo, TableInfo, flag, tp};
use tidb_changefeed::mount::decimal::Decimal;
use tidb_changefeed::mount::key::{Handle, encode_meta_key, encode_record_key, meta_type};
use tidb_changefeed::mount::time::{TimeType, TimeZone, parse_duration, parse_time};
use tidb_changefeed::mount::value::Value;

use crate::encode::{encode_row_v2, encode_v2_value, value_to_datum};

/// Table id of `mysql.tidb_ddl_job` (`0xFFFFFFFFFFFF - 1`).
pub const DDL_JOB_TABLE_ID: i64 = 0xFFFF_FFFF_FFFF - 1;
/// Database id used for the `mysql` schema.
pub const MYSQL_DB_ID: i64 = 1;
/// `JobStateDone`.
pub const JOB_STATE_DONE: i64 = 4;

/// Errors turning scenario values into TiDB bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TidbDataError {
    /// Unknown table id.
    #[error("table {0} is not declared")]
    UnknownTable(i64),
    /// Unknown column name.
    #[error("table {table} has no column {column:?}")]
    UnknownColumn {
        /// Table.
        table: String,
        /// Column.
        column: String,
    },
    /// A value does not fit its column type.
    #[error("column {column:?}: {reason}")]
    BadValue {
        /// Column.
        column: String,
        /// Reason.
        reason: String,
    },
    /// No handle could be derived for the row.
    #[error("table {0}: row needs a handle (primary key values or `handle`)")]
    NoHandle(String),
    /// Invalid TableInfo JSON.
    #[error("invalid TableInfo JSON: {0}")]
    TableInfo(String),
}

fn bad(col: &ColumnInfo, reason: impl Into<String>) -> TidbDataError {
    TidbDataError::BadValue {
        column: col.name.o.clone(),
        reason: reason.into(),
    }
}

/// Parse TableInfo JSON.
pub fn parse_table_info(json: &str) -> Result<TableInfo, TidbDataError> {
    TableInfo::from_json(json.as_bytes()).map_err(|e| TidbDataError::TableInfo(e.to_string()))
}

/// Convert a scenario (TOML) value to a typed value of the column's type.
pub fn to_value(col: &ColumnInfo, v: &toml::Value) -> Result<Value, TidbDataError> {
    let ft = &col.field_type;
    let text = |v: &toml::Value| match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(u8::from(*b).to_string()),
        toml::Value::Datetime(d) => Some(d.to_string()),
        _ => None,
    };
    let s = text(v).ok_or_else(|| bad(col, "unsupported TOML value"))?;
    let fsp = u8::try_from(ft.decimal.max(0)).unwrap_or(0);
    Ok(match ft.tp {
        tp::TINY | tp::SHORT | tp::INT24 | tp::LONG | tp::LONGLONG | tp::YEAR => {
            if ft.has_flag(flag::UNSIGNED) {
                Value::Uint(
                    s.parse()
                        .map_err(|_| bad(col, format!("{s:?} is not an unsigned integer")))?,
                )
            } else {
                Value::Int(
                    s.parse()
                        .map_err(|_| bad(col, format!("{s:?} is not an integer")))?,
                )
            }
        }
        tp::FLOAT => Value::Float32(s.parse().map_err(|_| bad(col, "not a float"))?),
        tp::DOUBLE => Value::Float64(s.parse().map_err(|_| bad(col, "not a double"))?),
        tp::NEWDECIMAL => {
            let p = u8::try_from(ft.flen).unwrap_or(65);
            let f = u8::try_from(ft.decimal.max(0)).unwrap_or(0);
            Value::Decimal(Decimal::parse(&s, p, f).map_err(|e| bad(col, e.to_string()))?)
        }
        tp::VARCHAR
        | tp::VAR_STRING
        | tp::STRING
        | tp::TINY_BLOB
        | tp::MEDIUM_BLOB
        | tp::LONG_BLOB
        | tp::BLOB => Value::Bytes(s.into_bytes()),
        tp::DATE | tp::NEWDATE => {
            Value::Time(parse_time(&s, TimeType::Date, 0).map_err(|e| bad(col, e))?)
        }
        tp::DATETIME => {
            Value::Time(parse_time(&s, TimeType::Datetime, fsp).map_err(|e| bad(col, e))?)
        }
        tp::TIMESTAMP => {
            Value::Time(parse_time(&s, TimeType::Timestamp, fsp).map_err(|e| bad(col, e))?)
        }
        tp::DURATION => Value::Duration(parse_duration(&s, fsp).map_err(|e| bad(col, e))?),
        tp::JSON => Value::Json(s),
        tp::ENUM => {
            let index = ft
                .elems
                .iter()
                .position(|e| *e == s)
                .map(|i| i as u64 + 1)
                .ok_or_else(|| bad(col, format!("{s:?} is not an ENUM element")))?;
            Value::Enum { index, name: s }
        }
        tp::SET => {
            let mut bits = 0u64;
            for name in s.split(',').filter(|n| !n.is_empty()) {
                let i = ft
                    .elems
                    .iter()
                    .position(|e| e == name)
                    .ok_or_else(|| bad(col, format!("{name:?} is not a SET element")))?;
                bits |= 1 << i;
            }
            let names: Vec<&str> = ft
                .elems
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, e)| e.as_str())
                .collect();
            Value::Set {
                bits,
                names: names.join(","),
            }
        }
        tp::BIT => {
            let n: u64 = s
                .parse()
                .map_err(|_| bad(col, format!("{s:?} is not a BIT value")))?;
            let width = usize::try_from(ft.flen.clamp(1, 64))
                .unwrap_or(64)
                .div_ceil(8);
            Value::Bit(n.to_be_bytes()[8 - width..].to_vec())
        }
        other => {
            return Err(bad(
                col,
                format!("type {other:#x} is not supported in scenario values"),
            ));
        }
    })
}

/// Encode a typed row: `(raw record key, row v2 value)`. `values` maps column
/// names (case-insensitive) to values; `handle` is required only when the table
/// has neither an int PK handle nor a clustered PK (`_tidb_rowid`).
pub fn encode_row(
    table: &TableInfo,
    values: &BTreeMap<String, toml::Value>,
    handle: Option<i64>,
) -> Result<(Vec<u8>, Vec<u8>), TidbDataError> {
    let tz = TimeZone::Utc;
    let mut typed: BTreeMap<i64, Value> = BTreeMap::new();
    for (name, v) in values {
        let col = table
            .columns
            .iter()
            .find(|c| c.name.l == name.to_lowercase() || c.name.o.eq_ignore_ascii_case(name))
            .ok_or_else(|| TidbDataError::UnknownColumn {
                table: table.name.o.clone(),
                column: name.clone(),
            })?;
        typed.insert(col.id, to_value(col, v)?);
    }
    let pk_handle_col = table.pk_handle_column().map(|c| c.id);
    let handle = if let Some(id) = pk_handle_col {
        match typed.get(&id) {
            Some(Value::Int(i)) => Handle::Int(*i),
            Some(Value::Uint(u)) => Handle::Int(i64::from_ne_bytes(u.to_ne_bytes())),
            _ => return Err(TidbDataError::NoHandle(table.name.o.clone())),
        }
    } else if table.is_common_handle {
        let mut ds = Vec::new();
        for c in table.common_handle_columns() {
            let v = typed
                .get(&c.id)
                .ok_or_else(|| TidbDataError::NoHandle(table.name.o.clone()))?;
            ds.push(value_to_datum(v, &tz).map_err(|e| bad(c, e.to_string()))?);
        }
        Handle::Common(ds)
    } else {
        Handle::Int(handle.ok_or_else(|| TidbDataError::NoHandle(table.name.o.clone()))?)
    };
    let key =
        encode_record_key(table.id, &handle).map_err(|e| TidbDataError::NoHandle(e.to_string()))?;
    let mut cols: Vec<(i64, Option<Vec<u8>>)> = Vec::new();
    for (id, v) in &typed {
        if Some(*id) == pk_handle_col {
            continue;
        }
        let col = table
            .column_by_id(*id)
            .ok_or_else(|| TidbDataError::UnknownColumn {
                table: table.name.o.clone(),
                column: id.to_string(),
            })?;
        if v.is_null() {
            cols.push((*id, None));
        } else {
            cols.push((
                *id,
                Some(encode_v2_value(v, &tz).map_err(|e| bad(col, e.to_string()))?),
            ));
        }
    }
    let refs: Vec<(i64, Option<&[u8]>)> = cols.iter().map(|(i, v)| (*i, v.as_deref())).collect();
    Ok((key, encode_row_v2(&refs)))
}

/// Meta key of the `DBs` hash field `DB:<db_id>` (value: DBInfo JSON).
#[must_use]
pub fn db_meta_key(db_id: i64) -> Vec<u8> {
    encode_meta_key(
        b"DBs",
        meta_type::HASH_DATA,
        format!("DB:{db_id}").as_bytes(),
    )
}

/// Meta key of the `DB:<db_id>` hash field `Table:<table_id>` (value: TableInfo JSON).
#[must_use]
pub fn table_meta_key(db_id: i64, table_id: i64) -> Vec<u8> {
    encode_meta_key(
        format!("DB:{db_id}").as_bytes(),
        meta_type::HASH_DATA,
        format!("Table:{table_id}").as_bytes(),
    )
}

/// Meta key `SchemaVersionKey` (string; value: decimal text).
#[must_use]
pub fn schema_version_key() -> Vec<u8> {
    encode_meta_key(b"SchemaVersionKey", meta_type::STRING, b"")
}

/// DBInfo JSON.
#[must_use]
pub fn db_info_json(db_id: i64, name: &str) -> String {
    json!({
        "id": db_id,
        "db_name": {"O": name, "L": name.to_lowercase()},
        "charset": "utf8mb4",
        "collate": "utf8mb4_bin",
        "state": 5
    })
    .to_string()
}

fn col_json(
    id: i64,
    name: &str,
    tp: u8,
    flag: u32,
    flen: i64,
    charset: &str,
    collate: &str,
) -> serde_json::Value {
    json!({
        "id": id,
        "name": {"O": name, "L": name},
        "offset": id - 1,
        "origin_default": null,
        "default": null,
        "generated_expr_string": "",
        "generated_stored": false,
        "state": 5,
        "version": 2,
        "type": {"Tp": tp, "Flag": flag, "Flen": flen, "Decimal": 0,
                 "Charset": charset, "Collate": collate, "Elems": null,
                 "ElemsIsBinaryLit": null, "Array": false}
    })
}

/// TableInfo JSON of `mysql.tidb_ddl_job` (`job_id bigint not null primary key,
/// reorg int, schema_ids text, table_ids text, job_meta longblob, type int,
/// processing int`).
#[must_use]
pub fn ddl_job_table_json() -> String {
    ddl_job_table(LONGBLOB_FLEN)
}

/// `Flen` TiDB records for LONGBLOB (`mysql.MaxLongBlobWidth`).
const LONGBLOB_FLEN: i64 = 4_294_967_295;

fn ddl_job_table(longblob_flen: i64) -> String {
    let pk = flag::NOT_NULL | flag::PRI_KEY;
    json!({
        "id": DDL_JOB_TABLE_ID,
        "name": {"O": "tidb_ddl_job", "L": "tidb_ddl_job"},
        "charset": "utf8mb4",
        "collate": "utf8mb4_bin",
        "cols": [
            col_json(1, "job_id", tp::LONGLONG, pk, 20, "binary", "binary"),
            col_json(2, "reorg", tp::LONG, 0, 11, "binary", "binary"),
            col_json(3, "schema_ids", tp::BLOB, flag::BLOB, 65535, "utf8mb4", "utf8mb4_bin"),
            col_json(4, "table_ids", tp::BLOB, flag::BLOB, 65535, "utf8mb4", "utf8mb4_bin"),
            col_json(5, "job_meta", tp::LONG_BLOB, flag::BLOB | flag::BINARY, longblob_flen, "binary", "binary"),
            col_json(6, "type", tp::LONG, 0, 11, "binary", "binary"),
            col_json(7, "processing", tp::LONG, 0, 11, "binary", "binary"),
        ],
        "index_info": null,
        "state": 5,
        "pk_is_handle": true,
        "is_common_handle": false,
        "max_col_id": 7,
        "version": 5
    })
    .to_string()
}

/// A finished DDL job.
#[derive(Debug, Clone)]
pub struct DdlJob {
    /// Job id (the row handle).
    pub id: i64,
    /// ActionType (3 create table, 4 drop table, 5 add column, …).
    pub action: i64,
    /// Schema id.
    pub schema_id: i64,
    /// Schema name.
    pub schema_name: String,
    /// Table id.
    pub table_id: i64,
    /// Table name.
    pub table_name: String,
    /// SQL text.
    pub query: String,
    /// Schema version after the job.
    pub schema_version: i64,
    /// TableInfo JSON after the job (null for drops).
    pub table_info: Option<serde_json::Value>,
    /// Start ts of the DDL transaction.
    pub start_ts: u64,
}

/// Job JSON as TiDB stores it in `job_meta`.
#[must_use]
pub fn job_json(job: &DdlJob) -> String {
    json!({
        "id": job.id,
        "type": job.action,
        "schema_id": job.schema_id,
        "table_id": job.table_id,
        "schema_name": job.schema_name,
        "table_name": job.table_name,
        "state": JOB_STATE_DONE,
        "schema_state": if job.table_info.is_some() { 5 } else { 0 },
        "snapshot_ver": 0,
        "start_ts": job.start_ts,
        "query": job.query,
        "binlog": {
            "SchemaVersion": job.schema_version,
            "DBInfo": null,
            "TableInfo": job.table_info,
            "FinishedTS": 0,
            "MultipleTableInfos": null
        },
        "version": 1,
        "priority": 0,
        "cdc_write_source": 0
    })
    .to_string()
}

/// The `tidb_ddl_job` row for a job: `(raw key, row v2 value)`.
pub fn ddl_job_row(job: &DdlJob) -> Result<(Vec<u8>, Vec<u8>), TidbDataError> {
    let table = parse_table_info(&ddl_job_table(LONGBLOB_FLEN))?;
    let mut values = BTreeMap::new();
    values.insert("job_id".to_owned(), toml::Value::Integer(job.id));
    values.insert("reorg".to_owned(), toml::Value::Integer(0));
    values.insert(
        "schema_ids".to_owned(),
        toml::Value::String(job.schema_id.to_string()),
    );
    values.insert(
        "table_ids".to_owned(),
        toml::Value::String(job.table_id.to_string()),
    );
    values.insert("job_meta".to_owned(), toml::Value::String(job_json(job)));
    values.insert("type".to_owned(), toml::Value::Integer(job.action));
    values.insert("processing".to_owned(), toml::Value::Integer(0));
    encode_row(&table, &values, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_keys_match_reference_vectors() {
        assert_eq!(
            hex::encode(db_meta_key(1)),
            "6d4442730000000000fa000000000000006844423a3100000000fb"
        );
        assert_eq!(
            hex::encode(table_meta_key(2, 104)),
            "6d44423a3200000000fb00000000000000685461626c653a3130ff3400000000000000f8"
        );
    }

    #[test]
    fn ddl_job_row_key_and_decodable_meta() {
        let job = DdlJob {
            id: 5,
            action: 3,
            schema_id: 2,
            schema_name: "test".into(),
            table_id: 104,
            table_name: "t".into(),
            query: "create table t (id int primary key)".into(),
            schema_version: 3,
            table_info: Some(json!({"id": 104})),
            start_ts: 1,
        };
        let (k, v) = ddl_job_row(&job).expect("row");
        assert_eq!(hex::encode(k), "748000fffffffffffe5f728000000000000005");
        let t = parse_table_info(&ddl_job_table(LONGBLOB_FLEN)).expect("table info");
        let row = tidb_changefeed::mount::row_v2::RowV2::parse(&v).expect("row v2");
        let meta = row
            .values()
            .find(|c| c.0 == 5)
            .map(|c| c.1)
            .expect("job_meta present");
        let j: serde_json::Value = serde_json::from_slice(meta).expect("json");
        assert_eq!(
            (j["id"].as_i64(), j["state"].as_i64()),
            (Some(5), Some(JOB_STATE_DONE))
        );
        assert!(
            row.values().all(|c| c.0 != 1),
            "pk handle column is not stored"
        );
        assert!(t.pk_is_handle);
    }

    #[test]
    fn typed_row_int_handle() {
        let t = parse_table_info(
            r#"{"id":104,"name":{"O":"t","L":"t"},"pk_is_handle":true,"cols":[
            {"id":1,"name":{"O":"id","L":"id"},"offset":0,"state":5,"type":{"Tp":8,"Flag":3,"Flen":20}},
            {"id":2,"name":{"O":"name","L":"name"},"offset":1,"state":5,"type":{"Tp":15,"Flag":0,"Flen":32,"Charset":"utf8mb4","Collate":"utf8mb4_bin"}}]}"#,
        )
        .expect("table");
        let mut vals = BTreeMap::new();
        vals.insert("id".to_owned(), toml::Value::Integer(1));
        vals.insert("name".to_owned(), toml::Value::String("abc".into()));
        let (k, v) = encode_row(&t, &vals, None).expect("row");
        assert_eq!(hex::encode(k), "7480000000000000685f728000000000000001");
        assert_eq!(hex::encode(v), "8000010000000203006162 63".replace(' ', ""));
    }
}
