//! Partition and routing vectors. Expected partitions come from TiCDC's dispatcher tests
//! (tiflow release-8.5 `cdc/sink/dmlsink/mq/dispatcher/partition/*_test.go`, cited per test)
//! and agree with `zlib.crc32` computed independently (e.g. crc32("testt1") = 1079797119,
//! 1079797119 mod 16 = 15).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use crate::model::{ActionType, CIStr, ColumnInfo, TableInfo, flag, tp};

use super::*;
use crate::event::test_support::{col, ft, index};
use crate::event::{RowKind, TableName};
use crate::mount::Value;

fn ev(table: &str, meta: TableMeta, values: Vec<Value>, ts: u64) -> RowEvent {
    RowEvent {
        schema: "test".into(),
        table: table.into(),
        meta: Arc::new(meta),
        commit_ts: ts,
        physical_id: 0,
        row_id: 0,
        kind: RowKind::Insert,
        new: Some(values),
        old: None,
    }
}

fn long(name: &str, id: i64, fl: u32) -> ColumnInfo {
    col(id, name, ft(tp::LONG, fl, 11, 0, "binary"))
}

fn meta(name: &str, cols: Vec<ColumnInfo>, pk_is_handle: bool) -> TableMeta {
    TableMeta::new(&TableInfo {
        id: 1,
        name: CIStr::new(name),
        columns: cols,
        pk_is_handle,
        ..TableInfo::default()
    })
}

/// table_test.go TestTableDispatcher: test.t1 → 15, test.t2 → 5, test.t3 → 3 (16 partitions),
/// whatever the commit ts; `default` is the same (default.go).
#[test]
fn table_and_default() {
    for (t, want) in [("t1", 15), ("t2", 5), ("t3", 3)] {
        for ts in 1..=3 {
            let e = ev(
                t,
                meta(t, vec![long("a", 1, 0)], false),
                vec![Value::Int(1)],
                ts,
            );
            assert_eq!(PartitionDispatcher::Table.partition(&e, 16).unwrap(), want);
            assert_eq!(
                PartitionDispatcher::Default.partition(&e, 16).unwrap(),
                want
            );
        }
    }
}

/// ts_test.go TestTsDispatcher: commit ts 1, 2, 3 → partitions 1, 2, 3 of 16.
#[test]
fn ts() {
    for ts in 1..=3u64 {
        let e = ev(
            "t1",
            meta("t1", vec![long("a", 1, 0)], false),
            vec![Value::Int(1)],
            ts,
        );
        assert_eq!(
            PartitionDispatcher::Ts.partition(&e, 16).unwrap(),
            ts as i32
        );
    }
    let e = ev(
        "t1",
        meta("t1", vec![long("a", 1, 0)], false),
        vec![Value::Int(1)],
        445644800032243717,
    );
    assert_eq!(
        PartitionDispatcher::Ts.partition(&e, 7).unwrap(),
        (445644800032243717u64 % 7) as i32
    );
}

/// index_value_test.go TestIndexValueDispatcher: single PK a → (11,22)=2, (22,22)=11,
/// (11,33)=2; composite PK (a,b) → (11,22)=5, (11,0)=14, (11,33)=2.
#[test]
fn index_value_handle_key() {
    let pk = flag::NOT_NULL | flag::PRI_KEY;
    let single = meta("t1", vec![long("a", 1, pk), long("b", 2, 0)], true);
    let d = PartitionDispatcher::IndexValue { index: None };
    for (a, b, want) in [(11, 22, 2), (22, 22, 11), (11, 33, 2)] {
        let e = ev("t1", single.clone(), vec![Value::Int(a), Value::Int(b)], 0);
        assert_eq!(d.partition(&e, 16).unwrap(), want, "a={a} b={b}");
    }
    let mut info = TableInfo {
        id: 2,
        name: CIStr::new("t2"),
        columns: vec![long("a", 1, pk), long("b", 2, pk)],
        is_common_handle: true,
        ..TableInfo::default()
    };
    info.indices = vec![index(1, "PRIMARY", &[("a", 0), ("b", 1)], true, true)];
    let composite = TableMeta::new(&info);
    for (a, b, want) in [(11, 22, 5), (11, 0, 14), (11, 33, 2)] {
        let e = ev(
            "t2",
            composite.clone(),
            vec![Value::Int(a), Value::Int(b)],
            0,
        );
        assert_eq!(d.partition(&e, 16).unwrap(), want, "a={a} b={b}");
    }
    // Deletes dispatch on the old row.
    let mut del = ev("t1", single, vec![], 0);
    del.kind = RowKind::Delete;
    del.new = None;
    del.old = Some(vec![Value::Int(22), Value::Int(1)]);
    assert_eq!(d.partition(&del, 16).unwrap(), 11);
}

