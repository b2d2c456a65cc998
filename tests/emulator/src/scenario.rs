//! Scenario files: a human-writable TOML description of an emulated cluster
//! (stores, regions, initial data) and a timeline of transactions, admin
//! operations and faults. The format is documented in `tests/scenarios/README.md`.
//!
//! Owns parsing and validation only (no I/O besides reading the file). Guarantees:
//! unknown keys are rejected; keys and values are hex of raw TiDB bytes; a bad file
//! yields a [`ScenarioError`] naming the file and the TOML path.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::topology::{Region, StoreInfo, Topology};

/// Errors while loading a scenario.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// File could not be read.
    #[error("cannot read scenario {path}: {source}")]
    Read {
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// TOML syntax or schema error.
    #[error("invalid scenario {path}: {message}")]
    Parse {
        /// File.
        path: String,
        /// Location and reason.
        message: String,
    },
    /// Semantically invalid (bad hex, overlapping regions, unknown store…).
    #[error("invalid scenario {path}: {message}")]
    Invalid {
        /// File.
        path: String,
        /// Reason.
        message: String,
    },
}

/// Hex-encoded raw bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HexBytes(pub Vec<u8>);

impl TryFrom<String> for HexBytes {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        hex::decode(&clean)
            .map(HexBytes)
            .map_err(|e| format!("invalid hex {s:?}: {e}"))
    }
}

/// Whole-cluster settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// Cluster id (PD header, TiKV validation).
    #[serde(default = "default_cluster_id")]
    pub cluster_id: u64,
    /// Resolved-ts tick interval in ms; 0 = only `tick` steps.
    #[serde(default = "default_tick")]
    pub tick_interval_ms: u64,
}

fn default_cluster_id() -> u64 {
    7_000_000_000_000_000_001
}
fn default_tick() -> u64 {
    1000
}
fn default_version() -> String {
    "8.5.0".into()
}
fn yes() -> bool {
    true
}

impl Default for ClusterSection {
    fn default() -> Self {
        Self {
            cluster_id: default_cluster_id(),
            tick_interval_ms: default_tick(),
        }
    }
}

/// One store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSpec {
    /// Store id.
    pub id: u64,
    /// Reported version.
    #[serde(default = "default_version")]
    pub version: String,
    /// TiFlash store (label `engine=tiflash`, no CDC service).
    #[serde(default)]
    pub tiflash: bool,
    /// Serves `EventFeedV2` (false = old TiKV answering UNIMPLEMENTED).
    #[serde(default = "yes")]
    pub eventfeed_v2: bool,
}

/// One region.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    /// Region id.
    pub id: u64,
    /// Raw start key (hex, empty = -inf).
    #[serde(default)]
    pub start: HexBytes,
    /// Raw end key (hex, empty = +inf).
    #[serde(default)]
    pub end: HexBytes,
    /// Voter stores; the first is the leader unless `leader` says otherwise.
    pub peers: Vec<u64>,
    /// Learner stores (e.g. TiFlash).
    #[serde(default)]
    pub learners: Vec<u64>,
    /// Leader store.
    #[serde(default)]
    pub leader: Option<u64>,
    /// Initial epoch version.
    #[serde(default = "one")]
    pub version: u64,
    /// Initial epoch conf_ver.
    #[serde(default = "one")]
    pub conf_ver: u64,
}

fn one() -> u64 {
    1
}

/// One row change: a put (`value`), a delete (`delete = true`) or a lock-only
/// mutation (`lock = true`). The key/value are either raw hex (`key`, `value`) or
/// typed (`table` + `values` by column name, `handle` for `_tidb_rowid` tables),
/// encoded as TiDB would.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowSpec {
    /// Raw key (hex).
    #[serde(default)]
    pub key: Option<HexBytes>,
    /// Table id of a typed row.
    #[serde(default)]
    pub table: Option<i64>,
    /// Typed column values by column name (for deletes: at least the key columns).
    #[serde(default)]
    pub values: Option<BTreeMap<String, toml::Value>>,
    /// `_tidb_rowid` of a typed row of a table without a clustered primary key.
    #[serde(default)]
    pub handle: Option<i64>,
    /// Raw value (hex) for a put.
    #[serde(default)]
    pub value: Option<HexBytes>,
    /// Delete the key.
    #[serde(default)]
    pub delete: bool,
    /// Lock the key without changing it.
    #[serde(default)]
    pub lock: bool,
}

