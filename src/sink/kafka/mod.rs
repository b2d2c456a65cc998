//! The Kafka sink on rskafka. This module owns everything between an encoded message and
//! a Kafka acknowledgement: connecting (TLS, SASL), topics, ordered per-partition sending.
//!
//! rskafka 0.6 has no connect or request timeouts and retries connection failures forever by
//! default (so a wrong password would hang); every call here runs under a deadline and its
//! failures are classified into [`KafkaError`] kinds an operator can act on.

mod connect;
mod error;
mod preflight;
mod tls;

pub use connect::{ConnectOptions, connect};
pub use error::{ErrorKind, KafkaError};
pub use tls::TlsOptions;
