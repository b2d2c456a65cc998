//! Errors of the upstream client (PD and TiKV CDC), each with the kind that decides whether
//! the caller retries or stops the changefeed.
//!
//! Guarantees: every error carries enough context (endpoint, RPC, region, ids) to be acted
//! on from a log line; `kind()` is total, so callers never have to guess.

/// What an error asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Transient (PD or TiKV unreachable, leader moving, stream broken): retry with backoff.
    Retryable,
    /// The changefeed cannot continue as configured (wrong cluster, incompatible TiKV,
    /// lost MVCC history, protocol invariant broken): stop and tell the operator.
    Fatal,
}

/// An upstream failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("no PD endpoint given")]
    NoPdEndpoints,
    #[error("cannot reach any PD member at {endpoints}: {detail}")]
    PdUnreachable { endpoints: String, detail: String },
    #[error("PD {rpc} at {endpoint} failed: {detail}")]
    PdRpc {
        rpc: &'static str,
        endpoint: String,
        detail: String,
    },
    #[error("PD {rpc} answered error {error_type}: {message}")]
    PdResponse {
        rpc: &'static str,
        error_type: String,
        message: String,
    },
    #[error("PD {rpc} returned an invalid response: {detail}")]
    PdInvalid { rpc: &'static str, detail: String },
    #[error("PD knows no store {store_id}")]
    StoreNotFound { store_id: u64 },
    #[error("store {store_id} was removed from the cluster (tombstone)")]
    StoreTombstone { store_id: u64 },
    #[error(
        "the requested GC safe point {requested} is below the cluster's GC safe point {min_safe_point}: \
         the MVCC history after {requested} may already be garbage-collected; start the changefeed at a ts ≥ {min_safe_point}"
    )]
    SafePointBehindGc { requested: u64, min_safe_point: u64 },
    #[error("TiKV store {store_id} at {address}: {detail}")]
    StoreStream {
        store_id: u64,
        address: String,
        detail: String,
    },
    #[error(
        "TiKV store {store_id} belongs to cluster {current}, but PD said {requested}: check the PD addresses"
    )]
    ClusterIdMismatch {
        store_id: u64,
        current: u64,
        requested: u64,
    },
    #[error(
        "TiKV store {store_id} rejected the request as incompatible (requires version {required_version})"
    )]
    Compatibility {
        store_id: u64,
        required_version: String,
    },
    #[error(
        "TiKV store {store_id} reports a duplicate request for region {region_id} (a client bug)"
    )]
    DuplicateRequest { store_id: u64, region_id: u64 },
    #[error(
        "region {region_id}: COMMIT of key {key} at start ts {start_ts} has no matching PREWRITE after the region was initialized"
    )]
    PrewriteNotMatch {
        region_id: u64,
        key: String,
        start_ts: u64,
    },
    #[error("[upstream.tls] file {path}: {detail}")]
    TlsConfig { path: String, detail: String },
    #[error("the table span's regions could not be resolved after {attempts} attempts: {detail}")]
    RegionsUnresolved { attempts: u32, detail: String },
    #[error(transparent)]
    PrewriteSpill(#[from] crate::upstream::prewrites::SpillError),
}

impl UpstreamError {
    /// Whether the caller should retry or stop.
    pub fn kind(&self) -> ErrorKind {
        match self {
            UpstreamError::PdUnreachable { .. }
            | UpstreamError::PdRpc { .. }
            | UpstreamError::PdResponse { .. }
            | UpstreamError::PdInvalid { .. }
            | UpstreamError::StoreNotFound { .. }
            | UpstreamError::StoreTombstone { .. }
            | UpstreamError::StoreStream { .. }
            | UpstreamError::RegionsUnresolved { .. }
            | UpstreamError::PrewriteSpill(_) => ErrorKind::Retryable,
            UpstreamError::NoPdEndpoints
            | UpstreamError::SafePointBehindGc { .. }
            | UpstreamError::ClusterIdMismatch { .. }
            | UpstreamError::Compatibility { .. }
            | UpstreamError::DuplicateRequest { .. }
            | UpstreamError::PrewriteNotMatch { .. }
            | UpstreamError::TlsConfig { .. } => ErrorKind::Fatal,
        }
    }
}
