//! Unit tests of the schema store: every DDL kind, versions by ts and the `commit_ts - 1`
//! boundary, duplicates, partitions, gc.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::model::{ActionType, CIStr, PartitionDefinition, PartitionInfo};
use crate::schema::job::HistoryInfo;

const S: u64 = 50;

fn tbl(id: i64, name: &str, cols: &[&str]) -> TableInfo {
    let mut c = vec![
        json!({"id":1,"name":{"O":"id","L":"id"},"offset":0,"state":5,
        "type":{"Tp":8,"Flag":3,"Flen":20}}),
    ];
    for (i, n) in cols.iter().enumerate() {
        c.push(
            json!({"id": i + 2, "name":{"O":n,"L":n},"offset": i + 1,"state":5,
            "type":{"Tp":3,"Flag":0,"Flen":11}}),
        );
    }
    let j = json!({"id": id, "name": {"O": name, "L": name}, "pk_is_handle": true, "cols": c,
        "state": 5});
    TableInfo::from_json(j.to_string().as_bytes()).unwrap()
}

fn part(id: i64, name: &str, parts: &[i64]) -> TableInfo {
    let mut t = tbl(id, name, &["v"]);
    t.partition = Some(PartitionInfo {
        partition_type: 1,
        enable: true,
        definitions: parts
            .iter()
            .map(|p| PartitionDefinition {
                id: *p,
                name: CIStr::new(&format!("p{p}")),
            })
            .collect(),
        ..PartitionInfo::default()
    });
    t
}

fn db(id: i64, name: &str) -> DbInfo {
    DbInfo {
        id,
        name: CIStr::new(name),
        ..DbInfo::default()
    }
}

fn store() -> SchemaStore {
    SchemaStore::new(
        S,
        vec![db(1, "mysql"), db(2, "test"), db(3, "other")],
        vec![
            (1, tbl(crate::schema::DDL_JOB_TABLE_ID, "tidb_ddl_job", &[])),
            (2, tbl(104, "t", &["name"])),
            (2, tbl(105, "t2", &["name"])),
            (2, part(200, "p", &[201, 202])),
        ],
    )
}

fn job(
    id: i64,
    a: ActionType,
    schema_id: i64,
    table_id: i64,
    ts: u64,
    info: Option<TableInfo>,
) -> DdlJob {
    DdlJob {
        id,
        action: a,
        schema_id,
        table_id,
        query: format!("ddl {id}"),
        state: 4,
        start_ts: ts - 1,
        finished_ts: ts,
        version: 1,
        binlog: HistoryInfo {
            schema_version: id,
            table_info: info,
            ..HistoryInfo::default()
        },
        ..DdlJob::default()
    }
}

fn cols(s: &SchemaStore, id: i64, ts: u64) -> Option<Vec<String>> {
    s.table_at(id, ts)
        .map(|t| t.info.columns.iter().map(|c| c.name.o.clone()).collect())
}

#[test]
fn snapshot_versions_and_partitions() {
    let s = store();
    assert_eq!(s.snapshot_ts(), S);
    assert_eq!(cols(&s, 104, 0).unwrap(), ["id", "name"]);
    assert_eq!(s.table_at(104, S).unwrap().version_ts, S);
    let p = s.table_at(201, S).unwrap();
    assert_eq!(
        (p.table_id, &*p.table, p.physical_ids.clone()),
        (200, "p", vec![201, 202])
    );
    assert_eq!(
        s.table_at(200, S).unwrap().table_id,
        200,
        "logical id answers"
    );
    assert!(s.table_at(999, S).is_none());
    let names: Vec<String> = s.tables().iter().map(|t| t.qualified_name()).collect();
    assert_eq!(names, ["test.t", "test.t2", "test.p"], "mysql excluded");
    assert_eq!(s.all_tables().len(), 4);
    assert!(s.tables().iter().all(|t| t.has_valid_key()));
}

