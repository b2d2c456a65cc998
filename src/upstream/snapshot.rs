//! TiDB's schema as of a ts, read from its meta keys through TiKV's KV API.
//!
//! Owns the snapshot read TiCDC does with `GetSnapshotMeta(storage, ts)`: every database
//! (`DBs` hash: field `DB:<id>` → DBInfo JSON) and every table (`DB:<id>` hash: fields
//! `Table:<id>` → TableInfo JSON, partitions included in it) visible at `ts`. Only the hash
//! ranges of those keys are scanned (`m` + EncodeBytes(key) + EncodeUint('h')), never schema
//! diffs or auto-id counters of other keys. The result is the plain-data
//! [`MetaSnapshot`] of [`crate::model`], which schema tracking builds its store from; the
//! reader's failures are [`SnapshotError`].
//!
//! Guarantees:
//! * regions are located through PD; each `KvScan` stays inside one region and names its id,
//!   epoch and leader; a region error (stale epoch, leader moved, region gone, busy) re-locates
//!   from where the scan stopped, with bounded backoff and attempts;
//! * a key locked by an in-flight transaction (a DDL committing) is waited out with bounded
//!   backoff and re-read; a lock that does not clear within [`SnapshotOptions::lock_wait`]
//!   fails with [`SnapshotError::Locked`] naming the key and the lock;
//! * a value that is not TiDB's JSON fails with [`SnapshotError::Corrupt`] naming its key.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tonic::transport::Channel;

use super::error::UpstreamError;
use super::pd::{PdClient, RegionInfo};
use crate::model::{DbInfo, MetaSnapshot, SnapshotTable, TableInfo};
use crate::mount::Reader;
use crate::mount::bytes::{decode_bytes, encode_bytes};
use crate::mount::key::{META_PREFIX, decode_meta_key, meta_type};
use crate::mount::number::encode_uint;
use crate::proto::kvrpcpb;
use crate::proto::tikvpb::tikv_client::TikvClient;

/// Reading TiDB's meta keys at a ts failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SnapshotError {
    /// PD could not be reached or answered badly.
    #[error("meta snapshot: {0}")]
    Upstream(#[from] UpstreamError),
    /// A TiKV store's KV service failed (connection or RPC).
    #[error(
        "meta snapshot: TiKV store {store_id} at {address}: {detail}; check that the store is up and reachable from this host"
    )]
    Store {
        store_id: u64,
        address: String,
        detail: String,
    },
    /// A meta key stayed locked for the whole wait.
    #[error(
        "meta snapshot at ts {ts}: key {key} ({what}) is still locked after {waited_ms} ms by the transaction \
         started at {lock_version} (primary {primary}, lock ttl {lock_ttl} ms); a DDL is in flight or its \
         TiDB died mid-commit: retry once the DDL finishes (TiDB resolves abandoned locks after their ttl), \
         or start the changefeed at another ts"
    )]
    Locked {
        ts: u64,
        key: String,
        what: String,
        primary: String,
        lock_version: u64,
        lock_ttl: u64,
        waited_ms: u64,
    },
    /// Region errors kept the read from making progress.
    #[error(
        "meta snapshot: the region holding key {key} could not be read after {attempts} attempts (last: {last}); \
         PD's region routing may be stale or the cluster is rebalancing: retry"
    )]
    RegionUnresolved {
        key: String,
        attempts: u32,
        last: String,
    },
    /// TiKV refused the read for a reason other than a lock or a region error.
    #[error("meta snapshot at ts {ts}: TiKV refused key {key}: {detail}")]
    KeyError {
        ts: u64,
        key: String,
        detail: String,
    },
    /// A meta value is not what TiDB writes.
    #[error(
        "meta snapshot: {what} is not valid {model} JSON: {reason}; the cluster's TiDB version may be unsupported"
    )]
    Corrupt {
        what: String,
        model: &'static str,
        reason: String,
    },
}

impl SnapshotError {
    /// Whether retrying the snapshot later can succeed (every case but corrupt meta data).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, SnapshotError::Corrupt { .. })
    }
}

