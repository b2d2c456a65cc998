//! Where encoded messages go. `kafka` is the product; it owns connections, topics and
//! ordered, acknowledged delivery.

pub mod ack;
pub mod kafka;
pub mod large_message;
