//! One changefeed under its admin state (`normal`, `paused`, `removed`: TiCDC's `changefeed
//! pause|resume|remove`), as the state store holds it and a watch channel announces it.
//!
//! - **normal**: the changefeed runs ([`changefeed::run`]); a change of the admin state
//!   fires its stop, so the pipeline drains exactly as at shutdown (flush, Kafka's
//!   acknowledgements, checkpoint saved) before the next state is carried out.
//! - **paused**: nothing is pulled or produced. Its PD service GC safepoint is kept at
//!   checkpoint − 1 and its TTL (`gc-ttl`) refreshed every `min(1 min, gc-ttl / 4)`, so GC
//!   never passes the checkpoint while paused (TiCDC keeps a stopped changefeed's safepoint
//!   too: tiflow `cdc/model/changefeed.go` `NeedBlockGC` is true for `StateStopped`). A
//!   warning (status `warning`, log, gauge `tidb_changefeed_paused_gc_ttl_remaining_seconds`)
//!   is raised once the checkpoint is older than ¾ of `gc-ttl`, and reworded past it with
//!   TiCDC's `ErrGCTTLExceeded` text (tiflow `pkg/errors/cdc_errors.go`; its owner fails such
//!   a changefeed in `pkg/txnutil/gc/gc_manager.go` `checkStaleCheckpointTs` and stops
//!   holding GC for it — this daemon keeps holding it and warns, the operator decides).
//!   A checkpoint PD reports behind the cluster's GC is shown with TiCDC's
//!   `ErrSnapshotLostByGC` reason: a resume would be refused.
//! - **removed**: the service safepoint is deleted (`UpdateServiceGCSafePoint` with TTL 0
//!   and safe point `u64::MAX`, as tiflow `pkg/txnutil/gc/gc_service.go`
//!   `RemoveServiceGCSafepoint` sends; PD deletes an entry whose TTL is ≤ 0), then the
//!   checkpoint is dropped leaving the tombstone; both are retried until they succeed.
//!
//! Guarantees: a state is shown in the status only once carried out; with the SQL store the
//! owner records what it carried out (`admin_applied`, fenced), so any daemon can report it;
//! a closed fence ends the task at once ([`Ended::Fenced`]) in every state.

use std::time::Duration;

use tokio::sync::watch;

use super::changefeed::{self, Ended};
use crate::checkpoint::AdminState;
use crate::config::UpstreamConfig;
use crate::metrics as m;
use crate::pipeline;
use crate::shutdown::{self, Shutdown};
use crate::status::ChangefeedState;
use crate::upstream::UpstreamError;
use crate::upstream::error::ErrorKind;
use crate::upstream::gc::DEFAULT_GC_INTERVAL;
use crate::upstream::pd::{ConnectOptions, PdClient};

/// What a failed or removed changefeed's task does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The process's only owner (file store): a failed changefeed waits for an admin
    /// change (e.g. a removal) or shutdown; a removed one is shown until shutdown.
    Alone,
    /// Under a lease (SQL store): a failed or removed changefeed's task ends, so its lease
    /// is released.
    Leased,
}

/// The longest wait between two attempts of a removal step.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The service GC safepoint name of changefeed `id`.
pub fn service_id(id: &str) -> String {
    format!("tidb-changefeed-{id}")
}

/// Runs changefeed `ctx` in the admin state `admin` says, following its changes, until
/// `stop` fires (after draining), its fence closes, or (leased) it fails or is removed.
pub async fn run(
    ctx: pipeline::Context,
    mut admin: watch::Receiver<AdminState>,
    stop: Shutdown,
    mode: Mode,
) -> Ended {
    let id = ctx.changefeed.id.clone();
    loop {
        if stop.is_fired() {
            return Ended::Stopped;
        }
        let want = *admin.borrow_and_update();
        ctx.status.set_admin(&id, want);
        let next = match want {
            AdminState::Normal => normal(&ctx, &mut admin, &stop, mode).await,
            AdminState::Paused => paused(&ctx, &mut admin, &stop).await,
            AdminState::Removed => Some(removed(&ctx, &stop, mode).await),
        };
        if let Some(ended) = next {
            return ended;
        }
    }
}