/// index_value_test.go TestIndexValueDispatcherWithIndexName: columns [COL2 (offset 1),
/// Col1 (offset 0), col3], primary index1 (COL2, Col1); "index1"/"INDEX1"/"" → 5; "index2" →
/// error.
#[test]
fn index_value_named_index() {
    let mut c2 = long("COL2", 1, 0);
    c2.offset = 1;
    let mut c1 = long("Col1", 2, 0);
    c1.offset = 0;
    let mut info = TableInfo {
        id: 100,
        name: CIStr::new("t1"),
        columns: vec![c2, c1, long("col3", 3, 0)],
        pk_is_handle: true,
        ..TableInfo::default()
    };
    info.indices = vec![index(0, "index1", &[("COL2", 1), ("Col1", 0)], false, true)];
    let m = TableMeta::new(&info);
    let e = ev(
        "t1",
        m,
        vec![Value::Int(11), Value::Int(22), Value::Int(33)],
        0,
    );
    let named = |n: &str| PartitionDispatcher::IndexValue {
        index: Some(n.into()),
    };
    assert!(matches!(
        named("index2").partition(&e, 16),
        Err(DispatchError::IndexNotFound { .. })
    ));
    assert_eq!(named("index1").partition(&e, 16).unwrap(), 5);
    assert_eq!(named("INDEX1").partition(&e, 16).unwrap(), 5);
    assert_eq!(
        PartitionDispatcher::IndexValue { index: None }
            .partition(&e, 16)
            .unwrap(),
        5
    );
}

/// columns_test.go TestColumnsDispatcher: unknown column and virtual column are errors;
/// ["col2","col1"] → 15, ["COL2","Col1"] → 15; with the columns renamed COL2/Col1 → 5.
#[test]
fn columns() {
    let mut v = long("col4", 4, 0);
    v.generated_expr_string = "generated".into();
    let m = meta(
        "t1",
        vec![
            long("col2", 1, 0),
            long("col1", 2, 0),
            long("col3", 3, 0),
            v,
        ],
        false,
    );
    let e = ev(
        "t1",
        m,
        vec![Value::Int(11), Value::Int(22), Value::Int(33)],
        0,
    );
    let d = |c: &[&str]| PartitionDispatcher::Columns(c.iter().map(|s| s.to_string()).collect());
    assert!(matches!(
        d(&["col2", "col-not-found"]).partition(&e, 16),
        Err(DispatchError::ColumnNotFound { .. })
    ));
    assert!(matches!(
        d(&["col4"]).partition(&e, 16),
        Err(DispatchError::VirtualColumn { .. })
    ));
    assert_eq!(d(&["col2", "col1"]).partition(&e, 16).unwrap(), 15);
    assert_eq!(d(&["COL2", "Col1"]).partition(&e, 16).unwrap(), 15);
    let m = meta(
        "t1",
        vec![long("COL2", 1, 0), long("Col1", 2, 0), long("col3", 3, 0)],
        false,
    );
    let e = ev(
        "t1",
        m,
        vec![Value::Int(11), Value::Int(22), Value::Int(33)],
        0,
    );
    assert_eq!(d(&["col2", "col1"]).partition(&e, 16).unwrap(), 5);
}

/// NULL hashes as the string "null" in classic (cdc/model/sink.go ColumnValueString):
/// crc32("testt") ^ crc32("anull") computed with zlib.
#[test]
fn null_and_float_value_strings() {
    let m = meta(
        "t",
        vec![
            long("a", 1, flag::NOT_NULL | flag::PRI_KEY),
            long("b", 2, 0),
        ],
        true,
    );
    let d = PartitionDispatcher::Columns(vec!["b".into()]);
    let e = ev("t", m.clone(), vec![Value::Int(1), Value::Null], 0);
    let mut h = PositionInertia::new();
    h.write(&[b"test", b"t"]);
    h.write(&[b"b", b"null"]);
    assert_eq!(d.partition(&e, 1000).unwrap(), (h.sum32() % 1000) as i32);
    let e = ev("t", m, vec![Value::Int(1), Value::Float64(1e20)], 0);
    let mut h = PositionInertia::new();
    h.write(&[b"test", b"t"]);
    h.write(&[b"b", b"100000000000000000000"]);
    assert_eq!(d.partition(&e, 1000).unwrap(), (h.sum32() % 1000) as i32);
    assert!(matches!(
        d.partition(&e, 0),
        Err(DispatchError::BadPartitionCount(0))
    ));
}

