//! High availability and scale-out with the SQL state store: this daemon's membership, the
//! leases of the changefeeds it owns, and the hand-offs that keep the shares fair.
//!
//! Owns one coordinator loop per process (every `min(1 s, lease-ttl / 4)`): it refreshes this
//! daemon's membership row, reads the members and leases, shows them in the status API,
//! and follows [`balance::plan`]: it tries to acquire free changefeeds up to its quota, and
//! hands off its surplus gracefully (the pipeline drains — flush, acknowledgements, checkpoint
//! — then the lease is released, then another daemon acquires it).
//!
//! Each owned changefeed runs with a lease keeper that renews the lease every
//! `lease-ttl / 4` and extends the changefeed's [`Fence`] to `sent + lease-ttl / 2` after
//! each renewal that succeeded (`sent`: when the renewal was sent). Guarantees:
//! - an owner that cannot renew stops writing `lease-ttl / 2` after its last successful
//!   renewal was sent, while the lease it holds in the table runs `lease-ttl` from when the
//!   store received it; another daemon takes over only after the lease ended plus
//!   `takeover-margin` by the store's clock. So the old owner is silent before the new one
//!   starts, and per-key order holds: the new owner resumes from the checkpoint the old one
//!   saved (everything after it is sent again: duplicates, never a gap or a reordering
//!   within a partition);
//! - a renewal or checkpoint save refused because the epoch moved (another daemon took
//!   over, or the operator overwrote the checkpoint) revokes the fence at once;
//! - a failed changefeed (an operator error) has its lease released so it is visible, and
//!   this daemon does not take it again until restarted;
//! - at shutdown every owned changefeed drains and releases its lease, and the membership
//!   row is removed, so the others take over at once instead of after the TTL;
//! - admin states (pause, resume, remove; any daemon's API writes them to the row): the
//!   owner reads them at each tick and hands them to the changefeed's
//!   [`lifecycle`](super::lifecycle) task, which carries them out and records what it did
//!   (`admin_applied`). A paused changefeed stays owned (its owner keeps its GC safepoint
//!   fresh, and a failover moves that duty with the lease); a removed one whose removal is
//!   done (no checkpoint left) is never acquired again; every daemon shows a changefeed
//!   another daemon owns as `paused` or `removed` once its owner recorded it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::balance::{self, LeaseState};
use super::changefeed::Ended;
use super::lifecycle;
use crate::checkpoint::sql::{Lease, SqlStore};
use crate::checkpoint::{AdminState, Store};
use crate::config::{ChangefeedConfig, Config};
use crate::fence::Fence;
use crate::metrics as m;
use crate::pipeline;
use crate::shutdown::{self, Shutdown};
use crate::status::{ChangefeedState, ClusterView, LeaseView, MemberView, StatusBoard};

/// This daemon's identity and timings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub daemon_id: String,
    pub status_url: String,
    pub ttl: Duration,
    pub margin: Duration,
}

impl Settings {
    /// From `[ha]` and `[server] listen` (defaults: `<hostname>:<port>` and
    /// `http://<hostname>:<port>`).
    pub fn from_config(cfg: &Config) -> Settings {
        let host = hostname();
        let port = cfg.server.listen.port();
        let daemon_id = if cfg.ha.daemon_id.is_empty() {
            format!("{host}:{port}")
        } else {
            cfg.ha.daemon_id.clone()
        };
        let status_url = if cfg.ha.advertise_url.is_empty() {
            format!("http://{host}:{port}")
        } else {
            cfg.ha.advertise_url.clone()
        };
        Settings {
            daemon_id,
            status_url,
            ttl: cfg.ha.lease_ttl.get(),
            margin: cfg.ha.takeover_margin.get(),
        }
    }