/// Which error subscribers get for a split/merge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeSpec {
    /// `epoch_not_match`.
    #[default]
    EpochNotMatch,
    /// `region_not_found`.
    RegionNotFound,
}

/// How far an abandoned transaction got before its coordinator died.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbandonSpec {
    /// Prewritten, never committed: its locks expire after their TTL.
    #[default]
    Prewrite,
    /// The primary key committed, the secondaries not.
    PrimaryCommit,
}

/// One timeline step.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Pause the timeline.
    Sleep {
        /// Milliseconds.
        ms: u64,
    },
    /// Wait until at least `count` EventFeed subscriptions exist.
    WaitSubscriptions {
        /// Subscriptions to wait for.
        count: usize,
        /// Give up after this many ms (error).
        #[serde(default = "default_wait")]
        timeout_ms: u64,
    },
    /// One resolved-ts round now.
    Tick,
    /// Commit rows in one phase (COMMITTED events only).
    OnePc {
        /// Rows.
        rows: Vec<RowSpec>,
        /// `txn_source`.
        #[serde(default)]
        txn_source: u64,
    },
    /// Start a named transaction (allocates its start ts).
    Begin {
        /// Name used by later steps.
        txn: String,
    },
    /// Acquire pessimistic locks (no events).
    PessimisticLock {
        /// Transaction name.
        txn: String,
        /// Keys (hex).
        keys: Vec<HexBytes>,
    },
    /// Prewrite rows of a named transaction (any subset, any order).
    Prewrite {
        /// Transaction name.
        txn: String,
        /// Rows.
        rows: Vec<RowSpec>,
        /// Primary key (defaults to the first row's key of the first prewrite).
        #[serde(default)]
        primary: Option<HexBytes>,
        /// Use async commit.
        #[serde(default)]
        async_commit: bool,
        /// `txn_source`.
        #[serde(default)]
        txn_source: u64,
        /// Lock TTL in ms (0 = TiDB's default, 3000).
        #[serde(default)]
        ttl_ms: u64,
    },
    /// The transaction's coordinator (its TiDB) dies: the runner forgets it and nothing
    /// more is done for it; with `after = "primary_commit"` its primary key is committed
    /// first, so its secondaries stay locked although the transaction committed.
    Abandon {
        /// Transaction name.
        txn: String,
        /// How far the commit got.
        #[serde(default)]
        after: AbandonSpec,
    },
    /// Commit keys (default: all prewritten keys not yet committed) of a
    /// transaction; its commit ts is allocated at its first commit step.
    Commit {
        /// Transaction name.
        txn: String,
        /// Keys (hex); empty = all remaining.
        #[serde(default)]
        keys: Vec<HexBytes>,
    },
    /// Roll back keys (default: all remaining) of a transaction.
    Rollback {
        /// Transaction name.
        txn: String,
        /// Keys (hex).
        #[serde(default)]
        keys: Vec<HexBytes>,
    },
    /// Commit an async-commit transaction as a lock resolver would.
    ResolveAsyncCommit {
        /// Transaction name.
        txn: String,
    },
    /// Rewrite a lock (heartbeat / min_commit_ts push).
    RewriteLock {
        /// Key (hex).
        key: HexBytes,
    },
    /// Split a region at a raw key.
    Split {
        /// Region id.
        region: u64,
        /// Raw split key (hex).
        key: HexBytes,
        /// Error sent to subscribers.
        #[serde(default)]
        notice: NoticeSpec,
    },
    /// Merge `source` into adjacent `target`.
    Merge {
        /// Source region.
        source: u64,
        /// Target region.
        target: u64,
        /// Error sent to the source's subscribers.
        #[serde(default)]
        notice: NoticeSpec,
    },
    /// Move a region's leader.
    TransferLeader {
        /// Region id.
        region: u64,
        /// New leader store.
        store: u64,
        /// Include the new leader in `not_leader`.
        #[serde(default = "yes")]
        hint: bool,
    },
    /// Add a peer (conf change).
    AddPeer {
        /// Region.
        region: u64,
        /// Store.
        store: u64,
        /// As learner.
        #[serde(default)]
        learner: bool,
    },
    /// Remove a peer (conf change).
    RemovePeer {
        /// Region.
        region: u64,
        /// Store.
        store: u64,
    },
    /// Crash a store (streams broken, connections refused).
    StopStore {
        /// Store.
        store: u64,
    },
    /// Restart a stopped store on the same address.
    StartStore {
        /// Store.
        store: u64,
    },
    /// Remove a store from the cluster for good: it stops, and PD reports it a tombstone
    /// (its regions keep naming it the leader until moved).
    RemoveStore {
        /// Store.
        store: u64,
    },
    /// Hide a region from PD's answers (a hole in its region scans), or show it again.
    HideRegion {
        /// Region.
        region: u64,
        /// Hide (true) or show (false).
        #[serde(default = "yes")]
        hidden: bool,
    },
    /// Stop every PD member: connections refused, TiKV's resolved ts stand still.
    StopPd,
    /// Restart the PD members on their addresses.
    StartPd,
    /// Answer the next registrations on a store with `server_is_busy`.
    ServerIsBusy {
        /// Store.
        store: u64,
        /// How many registrations.
        #[serde(default = "one_u32")]
        count: u32,
        /// `backoff_ms` to report.
        #[serde(default)]
        backoff_ms: u64,
    },
    /// Fail a region's subscriptions with `congested`.
    Congested {
        /// Region.
        region: u64,
    },
    /// Hold the incremental scans of a region.
    HoldScan {
        /// Region.
        region: u64,
    },
    /// Release held scans of a region.
    ReleaseScan {
        /// Region.
        region: u64,
    },
    /// Suspend/resume resolved ts of a store.
    StallResolvedTs {
        /// Store.
        store: u64,
        /// Suspend (true) or resume (false).
        #[serde(default = "yes")]
        stalled: bool,
    },
    /// Set a service GC safe point (as a client would through PD).
    ServiceSafePoint {
        /// Service id.
        service: String,
        /// TTL seconds (≤ 0 deletes).
        ttl: i64,
        /// Safe point; absent = current TSO.
        #[serde(default)]
        safe_point: Option<u64>,
    },
    /// Apply a finished DDL job as TiDB does: in one transaction update the table's
    /// meta key (or delete it for a drop), bump `SchemaVersionKey` and write the job
    /// row (state done) into `mysql.tidb_ddl_job`; then delete the job row.
    Ddl {
        /// Job id.
        job_id: i64,
        /// Database id.
        db: i64,
        /// ActionType (3 create table, 4 drop table, 5 add column, 6 drop column, …).
        #[serde(rename = "type")]
        action: i64,
        /// SQL text.
        #[serde(default)]
        query: String,
        /// TableInfo JSON after the job (absent for a drop).
        #[serde(default)]
        table: Option<String>,
        /// The job's table id: the table dropped (without `table`), or the table a
        /// truncate replaces (with `table` under a new id; its meta key is deleted).
        #[serde(default)]
        table_id: Option<i64>,
    },
    /// Run GC up to `safe_point` (absent = current TSO), capped by service safe points.
    Gc {
        /// Target safe point.
        #[serde(default)]
        safe_point: Option<u64>,
    },
}

