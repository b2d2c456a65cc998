//! Resolved ts: TiKV's min-ts task over every up store, and its delivery per connection
//! (batched `ResolvedTs` when the stream negotiated it, per-region events otherwise).
//!
//! Guarantees: resolved ts is sent only for initialized subscriptions, never goes backwards
//! within one, stays below every Put/Delete lock in the subscription's range, and is re-sent
//! when unchanged; stalled stores send nothing.

use std::collections::BTreeMap;

use tidb_changefeed::proto::cdcpb::{self, event};

use super::{ConnId, DsKey, Model};
use crate::feed;
use crate::keyspace::encode_key;
use crate::mvcc::LockKind;

impl Model {
    // ----- resolved ts ------------------------------------------------------

    /// One resolved-ts round on every up store, as TiKV's min-ts task: take a TSO,
    /// lower it to the smallest Put/Delete lock start ts in each subscription's
    /// range, advance (never back), and send per connection features. Returns the
    /// TSO used.
    pub fn tick_resolved_ts(&mut self) -> u64 {
        let min_ts = self.next_ts();
        self.max_ts = self.max_ts.max(min_ts);
        self.mvcc.prune_lock_candidates();
        let mut updates = Vec::new();
        for (k, ds) in &self.downstreams {
            let Some(conn) = self.conns.get(&k.0) else {
                continue;
            };
            if !ds.initialized || self.faults.stall.contains(&conn.store) {
                continue;
            }
            let Some(region) = self.topo.regions().get(&k.2) else {
                continue;
            };
            if region.leader_store != conn.store {
                continue;
            }
            let lock_min = self
                .mvcc
                .locks_in(&region.start, &region.end)
                .filter(|(key, l)| {
                    matches!(l.kind, LockKind::Put | LockKind::Delete)
                        && crate::keyspace::in_range(&encode_key(key), &ds.enc_start, &ds.enc_end)
                })
                .map(|(_, l)| l.start_ts)
                .min();
            let advanced = lock_min.map_or(min_ts, |l| l.min(min_ts));
            updates.push((*k, ds.resolved_ts.max(advanced)));
        }
        for (k, ts) in &updates {
            if let Some(ds) = self.downstreams.get_mut(k) {
                ds.resolved_ts = *ts;
            }
        }
        self.emit_resolved(&updates);
        min_ts
    }

    fn emit_resolved(&self, updates: &[(DsKey, u64)]) {
        let mut groups: BTreeMap<(ConnId, u64), Vec<(u64, u64)>> = BTreeMap::new();
        for &((conn, request_id, region), ts) in updates {
            if ts == 0 {
                continue;
            }
            let Some(c) = self.conns.get(&conn) else {
                continue;
            };
            let f = c.features.unwrap_or_default();
            if f.stream_multiplexing {
                groups
                    .entry((conn, request_id))
                    .or_default()
                    .push((region, ts));
            } else if f.batch_resolved_ts {
                groups.entry((conn, 0)).or_default().push((region, ts));
            } else {
                #[allow(deprecated)]
                let ev = cdcpb::Event {
                    region_id: region,
                    index: 0,
                    request_id,
                    event: Some(event::Event::ResolvedTs(ts)),
                };
                self.send(
                    conn,
                    cdcpb::ChangeDataEvent {
                        events: vec![ev],
                        resolved_ts: None,
                    },
                );
            }
        }
        for ((conn, request_id), regions) in groups {
            for r in feed::batch_resolved(regions, request_id) {
                self.send(
                    conn,
                    cdcpb::ChangeDataEvent {
                        events: Vec::new(),
                        resolved_ts: Some(r),
                    },
                );
            }
        }
    }
}
