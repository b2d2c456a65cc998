//! Every metric the daemon exports, by name, in one place, and the Prometheus recorder.
//!
//! Names follow Prometheus conventions under one prefix, `tidb_changefeed_`: base units
//! (`_seconds`, `_bytes`), counters end in `_total`, no gauges for rates. Code elsewhere uses
//! the constants below with the `metrics` macros; nothing invents a name inline. Process
//! metrics (`process_*`: CPU seconds, resident memory, open descriptors, start time) are
//! collected at each scrape.

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::build_info;

/// Build metadata, value 1, labels `version`, `commit`, `profile`.
pub const BUILD_INFO: &str = "tidb_changefeed_build_info";
/// Seconds since the Unix epoch at which the process started.
pub const START_TIME_SECONDS: &str = "tidb_changefeed_start_time_seconds";
/// Changefeeds by state; labels `changefeed`, `state`; 1 for the current state, else 0.
pub const CHANGEFEED_STATE: &str = "tidb_changefeed_changefeed_state";
/// Changefeeds by admin state (what the operator asked: normal, paused, removed); labels
/// `changefeed`, `state`; 1 for the stored state, else 0.
pub const CHANGEFEED_ADMIN_STATE: &str = "tidb_changefeed_changefeed_admin_state";
/// Requests of the lifecycle API (pause, resume, remove); labels `verb`, `outcome`
/// (`accepted`, `unchanged`, `refused`, `not_found`, `unauthorized`, `forbidden`, `error`).
pub const ADMIN_REQUESTS_TOTAL: &str = "tidb_changefeed_admin_requests_total";
/// A paused changefeed's gc-ttl minus its checkpoint's age, in seconds (negative: the
/// checkpoint is older than gc-ttl and holds GC back longer than TiCDC would); label
/// `changefeed`.
pub const PAUSED_GC_TTL_REMAINING_SECONDS: &str = "tidb_changefeed_paused_gc_ttl_remaining_seconds";
/// Physical time of each changefeed's checkpoint (seconds since the epoch); label `changefeed`.
pub const CHECKPOINT_TIMESTAMP_SECONDS: &str = "tidb_changefeed_checkpoint_timestamp_seconds";
/// now − checkpoint, in seconds; label `changefeed`.
pub const CHECKPOINT_LAG_SECONDS: &str = "tidb_changefeed_checkpoint_lag_seconds";
/// How long neither a Kafka acknowledgement nor the checkpoint moved while changes wait to
/// be written (0 while it progresses or idles); label `changefeed`.
pub const SINK_STALL_SECONDS: &str = "tidb_changefeed_sink_stall_seconds";
/// Physical time of each changefeed's resolved ts; label `changefeed`.
pub const RESOLVED_TIMESTAMP_SECONDS: &str = "tidb_changefeed_resolved_timestamp_seconds";
/// now − resolved ts, in seconds; label `changefeed`.
pub const RESOLVED_LAG_SECONDS: &str = "tidb_changefeed_resolved_lag_seconds";
/// Changefeed errors by kind; labels `changefeed`, `kind` (retryable, operator, fatal).
pub const CHANGEFEED_ERRORS_TOTAL: &str = "tidb_changefeed_changefeed_errors_total";
/// HTTP requests served by the status server; labels `path`, `status`.
pub const HTTP_REQUESTS_TOTAL: &str = "tidb_changefeed_http_requests_total";

/// Row messages handed to the output; label `changefeed`.
pub const ROWS_SENT_TOTAL: &str = "tidb_changefeed_rows_sent_total";
/// Busy time of a pipeline stage per release of rows; labels `changefeed`, `stage`
/// (`sort`, `decode`, `encode`, `send`).
pub const STAGE_BUSY_SECONDS: &str = "tidb_changefeed_stage_busy_seconds";
/// Bytes of changes the sorters hold in memory; label `changefeed`.
pub const SORTER_MEMORY_BYTES: &str = "tidb_changefeed_sorter_memory_bytes";
/// Bytes of row data held against the memory quota; labels `changefeed`, `part`
/// (`prewrites`, `events`, `streams`, `sorter`, `jobs`, `produce`).
pub const MEMORY_USED_BYTES: &str = "tidb_changefeed_memory_used_bytes";
/// PREWRITE values held in the spill file (beyond the prewrites share of the quota);
/// label `changefeed`.
pub const PREWRITES_SPILLED: &str = "tidb_changefeed_prewrites_spilled";
/// The changefeed's `memory-quota`; label `changefeed`.
pub const MEMORY_QUOTA_BYTES: &str = "tidb_changefeed_memory_quota_bytes";