    fn tick(&self) -> Duration {
        (self.ttl / 4).min(Duration::from_secs(1))
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// A changefeed this daemon owns.
struct Owned {
    fence: Fence,
    /// Fired to hand the changefeed off (drain, then release).
    hand_off: shutdown::ShutdownTrigger,
    handing_off: bool,
    /// Tells the task the admin state the row holds.
    admin: watch::Sender<AdminState>,
    task: JoinHandle<Ended>,
}

/// Runs the coordinator until `shutdown`, then drains and releases every owned changefeed.
pub async fn run(
    cfg: &Config,
    store: SqlStore,
    status: StatusBoard,
    settings: Settings,
    shutdown: Shutdown,
) {
    let me = settings.daemon_id.clone();
    tracing::info!(daemon_id = %me, status_url = %settings.status_url, store = %store.describe(),
        lease_ttl = ?settings.ttl, "sharing changefeeds through the SQL state store");
    let changefeeds: BTreeMap<String, &ChangefeedConfig> =
        cfg.changefeeds.iter().map(|c| (c.id.clone(), c)).collect();
    let ids: Vec<String> = changefeeds.keys().cloned().collect();
    for id in &ids {
        status.set_state(
            id,
            ChangefeedState::Standby,
            Some("waiting for its lease".into()),
        );
    }
    let mut owned: HashMap<String, Owned> = HashMap::new();
    // Changefeeds that failed here, with the admin state they had: not taken again until
    // the operator changes that state (e.g. removes it) or the daemon restarts.
    let mut failed: BTreeMap<String, AdminState> = BTreeMap::new();
    let mut view = ClusterView {
        daemon_id: me.clone(),
        store: store.describe(),
        members: Vec::new(),
        updated: None,
        error: None,
    };
    let mut tick = tokio::time::interval(settings.tick());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.clone().wait() => break,
        }
        reap(&mut owned, &mut failed, &status, &store).await;
        let read = read_table(&store, &settings).await;
        let (members, leases) = match read {
            Ok(r) => {
                view.error = None;
                view.updated = Some(now_rfc3339());
                r
            }
            Err(e) => {
                if view.error.is_none() {
                    tracing::warn!(error = %e, "cannot read the state table; owned changefeeds keep their leases as long as renewals succeed");
                }
                view.error = Some(e);
                status.set_cluster(view.clone());
                continue;
            }
        };
        show(&status, &mut view, &members, &leases, &ids, &owned);
        for l in &leases {
            if let Some(o) = owned.get(&l.changefeed) {
                o.admin.send_if_modified(|a| {
                    let changed = *a != l.admin;
                    *a = l.admin;
                    changed
                });
            }
            if failed.get(&l.changefeed).is_some_and(|a| *a != l.admin) {
                failed.remove(&l.changefeed);
            }
        }
        let admin_of: BTreeMap<&str, &crate::checkpoint::sql::LeaseRow> =
            leases.iter().map(|l| (l.changefeed.as_str(), l)).collect();
        let lease_states: BTreeMap<String, LeaseState> = leases
            .iter()
            .map(|l| {
                let free = l.owner.is_none()
                    || l.lease_remaining_ms < -(settings.margin.as_millis() as i64);
                (
                    l.changefeed.clone(),
                    LeaseState {
                        owner: l.owner.clone(),
                        free,
                    },
                )
            })
            .collect();
        let running: BTreeSet<String> = owned
            .iter()
            .filter(|(_, o)| !o.handing_off)
            .map(|(c, _)| c.clone())
            .collect();
        // A removed changefeed whose removal is done (its checkpoint dropped) is not
        // taken again; one whose removal is pending is, so an owner carries it out.
        let candidates: Vec<String> = ids
            .iter()
            .filter(|c| !failed.contains_key(*c))
            .filter(|c| {
                !admin_of
                    .get(c.as_str())
                    .is_some_and(|l| l.admin == AdminState::Removed && l.checkpoint_ts.is_none())
            })
            .cloned()
            .collect();
        let member_ids: Vec<String> = members.iter().map(|m| m.0.clone()).collect();
        let plan = balance::plan(&me, &candidates, &member_ids, &lease_states, &running);
        ::metrics::gauge!(m::HA_CHANGEFEEDS_OWNED).set(running.len() as f64);
        for cf in plan.release {
            if let Some(o) = owned.get_mut(&cf) {
                tracing::info!(changefeed = %cf, quota = plan.quota, "handing the changefeed off to rebalance (drain, save, release)");
                o.handing_off = true;
                o.hand_off.fire();
            }
        }
        for cf in plan.acquire {
            let Some(cfc) = changefeeds.get(&cf) else {
                continue;
            };
            let fingerprint = fingerprint(cfc);
            let sent = Instant::now();
            match store
                .try_acquire(&cf, &me, settings.ttl, settings.margin, &fingerprint)
                .await
            {
                Ok(Some(lease)) => {
                    ::metrics::counter!(m::HA_LEASE_ACQUISITIONS_TOTAL, "changefeed" => cf.clone())
                        .increment(1);
                    if lease
                        .previous_fingerprint
                        .as_deref()
                        .is_some_and(|p| p != fingerprint)
                    {
                        tracing::warn!(changefeed = %cf, "the changefeed's configuration differs from its previous owner's: daemons sharing a state table should run the same configuration");
                    }
                    let admin = admin_of
                        .get(cf.as_str())
                        .map(|l| l.admin)
                        .unwrap_or_default();
                    tracing::info!(changefeed = %cf, epoch = lease.epoch, checkpoint_ts = ?lease.checkpoint_ts, admin_state = admin.as_str(), "acquired the changefeed's lease");
                    let o = start(
                        cfg, cfc, lease, sent, admin, &store, &status, &settings, &shutdown,
                    );
                    owned.insert(cf, o);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(changefeed = %cf, error = %e, "cannot acquire the changefeed's lease")
                }
            }
        }
    }
    // Shutdown: every owned changefeed drains (its stop follows the process's) and
    // releases its lease; then this daemon leaves.
    for (cf, o) in owned.drain() {
        match o.task.await {
            Ok(ended) => tracing::info!(changefeed = %cf, ?ended, "changefeed ended at shutdown"),
            Err(e) => {
                tracing::error!(changefeed = %cf, error = %e, "changefeed task ended abnormally")
            }
        }
        let kept = status
            .get(&cf)
            .is_some_and(|s| matches!(s.state, ChangefeedState::Paused | ChangefeedState::Removed));
        if !kept {
            status.set_state(&cf, ChangefeedState::Stopped, Some("shut down".into()));
        }
    }
    if let Err(e) = store.leave(&me).await {
        tracing::warn!(error = %e, "cannot remove this daemon's membership row; it ends with its TTL");
    }
}