/// Bounds of a snapshot read.
#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    /// How long a locked key is waited for before giving up.
    pub lock_wait: Duration,
    /// Region errors tolerated in a row before giving up.
    pub max_region_attempts: u32,
    /// Keys per `KvScan`.
    pub scan_batch: u32,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions {
            lock_wait: Duration::from_secs(30),
            max_region_attempts: 20,
            scan_batch: 256,
        }
    }
}

const BACKOFF_START: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// Reads every database and table visible at `ts`.
pub async fn read_meta(
    pd: &PdClient,
    ts: u64,
    opts: &SnapshotOptions,
) -> Result<MetaSnapshot, SnapshotError> {
    let mut r = KvReader {
        pd: pd.clone(),
        stores: HashMap::new(),
        ts,
        opts: opts.clone(),
    };
    let mut databases = Vec::new();
    for (key, value) in r.scan_hash(b"DBs").await? {
        let Some(id) = field_id(&key, "DB:") else {
            continue;
        };
        let db = DbInfo::from_json(&value).map_err(|e| SnapshotError::Corrupt {
            what: format!("meta DBs/DB:{id}"),
            model: "DBInfo",
            reason: e.to_string(),
        })?;
        databases.push(db);
    }
    databases.sort_by_key(|d| d.id);
    let mut tables = Vec::new();
    for db in &databases {
        let hash = format!("DB:{}", db.id);
        for (key, value) in r.scan_hash(hash.as_bytes()).await? {
            let Some(tid) = field_id(&key, "Table:") else {
                continue;
            };
            let info = TableInfo::from_json(&value).map_err(|e| SnapshotError::Corrupt {
                what: format!("meta {hash}/Table:{tid} (database {})", db.name.o),
                model: "TableInfo",
                reason: e.to_string(),
            })?;
            tables.push(SnapshotTable {
                schema_id: db.id,
                info,
            });
        }
    }
    tables.sort_by_key(|t| (t.schema_id, t.info.id));
    tracing::info!(
        ts,
        databases = databases.len(),
        tables = tables.len(),
        "read the schema snapshot from TiKV meta keys"
    );
    Ok(MetaSnapshot {
        ts,
        databases,
        tables,
    })
}

/// The id in hash field `<prefix><id>` of a meta hash-data key.
fn field_id(key: &[u8], prefix: &str) -> Option<i64> {
    let m = decode_meta_key(key).ok()?;
    if m.kind != meta_type::HASH_DATA {
        return None;
    }
    std::str::from_utf8(&m.field)
        .ok()?
        .strip_prefix(prefix)?
        .parse()
        .ok()
}

/// Raw key range `[start, end)` of every field of hash `key`.
pub fn hash_range(key: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut start = vec![META_PREFIX];
    encode_bytes(&mut start, key);
    encode_uint(&mut start, u64::from(meta_type::HASH_DATA));
    let mut end = start.clone();
    // The prefix ends with EncodeUint('h') = ..00 68: incrementing its last byte is exact.
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    (start, end)
}

/// Describes a raw meta key for messages: `DB:2/Table:104` or hex.
fn describe(key: &[u8]) -> String {
    match decode_meta_key(key) {
        Ok(m) if m.kind == meta_type::HASH_DATA => format!(
            "meta {}/{}",
            String::from_utf8_lossy(&m.key),
            String::from_utf8_lossy(&m.field)
        ),
        Ok(m) => format!("meta {}", String::from_utf8_lossy(&m.key)),
        Err(_) => "not a meta key".into(),
    }
}

struct KvReader {
    pd: PdClient,
    stores: HashMap<u64, (String, TikvClient<Channel>)>,
    ts: u64,
    opts: SnapshotOptions,
}

/// A wait in progress on one lock.
struct LockWait {
    key: Vec<u8>,
    lock_version: u64,
    since: Instant,
}

fn encode(raw: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(raw.len() + raw.len() / 8 + 9);
    encode_bytes(&mut e, raw);
    e
}

/// Raw form of an encoded region boundary; `None` = unbounded.
fn decode_boundary(enc: &[u8]) -> Option<Vec<u8>> {
    if enc.is_empty() {
        return None;
    }
    decode_bytes(&mut Reader::new(enc)).ok()
}

