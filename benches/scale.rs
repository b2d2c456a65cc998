//! Scale: many tables over many regions at a steady rate, through the `tidb-changefeed`
//! binary to the test broker; prints the checkpoint lag over the run, the daemon's RSS and
//! CPU, and how long it took to subscribe every region; checks that every row arrived once.
//!
//! The emulated cluster has `sbtest.sbtest<i>` tables (the sysbench shape, `id INT PRIMARY
//! KEY, k INT, c CHAR(120), pad CHAR(60)`), each over its own regions (split on the handle),
//! the regions' leaders spread over three stores, resolved ts every second (TiKV's default
//! `cdc.min-ts-interval`). One more region holds everything before the first table (meta
//! keys, the DDL job table). The load is 1PC transactions of 10 rows into one table each,
//! the tables taken in turn and each transaction's rows spread over the table's regions,
//! paced to a steady rate. Canal-JSON, index-value dispatch, one topic of 3 partitions.
//!
//! Checkpoint lag is wall-clock time minus the physical time of the checkpoint the daemon
//! saved (`checkpoint-interval = 100ms`), sampled every 250 ms while the load runs: what an
//! operator sees as TiCDC's checkpoint lag.
//!
//! `cargo bench --bench scale` runs issue 18's case: 1 000 tables over 10 000 regions at
//! 20 000 rows/s for 30 s (target: checkpoint lag ≤ 2 s); run as a test
//! (`cargo test --benches`) it runs 20 tables over 60 regions at 2 000 rows/s for 2 s as a
//! smoke check, asserting delivery, not lag.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tidb_changefeed::model::TableInfo;
use tidb_changefeed_emulator::scenario::Scenario;
use tidb_changefeed_emulator::tidb::encode_row;
use tidb_changefeed_emulator::{Mutation, MutationOp, runner};

#[path = "support/daemon.rs"]
mod daemon;

use daemon::{
    Daemon, broker, checkpoint, create_topic, delete_topic, process_cpu_seconds, read_topic,
    rss_kib,
};

/// The first table's id; tables are numbered on from it.
const FIRST_TABLE: i64 = 1000;
/// Handles per region: region `r` of a table holds handles `[r * SPAN, (r + 1) * SPAN)`.
const SPAN: i64 = 100_000;
/// Rows per transaction.
const TXN_ROWS: usize = 10;
/// How often lag, RSS and CPU are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

struct Plan {
    tables: i64,
    regions_per_table: i64,
    rate: i64,
    seconds: u64,
}

impl Plan {
    fn new(full: bool) -> Self {
        if full {
            Plan {
                tables: 1_000,
                regions_per_table: 10,
                rate: 20_000,
                seconds: 30,
            }
        } else {
            Plan {
                tables: 20,
                regions_per_table: 3,
                rate: 2_000,
                seconds: 2,
            }
        }
    }

    fn regions(&self) -> i64 {
        self.tables * self.regions_per_table + 1
    }

    fn rows(&self) -> i64 {
        self.rate * self.seconds as i64
    }
}

