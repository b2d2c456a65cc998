//! GC safe point keeper: holds PD's service GC safe point at `checkpoint − 1` so TiKV keeps
//! the MVCC history the changefeed still has to read.
//!
//! Owns one service entry in PD (e.g. `tidb-changefeed-<changefeed id>`). Guarantees, as
//! TiCDC does (`pkg/txnutil/gc/gc_manager.go`):
//! - at start and then every `interval` (TiCDC: 1 min) the entry is set to the current
//!   checkpoint − 1 with a TTL (`[upstream] gc-ttl`, TiCDC's name and default: 24 h), so a stopped daemon's history is
//!   kept for the TTL and a restart resumes from its checkpoint;
//! - a checkpoint already below the cluster's GC safe point is a fatal
//!   [`UpstreamError::SafePointBehindGc`]: rows after it may be gone;
//! - PD errors are retried with backoff (1 s doubling, capped by `interval`), re-discovering
//!   the PD leader; they become fatal only once no update succeeded for longer than the TTL
//!   (PD may then have dropped the entry and let GC pass the checkpoint);
//! - between updates PD is probed every [`PD_PROBE_INTERVAL`] (a TSO request, as TiCDC's
//!   owner reads PD's clock); each failure is reported to the changefeed's
//!   [`UpstreamHealth`] with the seconds left before the entry's TTL expires (also the gauge
//!   `tidb_changefeed_upstream_gc_safe_point_ttl_remaining_seconds`), logged at most once a
//!   minute, as an error once less than a quarter of the TTL is left;
//! - the entry is **not** removed when the keeper stops (its checkpoint sender dropped):
//!   the TTL expires it if the changefeed never comes back.
//!
//! Metrics: [`crate::metrics::UPSTREAM_GC_SERVICE_SAFE_POINT_SECONDS`] (physical time of the
//! safe point set) and [`crate::metrics::UPSTREAM_GC_SAFE_POINT_UPDATE_ERRORS_TOTAL`].

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::metrics as m;

use super::error::{ErrorKind, UpstreamError};
use super::health::{Component, UpstreamHealth, pd_action};
use super::pd::PdClient;

/// TiCDC's interval between two safe point updates.
pub const DEFAULT_GC_INTERVAL: Duration = Duration::from_secs(60);

/// The service GC safe point for a checkpoint: `checkpoint − 1` (TiCDC later reads
/// snapshots at `checkpoint − 1`).
pub fn safe_point_of(checkpoint: u64) -> u64 {
    checkpoint.saturating_sub(1)
}

/// Delay before retry `attempt` (1-based): 1 s doubling, capped by `max`.
fn retry_delay(attempt: u32, max: Duration) -> Duration {
    let d = Duration::from_secs(1u64 << attempt.saturating_sub(1).min(16));
    d.min(max).max(Duration::from_millis(10))
}

