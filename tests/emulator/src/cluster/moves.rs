//! Topology moves on the model: region split and merge, leader transfer, adding and removing
//! peers, and how each is reported to the subscribers of the regions it changes.
//!
//! Guarantees: subscribers of a changed region get exactly one error (`epoch_not_match`,
//! `region_not_found` or `not_leader` as TiKV sends it) and nothing more for that
//! registration; a conf change that keeps the leader leaves subscriptions alone.

use tidb_changefeed::proto::errorpb;

use super::{Model, cdc_error};
use crate::topology::{Region, TopologyError};

/// How a split/merge is reported to subscribers of the changed regions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RegionChangeNotice {
    /// `epoch_not_match` (with the new regions for a split, none for a merge).
    #[default]
    EpochNotMatch,
    /// `region_not_found` (the region-change observer won the race).
    RegionNotFound,
}

impl Model {
    /// Split a region at raw `key`; subscribers of the old region get
    /// `epoch_not_match` with both new regions, or `region_not_found`.
    pub fn split(
        &mut self,
        region: u64,
        key: &[u8],
        notice: RegionChangeNotice,
    ) -> Result<(Region, Region), TopologyError> {
        let (l, r) = self.topo.split(region, key)?;
        let mut err = cdc_error();
        match notice {
            RegionChangeNotice::EpochNotMatch => {
                err.epoch_not_match = Some(errorpb::EpochNotMatch {
                    current_regions: vec![l.to_proto(), r.to_proto()],
                });
            }
            RegionChangeNotice::RegionNotFound => {
                err.region_not_found = Some(errorpb::RegionNotFound { region_id: region });
            }
        }
        self.fail_region(region, &err);
        Ok((l, r))
    }

    /// Merge `source` into `target`; subscribers of both get `epoch_not_match`
    /// without regions (or the source's get `region_not_found`).
    pub fn merge(
        &mut self,
        source: u64,
        target: u64,
        notice: RegionChangeNotice,
    ) -> Result<Region, TopologyError> {
        let merged = self.topo.merge(source, target)?;
        let mut enm = cdc_error();
        enm.epoch_not_match = Some(errorpb::EpochNotMatch {
            current_regions: Vec::new(),
        });
        let source_err = match notice {
            RegionChangeNotice::EpochNotMatch => enm.clone(),
            RegionChangeNotice::RegionNotFound => {
                let mut e = cdc_error();
                e.region_not_found = Some(errorpb::RegionNotFound { region_id: source });
                e
            }
        };
        self.fail_region(source, &source_err);
        self.fail_region(target, &enm);
        Ok(merged)
    }

    /// Move a region's leader; subscribers on the old leader get `not_leader`
    /// (with the new leader as hint unless `hint` is false, which also makes later
    /// registrations on followers answer without a hint until the next transfer).
    pub fn transfer_leader(
        &mut self,
        region: u64,
        store: u64,
        hint: bool,
    ) -> Result<(), TopologyError> {
        let r = self.topo.transfer_leader(region, store)?;
        if hint {
            self.faults.hide_leader.remove(&region);
        } else {
            self.faults.hide_leader.insert(region);
        }
        let err = self.not_leader_error(&r);
        for k in self.keys_of_region(region) {
            if self.conns.get(&k.0).is_some_and(|c| c.store != store) {
                self.send_error(k, err.clone());
            }
        }
        Ok(())
    }

    /// Add a peer (conf change: conf_ver + 1; subscriptions are unaffected).
    pub fn add_peer(
        &mut self,
        region: u64,
        store: u64,
        learner: bool,
    ) -> Result<(), TopologyError> {
        self.topo.add_peer(region, store, learner).map(|_| ())
    }

    /// Remove a peer; subscriptions on that store get `region_not_found`.
    pub fn remove_peer(&mut self, region: u64, store: u64) -> Result<(), TopologyError> {
        self.topo.remove_peer(region, store)?;
        let mut err = cdc_error();
        err.region_not_found = Some(errorpb::RegionNotFound { region_id: region });
        for k in self.keys_of_region(region) {
            if self.conns.get(&k.0).is_some_and(|c| c.store == store) {
                self.send_error(k, err.clone());
            }
        }
        Ok(())
    }
}