/// Rule order, the implicit last rule, topic substitution and DDL topics
/// (event_router.go NewEventRouter / GetTopicForDDL).
#[test]
fn router() {
    let rules = vec![
        DispatchRule {
            matcher: vec!["test_default1.*".into()],
            partition: "default".into(),
            ..DispatchRule::default()
        },
        DispatchRule {
            matcher: vec!["test_table.*".into()],
            partition: "table".into(),
            topic: "hard_code_topic".into(),
            ..DispatchRule::default()
        },
        DispatchRule {
            matcher: vec!["test_index_value.*".into()],
            partition: "index-value".into(),
            topic: "{schema}_{table}".into(),
            ..DispatchRule::default()
        },
        DispatchRule {
            matcher: vec!["test.*".into()],
            partition: "rowid".into(),
            topic: "{schema}".into(),
            ..DispatchRule::default()
        },
        DispatchRule {
            matcher: vec!["*.*".into(), "!*.test".into()],
            partition: "ts".into(),
            topic: "{schema}_{table}".into(),
            ..DispatchRule::default()
        },
        DispatchRule {
            matcher: vec!["odd.*".into()],
            partition: "no-such-rule".into(),
            ..DispatchRule::default()
        },
    ];
    let r = EventRouter::new(&rules, "test", false, false).unwrap();
    assert_eq!(r.unknown_partition_rules, vec!["no-such-rule".to_string()]);
    assert_eq!(r.topic_for_table("test_default1", "tb"), "test");
    assert_eq!(r.topic_for_table("test_table", "tb"), "hard_code_topic");
    assert_eq!(
        r.topic_for_table("test_index_value", "tb"),
        "test_index_value_tb"
    );
    assert_eq!(r.topic_for_table("TEST", "tb"), "TEST");
    assert_eq!(r.topic_for_table("a", "b"), "a_b");
    // `!*.test` excludes from the ts rule; the implicit rule takes it.
    assert_eq!(r.topic_for_table("a", "test"), "test");
    assert_eq!(
        r.partition_dispatcher("a", "test"),
        &PartitionDispatcher::Default
    );
    assert_eq!(r.partition_dispatcher("a", "b"), &PartitionDispatcher::Ts);
    assert_eq!(
        r.partition_dispatcher("test", "x"),
        &PartitionDispatcher::IndexValue { index: None }
    );
    let ddl = |schema: &str, table: &str, pre: Option<(&str, &str)>| DdlEvent {
        query: String::new(),
        action: ActionType::RENAME_TABLE,
        table: TableName {
            schema: schema.into(),
            table: table.into(),
        },
        pre_table: pre.map(|(s, t)| TableName {
            schema: s.into(),
            table: t.into(),
        }),
        meta: None,
        table_info: None,
        start_ts: 0,
        commit_ts: 0,
    };
    assert_eq!(
        r.topic_for_ddl(&ddl("a", "new", Some(("test_index_value", "old")))),
        "test_index_value_old"
    );
    assert_eq!(r.topic_for_ddl(&ddl("a", "b", None)), "a_b");
    assert_eq!(r.topic_for_ddl(&ddl("a", "", None)), "test");
    assert_eq!(
        r.active_topics([("a", "b"), ("test_table", "x"), ("a", "b")]),
        vec!["a_b".to_string(), "hard_code_topic".into(), "test".into()]
    );
    assert!(
        EventRouter::new(
            &[DispatchRule {
                matcher: vec!["*.*".into()],
                topic: "{table}_{schema}".into(),
                ..DispatchRule::default()
            }],
            "t",
            false,
            false
        )
        .is_err()
    );
}

/// VerifyTables: a named index must exist and be unique; columns must exist.
#[test]
fn verify() {
    let mut info = TableInfo {
        id: 1,
        name: CIStr::new("t"),
        columns: vec![long("a", 1, flag::NOT_NULL), long("b", 2, 0)],
        ..TableInfo::default()
    };
    info.indices = vec![
        index(1, "ua", &[("a", 0)], true, false),
        index(2, "kb", &[("b", 1)], false, false),
    ];
    let m = TableMeta::new(&info);
    let named = |n: &str| PartitionDispatcher::IndexValue {
        index: Some(n.into()),
    };
    assert!(named("UA").verify("t", &m).is_ok());
    assert!(matches!(
        named("kb").verify("t", &m),
        Err(DispatchError::IndexNotUnique { .. })
    ));
    assert!(matches!(
        named("zz").verify("t", &m),
        Err(DispatchError::IndexNotFound { .. })
    ));
    assert!(
        PartitionDispatcher::Columns(vec!["B".into()])
            .verify("t", &m)
            .is_ok()
    );
}
