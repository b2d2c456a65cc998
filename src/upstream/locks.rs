//! Stale-lock resolution: what TiCDC's puller does when a region's resolved ts stops
//! moving because a transaction left its locks behind (its TiDB died mid-commit).
//!
//! Owns one task fed by a bounded channel of [`ResolveTask`]s, which the feed driver
//! sends without ever waiting (a full channel drops the task; the next check sends it
//! again). For each region it scans the locks at or below a target ts (`KvScanLock`,
//! paginated), groups them by transaction, asks each transaction's primary for its fate
//! (`KvCheckTxnStatus`, which rolls back a primary whose TTL has expired), and then commits
//! or rolls back that transaction's locks in the region (`KvResolveLock`). TiKV then sends
//! the matching COMMIT or ROLLBACK events and the region's resolved ts moves on.
//!
//! Guarantees:
//! - a live transaction is never aborted: only TiKV decides, from the primary lock's TTL,
//!   that a transaction is dead; a transaction still running keeps its locks (counted as
//!   `alive`) and is looked at again later;
//! - a committed transaction's leftover locks are committed at its commit ts, never rolled
//!   back;
//! - each region is resolved at most once per [`MIN_INTERVAL`] (TiCDC's
//!   `resolveLockMinInterval`), whatever the number of tasks sent for it;
//! - a region error (leader moved, epoch changed) ends the round for that region without
//!   counting against that limit: the feed re-registers the region and the next check
//!   sends it again;
//! - pessimistic locks are left alone (TiKV's resolved ts ignores them);
//! - every resolution is counted (`upstream_lock_resolutions_total{result}`,
//!   `upstream_locks_resolved_total`) and logged with the region, the transaction's start
//!   ts and the action.
//!
//! The target ts follows TiCDC (`tiflow cdc/puller/multiplexing_puller.go
//! getResolveLockTargetTs`): for a region whose resolved ts lags the TSO by more than the
//! threshold, `min(current TSO, resolved ts + threshold)`; for a region that has not
//! initialized within the threshold (which TiCDC does not cover: pingcap/ticdc issue
//! 5947), the current TSO. The scan and resolve protocol follows `tiflow
//! pkg/txnutil/lock_resolver.go` (1024 locks per scan) and client-go's
//! `txnkv/txnlock/lock_resolver.go` (`CheckTxnStatus` without `rollback_if_not_exist`
//! first, with it once the lock's TTL has run out and TiKV does not know the transaction).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

use super::pd::PdClient;
use crate::metrics as m;
use crate::mount::Reader;
use crate::mount::bytes::{decode_bytes, encode_bytes};
use crate::proto::kvrpcpb::{self, Op};
use crate::proto::metapb;
use crate::proto::tikvpb::tikv_client::TikvClient;

/// At most one resolution per region in this interval (TiCDC's `resolveLockMinInterval`).
pub const MIN_INTERVAL: Duration = Duration::from_secs(10);
/// Locks per `KvScanLock` (TiCDC's `scanLockLimit`).
pub const SCAN_LIMIT: u32 = 1024;
/// Tasks waiting for the resolver; more are dropped (sent again at the next check).
pub const QUEUE: usize = 1024;
/// Per-RPC timeout.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);
/// Bits of the logical part of a TSO.
const LOGICAL_BITS: u32 = 18;

/// Why a region is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Initialized, but its resolved ts lags the TSO by more than the threshold.
    Lagging,
    /// Its subscription has not initialized within the threshold.
    Uninitialized,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Lagging => "lagging",
            Reason::Uninitialized => "uninitialized",
        }
    }
}

/// One region to look at.
#[derive(Debug, Clone)]
pub struct ResolveTask {
    /// The region as registered (id, epoch, encoded range, peers).
    pub region: metapb::Region,
    /// The store whose leader serves the subscription.
    pub store_id: u64,
    /// The region's resolved ts as the feed knows it.
    pub resolved_ts: u64,
    pub reason: Reason,
}

/// The physical (ms) part of a TSO.
pub fn physical_ms(ts: u64) -> u64 {
    ts >> LOGICAL_BITS
}

