//! A sysbench-like write workload for the demo and load tests: database `sbtest` with
//! tables `sbtest1..N` of sysbench's OLTP schema (`id INT` primary key, `k INT` with the
//! secondary index `k_1`, `c CHAR(120)`, `pad CHAR(60)`), loaded with `table-size` rows,
//! then written at a steady rate in transactions of four row changes, as sysbench's
//! `oltp_write_only` does: an update of the indexed column `k`, an update of `c`, a delete
//! and an insert. Mid-run (at half the duration) one DDL, `ALTER TABLE sbtest1 ADD COLUMN
//! extra VARCHAR(64)`, runs as TiDB runs it (meta key, schema version, job row) and the rows
//! of `sbtest1` written after it fill `extra`.
//!
//! Rows are encoded as TiDB writes them (record keys with row format v2, plus the index
//! entries of `k_1`, which a changefeed must skip); most transactions commit in two phases
//! (PREWRITE, then COMMIT), every fourth in one (1PC), as TiDB does for small transactions.
//!
//! Guarantees: within a transaction every row key appears once; [`Counts`] says exactly how
//! many row changes of each kind were committed (a consumer expects one message per row
//! change) and the commit ts of the last one; the rate is kept on average over the run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use tidb_changefeed::model::TableInfo;
use tidb_changefeed::mount::number::encode_int;

use crate::cluster::{Mutation, MutationOp, PrewriteOptions};
use crate::encode::key::encode_index_key;
use crate::runner::Runner;
use crate::scenario::{
    ClusterSection, DatabaseSpec, HexBytes, RegionSpec, RowSpec, Scenario, Step, StoreSpec,
    TableSpec,
};
use crate::server::Emulator;
use crate::tidb;

/// The workload's database id and name.
pub const DB_ID: i64 = 2;
/// The database name.
pub const DB_NAME: &str = "sbtest";
/// Table `sbtest{i}` has id `FIRST_TABLE_ID + i - 1`.
pub const FIRST_TABLE_ID: i64 = 110;
/// The id of the index `k_1`.
const K_INDEX_ID: i64 = 1;
/// The DDL's job id.
const DDL_JOB_ID: i64 = 100;

/// The shape of a run.
#[derive(Debug, Clone)]
pub struct SysbenchOptions {
    /// Tables `sbtest1..=tables`.
    pub tables: u32,
    /// Rows loaded into each table before serving.
    pub table_size: u32,
    /// Row changes per second.
    pub rate: u32,
    /// How long to write.
    pub duration: Duration,
    /// Seed of the choices.
    pub seed: u64,
}

impl Default for SysbenchOptions {
    fn default() -> Self {
        SysbenchOptions {
            tables: 4,
            table_size: 1000,
            rate: 2000,
            duration: Duration::from_secs(60),
            seed: 1,
        }
    }
}

/// What a run committed.
#[derive(Debug, Default, Serialize)]
pub struct Counts {
    pub transactions: AtomicU64,
    pub inserts: AtomicU64,
    pub updates: AtomicU64,
    pub deletes: AtomicU64,
    pub ddls: AtomicU64,
    /// The commit ts of the last transaction.
    pub last_commit_ts: AtomicU64,
}

impl Counts {
    /// Row changes committed.
    pub fn rows(&self) -> u64 {
        self.inserts.load(Ordering::Relaxed)
            + self.updates.load(Ordering::Relaxed)
            + self.deletes.load(Ordering::Relaxed)
    }

    /// The counts as one JSON object (`{"workload":"sysbench",...}`).
    pub fn to_json(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "workload": "sysbench",
            "transactions": g(&self.transactions),
            "inserts": g(&self.inserts),
            "updates": g(&self.updates),
            "deletes": g(&self.deletes),
            "rows": self.rows(),
            "ddls": g(&self.ddls),
            "last_commit_ts": g(&self.last_commit_ts),
        })
        .to_string()
    }
}

