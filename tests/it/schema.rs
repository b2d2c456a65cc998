//! Schema tracking against the emulator: the meta snapshot read through TiKV's KV API
//! (tables and partitions across regions and stores, a key locked by an in-flight DDL waited
//! out or reported), and the DDL scenarios replayed as the pipeline will: the job span and the
//! data rows from the CDC feed, jobs applied to the store, every row decoded with
//! `table_at(physical id, commit_ts - 1)`.

use std::collections::BTreeMap;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tidb_changefeed::model::TableInfo;

use tidb_changefeed::event::{KvChange, OpType};
use tidb_changefeed::mount::key::{Handle, decode_record_key};
use tidb_changefeed::mount::{RowDecoder, TimeZone};
use tidb_changefeed::schema::{DDL_JOB_TABLE_ID, JobDecoder, SchemaChange, SchemaStore};
use tidb_changefeed::upstream::feed::{self, FeedConfig, Span, UpstreamEvent};
use tidb_changefeed::upstream::pd::PdClient;
use tidb_changefeed::upstream::snapshot::{SnapshotError, SnapshotOptions, read_meta};
use tidb_changefeed_emulator::runner::{self, Runner};
use tidb_changefeed_emulator::scenario::{Scenario, Step};
use tidb_changefeed_emulator::{Emulator, Mutation, MutationOp, PrewriteOptions, tidb};
use tokio::sync::mpsc;

const T104: &str = r#"{"id":104,"name":{"O":"t","L":"t"},"pk_is_handle":true,"state":5,"cols":[
  {"id":1,"name":{"O":"id","L":"id"},"offset":0,"state":5,"type":{"Tp":8,"Flag":515,"Flen":20}},
  {"id":2,"name":{"O":"name","L":"name"},"offset":1,"state":5,"type":{"Tp":15,"Flen":32,"Charset":"utf8mb4","Collate":"utf8mb4_bin"}}]}"#;

const PT130: &str = r#"{"id":130,"name":{"O":"pt","L":"pt"},"pk_is_handle":true,"state":5,"cols":[
  {"id":1,"name":{"O":"id","L":"id"},"offset":0,"state":5,"type":{"Tp":8,"Flag":515,"Flen":20}}],
  "partition":{"type":1,"expr":"`id`","enable":true,"num":2,"definitions":[
    {"id":131,"name":{"O":"p0","L":"p0"}},{"id":132,"name":{"O":"p1","L":"p1"}}]}}"#;

/// Two stores; the meta keys span three regions: `DB:<id>` hashes in ["mDB:", "mDBs") led by
/// store 2, the `DBs` hash in ["mDBs", +inf) led by store 1.
fn meta_scenario() -> String {
    format!(
        r#"
[cluster]
tick_interval_ms = 0
[[stores]]
id = 1
[[stores]]
id = 2
[[regions]]
id = 10
end = "6d44423a"
peers = [1, 2]
[[regions]]
id = 20
start = "6d44423a"
end = "6d444273"
peers = [2, 1]
[[regions]]
id = 30
start = "6d444273"
peers = [1, 2]
[[databases]]
id = 2
name = "test"
[[databases]]
id = 3
name = "shop"
[[tables]]
db = 2
info = '''{T104}'''
[[tables]]
db = 3
info = '''{PT130}'''
"#
    )
}

