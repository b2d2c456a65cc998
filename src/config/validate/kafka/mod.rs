//! Rules of `[sink.kafka-config]`, by concern, reported in this order: `client` (brokers),
//! `topic` (topic name, partitions, replication, message size), `client` again (client id,
//! timeouts, linger, batch size, acknowledgements), `security` (SASL, then TLS), `large_message`
//! (`[large-message-handle]`) and `codec` (`[codec-config]` against the protocol).
//! Secrets (the SASL password, claim-check storage parameters) are resolved here, relative files read from `base`.

mod client;
mod codec;
mod large_message;
mod security;
mod topic;

use std::path::Path;

use super::Report;
use crate::config::{KafkaConfig, KeyPath, Protocol};

pub(super) use topic::topic_byte;
pub use topic::valid_topic_name;

pub(super) fn check(
    r: &mut Report,
    p: &KeyPath,
    k: &mut KafkaConfig,
    protocol: Protocol,
    force_replicate: bool,
    base: &Path,
) {
    client::brokers(r, p, k);
    topic::check(r, p, k);
    client::producer(r, p, k);
    security::sasl(r, p, k, base);
    security::tls(r, p, k, base);
    large_message::check(
        r,
        &p.key("large-message-handle"),
        k,
        protocol,
        force_replicate,
        base,
    );
    codec::check(r, &p.key("codec-config"), &k.codec_config, protocol);
}