/// TiDB's comparable encoding of an i64 (sign bit flipped, big endian).
fn comparable(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// The raw key where table `id`'s rows start, plus the handle `handle` if given, in hex.
fn record_key_hex(id: i64, handle: Option<i64>) -> String {
    let mut raw = vec![b't'];
    raw.extend_from_slice(&comparable(id));
    raw.extend_from_slice(b"_r");
    if let Some(h) = handle {
        raw.extend_from_slice(&comparable(h));
    }
    raw.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The sysbench table `sbtest<n>` with table id `id`, as TiDB's JSON.
fn table_json(id: i64, n: i64) -> String {
    let col = |cid: i64, name: &str, tp: u8, flag: u32, flen: i64, charset: &str| {
        let collate = if charset == "binary" {
            "binary"
        } else {
            "utf8mb4_bin"
        };
        format!(
            r#"{{"id":{cid},"name":{{"O":"{name}","L":"{name}"}},"offset":{},"state":5,"origin_default":null,"type":{{"Tp":{tp},"Flag":{flag},"Flen":{flen},"Decimal":0,"Charset":"{charset}","Collate":"{collate}","Elems":null}}}}"#,
            cid - 1
        )
    };
    format!(
        r#"{{"id":{id},"name":{{"O":"sbtest{n}","L":"sbtest{n}"}},"charset":"utf8mb4","collate":"utf8mb4_bin","cols":[{},{},{},{}],"index_info":[],"state":5,"pk_is_handle":true,"is_common_handle":false,"max_col_id":4,"version":5}}"#,
        col(1, "id", 3, 515, 11, "binary"),
        col(2, "k", 3, 1, 11, "binary"),
        col(3, "c", 254, 1, 120, "utf8mb4"),
        col(4, "pad", 254, 1, 60, "utf8mb4"),
    )
}

/// The scenario: three stores, one region before the first table, `regions_per_table`
/// regions per table (the last one reaching the next table, or the end of the key space).
fn scenario_text(plan: &Plan) -> String {
    let mut s = String::from(
        "[cluster]\ncluster_id = 7000000000000000001\ntick_interval_ms = 1000\n\n\
         [[stores]]\nid = 1\n[[stores]]\nid = 2\n[[stores]]\nid = 3\n\n",
    );
    let peers = |n: i64| {
        let first = n % 3 + 1;
        format!("[{first}, {}, {}]", first % 3 + 1, (first + 1) % 3 + 1)
    };
    let mut bounds = vec![String::new()];
    for t in 0..plan.tables {
        let id = FIRST_TABLE + t;
        bounds.push(record_key_hex(id, None));
        for r in 1..plan.regions_per_table {
            bounds.push(record_key_hex(id, Some(r * SPAN)));
        }
    }
    bounds.push(String::new());
    for (n, w) in bounds.windows(2).enumerate() {
        let _ = write!(s, "[[regions]]\nid = {}\n", 2 * n + 2);
        if !w[0].is_empty() {
            let _ = writeln!(s, "start = \"{}\"", w[0]);
        }
        if !w[1].is_empty() {
            let _ = writeln!(s, "end = \"{}\"", w[1]);
        }
        let _ = writeln!(s, "peers = {}", peers(n as i64));
    }
    s.push_str("\n[[databases]]\nid = 2\nname = \"sbtest\"\n\n");
    for t in 0..plan.tables {
        let _ = write!(
            s,
            "[[tables]]\ndb = 2\ninfo = '''{}'''\n",
            table_json(FIRST_TABLE + t, t + 1)
        );
    }
    s
}

/// Row `n` of a table: its handle spreads consecutive rows over the table's regions.
fn handle(plan: &Plan, n: i64) -> i64 {
    (n % plan.regions_per_table) * SPAN + n / plan.regions_per_table
}

fn sysbench_row(info: &TableInfo, id: i64) -> Mutation {
    let mut v = BTreeMap::new();
    v.insert("id".to_string(), toml::Value::Integer(id));
    v.insert("k".to_string(), toml::Value::Integer(id * 7 % 100_000));
    v.insert("c".to_string(), toml::Value::String(format!("{id:0<120}")));
    v.insert("pad".to_string(), toml::Value::String(format!("{id:1<60}")));
    let (key, value) = encode_row(info, &v, None).expect("row");
    Mutation {
        key,
        op: MutationOp::Put(value),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn broker_cpu() -> f64 {
    std::fs::read_to_string(format!("{}/kafka.pid", daemon::kafka_dir()))
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        .map_or(0.0, process_cpu_seconds)
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

/// What the sampler saw while the load ran.
#[derive(Default)]
struct Samples {
    lag_ms: Vec<i64>,
    rss_kib: Vec<u64>,
}

#[tokio::main]
async fn main() {
    let plan = Plan::new(std::env::args().any(|a| a == "--bench"));
    let broker = broker();
    let text = scenario_text(&plan);
    let scenario = Scenario::parse(&text, "scale").expect("scenario");
    let infos: Vec<TableInfo> = scenario
        .tables
        .iter()
        .map(|t| TableInfo::from_json(t.info.as_bytes()).expect("table info"))
        .collect();
    let emu = runner::start(&scenario, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("emulator");
    let topic = format!("bench_scale_{}", now_ms());
    create_topic(&broker, &topic);

    // Start, and wait for every table region to be subscribed and the checkpoint to move.
    let started = Instant::now();
    let mut d = Daemon::start(&emu.pd_addr().to_string(), &topic, &broker, "");
    let table_regions = (plan.tables * plan.regions_per_table) as usize;
    let deadline = Instant::now() + Duration::from_secs(300);
    while emu.cluster().lock().subscription_count() < table_regions {
        d.check_alive();
        assert!(
            Instant::now() < deadline,
            "the daemon subscribed {} of {table_regions} regions in 300 s",
            emu.cluster().lock().subscription_count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let subscribed = started.elapsed();
    let first = emu.cluster().lock().next_ts();
    d.settle(first).await;
    let caught_up = started.elapsed();
    let rss_at_rest = rss_kib(d.pid());

    // The sampler: checkpoint lag, RSS.
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        let dir = d.dir.path().to_path_buf();
        let pid = d.pid();
        tokio::spawn(async move {
            let mut s = Samples::default();
            let mut tick = tokio::time::interval(SAMPLE_EVERY);
            while !done.load(Ordering::Relaxed) {
                tick.tick().await;
                if let Some(c) = checkpoint(&dir) {
                    s.lag_ms.push(now_ms() - (c >> 18) as i64);
                }
                s.rss_kib.push(rss_kib(pid));
            }
            s
        })
    };

    // The load.
    let cpu_before = (
        process_cpu_seconds(d.pid()),
        broker_cpu(),
        process_cpu_seconds(std::process::id()),
    );
    let load_started = Instant::now();
    let mut next_row = vec![0i64; plan.tables as usize];
    let mut written = 0i64;
    let mut table = 0usize;
    while written < plan.rows() {
        let n = (TXN_ROWS as i64).min(plan.rows() - written);
        let batch: Vec<Mutation> = (0..n)
            .map(|_| {
                let h = handle(&plan, next_row[table]);
                next_row[table] += 1;
                sysbench_row(&infos[table], h)
            })
            .collect();
        emu.cluster().lock().one_pc(&batch, 0).expect("commit");
        written += n;
        table = (table + 1) % infos.len();
        let due = Duration::from_secs_f64(written as f64 / plan.rate as f64);
        if let Some(wait) = due.checked_sub(load_started.elapsed()) {
            tokio::time::sleep(wait).await;
        }
    }
    let write_secs = load_started.elapsed().as_secs_f64();
    let last = emu.cluster().lock().next_ts();
    d.settle(last).await;
    let settle_secs = load_started.elapsed().as_secs_f64() - write_secs;
    let cpu = (
        process_cpu_seconds(d.pid()) - cpu_before.0,
        broker_cpu() - cpu_before.1,
        process_cpu_seconds(std::process::id()) - cpu_before.2,
    );
    let wall = load_started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let samples = sampler.await.expect("sampler");
    let stats = d.stop();

    let (count, distinct) = read_back(&broker, &topic);
    delete_topic(&broker, &topic);
    assert_eq!(
        count,
        plan.rows() as usize,
        "every row arrived exactly once"
    );
    assert_eq!(distinct, plan.rows() as usize, "every (table, id) arrived");

    let mut lags = samples.lag_ms.clone();
    lags.sort_unstable();
    let max_rss = samples.rss_kib.iter().copied().max().unwrap_or(0);
    println!(
        "scale: {} tables over {} regions ({} per table and one before the first table) on 3 \
         stores, resolved ts every 1 s; subscribed every table region {:.1} s after start, \
         checkpoint moving {:.1} s after start",
        plan.tables,
        plan.regions(),
        plan.regions_per_table,
        subscribed.as_secs_f64(),
        caught_up.as_secs_f64()
    );
    println!(
        "scale: {} rows in 1PC transactions of {TXN_ROWS} at {} rows/s (written at {:.0} rows/s \
         over {write_secs:.1} s; checkpoint past the last commit {settle_secs:.2} s later)",
        plan.rows(),
        plan.rate,
        plan.rows() as f64 / write_secs
    );
    println!(
        "scale: checkpoint lag over {} samples: p50 {} ms, p99 {} ms, max {} ms; target <= 2000 \
         ms: {}",
        lags.len(),
        percentile(&lags, 0.5),
        percentile(&lags, 0.99),
        lags.last().copied().unwrap_or(0),
        if lags.last().is_some_and(|&m| m <= 2000) {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "scale: daemon RSS {} MiB at rest after subscribing, {} MiB at most under load, peak \
         (VmHWM) {} MiB",
        rss_at_rest / 1024,
        max_rss / 1024,
        stats.rss_kib / 1024
    );
    println!(
        "scale: CPU over {wall:.1} s of load on {} cores: daemon {:.2} s ({:.2} cores, {:.2} µs \
         per row), broker {:.2} s, emulator and bench {:.2} s",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu.0,
        cpu.0 / wall,
        cpu.0 * 1e6 / plan.rows() as f64,
        cpu.1,
        cpu.2
    );
}

/// Reads the topic back: (messages, distinct (table, id) pairs).
fn read_back(broker: &str, topic: &str) -> (usize, usize) {
    let (mut count, mut seen) = (0, HashSet::new());
    read_topic(broker, topic, &["-f", "%s\n"], |line| {
        let field = |name: &str| -> Option<&str> {
            let at = line.find(name)? + name.len();
            line[at..].split('"').next()
        };
        if let (Some(table), Some(id)) = (field("\"table\":\""), field("\"data\":[{\"id\":\"")) {
            count += 1;
            seen.insert(format!("{table}/{id}"));
        }
    });
    (count, seen.len())
}
