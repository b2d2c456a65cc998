//! End-to-end benchmark: the emulated upstream (in this process) → the `tidb-changefeed`
//! binary → the test Kafka broker, for sysbench-shaped rows
//! (`sbtest1(id INT PRIMARY KEY, k INT, c CHAR(120), pad CHAR(60))`), inserted by 1PC in
//! transactions of 100 rows over 3 regions, Canal-JSON, index-value dispatch to 3 partitions.
//!
//! Two phases: a burst (every row committed as fast as the emulator can) reports rows/s and
//! MB/s (first commit to last append) and its commit-to-ack latency, which is mostly queueing;
//! a paced phase (a steady 20 000 rows/s) reports commit-to-ack latency p50/p99 under a load the
//! daemon keeps up with. Latency is the broker's LogAppendTime of each message minus its commit
//! ts's physical time (`es`). Then the daemon's peak RSS (`VmHWM`). The emulator's resolved-ts interval is 200 ms (TiKV's default
//! `min-ts-interval` is 1 s), which bounds latency from below.
//!
//! Afterwards it pushes the burst's messages, exactly as Kafka holds them, with the daemon's own
//! producer alone to a new topic (`support/producer.rs`, as `kafka_produce` does) and prints
//! that ceiling and the burst's ratio to it, both from the same run; and the daemon's CPU per
//! row and per-stage busy time (its `/metrics`).
//!
//! Needs the test broker (`scripts/kafka.sh start`). `cargo bench --bench e2e` writes
//! 200 000 rows; run as a test (`cargo test --benches`) it writes 2 000 as a smoke check.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tidb_changefeed::model::TableInfo;
use tidb_changefeed_emulator::runner;
use tidb_changefeed_emulator::scenario::Scenario;
use tidb_changefeed_emulator::tidb::encode_row;
use tidb_changefeed_emulator::{Mutation, MutationOp};

#[path = "support/producer.rs"]
mod producer;

const SCENARIO: &str = include_str!("../tests/scenarios/fixtures/sysbench_three_regions.toml");

fn kafka_dir() -> String {
    std::env::var("KAFKA_IT_DIR").unwrap_or_else(|_| "/tmp/tidb-changefeed-kafka".into())
}

fn broker() -> String {
    if let Ok(b) = std::env::var("KAFKA_PLAINTEXT") {
        return b;
    }
    std::fs::read_to_string(format!("{}/env", kafka_dir()))
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("export KAFKA_PLAINTEXT=")
                    .map(str::to_string)
            })
        })
        .expect("the Kafka test broker is not running: start it with `scripts/kafka.sh start`")
}

fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Creates `topic` with 3 partitions and broker-side append timestamps.
fn create_topic(broker: &str, topic: &str) {
    let st = Command::new(repo().join("scripts/kafka.sh"))
        .args([
            "topics",
            "--bootstrap-server",
            broker,
            "--create",
            "--topic",
            topic,
            "--partitions",
            "3",
            "--replication-factor",
            "1",
            "--config",
            "message.timestamp.type=LogAppendTime",
        ])
        .stdout(Stdio::null())
        .status()
        .expect("scripts/kafka.sh topics");
    assert!(st.success(), "creating {topic} failed");
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmHWM:")
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

fn checkpoint(dir: &std::path::Path) -> Option<u64> {
    let t = std::fs::read_to_string(dir.join("state/bench.checkpoint.json")).ok()?;
    serde_json::from_str::<serde_json::Value>(&t).ok()?["checkpoint_ts"].as_u64()
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rows: i64 = if full { 200_000 } else { 2_000 };
    let broker = broker();
    let scenario = Scenario::parse(SCENARIO, "bench").expect("scenario");
    let info = TableInfo::from_json(scenario.tables[0].info.as_bytes()).expect("table info");
    let emu = runner::start(&scenario, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("emulator");

    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let topic = format!("bench_e2e_{stamp}");
    create_topic(&broker, &topic);
    let dir = tempfile::tempdir().expect("tempdir");
    let http = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let config = format!(
        r#"
[upstream]
pd = ["http://{pd}"]
[server]
listen = "127.0.0.1:{http}"
[state]
dir = "state"
checkpoint-interval = "100ms"
[log]
level = "warn"
format = "text"
[[changefeed]]
id = "bench"
[changefeed.sink]
protocol = "canal-json"
[[changefeed.sink.dispatchers]]
matcher = ["*.*"]
topic = "{topic}"
partition = "index-value"
[changefeed.sink.kafka-config]
brokers = ["{broker}"]
topic = "{topic}"
"#,
        pd = emu.pd_addr()
    );
    std::fs::write(dir.path().join("bench.toml"), config).expect("config");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_tidb-changefeed"))
        .args(["run", "--config"])
        .arg(dir.path().join("bench.toml"))
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("daemon.log")).expect("log"))
        .spawn()
        .expect("the daemon starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while emu.cluster().lock().subscription_count() == 0 {
        assert!(Instant::now() < deadline, "the daemon never subscribed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Phase 1, burst: every row committed as fast as the emulator can (throughput).
    // Phase 2, paced: `paced_rate` rows/s in transactions of 100 (latency at a steady load).
    let paced_rate: i64 = if full { 20_000 } else { 2_000 };
    let paced_rows: i64 = if full { 100_000 } else { 2_000 };
    let mut next_id = 0i64;
    let started = Instant::now();
    write_rows(&emu, &info, &mut next_id, rows, None).await;
    let write_secs = started.elapsed().as_secs_f64();
    wait_checkpoint(&emu, dir.path(), &mut daemon).await;
    let burst_last_id = next_id;
    write_rows(&emu, &info, &mut next_id, paced_rows, Some(paced_rate)).await;
    wait_checkpoint(&emu, dir.path(), &mut daemon).await;
    let payload_rows = next_id as usize;
    let rss = peak_rss_kib(daemon.id());
    let stages = stage_busy(http);
    let cpu = process_cpu_seconds(daemon.id());
    let _ = Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();

    // Read everything back with kcat: broker append time and the payload.
    let out = Command::new("kcat")
        .args([
            "-C",
            "-b",
            &broker,
            "-t",
            &topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-J",
        ])
        .output()
        .expect("kcat");
    assert!(out.status.success(), "kcat failed");
    let mut latencies = Vec::new();
    let mut paced = Vec::new();
    // The burst's messages as Kafka holds them, for the producer-only ceiling.
    let mut burst_msgs: Vec<(i32, Vec<u8>, Vec<u8>)> = Vec::new();
    let mut bytes = 0usize;
    let mut first_commit = i64::MAX;
    let mut last_append = 0i64;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let m: serde_json::Value = serde_json::from_str(line).expect("kcat JSON");
        let appended = m["ts"].as_i64().unwrap_or(0);
        let payload = m["payload"].as_str().unwrap_or("");
        let v: serde_json::Value = serde_json::from_str(payload).expect("canal-json");
        if v["isDdl"] == true {
            continue;
        }
        let es = v["es"].as_i64().unwrap_or(0);
        let id: i64 = v["data"][0]["id"]
            .as_str()
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        if id > burst_last_id {
            paced.push(appended - es);
            continue;
        }
        bytes += payload.len() + m["key"].as_str().map_or(0, str::len);
        burst_msgs.push((
            m["partition"]
                .as_i64()
                .and_then(|p| i32::try_from(p).ok())
                .unwrap_or(0),
            m["key"].as_str().unwrap_or("").as_bytes().to_vec(),
            payload.as_bytes().to_vec(),
        ));
        latencies.push(appended - es);
        first_commit = first_commit.min(es);
        last_append = last_append.max(appended);
    }
    assert_eq!(
        latencies.len() + paced.len(),
        payload_rows,
        "every row reached Kafka exactly once"
    );
    latencies.sort_unstable();
    paced.sort_unstable();
    let secs = ((last_append - first_commit).max(1)) as f64 / 1000.0;
    let burst_rows = burst_msgs.len();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ceiling = producer::push(&broker, &format!("{topic}_ceiling"), burst_msgs).await;
    let ceiling_rate = burst_rows as f64 / ceiling.as_secs_f64();
    println!(
        "e2e sysbench insert, burst: {} rows, {:.0} rows/s, {:.1} MB/s, commit-to-ack p50 {} ms, p99 {} ms (emulator wrote them in {:.2} s)",
        latencies.len(),
        latencies.len() as f64 / secs,
        bytes as f64 / secs / 1e6,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        write_secs
    );
    println!(
        "e2e sysbench insert, paced at {paced_rate} rows/s: {} rows, commit-to-ack p50 {} ms, p99 {} ms",
        paced.len(),
        percentile(&paced, 0.50),
        percentile(&paced, 0.99),
    );
    println!("daemon peak RSS {:.1} MiB", rss as f64 / 1024.0);
    println!(
        "producer alone, the burst's {burst_rows} messages to a new topic: {ceiling_rate:.0} msg/s; e2e burst / producer = {:.2}",
        latencies.len() as f64 / secs / ceiling_rate
    );
    println!(
        "daemon CPU {cpu:.2} s over both phases ({:.2} µs per row); stage busy seconds: {}",
        cpu * 1e6 / payload_rows as f64,
        stages
            .iter()
            .map(|(s, v)| format!("{s} {v:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// The daemon's user + system CPU seconds (`/proc/<pid>/stat`, clock ticks of 1/100 s).
fn process_cpu_seconds(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let f: Vec<&str> = after.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

/// `tidb_changefeed_stage_busy_seconds_sum` per stage from the daemon's `/metrics`.
fn stage_busy(port: u16) -> Vec<(String, f64)> {
    use std::io::{Read, Write};
    let mut body = String::new();
    if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
        let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let _ = s.read_to_string(&mut body);
    }
    body.lines()
        .filter(|l| l.starts_with("tidb_changefeed_stage_busy_seconds_sum"))
        .filter_map(|l| {
            let stage = l.split("stage=\"").nth(1)?.split('"').next()?.to_string();
            let v = l.rsplit(' ').next()?.parse().ok()?;
            Some((stage, v))
        })
        .collect()
}

/// Commits `n` sysbench rows (ids after `next_id`) in transactions of 100, as fast as possible
/// or at `rate` rows per second.
async fn write_rows(
    emu: &tidb_changefeed_emulator::Emulator,
    info: &TableInfo,
    next_id: &mut i64,
    n: i64,
    rate: Option<i64>,
) {
    let c = "0".repeat(119);
    let pad = "1".repeat(59);
    let started = Instant::now();
    let mut written = 0;
    while written < n {
        let mut batch = Vec::with_capacity(100);
        for _ in 0..100.min(n - written) {
            *next_id += 1;
            written += 1;
            let i = *next_id;
            let mut v = BTreeMap::new();
            v.insert("id".to_string(), toml::Value::Integer(i));
            v.insert("k".to_string(), toml::Value::Integer(i * 7 % 100_000));
            v.insert(
                "c".to_string(),
                toml::Value::String(format!("{i}{c}")[..120].to_string()),
            );
            v.insert(
                "pad".to_string(),
                toml::Value::String(format!("{i}{pad}")[..60].to_string()),
            );
            let (key, value) = encode_row(info, &v, None).expect("row");
            batch.push(Mutation {
                key,
                op: MutationOp::Put(value),
            });
        }
        emu.cluster().lock().one_pc(&batch, 0).expect("commit");
        match rate {
            Some(r) => {
                let due = Duration::from_secs_f64(written as f64 / r as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
            }
            None if written % 5_000 == 0 => tokio::task::yield_now().await,
            None => {}
        }
    }
}

/// Waits until the daemon's checkpoint passes everything committed so far.
async fn wait_checkpoint(
    emu: &tidb_changefeed_emulator::Emulator,
    dir: &std::path::Path,
    daemon: &mut std::process::Child,
) {
    let last = emu.cluster().lock().next_ts();
    let deadline = Instant::now() + Duration::from_secs(600);
    while checkpoint(dir).is_none_or(|c| c < last) {
        if let Ok(Some(st)) = daemon.try_wait() {
            panic!(
                "the daemon exited ({st}):\n{}",
                std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the checkpoint did not reach the last commit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