/// Messages Kafka acknowledged; label `topic`.
pub const KAFKA_MESSAGES_TOTAL: &str = "tidb_changefeed_kafka_messages_total";
/// Bytes of acknowledged messages, before compression, framing counted; label `topic`.
pub const KAFKA_BYTES_TOTAL: &str = "tidb_changefeed_kafka_bytes_total";
/// Records per produce request.
pub const KAFKA_BATCH_RECORDS: &str = "tidb_changefeed_kafka_batch_records";
/// Bytes per produce request, before compression.
pub const KAFKA_BATCH_BYTES: &str = "tidb_changefeed_kafka_batch_bytes";
/// Duration of successful produce requests.
pub const KAFKA_REQUEST_DURATION_SECONDS: &str = "tidb_changefeed_kafka_request_duration_seconds";
/// Produce attempts that failed and were retried.
pub const KAFKA_RETRIES_TOTAL: &str = "tidb_changefeed_kafka_retries_total";
/// Failures that stopped a partition writer; label `kind`.
pub const KAFKA_ERRORS_TOTAL: &str = "tidb_changefeed_kafka_errors_total";
/// Uncompressed over compressed size of sampled produce batches (1 in 16; only when
/// compression is on).
pub const KAFKA_COMPRESSION_RATIO: &str = "tidb_changefeed_kafka_compression_ratio";
/// Produce requests in flight (at most one per partition).
pub const KAFKA_IN_FLIGHT_REQUESTS: &str = "tidb_changefeed_kafka_in_flight_requests";
/// Bytes of messages waiting in the partition writers' queues (all partitions, no label).
pub const KAFKA_QUEUED_BYTES: &str = "tidb_changefeed_kafka_queued_bytes";

/// Region subscriptions currently open on TiKV EventFeed streams.
pub const UPSTREAM_REGIONS_SUBSCRIBED: &str = "tidb_changefeed_upstream_regions_subscribed";
/// Region errors received from TiKV; label `kind` (not_leader, epoch_not_match,
/// region_not_found, server_is_busy, congested, duplicate_request, compatibility,
/// cluster_id_mismatch, unknown).
pub const UPSTREAM_REGION_ERRORS_TOTAL: &str = "tidb_changefeed_upstream_region_errors_total";
/// Row events received from TiKV; label `type` (prewrite, commit, committed, rollback,
/// initialized).
pub const UPSTREAM_EVENTS_TOTAL: &str = "tidb_changefeed_upstream_events_total";
/// Bytes of keys and values received in row events.
pub const UPSTREAM_RECEIVED_BYTES_TOTAL: &str = "tidb_changefeed_upstream_received_bytes_total";
/// EventFeed streams re-opened after a failure; label `store`.
pub const UPSTREAM_STREAM_RECONNECTS_TOTAL: &str =
    "tidb_changefeed_upstream_stream_reconnects_total";
/// Time from a region's registration to its INITIALIZED event.
pub const UPSTREAM_INCREMENTAL_SCAN_DURATION_SECONDS: &str =
    "tidb_changefeed_upstream_incremental_scan_duration_seconds";
/// Physical time (Unix seconds) of the service GC safe point last set in PD
/// (`checkpoint − 1`); label `service`.
pub const UPSTREAM_GC_SERVICE_SAFE_POINT_SECONDS: &str =
    "tidb_changefeed_upstream_gc_service_safe_point_seconds";
/// Failed attempts to set the service GC safe point in PD.
pub const UPSTREAM_GC_SAFE_POINT_UPDATE_ERRORS_TOTAL: &str =
    "tidb_changefeed_upstream_gc_safe_point_update_errors_total";
/// Lock scans of regions held back by locks; label `reason` (lagging: resolved ts behind
/// the TSO by more than `stale-lock-threshold`; uninitialized: no INITIALIZED within it)
/// and `result` (ok, region_error: skipped this round, error).
pub const UPSTREAM_LOCK_SCANS_TOTAL: &str = "tidb_changefeed_upstream_lock_scans_total";
/// Transactions whose locks in a region were checked; label `result` (committed,
/// rolled_back, alive: the transaction still runs and keeps its locks, error).
pub const UPSTREAM_LOCK_RESOLUTIONS_TOTAL: &str = "tidb_changefeed_upstream_lock_resolutions_total";
/// Locks committed or rolled back by the lock resolver.
pub const UPSTREAM_LOCKS_RESOLVED_TOTAL: &str = "tidb_changefeed_upstream_locks_resolved_total";