/// The wall clock in ms since the Unix epoch (the TSO's physical clock).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Whether a region at resolved ts `ts` (initialized since `initialized`, registered
/// `registered` ago) needs its locks looked at, at wall time `now_ms`; and why.
pub fn needs_resolve(
    initialized: bool,
    registered: Duration,
    ts: u64,
    now_ms: u64,
    threshold: Duration,
) -> Option<Reason> {
    let t = u64::try_from(threshold.as_millis()).unwrap_or(u64::MAX);
    if !initialized {
        return (registered > threshold).then_some(Reason::Uninitialized);
    }
    (now_ms.saturating_sub(physical_ms(ts)) > t).then_some(Reason::Lagging)
}

/// The ts up to which locks are resolved for `task`, given the current TSO `current`;
/// `None` when the region does not lag by that TSO.
pub fn target_ts(task: &ResolveTask, current: u64, threshold: Duration) -> Option<u64> {
    let t = u64::try_from(threshold.as_millis()).unwrap_or(u64::MAX);
    match task.reason {
        Reason::Uninitialized => Some(current),
        Reason::Lagging => {
            let resolved_ms = physical_ms(task.resolved_ts);
            if physical_ms(current).saturating_sub(resolved_ms) <= t {
                return None;
            }
            let fence = resolved_ms.saturating_add(t) << LOGICAL_BITS;
            Some(current.min(fence))
        }
    }
}

/// Starts the resolver task; it ends when every sender is dropped.
pub fn spawn(pd: PdClient, threshold: Duration) -> (mpsc::Sender<ResolveTask>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let r = Resolver {
        pd,
        threshold,
        stores: HashMap::new(),
        last_run: HashMap::new(),
    };
    (tx, tokio::spawn(r.run(rx)))
}

/// How a region's round ended.
enum Round {
    Done,
    /// NotLeader, EpochNotMatch…: skipped, tried again at a later check.
    RegionError(String),
    Failed(String),
}

/// What became of one transaction's locks in a region.
enum Fate {
    Committed(u64),
    RolledBack,
    Alive,
}

struct Resolver {
    pd: PdClient,
    threshold: Duration,
    stores: HashMap<u64, TikvClient<Channel>>,
    last_run: HashMap<u64, Instant>,
}

impl Resolver {
    async fn run(mut self, mut rx: mpsc::Receiver<ResolveTask>) {
        while let Some(task) = rx.recv().await {
            let region_id = task.region.id;
            if self
                .last_run
                .get(&region_id)
                .is_some_and(|t| t.elapsed() < MIN_INTERVAL)
            {
                continue;
            }
            let reason = task.reason.as_str();
            let round = self.resolve_region(&task).await;
            let result = match &round {
                Round::Done => "ok",
                Round::RegionError(detail) => {
                    tracing::info!(
                        region_id,
                        reason,
                        detail,
                        "lock scan: region error; retrying at a later check"
                    );
                    "region_error"
                }
                Round::Failed(detail) => {
                    tracing::warn!(region_id, reason, detail, "lock scan failed");
                    "error"
                }
            };
            metrics::counter!(m::UPSTREAM_LOCK_SCANS_TOTAL, "reason" => reason, "result" => result)
                .increment(1);
            if !matches!(round, Round::RegionError(_)) {
                self.last_run.insert(region_id, Instant::now());
            }
            if self.last_run.len() > 1024 {
                self.last_run.retain(|_, t| t.elapsed() < MIN_INTERVAL);
            }
        }
    }

    async fn client(&mut self, store_id: u64) -> Result<TikvClient<Channel>, String> {
        if let Some(c) = self.stores.get(&store_id) {
            return Ok(c.clone());
        }
        let store = self
            .pd
            .get_store(store_id)
            .await
            .map_err(|e| e.to_string())?;
        let conn = self.pd.connect_options();
        let url = conn.url(&store.address);
        let ch = conn
            .channel(&url, Some(RPC_TIMEOUT))
            .await
            .map_err(|e| format!("TiKV store {store_id} at {}: {e}", store.address))?;
        let c = TikvClient::new(ch);
        self.stores.insert(store_id, c.clone());
        Ok(c)
    }

