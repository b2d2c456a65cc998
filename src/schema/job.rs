//! DDL jobs from `mysql.tidb_ddl_job` rows, as the CDC feed delivers them.
//!
//! Owns [`DdlJob`] (the fields of TiDB's `model.Job` schema tracking needs), [`JobDecoder`]
//! (row key + row value → job, through [`crate::mount::RowDecoder`] and the job table's
//! TableInfo) and [`ddl_job_span`] (the raw record range to subscribe).
//!
//! Guarantees, as TiCDC's `ParseDDLJob`/`parseJob`:
//! * only PUTs whose job is in state done (4) yield a job; deletes and other states are `None`;
//! * the job's `finished_ts` is the row's **commit ts** and its `start_ts` the row's start ts
//!   (TiDB leaves `binlog.FinishedTS` at 0 in the done state);
//! * the job table's TableInfo comes from the meta snapshot when it holds one
//!   ([`JobDecoder::from_snapshot`]); otherwise the built-in definition, which is TiDB's fixed
//!   bootstrap DDL (`job_id bigint not null, reorg int, schema_ids text, table_ids text,
//!   job_meta longblob, type int, processing int, primary key(job_id)`, column ids 1..7, table
//!   id `0xFFFFFFFFFFFF - 1`).

use serde::Deserialize;

use super::error::JobError;
use crate::event::{KvChange, OpType};
use crate::model::{
    ActionType, CIStr, ColumnInfo, DbInfo, FieldType, MetaSnapshot, SchemaState, TableInfo, flag,
    tp,
};
use crate::mount::key::{decode_record_key, record_range};
use crate::mount::{RowDecoder, TimeZone, Value};

/// Table id of `mysql.tidb_ddl_job` (`TiDBDDLJobTableID`, `0xFFFFFFFFFFFF - 1`).
pub const DDL_JOB_TABLE_ID: i64 = 0xFFFF_FFFF_FFFF - 1;
/// `JobStateDone`.
pub const JOB_STATE_DONE: i64 = 4;

/// Raw record range `[t{id}_r, t{id}_s)` of `mysql.tidb_ddl_job`: the span whose committed rows
/// carry DDL jobs (TiCDC's `GetAllDDLSpan` for TiDB ≥ 6.2).
pub fn ddl_job_span() -> (Vec<u8>, Vec<u8>) {
    record_range(DDL_JOB_TABLE_ID)
}

/// `model.HistoryInfo` (`binlog` in the job JSON): what the job left behind.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HistoryInfo {
    #[serde(rename = "SchemaVersion", default)]
    pub schema_version: i64,
    #[serde(rename = "DBInfo", default)]
    pub db_info: Option<DbInfo>,
    #[serde(rename = "TableInfo", default)]
    pub table_info: Option<TableInfo>,
    /// As written by TiDB (0 in the done state); [`DdlJob::finished_ts`] is the commit ts.
    #[serde(rename = "FinishedTS", default)]
    pub finished_ts: u64,
    #[serde(rename = "MultipleTableInfos", default, deserialize_with = "null_vec")]
    pub multiple_table_infos: Vec<TableInfo>,
}

/// A finished DDL job.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DdlJob {
    pub id: i64,
    pub action: ActionType,
    pub schema_id: i64,
    pub schema_name: String,
    pub table_id: i64,
    pub table_name: String,
    pub query: String,
    /// `JobState` (4 = done for every job this module returns).
    pub state: i64,
    /// Start ts of the transaction that wrote the done job row.
    pub start_ts: u64,
    /// Commit ts of that transaction: the DDL's commit ts.
    pub finished_ts: u64,
    /// Job format: 1 = arguments as an untyped array, 2 = typed arguments.
    pub version: i64,
    /// The job arguments as written (`raw_args`).
    pub raw_args: Option<serde_json::Value>,
    pub binlog: HistoryInfo,
}

#[derive(Deserialize)]
struct JobJson {
    id: i64,
    #[serde(rename = "type")]
    action: u8,
    #[serde(default)]
    schema_id: i64,
    #[serde(default, deserialize_with = "null_string")]
    schema_name: String,
    #[serde(default)]
    table_id: i64,
    #[serde(default, deserialize_with = "null_string")]
    table_name: String,
    #[serde(default)]
    state: i64,
    #[serde(default, deserialize_with = "null_string")]
    query: String,
    #[serde(default)]
    binlog: Option<HistoryInfo>,
    #[serde(default)]
    version: i64,
    #[serde(default)]
    raw_args: Option<serde_json::Value>,
}

fn null_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

fn null_vec<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

impl DdlJob {
    /// Parses job JSON (`job_meta`); `start_ts`/`commit_ts` are the row's. `Ok(None)` unless
    /// the job is done.
    pub fn from_json(
        bytes: &[u8],
        start_ts: u64,
        commit_ts: u64,
    ) -> Result<Option<DdlJob>, serde_json::Error> {
        let j: JobJson = serde_json::from_slice(bytes)?;
        if j.state != JOB_STATE_DONE {
            return Ok(None);
        }
        Ok(Some(DdlJob {
            id: j.id,
            action: ActionType(j.action),
            schema_id: j.schema_id,
            schema_name: j.schema_name,
            table_id: j.table_id,
            table_name: j.table_name,
            query: j.query,
            state: j.state,
            start_ts,
            finished_ts: commit_ts,
            version: j.version,
            raw_args: j.raw_args.filter(|v| !v.is_null()),
            binlog: j.binlog.unwrap_or_default(),
        }))
    }
}

/// Decodes `mysql.tidb_ddl_job` rows.
#[derive(Debug)]
pub struct JobDecoder {
    rows: RowDecoder,
    job_meta: i64,
}