/// Unix time at which a fault of a running changefeed began (0 when it cleared); labels
/// `changefeed`, `component` (`checkpoint`, `pd`, `store <id>`, `regions`).
pub const FAULT_SINCE_SECONDS: &str = "tidb_changefeed_fault_since_seconds";
/// Failed attempts to save a changefeed's checkpoint (the previous one stays valid).
pub const CHECKPOINT_SAVE_ERRORS_TOTAL: &str = "tidb_changefeed_checkpoint_save_errors_total";
/// Changefeeds whose lease this daemon holds (SQL state store).
pub const HA_CHANGEFEEDS_OWNED: &str = "tidb_changefeed_ha_changefeeds_owned";
/// Leases this daemon acquired; label `changefeed`.
pub const HA_LEASE_ACQUISITIONS_TOTAL: &str = "tidb_changefeed_ha_lease_acquisitions_total";
/// Owned changefeeds stopped because their lease could not be kept (renewals failed past
/// lease-ttl/2, or another daemon took it over); label `changefeed`.
pub const HA_LEASE_LOSSES_TOTAL: &str = "tidb_changefeed_ha_lease_losses_total";
/// Lease renewals that failed (store unreachable, timed out).
pub const HA_LEASE_RENEW_ERRORS_TOTAL: &str = "tidb_changefeed_ha_lease_renew_errors_total";
/// Seconds until the service GC safe point last set in PD expires (its TTL, `gc-ttl`,
/// counted from the last successful update); label `service`.
pub const UPSTREAM_GC_SAFE_POINT_TTL_REMAINING_SECONDS: &str =
    "tidb_changefeed_upstream_gc_safe_point_ttl_remaining_seconds";
/// Upstream failures being retried, by kind (`pd`, `store`, `region_holes`), counted once
/// each time one lasts past the escalation threshold.
pub const UPSTREAM_ESCALATIONS_TOTAL: &str = "tidb_changefeed_upstream_escalations_total";

/// Claim-check objects stored (after any retries); label `changefeed`.
pub const CLAIM_CHECK_WRITES_TOTAL: &str = "tidb_changefeed_claim_check_writes_total";
/// Failed attempts to store a claim-check object (each is retried); label `changefeed`.
pub const CLAIM_CHECK_WRITE_ERRORS_TOTAL: &str = "tidb_changefeed_claim_check_write_errors_total";
/// Bytes of claim-check objects stored; label `changefeed`.
pub const CLAIM_CHECK_WRITTEN_BYTES_TOTAL: &str = "tidb_changefeed_claim_check_written_bytes_total";
/// Duration of the successful attempt that stored a claim-check object; label `changefeed`.
pub const CLAIM_CHECK_WRITE_DURATION_SECONDS: &str =
    "tidb_changefeed_claim_check_write_duration_seconds";

/// Installs the global recorder, describes every metric and sets the build-info metric.
/// Returns the handle `/metrics` renders from. Fails if a recorder is already installed.
pub fn install() -> Result<PrometheusHandle, metrics_exporter_prometheus::BuildError> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    describe();
    gauge!(
        BUILD_INFO,
        "version" => build_info::VERSION,
        "commit" => build_info::GIT_COMMIT,
        "profile" => build_info::PROFILE
    )
    .set(1.0);
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    gauge!(START_TIME_SECONDS).set(start);
    Ok(handle)
}

