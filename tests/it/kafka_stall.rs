//! Kafka stops answering in the middle of a stream — every connection of the daemon goes
//! through a proxy to the broker's DELAYED listener, and the proxy freezes (connections stay
//! open, no byte moves) — while more rows than the partition queues hold are committed:
//! the status API and `/metrics` keep answering, the checkpoint tick keeps running (the lag it
//! publishes grows), nothing committed during the stall is checkpointed; once the proxy
//! thaws every row reaches Kafka and the checkpoint catches up.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use tidb_changefeed_emulator::scenario::Scenario;
use tidb_changefeed_emulator::tidb::encode_row;
use tidb_changefeed_emulator::{Mutation, MutationOp};

use crate::e2e::{Daemon, KILL_SCENARIO, emulator, read_all, wait_subscribed};
use crate::kafka_env::kafka;
use crate::support::unique;

/// A TCP proxy whose traffic can be frozen and thawed.
struct FreezingProxy {
    frozen: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl FreezingProxy {
    async fn start(listen: &str, upstream: &str) -> FreezingProxy {
        let listener = TcpListener::bind(listen).await.unwrap_or_else(|e| {
            panic!("cannot listen on {listen} for the DELAYED listener's proxy: {e}")
        });
        let (frozen, _) = watch::channel(false);
        let state = frozen.clone();
        let upstream = upstream.to_string();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pipe(cr, sw, state.subscribe()));
                tokio::spawn(pipe(sr, cw, state.subscribe()));
            }
        });
        FreezingProxy { frozen, task }
    }

    fn freeze(&self, on: bool) {
        self.frozen.send_replace(on);
    }
}

impl Drop for FreezingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to`, holding each chunk while frozen.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut frozen: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.wait_for(|f| !*f).await.is_err() {
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// Times one GET of the daemon's HTTP endpoint.
fn timed_get(d: &Daemon, path: &str) -> (String, String, Duration) {
    let started = Instant::now();
    let (status, body) = d.get(path);
    (status, body, started.elapsed())
}

#[tokio::test]
async fn a_frozen_kafka_leaves_status_metrics_and_the_tick_answering() {
    let env = kafka();
    let proxy = FreezingProxy::start(&env.delayed_proxy, &env.delayed).await;
    let s = Scenario::parse(KILL_SCENARIO, "stall").expect("scenario");
    let emu = emulator(&s).await;
    let info = tidb_changefeed::model::TableInfo::from_json(s.tables[0].info.as_bytes())
        .expect("table info");
    let prefix = unique("stall");
    let sink = format!(
        r#"[changefeed.sink]
protocol = "canal-json"

[[changefeed.sink.dispatchers]]
matcher = ["*.*"]
topic = "{prefix}_{{schema}}_{{table}}"
partition = "index-value"

[changefeed.sink.kafka-config]
brokers = ["{broker}"]
topic = "{prefix}_ddl"
partition-num = 3
write-timeout = "2s"
"#,
        broker = env.delayed_proxy
    );
    let mut d = Daemon::start_sink(
        &format!("http://{}", emu.pd_addr()),
        "memory-quota = \"64MiB\"",
        &sink,
    );
    wait_subscribed(&emu).await;
    let mut next_id = 0i64;
    let mut commit = |n: i64| {
        let rows: Vec<Mutation> = (0..n)
            .map(|i| {
                let mut v = BTreeMap::new();
                v.insert("id".to_string(), toml::Value::Integer(next_id + i));
                v.insert("name".to_string(), toml::Value::String("x".repeat(100)));
                let (key, value) = encode_row(&info, &v, None).expect("row");
                Mutation {
                    key,
                    op: MutationOp::Put(value),
                }
            })
            .collect();
        next_id += n;
        emu.cluster().lock().one_pc(&rows, 0).expect("commit").1
    };
    let before = commit(100);
    d.wait_checkpoint(before, Duration::from_secs(60)).await;

    proxy.freeze(true);
    // More rows than the three partition queues hold, so the emitter waits on a full queue.
    let mut stalled = Vec::new();
    for _ in 0..8 {
        stalled.push(commit(1000));
    }
    let mut lags = Vec::new();
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (status, body, took) = timed_get(&d, "/api/v1/status");
        assert!(status.contains("200"), "{status}: {body}");
        assert!(
            took < Duration::from_secs(1),
            "status took {took:?} during the stall"
        );
        let v: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
        let cf = &v["changefeeds"][0];
        let cp = cf["checkpoint_ts"].as_u64().expect("checkpoint_ts");
        assert!(
            cp < stalled[0],
            "nothing committed during the stall is checkpointed: {cf}"
        );
        lags.push(cf["lag_seconds"].as_f64().expect("lag_seconds"));
        let (status, metrics, took) = timed_get(&d, "/metrics");
        assert!(status.contains("200") && took < Duration::from_secs(1));
        assert!(metrics.contains("tidb_changefeed_checkpoint_lag_seconds"));
    }
    assert!(
        lags.last() > lags.first().map(|l| l + 1.0).as_ref(),
        "the tick keeps publishing a growing lag while Kafka is frozen: {lags:?}"
    );
    assert!(
        d.checkpoint().is_some_and(|c| c < stalled[0]),
        "the saved checkpoint stays before the stalled rows"
    );

    proxy.freeze(false);
    let last = emu.cluster().lock().next_ts();
    d.wait_checkpoint(last, Duration::from_secs(90)).await;
    let st = d.terminate();
    assert!(st.success(), "exit {st}:\n{}", d.log());
    let ids: BTreeSet<String> = read_all(&format!("{prefix}_test_t"))
        .iter()
        .filter_map(|m| {
            let v: serde_json::Value = serde_json::from_str(m.payload.as_deref()?).ok()?;
            v["data"][0]["id"].as_str().map(str::to_string)
        })
        .collect();
    assert_eq!(ids.len(), 8100, "every row arrives after the thaw");
}
