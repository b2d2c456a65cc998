//! The producer-only ceiling the benches compare against: pre-encoded messages pushed with
//! the daemon's own `sink::kafka::Producer` (one request in flight per partition, acks = all,
//! no compression, default batch and queue sizes) through one cached `PartitionHandle` per
//! partition to a new 3-partition topic, timed until Kafka acknowledged every one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rskafka::client::partition::Compression;
use tidb_changefeed::config::KafkaConfig;
use tidb_changefeed::sink::ack::AckTracker;
use tidb_changefeed::sink::kafka::{
    ConnectOptions, Kafka, Message, Producer, ProducerSettings, TopicPolicy, Topics, connect,
};

/// Pushes `msgs` (partition, key, value) to `topic` on `broker` (created with 3 partitions)
/// and returns the time from the first send to the last acknowledgement.
pub async fn push(broker: &str, topic: &str, msgs: Vec<(i32, Vec<u8>, Vec<u8>)>) -> Duration {
    let brokers = vec![broker.to_string()];
    let Kafka { client, admin } = connect(&ConnectOptions::plain(&brokers))
        .await
        .expect("connect");
    let client = Arc::new(client);
    let topics = Topics::new(
        Arc::clone(&client),
        admin.clone(),
        TopicPolicy::from_config(&KafkaConfig {
            partition_num: Some(3),
            ..KafkaConfig::new(brokers.clone(), topic)
        }),
    );
    topics.ensure(topic).await.expect("topic");
    let producer = Producer::new(
        client,
        admin,
        ProducerSettings {
            compression: Compression::NoCompression,
            max_message_bytes: 1 << 20,
            max_retry: 5,
            request_timeout: Duration::from_secs(30),
            batch_size: None,
            queue_bytes: None,
            total_queue_bytes: None,
            linger: Duration::ZERO,
            fence: Default::default(),
        },
        AckTracker::new(),
    );
    producer.max_message_bytes(topic).await.expect("limit");
    let msgs: Vec<(i32, Message)> = msgs
        .into_iter()
        .map(|(p, key, value)| {
            (
                p,
                Message {
                    key: Some(key),
                    value: Some(value),
                    headers: BTreeMap::new(),
                    tickets: Vec::new(),
                },
            )
        })
        .collect();
    let mut handles = Vec::new();
    for p in 0..3 {
        handles.push(producer.partition(topic, p).await.expect("partition"));
    }
    let started = Instant::now();
    for (p, m) in msgs {
        let h = usize::try_from(p).expect("partition 0..3");
        handles[h].send(m).await.expect("send");
    }
    producer.flush().await.expect("flush");
    started.elapsed()
}
