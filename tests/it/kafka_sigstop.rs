//! The broker stopped (SIGSTOP) under a steady load, then continued: every 250 ms the
//! daemon's `/readyz`, status API and `/metrics` answer within 2 s; `/readyz` turns 503 and
//! the status shows `retrying` (with since when and why) within `sink-stall-timeout` and a
//! tick; after SIGCONT the checkpoint lag is back under 2 s within 15 s and the changefeed
//! `running`; read back by kcat, every committed row is there and, per key, the versions
//! never go backwards (a batch resent after a timeout may repeat, as at-least-once allows).
//! Runs on a broker of its own, so the shared one stays up.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tidb_changefeed_emulator::scenario::Scenario;

use crate::e2e::{Daemon, KILL_SCENARIO, emulator, table_topics_sink_on, wait_subscribed};
use crate::kafka_env::{KcatAuth, kcat_consume};
use crate::load::SteadyLoad;
use crate::own_broker::OwnBroker;
use crate::support::{get_within, unique};

/// Distinct keys the load updates in turn.
const KEYS: i64 = 200;
/// How long the broker stays stopped.
const STOPPED: Duration = Duration::from_secs(20);
/// `sink-stall-timeout` of the daemon under test.
const STALL_TIMEOUT: Duration = Duration::from_secs(5);

/// What one poll of the endpoints saw.
struct Poll {
    ready: bool,
    state: String,
    state_since: String,
    reason: String,
    lag: f64,
}