fn table_json(id: i64, n: u32, extra: bool) -> String {
    let col = |cid: i64, name: &str, offset: usize, tp: i64, flag: i64, flen: i64, cs: &str| {
        let (charset, collate) = if cs == "bin" {
            ("binary", "binary")
        } else {
            ("utf8mb4", "utf8mb4_bin")
        };
        format!(
            r#"{{"id":{cid},"name":{{"O":"{name}","L":"{name}"}},"offset":{offset},"state":5,"origin_default":null,"type":{{"Tp":{tp},"Flag":{flag},"Flen":{flen},"Decimal":0,"Charset":"{charset}","Collate":"{collate}","Elems":null}}}}"#
        )
    };
    // Flags: NOT NULL 1, PRI 2, MULTIPLE_KEY 8, AUTO_INCREMENT 512.
    let mut cols = vec![
        col(1, "id", 0, 3, 515, 11, "bin"),
        col(2, "k", 1, 3, 9, 11, "bin"),
        col(3, "c", 2, 254, 1, 120, "utf8"),
        col(4, "pad", 3, 254, 1, 60, "utf8"),
    ];
    if extra {
        cols.push(col(5, "extra", 4, 15, 0, 64, "utf8"));
    }
    let index = format!(
        r#"{{"id":{K_INDEX_ID},"idx_name":{{"O":"k_1","L":"k_1"}},"tbl_name":{{"O":"","L":""}},"idx_cols":[{{"name":{{"O":"k","L":"k"}},"offset":1,"length":-1}}],"state":5,"index_type":1,"is_unique":false,"is_primary":false,"is_invisible":false,"is_global":false}}"#
    );
    format!(
        r#"{{"id":{id},"name":{{"O":"sbtest{n}","L":"sbtest{n}"}},"charset":"utf8mb4","collate":"utf8mb4_bin","cols":[{}],"index_info":[{index}],"state":5,"pk_is_handle":true,"is_common_handle":false,"max_col_id":{},"version":5}}"#,
        cols.join(","),
        if extra { 5 } else { 4 }
    )
}

fn table_prefix(id: i64) -> Vec<u8> {
    let mut k = vec![b't'];
    encode_int(&mut k, id);
    k
}

/// A small deterministic generator (xorshift64*): the workload needs no cryptographic
/// randomness, only reproducible choices.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// sysbench's `c`/`pad` shape: groups of 11 digits joined by dashes.
    fn digits(&mut self, groups: usize) -> String {
        (0..groups)
            .map(|_| format!("{:011}", self.below(100_000_000_000)))
            .collect::<Vec<_>>()
            .join("-")
    }
}

/// One table's live rows.
#[derive(Debug, Clone)]
struct Table {
    id: i64,
    info: TableInfo,
    /// `id -> k` of the rows that exist.
    rows: BTreeMap<i64, i64>,
    ids: Vec<i64>,
    next_id: i64,
}

