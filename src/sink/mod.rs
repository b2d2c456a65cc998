//! Where encoded messages go. `kafka` is the product; it owns connections, topics and
//! ordered, acknowledged delivery; `claim_check` stores the full form of messages too large
//! for Kafka (S3, GCS, Azure Blob, a local directory).

pub mod ack;
pub mod claim_check;
pub mod kafka;
pub mod large_message;
