//! What the KV service (meta snapshot reads) asks of the model: the region check of a KV
//! request, snapshot reads that record their ts in `max_ts`, and a key's MVCC state for tests.
//!
//! Guarantees: a request reaches data only if its region exists, is led by the asked store
//! and matches the request's epoch; reads never see versions above their ts.

use tidb_changefeed::proto::{errorpb, metapb};

use super::Model;
use crate::mvcc::{KeyData, Locked};
use crate::topology::Region;

impl Model {
    /// Snapshot read for the KV service; records the read ts in `max_ts`.
    pub fn read(&mut self, key: &[u8], ts: u64) -> Result<Option<(Vec<u8>, u64)>, Locked> {
        self.max_ts = self.max_ts.max(ts);
        self.mvcc.read(key, ts)
    }

    /// MVCC state of a key (tests).
    #[must_use]
    pub fn key_data(&self, key: &[u8]) -> Option<&KeyData> {
        self.mvcc.get(key)
    }

    /// KV request region check: the region must exist, have its leader here and
    /// match the request's epoch (version and conf_ver).
    pub fn kv_region(
        &self,
        store: u64,
        region_id: u64,
        epoch: Option<&metapb::RegionEpoch>,
    ) -> Result<Region, Box<errorpb::Error>> {
        let mut e = errorpb::Error::default();
        let Some(r) = self
            .topo
            .regions()
            .get(&region_id)
            .filter(|r| r.peer_on(store).is_some())
        else {
            e.message = format!("region {region_id} not found");
            e.region_not_found = Some(errorpb::RegionNotFound { region_id });
            return Err(Box::new(e));
        };
        if r.leader_store != store {
            e.message = format!("peer is not leader for region {region_id}");
            e.not_leader = Some(errorpb::NotLeader {
                region_id,
                leader: if self.faults.hide_leader.contains(&region_id) {
                    None
                } else {
                    r.leader()
                },
            });
            return Err(Box::new(e));
        }
        let ep = epoch.copied().unwrap_or_default();
        if ep.version != r.version || ep.conf_ver != r.conf_ver {
            e.message = "epoch not match".into();
            e.epoch_not_match = Some(errorpb::EpochNotMatch {
                current_regions: vec![r.to_proto()],
            });
            return Err(Box::new(e));
        }
        Ok(r.clone())
    }
}