impl KvReader {
    async fn scan_hash(&mut self, key: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, SnapshotError> {
        let (start, end) = hash_range(key);
        self.scan(&start, &end).await
    }

    async fn client(
        &mut self,
        store_id: u64,
    ) -> Result<(String, TikvClient<Channel>), SnapshotError> {
        if let Some(c) = self.stores.get(&store_id) {
            return Ok(c.clone());
        }
        let store = self.pd.get_store(store_id).await?;
        let conn = self.pd.connect_options();
        let url = conn.url(&store.address);
        let err = |detail: String| SnapshotError::Store {
            store_id,
            address: store.address.clone(),
            detail,
        };
        // The same TLS settings as PD's (`[upstream.tls]`).
        let ch = conn.channel(&url, Some(RPC_TIMEOUT)).await.map_err(err)?;
        let c = (store.address.clone(), TikvClient::new(ch));
        self.stores.insert(store_id, c.clone());
        Ok(c)
    }

    /// The region holding raw key `at` and its leader.
    async fn locate(&mut self, at: &[u8], end: &[u8]) -> Result<RegionInfo, String> {
        let enc = encode(at);
        let regions = self
            .pd
            .scan_regions(&enc, &encode(end))
            .await
            .map_err(|e| e.to_string())?;
        regions
            .into_iter()
            .find(|r| {
                r.region.start_key.as_slice() <= enc.as_slice()
                    && (r.region.end_key.is_empty() || enc < r.region.end_key)
            })
            .ok_or_else(|| "PD knows no region holding the key".to_owned())
    }

    /// Every visible `(key, value)` in raw range `[start, end)`, in key order.
    async fn scan(
        &mut self,
        start: &[u8],
        end: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, SnapshotError> {
        let mut out = Vec::new();
        let mut cursor = start.to_vec();
        let mut failures = 0u32;
        let mut backoff = BACKOFF_START;
        let mut waiting: Option<LockWait> = None;
        while cursor.as_slice() < end {
            let outcome = self.scan_once(&cursor, end, &mut out).await?;
            match outcome {
                Step::Advanced(next) => {
                    failures = 0;
                    backoff = BACKOFF_START;
                    waiting = None;
                    match next {
                        Some(n) => cursor = n,
                        None => break,
                    }
                }
                Step::Retry(last) => {
                    failures += 1;
                    if failures > self.opts.max_region_attempts {
                        return Err(SnapshotError::RegionUnresolved {
                            key: hex::encode(&cursor),
                            attempts: failures,
                            last,
                        });
                    }
                    tracing::debug!(key = %hex::encode(&cursor), detail = %last, "meta snapshot: retrying region");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
                Step::Locked { key, lock } => {
                    let w = match waiting.take() {
                        Some(w) if w.key == key && w.lock_version == lock.lock_version => w,
                        _ => {
                            tracing::info!(key = %describe(&key), lock_version = lock.lock_version,
                                "meta snapshot: key locked by an in-flight transaction; waiting");
                            LockWait {
                                key: key.clone(),
                                lock_version: lock.lock_version,
                                since: Instant::now(),
                            }
                        }
                    };
                    let waited = w.since.elapsed();
                    if waited >= self.opts.lock_wait {
                        return Err(SnapshotError::Locked {
                            ts: self.ts,
                            key: hex::encode(&key),
                            what: describe(&key),
                            primary: hex::encode(&lock.primary_lock),
                            lock_version: lock.lock_version,
                            lock_ttl: lock.lock_ttl,
                            waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                        });
                    }
                    waiting = Some(w);
                    // Keys before the locked one are read; resume at the locked key.
                    cursor = key;
                    let left = self.opts.lock_wait.saturating_sub(waited);
                    tokio::time::sleep(backoff.min(left)).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        Ok(out)
    }

    /// One `KvScan` from `cursor` within its region; pushes visible pairs to `out`.
    async fn scan_once(
        &mut self,
        cursor: &[u8],
        end: &[u8],
        out: &mut Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Step, SnapshotError> {
        let region = match self.locate(cursor, end).await {
            Ok(r) => r,
            Err(e) => return Ok(Step::Retry(e)),
        };
        let Some(leader) = region.leader else {
            return Ok(Step::Retry(format!("region {} has no leader", region.id())));
        };
        let region_end = decode_boundary(&region.region.end_key);
        let scan_end: Vec<u8> = match &region_end {
            Some(e) if e.as_slice() < end => e.clone(),
            _ => end.to_vec(),
        };
        let (address, mut client) = match self.client(leader.store_id).await {
            Ok(c) => c,
            Err(e) => return Ok(Step::Retry(e.to_string())),
        };
        let req = kvrpcpb::ScanRequest {
            context: Some(kvrpcpb::Context {
                region_id: region.id(),
                region_epoch: region.region.region_epoch,
                peer: Some(leader),
                ..Default::default()
            }),
            start_key: cursor.to_vec(),
            end_key: scan_end.clone(),
            limit: self.opts.scan_batch,
            version: self.ts,
            key_only: false,
            reverse: false,
            sample_step: 0,
        };
        let resp = match client.kv_scan(req).await {
            Ok(r) => r.into_inner(),
            Err(s) => {
                self.stores.remove(&leader.store_id);
                return Ok(Step::Retry(format!(
                    "store {} at {address}: {:?}: {}",
                    leader.store_id,
                    s.code(),
                    s.message()
                )));
            }
        };
        if let Some(e) = resp.region_error {
            if e.not_leader.is_some() || e.store_not_match.is_some() {
                self.stores.remove(&leader.store_id);
            }
            return Ok(Step::Retry(format!(
                "region {}: {}",
                region.id(),
                e.message
            )));
        }
        if let Some(e) = resp.error {
            return self.key_error(cursor, e);
        }
        let full = resp.pairs.len() >= self.opts.scan_batch as usize;
        let mut last: Option<Vec<u8>> = None;
        for p in resp.pairs {
            if let Some(e) = p.error {
                return self.key_error(&p.key, e);
            }
            last = Some(p.key.clone());
            out.push((p.key, p.value));
        }
        Ok(Step::Advanced(match (full, last) {
            (true, Some(mut k)) => {
                k.push(0);
                Some(k)
            }
            _ if scan_end.as_slice() < end => Some(scan_end),
            _ => None,
        }))
    }

    fn key_error(&self, key: &[u8], e: kvrpcpb::KeyError) -> Result<Step, SnapshotError> {
        match e.locked {
            Some(lock) => Ok(Step::Locked {
                key: if lock.key.is_empty() {
                    key.to_vec()
                } else {
                    lock.key.clone()
                },
                lock,
            }),
            None => Err(SnapshotError::KeyError {
                ts: self.ts,
                key: format!("{} ({})", hex::encode(key), describe(key)),
                detail: if e.abort.is_empty() {
                    e.retryable
                } else {
                    e.abort
                },
            }),
        }
    }
}

enum Step {
    /// Read up to here: next cursor, or `None` when the range is done.
    Advanced(Option<Vec<u8>>),
    /// Region error or unreachable store: re-locate and retry.
    Retry(String),
    /// A key is locked.
    Locked {
        key: Vec<u8>,
        lock: kvrpcpb::LockInfo,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mount::key::encode_meta_key;

    #[test]
    fn hash_range_holds_exactly_the_hash_fields() {
        let (s, e) = hash_range(b"DB:1");
        let inside = encode_meta_key(b"DB:1", meta_type::HASH_DATA, b"Table:104");
        let other_db = encode_meta_key(b"DB:10", meta_type::HASH_DATA, b"Table:104");
        let meta = encode_meta_key(b"DB:1", meta_type::HASH_META, b"");
        assert!(s <= inside && inside < e);
        assert!(!(s <= other_db && other_db < e));
        assert!(!(s <= meta && meta < e));
        assert_eq!(field_id(&inside, "Table:"), Some(104));
        assert_eq!(field_id(&inside, "DB:"), None);
        assert_eq!(describe(&inside), "meta DB:1/Table:104");
    }
}
