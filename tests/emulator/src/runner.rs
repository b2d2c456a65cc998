//! Plays a [`Scenario`]: builds the cluster, loads initial data, serves it on
//! loopback and executes the timeline step by step.
//!
//! Guarantees: steps run strictly in file order; a step that fails stops the run
//! with an error naming the step index and action; named transactions keep their
//! start ts, primary, prewritten keys and (once chosen) commit ts across steps.

use std::collections::HashMap;
use std::time::Duration;

use crate::EmulatorError;
use crate::cluster::{Cluster, Mutation, MutationOp, PrewriteOptions, RegionChangeNotice};
use crate::scenario::{AbandonSpec, NoticeSpec, RowSpec, Scenario, Step};
use crate::server::{Emulator, ServeOptions};
use crate::tidb;
use tidb_changefeed::model::TableInfo;

/// Error of a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Scenario topology invalid.
    #[error("scenario: {0}")]
    Scenario(String),
    /// Emulator failure while starting.
    #[error(transparent)]
    Emulator(#[from] EmulatorError),
    /// A step failed.
    #[error("step {index} ({action}): {message}")]
    Step {
        /// 0-based index in `steps`.
        index: usize,
        /// Action name.
        action: String,
        /// Reason.
        message: String,
    },
}

#[derive(Debug, Default, Clone)]
struct Txn {
    start_ts: u64,
    primary: Option<Vec<u8>>,
    pending: Vec<Vec<u8>>,
    commit_ts: Option<u64>,
}

/// Schema known to the runner: what the meta keys say.
#[derive(Debug, Default, Clone)]
struct Schema {
    dbs: HashMap<i64, String>,
    tables: HashMap<i64, (i64, TableInfo, serde_json::Value)>,
    version: i64,
}

/// State of a run between steps.
#[derive(Debug, Default)]
pub struct Runner {
    txns: HashMap<String, Txn>,
    schema: Schema,
}

fn put(key: Vec<u8>, value: impl Into<Vec<u8>>) -> Mutation {
    Mutation {
        key,
        op: MutationOp::Put(value.into()),
    }
}

fn notice(n: NoticeSpec) -> RegionChangeNotice {
    match n {
        NoticeSpec::EpochNotMatch => RegionChangeNotice::EpochNotMatch,
        NoticeSpec::RegionNotFound => RegionChangeNotice::RegionNotFound,
    }
}

/// Build the model of a scenario: meta keys for its databases and tables, then
/// its initial data, each committed by 1PC.
pub fn build_cluster(s: &Scenario) -> Result<Cluster, RunError> {
    let topo = s.topology().map_err(RunError::Scenario)?;
    let cluster = Cluster::new(s.cluster.cluster_id, topo);
    let runner = Runner::new(s)?;
    {
        let mut m = cluster.lock();
        let meta = runner.initial_meta();
        if !meta.is_empty() {
            m.one_pc(&meta, 0)
                .map_err(|e| RunError::Scenario(format!("meta keys: {e}")))?;
        }
        for r in &s.data {
            let mu = runner.mutation(r).map_err(RunError::Scenario)?;
            m.one_pc(&[mu], 0)
                .map_err(|e| RunError::Scenario(format!("initial data: {e}")))?;
        }
    }
    Ok(cluster)
}

/// Start serving a scenario (PD address from `pd_addr`).
pub async fn start(s: &Scenario, pd_addr: std::net::SocketAddr) -> Result<Emulator, RunError> {
    let cluster = build_cluster(s)?;
    let tick =
        (s.cluster.tick_interval_ms > 0).then(|| Duration::from_millis(s.cluster.tick_interval_ms));
    Ok(Emulator::start(
        cluster,
        ServeOptions {
            pd_addr,
            tick_interval: tick,
            tls: None,
            pd_members: 1,
        },
    )
    .await?)
}

fn action_name(step: &Step) -> String {
    format!("{step:?}")
        .split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_owned()
}