    /// One region: scan, check and resolve page by page.
    async fn resolve_region(&mut self, task: &ResolveTask) -> Round {
        let current = match self.pd.get_ts().await {
            Ok(ts) => ts,
            Err(e) => {
                let _ = self.pd.reconnect().await;
                return Round::Failed(e.to_string());
            }
        };
        let Some(target) = target_ts(task, current, self.threshold) else {
            return Round::Done;
        };
        let Some(start) = raw_boundary(&task.region.start_key) else {
            return Round::Failed("region start key is not memcomparable".into());
        };
        let Some(end) = raw_boundary(&task.region.end_key) else {
            return Round::Failed("region end key is not memcomparable".into());
        };
        let ctx = context(&task.region, task.store_id);
        let mut cursor = start;
        loop {
            let mut client = match self.client(task.store_id).await {
                Ok(c) => c,
                Err(e) => return Round::Failed(e),
            };
            let req = kvrpcpb::ScanLockRequest {
                context: Some(ctx.clone()),
                max_version: target,
                start_key: cursor.clone(),
                limit: SCAN_LIMIT,
                end_key: end.clone(),
            };
            let resp = match client.kv_scan_lock(req).await {
                Ok(r) => r.into_inner(),
                Err(s) => {
                    self.stores.remove(&task.store_id);
                    return Round::Failed(format!("KvScanLock: {:?}: {}", s.code(), s.message()));
                }
            };
            if let Some(e) = resp.region_error {
                return Round::RegionError(e.message);
            }
            if let Some(e) = resp.error {
                return Round::Failed(format!("KvScanLock: {}", key_error(&e)));
            }
            let full = resp.locks.len() >= SCAN_LIMIT as usize;
            let next = resp.locks.last().map(|l| {
                let mut k = l.key.clone();
                k.push(0);
                k
            });
            // Transaction (start ts, primary) → its locks in this page.
            let mut txns: BTreeMap<(u64, Vec<u8>), Vec<kvrpcpb::LockInfo>> = BTreeMap::new();
            for l in resp.locks {
                if l.lock_type == Op::PessimisticLock as i32 {
                    continue;
                }
                txns.entry((l.lock_version, l.primary_lock.clone()))
                    .or_default()
                    .push(l);
            }
            for ((start_ts, primary), locks) in txns {
                match self
                    .resolve_txn(task, &ctx, start_ts, &primary, &locks, current)
                    .await
                {
                    Ok(()) => {}
                    Err(round) => return round,
                }
            }
            match next {
                Some(n) if full && (end.is_empty() || n < end) => cursor = n,
                _ => return Round::Done,
            }
        }
    }

