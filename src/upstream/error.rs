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
        "the requested GC safe point {requested} ({}) is below the cluster's GC safe point {min_safe_point} ({}): \
         the MVCC history after {requested} may already be garbage-collected; start the changefeed at a ts ≥ {min_safe_point}",
        tso_time(*.requested),
        tso_time(*.min_safe_point)
    )]
    SafePointBehindGc { requested: u64, min_safe_point: u64 },
    /// Where the changefeed would start (its configured start-ts, or its saved checkpoint)
    /// is before the cluster's GC safe point: TiCDC's `ErrStartTsBeforeGC` ("fail to create
    /// or maintain changefeed because start-ts %d is earlier than or equal to GC safepoint
    /// at %d", tiflow `pkg/errors/cdc_errors.go:681-684`), with both as TSO and time and what
    /// to do.
    #[error("{}", start_before_gc(*.origin, *.start_ts, *.gc_safe_point))]
    StartBeforeGc {
        origin: StartOrigin,
        start_ts: u64,
        gc_safe_point: u64,
    },
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
            | UpstreamError::StartBeforeGc { .. }
            | UpstreamError::ClusterIdMismatch { .. }
            | UpstreamError::Compatibility { .. }
            | UpstreamError::DuplicateRequest { .. }
            | UpstreamError::PrewriteNotMatch { .. }
            | UpstreamError::TlsConfig { .. } => ErrorKind::Fatal,
        }
    }
}

/// Where a changefeed's start position came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOrigin {
    /// The configured `start-ts` (no checkpoint was saved yet).
    StartTs,
    /// The checkpoint saved by an earlier run.
    Checkpoint,
}

/// A TSO's physical time (its upper 46 bits, milliseconds since the Unix epoch) as RFC 3339
/// UTC with milliseconds.
pub fn tso_time(ts: u64) -> String {
    i64::try_from(ts >> 18)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(
            || "time out of range".to_string(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )
}

fn start_before_gc(origin: StartOrigin, start_ts: u64, gc: u64) -> String {
    let (start, gc_at) = (tso_time(start_ts), tso_time(gc));
    match origin {
        StartOrigin::StartTs => format!(
            "cannot start the changefeed at start-ts {start_ts} ({start}): it is earlier than the cluster's \
             GC safepoint {gc} ({gc_at}), so TiKV may already have removed the history it needs (TiCDC: \
             ErrStartTsBeforeGC). Set start-ts to {gc} or later (a TSO, a time at or after {gc_at}, or \"now\"); \
             to replicate from further back, raise TiDB's tidb_gc_life_time before that history is collected"
        ),
        StartOrigin::Checkpoint => format!(
            "cannot resume the changefeed from its saved checkpoint {start_ts} ({start}): it is earlier than the \
             cluster's GC safepoint {gc} ({gc_at}), so TiKV may already have removed the history it needs (TiCDC: \
             ErrStartTsBeforeGC; the daemon was stopped, or could not reach PD, for longer than gc-ttl). The rows \
             committed in between cannot be replicated: to go on, set the checkpoint to {gc} or later with \
             `tidb-changefeed checkpoint --config FILE --changefeed ID --overwrite-checkpoint-ts {gc}` and re-sync \
             the tables from a snapshot"
        ),
    }
}
