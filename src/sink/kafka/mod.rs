//! The Kafka sink on rskafka. This module owns everything between an encoded message and
//! a Kafka acknowledgement: connecting (TLS, SASL), cluster facts (DescribeConfigs),
//! topics, ordered per-partition sending, and the message size rule (checked after
//! compression, as the broker checks it).
//!
//! rskafka 0.6 has no connect or request timeouts and retries connection failures forever by
//! default (so a wrong password would hang); every call here runs under a deadline and its
//! failures are classified into [`KafkaError`] kinds an operator can act on.

mod admin;
mod broker;
mod connect;
mod describe_configs;
mod error;
mod probe;
mod producer;
mod retry_copy;
mod size;
mod topics;

pub use crate::tls::TlsOptions;
pub use admin::{Admin, ClusterInfo, CreateProbe, Described};
pub use broker::Login;
pub use connect::{ConnectOptions, Kafka, connect};
pub use error::{ErrorKind, KafkaError};
pub use probe::probe;
pub use producer::{Health, Message, PartitionHandle, Producer, ProducerSettings};
pub use size::{Oversize, SizeLimit, compressed_batch_size, message_size};
pub use topics::{DEFAULT_PARTITION_NUM, METADATA_REFRESH_INTERVAL, TopicPolicy, Topics};