    /// One transaction's locks in the region: its fate from the primary, then the resolve.
    async fn resolve_txn(
        &mut self,
        task: &ResolveTask,
        ctx: &kvrpcpb::Context,
        start_ts: u64,
        primary: &[u8],
        locks: &[kvrpcpb::LockInfo],
        current: u64,
    ) -> Result<(), Round> {
        let region_id = task.region.id;
        let fate = match self.check_txn(start_ts, primary, locks, current).await {
            Ok(f) => f,
            Err(detail) => {
                tracing::warn!(region_id, start_ts, primary = %hex::encode(primary), detail, "stale lock: cannot check the primary");
                metrics::counter!(m::UPSTREAM_LOCK_RESOLUTIONS_TOTAL, "result" => "error")
                    .increment(1);
                return Ok(());
            }
        };
        let commit_version = match fate {
            Fate::Alive => {
                tracing::debug!(
                    region_id,
                    start_ts,
                    "stale lock: its transaction is alive; left alone"
                );
                metrics::counter!(m::UPSTREAM_LOCK_RESOLUTIONS_TOTAL, "result" => "alive")
                    .increment(1);
                return Ok(());
            }
            Fate::Committed(c) => c,
            Fate::RolledBack => 0,
        };
        let mut client = self.client(task.store_id).await.map_err(Round::Failed)?;
        let req = kvrpcpb::ResolveLockRequest {
            context: Some(ctx.clone()),
            start_version: start_ts,
            commit_version,
            ..Default::default()
        };
        let resp = match client.kv_resolve_lock(req).await {
            Ok(r) => r.into_inner(),
            Err(s) => {
                self.stores.remove(&task.store_id);
                return Err(Round::Failed(format!(
                    "KvResolveLock: {:?}: {}",
                    s.code(),
                    s.message()
                )));
            }
        };
        if let Some(e) = resp.region_error {
            return Err(Round::RegionError(e.message));
        }
        if let Some(e) = resp.error {
            metrics::counter!(m::UPSTREAM_LOCK_RESOLUTIONS_TOTAL, "result" => "error").increment(1);
            tracing::warn!(region_id, start_ts, detail = %key_error(&e), "stale lock: KvResolveLock refused");
            return Ok(());
        }
        let (result, action) = if commit_version == 0 {
            ("rolled_back", "rollback")
        } else {
            ("committed", "commit")
        };
        metrics::counter!(m::UPSTREAM_LOCK_RESOLUTIONS_TOTAL, "result" => result).increment(1);
        metrics::counter!(m::UPSTREAM_LOCKS_RESOLVED_TOTAL).increment(locks.len() as u64);
        tracing::info!(
            region_id,
            start_ts,
            commit_ts = commit_version,
            action,
            locks = locks.len(),
            primary = %hex::encode(primary),
            reason = task.reason.as_str(),
            "resolved a stale lock"
        );
        Ok(())
    }

    /// The fate of transaction `start_ts` from its primary key's region leader.
    async fn check_txn(
        &mut self,
        start_ts: u64,
        primary: &[u8],
        locks: &[kvrpcpb::LockInfo],
        current: u64,
    ) -> Result<Fate, String> {
        let mut enc = Vec::with_capacity(primary.len() + primary.len() / 8 + 9);
        encode_bytes(&mut enc, primary);
        let info = self
            .pd
            .get_region(&enc)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("PD knows no region holding the primary key")?;
        let leader = info
            .leader
            .ok_or("the primary key's region has no leader")?;
        let ctx = kvrpcpb::Context {
            region_id: info.region.id,
            region_epoch: info.region.region_epoch,
            peer: Some(leader),
            ..Default::default()
        };
        let mut client = self.client(leader.store_id).await?;
        // The lock's TTL has run out by the TSO: a transaction TiKV does not know is dead.
        let ttl = locks.iter().map(|l| l.lock_ttl).max().unwrap_or(0);
        let expired = physical_ms(start_ts).saturating_add(ttl) < physical_ms(current);
        let mut rollback_if_not_exist = false;
        loop {
            let req = kvrpcpb::CheckTxnStatusRequest {
                context: Some(ctx.clone()),
                primary_key: primary.to_vec(),
                lock_ts: start_ts,
                // 0, as TiCDC's resolver passes (tiflow pkg/txnutil/lock_resolver.go,
                // `ResolveLocks(bo, 0, locks)`): a reader's start ts would push a live
                // transaction's min_commit_ts, which a CDC reader has no reason to do.
                caller_start_ts: 0,
                current_ts: current,
                rollback_if_not_exist,
                force_sync_commit: false,
                resolving_pessimistic_lock: false,
                verify_is_primary: true,
            };
            let resp = match client.kv_check_txn_status(req).await {
                Ok(r) => r.into_inner(),
                Err(s) => {
                    self.stores.remove(&leader.store_id);
                    return Err(format!("KvCheckTxnStatus: {:?}: {}", s.code(), s.message()));
                }
            };
            if let Some(e) = resp.region_error {
                return Err(format!("KvCheckTxnStatus: region error: {}", e.message));
            }
            if let Some(e) = resp.error {
                if e.txn_not_found.is_some() && expired && !rollback_if_not_exist {
                    rollback_if_not_exist = true;
                    continue;
                }
                if e.txn_not_found.is_some() {
                    // Secondaries prewritten before the primary: the transaction may be alive.
                    return Ok(Fate::Alive);
                }
                return Err(format!("KvCheckTxnStatus: {}", key_error(&e)));
            }
            return Ok(if resp.lock_ttl > 0 {
                Fate::Alive
            } else if resp.commit_version > 0 {
                Fate::Committed(resp.commit_version)
            } else {
                Fate::RolledBack
            });
        }
    }
}