/// The scenario of a run: two stores, one region per table (leaders alternating) plus one
/// for the meta keys, the database and its tables, the initial rows.
pub fn scenario(o: &SysbenchOptions) -> Scenario {
    let n = o.tables.max(1);
    let mut regions = Vec::new();
    let mut start = Vec::new();
    for i in 0..n {
        let id = FIRST_TABLE_ID + i64::from(i);
        let end = table_prefix(id);
        regions.push(RegionSpec {
            id: 2 + u64::from(i),
            start: HexBytes(start),
            end: HexBytes(end.clone()),
            peers: vec![1 + u64::from(i % 2)],
            learners: Vec::new(),
            leader: None,
            version: 1,
            conf_ver: 1,
        });
        start = end;
    }
    regions.push(RegionSpec {
        id: 2 + u64::from(n),
        start: HexBytes(start),
        end: HexBytes(Vec::new()),
        peers: vec![1 + u64::from(n % 2)],
        learners: Vec::new(),
        leader: None,
        version: 1,
        conf_ver: 1,
    });
    let tables = (1..=n)
        .map(|i| TableSpec {
            db: DB_ID,
            info: table_json(FIRST_TABLE_ID + i64::from(i) - 1, i, false),
        })
        .collect();
    let mut rng = Rng(o.seed | 1);
    let mut data = Vec::new();
    for i in 1..=n {
        for id in 1..=i64::from(o.table_size) {
            let mut v = BTreeMap::new();
            v.insert("id".to_string(), toml::Value::Integer(id));
            v.insert(
                "k".to_string(),
                toml::Value::Integer(1 + rng.below(u64::from(o.table_size.max(1))) as i64),
            );
            v.insert("c".to_string(), toml::Value::String(rng.digits(10)));
            v.insert("pad".to_string(), toml::Value::String(rng.digits(5)));
            data.push(RowSpec {
                key: None,
                table: Some(FIRST_TABLE_ID + i64::from(i) - 1),
                values: Some(v),
                handle: None,
                value: None,
                delete: false,
                lock: false,
            });
        }
    }
    Scenario {
        description: format!(
            "sysbench-like workload: {n} tables of {} rows, {} row changes/s for {:?}",
            o.table_size, o.rate, o.duration
        ),
        cluster: ClusterSection::default(),
        stores: (1..=2)
            .map(|id| StoreSpec {
                id,
                version: "8.5.0".into(),
                tiflash: false,
                eventfeed_v2: true,
            })
            .collect(),
        regions,
        databases: vec![DatabaseSpec {
            id: DB_ID,
            name: DB_NAME.into(),
        }],
        tables,
        data,
        steps: Vec::new(),
    }
}

/// A running workload.
#[derive(Debug)]
pub struct Sysbench {
    opts: SysbenchOptions,
    tables: Vec<Table>,
    rng: Rng,
    /// `sbtest1` has the `extra` column.
    ddl_done: bool,
    counts: Arc<Counts>,
}

impl Sysbench {
    /// The workload over `scenario(opts)`'s tables and initial rows.
    pub fn new(opts: SysbenchOptions, scenario: &Scenario) -> Result<Sysbench, String> {
        let mut tables = Vec::new();
        for t in &scenario.tables {
            let info = tidb::parse_table_info(&t.info).map_err(|e| e.to_string())?;
            tables.push(Table {
                id: info.id,
                info,
                rows: BTreeMap::new(),
                ids: Vec::new(),
                next_id: 1,
            });
        }
        for r in &scenario.data {
            let (Some(tid), Some(v)) = (r.table, r.values.as_ref()) else {
                continue;
            };
            let (Some(id), Some(k)) = (
                v.get("id").and_then(toml::Value::as_integer),
                v.get("k").and_then(toml::Value::as_integer),
            ) else {
                continue;
            };
            if let Some(t) = tables.iter_mut().find(|t| t.id == tid) {
                t.rows.insert(id, k);
                t.ids.push(id);
                t.next_id = t.next_id.max(id + 1);
            }
        }
        Ok(Sysbench {
            rng: Rng(opts.seed.wrapping_mul(31) | 1),
            opts,
            tables,
            ddl_done: false,
            counts: Arc::new(Counts::default()),
        })
    }

    /// The counts, shared (they grow while the workload runs).
    pub fn counts(&self) -> Arc<Counts> {
        Arc::clone(&self.counts)
    }

    /// Writes for the configured duration (or until `stop`), running the DDL at half time.
    pub async fn run(
        &mut self,
        emu: &mut Emulator,
        runner: &mut Runner,
        stop: &AtomicBool,
    ) -> Result<(), String> {
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let rate = f64::from(self.opts.rate.max(1));
        let mut txn_no: u64 = 0;
        while started.elapsed() < self.opts.duration && !stop.load(Ordering::Relaxed) {
            tick.tick().await;
            if !self.ddl_done && started.elapsed() >= self.opts.duration / 2 {
                self.add_column(emu, runner).await?;
            }
            let due = (started.elapsed().as_secs_f64() * rate) as u64;
            while self.counts.rows() + 4 <= due.max(4) && !stop.load(Ordering::Relaxed) {
                self.transaction(emu, txn_no % 4 == 3)?;
                txn_no += 1;
                if started.elapsed() >= self.opts.duration {
                    break;
                }
            }
        }
        Ok(())
    }

