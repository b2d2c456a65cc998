//! Errors of the Kafka sink, each with the kind that decides what happens next.

/// What an error asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Transient (broker unreachable, leader moving): retry with backoff.
    Retryable,
    /// Needs the operator (credentials, certificates, ACLs, topic settings).
    Operator,
}

#[derive(Debug, Clone, thiserror::Error)]
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
    #[error("Kafka denied {operation} on {resource} for {principal}: {remedy}")]
    Denied {
        operation: &'static str,
        resource: String,
        principal: String,
        remedy: String,
    },
    #[error("{0}")]
    Config(String),
    /// The changefeed's lease may have passed to another daemon: nothing more is sent.
    #[error("{0}")]
    Fenced(#[from] crate::fence::Fenced),
    #[error(
        "topic {topic} does not exist and auto-create-topic = false: create it (with the partitions you want) or set auto-create-topic = true"
    )]
    TopicMissing { topic: String },
    #[error(
        "a message of {size} bytes{} for {topic}/{partition} exceeds the limit of {limit} bytes (max-message-bytes, lowered to the topic's or broker's limit)",
        compressed_note(*.compressed)
    )]
    MessageTooLarge {
        topic: String,
        partition: i32,
        /// Before compression.
        size: u64,
        /// As its own compressed record batch, when compression is on.
        compressed: Option<u64>,
        limit: u64,
    },
}

/// ` (N bytes compressed)` when a compressed size was measured.
fn compressed_note(compressed: Option<u64>) -> String {
    compressed.map_or_else(String::new, |c| format!(" ({c} bytes compressed)"))
}

impl KafkaError {
    /// A short, bounded label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            KafkaError::TlsSetup(_) => "tls_setup",
            KafkaError::Authentication { .. } => "authentication",
            KafkaError::TlsHandshake { .. } => "tls_handshake",
            KafkaError::Unreachable { .. } => "unreachable",
            KafkaError::Request { .. } => "request",
            KafkaError::Denied { .. } => "denied",
            KafkaError::Config(_) => "config",
            KafkaError::Fenced(_) => "fenced",
            KafkaError::TopicMissing { .. } => "topic_missing",
            KafkaError::MessageTooLarge { .. } => "message_too_large",
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            KafkaError::TlsSetup(_)
            | KafkaError::Authentication { .. }
            | KafkaError::TlsHandshake { .. }
            | KafkaError::Denied { .. }
            | KafkaError::Config(_)
            | KafkaError::TopicMissing { .. }
            | KafkaError::MessageTooLarge { .. } => ErrorKind::Operator,
            // The runtime decides what follows (re-acquire or stand by).
            KafkaError::Unreachable { .. } | KafkaError::Request { .. } | KafkaError::Fenced(_) => {
                ErrorKind::Retryable
            }
        }
    }
}