/// Starts owning `cf` under `lease` (acquired at `sent`).
#[allow(clippy::too_many_arguments)]
fn start(
    cfg: &Config,
    cf: &ChangefeedConfig,
    lease: Lease,
    sent: Instant,
    admin: AdminState,
    store: &SqlStore,
    status: &StatusBoard,
    settings: &Settings,
    shutdown: &Shutdown,
) -> Owned {
    let fence = Fence::leased(&cf.id, lease.epoch);
    fence.extend_until(sent + settings.ttl / 2);
    let (hand_off, stop) = shutdown::channel();
    // The process's shutdown stops it too.
    let forward = hand_off.clone();
    let process = shutdown.clone();
    tokio::spawn(async move {
        process.wait().await;
        forward.fire();
    });
    // The state tables may live in the replicated TiDB: their own writes are never
    // replicated (the last matching table-filter rule decides).
    let mut changefeed = cf.clone();
    changefeed
        .filter
        .rules
        .extend(store.state_tables().into_iter().map(|t| format!("!{t}")));
    let ctx = pipeline::Context {
        changefeed,
        upstream: cfg.upstream.clone(),
        state: cfg.state.clone(),
        status: status.clone(),
        store: Store::leased(store.clone(), lease.clone(), settings.ttl, fence.clone()),
    };
    status.set_state(
        &cf.id,
        ChangefeedState::Starting,
        Some("lease acquired".into()),
    );
    let (admin_tx, admin_rx) = watch::channel(admin);
    let span = tracing::info_span!("changefeed", id = %cf.id, epoch = lease.epoch);
    let task = tokio::spawn(
        owned_run(
            ctx,
            admin_rx,
            stop,
            store.clone(),
            lease,
            settings.ttl,
            fence.clone(),
        )
        .instrument(span),
    );
    Owned {
        fence,
        hand_off,
        handing_off: false,
        admin: admin_tx,
        task,
    }
}