#[test]
fn add_column_versions_by_ts_with_commit_ts_minus_one() {
    let mut s = store();
    let ch = s
        .apply(&job(
            10,
            ActionType::ADD_COLUMN,
            2,
            104,
            100,
            Some(tbl(104, "t", &["name", "age"])),
        ))
        .unwrap();
    assert_eq!(ch.len(), 1);
    let c = &ch[0];
    assert_eq!(
        (c.job_id, c.finished_ts, c.start_ts, c.action.0),
        (10, 100, 99, 5)
    );
    assert_eq!(
        (c.schema.as_str(), c.table.as_str(), c.query.as_str()),
        ("test", "t", "ddl 10")
    );
    assert_eq!(
        (c.pre_schema.as_deref(), c.pre_table.as_deref()),
        (Some("test"), Some("t"))
    );
    assert!(c.added_physical.is_empty() && c.removed_physical.is_empty());
    assert_eq!(c.table_after.as_ref().unwrap().version_ts, 100);
    // A row committed at the DDL's ts decodes with the schema before it (commit_ts - 1).
    assert_eq!(cols(&s, 104, 100 - 1).unwrap(), ["id", "name"]);
    assert_eq!(cols(&s, 104, 101 - 1).unwrap(), ["id", "name", "age"]);
    assert_eq!(s.last_ts(), 100);
}

