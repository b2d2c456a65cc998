//! DDL job rows of `mysql.tidb_ddl_job` written as TiDB writes them (the emulator's row
//! encoders), decoded by the schema's [`JobDecoder`]: a done job takes the row's timestamps,
//! deletes and unfinished jobs yield nothing, errors name the row.

#![allow(clippy::unwrap_used)]

use tidb_changefeed::event::OpType;
use tidb_changefeed::model::ActionType;
use tidb_changefeed::mount::key::{Handle, encode_record_key};
use tidb_changefeed::mount::{TimeZone, Value};
use tidb_changefeed::schema::{DDL_JOB_TABLE_ID, JobDecoder, JobError};
use tidb_changefeed_emulator::encode::{encode_row_v2, encode_v2_value};

fn job_row(job_id: i64, job_json: &str) -> (Vec<u8>, Vec<u8>) {
    let key = encode_record_key(DDL_JOB_TABLE_ID, &Handle::Int(job_id)).unwrap();
    let tz = TimeZone::Utc;
    let meta = encode_v2_value(&Value::Bytes(job_json.as_bytes().to_vec()), &tz).unwrap();
    let ty = encode_v2_value(&Value::Int(3), &tz).unwrap();
    let value = encode_row_v2(&[(5, Some(&meta)), (6, Some(&ty))]);
    (key, value)
}

const DONE: &str = r#"{"id":7,"type":3,"schema_id":2,"table_id":104,"schema_name":"test",
    "table_name":"t","state":4,"query":"create table t (id int primary key)","version":1,
    "raw_args":null,"binlog":{"SchemaVersion":9,"DBInfo":null,"FinishedTS":0,
    "MultipleTableInfos":null,"TableInfo":{"id":104,"name":{"O":"t","L":"t"},"cols":[]}}}"#;

#[test]
fn done_job_takes_row_timestamps() {
    let (k, v) = job_row(7, DONE);
    let j = JobDecoder::builtin()
        .decode(&k, &v, OpType::Put, 10, 20)
        .unwrap()
        .unwrap();
    assert_eq!(
        (j.id, j.action, j.schema_id, j.table_id),
        (7, ActionType(3), 2, 104)
    );
    assert_eq!((j.start_ts, j.finished_ts), (10, 20));
    assert_eq!(j.binlog.schema_version, 9);
    assert_eq!(j.binlog.table_info.unwrap().id, 104);
    assert!(j.binlog.multiple_table_infos.is_empty());
    assert!(j.raw_args.is_none());
}

#[test]
fn deletes_and_unfinished_jobs_are_ignored() {
    let (k, v) = job_row(7, DONE);
    let d = JobDecoder::builtin();
    assert!(d.decode(&k, &[], OpType::Delete, 1, 2).unwrap().is_none());
    let running = DONE.replace("\"state\":4", "\"state\":1");
    let (k2, v2) = job_row(7, &running);
    assert!(d.decode(&k2, &v2, OpType::Put, 1, 2).unwrap().is_none());
    assert!(d.decode(&k, &v, OpType::Put, 1, 2).unwrap().is_some());
}

#[test]
fn errors_name_the_row() {
    let d = JobDecoder::builtin();
    let other = encode_record_key(104, &Handle::Int(1)).unwrap();
    assert!(matches!(
        d.decode(&other, b"x", OpType::Put, 1, 2),
        Err(JobError::NotJobRow { .. })
    ));
    let (k, v) = job_row(7, "{not json");
    let e = d.decode(&k, &v, OpType::Put, 1, 2).unwrap_err();
    assert!(e.to_string().contains(&hex::encode(&k)), "{e}");
    let (k, _) = job_row(7, DONE);
    let no_meta = encode_row_v2(&[(6, Some(&[1u8][..]))]);
    assert!(matches!(
        d.decode(&k, &no_meta, OpType::Put, 1, 2),
        Err(JobError::NoJobMeta { .. })
    ));
}
