//! The emulated TiKV KV service (`tikvpb.Tikv`): snapshot reads (KvGet, KvScan,
//! KvBatchGet) and lock resolution (KvScanLock, KvCheckTxnStatus, KvResolveLock).
//!
//! Owns the RPC side: TiKV's region checks, then the model (`cluster`) does the work.
//! Guarantees: keys are raw; a request for a region not led by this store, with a stale
//! epoch, or for a key outside the region gets a region error; a Put/Delete lock visible
//! at the read ts is answered with `KeyError.locked` (per key for scans and batch gets);
//! a lock scan and a resolve stay inside the request's region; a transaction missing on
//! its primary is `KeyError.txn_not_found`.

use tonic::{Request, Response, Status};

use crate::cluster::{CheckTxnError, Cluster, TxnAction};
use crate::mvcc::{Lock, LockKind, Locked};
use crate::proto::tikvpb::tikv_server::Tikv;
use crate::topology::Region;
use tidb_changefeed::proto::errorpb;
use tidb_changefeed::proto::kvrpcpb::{self, Op};

/// KV service of one store.
#[derive(Debug, Clone)]
pub struct KvService {
    cluster: Cluster,
    store: u64,
}

impl KvService {
    /// The KV service of `store`.
    #[must_use]
    pub fn new(cluster: Cluster, store: u64) -> Self {
        Self { cluster, store }
    }

    fn region(&self, ctx: Option<&kvrpcpb::Context>) -> Result<Region, Box<errorpb::Error>> {
        let ctx = ctx.cloned().unwrap_or_default();
        self.cluster
            .lock()
            .kv_region(self.store, ctx.region_id, ctx.region_epoch.as_ref())
    }
}

fn key_not_in_region(key: &[u8], r: &Region) -> errorpb::Error {
    errorpb::Error {
        message: "key not in region".into(),
        key_not_in_region: Some(errorpb::KeyNotInRegion {
            key: key.to_vec(),
            region_id: r.id,
            start_key: r.enc_start(),
            end_key: r.enc_end(),
        }),
        ..Default::default()
    }
}

/// `KeyError.locked` for a lock blocking a read.
#[must_use]
pub fn locked_error(l: &Locked) -> kvrpcpb::KeyError {
    kvrpcpb::KeyError {
        locked: Some(lock_info(&l.key, &l.lock)),
        ..Default::default()
    }
}

/// kvproto's `LockInfo` of the lock on raw `key`.
#[must_use]
pub fn lock_info(key: &[u8], lock: &Lock) -> kvrpcpb::LockInfo {
    let lock_type = match lock.kind {
        LockKind::Put => Op::Put,
        LockKind::Delete => Op::Del,
        LockKind::Lock => Op::Lock,
        LockKind::Pessimistic => Op::PessimisticLock,
    };
    kvrpcpb::LockInfo {
        primary_lock: lock.primary.clone(),
        lock_version: lock.start_ts,
        key: key.to_vec(),
        lock_ttl: lock.ttl,
        txn_size: 1,
        lock_type: lock_type as i32,
        lock_for_update_ts: lock.for_update_ts,
        use_async_commit: lock.async_commit,
        min_commit_ts: lock.min_commit_ts,
        secondaries: Vec::new(),
        duration_to_last_update_ms: 0,
    }
}

fn action(a: TxnAction) -> kvrpcpb::Action {
    match a {
        TxnAction::NoAction => kvrpcpb::Action::NoAction,
        TxnAction::TtlExpireRollback => kvrpcpb::Action::TtlExpireRollback,
        TxnAction::LockNotExistRollback => kvrpcpb::Action::LockNotExistRollback,
        TxnAction::MinCommitTsPushed => kvrpcpb::Action::MinCommitTsPushed,
        TxnAction::TtlExpirePessimisticRollback => kvrpcpb::Action::TtlExpirePessimisticRollback,
    }
}