impl Runner {
    /// A runner for `s`, knowing its declared databases and tables.
    pub fn new(s: &Scenario) -> Result<Self, RunError> {
        let mut schema = Schema {
            version: 1,
            ..Schema::default()
        };
        if !s.tables.is_empty() || !s.databases.is_empty() {
            schema.dbs.insert(tidb::MYSQL_DB_ID, "mysql".into());
            let json = tidb::ddl_job_table_json();
            let value: serde_json::Value =
                serde_json::from_str(&json).map_err(|e| RunError::Scenario(e.to_string()))?;
            schema.tables.insert(
                tidb::DDL_JOB_TABLE_ID,
                (tidb::MYSQL_DB_ID, TableInfo::default(), value),
            );
        }
        for d in &s.databases {
            schema.dbs.insert(d.id, d.name.clone());
        }
        for t in &s.tables {
            let info =
                tidb::parse_table_info(&t.info).map_err(|e| RunError::Scenario(e.to_string()))?;
            let value: serde_json::Value =
                serde_json::from_str(&t.info).map_err(|e| RunError::Scenario(e.to_string()))?;
            if !schema.dbs.contains_key(&t.db) {
                return Err(RunError::Scenario(format!(
                    "table {} in undeclared database {}",
                    info.id, t.db
                )));
            }
            schema.tables.insert(info.id, (t.db, info, value));
        }
        Ok(Self {
            txns: HashMap::new(),
            schema,
        })
    }

    fn initial_meta(&self) -> Vec<Mutation> {
        if self.schema.dbs.is_empty() {
            return Vec::new();
        }
        let mut out = vec![put(
            tidb::schema_version_key(),
            self.schema.version.to_string(),
        )];
        let mut dbs: Vec<_> = self.schema.dbs.iter().collect();
        dbs.sort();
        for (id, name) in dbs {
            out.push(put(tidb::db_meta_key(*id), tidb::db_info_json(*id, name)));
        }
        let mut tables: Vec<_> = self.schema.tables.iter().collect();
        tables.sort_by_key(|t| *t.0);
        for (id, (db, _, json)) in tables {
            out.push(put(tidb::table_meta_key(*db, *id), json.to_string()));
        }
        out
    }

    fn mutation(&self, r: &RowSpec) -> Result<Mutation, String> {
        let (key, typed_value) = match (&r.key, r.table) {
            (Some(k), None) => (k.0.clone(), None),
            (None, Some(table)) => {
                // A table id, or a partition id of a partitioned table (the row key carries it).
                let info = match self.schema.tables.get(&table) {
                    Some((_, info, _)) => info.clone(),
                    None => {
                        let mut info = self
                            .schema
                            .tables
                            .values()
                            .map(|t| &t.1)
                            .find(|i| i.owns_physical_id(table))
                            .cloned()
                            .ok_or_else(|| format!("table {table} is not declared"))?;
                        info.id = table;
                        info
                    }
                };
                let values = r.values.clone().unwrap_or_default();
                let (k, v) =
                    tidb::encode_row(&info, &values, r.handle).map_err(|e| e.to_string())?;
                (k, Some(v))
            }
            _ => return Err("a row needs either `key` or `table` + `values`".into()),
        };
        let op = if r.delete {
            MutationOp::Delete
        } else if r.lock {
            MutationOp::Lock
        } else if let Some(v) = &r.value {
            MutationOp::Put(v.0.clone())
        } else if let Some(v) = typed_value {
            MutationOp::Put(v)
        } else {
            return Err("a put needs `value` (raw) or `values` (typed)".into());
        };
        Ok(Mutation { key, op })
    }

    fn mutations(&self, rows: &[RowSpec]) -> Result<Vec<Mutation>, String> {
        rows.iter().map(|r| self.mutation(r)).collect()
    }