/// The KV request context of `region` on its leader `store_id`.
fn context(region: &metapb::Region, store_id: u64) -> kvrpcpb::Context {
    kvrpcpb::Context {
        region_id: region.id,
        region_epoch: region.region_epoch,
        peer: Some(
            region
                .peers
                .iter()
                .find(|p| p.store_id == store_id)
                .copied()
                .unwrap_or(metapb::Peer {
                    store_id,
                    ..Default::default()
                }),
        ),
        ..Default::default()
    }
}

/// The raw form of an encoded region boundary (empty stays empty = unbounded); `None`
/// when it is not memcomparable.
fn raw_boundary(enc: &[u8]) -> Option<Vec<u8>> {
    if enc.is_empty() {
        return Some(Vec::new());
    }
    decode_bytes(&mut Reader::new(enc)).ok()
}

fn key_error(e: &kvrpcpb::KeyError) -> String {
    if let Some(l) = &e.locked {
        return format!("locked by transaction {}", l.lock_version);
    }
    if let Some(t) = &e.txn_not_found {
        return format!("transaction {} not found", t.start_ts);
    }
    if e.abort.is_empty() {
        e.retryable.clone()
    } else {
        e.abort.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(4);

    fn ts(ms: u64) -> u64 {
        ms << LOGICAL_BITS
    }

    #[test]
    fn upstream_stale_lock_detection() {
        let now = 1_700_000_010_000;
        // Initialized: by the lag of its resolved ts.
        assert_eq!(
            needs_resolve(true, Duration::ZERO, ts(now - 4_001), now, S),
            Some(Reason::Lagging)
        );
        assert_eq!(
            needs_resolve(true, Duration::from_secs(60), ts(now - 3_000), now, S),
            None
        );
        // Not initialized: by the time since its registration, whatever its ts.
        assert_eq!(
            needs_resolve(false, Duration::from_secs(3), ts(0), now, S),
            None
        );
        assert_eq!(
            needs_resolve(false, Duration::from_secs(5), ts(now), now, S),
            Some(Reason::Uninitialized)
        );
    }

    #[test]
    fn upstream_stale_lock_target_follows_ticdc() {
        let task = |resolved_ts, reason| ResolveTask {
            region: metapb::Region::default(),
            store_id: 1,
            resolved_ts,
            reason,
        };
        let resolved = ts(1_700_000_000_000) + 7;
        // Lagging 10 s: resolved ts + 4 s (its physical part), below the TSO.
        let current = ts(1_700_000_010_000) + 3;
        assert_eq!(
            target_ts(&task(resolved, Reason::Lagging), current, S),
            Some(ts(1_700_000_004_000))
        );
        // Lagging 5 s: the fence, 1 s below the TSO.
        let current = ts(1_700_000_005_000);
        assert_eq!(
            target_ts(&task(resolved, Reason::Lagging), current, S),
            Some(ts(1_700_000_004_000))
        );
        // Caught up by the time the TSO is read: nothing to do.
        let current = ts(1_700_000_003_000);
        assert_eq!(
            target_ts(&task(resolved, Reason::Lagging), current, S),
            None
        );
        // Uninitialized: every lock below the TSO.
        assert_eq!(
            target_ts(&task(resolved, Reason::Uninitialized), current, S),
            Some(current)
        );
    }

    #[test]
    fn upstream_region_boundaries_decode_to_raw_keys() {
        let mut enc = Vec::new();
        encode_bytes(&mut enc, b"t\x80\x00\x00\x00\x00\x00\x00\x68_r");
        assert_eq!(
            raw_boundary(&enc),
            Some(b"t\x80\x00\x00\x00\x00\x00\x00\x68_r".to_vec())
        );
        assert_eq!(raw_boundary(b""), Some(Vec::new()));
        assert_eq!(raw_boundary(b"\x01\x02"), None);
    }
}
