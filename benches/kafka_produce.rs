//! Throughput of the Kafka producer against kcat (librdkafka) sending the same pre-encoded
//! messages to the same broker: N Canal-JSON-shaped messages of about 400 bytes, keyed by
//! primary key, to a 3-partition topic, acks = all, no compression, each producer until
//! every message is acknowledged.
//!
//! Needs the test broker (`scripts/kafka.sh start`). `cargo bench --bench kafka_produce`
//! runs the full measurement (200 000 messages, 3 rounds each, medians reported); run as
//! a test (`cargo test --benches`) it sends 2 000 messages once as a smoke check.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tidb_changefeed::config::KafkaConfig;
use tidb_changefeed::sink::kafka::{ConnectOptions, Kafka, TopicPolicy, Topics, connect};

#[path = "support/producer.rs"]
mod producer;

fn broker() -> String {
    if let Ok(b) = std::env::var("KAFKA_PLAINTEXT") {
        return b;
    }
    let dir = std::env::var("KAFKA_IT_DIR").unwrap_or_else(|_| "/tmp/tidb-changefeed-kafka".into());
    std::fs::read_to_string(format!("{dir}/env"))
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("export KAFKA_PLAINTEXT=")
                    .map(str::to_string)
            })
        })
        .expect("the Kafka test broker is not running: start it with `scripts/kafka.sh start`")
}

/// One Canal-JSON-shaped row change; `i` makes each distinct.
fn payload(i: usize) -> (String, String) {
    let key = format!("{{\"id\":\"{i}\"}}");
    let value = format!(
        "{{\"id\":0,\"database\":\"sbtest\",\"table\":\"sbtest1\",\"pkNames\":[\"id\"],\"isDdl\":false,\"type\":\"INSERT\",\"es\":1732521600000,\"ts\":1732521600123,\"sql\":\"\",\"sqlType\":{{\"id\":4,\"k\":4,\"c\":1,\"pad\":1}},\"mysqlType\":{{\"id\":\"int\",\"k\":\"int\",\"c\":\"char\",\"pad\":\"char\"}},\"old\":null,\"data\":[{{\"id\":\"{i}\",\"k\":\"{}\",\"c\":\"{:0>119}\",\"pad\":\"{:0>59}\"}}]}}",
        i * 7 % 100_000,
        i,
        i
    );
    (key, value)
}

fn partition_of(i: usize) -> i32 {
    (i % 3) as i32
}

async fn ours(broker: &str, topic: &str, n: usize) -> Duration {
    let msgs = (0..n)
        .map(|i| {
            let (k, v) = payload(i);
            (partition_of(i), k.into_bytes(), v.into_bytes())
        })
        .collect();
    producer::push(broker, topic, msgs).await
}

fn kcat(broker: &str, topic: &str, n: usize) -> Duration {
    let mut input = Vec::with_capacity(n * 450);
    for i in 0..n {
        let (k, v) = payload(i);
        let _ = writeln!(input, "{k}\t{v}");
    }
    let file = std::env::temp_dir().join(format!("kcat-bench-{}.txt", std::process::id()));
    std::fs::write(&file, &input).expect("write messages");
    let started = Instant::now();
    let status = Command::new("kcat")
        .args([
            "-P", "-b", broker, "-t", topic, "-K", "\t", "-X", "acks=all", "-l",
        ])
        .arg(&file)
        .stdout(Stdio::null())
        .status()
        .expect("kcat runs");
    let took = started.elapsed();
    let _ = std::fs::remove_file(&file);
    assert!(status.success(), "kcat failed");
    took
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (n, rounds) = if full { (200_000, 3) } else { (2_000, 1) };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let broker = broker();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let stamp = std::process::id();
    let bytes: usize = (0..n)
        .map(|i| {
            let (k, v) = payload(i);
            k.len() + v.len()
        })
        .sum();
    let mut ours_t = Vec::new();
    let mut kcat_t = Vec::new();
    for r in 0..rounds {
        // kcat creates no topic on its own here (auto-create is off), so make it ours.
        let kt = format!("bench_kcat_{stamp}_{r}");
        rt.block_on(async {
            let brokers = vec![broker.clone()];
            let Kafka { client, admin } = connect(&ConnectOptions::plain(&brokers))
                .await
                .expect("connect");
            Topics::new(
                Arc::new(client),
                admin,
                TopicPolicy::from_config(&KafkaConfig {
                    partition_num: Some(3),
                    ..KafkaConfig::new(brokers.clone(), &kt)
                }),
            )
            .ensure(&kt)
            .await
            .expect("kcat topic");
        });
        ours_t.push(rt.block_on(ours(&broker, &format!("bench_ours_{stamp}_{r}"), n)));
        kcat_t.push(kcat(&broker, &kt, n));
    }
    let (o, k) = (median(ours_t), median(kcat_t));
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let mbs = |d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
    println!(
        "kafka_produce: {n} messages, {:.1} MB, {rounds} round(s), medians",
        bytes as f64 / 1e6
    );
    println!(
        "  tidb-changefeed producer: {:>10.0} msg/s {:>7.1} MB/s ({o:?})",
        rate(o),
        mbs(o)
    );
    println!(
        "  kcat (librdkafka 2.0.2):  {:>10.0} msg/s {:>7.1} MB/s ({k:?})",
        rate(k),
        mbs(k)
    );
    println!("  ratio ours/kcat: {:.2}", rate(o) / rate(k));
}
