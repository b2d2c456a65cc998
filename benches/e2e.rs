//! End-to-end benchmark: the emulated upstream (in this process) → the `tidb-changefeed`
//! binary → the test Kafka broker, for sysbench-shaped rows
//! (`sbtest1(id INT PRIMARY KEY, k INT, c CHAR(120), pad CHAR(60))`), inserted by 1PC in
//! transactions of 100 rows over 3 regions, Canal-JSON, index-value dispatch to 3 partitions.
//!
//! Three phases. A burst (every row committed as fast as the emulator can) reports rows/s and
//! MB/s (first commit to last append) and its commit-to-ack latency, which is mostly queueing.
//! A paced phase (a steady 50 000 rows/s, issue 18's load) reports commit-to-ack latency
//! p50/p99 against issue 18's target, p99 ≤ the resolved-ts interval + 100 ms. Latency is the
//! broker's LogAppendTime of each message minus its commit ts's physical time (`es`). The
//! emulator's resolved-ts interval is 200 ms (TiKV's default `min-ts-interval` is 1 s), which
//! bounds latency from below. Then the daemon's peak RSS (`VmHWM`), CPU per row and per-stage
//! busy time (its `/metrics`), and the producer-only ceiling: the burst's messages, exactly as
//! Kafka holds them, pushed with the daemon's own producer alone to a new topic
//! (`support/producer.rs`, as `kafka_produce` does), and the burst's ratio to it.
//!
//! The distance phase runs the same burst again with a second daemon (and a fresh emulated
//! cluster) whose broker is 20 ms of round trip away: it talks to the broker's DELAYED listener
//! through `support/delay_proxy.rs` (10 ms each way, on loopback; the listener advertises the
//! proxy's port, so every connection stays on the proxy), and prints rows/s with and without
//! the delay and their ratio, and the round trip measured through the proxy and directly.
//!
//! Needs the test broker (`scripts/kafka.sh start`; a broker started before the DELAYED
//! listener existed must be restarted). `KAFKA_PLAINTEXT`, `KAFKA_DELAYED` and
//! `KAFKA_DELAYED_PROXY`, else `$KAFKA_IT_DIR/env`, name it. `cargo bench --bench e2e` writes
//! 200 000 rows per burst and 200 000 paced; run as a test (`cargo test --benches`) it writes
//! 2 000 of each as a smoke check, asserting delivery, not speed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tidb_changefeed::model::TableInfo;
use tidb_changefeed_emulator::runner;
use tidb_changefeed_emulator::scenario::Scenario;
use tidb_changefeed_emulator::tidb::encode_row;
use tidb_changefeed_emulator::{Emulator, Mutation, MutationOp};

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/delay_proxy.rs"]
mod delay_proxy;
#[path = "support/producer.rs"]
mod producer;

use daemon::{
    Daemon, DaemonStats, broker, create_topic, kafka_dir, kafka_var, process_cpu_seconds,
    read_topic,
};
use delay_proxy::DelayProxy;

const SCENARIO: &str = include_str!("../tests/scenarios/fixtures/sysbench_three_regions.toml");

/// The distance phase's delay each way (20 ms round trip).
const ONE_WAY_DELAY: Duration = Duration::from_millis(10);

const RESTART: &str = "restart it with `scripts/kafka.sh restart` (or `scripts/kafka.sh stop` \
    and `start`) so it gets the DELAYED listener";

/// The broker's DELAYED listener: (where it is bound, where it is advertised = where the
/// proxy must listen). Panics when the broker does not have it.
fn delayed_listener() -> (String, String) {
    let (Some(bound), Some(advertised)) =
        (kafka_var("KAFKA_DELAYED"), kafka_var("KAFKA_DELAYED_PROXY"))
    else {
        panic!(
            "KAFKA_DELAYED / KAFKA_DELAYED_PROXY are not set: the test broker was started by an \
             older scripts/kafka.sh; {RESTART}"
        );
    };
    let addr = bound.parse().expect("KAFKA_DELAYED is host:port");
    if let Err(e) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
        panic!("the test broker has no DELAYED listener at {bound} ({e}); {RESTART}");
    }
    (bound, advertised)
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Rows per phase: the full bench, or the smoke check `cargo test --benches` runs.
struct Plan {
    burst_rows: i64,
    paced_rate: i64,
    paced_rows: i64,
}

