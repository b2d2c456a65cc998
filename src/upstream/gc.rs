//! GC safe point keeper: holds PD's service GC safe point at `checkpoint − 1` so TiKV keeps
//! the MVCC history the changefeed still has to read.
//!
//! Owns one service entry in PD (e.g. `tidb-changefeed-<changefeed id>`). Guarantees, as
//! TiCDC does (`pkg/txnutil/gc/gc_manager.go`):
//! - at start and then every `interval` (TiCDC: 1 min) the entry is set to the current
//!   checkpoint − 1 with a TTL (TiCDC's `gc-ttl`: 24 h), so a stopped daemon's history is
//!   kept for the TTL and a restart resumes from its checkpoint;
//! - a checkpoint already below the cluster's GC safe point is a fatal
//!   [`UpstreamError::SafePointBehindGc`]: rows after it may be gone;
//! - PD errors are retried with backoff (1 s doubling, capped by `interval`), re-discovering
//!   the PD leader; they become fatal only once no update succeeded for longer than the TTL
//!   (PD may then have dropped the entry and let GC pass the checkpoint);
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
use super::pd::PdClient;

/// TiCDC's interval between two safe point updates.
pub const DEFAULT_GC_INTERVAL: Duration = Duration::from_secs(60);
/// TiCDC's default `gc-ttl`.
pub const DEFAULT_GC_TTL: Duration = Duration::from_secs(86_400);

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
    tokio::spawn(keep(pd, service_id, ttl, interval, checkpoint))
}

async fn keep(
    mut pd: PdClient,
    service_id: String,
    ttl: Duration,
    interval: Duration,
    mut checkpoint: watch::Receiver<u64>,
) -> Result<(), UpstreamError> {
    let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX).max(1);
    let mut last_ok = Instant::now();
    let mut attempt = 0u32;
    loop {
        let cp = *checkpoint.borrow_and_update();
        let sp = safe_point_of(cp);
        let delay = match pd.hold_gc_from(&service_id, ttl_secs, cp).await {
            Ok(min) => {
                attempt = 0;
                last_ok = Instant::now();
                metrics::gauge!(m::UPSTREAM_GC_SERVICE_SAFE_POINT_SECONDS, "service" => service_id.clone())
                    .set((min >> 18) as f64 / 1000.0);
                tracing::debug!(service = %service_id, safe_point = sp, min, "service GC safe point set");
                interval
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
                tracing::warn!(service = %service_id, safe_point = sp, attempt, error = %e, "cannot set the service GC safe point; retrying");
                if let Err(e) = pd.reconnect().await {
                    tracing::warn!(error = %e, "PD leader re-discovery failed");
                }
                retry_delay(attempt, interval)
            }
        };
        let wait = tokio::time::sleep(delay);
        tokio::pin!(wait);
        // Sleep until the next update, ending early when the checkpoint's owner is gone.
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
