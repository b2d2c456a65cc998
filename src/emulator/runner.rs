//! Plays a [`Scenario`]: builds the cluster, loads initial data, serves it on
//! loopback and executes the timeline step by step.
//!
//! Guarantees: steps run strictly in file order; a step that fails stops the run
//! with an error naming the step index and action; named transactions keep their
//! start ts, primary, prewritten keys and (once chosen) commit ts across steps.

use std::collections::HashMap;
use std::time::Duration;

use super::EmulatorError;
use super::cluster::{Cluster, Mutation, MutationOp, PrewriteOptions, RegionChangeNotice};
use super::scenario::{NoticeSpec, RowSpec, Scenario, Step};
use super::server::{Emulator, ServeOptions};

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

/// State of a run between steps.
#[derive(Debug, Default)]
pub struct Runner {
    txns: HashMap<String, Txn>,
}

fn mutation(r: &RowSpec) -> Mutation {
    let op = if r.delete {
        MutationOp::Delete
    } else if r.lock {
        MutationOp::Lock
    } else {
        MutationOp::Put(r.value.clone().map(|v| v.0).unwrap_or_default())
    };
    Mutation {
        key: r.key.0.clone(),
        op,
    }
}

fn notice(n: NoticeSpec) -> RegionChangeNotice {
    match n {
        NoticeSpec::EpochNotMatch => RegionChangeNotice::EpochNotMatch,
        NoticeSpec::RegionNotFound => RegionChangeNotice::RegionNotFound,
    }
}

/// Build the model of a scenario with its initial data committed.
pub fn build_cluster(s: &Scenario) -> Result<Cluster, RunError> {
    let topo = s.topology().map_err(RunError::Scenario)?;
    let cluster = Cluster::new(s.cluster.cluster_id, topo);
    {
        let mut m = cluster.lock();
        for r in &s.data {
            m.one_pc(&[mutation(r)], 0)
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
                let muts: Vec<Mutation> = rows.iter().map(mutation).collect();
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
            } => {
                let t = self.txn(txn)?;
                if let Some(p) = primary {
                    t.primary = Some(p.0.clone());
                }
                let primary = t
                    .primary
                    .get_or_insert_with(|| {
                        rows.first().map(|r| r.key.0.clone()).unwrap_or_default()
                    })
                    .clone();
                let muts: Vec<Mutation> = rows.iter().map(mutation).collect();
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
