//! TiDB-shaped data: meta keys readable by a snapshot KvScan, typed rows that
//! decode with the project's row decoder, and DDL job rows on the EventFeed of
//! `mysql.tidb_ddl_job` exactly once in state done.

use std::path::PathBuf;

use tidb_changefeed::model::TableInfo;
use tidb_changefeed::mount::decoder::RowDecoder;
use tidb_changefeed::mount::row_v2::RowV2;
use tidb_changefeed::mount::time::TimeZone;
use tidb_changefeed::mount::value::Value;
use tidb_changefeed::proto::cdcpb::event;
use tidb_changefeed::proto::kvrpcpb;
use tidb_changefeed::proto::tikvpb::tikv_client::TikvClient;
use tidb_changefeed_emulator::runner::{self, Runner};
use tidb_changefeed_emulator::scenario::{Scenario, Step};
use tidb_changefeed_emulator::tidb;

use super::harness::Feed;

#[tokio::test]
async fn ddl_mid_stream_updates_meta_and_writes_job_rows() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/ddl_mid_stream.toml");
    let mut s = Scenario::load(&path).expect("scenario");
    s.steps
        .retain(|st| !matches!(st, Step::WaitSubscriptions { .. }));
    s.cluster.tick_interval_ms = 0;
    let mut emu = runner::start(&s, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("start");
    let addr = format!("http://{}", emu.store_addr(1).expect("store"));

    // Meta snapshot through the KV service, as a daemon reads it at start.
    let mut kv = TikvClient::connect(addr.clone()).await.expect("kv");
    let ts = emu.cluster().lock().next_ts();
    let ctx = Some(kvrpcpb::Context {
        region_id: 2,
        region_epoch: Some(tidb_changefeed::proto::metapb::RegionEpoch {
            conf_ver: 1,
            version: 1,
        }),
        ..Default::default()
    });
    let g = kv
        .kv_get(kvrpcpb::GetRequest {
            context: ctx.clone(),
            key: tidb::table_meta_key(2, 104),
            version: ts,
            need_commit_ts: false,
        })
        .await
        .expect("get")
        .into_inner();
    let before = TableInfo::from_json(&g.value).expect("TableInfo JSON in meta");
    assert_eq!((before.id, before.columns.len()), (104, 2));
    let scan = kv
        .kv_scan(kvrpcpb::ScanRequest {
            context: ctx,
            start_key: b"m".to_vec(),
            end_key: b"n".to_vec(),
            limit: 100,
            version: ts,
            ..Default::default()
        })
        .await
        .expect("scan")
        .into_inner();
    assert!(
        scan.pairs.iter().any(|p| p.key == tidb::db_meta_key(2)),
        "DBs/DB:2 present"
    );
    assert!(
        scan.pairs
            .iter()
            .any(|p| p.key == tidb::table_meta_key(1, tidb::DDL_JOB_TABLE_ID))
    );

    let mut f = Feed::open(&addr, None).await.expect("feed");
    let mut reg = tidb_changefeed::proto::cdcpb::ChangeDataRequest {
        header: Some(tidb_changefeed::proto::cdcpb::Header {
            cluster_id: s.cluster.cluster_id,
            ticdc_version: "8.5.0".into(),
        }),
        region_id: 2,
        region_epoch: Some(tidb_changefeed::proto::metapb::RegionEpoch {
            conf_ver: 1,
            version: 1,
        }),
        checkpoint_ts: ts,
        request_id: 1,
        ..Default::default()
    };
    reg.request = Some(
        tidb_changefeed::proto::cdcpb::change_data_request::Request::Register(Default::default()),
    );
    f.send(reg);
    let first = f.next().await.expect("ok").expect("msg");
    assert_eq!(super::harness::render(&first), ["r2#1 [INITIALIZED]"]);
    let mut runner = Runner::new(&s).expect("runner");
    runner.play(&mut emu, &s).await.expect("timeline");

    let mut rows: Vec<event::Row> = Vec::new();
    while let Ok(Some(Ok(Some(m)))) =
        tokio::time::timeout(std::time::Duration::from_millis(300), f.rx.message())
            .await
            .map(Some)
    {
        for e in m.events {
            if let Some(event::Event::Entries(en)) = e.event {
                rows.extend(en.entries);
            }
        }
    }
    let ty = |r: &event::Row| {
        event::LogType::try_from(r.r#type)
            .map(|t| t.as_str_name())
            .unwrap_or("?")
    };
    let job_key = hex::decode("748000fffffffffffe5f728000000000000005").expect("hex");
    let job_rows: Vec<(&str, i32)> = rows
        .iter()
        .filter(|r| r.key == job_key)
        .map(|r| (ty(r), r.op_type))
        .collect();
    assert_eq!(job_rows, [("PREWRITE", 1), ("COMMIT", 1), ("COMMITTED", 2)]);
    let pw = rows
        .iter()
        .find(|r| r.key == job_key && ty(r) == "PREWRITE")
        .expect("job prewrite");
    let row = RowV2::parse(&pw.value).expect("row v2");
    let meta = row
        .values()
        .find(|c| c.0 == 5)
        .map(|c| c.1)
        .expect("job_meta column");
    let job: serde_json::Value = serde_json::from_slice(meta).expect("job json");
    assert_eq!(job["state"], 4);
    assert_eq!(job["type"], 5);
    assert_eq!(job["query"], "alter table t add column age int");
    let after = TableInfo::from_json(job["binlog"]["TableInfo"].to_string().as_bytes())
        .expect("binlog.TableInfo");
    assert_eq!(after.columns.len(), 3);
    let ddl_commit = rows
        .iter()
        .find(|r| r.key == job_key && ty(r) == "COMMIT")
        .expect("commit")
        .commit_ts;
    let meta_commit = rows
        .iter()
        .find(|r| r.key == tidb::table_meta_key(2, 104) && ty(r) == "COMMIT")
        .expect("meta key committed")
        .commit_ts;
    assert_eq!(ddl_commit, meta_commit, "meta and job row commit together");

    // Typed rows decode with the project's decoder and the schema of their commit ts.
    let dec = RowDecoder::new(&after, TimeZone::Utc);
    let carol_key = hex::decode("7480000000000000685f728000000000000003").expect("hex");
    let carol = rows.iter().find(|r| r.key == carol_key).expect("carol");
    assert_eq!(ty(carol), "COMMITTED");
    assert!(carol.commit_ts > ddl_commit);
    let d = dec.decode_row(&carol.key, &carol.value).expect("decodes");
    let vals: Vec<Value> = d.columns.iter().map(|c| c.value.clone()).collect();
    assert_eq!(
        vals,
        [
            Value::Int(3),
            Value::Bytes(b"carol".to_vec()),
            Value::Int(30)
        ]
    );
    let bob_key = hex::decode("7480000000000000685f728000000000000002").expect("hex");
    let bob: Vec<(&str, i32)> = rows
        .iter()
        .filter(|r| r.key == bob_key)
        .map(|r| (ty(r), r.op_type))
        .collect();
    assert_eq!(bob, [("COMMITTED", 1), ("PREWRITE", 2), ("COMMIT", 2)]);
    let bob_del = rows
        .iter()
        .find(|r| r.key == bob_key && ty(r) == "PREWRITE")
        .expect("bob delete");
    let old = RowDecoder::new(&before, TimeZone::Utc)
        .decode_row(&bob_key, &bob_del.old_value)
        .expect("old row");
    assert_eq!(old.columns[1].value, Value::Bytes(b"bob".to_vec()));
    emu.shutdown().await;
}
