//! Errors of the Kafka sink, each with the kind that decides what happens next.

/// What an error asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Transient (broker unreachable, leader moving): retry with backoff.
    Retryable,
    /// Needs the operator (credentials, certificates, ACLs, topic settings).
    Operator,
}

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("TLS setup failed: {0}")]
    TlsSetup(String),
    #[error(
        "Kafka rejected the SASL {mechanism} login of user {user:?} at {brokers}: check sasl-user and sasl-password ({detail})"
    )]
    Authentication {
        mechanism: &'static str,
        user: String,
        brokers: String,
        detail: String,
    },
    #[error(
        "the TLS handshake with {brokers} failed: {detail}; check `ca` (or the system roots) and that the broker certificate names the advertised host"
    )]
    TlsHandshake { brokers: String, detail: String },
    #[error("cannot reach Kafka at {brokers} within {timeout:?}: {detail}")]
    Unreachable {
        brokers: String,
        timeout: std::time::Duration,
        detail: String,
    },
    #[error("Kafka request {request} failed: {detail}")]
    Request {
        request: &'static str,
        detail: String,
    },
}

impl KafkaError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            KafkaError::TlsSetup(_)
            | KafkaError::Authentication { .. }
            | KafkaError::TlsHandshake { .. } => ErrorKind::Operator,
            KafkaError::Unreachable { .. } | KafkaError::Request { .. } => ErrorKind::Retryable,
        }
    }
}