fn abort(e: &dyn std::fmt::Display) -> kvrpcpb::KeyError {
    kvrpcpb::KeyError {
        abort: e.to_string(),
        ..Default::default()
    }
}

#[tonic::async_trait]
impl Tikv for KvService {
    async fn kv_get(
        &self,
        req: Request<kvrpcpb::GetRequest>,
    ) -> Result<Response<kvrpcpb::GetResponse>, Status> {
        let req = req.into_inner();
        let mut resp = kvrpcpb::GetResponse::default();
        let region = match self.region(req.context.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                resp.region_error = Some(*e);
                return Ok(Response::new(resp));
            }
        };
        if !region.contains(&req.key) {
            resp.region_error = Some(key_not_in_region(&req.key, &region));
            return Ok(Response::new(resp));
        }
        match self.cluster.lock().read(&req.key, req.version) {
            Ok(Some((v, c))) => {
                resp.value = v;
                resp.commit_ts = if req.need_commit_ts { c } else { 0 };
            }
            Ok(None) => resp.not_found = true,
            Err(l) => resp.error = Some(locked_error(&l)),
        }
        Ok(Response::new(resp))
    }

    async fn kv_scan(
        &self,
        req: Request<kvrpcpb::ScanRequest>,
    ) -> Result<Response<kvrpcpb::ScanResponse>, Status> {
        let req = req.into_inner();
        let mut resp = kvrpcpb::ScanResponse::default();
        let region = match self.region(req.context.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                resp.region_error = Some(*e);
                return Ok(Response::new(resp));
            }
        };
        let Some((start, end)) = crate::keyspace::intersect(
            (&req.start_key, &req.end_key),
            (&region.start, &region.end),
        ) else {
            return Ok(Response::new(resp));
        };
        let limit = if req.limit == 0 {
            usize::MAX
        } else {
            usize::try_from(req.limit).unwrap_or(usize::MAX)
        };
        let mut m = self.cluster.lock();
        m.max_ts = m.max_ts.max(req.version);
        let keys: Vec<Vec<u8>> = m.mvcc.range(&start, &end).map(|(k, _)| k.clone()).collect();
        let ordered: Box<dyn Iterator<Item = Vec<u8>>> = if req.reverse {
            Box::new(keys.into_iter().rev())
        } else {
            Box::new(keys.into_iter())
        };
        for k in ordered {
            if resp.pairs.len() >= limit {
                break;
            }
            match m.mvcc.read(&k, req.version) {
                Ok(Some((v, c))) => resp.pairs.push(kvrpcpb::KvPair {
                    error: None,
                    key: k,
                    value: if req.key_only { Vec::new() } else { v },
                    commit_ts: c,
                }),
                Ok(None) => {}
                Err(l) => resp.pairs.push(kvrpcpb::KvPair {
                    error: Some(locked_error(&l)),
                    key: k,
                    value: Vec::new(),
                    commit_ts: 0,
                }),
            }
        }
        Ok(Response::new(resp))
    }

    async fn kv_batch_get(
        &self,
        req: Request<kvrpcpb::BatchGetRequest>,
    ) -> Result<Response<kvrpcpb::BatchGetResponse>, Status> {
        let req = req.into_inner();
        let mut resp = kvrpcpb::BatchGetResponse::default();
        let region = match self.region(req.context.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                resp.region_error = Some(*e);
                return Ok(Response::new(resp));
            }
        };
        if let Some(k) = req.keys.iter().find(|k| !region.contains(k)) {
            resp.region_error = Some(key_not_in_region(k, &region));
            return Ok(Response::new(resp));
        }
        let mut m = self.cluster.lock();
        for k in &req.keys {
            match m.read(k, req.version) {
                Ok(Some((v, c))) => resp.pairs.push(kvrpcpb::KvPair {
                    error: None,
                    key: k.clone(),
                    value: v,
                    commit_ts: if req.need_commit_ts { c } else { 0 },
                }),
                Ok(None) => {}
                Err(l) => resp.pairs.push(kvrpcpb::KvPair {
                    error: Some(locked_error(&l)),
                    key: k.clone(),
                    value: Vec::new(),
                    commit_ts: 0,
                }),
            }
        }
        Ok(Response::new(resp))
    }

    async fn kv_scan_lock(
        &self,
        req: Request<kvrpcpb::ScanLockRequest>,
    ) -> Result<Response<kvrpcpb::ScanLockResponse>, Status> {
        let req = req.into_inner();
        let mut resp = kvrpcpb::ScanLockResponse::default();
        let region = match self.region(req.context.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                resp.region_error = Some(*e);
                return Ok(Response::new(resp));
            }
        };
        let Some((start, end)) = crate::keyspace::intersect(
            (&req.start_key, &req.end_key),
            (&region.start, &region.end),
        ) else {
            return Ok(Response::new(resp));
        };
        let limit = usize::try_from(req.limit).unwrap_or(usize::MAX);
        let m = self.cluster.lock();
        resp.locks = m
            .scan_locks(&start, &end, req.max_version, limit)
            .iter()
            .map(|(k, l)| lock_info(k, l))
            .collect();
        Ok(Response::new(resp))
    }

    async fn kv_check_txn_status(
        &self,
        req: Request<kvrpcpb::CheckTxnStatusRequest>,
    ) -> Result<Response<kvrpcpb::CheckTxnStatusResponse>, Status> {
        let req = req.into_inner();
        let mut resp = kvrpcpb::CheckTxnStatusResponse::default();
        let region = match self.region(req.context.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                resp.region_error = Some(*e);
                return Ok(Response::new(resp));
            }
        };
        if !region.contains(&req.primary_key) {
            resp.region_error = Some(key_not_in_region(&req.primary_key, &region));
            return Ok(Response::new(resp));
        }
        let status = self.cluster.lock().check_txn_status(
            &req.primary_key,
            req.lock_ts,
            req.caller_start_ts,
            req.current_ts,
            req.rollback_if_not_exist,
        );
        match status {
            Ok(st) => {
                resp.lock_ttl = st.lock_ttl;
                resp.commit_version = st.commit_ts;
                resp.action = action(st.action) as i32;
                resp.lock_info = st.lock.map(|l| lock_info(&req.primary_key, &l));
            }
            Err(CheckTxnError::TxnNotFound { start_ts, .. }) => {
                resp.error = Some(kvrpcpb::KeyError {
                    txn_not_found: Some(kvrpcpb::TxnNotFound {
                        start_ts,
                        primary_key: req.primary_key.clone(),
                    }),
                    ..Default::default()
                });
            }
            Err(e @ CheckTxnError::Txn(_)) => resp.error = Some(abort(&e)),
        }
        Ok(Response::new(resp))
    }

    async fn kv_resolve_lock(
        &self,
        req: Request<kvrpcpb::ResolveLockRequest>,
    ) -> Result<Response<kvrpcpb::ResolveLockResponse>, Status> {
        let req = req.into_inner();
        let mut resp = kvrpcpb::ResolveLockResponse::default();
        let region = match self.region(req.context.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                resp.region_error = Some(*e);
                return Ok(Response::new(resp));
            }
        };
        if let Some(k) = req.keys.iter().find(|k| !region.contains(k)) {
            resp.region_error = Some(key_not_in_region(k, &region));
            return Ok(Response::new(resp));
        }
        if !req.txn_infos.is_empty() {
            return Err(Status::unimplemented(
                "the emulator resolves one transaction per request (start_version)",
            ));
        }
        let r = self.cluster.lock().resolve_lock(
            &region.start,
            &region.end,
            req.start_version,
            req.commit_version,
            &req.keys,
        );
        if let Err(e) = r {
            resp.error = Some(abort(&e));
        }
        Ok(Response::new(resp))
    }
}