/// One owned changefeed: the lease keeper beside the changefeed's run; at the end of a
/// drained run the lease is released.
async fn owned_run(
    ctx: pipeline::Context,
    admin: watch::Receiver<AdminState>,
    stop: Shutdown,
    store: SqlStore,
    lease: Lease,
    ttl: Duration,
    fence: Fence,
) -> Ended {
    let keeper = tokio::spawn(keep_lease(store.clone(), lease.clone(), ttl, fence.clone()));
    let ended = lifecycle::run(ctx, admin, stop, lifecycle::Mode::Leased).await;
    keeper.abort();
    match &ended {
        Ended::Stopped | Ended::Failed(_) | Ended::Removed => {
            fence.revoke("released");
            match tokio::time::timeout(ttl / 2, store.release(&lease)).await {
                Ok(Ok(true)) => {
                    tracing::info!(epoch = lease.epoch, "released the changefeed's lease")
                }
                Ok(Ok(false)) => tracing::warn!(
                    epoch = lease.epoch,
                    "the lease was no longer ours at release"
                ),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot release the lease; it ends with its TTL")
                }
                Err(_) => tracing::warn!("releasing the lease timed out; it ends with its TTL"),
            }
        }
        Ended::Fenced(why) => {
            ::metrics::counter!(m::HA_LEASE_LOSSES_TOTAL, "changefeed" => lease.changefeed.clone())
                .increment(1);
            tracing::warn!(epoch = lease.epoch, why, "stopped owning the changefeed");
        }
    }
    ended
}

/// Renews `lease` every `ttl / 4`, extending `fence` after each success; revokes it when the
/// lease is no longer ours. Runs until aborted or revoked.
async fn keep_lease(store: SqlStore, lease: Lease, ttl: Duration, fence: Fence) {
    let mut every = tokio::time::interval(ttl / 4);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    let mut failing_since: Option<Instant> = None;
    loop {
        every.tick().await;
        let sent = Instant::now();
        match tokio::time::timeout(ttl / 4, store.renew(&lease, ttl)).await {
            Ok(Ok(true)) => {
                fence.extend_until(sent + ttl / 2);
                if failing_since.take().is_some() {
                    tracing::info!(epoch = lease.epoch, "lease renewals succeed again");
                }
            }
            Ok(Ok(false)) => {
                fence.revoke(&format!(
                    "its lease (epoch {}) was taken over or its checkpoint overwritten",
                    lease.epoch
                ));
                return;
            }
            Ok(Err(e)) => renew_failed(&mut failing_since, &fence, &e.to_string()),
            Err(_) => renew_failed(&mut failing_since, &fence, "the renewal timed out"),
        }
    }
}

fn renew_failed(failing_since: &mut Option<Instant>, fence: &Fence, error: &str) {
    ::metrics::counter!(m::HA_LEASE_RENEW_ERRORS_TOTAL).increment(1);
    if failing_since.is_none() {
        *failing_since = Some(Instant::now());
        tracing::warn!(
            error,
            writes_allowed_for = ?fence.remaining(),
            "cannot renew the lease; the changefeed stops writing if this lasts"
        );
    }
}