async fn start(s: &Scenario) -> (Emulator, PdClient) {
    let emu = runner::start(s, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("emulator");
    let pd = PdClient::connect(&[emu.pd_addr().to_string()])
        .await
        .expect("pd");
    (emu, pd)
}

#[tokio::test]
async fn snapshot_reads_databases_tables_and_partitions_across_regions() {
    let s = Scenario::parse(&meta_scenario(), "inline").expect("scenario");
    let (emu, pd) = start(&s).await;
    let ts = emu.cluster().lock().next_ts();
    let snap = read_meta(&pd, ts, &SnapshotOptions::default())
        .await
        .expect("snapshot");
    assert_eq!(snap.ts, ts);
    let dbs: Vec<(i64, &str)> = snap
        .databases
        .iter()
        .map(|d| (d.id, d.name.o.as_str()))
        .collect();
    assert_eq!(dbs, [(1, "mysql"), (2, "test"), (3, "shop")]);
    let tables: Vec<(i64, i64)> = snap
        .tables
        .iter()
        .map(|t| (t.schema_id, t.info.id))
        .collect();
    assert_eq!(tables, [(1, DDL_JOB_TABLE_ID), (2, 104), (3, 130)]);
    let store = SchemaStore::from_snapshot(&snap);
    let p = store
        .table_at(132, ts)
        .expect("partition maps to its table");
    assert_eq!(
        (p.table_id, p.qualified_name()),
        (130, "shop.pt".to_owned())
    );
    assert_eq!(p.physical_ids, [131, 132]);
    let names: Vec<String> = store.tables().iter().map(|t| t.qualified_name()).collect();
    assert_eq!(names, ["test.t", "shop.pt"]);
    // The job table's definition is taken from the snapshot.
    let _ = JobDecoder::from_snapshot(&snap);
    emu.shutdown().await;
}

/// Prewrites a new TableInfo for `test.t` (the DDL's meta write) and returns its start ts.
fn prewrite_meta(emu: &Emulator, json: &str) -> (u64, Vec<u8>) {
    let key = tidb::table_meta_key(2, 104);
    let mut m = emu.cluster().lock();
    let start_ts = m.next_ts();
    let muts = [Mutation {
        key: key.clone(),
        op: MutationOp::Put(json.as_bytes().to_vec()),
    }];
    m.prewrite(start_ts, &key, &muts, PrewriteOptions::default())
        .expect("prewrite");
    (start_ts, key)
}

#[tokio::test]
async fn snapshot_waits_out_a_meta_key_locked_by_an_in_flight_ddl() {
    let s = Scenario::parse(&meta_scenario(), "inline").expect("scenario");
    let (emu, pd) = start(&s).await;
    let after = T104.replace(
        r#"]}"#,
        r#",{"id":3,"name":{"O":"age","L":"age"},"offset":2,"state":5,"type":{"Tp":3,"Flen":11}}]}"#,
    );
    let (start_ts, key) = prewrite_meta(&emu, &after);
    let ts = emu.cluster().lock().next_ts();
    let began = Instant::now();
    let reader = {
        let pd = pd.clone();
        tokio::spawn(async move { read_meta(&pd, ts, &SnapshotOptions::default()).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !reader.is_finished(),
        "the read waits while the key is locked"
    );
    let commit_ts = {
        let mut m = emu.cluster().lock();
        let c = m.next_ts();
        m.commit(start_ts, c, &[key]).expect("commit");
        c
    };
    let snap = reader
        .await
        .expect("task")
        .expect("snapshot once the lock clears");
    assert!(began.elapsed() >= Duration::from_millis(300));
    let t = snap
        .tables
        .iter()
        .find(|t| t.info.id == 104)
        .expect("test.t");
    assert_eq!(
        t.info.columns.len(),
        2,
        "committed after the read ts: old version"
    );
    let later = read_meta(&pd, commit_ts, &SnapshotOptions::default())
        .await
        .expect("snapshot at the commit ts");
    let t = later.tables.iter().find(|t| t.info.id == 104).expect("t");
    assert_eq!(
        t.info.columns.len(),
        3,
        "the DDL is visible at its commit ts"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn snapshot_names_a_lock_that_never_clears() {
    let s = Scenario::parse(&meta_scenario(), "inline").expect("scenario");
    let (emu, pd) = start(&s).await;
    let (start_ts, _) = prewrite_meta(&emu, T104);
    let ts = emu.cluster().lock().next_ts();
    let opts = SnapshotOptions {
        lock_wait: Duration::from_millis(300),
        ..SnapshotOptions::default()
    };
    let e = read_meta(&pd, ts, &opts)
        .await
        .expect_err("lock never clears");
    match &e {
        SnapshotError::Locked {
            lock_version, what, ..
        } => {
            assert_eq!(*lock_version, start_ts);
            assert_eq!(what, "meta DB:2/Table:104");
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("DB:2/Table:104"), "{e}");
    assert!(e.is_retryable());
    emu.shutdown().await;
}

#[tokio::test]
async fn snapshot_retries_while_the_meta_leader_store_is_down() {
    let s = Scenario::parse(&meta_scenario(), "inline").expect("scenario");
    let (mut emu, pd) = start(&s).await;
    // Store 2 leads the region of the `DB:<id>` hashes.
    emu.stop_store(2).await.expect("stop");
    let ts = emu.cluster().lock().next_ts();
    let reader = {
        let pd = pd.clone();
        tokio::spawn(async move { read_meta(&pd, ts, &SnapshotOptions::default()).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !reader.is_finished(),
        "the read retries while the store is down"
    );
    emu.start_store(2).await.expect("start");
    let snap = reader
        .await
        .expect("task")
        .expect("snapshot after the store returns");
    assert_eq!(snap.tables.len(), 3);

    // A store that never returns ends the read with a region error naming the key.
    emu.stop_store(2).await.expect("stop");
    let opts = SnapshotOptions {
        max_region_attempts: 3,
        ..SnapshotOptions::default()
    };
    let e = read_meta(&pd, ts, &opts).await.expect_err("store down");
    assert!(
        matches!(e, SnapshotError::RegionUnresolved { attempts: 4, .. }),
        "{e}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn snapshot_reports_meta_that_is_not_tidb_json() {
    let s = Scenario::parse(&meta_scenario(), "inline").expect("scenario");
    let (emu, pd) = start(&s).await;
    emu.cluster()
        .lock()
        .one_pc(
            &[Mutation {
                key: tidb::table_meta_key(2, 999),
                op: MutationOp::Put(b"{not json".to_vec()),
            }],
            0,
        )
        .expect("write");
    let ts = emu.cluster().lock().next_ts();
    let e = read_meta(&pd, ts, &SnapshotOptions::default())
        .await
        .expect_err("corrupt meta");
    assert!(matches!(e, SnapshotError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("DB:2/Table:999"), "{e}");
    assert!(!e.is_retryable());
    emu.shutdown().await;
}

/// One data row as decoded: `handle table#table_id@physical_id [column:id ...]`.
type Rendered = String;

/// Plays a DDL scenario as the pipeline will: snapshot at the start ts, one feed over the
/// whole key space, job rows applied to the store in commit order, every data row decoded
/// with the schema of `commit_ts - 1`.
async fn replay(file: &str) -> (Vec<Rendered>, Vec<SchemaChange>) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(file);
    let mut s = Scenario::load(&path).expect("scenario");
    s.steps
        .retain(|st| !matches!(st, Step::WaitSubscriptions { .. }));
    s.cluster.tick_interval_ms = 0;
    let (mut emu, pd) = start(&s).await;
    let start_ts = emu.cluster().lock().next_ts();
    let snap = read_meta(&pd, start_ts, &SnapshotOptions::default())
        .await
        .expect("snapshot");
    let mut store = SchemaStore::from_snapshot(&snap);
    let jobs = JobDecoder::from_snapshot(&snap);

    let (tx, mut rx) = mpsc::channel(1024);
    let cfg = FeedConfig {
        pd_endpoints: vec![emu.pd_addr().to_string()],
        span: Span {
            start: Vec::new(),
            end: Vec::new(),
        },
        start_ts,
    };
    let task = tokio::spawn(feed::run(cfg, tx));
    for _ in 0..500 {
        if emu.cluster().lock().subscription_count() >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Runner::new(&s)
        .expect("runner")
        .play(&mut emu, &s)
        .await
        .expect("timeline");
    let end = emu.cluster().lock().next_ts();
    let mut rows: BTreeMap<(u64, Vec<u8>), KvChange> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    'feed: loop {
        assert!(
            Instant::now() < deadline,
            "{file}: the feed never resolved past {end}"
        );
        emu.cluster().lock().tick_resolved_ts();
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            match ev {
                UpstreamEvent::Row(r) => {
                    rows.insert((r.commit_ts, r.key.clone()), r);
                }
                UpstreamEvent::Resolved { ts, .. } if ts >= end => break 'feed,
                UpstreamEvent::Resolved { .. } => {}
            }
        }
    }
    drop(rx);
    task.abort();

    // DDL jobs first, in commit order: the store is multi-versioned, so later reads at
    // `commit_ts - 1` see exactly the jobs committed before.
    let mut changes = Vec::new();
    for r in rows.values() {
        if let Ok((DDL_JOB_TABLE_ID, _)) = decode_record_key(&r.key)
            && let Some(job) = jobs.decode_row(r).expect("job row decodes")
        {
            changes.extend(store.apply(&job).expect("job applies"));
        }
    }
    let mut out = Vec::new();
    for r in rows.values() {
        let Ok((pid, handle)) = decode_record_key(&r.key) else {
            continue; // meta keys
        };
        if pid == DDL_JOB_TABLE_ID || r.op == OpType::Delete {
            continue;
        }
        let tv = store.table_at(pid, r.commit_ts - 1).unwrap_or_else(|| {
            panic!(
                "{file}: no table for physical id {pid} at {}",
                r.commit_ts - 1
            )
        });
        let row = RowDecoder::new(&tv.info, TimeZone::Utc)
            .decode_row(&r.key, &r.value)
            .unwrap_or_else(|e| panic!("{file}: row of {pid} at {}: {e}", r.commit_ts));
        let cols: Vec<String> = row
            .columns
            .iter()
            .map(|c| {
                let name = tv
                    .info
                    .column_by_id(c.id)
                    .map_or("?", |c| c.name.o.as_str());
                format!("{name}:{}", c.id)
            })
            .collect();
        let h = match handle {
            Handle::Int(h) => h.to_string(),
            Handle::Common(d) => format!("{d:?}"),
        };
        out.push(format!(
            "{h} {}#{}@{pid} [{}]",
            tv.qualified_name(),
            tv.table_id,
            cols.join(" ")
        ));
    }
    emu.shutdown().await;
    (out, changes)
}

fn summary(changes: &[SchemaChange]) -> Vec<String> {
    changes
        .iter()
        .map(|c| {
            format!(
                "{} {}.{} +{:?} -{:?}",
                c.action, c.schema, c.table, c.added_physical, c.removed_physical
            )
        })
        .collect()
}

#[tokio::test]
async fn ddl_mid_stream_rows_decode_with_the_schema_of_their_commit_ts() {
    let (rows, changes) = replay("ddl_mid_stream.toml").await;
    assert_eq!(
        rows,
        [
            "2 test.t#104@104 [id:1 name:2]",
            "3 test.t#104@104 [id:1 name:2 age:3]",
            "1 test.t#104@104 [id:1 name:2 age:3]",
        ]
    );
    assert_eq!(summary(&changes), ["5 test.t +[] -[]"]);
    assert_eq!(changes[0].query, "alter table t add column age int");
    let after: &TableInfo = &changes[0].table_after.as_ref().expect("table after").info;
    assert_eq!(after.columns.len(), 3);
}

#[tokio::test]
async fn drop_and_modify_column_rows_decode_with_their_column_ids() {
    let (rows, changes) = replay("ddl_drop_modify_column.toml").await;
    assert_eq!(
        rows,
        [
            "1 test.u#110@110 [id:1 a:2 b:3]",
            "2 test.u#110@110 [id:1 b:3]",
            "3 test.u#110@110 [id:1 b:4]",
        ]
    );
    assert_eq!(summary(&changes), ["6 test.u +[] -[]", "12 test.u +[] -[]"]);
}

#[tokio::test]
async fn rename_and_truncate_follow_the_table() {
    let (rows, changes) = replay("ddl_rename_truncate.toml").await;
    assert_eq!(
        rows,
        [
            "1 test.r#120@120 [id:1 v:2]",
            "2 test.r2#120@120 [id:1 v:2]",
            "3 test.r2#121@121 [id:1 v:2]",
        ]
    );
    assert_eq!(
        summary(&changes),
        ["14 test.r2 +[] -[]", "11 test.r2 +[121] -[120]"]
    );
    assert_eq!(changes[0].pre_table.as_deref(), Some("r"));
}

#[tokio::test]
async fn partition_rows_map_to_the_logical_table() {
    let (rows, changes) = replay("ddl_partitions.toml").await;
    assert_eq!(
        rows,
        [
            "1 test.pt#130@131 [id:1 v:2]",
            "101 test.pt#130@132 [id:1 v:2]",
            "201 test.pt#130@133 [id:1 v:2]",
            "102 test.pt#130@132 [id:1 v:2]",
            "2 test.pt#130@134 [id:1 v:2]",
        ]
    );
    assert_eq!(
        summary(&changes),
        ["19 test.pt +[133] -[]", "23 test.pt +[134] -[131]"]
    );
}
