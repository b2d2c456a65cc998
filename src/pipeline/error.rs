//! Why a changefeed's pipeline stopped, and what that means for the operator.

use crate::codec::CodecError;
use crate::dispatch::DispatchError;
use crate::mount::DecodeError;
use crate::sink::kafka::{ErrorKind as KafkaErrorKind, KafkaError};
use crate::sink::large_message::LargeMessageError;
use crate::sorter::SorterError;
use crate::upstream::{ErrorKind as UpstreamErrorKind, UpstreamError};

/// What the changefeed does after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Restart the pipeline from the saved checkpoint after a backoff (PD, TiKV or Kafka
    /// unreachable for a while).
    Retryable,
    /// Stop the changefeed until the operator fixes something (config, ACL, schema, data);
    /// the checkpoint stays before the failing event.
    Operator,
}

impl ErrorKind {
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Retryable => "retryable",
            ErrorKind::Operator => "operator",
        }
    }
}

/// A pipeline error: the stage and the reason, naming the table and key where a row is at
/// fault.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("upstream: {0}")]
    Upstream(#[from] UpstreamError),
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("schema: {0}")]
    Schema(String),
    #[error("reading the schema snapshot: {0}")]
    Snapshot(String),
    #[error("changefeed configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Task(String),
    #[error(
        "cannot decode the row of {table} (physical table id {physical_id}) with key {key} committed at {commit_ts}: {source}; the changefeed stops before this row (inspect it with `tidb-changefeed decode`)"
    )]
    Decode {
        table: String,
        physical_id: i64,
        key: String,
        commit_ts: u64,
        #[source]
        source: Box<DecodeError>,
    },
    #[error(
        "no schema for physical table id {physical_id} at ts {ts} (row key {key}): the table is unknown to the schema tracker"
    )]
    UnknownTable {
        physical_id: i64,
        ts: u64,
        key: String,
    },
    #[error("encoding {table}: {source}")]
    Codec {
        table: String,
        #[source]
        source: CodecError,
    },
    #[error("dispatching {table}: {source}")]
    Dispatch {
        table: String,
        #[source]
        source: DispatchError,
    },
    #[error(transparent)]
    LargeMessage(#[from] LargeMessageError),
    #[error(transparent)]
    Sorter(#[from] SorterError),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] crate::checkpoint::CheckpointError),
    /// The lease's fence closed: this daemon stops writing before another may take over.
    #[error("{0}")]
    Fenced(#[from] crate::fence::Fenced),
    #[error("stdout sink: {0}")]
    Stdout(#[source] std::io::Error),
    #[error("the upstream feed stopped without an error")]
    FeedEnded,
    /// The emitter's task ended; its own error says why.
    #[error("the emitter stopped")]
    EmitterStopped,
}

impl PipelineError {
    /// The changefeed's lease may have passed to another daemon (a fenced write or save):
    /// the runtime stands the changefeed down instead of restarting it.
    pub fn is_fenced(&self) -> bool {
        match self {
            PipelineError::Kafka(e) => matches!(e, crate::sink::kafka::KafkaError::Fenced(_)),
            PipelineError::Checkpoint(e) => e.is_fenced(),
            PipelineError::Fenced(_) => true,
            _ => false,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            PipelineError::Upstream(e) => match e.kind() {
                UpstreamErrorKind::Retryable => ErrorKind::Retryable,
                _ => ErrorKind::Operator,
            },
            PipelineError::Kafka(e) => match e.kind() {
                KafkaErrorKind::Retryable => ErrorKind::Retryable,
                _ => ErrorKind::Operator,
            },
            PipelineError::FeedEnded | PipelineError::Fenced(_) => ErrorKind::Retryable,
            // A read-only or full state directory may be fixed while the changefeed waits;
            // a damaged checkpoint file needs the operator's decision.
            PipelineError::Checkpoint(e) if !e.is_corrupt() => ErrorKind::Retryable,
            PipelineError::Codec { source, .. } if source.is_retryable() => ErrorKind::Retryable,
            _ => ErrorKind::Operator,
        }
    }
}
