//! Memory under `memory-quota`: one huge 2PC transaction, then a burst of many small ones,
//! through the `tidb-changefeed` binary to the test broker; prints the daemon's peak RSS
//! (`VmHWM`) against the quota + 64 MiB and checks that every row arrived once, in commit
//! order per partition.
//!
//! The transaction is written as TiDB writes a large one: PREWRITE in batches (the values
//! travel with them, long before the COMMIT), then COMMIT in batches, all at one commit ts.
//! Rows are `test.t(id BIGINT PRIMARY KEY, name VARCHAR(32))` with a 64 KiB `name` (the
//! emulator does not enforce the column length), Canal-JSON, index-value dispatch to 3
//! partitions. The small transactions are 100 rows of 100 bytes each, committed by 1PC.
//!
//! `cargo bench --bench memory` writes a 2 GiB transaction with `memory-quota = "256MiB"`
//! (the emulator holds it too, in this process: several GiB of RAM and of broker disk);
//! run as a test (`cargo test --benches`) it writes 16 MiB with `memory-quota = "64MiB"`
//! as a smoke check, asserting delivery, not memory.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use tidb_changefeed::model::TableInfo;
use tidb_changefeed_emulator::scenario::Scenario;
use tidb_changefeed_emulator::tidb::encode_row;
use tidb_changefeed_emulator::{Mutation, MutationOp, PrewriteOptions, runner};

#[path = "support/daemon.rs"]
mod daemon;

use daemon::{Daemon, broker, create_topic, delete_topic, peak_rss_kib, read_topic};

const SCENARIO: &str = include_str!("../tests/scenarios/fixtures/kill_restart.toml");

/// Bytes of `name` in each row of the large transaction.
const BIG_VALUE: usize = 64 << 10;
/// Rows per PREWRITE and per COMMIT batch of the large transaction (2 MiB of values).
const BATCH: usize = 32;

struct Plan {
    txn_bytes: u64,
    quota_mib: u64,
    small_rows: i64,
}

impl Plan {
    fn new(full: bool) -> Self {
        if full {
            Plan {
                txn_bytes: 2 << 30,
                quota_mib: 256,
                small_rows: 200_000,
            }
        } else {
            Plan {
                txn_bytes: 16 << 20,
                quota_mib: 64,
                small_rows: 2_000,
            }
        }
    }
}

/// `id` followed by `y`s, `len` bytes in all.
fn padded(id: i64, len: usize) -> String {
    let mut s = id.to_string();
    let pad = len.saturating_sub(s.len());
    s.extend(std::iter::repeat_n('y', pad));
    s
}

fn row(info: &TableInfo, id: i64, name: String) -> Mutation {
    let mut v = BTreeMap::new();
    v.insert("id".to_string(), toml::Value::Integer(id));
    v.insert("name".to_string(), toml::Value::String(name));
    let (key, value) = encode_row(info, &v, None).expect("row");
    Mutation {
        key,
        op: MutationOp::Put(value),
    }
}

