//! The emulated TiKV KV read service (`tikvpb.Tikv`: KvGet, KvScan, KvBatchGet).
//!
//! Owns snapshot reads at a ts with TiKV's region checks. Guarantees: keys are raw;
//! a request for a region not led by this store, with a stale epoch, or for a key
//! outside the region gets a region error; a Put/Delete lock visible at the read
//! ts is answered with `KeyError.locked` (per key for scans and batch gets).

use tonic::{Request, Response, Status};

use crate::cluster::Cluster;
use crate::mvcc::{LockKind, Locked};
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
    let lock_type = match l.lock.kind {
        LockKind::Put => Op::Put,
        LockKind::Delete => Op::Del,
        LockKind::Lock => Op::Lock,
        LockKind::Pessimistic => Op::PessimisticLock,
    };
    kvrpcpb::KeyError {
        locked: Some(kvrpcpb::LockInfo {
            primary_lock: l.lock.primary.clone(),
            lock_version: l.lock.start_ts,
            key: l.key.clone(),
            lock_ttl: l.lock.ttl,
            txn_size: 1,
            lock_type: lock_type as i32,
            lock_for_update_ts: l.lock.for_update_ts,
            use_async_commit: l.lock.async_commit,
            min_commit_ts: l.lock.min_commit_ts,
            secondaries: Vec::new(),
            duration_to_last_update_ms: 0,
        }),
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
}