    /// `ALTER TABLE sbtest1 ADD COLUMN extra VARCHAR(64)`.
    async fn add_column(&mut self, emu: &mut Emulator, runner: &mut Runner) -> Result<(), String> {
        let Some(t) = self.tables.first_mut() else {
            return Ok(());
        };
        let json = table_json(t.id, 1, true);
        runner
            .step(
                emu,
                &Step::Ddl {
                    job_id: DDL_JOB_ID,
                    db: DB_ID,
                    action: 5,
                    query: "ALTER TABLE `sbtest1` ADD COLUMN `extra` VARCHAR(64) NULL".into(),
                    table: Some(json.clone()),
                    table_id: None,
                },
            )
            .await?;
        t.info = tidb::parse_table_info(&json).map_err(|e| e.to_string())?;
        self.ddl_done = true;
        self.counts.ddls.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// One transaction on a random table: update `k`, update `c`, delete a row, insert one.
    fn transaction(&mut self, emu: &Emulator, one_pc: bool) -> Result<(), String> {
        let ti = self.rng.below(self.tables.len() as u64) as usize;
        let extra = self.ddl_done && ti == 0;
        let size = u64::from(self.opts.table_size.max(1));
        let mut picked: Vec<i64> = Vec::new();
        let mut muts = Vec::new();
        let (mut ins, mut upd, mut del) = (0u64, 0u64, 0u64);
        let t = &self.tables[ti];
        let pick = |rng: &mut Rng, picked: &mut Vec<i64>| -> Option<i64> {
            for _ in 0..8 {
                let id = *t.ids.get(rng.below(t.ids.len() as u64) as usize)?;
                if !picked.contains(&id) && t.rows.contains_key(&id) {
                    picked.push(id);
                    return Some(id);
                }
            }
            None
        };
        let k_update = pick(&mut self.rng, &mut picked);
        let c_update = pick(&mut self.rng, &mut picked);
        let delete = pick(&mut self.rng, &mut picked);
        let mut changes: Vec<(i64, Option<i64>, Option<i64>)> = Vec::new(); // id, old k, new k
        let t = &mut self.tables[ti];
        if let Some(id) = k_update {
            let old = t.rows.get(&id).copied().unwrap_or(0);
            let new = old + 1;
            muts.extend(row_put(t, id, new, &mut self.rng, extra)?);
            changes.push((id, Some(old), Some(new)));
            upd += 1;
        }
        if let Some(id) = c_update {
            let k = t.rows.get(&id).copied().unwrap_or(0);
            muts.extend(row_put(t, id, k, &mut self.rng, extra)?);
            changes.push((id, Some(k), Some(k)));
            upd += 1;
        }
        if let Some(id) = delete {
            let k = t.rows.get(&id).copied().unwrap_or(0);
            let mut v = BTreeMap::new();
            v.insert("id".to_string(), toml::Value::Integer(id));
            let (key, _) = tidb::encode_row(&t.info, &v, None).map_err(|e| e.to_string())?;
            muts.push(Mutation {
                key,
                op: MutationOp::Delete,
            });
            muts.push(Mutation {
                key: index_key(t.id, k, id),
                op: MutationOp::Delete,
            });
            changes.push((id, Some(k), None));
            del += 1;
        }
        let id = t.next_id;
        let k = 1 + self.rng.below(size) as i64;
        muts.extend(row_put(t, id, k, &mut self.rng, extra)?);
        changes.push((id, None, Some(k)));
        ins += 1;

        let commit_ts = {
            let mut m = emu.cluster().lock();
            if one_pc {
                m.one_pc(&muts, 0).map_err(|e| e.to_string())?.1
            } else {
                let start_ts = m.next_ts();
                let primary = muts[0].key.clone();
                m.prewrite(start_ts, &primary, &muts, PrewriteOptions::default())
                    .map_err(|e| e.to_string())?;
                let commit_ts = m.next_ts();
                let keys: Vec<Vec<u8>> = muts.iter().map(|m| m.key.clone()).collect();
                m.commit(start_ts, commit_ts, &keys)
                    .map_err(|e| e.to_string())?;
                commit_ts
            }
        };
        // The model follows only what committed.
        for (id, old, new) in changes {
            match (old, new) {
                (_, Some(k)) => {
                    if t.rows.insert(id, k).is_none() {
                        t.ids.push(id);
                    }
                }
                (_, None) => {
                    t.rows.remove(&id);
                    t.ids.retain(|x| *x != id);
                }
            }
        }
        t.next_id += 1;
        let c = &self.counts;
        c.inserts.fetch_add(ins, Ordering::Relaxed);
        c.updates.fetch_add(upd, Ordering::Relaxed);
        c.deletes.fetch_add(del, Ordering::Relaxed);
        c.transactions.fetch_add(1, Ordering::Relaxed);
        c.last_commit_ts.store(commit_ts, Ordering::Relaxed);
        Ok(())
    }
}

/// The index entry of `k_1` for row `id` with `k`: `t{table}_i1{k}{id}` (both
/// comparable-encoded with the int flag), value `0` as TiDB writes a non-unique entry.
fn index_key(table: i64, k: i64, id: i64) -> Vec<u8> {
    let mut values = vec![3u8];
    encode_int(&mut values, k);
    values.push(3);
    encode_int(&mut values, id);
    encode_index_key(table, K_INDEX_ID, &values)
}

/// The mutations that write row `id` with `k` (new `c`, same-shaped `pad`, `extra` when the
/// column exists): the record, and when `k` changed the index entries.
fn row_put(
    t: &Table,
    id: i64,
    k: i64,
    rng: &mut Rng,
    extra: bool,
) -> Result<Vec<Mutation>, String> {
    let mut v = BTreeMap::new();
    v.insert("id".to_string(), toml::Value::Integer(id));
    v.insert("k".to_string(), toml::Value::Integer(k));
    v.insert("c".to_string(), toml::Value::String(rng.digits(10)));
    v.insert("pad".to_string(), toml::Value::String(rng.digits(5)));
    if extra {
        v.insert(
            "extra".to_string(),
            toml::Value::String(format!("written after the DDL, k={k}")),
        );
    }
    let (key, value) = tidb::encode_row(&t.info, &v, None).map_err(|e| e.to_string())?;
    let mut out = vec![Mutation {
        key,
        op: MutationOp::Put(value),
    }];
    let old = t.rows.get(&id).copied();
    if old != Some(k) {
        if let Some(o) = old {
            out.push(Mutation {
                key: index_key(t.id, o, id),
                op: MutationOp::Delete,
            });
        }
        out.push(Mutation {
            key: index_key(t.id, k, id),
            op: MutationOp::Put(b"0".to_vec()),
        });
    }
    Ok(out)
}

/// Parses a duration such as `60s`, `2m`, `500ms`, `1h` or a number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?} (e.g. 60s, 2m, 500ms)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("invalid duration {s:?} (e.g. 60s, 2m, 500ms)")),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("7 parsecs").is_err());
    }

    #[test]
    fn the_scenario_is_valid_and_loads_its_rows() {
        let o = SysbenchOptions {
            tables: 3,
            table_size: 10,
            ..SysbenchOptions::default()
        };
        let s = scenario(&o);
        s.topology().expect("topology");
        assert_eq!(s.tables.len(), 3);
        assert_eq!(s.data.len(), 30);
        let w = Sysbench::new(o, &s).expect("workload");
        assert!(
            w.tables
                .iter()
                .all(|t| t.rows.len() == 10 && t.next_id == 11)
        );
        crate::runner::build_cluster(&s).expect("cluster");
    }
}