fn describe() {
    describe_gauge!(
        BUILD_INFO,
        "Build metadata of the running binary (always 1)."
    );
    describe_gauge!(
        START_TIME_SECONDS,
        Unit::Seconds,
        "Unix time at which the process started."
    );
    describe_gauge!(
        CHANGEFEED_STATE,
        "1 for the state each changefeed is in, 0 for the others."
    );
    describe_gauge!(
        CHANGEFEED_ADMIN_STATE,
        "1 for the admin state (normal, paused, removed) the operator set on each changefeed, 0 for the others."
    );
    describe_counter!(
        ADMIN_REQUESTS_TOTAL,
        "Lifecycle API requests (pause, resume, remove), by verb and outcome."
    );
    describe_gauge!(
        PAUSED_GC_TTL_REMAINING_SECONDS,
        Unit::Seconds,
        "For a paused changefeed: gc-ttl minus the age of its checkpoint (negative once the pause holds GC back longer than gc-ttl)."
    );
    describe_gauge!(
        CHECKPOINT_TIMESTAMP_SECONDS,
        Unit::Seconds,
        "Physical time of the changefeed checkpoint: every row committed at or before it is acknowledged by Kafka."
    );
    describe_gauge!(
        CHECKPOINT_LAG_SECONDS,
        Unit::Seconds,
        "Wall-clock time minus the checkpoint's physical time."
    );
    describe_gauge!(
        SINK_STALL_SECONDS,
        Unit::Seconds,
        "How long neither a Kafka acknowledgement nor the checkpoint moved while changes wait to be written (0 while it progresses or idles)."
    );
    describe_gauge!(
        RESOLVED_TIMESTAMP_SECONDS,
        Unit::Seconds,
        "Physical time of the changefeed resolved ts: every change at or before it has been received."
    );
    describe_gauge!(
        RESOLVED_LAG_SECONDS,
        Unit::Seconds,
        "Wall-clock time minus the resolved ts's physical time."
    );
    describe_counter!(
        CHANGEFEED_ERRORS_TOTAL,
        "Errors that interrupted a changefeed, by kind."
    );
    describe_counter!(
        ROWS_SENT_TOTAL,
        "Row messages handed to the output, by changefeed."
    );
    describe_gauge!(
        SORTER_MEMORY_BYTES,
        Unit::Bytes,
        "Bytes of received changes the sorters hold in memory (beyond the quota they spill to disk)."
    );
    describe_gauge!(
        MEMORY_USED_BYTES,
        Unit::Bytes,
        "Bytes of row data held against the changefeed's memory-quota, by part (prewrite values waiting for their commit, rows between the feed and the sequencer, raw TiKV stream messages waiting for the feed, sorter, jobs between the stages, messages queued for Kafka)."
    );
    describe_gauge!(
        PREWRITES_SPILLED,
        "PREWRITE rows of uncommitted transactions whose values wait in the spill file."
    );
    describe_gauge!(
        MEMORY_QUOTA_BYTES,
        Unit::Bytes,
        "The changefeed's memory-quota."
    );
    describe_counter!(
        HTTP_REQUESTS_TOTAL,
        "HTTP requests served, by path and status."
    );
    describe_counter!(
        KAFKA_MESSAGES_TOTAL,
        "Messages Kafka acknowledged, by topic."
    );
    describe_counter!(
        KAFKA_BYTES_TOTAL,
        Unit::Bytes,
        "Bytes of acknowledged messages before compression, by topic."
    );
    describe_histogram!(KAFKA_BATCH_RECORDS, "Records per produce request.");
    describe_histogram!(
        KAFKA_BATCH_BYTES,
        Unit::Bytes,
        "Bytes per produce request before compression."
    );
    describe_histogram!(
        STAGE_BUSY_SECONDS,
        Unit::Seconds,
        "Busy time of each pipeline stage (sort, decode, encode, send) per release of rows."
    );
    describe_histogram!(
        KAFKA_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "Duration of successful produce requests."
    );
    describe_counter!(
        CLAIM_CHECK_WRITES_TOTAL,
        "Claim-check objects stored (after any retries)."
    );
    describe_counter!(
        CLAIM_CHECK_WRITE_ERRORS_TOTAL,
        "Failed attempts to store a claim-check object; each is retried."
    );
    describe_counter!(
        CLAIM_CHECK_WRITTEN_BYTES_TOTAL,
        Unit::Bytes,
        "Bytes of claim-check objects stored."
    );
    describe_histogram!(
        CLAIM_CHECK_WRITE_DURATION_SECONDS,
        Unit::Seconds,
        "Duration of the attempt that stored a claim-check object."
    );
    describe_counter!(
        KAFKA_RETRIES_TOTAL,
        "Produce attempts that failed and were retried."
    );
    describe_counter!(
        KAFKA_ERRORS_TOTAL,
        "Failures that stopped a partition writer, by kind."
    );
    describe_histogram!(
        KAFKA_COMPRESSION_RATIO,
        "Uncompressed over compressed size of sampled produce batches (1 in 16, compression on)."
    );
    describe_gauge!(
        UPSTREAM_REGIONS_SUBSCRIBED,
        "Region subscriptions currently open on TiKV EventFeed streams."
    );
    describe_counter!(
        UPSTREAM_REGION_ERRORS_TOTAL,
        "Region errors received from TiKV, by kind."
    );
    describe_counter!(
        UPSTREAM_EVENTS_TOTAL,
        "Row events received from TiKV, by type."
    );
    describe_counter!(
        UPSTREAM_RECEIVED_BYTES_TOTAL,
        Unit::Bytes,
        "Bytes of keys and values received in row events."
    );
    describe_counter!(
        UPSTREAM_STREAM_RECONNECTS_TOTAL,
        "EventFeed streams re-opened after a failure, by store."
    );
    describe_histogram!(
        UPSTREAM_INCREMENTAL_SCAN_DURATION_SECONDS,
        Unit::Seconds,
        "Time from a region's registration to its INITIALIZED event."
    );
    describe_gauge!(
        UPSTREAM_GC_SERVICE_SAFE_POINT_SECONDS,
        Unit::Seconds,
        "Physical time of the service GC safe point last set in PD (checkpoint - 1), by service."
    );
    describe_counter!(
        UPSTREAM_GC_SAFE_POINT_UPDATE_ERRORS_TOTAL,
        "Failed attempts to set the service GC safe point in PD."
    );
    describe_counter!(
        UPSTREAM_LOCK_SCANS_TOTAL,
        "Lock scans of regions held back by locks, by reason (lagging, uninitialized) and result."
    );
    describe_counter!(
        UPSTREAM_LOCK_RESOLUTIONS_TOTAL,
        "Transactions whose locks in a region were checked, by result (committed, rolled_back, alive, error)."
    );
    describe_counter!(
        UPSTREAM_LOCKS_RESOLVED_TOTAL,
        "Locks committed or rolled back by the lock resolver."
    );
    describe_gauge!(
        FAULT_SINCE_SECONDS,
        Unit::Seconds,
        "Unix time at which a fault the changefeed is retrying began (0 once cleared), by component; /api/v1/status has the error and what to check."
    );
    describe_gauge!(
        HA_CHANGEFEEDS_OWNED,
        "Changefeeds whose lease this daemon holds (SQL state store)."
    );
    describe_counter!(
        HA_LEASE_ACQUISITIONS_TOTAL,
        "Changefeed leases this daemon acquired."
    );
    describe_counter!(
        HA_LEASE_LOSSES_TOTAL,
        "Owned changefeeds stopped because their lease could not be kept."
    );
    describe_counter!(
        HA_LEASE_RENEW_ERRORS_TOTAL,
        "Lease renewals that failed (the store unreachable or too slow)."
    );
    describe_counter!(
        CHECKPOINT_SAVE_ERRORS_TOTAL,
        "Failed attempts to save the checkpoint file (the previous checkpoint stays valid)."
    );
    describe_gauge!(
        UPSTREAM_GC_SAFE_POINT_TTL_REMAINING_SECONDS,
        Unit::Seconds,
        "Seconds until the service GC safe point last set in PD expires (gc-ttl after the last successful update), by service."
    );
    describe_counter!(
        UPSTREAM_ESCALATIONS_TOTAL,
        "Upstream failures (PD, a store, regions with holes) that lasted past the escalation threshold, by kind."
    );
    describe_gauge!(
        KAFKA_IN_FLIGHT_REQUESTS,
        "Produce requests in flight (at most one per partition)."
    );
    describe_gauge!(
        KAFKA_QUEUED_BYTES,
        Unit::Bytes,
        "Bytes of messages waiting in the partition writers' queues, all partitions."
    );
}

/// Collector of the standard `process_*` metrics, refreshed on each scrape.
#[derive(Debug)]
pub struct ProcessMetrics(metrics_process::Collector);

impl ProcessMetrics {
    pub fn new() -> Self {
        let c = metrics_process::Collector::default();
        c.describe();
        ProcessMetrics(c)
    }

    pub fn collect(&self) {
        self.0.collect();
    }
}

impl Default for ProcessMetrics {
    fn default() -> Self {
        Self::new()
    }
}
