//! What `check` and a starting changefeed verify about a Kafka sink before any row flows:
//! the login, the broker's limits (DescribeConfigs on the Cluster), and the default topic —
//! that it exists with enough partitions, or that it may be created (a validate-only
//! CreateTopics, so nothing is created). Each failure is the [`KafkaError`] naming what to
//! grant or change. Write permission cannot be proven without writing; the first produce
//! proves it (and a denial there names the grant too).

use std::sync::Arc;

use super::admin::{BROKER_MESSAGE_MAX_BYTES, CreateProbe, MIN_INSYNC_REPLICAS};
use super::topics::{DEFAULT_PARTITION_NUM, TopicPolicy, Topics};
use super::{ConnectOptions, Described, Kafka, KafkaError, connect};
use crate::config::KafkaConfig;

/// Findings of a successful probe, one line each, for operators.
pub async fn probe(changefeed_id: &str, k: &KafkaConfig) -> Result<Vec<String>, KafkaError> {
    let mut lines = Vec::new();
    let Kafka { client, admin } = connect(&ConnectOptions::from_config(changefeed_id, k)).await?;
    lines.push(format!(
        "kafka login: ok as {} via {}",
        admin.login().principal(),
        k.brokers.join(",")
    ));

    let broker = match admin
        .broker_config(&[BROKER_MESSAGE_MAX_BYTES, MIN_INSYNC_REPLICAS])
        .await?
    {
        Described::Found(c) => c,
        Described::Denied(why) => {
            return Err(KafkaError::Denied {
                operation: "DescribeConfigs",
                resource: "the cluster".to_string(),
                principal: admin.login().principal(),
                remedy: format!(
                    "grant DescribeConfigs on the Cluster, which the daemon needs to read the broker's message.max.bytes and min.insync.replicas ({why})"
                ),
            });
        }
        Described::Missing => Default::default(),
    };
    lines.push(format!(
        "kafka broker: message.max.bytes = {}, min.insync.replicas = {}",
        broker
            .get(BROKER_MESSAGE_MAX_BYTES)
            .map_or("unknown", String::as_str),
        broker
            .get(MIN_INSYNC_REPLICAS)
            .map_or("unknown", String::as_str),
    ));
    admin.check_replication_factor(k.replication_factor).await?;

    let topics = Topics::new(Arc::new(client), admin.clone(), TopicPolicy::from_config(k));
    let listed = topics.list().await?;
    match listed.get(&k.topic) {
        Some(&n) => {
            if let Some(want) = k.partition_num
                && want > n
            {
                return Err(KafkaError::Config(format!(
                    "partition-num = {want} but topic {} has only {n} partitions: lower partition-num or add partitions to the topic",
                    k.topic
                )));
            }
            lines.push(format!(
                "kafka topic {}: exists with {n} partitions",
                k.topic
            ));
        }
        None if !k.auto_create_topic => {
            return Err(KafkaError::TopicMissing {
                topic: k.topic.clone(),
            });
        }
        None => {
            let partitions = k.partition_num.unwrap_or(DEFAULT_PARTITION_NUM);
            match admin
                .probe_create(&k.topic, partitions, k.replication_factor)
                .await?
            {
                CreateProbe::Allowed => lines.push(format!(
                    "kafka topic {}: missing; will be created with {partitions} partitions, replication factor {}",
                    k.topic, k.replication_factor
                )),
                CreateProbe::Exists => {
                    return Err(KafkaError::Denied {
                        operation: "Write",
                        resource: format!("topic {}", k.topic),
                        principal: admin.login().principal(),
                        remedy: format!(
                            "the topic exists but its metadata is hidden from this principal; grant Write on Topic {} (Write includes the Describe needed to see it)",
                            k.topic
                        ),
                    });
                }
            }
        }
    }
    let (limit, warning) = admin
        .effective_max_message_bytes(&k.topic, k.max_message_bytes.as_u64())
        .await?;
    lines.push(format!("kafka max message size: {limit} bytes"));
    if let Some(w) = warning {
        lines.push(format!("warning: {w}"));
    }
    Ok(lines)
}
