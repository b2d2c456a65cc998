//! Stale-lock resolution end to end: the emulator's scenarios of a transaction whose
//! coordinator died (`tests/scenarios/stale_lock_*.toml`) → the `tidb-changefeed` binary
//! with its default `stale-lock-threshold` (4 s) → the real Kafka broker → kcat.
//!
//! Each test plays its scenario step by step against the running daemon, reads the lock's
//! start ts (and the primary's commit ts) from the emulator's MVCC state, and checks what
//! only lock resolution can explain: the checkpoint passes the lock's start ts within the
//! threshold plus a few seconds, the emulator holds rollback (or commit) records where the
//! locks were, Kafka holds exactly the committed rows in per-key commit order, and the
//! daemon's metrics and log name the resolution.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tidb_changefeed_emulator::mvcc::WriteKind;
use tidb_changefeed_emulator::runner::Runner;
use tidb_changefeed_emulator::scenario::{Scenario, Step};

use crate::e2e::{Daemon, emulator, read_all, scenario_path};
use crate::support::unique;

/// The daemon's default `[upstream] stale-lock-threshold`.
const THRESHOLD: Duration = Duration::from_secs(4);
/// Detection (one check, at most 2 s), resolution, TiKV's next resolved-ts tick (1 s) and
/// the checkpoint's save (200 ms), with room for a loaded machine.
const SLACK: Duration = Duration::from_secs(6);

const TIDB_EXT: &str =
    "[changefeed.sink.kafka-config.codec-config]\nenable-tidb-extension = true\n";

fn key(hex: &str) -> Vec<u8> {
    hex::decode(hex).expect("hex key")
}

/// The rows of `topic` as (id, name, commit ts, partition), in partition then offset order.
fn rows(topic: &str) -> Vec<(i64, String, u64, i32)> {
    let mut msgs = read_all(topic);
    msgs.sort_by_key(|m| (m.partition, m.offset));
    let mut out = Vec::new();
    for m in msgs {
        let v: serde_json::Value =
            serde_json::from_str(m.payload.as_deref().unwrap_or("")).expect("canal-json");
        if v["type"] == "TIDB_WATERMARK" {
            continue;
        }
        let row = &v["data"][0];
        let id: i64 = row["id"].as_str().and_then(|x| x.parse().ok()).expect("id");
        let name = row["name"].as_str().expect("name").to_string();
        let ts = v["_tidb"]["commitTs"].as_u64().expect("commitTs");
        out.push((id, name, ts, m.partition));
    }
    out
}

/// Asserts each partition's rows are in commit-ts order (so every key's are).
fn assert_commit_order(rows: &[(i64, String, u64, i32)]) {
    let mut last: BTreeMap<i32, u64> = BTreeMap::new();
    for (id, name, ts, p) in rows {
        let prev = last.insert(*p, *ts).unwrap_or(0);
        assert!(
            *ts >= prev,
            "partition {p}: row {id}={name} at {ts} after {prev}: {rows:?}"
        );
    }
}

