//! Kafka's topic name rule, and the rules of the default topic's settings: a valid name,
//! `partition-num` and `replication-factor` above zero, `max-message-bytes` between 1 KiB
//! and 1 GiB.

use super::super::Report;
use crate::config::{KafkaConfig, KeyPath};

pub(super) fn check(r: &mut Report, p: &KeyPath, k: &KafkaConfig) {
    if !valid_topic_name(&k.topic) {
        r.err(
            p.key("topic"),
            format!(
                "invalid topic name {:?}: 1 to 249 letters, digits, '.', '_' or '-'",
                k.topic
            ),
        );
    }
    if let Some(n) = k.partition_num
        && n <= 0
    {
        r.err(
            p.key("partition-num"),
            format!("must be greater than 0, got {n}"),
        );
    }
    if k.replication_factor <= 0 {
        r.err(
            p.key("replication-factor"),
            format!("must be greater than 0, got {}", k.replication_factor),
        );
    }
    let mmb = k.max_message_bytes.as_u64();
    if !(1024..=(1 << 30)).contains(&mmb) {
        r.err(
            p.key("max-message-bytes"),
            format!("must be between 1KiB and 1GiB, got {}", k.max_message_bytes),
        );
    }
}

/// A byte Kafka allows in topic names and client ids.
pub(in crate::config::validate) fn topic_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'
}

/// Kafka's topic name rule.
pub fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name.bytes().all(topic_byte)
}