impl Plan {
    fn new(full: bool) -> Self {
        if full {
            // 4 s of paced load at issue 18's rate.
            Plan {
                burst_rows: 200_000,
                paced_rate: 50_000,
                paced_rows: 200_000,
            }
        } else {
            Plan {
                burst_rows: 2_000,
                paced_rate: 2_000,
                paced_rows: 2_000,
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let plan = Plan::new(std::env::args().any(|a| a == "--bench"));
    let broker = broker();
    // Checked first, so a broker without the listener fails before the long phases.
    let (delayed, delayed_proxy) = delayed_listener();
    let scenario = Scenario::parse(SCENARIO, "bench").expect("scenario");
    let _ = rustls::crypto::ring::default_provider().install_default();

    // Burst, then paced, with the daemon talking to the broker directly.
    let mut near = Feed::start(&scenario, &broker, &broker, "near").await;
    let before = CpuSample::take(near.daemon.pid());
    let write_started = Instant::now();
    near.write(plan.burst_rows, None).await;
    let write_secs = write_started.elapsed().as_secs_f64();
    near.settle().await;
    let burst_cpu = CpuSample::take(near.daemon.pid()).since(&before);
    let burst_last_id = near.next_id;
    let paced_started = Instant::now();
    near.write(plan.paced_rows, Some(plan.paced_rate)).await;
    let paced_write_secs = paced_started.elapsed().as_secs_f64();
    near.settle().await;
    let daemon = near.stop();
    let records = read_back(&broker, &near.topic);
    assert_eq!(
        records.len(),
        near.next_id as usize,
        "every row reached Kafka exactly once"
    );
    let (burst, paced): (Vec<Record>, Vec<Record>) =
        records.into_iter().partition(|r| r.id <= burst_last_id);
    let burst_rate = report_burst("e2e sysbench insert, burst", &burst);
    println!("(the emulator wrote the burst in {write_secs:.2} s)");
    report_paced(&plan, &scenario, &paced, paced_write_secs);
    println!("daemon peak RSS {:.1} MiB", daemon.rss_kib as f64 / 1024.0);
    report_ceiling(&broker, &near.topic, burst, burst_rate).await;
    report_cpu(&daemon, near.next_id);
    burst_cpu.report(plan.burst_rows);

    distance(
        &plan,
        &scenario,
        &broker,
        (&delayed, &delayed_proxy),
        burst_rate,
    )
    .await;
}

/// The same burst with the daemon's broker 2 × `ONE_WAY_DELAY` of round trip away.
async fn distance(
    plan: &Plan,
    scenario: &Scenario,
    broker: &str,
    (delayed, delayed_proxy): (&str, &str),
    near_rate: f64,
) {
    let proxy = DelayProxy::start(delayed_proxy, delayed, ONE_WAY_DELAY)
        .await
        .unwrap_or_else(|e| panic!("the delay proxy cannot listen on {delayed_proxy}: {e}"));
    let direct_rtt = kafka_round_trip(delayed).await;
    let proxy_rtt = kafka_round_trip(delayed_proxy).await;
    assert!(
        proxy_rtt >= 2 * ONE_WAY_DELAY,
        "a round trip through the delay proxy took {proxy_rtt:?}, less than its delay"
    );
    let mut far = Feed::start(scenario, broker, delayed_proxy, "far").await;
    far.write(plan.burst_rows, None).await;
    far.settle().await;
    far.stop();
    let records = read_back(broker, &far.topic);
    assert_eq!(
        records.len(),
        plan.burst_rows as usize,
        "every row reached Kafka exactly once through the delay proxy"
    );
    let payload: usize = records.iter().map(|r| r.payload.len()).sum();
    let stats = proxy.stats();
    assert!(
        stats.bytes_up() as usize >= payload,
        "the daemon's messages did not go through the delay proxy ({} bytes forwarded, {payload} \
         bytes of payload): does the broker advertise its DELAYED listener at {delayed_proxy}?",
        stats.bytes_up()
    );
    let far_rate = report_burst(
        &format!(
            "distance, the burst again with the broker {} ms of round trip away",
            (2 * ONE_WAY_DELAY).as_millis()
        ),
        &records,
    );
    println!(
        "distance: Kafka round trip through the proxy {:.1} ms, direct {:.1} ms (added {:.1} ms); \
         the proxy forwarded {:.1} MB up and {:.1} MB down over {} connections, writes at most \
         {:.1} ms behind schedule",
        ms(proxy_rtt),
        ms(direct_rtt),
        ms(proxy_rtt.saturating_sub(direct_rtt)),
        stats.bytes_up() as f64 / 1e6,
        stats.bytes_down() as f64 / 1e6,
        stats.connections(),
        ms(stats.max_late())
    );
    println!(
        "distance: {far_rate:.0} rows/s with the delay, {near_rate:.0} rows/s without; ratio {:.2} \
         (issue 18 target >= 0.5)",
        far_rate / near_rate
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The median time of a Kafka ApiVersions (v0) round trip to `addr`, over one connection.
async fn kafka_round_trip(addr: &str) -> Duration {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    s.set_nodelay(true).expect("nodelay");
    let mut times = Vec::new();
    for correlation in 0..11i32 {
        // Size, then the v1 request header: api key 18 (ApiVersions), version 0, correlation
        // id, null client id; the v0 body is empty.
        let mut req = 10i32.to_be_bytes().to_vec();
        req.extend(18i16.to_be_bytes());
        req.extend(0i16.to_be_bytes());
        req.extend(correlation.to_be_bytes());
        req.extend((-1i16).to_be_bytes());
        let started = Instant::now();
        s.write_all(&req).await.expect("ApiVersions request");
        let mut size = [0u8; 4];
        s.read_exact(&mut size).await.expect("ApiVersions response");
        let mut body = vec![0u8; i32::from_be_bytes(size).max(0) as usize];
        s.read_exact(&mut body).await.expect("ApiVersions response");
        times.push(started.elapsed());
        assert_eq!(
            body.get(..4),
            Some(&correlation.to_be_bytes()[..]),
            "ApiVersions response from {addr} answers another request"
        );
    }
    times.sort_unstable();
    times[times.len() / 2]
}

/// One message read back from the topic.
struct Record {
    partition: i32,
    key: Vec<u8>,
    payload: Vec<u8>,
    /// The broker's LogAppendTime, ms.
    appended: i64,
    /// The commit ts's physical time, ms (Canal-JSON `es`).
    es: i64,
    id: i64,
}

/// Every row message of `topic` (DDL left out), read with kcat.
fn read_back(broker: &str, topic: &str) -> Vec<Record> {
    let mut records = Vec::new();
    read_topic(broker, topic, &["-J"], |line| {
        let m: serde_json::Value = serde_json::from_str(line).expect("kcat JSON");
        let payload = m["payload"].as_str().unwrap_or("");
        let v: serde_json::Value = serde_json::from_str(payload).expect("canal-json");
        if v["isDdl"] == true {
            return;
        }
        records.push(Record {
            partition: m["partition"]
                .as_i64()
                .and_then(|p| i32::try_from(p).ok())
                .unwrap_or(0),
            key: m["key"].as_str().unwrap_or("").as_bytes().to_vec(),
            payload: payload.as_bytes().to_vec(),
            appended: m["ts"].as_i64().unwrap_or(0),
            es: v["es"].as_i64().unwrap_or(0),
            id: v["data"][0]["id"]
                .as_str()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0),
        });
    });
    records
}

/// Commit-to-ack latencies (ms), sorted.
fn latencies(records: &[Record]) -> Vec<i64> {
    let mut l: Vec<i64> = records.iter().map(|r| r.appended - r.es).collect();
    l.sort_unstable();
    l
}

/// Prints a burst's rows/s, MB/s and latency; returns its rows/s (first commit to last append).
fn report_burst(label: &str, records: &[Record]) -> f64 {
    let first_commit = records.iter().map(|r| r.es).min().unwrap_or(0);
    let last_append = records.iter().map(|r| r.appended).max().unwrap_or(0);
    let secs = (last_append - first_commit).max(1) as f64 / 1000.0;
    let bytes: usize = records.iter().map(|r| r.payload.len() + r.key.len()).sum();
    let l = latencies(records);
    let rate = records.len() as f64 / secs;
    println!(
        "{label}: {} rows, {rate:.0} rows/s, {:.1} MB/s, commit-to-ack p50 {} ms, p99 {} ms",
        records.len(),
        bytes as f64 / secs / 1e6,
        percentile(&l, 0.50),
        percentile(&l, 0.99),
    );
    rate
}

/// Prints the paced phase's latency next to issue 18's target (printed, never asserted).
fn report_paced(plan: &Plan, scenario: &Scenario, records: &[Record], write_secs: f64) {
    let l = latencies(records);
    let p99 = percentile(&l, 0.99);
    let interval = scenario.cluster.tick_interval_ms;
    let target = interval as i64 + 100;
    println!(
        "e2e sysbench insert, paced at {} rows/s (written at {:.0} rows/s): {} rows, \
         commit-to-ack p50 {} ms, p99 {p99} ms; target p99 <= {target} ms (resolved-ts interval \
         {interval} ms + 100 ms): {}",
        plan.paced_rate,
        records.len() as f64 / write_secs,
        records.len(),
        percentile(&l, 0.50),
        if p99 <= target { "met" } else { "NOT met" },
    );
}

/// Pushes the burst's messages with the producer alone and prints that ceiling and the ratio.
async fn report_ceiling(broker: &str, topic: &str, burst: Vec<Record>, burst_rate: f64) {
    let rows = burst.len();
    let msgs = burst
        .into_iter()
        .map(|r| (r.partition, r.key, r.payload))
        .collect();
    let took = producer::push(broker, &format!("{topic}_ceiling"), msgs).await;
    let ceiling = rows as f64 / took.as_secs_f64();
    println!(
        "producer alone, the burst's {rows} messages to a new topic: {ceiling:.0} msg/s; e2e burst / producer = {:.2}",
        burst_rate / ceiling
    );
}

/// CPU seconds used so far by the daemon, the broker and this process (the emulated
/// cluster, the delay proxy), and the wall clock: the three share the machine's cores.
struct CpuSample {
    daemon: f64,
    broker: f64,
    bench: f64,
    at: Instant,
    /// Seconds between two samples (set by [`CpuSample::since`]).
    wall: f64,
}

impl CpuSample {
    fn take(daemon_pid: u32) -> Self {
        let broker = std::fs::read_to_string(format!("{}/kafka.pid", kafka_dir()))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
            .map_or(0.0, process_cpu_seconds);
        CpuSample {
            daemon: process_cpu_seconds(daemon_pid),
            broker,
            bench: process_cpu_seconds(std::process::id()),
            at: Instant::now(),
            wall: 0.0,
        }
    }

    /// What was used between `earlier` and this sample.
    fn since(&self, earlier: &CpuSample) -> CpuSample {
        CpuSample {
            daemon: self.daemon - earlier.daemon,
            broker: self.broker - earlier.broker,
            bench: self.bench - earlier.bench,
            at: earlier.at,
            wall: self.at.duration_since(earlier.at).as_secs_f64(),
        }
    }

    /// Prints a phase's CPU (a sample made by [`CpuSample::since`]).
    fn report(&self, rows: i64) {
        let wall = self.wall;
        println!(
            "burst CPU over {wall:.2} s of wall clock on {} cores: daemon {:.2} s ({:.2} µs per row), \
             broker {:.2} s, emulator and bench {:.2} s",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            self.daemon,
            self.daemon * 1e6 / rows as f64,
            self.broker,
            self.bench
        );
    }
}

fn report_cpu(d: &DaemonStats, rows: i64) {
    println!(
        "daemon CPU {:.2} s over burst and paced phases ({:.2} µs per row); stage busy seconds: {}",
        d.cpu_secs,
        d.cpu_secs * 1e6 / rows as f64,
        d.stages
            .iter()
            .map(|(s, v)| format!("{s} {v:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// One changefeed under test: its own emulated cluster, topic and daemon.
struct Feed {
    emu: Emulator,
    info: TableInfo,
    daemon: Daemon,
    topic: String,
    next_id: i64,
}

impl Feed {
    /// Creates the topic through `admin` and starts a daemon whose `brokers` is
    /// `daemon_broker`; returns once it subscribed to the emulated TiKV.
    async fn start(scenario: &Scenario, admin: &str, daemon_broker: &str, name: &str) -> Feed {
        let info = TableInfo::from_json(scenario.tables[0].info.as_bytes()).expect("table info");
        let emu = runner::start(scenario, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("emulator");
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        let topic = format!("bench_e2e_{name}_{stamp}");
        create_topic(admin, &topic);
        let mut daemon = Daemon::start(&emu.pd_addr().to_string(), &topic, daemon_broker, "");
        daemon.wait_subscribed(&emu).await;
        Feed {
            emu,
            info,
            daemon,
            topic,
            next_id: 0,
        }
    }

    /// Commits `n` sysbench rows (ids after `next_id`) in transactions of 100, as fast as
    /// possible or at `rate` rows per second.
    async fn write(&mut self, n: i64, rate: Option<i64>) {
        let started = Instant::now();
        let mut written = 0;
        while written < n {
            let batch: Vec<Mutation> = (0..100.min(n - written))
                .map(|_| {
                    self.next_id += 1;
                    sysbench_row(&self.info, self.next_id)
                })
                .collect();
            written += batch.len() as i64;
            self.emu.cluster().lock().one_pc(&batch, 0).expect("commit");
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
    async fn settle(&mut self) {
        let last = self.emu.cluster().lock().next_ts();
        self.daemon.settle(last).await;
    }

    /// Reads the daemon's own figures, then stops it (SIGTERM).
    fn stop(&mut self) -> DaemonStats {
        self.daemon.stop()
    }
}

/// One sysbench row with id `i`, as a 1PC mutation.
fn sysbench_row(info: &TableInfo, i: i64) -> Mutation {
    let mut v = BTreeMap::new();
    v.insert("id".to_string(), toml::Value::Integer(i));
    v.insert("k".to_string(), toml::Value::Integer(i * 7 % 100_000));
    v.insert("c".to_string(), toml::Value::String(format!("{i:0<120}")));
    v.insert("pad".to_string(), toml::Value::String(format!("{i:1<60}")));
    let (key, value) = encode_row(info, &v, None).expect("row");
    Mutation {
        key,
        op: MutationOp::Put(value),
    }
}
