//! A steady write load on the emulated cluster, shared by the long fault tests (the chaos
//! campaign, the broker SIGSTOP, the upstream faults): one thread commits a transaction of
//! `rows_per_txn` consecutive *versions* every `every`, until told to stop.
//!
//! Version `v` is row `v % keys` of table `(v / rows_per_txn) % tables` (so a transaction
//! writes one table) with `name = v`: a reader checks every version arrived, at its own key,
//! and that a key's versions never go backwards. Guarantees: versions are committed in
//! order without a gap; a commit refused because its region's leader store is down
//! (`Unavailable`) is retried with the same versions; any other refusal panics the thread.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tidb_changefeed::model::TableInfo;
use tidb_changefeed_emulator::tidb::encode_row;
use tidb_changefeed_emulator::{Cluster, Mutation, MutationOp, TxnError};

/// The shape of a load.
#[derive(Debug, Clone)]
pub struct SteadyLoad {
    /// The tables written, in turn (one per transaction).
    pub tables: Vec<TableInfo>,
    /// Versions per transaction.
    pub rows_per_txn: i64,
    /// Distinct keys per table.
    pub keys: i64,
    /// The pause after each transaction.
    pub every: Duration,
}

impl SteadyLoad {
    /// Version `v`'s table (index into `tables`) and key.
    pub fn place(&self, v: i64) -> (usize, i64) {
        let tables = i64::try_from(self.tables.len().max(1)).unwrap_or(1);
        (
            usize::try_from((v / self.rows_per_txn) % tables).unwrap_or(0),
            v % self.keys,
        )
    }

    /// The rows of versions `from..from + rows_per_txn`.
    fn txn(&self, from: i64) -> Vec<Mutation> {
        (from..from + self.rows_per_txn)
            .map(|v| {
                let (t, id) = self.place(v);
                let mut row = BTreeMap::new();
                row.insert("id".to_string(), toml::Value::Integer(id));
                row.insert("name".to_string(), toml::Value::String(v.to_string()));
                let (key, value) = encode_row(&self.tables[t], &row, None).expect("row");
                Mutation {
                    key,
                    op: MutationOp::Put(value),
                }
            })
            .collect()
    }

    /// Starts committing until `stop`; the thread returns the last version committed and
    /// its commit ts.
    pub fn spawn(self, cluster: Cluster, stop: Arc<AtomicBool>) -> JoinHandle<(i64, u64)> {
        std::thread::spawn(move || {
            let mut next = 0i64;
            let mut last_ts = 0;
            while !stop.load(Ordering::SeqCst) {
                let rows = self.txn(next);
                let committed = cluster.lock().one_pc(&rows, 0);
                match committed {
                    Ok((_, ts)) => {
                        last_ts = ts;
                        next += self.rows_per_txn;
                    }
                    Err(TxnError::Unavailable(_)) => {}
                    Err(e) => panic!("commit failed: {e}"),
                }
                std::thread::sleep(self.every);
            }
            (next - 1, last_ts)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_places_a_transaction_in_one_table_and_versions_at_their_key() {
        let info = TableInfo::from_json(
            tidb_changefeed_emulator::scenario::Scenario::parse(crate::e2e::KILL_SCENARIO, "k")
                .expect("scenario")
                .tables[0]
                .info
                .as_bytes(),
        )
        .expect("table info");
        let load = SteadyLoad {
            tables: vec![info.clone(), info.clone(), info],
            rows_per_txn: 10,
            keys: 100,
            every: Duration::from_millis(20),
        };
        assert_eq!(load.place(0), (0, 0));
        assert_eq!(load.place(9), (0, 9));
        assert_eq!(load.place(10), (1, 10));
        assert_eq!(load.place(35), (0, 35));
        assert_eq!(load.place(123), (0, 23));
        assert_eq!(load.txn(20).len(), 10);
    }
}