#[tokio::main]
async fn main() {
    let plan = Plan::new(std::env::args().any(|a| a == "--bench"));
    let broker = broker();
    let scenario = Scenario::parse(SCENARIO, "memory").expect("scenario");
    let info = TableInfo::from_json(scenario.tables[0].info.as_bytes()).expect("table info");
    let emu = runner::start(&scenario, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("emulator");
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let topic = format!("bench_memory_{stamp}");
    create_topic(&broker, &topic);
    let quota = format!("memory-quota = \"{}MiB\"", plan.quota_mib);
    let mut d = Daemon::start(&emu.pd_addr().to_string(), &topic, &broker, &quota);
    d.wait_subscribed(&emu).await;

    // The large transaction.
    let big_rows = (plan.txn_bytes / BIG_VALUE as u64) as i64;
    let started = Instant::now();
    let start_ts = emu.cluster().lock().next_ts();
    let mut primary = None;
    let mut keys = Vec::with_capacity(big_rows as usize);
    for first in (0..big_rows).step_by(BATCH) {
        let batch: Vec<Mutation> = (first..(first + BATCH as i64).min(big_rows))
            .map(|id| row(&info, id, padded(id, BIG_VALUE)))
            .collect();
        let p = primary.get_or_insert_with(|| batch[0].key.clone()).clone();
        emu.cluster()
            .lock()
            .prewrite(
                start_ts,
                &p,
                &batch,
                PrewriteOptions {
                    // A live large transaction: TiDB sizes its lock TTL by the write size
                    // and keeps it alive with heartbeats, so no lock resolver aborts it.
                    lock_ttl: 600_000,
                    ..PrewriteOptions::default()
                },
            )
            .expect("prewrite");
        keys.extend(batch.into_iter().map(|m| m.key));
        tokio::task::yield_now().await;
    }
    let prewritten = started.elapsed();
    let commit_ts = emu.cluster().lock().next_ts();
    for chunk in keys.chunks(BATCH * 32) {
        emu.cluster()
            .lock()
            .commit(start_ts, commit_ts, chunk)
            .expect("commit");
        tokio::task::yield_now().await;
    }
    drop(keys);
    let last = emu.cluster().lock().next_ts();
    d.settle(last).await;
    let big_secs = started.elapsed().as_secs_f64();
    let rss_after_big = peak_rss_kib(d.pid());

    // Many small transactions.
    let started = Instant::now();
    let mut id = big_rows;
    while id < big_rows + plan.small_rows {
        let batch: Vec<Mutation> = (id..(id + 100).min(big_rows + plan.small_rows))
            .map(|i| row(&info, i, padded(i, 100)))
            .collect();
        id += batch.len() as i64;
        emu.cluster().lock().one_pc(&batch, 0).expect("commit");
        if id % 5_000 == 0 {
            tokio::task::yield_now().await;
        }
    }
    let last = emu.cluster().lock().next_ts();
    d.settle(last).await;
    let small_secs = started.elapsed().as_secs_f64();
    let stats = d.stop();

    let (count, ids, out_of_order) = read_back(&broker, &topic);
    delete_topic(&broker, &topic);
    let expected = big_rows + plan.small_rows;
    assert_eq!(count, expected as usize, "every row arrived exactly once");
    assert_eq!(
        ids,
        (0..expected).collect::<BTreeSet<_>>(),
        "every id arrived"
    );
    assert_eq!(out_of_order, 0, "commit order per partition");

    let bound = plan.quota_mib + 64;
    let peak = stats.rss_kib / 1024;
    println!(
        "memory: one transaction of {} MiB ({big_rows} rows of {} KiB; prewritten in {:.1} s, \
         delivered {:.1} s after its first PREWRITE), then {} rows in 1PC transactions of 100 \
         ({small_secs:.1} s), memory-quota {} MiB",
        plan.txn_bytes >> 20,
        BIG_VALUE >> 10,
        prewritten.as_secs_f64(),
        big_secs,
        plan.small_rows,
        plan.quota_mib
    );
    println!(
        "memory: daemon peak RSS {} MiB after the large transaction, {peak} MiB at the end; \
         target <= quota + 64 MiB = {bound} MiB: {}; every row once, in commit order per \
         partition",
        rss_after_big / 1024,
        if peak <= bound { "met" } else { "NOT met" }
    );
}

/// Reads the topic back without keeping payloads: (messages, ids, partitions where a
/// message's commit time went backwards).
fn read_back(broker: &str, topic: &str) -> (usize, BTreeSet<i64>, usize) {
    let (mut count, mut ids, mut out_of_order) = (0, BTreeSet::new(), 0);
    let mut last_es: BTreeMap<String, i64> = BTreeMap::new();
    read_topic(broker, topic, &["-f", "%p\t%s\n"], |line| {
        if let Some((partition, payload)) = line.split_once('\t') {
            let field = |name: &str| -> Option<i64> {
                let at = payload.find(name)? + name.len();
                let digits: String = payload[at..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                digits.parse().ok()
            };
            if let (Some(id), Some(es)) = (field("\"data\":[{\"id\":\""), field("\"es\":")) {
                count += 1;
                ids.insert(id);
                let last = last_es.entry(partition.to_string()).or_insert(es);
                if es < *last {
                    out_of_order += 1;
                }
                *last = es;
            }
        }
    });
    (count, ids, out_of_order)
}