fn poll(port: u16) -> Poll {
    let (ready, body, took) = get_within(port, "/readyz");
    assert!(took < Duration::from_secs(2), "/readyz took {took:?}");
    let ready_ok = ready.contains("200");
    assert!(
        ready_ok || ready.contains("503"),
        "/readyz: {ready}\n{body}"
    );
    let (status, body, took) = get_within(port, "/api/v1/status");
    assert!(
        status.contains("200") && took < Duration::from_secs(2),
        "status: {status} in {took:?}"
    );
    let v: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
    let cf = &v["changefeeds"][0];
    let (status, metrics, took) = get_within(port, "/metrics");
    assert!(
        status.contains("200") && took < Duration::from_secs(2),
        "/metrics: {status} in {took:?}"
    );
    assert!(metrics.contains("tidb_changefeed_sink_stall_seconds"));
    Poll {
        ready: ready_ok,
        state: cf["state"].as_str().unwrap_or_default().to_string(),
        state_since: cf["state_since"].as_str().unwrap_or_default().to_string(),
        reason: cf["reason"].as_str().unwrap_or_default().to_string(),
        lag: cf["lag_seconds"].as_f64().unwrap_or(f64::MAX),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_broker_turns_readyz_false_and_replication_recovers_after_it() {
    let broker = OwnBroker::new("sigstop", 29192);
    broker.run("start", false);
    let s = Scenario::parse(KILL_SCENARIO, "sigstop").expect("scenario");
    let emu = emulator(&s).await;
    let info = tidb_changefeed::model::TableInfo::from_json(s.tables[0].info.as_bytes())
        .expect("table info");
    let prefix = unique("sigstop");
    let topic = format!("{prefix}_test_t");
    let sink = table_topics_sink_on(
        &broker.plaintext(),
        "protocol = \"canal-json\"",
        &prefix,
        3,
        "",
    );
    let mut d = Daemon::start_sink(
        &format!("http://{}", emu.pd_addr()),
        &format!(
            "memory-quota = \"64MiB\"\nsink-stall-timeout = \"{}s\"",
            STALL_TIMEOUT.as_secs()
        ),
        &sink,
    );
    let port = d.http;
    wait_subscribed(&emu).await;

    let stop = Arc::new(AtomicBool::new(false));
    // 20 updates every 20 ms, key `v % KEYS` getting version `v`.
    let load = SteadyLoad {
        tables: vec![info],
        rows_per_txn: 20,
        keys: KEYS,
        every: Duration::from_millis(20),
    }
    .spawn(emu.cluster().clone(), Arc::clone(&stop));
    // Steady state first: the load's rows acknowledged, the topic made, the lag small.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let marker = emu.cluster().lock().next_ts();
    d.wait_checkpoint(marker, Duration::from_secs(60)).await;
    let warm = Instant::now() + Duration::from_secs(60);
    loop {
        let p = poll(port);
        if p.ready && p.lag < 2.0 {
            break;
        }
        assert!(
            Instant::now() < warm,
            "never ready with a small lag before the stop"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    broker.signal("STOP");
    let stopped = Instant::now();
    eprintln!("SIGSTOP at {}", chrono::Utc::now());
    let mut unready_after = None;
    let mut retrying = None;
    while stopped.elapsed() < STOPPED {
        let p = tokio::task::spawn_blocking(move || poll(port))
            .await
            .expect("poll");
        if !p.ready && unready_after.is_none() {
            unready_after = Some(stopped.elapsed());
        }
        if p.state == "retrying" && retrying.is_none() {
            retrying = Some((p.state_since.clone(), p.reason.clone()));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if let Ok(path) = std::env::var("SIGSTOP_TEST_LOG") {
        let _ = std::fs::write(path, d.log());
    }
    let unready_after =
        unready_after.expect("/readyz never turned 503 while the broker was stopped");
    assert!(
        unready_after <= STALL_TIMEOUT + Duration::from_secs(2),
        "/readyz turned 503 only after {unready_after:?} (sink-stall-timeout {STALL_TIMEOUT:?}):\n{}",
        d.log()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let (since, reason) = retrying.expect("the status never showed retrying");
    assert!(
        chrono::DateTime::parse_from_rfc3339(&since).is_ok(),
        "state_since is a time: {since:?}"
    );
    assert!(
        reason.contains("acknowledged nothing") && reason.contains("Kafka"),
        "the reason says what is wrong and what to check: {reason}"
    );

    broker.signal("CONT");
    let continued = Instant::now();
    let recovered = loop {
        let p = tokio::task::spawn_blocking(move || poll(port))
            .await
            .expect("poll");
        if p.ready && p.state == "running" && p.lag < 2.0 {
            break continued.elapsed();
        }
        assert!(
            continued.elapsed() < Duration::from_secs(60),
            "no recovery within 60 s of SIGCONT (state {}, lag {} s):\n{}",
            p.state,
            p.lag,
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        recovered <= Duration::from_secs(15),
        "lag back under 2 s only {recovered:?} after SIGCONT"
    );

    stop.store(true, Ordering::SeqCst);
    let (last_version, last_ts) = load.join().expect("load thread");
    d.wait_checkpoint(last_ts, Duration::from_secs(60)).await;
    let st = d.terminate();
    assert!(st.success(), "exit {st}:\n{}", d.log());

    let got = kcat_consume(
        &broker.plaintext(),
        &KcatAuth::Plain,
        &topic,
        usize::MAX >> 1,
    );
    let mut latest: HashMap<i64, i64> = HashMap::new();
    let mut seen = std::collections::HashSet::new();
    let mut duplicates = 0usize;
    for m in &got {
        let v: serde_json::Value =
            serde_json::from_str(m.payload.as_deref().unwrap_or_default()).expect("canal-json");
        let row = &v["data"][0];
        let id: i64 = row["id"].as_str().and_then(|s| s.parse().ok()).expect("id");
        let version: i64 = row["name"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("version");
        assert_eq!(version % KEYS, id, "version {version} belongs to key {id}");
        let prev = latest.entry(id).or_insert(-1);
        // A resent batch may repeat versions already seen; a version older than the last
        // one of its key that was never seen before is an order break.
        if version < *prev && !seen.contains(&version) {
            panic!("key {id}: version {version} after {prev}: order broken");
        }
        if !seen.insert(version) {
            duplicates += 1;
        }
        *prev = (*prev).max(version);
    }
    let lost: Vec<i64> = (0..=last_version).filter(|v| !seen.contains(v)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} rows lost, first {:?}",
        lost.len(),
        last_version + 1,
        &lost[..lost.len().min(10)]
    );
    eprintln!(
        "broker stopped {STOPPED:?}: /readyz 503 after {unready_after:?}, lag < 2 s {recovered:?} after SIGCONT; {} rows, {duplicates} duplicates",
        last_version + 1
    );
}