/// Records `state` as carried out; `Some` when the fence closed meanwhile.
async fn applied(ctx: &pipeline::Context, state: AdminState) -> Option<Ended> {
    let id = &ctx.changefeed.id;
    match ctx.store.record_applied(id, state).await {
        Ok(()) => None,
        Err(e) if e.is_fenced() || ctx.store.fence().check().is_err() => {
            Some(Ended::Fenced(e.to_string()))
        }
        Err(e) => {
            tracing::warn!(error = %e, state = state.as_str(), "cannot record the admin state carried out (other daemons show it late)");
            None
        }
    }
}

/// Runs the changefeed until the admin state leaves `normal` (`None`: carry out the next
/// state) or it ends for another reason.
async fn normal(
    ctx: &pipeline::Context,
    admin: &mut watch::Receiver<AdminState>,
    stop: &Shutdown,
    mode: Mode,
) -> Option<Ended> {
    let id = &ctx.changefeed.id;
    ctx.status.set_warning(id, None);
    ::metrics::gauge!(m::PAUSED_GC_TTL_REMAINING_SECONDS, "changefeed" => id.clone()).set(0.0);
    if let Some(e) = applied(ctx, AdminState::Normal).await {
        return Some(e);
    }
    let (trigger, run_stop) = shutdown::channel();
    let (mut watching, outer) = (admin.clone(), stop.clone());
    let forward = tokio::spawn(async move {
        tokio::select! {
            () = outer.wait() => {}
            _ = async { watching.wait_for(|a| *a != AdminState::Normal).await.map(|_| ()) } => {}
        }
        trigger.fire();
    });
    let ended = changefeed::run(ctx.clone(), run_stop).await;
    forward.abort();
    if stop.is_fired() {
        return Some(ended);
    }
    match ended {
        Ended::Stopped => {
            tracing::info!(
                admin_state = admin.borrow().as_str(),
                "the changefeed drained for an admin request"
            );
            None
        }
        Ended::Failed(_) if mode == Mode::Alone => {
            // Stays failed until the operator pauses or removes it, or shuts down.
            tokio::select! {
                () = stop.clone().wait() => Some(ended),
                r = async { admin.wait_for(|a| *a != AdminState::Normal).await.map(|_| ()) } => {
                    r.err().map(|_| ended)
                }
            }
        }
        other => Some(other),
    }
}

/// Holds the paused changefeed's GC safepoint until the admin state changes (`None`).
async fn paused(
    ctx: &pipeline::Context,
    admin: &mut watch::Receiver<AdminState>,
    stop: &Shutdown,
) -> Option<Ended> {
    let id = &ctx.changefeed.id;
    if let Some(e) = applied(ctx, AdminState::Paused).await {
        return Some(e);
    }
    let checkpoint = match ctx.store.load(id).await {
        Ok(c) => c.map(|c| c.checkpoint_ts),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the paused changefeed's checkpoint");
            None
        }
    };
    if let Some(cp) = checkpoint {
        ctx.status.set_progress(id, cp, cp);
    }
    let service = service_id(id);
    let ttl = ctx.upstream.gc_ttl.get();
    let every = (ttl / 4).clamp(Duration::from_secs(1), DEFAULT_GC_INTERVAL);
    let fence = ctx.store.fence();
    let mut pd: Option<PdClient> = None;
    let mut last_warning: Option<String> = None;
    let mut shown = false;
    loop {
        let warning = match checkpoint {
            Some(cp) => {
                let held = hold(&mut pd, &ctx.upstream, &service, ttl, cp).await;
                let age = checkpoint_age(cp);
                ::metrics::gauge!(m::PAUSED_GC_TTL_REMAINING_SECONDS, "changefeed" => id.clone())
                    .set(ttl.as_secs_f64() - age.as_secs_f64());
                gc_warning(id, &service, cp, ttl, age, held.err())
            }
            None => {
                Some("paused before any checkpoint was saved: no GC safepoint is held".to_string())
            }
        };
        if !shown {
            // Shown once the safepoint was first refreshed (or that failed: the warning says).
            shown = true;
            ctx.status.set_state(
                id,
                ChangefeedState::Paused,
                Some(
                    "paused by the operator: nothing is pulled or produced; its GC safepoint is kept"
                        .into(),
                ),
            );
            tracing::info!(checkpoint_ts = ?checkpoint, "changefeed paused; its service GC safepoint is kept");
        }
        if warning != last_warning {
            if let Some(w) = &warning {
                tracing::warn!(warning = %w, "paused changefeed");
            }
            ctx.status.set_warning(id, warning.clone());
            last_warning = warning;
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = stop.clone().wait() => return Some(Ended::Stopped),
            f = fence.closed() => return Some(Ended::Fenced(f.to_string())),
            r = admin.changed() => {
                if r.is_err() {
                    return Some(Ended::Stopped);
                }
                if *admin.borrow() != AdminState::Paused {
                    return None;
                }
            }
        }
    }
}