fn column(id: i64, name: &str, tp: u8, flag: u32, flen: i64, binary: bool) -> ColumnInfo {
    let (charset, collate) = if binary {
        ("binary", "binary")
    } else {
        ("utf8mb4", "utf8mb4_bin")
    };
    ColumnInfo {
        id,
        name: CIStr::new(name),
        offset: id - 1,
        field_type: FieldType {
            tp,
            flag,
            flen,
            charset: charset.into(),
            collate: collate.into(),
            ..FieldType::default()
        },
        state: SchemaState::PUBLIC,
        version: 2,
        ..ColumnInfo::default()
    }
}

/// TiDB's bootstrap definition of `mysql.tidb_ddl_job`.
pub fn builtin_job_table() -> TableInfo {
    TableInfo {
        id: DDL_JOB_TABLE_ID,
        name: CIStr::new("tidb_ddl_job"),
        charset: "utf8mb4".into(),
        collate: "utf8mb4_bin".into(),
        columns: vec![
            column(
                1,
                "job_id",
                tp::LONGLONG,
                flag::NOT_NULL | flag::PRI_KEY,
                20,
                true,
            ),
            column(2, "reorg", tp::LONG, 0, 11, true),
            column(3, "schema_ids", tp::BLOB, flag::BLOB, 65535, false),
            column(4, "table_ids", tp::BLOB, flag::BLOB, 65535, false),
            column(
                5,
                "job_meta",
                tp::LONG_BLOB,
                flag::BLOB | flag::BINARY,
                4_294_967_295,
                true,
            ),
            column(6, "type", tp::LONG, 0, 11, true),
            column(7, "processing", tp::LONG, 0, 11, true),
        ],
        state: SchemaState::PUBLIC,
        pk_is_handle: true,
        max_col_id: 7,
        version: 5,
        ..TableInfo::default()
    }
}

impl JobDecoder {
    /// A decoder for the job table described by `table` (from the meta snapshot).
    pub fn new(table: &TableInfo) -> Result<JobDecoder, JobError> {
        let job_meta = table
            .columns
            .iter()
            .find(|c| c.name.l == "job_meta" || c.name.o.eq_ignore_ascii_case("job_meta"))
            .ok_or(JobError::NoJobMetaColumn)?
            .id;
        Ok(JobDecoder {
            rows: RowDecoder::new(table, TimeZone::Utc),
            job_meta,
        })
    }

    /// A decoder for TiDB's bootstrap definition of the job table.
    pub fn builtin() -> JobDecoder {
        let t = builtin_job_table();
        JobDecoder {
            rows: RowDecoder::new(&t, TimeZone::Utc),
            job_meta: 5,
        }
    }

    /// The job table as the snapshot holds it, else the built-in definition.
    pub fn from_snapshot(snapshot: &MetaSnapshot) -> JobDecoder {
        match snapshot
            .tables
            .iter()
            .find(|t| t.info.id == DDL_JOB_TABLE_ID)
            .map(|t| JobDecoder::new(&t.info))
        {
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "using the built-in mysql.tidb_ddl_job definition");
                JobDecoder::builtin()
            }
            None => {
                tracing::warn!(
                    ts = snapshot.ts,
                    "the meta snapshot has no mysql.tidb_ddl_job; using its built-in definition"
                );
                JobDecoder::builtin()
            }
        }
    }

    /// Decodes a committed row of the job table: `Ok(None)` for deletes and jobs not done.
    pub fn decode(
        &self,
        key: &[u8],
        value: &[u8],
        op: OpType,
        start_ts: u64,
        commit_ts: u64,
    ) -> Result<Option<DdlJob>, JobError> {
        let key_hex = || hex::encode(key);
        match decode_record_key(key) {
            Ok((DDL_JOB_TABLE_ID, _)) => {}
            _ => {
                return Err(JobError::NotJobRow {
                    key: key_hex(),
                    table_id: DDL_JOB_TABLE_ID,
                });
            }
        }
        if op == OpType::Delete || value.is_empty() {
            return Ok(None);
        }
        let row = self
            .rows
            .decode_row(key, value)
            .map_err(|source| JobError::Row {
                key: key_hex(),
                commit_ts,
                source,
            })?;
        let meta = row
            .columns
            .iter()
            .find(|c| c.id == self.job_meta)
            .and_then(|c| match &c.value {
                Value::Bytes(b) if !b.is_empty() => Some(b.as_slice()),
                _ => None,
            })
            .ok_or_else(|| JobError::NoJobMeta {
                key: key_hex(),
                commit_ts,
            })?;
        DdlJob::from_json(meta, start_ts, commit_ts).map_err(|e| JobError::Json {
            key: key_hex(),
            commit_ts,
            reason: e.to_string(),
        })
    }

    /// [`JobDecoder::decode`] for a row as the upstream client delivers it.
    pub fn decode_row(&self, row: &KvChange) -> Result<Option<DdlJob>, JobError> {
        self.decode(&row.key, &row.value, row.op, row.start_ts, row.commit_ts)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // Decoding job rows written as TiDB writes them: tests/it/ddl_job_rows.rs.

    #[test]
    fn job_table_from_its_table_info() {
        let mut t = builtin_job_table();
        t.columns.swap(0, 4);
        assert!(JobDecoder::new(&t).is_ok());
        t.columns.retain(|c| c.name.l != "job_meta");
        assert!(matches!(
            JobDecoder::new(&t),
            Err(JobError::NoJobMetaColumn)
        ));
        let (s, e) = ddl_job_span();
        assert_eq!(hex::encode(s), "748000fffffffffffe5f72");
        assert_eq!(hex::encode(e), "748000fffffffffffe5f73");
    }
}
