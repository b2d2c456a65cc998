//! A 2PC transaction larger than the prewrites share of `memory-quota`: TiKV sends its values
//! with the PREWRITE rows long before the COMMIT, so the daemon must hold them until then.
//! With `memory-quota = "64MiB"` (8 MiB for prewrites) and 12 MiB of prewrites, the values
//! beyond the share wait in the spill file (the `prewrites_spilled` gauge says so before the
//! commit); after the commit every row arrives exactly once and the spill file is empty.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tidb_changefeed_emulator::scenario::Scenario;
use tidb_changefeed_emulator::tidb::encode_row;
use tidb_changefeed_emulator::{Mutation, MutationOp, PrewriteOptions};

use crate::e2e::{Daemon, KILL_SCENARIO, emulator, read_all, table_topics_sink, wait_subscribed};
use crate::support::unique;

const ROWS: i64 = 12_000;
const CHUNK: i64 = 1_000;

/// The value of a gauge of the daemon's `/metrics` (its first sample), if present.
fn gauge(d: &Daemon, name: &str) -> Option<f64> {
    let (_, body) = d.get("/metrics");
    body.lines()
        .find(|l| l.starts_with(name) && !l.starts_with('#'))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn a_transaction_above_the_prewrites_share_spills_and_arrives_whole() {
    let s = Scenario::parse(KILL_SCENARIO, "bigtxn").expect("scenario");
    let emu = emulator(&s).await;
    let info = tidb_changefeed::model::TableInfo::from_json(s.tables[0].info.as_bytes())
        .expect("table info");
    let prefix = unique("bigtxn");
    let sink = table_topics_sink("protocol = \"canal-json\"", &prefix, 3, "");
    let mut d = Daemon::start_sink(
        &format!("http://{}", emu.pd_addr()),
        "memory-quota = \"64MiB\"",
        &sink,
    );
    wait_subscribed(&emu).await;

    let rows: Vec<Mutation> = (0..ROWS)
        .map(|id| {
            let mut v = BTreeMap::new();
            v.insert("id".to_string(), toml::Value::Integer(id));
            v.insert("name".to_string(), toml::Value::String("y".repeat(1000)));
            let (key, value) = encode_row(&info, &v, None).expect("row");
            Mutation {
                key,
                op: MutationOp::Put(value),
            }
        })
        .collect();
    let primary = rows[0].key.clone();
    let start_ts = emu.cluster().lock().next_ts();
    // Prewritten in batches, as TiDB does for a large transaction.
    for chunk in rows.chunks(CHUNK as usize) {
        emu.cluster()
            .lock()
            .prewrite(
                start_ts,
                &primary,
                chunk,
                PrewriteOptions {
                    // A live large transaction: TiDB sizes its lock TTL by the write size
                    // and keeps it alive with heartbeats, so no lock resolver aborts it.
                    lock_ttl: 600_000,
                    ..PrewriteOptions::default()
                },
            )
            .expect("prewrite");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let spilled = gauge(&d, "tidb_changefeed_prewrites_spilled").unwrap_or(0.0);
        if spilled > 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no prewrite value went to the spill file; /metrics:\n{}",
            d.get("/metrics").1
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let held = gauge(
        &d,
        "tidb_changefeed_memory_used_bytes{changefeed=\"e2e\",part=\"prewrites\"}",
    );
    assert!(
        held.is_some_and(|b| b <= (8 << 20) as f64),
        "prewrite values in memory stay within the 8 MiB share: {held:?}"
    );

    let commit_ts = emu.cluster().lock().next_ts();
    let keys: Vec<Vec<u8>> = rows.iter().map(|m| m.key.clone()).collect();
    for chunk in keys.chunks(CHUNK as usize) {
        emu.cluster()
            .lock()
            .commit(start_ts, commit_ts, chunk)
            .expect("commit");
    }
    let last = emu.cluster().lock().next_ts();
    d.wait_checkpoint(last, Duration::from_secs(120)).await;
    assert_eq!(
        gauge(&d, "tidb_changefeed_prewrites_spilled"),
        Some(0.0),
        "nothing is left in the spill file"
    );
    let st = d.terminate();
    assert!(st.success(), "exit {st}:\n{}", d.log());

    let got: Vec<i64> = read_all(&format!("{prefix}_test_t"))
        .iter()
        .filter_map(|m| {
            let v: serde_json::Value = serde_json::from_str(m.payload.as_deref()?).ok()?;
            v["data"][0]["id"].as_str()?.parse().ok()
        })
        .collect();
    assert_eq!(got.len(), ROWS as usize, "every row once");
    let ids: BTreeSet<i64> = got.into_iter().collect();
    assert_eq!(ids, (0..ROWS).collect::<BTreeSet<_>>());
}