/// Sets the service safepoint at `cp − 1` for `ttl`, connecting to PD first if needed.
async fn hold(
    pd: &mut Option<PdClient>,
    up: &UpstreamConfig,
    service: &str,
    ttl: Duration,
    cp: u64,
) -> Result<u64, UpstreamError> {
    let c = connected(pd, up).await?;
    let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX).max(1);
    let r = c.hold_gc_from(service, ttl_secs, cp).await;
    if let Err(e) = &r
        && e.kind() != ErrorKind::Fatal
    {
        let _ = c.reconnect().await;
    }
    r
}

async fn connected<'a>(
    pd: &'a mut Option<PdClient>,
    up: &UpstreamConfig,
) -> Result<&'a mut PdClient, UpstreamError> {
    if pd.is_none() {
        let conn = ConnectOptions::new(up.tls.as_ref(), up.connect_timeout.get())?;
        *pd = Some(PdClient::connect_with(&up.pd, conn).await?);
    }
    pd.as_mut().ok_or_else(|| UpstreamError::PdRpc {
        rpc: "GetMembers",
        endpoint: up.pd.join(","),
        detail: "no PD client".into(),
    })
}

/// Now minus the checkpoint's physical time (this host's clock).
fn checkpoint_age(cp: u64) -> Duration {
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    Duration::from_millis(now_ms.saturating_sub(cp >> 18))
}

/// What the operator should know about a paused changefeed's GC safepoint, if anything.
fn gc_warning(
    id: &str,
    service: &str,
    cp: u64,
    ttl: Duration,
    age: Duration,
    held: Option<UpstreamError>,
) -> Option<String> {
    match held {
        Some(UpstreamError::SafePointBehindGc { min_safe_point, .. }) => {
            return Some(format!(
                "fail to create or maintain changefeed due to snapshot loss caused by GC. checkpoint-ts {cp} is earlier than or equal to GC safepoint at {min_safe_point} \
                 (TiCDC's ErrSnapshotLostByGC): rows after the checkpoint may be gone, so a resume is refused; remove the changefeed and create it anew"
            ));
        }
        Some(e) => {
            return Some(format!(
                "cannot refresh the service GC safepoint {service}: {e}; it expires gc-ttl ({}s) after the last refresh, after which GC may pass the checkpoint",
                ttl.as_secs()
            ));
        }
        None => {}
    }
    if age > ttl {
        Some(format!(
            "the checkpoint-ts({cp}) lag of the changefeed({id}) has exceeded the GC TTL and the changefeed is blocking global GC progression \
             (TiCDC's ErrGCTTLExceeded; TiCDC would fail it and release GC, this daemon keeps holding GC while it is paused): resume or remove it"
        ))
    } else if age > ttl / 4 * 3 {
        Some(format!(
            "paused for {}s: its checkpoint will be older than gc-ttl ({}s) in {}s, and the pause then holds the cluster's GC back longer than TiCDC allows (ErrGCTTLExceeded): resume or remove it",
            age.as_secs(),
            ttl.as_secs(),
            ttl.saturating_sub(age).as_secs()
        ))
    } else {
        None
    }
}