/// The daemon's `/metrics` value of a counter line starting with `prefix`, 0 when absent.
fn counter(d: &Daemon, prefix: &str) -> f64 {
    let (_, body) = d.get("/metrics");
    body.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until the checkpoint reaches `ts`; returns when it did, measured from `since`.
async fn checkpoint_passes(d: &mut Daemon, ts: u64, since: Instant) -> Duration {
    d.wait_checkpoint(ts, THRESHOLD + SLACK + Duration::from_secs(20))
        .await;
    since.elapsed()
}

#[tokio::test]
async fn coordinator_dies_after_prewrite_the_transaction_is_rolled_back_and_the_feed_goes_on() {
    let s = Scenario::load(&scenario_path("stale_lock_rollback")).expect("scenario");
    let mut emu = emulator(&s).await;
    let prefix = unique("locks_rb");
    let mut d = Daemon::start(emu.pd_addr(), &prefix, "", TIDB_EXT);
    let mut r = Runner::new(&s).expect("runner");
    let primary = key("7480000000000000685f72800000000000000a");
    let secondary = key("7480000000000000685f72800000000000006e");
    let mut lock: Option<(u64, Instant)> = None;
    for step in &s.steps {
        r.step(&mut emu, step).await.expect("step");
        if matches!(step, Step::Prewrite { .. }) {
            let l = emu
                .cluster()
                .lock()
                .key_data(&primary)
                .and_then(|k| k.lock.clone())
                .expect("the primary is locked");
            assert_eq!(l.ttl, 2000);
            lock = Some((l.start_ts, Instant::now()));
        }
    }
    let (start_ts, since) = lock.expect("the scenario prewrites");
    let took = checkpoint_passes(&mut d, start_ts + 1, since).await;
    assert!(
        took <= THRESHOLD + SLACK,
        "the checkpoint passed the dead transaction's start ts {start_ts} after {took:?}:\n{}",
        d.log()
    );
    let last = emu.cluster().lock().next_ts();
    d.wait_checkpoint(last, Duration::from_secs(30)).await;

    // The locks were rolled back by lock resolution (rollback records, no lock).
    for k in [&primary, &secondary] {
        let m = emu.cluster().lock();
        let data = m.key_data(k).expect("key");
        assert!(data.lock.is_none(), "{} still locked", hex::encode(k));
        assert!(
            data.writes
                .iter()
                .any(|w| w.kind == WriteKind::Rollback && w.start_ts == start_ts),
            "{} has no rollback record of {start_ts}",
            hex::encode(k)
        );
    }
    assert!(
        counter(
            &d,
            "tidb_changefeed_upstream_lock_resolutions_total{result=\"rolled_back\"}"
        ) >= 1.0,
        "{}",
        d.get("/metrics").1
    );
    assert!(counter(&d, "tidb_changefeed_upstream_locks_resolved_total") >= 1.0);
    let st = d.terminate();
    assert!(st.success(), "exit {st}:\n{}", d.log());
    let log = d.log();
    assert!(
        log.lines().any(|l| l.contains("resolved a stale lock")
            && l.contains(&start_ts.to_string())
            && l.contains("rollback")),
        "{log}"
    );

    let got = rows(&format!("{prefix}_test_t"));
    let names: Vec<&str> = got.iter().map(|r| r.1.as_str()).collect();
    assert!(
        !names.contains(&"d") && !names.contains(&"e"),
        "the dead transaction's rows reached Kafka: {got:?}"
    );
    for later in ["a", "b"] {
        assert_eq!(
            names.iter().filter(|n| **n == later).count(),
            1,
            "row {later} committed after the dead transaction: {got:?}"
        );
    }
    assert!(got.iter().all(|r| r.2 > start_ts), "{got:?}");
    assert_commit_order(&got);
}

#[tokio::test]
async fn primary_committed_secondaries_locked_are_committed_in_order() {
    let s = Scenario::load(&scenario_path("stale_lock_commit")).expect("scenario");
    let mut emu = emulator(&s).await;
    let prefix = unique("locks_cm");
    let mut d = Daemon::start(emu.pd_addr(), &prefix, "", TIDB_EXT);
    let mut r = Runner::new(&s).expect("runner");
    let primary = key("7480000000000000685f72800000000000000a");
    let secondaries = [
        key("7480000000000000685f72800000000000006e"),
        key("7480000000000000685f7280000000000000dc"),
    ];
    let mut txn: Option<(u64, u64, Instant)> = None;
    for step in &s.steps {
        r.step(&mut emu, step).await.expect("step");
        if matches!(step, Step::Abandon { .. }) {
            let m = emu.cluster().lock();
            let w = m.key_data(&primary).expect("primary").writes[0].clone();
            assert_eq!(w.kind, WriteKind::Put);
            for k in &secondaries {
                let l = m.key_data(k).and_then(|d| d.lock.clone()).expect("locked");
                assert_eq!(l.start_ts, w.start_ts);
            }
            txn = Some((w.start_ts, w.commit_ts, Instant::now()));
        }
    }
    let (start_ts, commit_ts, since) = txn.expect("the scenario abandons");
    let took = checkpoint_passes(&mut d, commit_ts, since).await;
    assert!(
        took <= THRESHOLD + SLACK,
        "the checkpoint passed the transaction's commit ts {commit_ts} after {took:?}:\n{}",
        d.log()
    );
    let last = emu.cluster().lock().next_ts();
    d.wait_checkpoint(last, Duration::from_secs(30)).await;

    // Committed at the primary's commit ts, never rolled back.
    for k in &secondaries {
        let m = emu.cluster().lock();
        let data = m.key_data(k).expect("key");
        assert!(data.lock.is_none());
        assert!(
            data.writes.iter().all(|w| w.kind != WriteKind::Rollback),
            "{} rolled back",
            hex::encode(k)
        );
        assert_eq!(
            (
                data.writes[0].kind,
                data.writes[0].start_ts,
                data.writes[0].commit_ts
            ),
            (WriteKind::Put, start_ts, commit_ts)
        );
    }
    assert!(
        counter(
            &d,
            "tidb_changefeed_upstream_lock_resolutions_total{result=\"committed\"}"
        ) >= 2.0,
        "one per secondary region:\n{}",
        d.get("/metrics").1
    );
    let st = d.terminate();
    assert!(st.success(), "exit {st}:\n{}", d.log());

    let got = rows(&format!("{prefix}_test_t"));
    let at = |id: i64| -> Vec<(String, u64)> {
        got.iter()
            .filter(|r| r.0 == id)
            .map(|r| (r.1.clone(), r.2))
            .collect()
    };
    assert_eq!(at(110), [("s".to_string(), commit_ts)], "{got:?}");
    assert_eq!(at(220), [("t".to_string(), commit_ts)], "{got:?}");
    let p = at(10);
    assert_eq!(p.len(), 2, "{got:?}");
    assert_eq!(p[0], ("p".to_string(), commit_ts), "{got:?}");
    assert!(p[1].0 == "q" && p[1].1 > commit_ts, "{got:?}");
    assert_commit_order(&got);
}

#[tokio::test]
async fn a_region_that_never_initializes_gets_its_locks_resolved() {
    let s = Scenario::load(&scenario_path("stale_lock_uninitialized")).expect("scenario");
    let mut emu = emulator(&s).await;
    let prefix = unique("locks_un");
    // Region 6's scan is held before the daemon subscribes.
    let (hold, rest) = s.steps.split_at(1);
    assert!(matches!(hold[0], Step::HoldScan { region: 6 }));
    let mut r = Runner::new(&s).expect("runner");
    r.step(&mut emu, &hold[0]).await.expect("hold");
    let mut d = Daemon::start(emu.pd_addr(), &prefix, "", TIDB_EXT);
    let dead = key("7480000000000000685f728000000000000078");
    let mut start_ts = 0;
    for step in rest {
        if matches!(step, Step::Sleep { .. }) {
            // Instead of sleeping: the lock goes while the scan is still held.
            let since = Instant::now();
            loop {
                let gone = emu
                    .cluster()
                    .lock()
                    .key_data(&dead)
                    .is_some_and(|k| k.lock.is_none());
                if gone {
                    break;
                }
                assert!(
                    since.elapsed() < THRESHOLD + SLACK,
                    "the lock of an uninitialized region was not resolved:\n{}",
                    d.log()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            continue;
        }
        if matches!(step, Step::ReleaseScan { .. }) {
            let status = d.status();
            assert!(
                status["changefeeds"][0]["checkpoint_ts"]
                    .as_u64()
                    .is_some_and(|c| c < start_ts),
                "region 6 never initialized, so the checkpoint is held: {status}"
            );
        }
        r.step(&mut emu, step).await.expect("step");
        if matches!(step, Step::Prewrite { .. }) {
            start_ts = emu
                .cluster()
                .lock()
                .key_data(&dead)
                .and_then(|k| k.lock.clone())
                .expect("locked")
                .start_ts;
        }
    }
    {
        let m = emu.cluster().lock();
        let data = m.key_data(&dead).expect("key");
        assert_eq!(
            (data.writes[0].kind, data.writes[0].start_ts),
            (WriteKind::Rollback, start_ts)
        );
    }
    assert!(
        counter(
            &d,
            "tidb_changefeed_upstream_lock_scans_total{reason=\"uninitialized\",result=\"ok\"}"
        ) >= 1.0,
        "{}",
        d.get("/metrics").1
    );
    let last = emu.cluster().lock().next_ts();
    d.wait_checkpoint(last, Duration::from_secs(30)).await;
    let st = d.terminate();
    assert!(st.success(), "exit {st}:\n{}", d.log());
    let got = rows(&format!("{prefix}_test_t"));
    let names: Vec<&str> = got.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(names, ["a"], "{got:?}");
}
