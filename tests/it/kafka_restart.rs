//! A broker killed (SIGKILL) and restarted in the middle of a stream (the stream runs until
//! the broker is back, then a little longer): the producer retries
//! without reordering, nothing acknowledged is lost, and each partition, read back by kcat,
//! holds every message in order (a batch resent after the crash may repeat, as
//! at-least-once allows). Runs on a broker of its own, so the shared one stays up.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::partition::Compression;
use tidb_changefeed::config::KafkaConfig;
use tidb_changefeed::sink::ack::AckTracker;
use tidb_changefeed::sink::kafka::{
    ConnectOptions, Kafka, Message, Producer, ProducerSettings, TopicPolicy, Topics, connect,
};

use crate::kafka_env::{KcatAuth, kcat_consume};
use crate::own_broker::OwnBroker;
use crate::support::unique;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_crash_mid_stream_loses_nothing_and_keeps_order() {
    let broker = OwnBroker::new("restart", 29092);
    broker.run("start", false);
    let addr = vec![broker.plaintext()];
    let Kafka { client, admin } = connect(&ConnectOptions::plain(&addr))
        .await
        .expect("connect");
    let client = Arc::new(client);
    let topic = unique("it_restart");
    let topics = Topics::new(
        Arc::clone(&client),
        admin.clone(),
        TopicPolicy::from_config(&KafkaConfig {
            partition_num: Some(3),
            ..KafkaConfig::new(addr.clone(), &topic)
        }),
    );
    assert_eq!(topics.ensure(&topic).await.expect("create"), 3);
    let tracker = AckTracker::new();
    tracker.register(1, 0);
    let producer = Arc::new(Producer::new(
        client,
        admin,
        ProducerSettings {
            compression: Compression::Snappy,
            max_message_bytes: 1 << 20,
            max_retry: 3,
            request_timeout: Duration::from_secs(5),
            // About 64 of these small messages per partition.
            queue_bytes: Some(4 << 10),
            total_queue_bytes: None,
            batch_size: None,
            linger: Duration::ZERO,
            fence: Default::default(),
        },
        tracker.clone(),
    ));

    // The stream keeps going until the broker is back, then sends `AFTER` more rows, so the
    // crash always falls mid-stream whatever the machine's speed.
    const AFTER: u64 = 300;
    let restarted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sender = {
        let producer = Arc::clone(&producer);
        let tracker = tracker.clone();
        let topic = topic.clone();
        let restarted = Arc::clone(&restarted);
        tokio::spawn(async move {
            let mut i: u64 = 0;
            let mut stop_at = u64::MAX;
            while i < stop_at {
                if stop_at == u64::MAX && restarted.load(std::sync::atomic::Ordering::SeqCst) {
                    stop_at = i + AFTER;
                }
                for p in 0..3 {
                    let m = Message {
                        key: Some(format!("k{p}").into_bytes()),
                        value: Some(format!("{p}:{i}").into_bytes()),
                        headers: BTreeMap::new(),
                        tickets: vec![tracker.submit(1, i + 1)],
                    };
                    producer
                        .send(&topic, p, m)
                        .await
                        .expect("send (retries hide the crash)");
                }
                // Every message with commit ts <= i + 1 is submitted.
                tracker.resolve(1, i + 1);
                if i.is_multiple_of(20) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                i += 1;
            }
            tracker.resolve(1, i);
            producer
                .flush()
                .await
                .expect("flush after the broker came back");
            i
        })
    };

    // Let part of the stream through, then crash the broker and bring it back.
    let started = std::time::Instant::now();
    while tracker.progress(1).unwrap_or(0) < 150 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no progress before the crash"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    tokio::task::spawn_blocking({
        let dir = broker.dir.clone();
        move || {
            let b = OwnBroker {
                dir,
                base_port: 29092,
            };
            b.run("kill", false);
            std::thread::sleep(Duration::from_secs(2));
            b.run("start", true);
            std::mem::forget(b);
        }
    })
    .await
    .expect("restart");
    restarted.store(true, std::sync::atomic::Ordering::SeqCst);

    let per_partition = tokio::time::timeout(Duration::from_secs(120), sender)
        .await
        .expect("the stream finishes after the restart")
        .expect("sender task");
    assert!(per_partition > 150 + AFTER, "the stream spans the crash");
    assert_eq!(
        tracker.progress(1),
        Some(per_partition),
        "everything acknowledged"
    );

    let got = kcat_consume(
        &broker.plaintext(),
        &KcatAuth::Plain,
        &topic,
        usize::MAX >> 1,
    );
    for p in 0..3 {
        let values: Vec<u64> = got
            .iter()
            .filter(|m| m.partition == p)
            .map(|m| {
                let v = m.payload.clone().unwrap_or_default();
                v.split_once(':')
                    .and_then(|(_, i)| i.parse().ok())
                    .unwrap_or_else(|| panic!("bad value {v}"))
            })
            .collect();
        // First occurrences must be exactly 0..n in order; repeats only re-send a batch.
        let mut seen = std::collections::HashSet::new();
        let firsts: Vec<u64> = values.iter().copied().filter(|v| seen.insert(*v)).collect();
        assert_eq!(
            firsts,
            (0..per_partition).collect::<Vec<_>>(),
            "partition {p}: lost or reordered"
        );
    }
}