#[test]
fn every_table_replacing_kind_takes_binlog_table_info() {
    let mut s = store();
    let kinds: [(ActionType, &[&str]); 8] = [
        (ActionType::ADD_COLUMN, &["name", "a", "b"]),
        (ActionType::DROP_COLUMN, &["name", "b"]),
        (ActionType::MODIFY_COLUMN, &["name", "b2"]),
        (ActionType::ADD_INDEX, &["name", "b2"]),
        (ActionType::DROP_INDEX, &["name", "b2"]),
        (ActionType::ADD_PRIMARY_KEY, &["name", "b2"]),
        (ActionType::DROP_PRIMARY_KEY, &["name", "b2"]),
        (ActionType::MULTI_SCHEMA_CHANGE, &["x"]),
    ];
    for (i, (a, c)) in kinds.iter().enumerate() {
        let ts = 100 + 10 * i as u64;
        let ch = s
            .apply(&job(10 + i as i64, *a, 2, 104, ts, Some(tbl(104, "t", c))))
            .unwrap();
        assert_eq!((ch.len(), ch[0].action), (1, *a));
    }
    assert_eq!(cols(&s, 104, 109).unwrap(), ["id", "name", "a", "b"]);
    assert_eq!(cols(&s, 104, 110).unwrap(), ["id", "name", "b"]);
    assert_eq!(cols(&s, 104, 120).unwrap(), ["id", "name", "b2"]);
    assert_eq!(cols(&s, 104, 1000).unwrap(), ["id", "x"]);
    // A job without TableInfo of an unknown kind changes nothing.
    assert!(
        s.apply(&job(30, ActionType(51), 2, 0, 2000, None))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn duplicates_old_jobs_and_failures() {
    let mut s = store();
    let j = job(
        10,
        ActionType::ADD_COLUMN,
        2,
        104,
        100,
        Some(tbl(104, "t", &["name", "age"])),
    );
    assert_eq!(s.apply(&j).unwrap().len(), 1);
    assert!(s.apply(&j).unwrap().is_empty(), "re-subscription duplicate");
    let in_snapshot = job(9, ActionType::DROP_TABLE, 2, 104, S, None);
    assert!(s.apply(&in_snapshot).unwrap().is_empty());
    let late = job(11, ActionType::DROP_TABLE, 2, 104, 90, None);
    assert!(matches!(
        s.apply(&late),
        Err(SchemaError::OutOfOrder { .. })
    ));
    let unknown = job(12, ActionType::DROP_TABLE, 2, 777, 110, None);
    let e = s.apply(&unknown).unwrap_err();
    assert!(e.to_string().contains("777"), "{e}");
    let mut ignored = job(13, ActionType::DROP_TABLE, 2, 104, 120, None);
    ignored.binlog.schema_version = 0;
    assert!(s.apply(&ignored).unwrap().is_empty());
    let mut running = job(14, ActionType::DROP_TABLE, 2, 104, 120, None);
    running.state = 1;
    assert!(s.apply(&running).unwrap().is_empty());
    assert!(
        s.table_at(104, 1000).is_some(),
        "failed and ignored jobs change nothing"
    );
    // Two jobs may share a finished ts.
    assert_eq!(
        s.apply(&job(15, ActionType::DROP_TABLE, 2, 104, 120, None))
            .unwrap()
            .len(),
        1
    );
    assert!(s.table_at(104, 120).is_none());
}

#[test]
fn schemas_create_modify_drop() {
    let mut s = store();
    let mut j = job(10, ActionType::CREATE_SCHEMA, 4, 0, 100, None);
    j.binlog.db_info = Some(db(4, "new_db"));
    let ch = s.apply(&j).unwrap();
    assert_eq!(
        (ch[0].schema.as_str(), ch[0].table.as_str()),
        ("new_db", "")
    );
    assert!(ch[0].table_after.is_none());
    let mut t = job(
        11,
        ActionType::CREATE_TABLE,
        4,
        300,
        110,
        Some(tbl(300, "n", &[])),
    );
    t.query = "create table n (id bigint primary key)".into();
    let ch = s.apply(&t).unwrap();
    assert_eq!(
        (ch[0].added_physical.clone(), ch[0].schema.as_str()),
        (vec![300], "new_db")
    );
    let mut m = job(
        12,
        ActionType::MODIFY_SCHEMA_CHARSET_AND_COLLATE,
        4,
        0,
        120,
        None,
    );
    m.binlog.db_info = Some(DbInfo {
        charset: "latin1".into(),
        ..db(4, "new_db")
    });
    s.apply(&m).unwrap();
    assert_eq!(s.schema(4).unwrap().charset, "latin1");
    let ch = s
        .apply(&job(13, ActionType::DROP_SCHEMA, 4, 0, 130, None))
        .unwrap();
    assert_eq!((ch.len(), ch[0].removed_physical.clone()), (1, vec![300]));
    assert!(s.table_at(300, 130).is_none());
    assert!(s.table_at(300, 129).is_some());
    assert!(s.schema(4).is_none());
    let no_db = job(
        14,
        ActionType::CREATE_TABLE,
        4,
        301,
        140,
        Some(tbl(301, "x", &[])),
    );
    assert!(matches!(
        s.apply(&no_db),
        Err(SchemaError::SchemaNotFound { .. })
    ));
    let missing = job(15, ActionType::CREATE_SCHEMA, 5, 0, 150, None);
    assert!(matches!(
        s.apply(&missing),
        Err(SchemaError::InvalidJob { .. })
    ));
}

#[test]
fn create_drop_recover_table() {
    let mut s = store();
    let dup = job(
        9,
        ActionType::CREATE_TABLE,
        2,
        104,
        90,
        Some(tbl(104, "t", &[])),
    );
    assert!(matches!(
        s.apply(&dup),
        Err(SchemaError::TableExists { .. })
    ));
    let ch = s
        .apply(&job(10, ActionType::DROP_TABLE, 2, 104, 100, None))
        .unwrap();
    let c = &ch[0];
    assert_eq!(c.query, "DROP TABLE `test`.`t`");
    assert_eq!(
        (c.schema.as_str(), c.table.as_str(), c.pre_table.as_deref()),
        ("test", "t", Some("t"))
    );
    assert_eq!(
        (c.removed_physical.clone(), c.table_after.is_none()),
        (vec![104], true)
    );
    assert!(s.table_at(104, 99).is_some() && s.table_at(104, 100).is_none());
    let ch = s
        .apply(&job(
            11,
            ActionType::RECOVER_TABLE,
            2,
            104,
            110,
            Some(tbl(104, "t", &["name"])),
        ))
        .unwrap();
    assert_eq!(ch[0].added_physical, [104]);
    assert!(s.table_at(104, 105).is_none() && s.table_at(104, 110).is_some());
}

#[test]
fn truncate_table_gets_a_new_id() {
    let mut s = store();
    let ch = s
        .apply(&job(
            10,
            ActionType::TRUNCATE_TABLE,
            2,
            104,
            100,
            Some(tbl(106, "t", &["name"])),
        ))
        .unwrap();
    let c = &ch[0];
    assert_eq!(
        (c.added_physical.clone(), c.removed_physical.clone()),
        (vec![106], vec![104])
    );
    assert_eq!(c.table_after.as_ref().unwrap().table_id, 106);
    assert_eq!(s.table_at(104, 99).unwrap().table_id, 104);
    assert!(
        s.table_at(104, 100).is_none(),
        "rows of the old id are skipped"
    );
    assert!(s.table_at(106, 99).is_none());
    assert_eq!(s.table_at(106, 100).unwrap().table_id, 106);
    assert!(s.tables().iter().all(|t| t.table_id != 104));
}

#[test]
fn rename_table_and_rename_tables() {
    let mut s = store();
    let mut j = job(
        10,
        ActionType::RENAME_TABLE,
        3,
        104,
        100,
        Some(tbl(104, "t_new", &["name"])),
    );
    j.query = "rename table test.t to other.t_new".into();
    let c = s.apply(&j).unwrap().remove(0);
    assert_eq!((c.schema.as_str(), c.table.as_str()), ("other", "t_new"));
    assert_eq!(
        (c.pre_schema.as_deref(), c.pre_table.as_deref()),
        (Some("test"), Some("t"))
    );
    assert!(c.added_physical.is_empty() && c.removed_physical.is_empty());
    assert_eq!(&*s.table_at(104, 99).unwrap().table, "t");
    let now = s.table_at(104, 100).unwrap();
    assert_eq!(
        (&*now.schema, &*now.table, now.schema_id),
        ("other", "t_new", 3)
    );

    let mut j = job(11, ActionType::RENAME_TABLES, 2, 105, 110, None);
    j.query = "rename table test.t2 to test.a, other.t_new to test.b".into();
    j.binlog.multiple_table_infos = vec![tbl(105, "a", &["name"]), tbl(104, "b", &["name"])];
    j.raw_args = Some(
        json!([[2, 3], [2, 2], [{"O":"a","L":"a"}, {"O":"b","L":"b"}], [105, 104],
        [{"O":"test","L":"test"}, {"O":"other","L":"other"}]]),
    );
    let ch = s.apply(&j).unwrap();
    let qs: Vec<(&str, u8)> = ch.iter().map(|c| (c.query.as_str(), c.action.0)).collect();
    assert_eq!(
        qs,
        [
            ("RENAME TABLE `test`.`t2` TO `test`.`a`", 14),
            ("RENAME TABLE `other`.`t_new` TO `test`.`b`", 14)
        ]
    );
    assert_eq!(ch[1].pre_schema.as_deref(), Some("other"));
    assert_eq!(s.table_at(104, 110).unwrap().qualified_name(), "test.b");
    let mut bad = job(12, ActionType::RENAME_TABLES, 2, 105, 120, None);
    bad.binlog.multiple_table_infos = vec![tbl(105, "c", &[])];
    assert!(matches!(s.apply(&bad), Err(SchemaError::InvalidJob { .. })));
}

#[test]
fn create_tables_splits_one_change_per_table() {
    let mut s = store();
    let mut j = job(10, ActionType::CREATE_TABLES, 2, 0, 100, None);
    j.query =
        "create table x1 (id bigint primary key); create table x2 (id bigint primary key);".into();
    j.binlog.multiple_table_infos = vec![tbl(301, "x1", &[]), tbl(302, "x2", &[])];
    let ch = s.apply(&j).unwrap();
    let got: Vec<(&str, &str, Vec<i64>)> = ch
        .iter()
        .map(|c| (c.table.as_str(), c.query.as_str(), c.added_physical.clone()))
        .collect();
    assert_eq!(
        got,
        [
            ("x1", "create table x1 (id bigint primary key);", vec![301]),
            ("x2", "create table x2 (id bigint primary key);", vec![302])
        ]
    );
    let mut bad = job(11, ActionType::CREATE_TABLES, 2, 0, 110, None);
    bad.query = "create table y (id int)".into();
    bad.binlog.multiple_table_infos = vec![tbl(303, "y1", &[]), tbl(304, "y2", &[])];
    assert!(matches!(s.apply(&bad), Err(SchemaError::InvalidJob { .. })));
    assert!(s.table_at(303, 200).is_none(), "failed job changes nothing");
}

#[test]
fn partition_add_drop_truncate_reorganize() {
    let mut s = store();
    let c = s
        .apply(&job(
            10,
            ActionType::ADD_TABLE_PARTITION,
            2,
            200,
            100,
            Some(part(200, "p", &[201, 202, 203])),
        ))
        .unwrap()
        .remove(0);
    assert_eq!(
        (c.added_physical.clone(), c.removed_physical.clone()),
        (vec![203], vec![])
    );
    assert!(s.table_at(203, 99).is_none());
    assert_eq!(s.table_at(203, 100).unwrap().table_id, 200);
    let c = s
        .apply(&job(
            11,
            ActionType::TRUNCATE_TABLE_PARTITION,
            2,
            200,
            110,
            Some(part(200, "p", &[204, 202, 203])),
        ))
        .unwrap()
        .remove(0);
    assert_eq!(
        (c.added_physical.clone(), c.removed_physical.clone()),
        (vec![204], vec![201])
    );
    assert!(s.table_at(201, 109).is_some() && s.table_at(201, 110).is_none());
    let c = s
        .apply(&job(
            12,
            ActionType::DROP_TABLE_PARTITION,
            2,
            200,
            120,
            Some(part(200, "p", &[204, 203])),
        ))
        .unwrap()
        .remove(0);
    assert_eq!(c.removed_physical, [202]);
    let c = s
        .apply(&job(
            13,
            ActionType::REORGANIZE_PARTITION,
            2,
            200,
            130,
            Some(part(200, "p", &[205, 206])),
        ))
        .unwrap()
        .remove(0);
    assert_eq!(
        (c.added_physical.clone(), c.removed_physical.clone()),
        (vec![205, 206], vec![203, 204])
    );
    let not_part = job(
        14,
        ActionType::ADD_TABLE_PARTITION,
        2,
        104,
        140,
        Some(tbl(104, "t", &[])),
    );
    assert!(matches!(
        s.apply(&not_part),
        Err(SchemaError::InvalidJob { .. })
    ));
    // ALTER TABLE ... PARTITION BY re-creates the table under a new id.
    let c = s
        .apply(&job(
            15,
            ActionType::ALTER_TABLE_PARTITIONING,
            2,
            104,
            150,
            Some(part(400, "t", &[401, 402])),
        ))
        .unwrap()
        .remove(0);
    assert_eq!(
        (c.added_physical.clone(), c.removed_physical.clone()),
        (vec![401, 402], vec![104])
    );
    assert_eq!(s.table_at(401, 150).unwrap().table_id, 400);
    assert!(s.table_at(104, 150).is_none());
}

#[test]
fn exchange_partition_swaps_ids() {
    let mut s = store();
    // alter table p exchange partition p201 with table t2: partition 201 becomes t2's id and
    // t2's id 105 becomes the partition.
    let mut j = job(
        10,
        ActionType::EXCHANGE_TABLE_PARTITION,
        2,
        105,
        100,
        Some(part(200, "p", &[105, 202])),
    );
    j.query = "ALTER TABLE p EXCHANGE PARTITION p201 WITH TABLE t2".into();
    let c = s.apply(&j).unwrap().remove(0);
    assert_eq!(
        c.query,
        "ALTER TABLE `test`.`p` EXCHANGE PARTITION `p201` WITH TABLE `test`.`t2`"
    );
    assert_eq!(
        (c.schema.as_str(), c.table.as_str(), c.pre_table.as_deref()),
        ("test", "p", Some("t2"))
    );
    assert!(c.added_physical.is_empty() && c.removed_physical.is_empty());
    assert_eq!(s.table_at(201, 99).unwrap().table_id, 200);
    let now = s.table_at(201, 100).unwrap();
    assert_eq!(
        (now.table_id, &*now.table, now.physical_ids.clone()),
        (201, "t2", vec![201])
    );
    assert_eq!(s.table_at(105, 99).unwrap().table_id, 105);
    assert_eq!(s.table_at(105, 100).unwrap().table_id, 200);
    let names: Vec<(i64, String)> = s
        .tables()
        .iter()
        .map(|t| (t.table_id, t.qualified_name()))
        .collect();
    assert_eq!(
        names,
        [
            (104, "test.t".into()),
            (200, "test.p".into()),
            (201, "test.t2".into())
        ]
    );
}

#[test]
fn gc_keeps_what_readers_at_or_above_need() {
    let mut s = store();
    s.apply(&job(
        10,
        ActionType::ADD_COLUMN,
        2,
        104,
        100,
        Some(tbl(104, "t", &["a"])),
    ))
    .unwrap();
    s.apply(&job(
        11,
        ActionType::ADD_COLUMN,
        2,
        104,
        200,
        Some(tbl(104, "t", &["a", "b"])),
    ))
    .unwrap();
    s.apply(&job(12, ActionType::DROP_TABLE, 2, 105, 210, None))
        .unwrap();
    s.gc(150);
    assert_eq!(cols(&s, 104, 150).unwrap(), ["id", "a"]);
    assert_eq!(cols(&s, 104, 200).unwrap(), ["id", "a", "b"]);
    assert!(s.table_at(105, 205).is_some());
    s.gc(300);
    assert!(s.table_at(105, 300).is_none());
    assert!(!s.tables.contains_key(&105), "a dropped table is forgotten");
    assert!(!s.physical.contains_key(&105));
    assert_eq!(cols(&s, 104, 300).unwrap(), ["id", "a", "b"]);
    // Old duplicates stay ignored after their ids are collected.
    let old = job(
        10,
        ActionType::ADD_COLUMN,
        2,
        104,
        100,
        Some(tbl(104, "t", &["a"])),
    );
    assert!(s.apply(&old).unwrap().is_empty());
    let v = s.table_at(104, 300).unwrap();
    assert!(Arc::ptr_eq(&v.info, &s.table_at(104, 250).unwrap().info));
}