    /// Run every step of `s` against `emu`.
    pub async fn play(&mut self, emu: &mut Emulator, s: &Scenario) -> Result<(), RunError> {
        for (index, step) in s.steps.iter().enumerate() {
            self.step(emu, step)
                .await
                .map_err(|message| RunError::Step {
                    index,
                    action: action_name(step),
                    message,
                })?;
        }
        Ok(())
    }

    fn txn(&mut self, name: &str) -> Result<&mut Txn, String> {
        self.txns
            .get_mut(name)
            .ok_or_else(|| format!("transaction {name:?} was not begun"))
    }

    /// Execute one step.
    pub async fn step(&mut self, emu: &mut Emulator, step: &Step) -> Result<(), String> {
        let cluster = emu.cluster().clone();
        let e = |x: &dyn std::fmt::Display| x.to_string();
        match step {
            Step::Sleep { ms } => tokio::time::sleep(Duration::from_millis(*ms)).await,
            Step::WaitSubscriptions { count, timeout_ms } => {
                let deadline = tokio::time::Instant::now() + Duration::from_millis(*timeout_ms);
                while cluster.lock().subscription_count() < *count {
                    if tokio::time::Instant::now() > deadline {
                        return Err(format!(
                            "fewer than {count} subscriptions after {timeout_ms} ms"
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            Step::Tick => {
                cluster.lock().tick_resolved_ts();
            }
            Step::OnePc { rows, txn_source } => {
                let muts = self.mutations(rows)?;
                cluster
                    .lock()
                    .one_pc(&muts, *txn_source)
                    .map_err(|x| e(&x))?;
            }
            Step::Begin { txn } => {
                let start_ts = cluster.lock().next_ts();
                self.txns.insert(
                    txn.clone(),
                    Txn {
                        start_ts,
                        ..Txn::default()
                    },
                );
            }
            Step::PessimisticLock { txn, keys } => {
                let t = self.txn(txn)?;
                let keys: Vec<Vec<u8>> = keys.iter().map(|k| k.0.clone()).collect();
                let primary = t
                    .primary
                    .get_or_insert_with(|| keys.first().cloned().unwrap_or_default())
                    .clone();
                let start_ts = t.start_ts;
                let mut m = cluster.lock();
                let for_update_ts = m.next_ts();
                m.pessimistic_lock(start_ts, for_update_ts, &primary, &keys)
                    .map_err(|x| e(&x))?;
            }
            Step::Prewrite {
                txn,
                rows,
                primary,
                async_commit,
                txn_source,
                ttl_ms,
            } => {
                let muts = self.mutations(rows)?;
                let t = self.txn(txn)?;
                if let Some(p) = primary {
                    t.primary = Some(p.0.clone());
                }
                let primary = t
                    .primary
                    .get_or_insert_with(|| muts.first().map(|m| m.key.clone()).unwrap_or_default())
                    .clone();
                cluster
                    .lock()
                    .prewrite(
                        t.start_ts,
                        &primary,
                        &muts,
                        PrewriteOptions {
                            async_commit: *async_commit,
                            for_update_ts: 0,
                            txn_source: *txn_source,
                            lock_ttl: *ttl_ms,
                        },
                    )
                    .map_err(|x| e(&x))?;
                t.pending.extend(muts.into_iter().map(|m| m.key));
            }
            Step::Commit { txn, keys } => {
                let t = self.txn(txn)?;
                let keys: Vec<Vec<u8>> = if keys.is_empty() {
                    t.pending.clone()
                } else {
                    keys.iter().map(|k| k.0.clone()).collect()
                };
                let mut m = cluster.lock();
                let commit_ts = *t.commit_ts.get_or_insert_with(|| m.next_ts());
                m.commit(t.start_ts, commit_ts, &keys).map_err(|x| e(&x))?;
                t.pending.retain(|k| !keys.contains(k));
            }
            Step::Abandon { txn, after } => {
                let t = self.txn(txn)?.clone();
                if *after == AbandonSpec::PrimaryCommit {
                    let primary = t
                        .primary
                        .clone()
                        .ok_or_else(|| format!("transaction {txn:?} prewrote nothing"))?;
                    let mut m = cluster.lock();
                    let commit_ts = t.commit_ts.unwrap_or_else(|| m.next_ts());
                    m.commit(t.start_ts, commit_ts, &[primary])
                        .map_err(|x| e(&x))?;
                }
                self.txns.remove(txn);
            }
            Step::Rollback { txn, keys } => {
                let t = self.txn(txn)?;
                let keys: Vec<Vec<u8>> = if keys.is_empty() {
                    t.pending.clone()
                } else {
                    keys.iter().map(|k| k.0.clone()).collect()
                };
                cluster
                    .lock()
                    .rollback(t.start_ts, &keys)
                    .map_err(|x| e(&x))?;
                t.pending.retain(|k| !keys.contains(k));
            }
            Step::ResolveAsyncCommit { txn } => {
                let t = self.txn(txn)?;
                let c = cluster
                    .lock()
                    .resolve_async_commit(t.start_ts)
                    .map_err(|x| e(&x))?;
                t.commit_ts = Some(c);
                t.pending.clear();
            }
            Step::RewriteLock { key } => cluster.lock().rewrite_lock(&key.0).map_err(|x| e(&x))?,
            Step::Split {
                region,
                key,
                notice: n,
            } => {
                cluster
                    .lock()
                    .split(*region, &key.0, notice(*n))
                    .map_err(|x| e(&x))?;
            }
            Step::Merge {
                source,
                target,
                notice: n,
            } => {
                cluster
                    .lock()
                    .merge(*source, *target, notice(*n))
                    .map_err(|x| e(&x))?;
            }
            Step::TransferLeader {
                region,
                store,
                hint,
            } => cluster
                .lock()
                .transfer_leader(*region, *store, *hint)
                .map_err(|x| e(&x))?,
            Step::AddPeer {
                region,
                store,
                learner,
            } => cluster
                .lock()
                .add_peer(*region, *store, *learner)
                .map_err(|x| e(&x))?,
            Step::RemovePeer { region, store } => {
                cluster
                    .lock()
                    .remove_peer(*region, *store)
                    .map_err(|x| e(&x))?;
            }
            Step::StopStore { store } => emu.stop_store(*store).await.map_err(|x| e(&x))?,
            Step::StartStore { store } => emu.start_store(*store).await.map_err(|x| e(&x))?,
            Step::RemoveStore { store } => emu.remove_store(*store).await.map_err(|x| e(&x))?,
            Step::HideRegion { region, hidden } => cluster.lock().hide_region(*region, *hidden),
            Step::StopPd => emu.stop_pd().await,
            Step::StartPd => emu.start_pd().await.map_err(|x| e(&x))?,
            Step::ServerIsBusy {
                store,
                count,
                backoff_ms,
            } => {
                cluster
                    .lock()
                    .inject_server_busy(*store, *count, *backoff_ms);
            }
            Step::Congested { region } => cluster.lock().inject_congested(*region),
            Step::HoldScan { region } => cluster.lock().hold_scans(*region),
            Step::ReleaseScan { region } => cluster.lock().release_scan(*region),
            Step::StallResolvedTs { store, stalled } => {
                cluster.lock().stall_resolved_ts(*store, *stalled)
            }
            Step::ServiceSafePoint {
                service,
                ttl,
                safe_point,
            } => {
                let mut m = cluster.lock();
                let sp = match safe_point {
                    Some(sp) => *sp,
                    None => m.next_ts(),
                };
                m.update_service_safe_point(service.as_bytes(), *ttl, sp);
            }
            Step::Ddl {
                job_id,
                db,
                action,
                query,
                table,
                table_id,
            } => self.ddl(
                &cluster,
                *job_id,
                *db,
                *action,
                query,
                table.as_deref(),
                *table_id,
            )?,
            Step::Gc { safe_point } => {
                let mut m = cluster.lock();
                let sp = match safe_point {
                    Some(sp) => *sp,
                    None => m.next_ts(),
                };
                m.run_gc(sp);
            }
        }
        Ok(())
    }
}

impl Runner {
    #[allow(clippy::too_many_arguments)] // one parameter per field of the `ddl` step
    fn ddl(
        &mut self,
        cluster: &Cluster,
        job_id: i64,
        db: i64,
        action: i64,
        query: &str,
        table: Option<&str>,
        table_id: Option<i64>,
    ) -> Result<(), String> {
        let schema_name = self
            .schema
            .dbs
            .get(&db)
            .cloned()
            .ok_or_else(|| format!("database {db} is not declared"))?;
        let (info, json) = match table {
            Some(t) => {
                let info = tidb::parse_table_info(t).map_err(|e| e.to_string())?;
                let json: serde_json::Value = serde_json::from_str(t).map_err(|e| e.to_string())?;
                (Some(info), Some(json))
            }
            None => (None, None),
        };
        // The job's table id: `table_id` when given (the table a truncate replaces), else the
        // table's own id.
        let new_id = info.as_ref().map(|i| i.id);
        let tid = table_id
            .or(new_id)
            .ok_or("a ddl step needs `table` (TableInfo JSON) or `table_id`")?;
        let table_name = info
            .as_ref()
            .map(|i| i.name.o.clone())
            .or_else(|| self.schema.tables.get(&tid).map(|t| t.1.name.o.clone()))
            .unwrap_or_default();
        // The meta key the table had before the job, when the job moves it (new id or db).
        let old_db = self.schema.tables.get(&tid).map_or(db, |t| t.0);
        let moved_key = match new_id {
            Some(n) if n != tid || old_db != db => Some(tidb::table_meta_key(old_db, tid)),
            _ => None,
        };
        self.schema.version += 1;
        let mut m = cluster.lock();
        let start_ts = m.next_ts();
        let job = tidb::DdlJob {
            id: job_id,
            action,
            schema_id: db,
            schema_name,
            table_id: tid,
            table_name,
            query: query.to_owned(),
            schema_version: self.schema.version,
            table_info: json.clone(),
            start_ts,
        };
        let (job_key, job_value) = tidb::ddl_job_row(&job).map_err(|e| e.to_string())?;
        let meta_key = tidb::table_meta_key(db, new_id.unwrap_or(tid));
        let mut muts = vec![
            put(tidb::schema_version_key(), self.schema.version.to_string()),
            put(job_key.clone(), job_value),
        ];
        match &json {
            Some(j) => muts.push(put(meta_key, j.to_string())),
            None => muts.push(Mutation {
                key: meta_key,
                op: MutationOp::Delete,
            }),
        }
        if let Some(key) = moved_key {
            muts.push(Mutation {
                key,
                op: MutationOp::Delete,
            });
        }
        let primary = muts[0].key.clone();
        m.prewrite(start_ts, &primary, &muts, PrewriteOptions::default())
            .map_err(|x| x.to_string())?;
        let commit_ts = m.next_ts();
        let keys: Vec<Vec<u8>> = muts.iter().map(|x| x.key.clone()).collect();
        m.commit(start_ts, commit_ts, &keys)
            .map_err(|x| x.to_string())?;
        // TiDB then moves the job to history: the job row is deleted.
        m.one_pc(
            &[Mutation {
                key: job_key,
                op: MutationOp::Delete,
            }],
            0,
        )
        .map_err(|x| x.to_string())?;
        match (info, json) {
            (Some(i), Some(j)) => {
                self.schema.tables.remove(&tid);
                self.schema.tables.insert(i.id, (db, i, j));
            }
            _ => {
                self.schema.tables.remove(&tid);
            }
        }
        Ok(())
    }
}
