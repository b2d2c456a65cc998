//! Rules of how the Kafka client connects and produces: bootstrap brokers as `host:port`
//! without a scheme, a client id Kafka accepts, timeouts above zero, a linger of at most
//! 10 s, a `batch-size` between 1 KiB and `max-message-bytes`, and `required-acks = -1`
//! (anything less could lose committed rows).

use super::super::Report;
use super::topic::topic_byte;
use crate::config::{KafkaConfig, KeyPath};

pub(super) fn brokers(r: &mut Report, p: &KeyPath, k: &KafkaConfig) {
    if k.brokers.is_empty() {
        r.err(
            p.key("brokers"),
            "at least one broker is required, e.g. [\"127.0.0.1:9092\"]",
        );
    }
    for (i, b) in k.brokers.iter().enumerate() {
        let ok = b.rsplit_once(':').is_some_and(|(h, port)| {
            !h.is_empty() && !h.contains("://") && port.parse::<u16>().is_ok()
        });
        if !ok {
            r.err(
                p.key("brokers").index(i),
                format!("invalid broker {b:?}: expected host:port without a scheme"),
            );
        }
    }
}

pub(super) fn producer(r: &mut Report, p: &KeyPath, k: &KafkaConfig) {
    if let Some(id) = &k.kafka_client_id
        && (id.is_empty() || !id.bytes().all(topic_byte))
    {
        r.err(
            p.key("kafka-client-id"),
            format!("invalid client id {id:?}: letters, digits, '.', '_' or '-'"),
        );
    }
    for key in ["dial-timeout", "read-timeout", "write-timeout"] {
        let d = match key {
            "dial-timeout" => k.dial_timeout,
            "read-timeout" => k.read_timeout,
            _ => k.write_timeout,
        };
        if d.get().is_zero() {
            r.err(p.key(key), "must be greater than 0");
        }
    }
    if k.linger.get() > std::time::Duration::from_secs(10) {
        r.err(
            p.key("linger"),
            format!("must be at most 10s, got {}", k.linger),
        );
    }
    batch_size(r, p, k);
    match k.required_acks {
        -1 => {}
        0 | 1 => r.unsupported(
            p.key("required-acks"),
            format!("required-acks = {} (only -1 keeps every committed row; it is the only value accepted)", k.required_acks),
        ),
        other => r.err(p.key("required-acks"), format!("invalid required-acks {other}, expected -1, 0 or 1")),
    }
}

/// `batch-size`, when set: at least 1 KiB, at most `max-message-bytes` (a batch above the
/// size limit would be refused by the broker).
fn batch_size(r: &mut Report, p: &KeyPath, k: &KafkaConfig) {
    let Some(b) = k.batch_size else {
        return;
    };
    if b.as_u64() < 1024 || b > k.max_message_bytes {
        r.err(
            p.key("batch-size"),
            format!(
                "must be between 1KiB and max-message-bytes ({}), got {b}",
                k.max_message_bytes
            ),
        );
    }
}