/// Collects owned changefeeds whose run ended.
async fn reap(
    owned: &mut HashMap<String, Owned>,
    failed: &mut BTreeMap<String, AdminState>,
    status: &StatusBoard,
    _store: &SqlStore,
) {
    let done: Vec<String> = owned
        .iter()
        .filter(|(_, o)| o.task.is_finished())
        .map(|(c, _)| c.clone())
        .collect();
    for cf in done {
        let Some(o) = owned.remove(&cf) else { continue };
        o.fence.revoke("its run ended");
        let admin = *o.admin.borrow();
        match o.task.await {
            Ok(Ended::Failed(e)) => {
                failed.insert(cf.clone(), admin);
                status.set_state(&cf, ChangefeedState::Failed, Some(e));
            }
            // The lifecycle task showed `removed` already.
            Ok(Ended::Removed) => {}
            Ok(Ended::Stopped) => {
                status.set_state(&cf, ChangefeedState::Standby, Some("handed off".into()));
            }
            Ok(Ended::Fenced(why)) => {
                status.set_state(&cf, ChangefeedState::Standby, Some(why));
            }
            Err(e) => {
                tracing::error!(changefeed = %cf, error = %e, "changefeed task ended abnormally");
                status.set_state(&cf, ChangefeedState::Standby, Some(e.to_string()));
            }
        }
    }
}

type Members = Vec<(String, String)>;

/// Heartbeats, then reads the live members and the leases.
async fn read_table(
    store: &SqlStore,
    settings: &Settings,
) -> Result<(Members, Vec<crate::checkpoint::sql::LeaseRow>), String> {
    store
        .heartbeat(&settings.daemon_id, &settings.status_url, settings.ttl)
        .await
        .map_err(|e| e.to_string())?;
    let members = store
        .members()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|m| (m.id, m.status_url))
        .collect();
    let leases = store.leases().await.map_err(|e| e.to_string())?;
    Ok((members, leases))
}

/// Publishes the members and each configured changefeed's lease and admin state; a
/// changefeed this daemon does not run shows `paused` or `removed` once its owner recorded
/// that it carried the state out, else `standby`.
fn show(
    status: &StatusBoard,
    view: &mut ClusterView,
    members: &Members,
    leases: &[crate::checkpoint::sql::LeaseRow],
    ids: &[String],
    owned: &HashMap<String, Owned>,
) {
    let urls: BTreeMap<&str, &str> = members
        .iter()
        .map(|(i, u)| (i.as_str(), u.as_str()))
        .collect();
    view.members = members
        .iter()
        .map(|(id, url)| MemberView {
            id: id.clone(),
            status_url: url.clone(),
            owns: leases
                .iter()
                .filter(|l| l.owner.as_deref() == Some(id.as_str()) && l.lease_remaining_ms >= 0)
                .map(|l| l.changefeed.clone())
                .collect(),
        })
        .collect();
    status.set_cluster(view.clone());
    for id in ids {
        let lease = leases
            .iter()
            .find(|l| &l.changefeed == id)
            .map(|l| LeaseView {
                owner: l.owner.clone(),
                owner_url: l
                    .owner
                    .as_deref()
                    .and_then(|o| urls.get(o))
                    .map(|u| u.to_string()),
                epoch: l.epoch,
                remaining_ms: l.lease_remaining_ms,
            });
        status.set_lease(id, lease);
        let Some(row) = leases.iter().find(|l| &l.changefeed == id) else {
            continue;
        };
        status.set_admin(id, row.admin);
        if owned.contains_key(id) {
            continue;
        }
        let shown = status.get(id).map(|s| s.state);
        let want = match (row.admin, row.applied) {
            (AdminState::Paused, Some(AdminState::Paused)) => ChangefeedState::Paused,
            (AdminState::Removed, Some(AdminState::Removed)) => ChangefeedState::Removed,
            _ => ChangefeedState::Standby,
        };
        let follows = matches!(
            shown,
            Some(ChangefeedState::Standby | ChangefeedState::Paused | ChangefeedState::Removed)
        );
        if follows && shown != Some(want) {
            let reason = match want {
                ChangefeedState::Paused => "paused by the operator (on its owner)",
                ChangefeedState::Removed => "removed by the operator",
                _ => "owned by another daemon",
            };
            status.set_state(id, want, Some(reason.into()));
        }
    }
}

/// A short, stable digest of a changefeed's configuration (FNV-1a of its TOML form).
pub fn fingerprint(cf: &ChangefeedConfig) -> String {
    let text = toml::to_string(cf).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