/// Carries the removal out: deletes the service safepoint, drops the checkpoint.
async fn removed(ctx: &pipeline::Context, stop: &Shutdown, mode: Mode) -> Ended {
    let id = &ctx.changefeed.id;
    let pending = match ctx.store.load(id).await {
        Ok(c) => c.is_some(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the removed changefeed's checkpoint; removing anyway");
            true
        }
    };
    if pending {
        ctx.status.set_state(
            id,
            ChangefeedState::Stopping,
            Some("removing: dropping its GC safepoint and checkpoint".into()),
        );
        let service = service_id(id);
        let mut pd: Option<PdClient> = None;
        let mut backoff = Duration::from_secs(1);
        loop {
            let r = match connected(&mut pd, &ctx.upstream).await {
                Ok(c) => c.update_service_gc_safe_point(&service, 0, u64::MAX).await,
                Err(e) => Err(e),
            };
            match r {
                Ok(_) => {
                    tracing::info!(service = %service, "removed the changefeed's service GC safepoint");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "cannot remove the service GC safepoint yet");
                    ctx.status.set_warning(
                        id,
                        Some(format!(
                            "cannot remove the service GC safepoint {service} yet: {e}"
                        )),
                    );
                    pd = None;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = stop.clone().wait() => return Ended::Stopped,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        let mut backoff = Duration::from_secs(1);
        loop {
            match ctx.store.clear_checkpoint(id).await {
                Ok(()) => break,
                Err(e) if e.is_fenced() || ctx.store.fence().check().is_err() => {
                    return Ended::Fenced(e.to_string());
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "cannot drop the removed changefeed's checkpoint yet");
                    ctx.status
                        .set_warning(id, Some(format!("cannot drop the checkpoint yet: {e}")));
                }
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = stop.clone().wait() => return Ended::Stopped,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        tracing::info!("changefeed removed: its GC safepoint and checkpoint are gone");
    }
    ctx.status.set_warning(id, None);
    ::metrics::gauge!(m::PAUSED_GC_TTL_REMAINING_SECONDS, "changefeed" => id.clone()).set(0.0);
    ctx.status.set_state(
        id,
        ChangefeedState::Removed,
        Some("removed by the operator; to replicate again use a new changefeed id, or stop the daemon and set a start with `tidb-changefeed checkpoint --overwrite-checkpoint-ts`".into()),
    );
    match mode {
        Mode::Leased => Ended::Removed,
        Mode::Alone => {
            stop.clone().wait().await;
            Ended::Stopped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_checkpoint_is_warned_about_before_and_after_gc_ttl() {
        let ttl = Duration::from_secs(100);
        let w = |age| gc_warning("cf", "svc", 5 << 18, ttl, Duration::from_secs(age), None);
        assert_eq!(w(10), None);
        assert_eq!(w(75), None);
        let soon = w(80).expect("about to");
        assert!(
            soon.contains("in 20s") && soon.contains("ErrGCTTLExceeded"),
            "{soon}"
        );
        let past = w(101).expect("past");
        assert!(
            past.starts_with(&format!(
                "the checkpoint-ts({}) lag of the changefeed(cf) has exceeded the GC TTL",
                5u64 << 18
            )),
            "{past}"
        );
        let lost = gc_warning(
            "cf",
            "svc",
            10,
            ttl,
            Duration::ZERO,
            Some(UpstreamError::SafePointBehindGc {
                requested: 9,
                min_safe_point: 20,
            }),
        )
        .expect("lost");
        assert!(
            lost.contains("checkpoint-ts 10 is earlier than or equal to GC safepoint at 20"),
            "{lost}"
        );
    }
}