fn default_wait() -> u64 {
    30_000
}
fn one_u32() -> u32 {
    1
}

/// A database (schema) declared in meta keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSpec {
    /// Database id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// A table declared in meta keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// Database id.
    pub db: i64,
    /// TiDB TableInfo JSON.
    pub info: String,
}

/// A parsed scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Free-text description.
    #[serde(default)]
    pub description: String,
    /// Cluster settings.
    #[serde(default)]
    pub cluster: ClusterSection,
    /// Stores.
    pub stores: Vec<StoreSpec>,
    /// Regions (must not overlap; holes are allowed).
    pub regions: Vec<RegionSpec>,
    /// Databases written to meta keys at start (with `mysql`, id 1, implied).
    #[serde(default)]
    pub databases: Vec<DatabaseSpec>,
    /// Tables written to meta keys at start (with `mysql.tidb_ddl_job` implied).
    #[serde(default)]
    pub tables: Vec<TableSpec>,
    /// Rows committed (1PC, one transaction per entry) before serving starts.
    #[serde(default)]
    pub data: Vec<RowSpec>,
    /// Timeline.
    #[serde(default)]
    pub steps: Vec<Step>,
}

impl Scenario {
    /// Parse TOML text; `origin` names the source in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ScenarioError> {
        let de = toml::Deserializer::parse(text).map_err(|e| ScenarioError::Parse {
            path: origin.into(),
            message: e.to_string(),
        })?;
        let s: Self = serde_path_to_error::deserialize(de).map_err(|e| ScenarioError::Parse {
            path: origin.into(),
            message: format!("at {}: {}", e.path(), e.inner()),
        })?;
        s.topology().map_err(|message| ScenarioError::Invalid {
            path: origin.into(),
            message,
        })?;
        for t in &s.tables {
            super::tidb::parse_table_info(&t.info).map_err(|e| ScenarioError::Invalid {
                path: origin.into(),
                message: e.to_string(),
            })?;
        }
        Ok(s)
    }

    /// Read and parse a file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Build the initial topology.
    pub fn topology(&self) -> Result<Topology, String> {
        let mut t = Topology::default();
        for s in &self.stores {
            if t.stores.contains_key(&s.id) {
                return Err(format!("store {} declared twice", s.id));
            }
            t.stores.insert(
                s.id,
                StoreInfo {
                    id: s.id,
                    address: String::new(),
                    version: s.version.clone(),
                    tiflash: s.tiflash,
                    supports_v2: s.eventfeed_v2,
                    up: true,
                    tombstone: false,
                },
            );
        }
        let mut peer_ids: BTreeMap<u64, ()> = BTreeMap::new();
        let mut next_peer = self.regions.iter().map(|r| r.id).max().unwrap_or(0) + 1;
        for r in &self.regions {
            if t.regions().contains_key(&r.id) {
                return Err(format!("region {} declared twice", r.id));
            }
            let mut peers = Vec::new();
            for (s, learner) in r
                .peers
                .iter()
                .map(|s| (*s, false))
                .chain(r.learners.iter().map(|s| (*s, true)))
            {
                if !t.stores.contains_key(&s) {
                    return Err(format!("region {} has a peer on unknown store {s}", r.id));
                }
                while peer_ids.contains_key(&next_peer) {
                    next_peer += 1;
                }
                peer_ids.insert(next_peer, ());
                peers.push((next_peer, s, learner));
                next_peer += 1;
            }
            let leader = r
                .leader
                .or_else(|| r.peers.first().copied())
                .ok_or_else(|| format!("region {} has no voter peer", r.id))?;
            if let Some(s) = t.stores.get(&leader)
                && s.tiflash
            {
                return Err(format!(
                    "region {} cannot be led by TiFlash store {leader}",
                    r.id
                ));
            }
            t.insert_region(Region {
                id: r.id,
                start: r.start.0.clone(),
                end: r.end.0.clone(),
                conf_ver: r.conf_ver,
                version: r.version,
                peers,
                leader_store: leader,
            });
        }
        t.validate().map_err(|e| e.to_string())?;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates() {
        let s = Scenario::parse(
            r#"
            [cluster]
            tick_interval_ms = 0
            [[stores]]
            id = 1
            [[regions]]
            id = 2
            peers = [1]
            end = "74"
            [[regions]]
            id = 3
            peers = [1]
            start = "74"
            [[data]]
            key = "7400"
            value = "01"
            [[steps]]
            action = "one_pc"
            rows = [{ key = "7401", delete = true }]
            [[steps]]
            action = "split"
            region = 3
            key = "7480"
            notice = "region_not_found"
            "#,
            "inline",
        )
        .expect("parse");
        assert_eq!(s.steps.len(), 2);
        let t = s.topology().expect("topology");
        assert_eq!(t.regions().len(), 2);
    }

    #[test]
    fn errors_name_the_path() {
        let e = Scenario::parse(
            "[[stores]]\nid = 1\n[[regions]]\nid = 2\npeers = [1]\nstart = \"zz\"\n",
            "f.toml",
        )
        .expect_err("bad hex");
        assert!(e.to_string().contains("regions[0].start"), "{e}");
        let e = Scenario::parse(
            "[[stores]]\nid = 1\n[[regions]]\nid = 2\npeers = [9]\n",
            "f.toml",
        )
        .expect_err("bad store");
        assert!(e.to_string().contains("unknown store 9"), "{e}");
    }
}