/// How often PD is probed (one TSO request) between two safe point updates, so an
/// unreachable PD is noticed within seconds, not at the next update.
pub const PD_PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// The longest a probe may take.
const PD_PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest time between two warnings while PD cannot be updated.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Spawns the keeper. It runs until the checkpoint sender is dropped (`Ok`, entry kept in
/// PD) or a fatal error: the checkpoint is behind the cluster's GC safe point, or PD
/// could not be updated for longer than `ttl`.
pub fn spawn_gc_keeper(
    pd: PdClient,
    service_id: String,
    ttl: Duration,
    interval: Duration,
    checkpoint: watch::Receiver<u64>,
) -> JoinHandle<Result<(), UpstreamError>> {
    spawn_gc_keeper_with(
        pd,
        service_id,
        ttl,
        interval,
        checkpoint,
        UpstreamHealth::new(),
    )
}

/// [`spawn_gc_keeper`] that also probes PD every [`PD_PROBE_INTERVAL`] and reports PD's
/// failures (with the time left before the service safe point's TTL runs out) to `health`.
pub fn spawn_gc_keeper_with(
    pd: PdClient,
    service_id: String,
    ttl: Duration,
    interval: Duration,
    checkpoint: watch::Receiver<u64>,
    health: UpstreamHealth,
) -> JoinHandle<Result<(), UpstreamError>> {
    tokio::spawn(keep(pd, service_id, ttl, interval, checkpoint, health))
}

async fn keep(
    mut pd: PdClient,
    service_id: String,
    ttl: Duration,
    interval: Duration,
    mut checkpoint: watch::Receiver<u64>,
    health: UpstreamHealth,
) -> Result<(), UpstreamError> {
    let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX).max(1);
    let endpoints = pd.endpoints().to_vec();
    let mut last_ok = Instant::now();
    let mut attempt = 0u32;
    let mut next_update = Instant::now();
    let mut last_warning: Option<Instant> = None;
    loop {
        let failure = if Instant::now() >= next_update {
            let cp = *checkpoint.borrow_and_update();
            let sp = safe_point_of(cp);
            match pd.hold_gc_from(&service_id, ttl_secs, cp).await {
                Ok(min) => {
                    attempt = 0;
                    last_ok = Instant::now();
                    next_update = last_ok + interval;
                    metrics::gauge!(m::UPSTREAM_GC_SERVICE_SAFE_POINT_SECONDS, "service" => service_id.clone())
                        .set((min >> 18) as f64 / 1000.0);
                    tracing::debug!(service = %service_id, safe_point = sp, min, "service GC safe point set");
                    None
                }
                Err(e) if e.kind() == ErrorKind::Fatal => {
                    tracing::error!(service = %service_id, safe_point = sp, error = %e, "service GC safe point");
                    return Err(e);
                }
                Err(e) => {
                    metrics::counter!(m::UPSTREAM_GC_SAFE_POINT_UPDATE_ERRORS_TOTAL).increment(1);
                    if last_ok.elapsed() > ttl {
                        tracing::error!(service = %service_id, error = %e, "service GC safe point not updated for longer than its TTL");
                        return Err(e);
                    }
                    attempt = attempt.saturating_add(1);
                    next_update = Instant::now() + retry_delay(attempt, interval);
                    Some(e)
                }
            }
        } else {
            match tokio::time::timeout(PD_PROBE_TIMEOUT, pd.get_ts()).await {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some(UpstreamError::PdRpc {
                    rpc: "Tso",
                    endpoint: pd.leader_url().to_string(),
                    detail: format!("no answer within {PD_PROBE_TIMEOUT:?}"),
                }),
            }
        };
        let remaining = ttl.saturating_sub(last_ok.elapsed());
        metrics::gauge!(m::UPSTREAM_GC_SAFE_POINT_TTL_REMAINING_SECONDS, "service" => service_id.clone())
            .set(remaining.as_secs_f64());
        match failure {
            None => health.recovered(Component::Pd),
            Some(e) => {
                health.failed(
                    Component::Pd,
                    e.to_string(),
                    format!(
                        "{}; meanwhile the service GC safe point {service_id} stays at the last checkpoint and expires in {}s (gc-ttl {}s) unless PD is reached again, after which TiKV may garbage-collect history this changefeed still needs",
                        pd_action(&endpoints),
                        remaining.as_secs(),
                        ttl.as_secs()
                    ),
                );
                if last_warning.is_none_or(|w| w.elapsed() >= WARN_EVERY) {
                    last_warning = Some(Instant::now());
                    if remaining < ttl / 4 {
                        tracing::error!(service = %service_id, error = %e, ttl_remaining_secs = remaining.as_secs(),
                            "PD unreachable: the service GC safe point expires soon; restore PD or the changefeed may lose history");
                    } else {
                        tracing::warn!(service = %service_id, error = %e, ttl_remaining_secs = remaining.as_secs(),
                            "PD unreachable; retrying (the service GC safe point holds until its TTL expires)");
                    }
                }
                if let Err(e) = pd.reconnect().await {
                    tracing::debug!(error = %e, "PD leader re-discovery failed");
                }
            }
        }
        let delay = next_update
            .saturating_duration_since(Instant::now())
            .min(PD_PROBE_INTERVAL);
        let wait = tokio::time::sleep(delay);
        tokio::pin!(wait);
        // Sleep until the next probe or update, ending early when the checkpoint's owner is
        // gone.
        loop {
            tokio::select! {
                () = &mut wait => break,
                r = checkpoint.changed() => if r.is_err() {
                    return Ok(());
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_gc_safe_point_is_checkpoint_minus_one() {
        assert_eq!(safe_point_of(100), 99);
        assert_eq!(safe_point_of(0), 0);
    }

    #[test]
    fn upstream_gc_retry_delay_doubles_and_is_capped() {
        let max = Duration::from_secs(60);
        assert_eq!(retry_delay(1, max), Duration::from_secs(1));
        assert_eq!(retry_delay(2, max), Duration::from_secs(2));
        assert_eq!(retry_delay(4, max), Duration::from_secs(8));
        assert_eq!(retry_delay(30, max), max);
        assert_eq!(
            retry_delay(3, Duration::from_millis(50)),
            Duration::from_millis(50)
        );
    }
}
