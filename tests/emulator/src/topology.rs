//! Cluster topology: stores, regions, peers and leaders, and the admin operations
//! that change them (split, merge, leader transfer, conf change).
//!
//! Owns region metadata only. Guarantees: regions never overlap; boundaries are
//! kept as raw keys and exported as encoded keys; every split/merge bumps
//! `epoch.version` and every conf change bumps `epoch.conf_ver` as TiKV does; a
//! split keeps the original region id on the right half (TiKV's default
//! `right-derive-when-split`).

use std::collections::BTreeMap;

use crate::keyspace::{encode_bound, in_range};
use tidb_changefeed::proto::metapb;

/// One store as PD reports it.
#[derive(Debug, Clone)]
pub struct StoreInfo {
    /// Store id.
    pub id: u64,
    /// `host:port` the store serves on (filled when its server is bound).
    pub address: String,
    /// Reported version.
    pub version: String,
    /// TiFlash store (label `engine=tiflash`, learner peers only, no CDC service).
    pub tiflash: bool,
    /// Whether the store serves `EventFeedV2` (old TiKV answers UNIMPLEMENTED).
    pub supports_v2: bool,
    /// Whether the store is currently up (server listening).
    pub up: bool,
    /// Removed from the cluster (`pd-ctl store delete`, then buried): PD answers
    /// `GetStore` with `state` Tombstone and `node_state` Removed, and `GetAllStores`
    /// leaves it out when asked to exclude tombstones (tikv/pd `server/grpc_service.go`
    /// `GetStore`, `GetAllStores`).
    pub tombstone: bool,
}

impl StoreInfo {
    /// `metapb.Store` as PD returns it.
    #[must_use]
    pub fn to_proto(&self) -> metapb::Store {
        let labels = if self.tiflash {
            vec![metapb::StoreLabel {
                key: "engine".into(),
                value: "tiflash".into(),
            }]
        } else {
            Vec::new()
        };
        let (state, node_state) = if self.tombstone {
            (metapb::StoreState::Tombstone, metapb::NodeState::Removed)
        } else {
            (metapb::StoreState::Up, metapb::NodeState::Serving)
        };
        metapb::Store {
            id: self.id,
            address: self.address.clone(),
            state: state as i32,
            labels,
            version: self.version.clone(),
            peer_address: self.address.clone(),
            status_address: String::new(),
            git_hash: String::new(),
            start_timestamp: 0,
            deploy_path: String::new(),
            last_heartbeat: 0,
            physically_destroyed: false,
            node_state: node_state as i32,
        }
    }
}

/// One region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// Region id.
    pub id: u64,
    /// Raw start key (empty = -inf).
    pub start: Vec<u8>,
    /// Raw end key (empty = +inf).
    pub end: Vec<u8>,
    /// Epoch conf version.
    pub conf_ver: u64,
    /// Epoch version.
    pub version: u64,
    /// Peers as `(peer_id, store_id, learner)`.
    pub peers: Vec<(u64, u64, bool)>,
    /// Store holding the leader peer.
    pub leader_store: u64,
}

impl Region {
    /// Whether a raw key belongs to this region.
    #[must_use]
    pub fn contains(&self, raw: &[u8]) -> bool {
        in_range(raw, &self.start, &self.end)
    }

    /// Encoded start key.
    #[must_use]
    pub fn enc_start(&self) -> Vec<u8> {
        encode_bound(&self.start)
    }

    /// Encoded end key.
    #[must_use]
    pub fn enc_end(&self) -> Vec<u8> {
        encode_bound(&self.end)
    }

    /// The peer on `store`, if any.
    #[must_use]
    pub fn peer_on(&self, store: u64) -> Option<metapb::Peer> {
        self.peers
            .iter()
            .find(|p| p.1 == store)
            .map(|&(id, store_id, learner)| peer(id, store_id, learner))
    }

    /// The leader peer.
    #[must_use]
    pub fn leader(&self) -> Option<metapb::Peer> {
        self.peer_on(self.leader_store)
    }

    /// `metapb.Region` with encoded keys.
    #[must_use]
    pub fn to_proto(&self) -> metapb::Region {
        metapb::Region {
            id: self.id,
            start_key: self.enc_start(),
            end_key: self.enc_end(),
            region_epoch: Some(metapb::RegionEpoch {
                conf_ver: self.conf_ver,
                version: self.version,
            }),
            peers: self
                .peers
                .iter()
                .map(|&(id, s, l)| peer(id, s, l))
                .collect(),
            is_in_flashback: false,
            flashback_start_ts: 0,
        }
    }
}

fn peer(id: u64, store_id: u64, learner: bool) -> metapb::Peer {
    metapb::Peer {
        id,
        store_id,
        role: if learner {
            metapb::PeerRole::Learner as i32
        } else {
            metapb::PeerRole::Voter as i32
        },
        is_witness: false,
    }
}

/// Errors of topology operations (bad scenario input).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopologyError {
    /// No such region.
    #[error("region {0} does not exist")]
    NoRegion(u64),
    /// No such store.
    #[error("store {0} does not exist")]
    NoStore(u64),
    /// Split key not strictly inside the region.
    #[error("split key {key} is not inside region {region}")]
    BadSplitKey {
        /// Region id.
        region: u64,
        /// Hex of the key.
        key: String,
    },
    /// Regions to merge are not adjacent.
    #[error("regions {0} and {1} are not adjacent")]
    NotAdjacent(u64, u64),
    /// Region has no (voter) peer on the store.
    #[error("region {region} has no voter peer on store {store}")]
    NoPeer {
        /// Region id.
        region: u64,
        /// Store id.
        store: u64,
    },
    /// Regions overlap or leave the key space ill-formed.
    #[error("region layout is invalid: {0}")]
    Layout(String),
}

/// Stores and regions.
#[derive(Debug, Default)]
pub struct Topology {
    /// Stores by id.
    pub stores: BTreeMap<u64, StoreInfo>,
    /// Regions by id (read with [`Topology::regions`], changed only through this type so
    /// the start-key index stays in step).
    regions: BTreeMap<u64, Region>,
    /// Raw start key → region id: finds a key's region without a scan of every region.
    by_start: BTreeMap<Vec<u8>, u64>,
    next_id: u64,
}

impl Topology {
    /// Regions by id.
    #[must_use]
    pub fn regions(&self) -> &BTreeMap<u64, Region> {
        &self.regions
    }

    /// Adds `region`, or replaces the region with its id.
    pub fn insert_region(&mut self, region: Region) {
        if let Some(old) = self.regions.remove(&region.id) {
            self.unindex(&old);
        }
        self.by_start.insert(region.start.clone(), region.id);
        self.regions.insert(region.id, region);
    }

    fn remove_region(&mut self, id: u64) -> Option<Region> {
        let r = self.regions.remove(&id)?;
        self.unindex(&r);
        Some(r)
    }

    fn unindex(&mut self, r: &Region) {
        if self.by_start.get(&r.start) == Some(&r.id) {
            self.by_start.remove(&r.start);
        }
    }

    /// A fresh id for a region or peer, above every id in use.
    pub fn alloc_id(&mut self) -> u64 {
        let max_used = self
            .regions
            .values()
            .flat_map(|r| std::iter::once(r.id).chain(r.peers.iter().map(|p| p.0)))
            .chain(self.stores.keys().copied())
            .max()
            .unwrap_or(0);
        self.next_id = self.next_id.max(max_used + 1000) + 1;
        self.next_id
    }

    /// Check that regions do not overlap.
    pub fn validate(&self) -> Result<(), TopologyError> {
        let mut rs: Vec<&Region> = self.regions.values().collect();
        rs.sort_by(|a, b| a.start.cmp(&b.start));
        for w in rs.windows(2) {
            let (a, b) = (w[0], w[1]);
            if a.end.is_empty() || a.end > b.start {
                return Err(TopologyError::Layout(format!(
                    "regions {} and {} overlap",
                    a.id, b.id
                )));
            }
        }
        for r in &rs {
            if !r.end.is_empty() && r.start >= r.end {
                return Err(TopologyError::Layout(format!("region {} is empty", r.id)));
            }
            if !self.stores.contains_key(&r.leader_store) || r.peer_on(r.leader_store).is_none() {
                return Err(TopologyError::NoPeer {
                    region: r.id,
                    store: r.leader_store,
                });
            }
        }
        Ok(())
    }

    /// Region containing a raw key.
    #[must_use]
    pub fn region_for_raw(&self, raw: &[u8]) -> Option<&Region> {
        let below = (std::ops::Bound::Unbounded, std::ops::Bound::Included(raw));
        let (_, id) = self.by_start.range::<[u8], _>(below).next_back()?;
        self.regions.get(id).filter(|r| r.contains(raw))
    }

    /// Region containing an encoded key.
    #[must_use]
    pub fn region_for_encoded(&self, enc: &[u8]) -> Option<&Region> {
        self.regions
            .values()
            .find(|r| in_range(enc, &r.enc_start(), &r.enc_end()))
    }

    /// Regions intersecting the encoded range `[start, end)`, in key order.
    #[must_use]
    pub fn regions_in_encoded(&self, start: &[u8], end: &[u8]) -> Vec<&Region> {
        let mut v: Vec<&Region> = self
            .regions
            .values()
            .filter(|r| {
                let (rs, re) = (r.enc_start(), r.enc_end());
                (re.is_empty() || re.as_slice() > start) && (end.is_empty() || rs.as_slice() < end)
            })
            .collect();
        v.sort_by(|a, b| a.start.cmp(&b.start));
        v
    }

    fn region_mut(&mut self, id: u64) -> Result<&mut Region, TopologyError> {
        self.regions.get_mut(&id).ok_or(TopologyError::NoRegion(id))
    }

    /// Split `region` at raw `key`: the new region (fresh id, new peer ids on the
    /// same stores) takes the left half, the original id keeps the right half; both
    /// get `version + 1`. Returns `(left, right)`.
    pub fn split(&mut self, region: u64, key: &[u8]) -> Result<(Region, Region), TopologyError> {
        let r = self
            .regions
            .get(&region)
            .cloned()
            .ok_or(TopologyError::NoRegion(region))?;
        if key <= r.start.as_slice() || !r.contains(key) {
            return Err(TopologyError::BadSplitKey {
                region,
                key: hex::encode(key),
            });
        }
        let new_id = self.alloc_id();
        let mut peers = Vec::new();
        for p in &r.peers {
            let pid = self.alloc_id();
            peers.push((pid, p.1, p.2));
        }
        let left = Region {
            id: new_id,
            start: r.start.clone(),
            end: key.to_vec(),
            conf_ver: r.conf_ver,
            version: r.version + 1,
            peers,
            leader_store: r.leader_store,
        };
        let right = Region {
            start: key.to_vec(),
            version: r.version + 1,
            ..r
        };
        self.insert_region(left.clone());
        self.insert_region(right.clone());
        Ok((left, right))
    }

    /// Merge `source` into the adjacent `target`; target's version becomes
    /// `max(versions) + 1`. Returns the merged target.
    pub fn merge(&mut self, source: u64, target: u64) -> Result<Region, TopologyError> {
        let s = self
            .regions
            .get(&source)
            .cloned()
            .ok_or(TopologyError::NoRegion(source))?;
        let mut t = self
            .regions
            .get(&target)
            .cloned()
            .ok_or(TopologyError::NoRegion(target))?;
        if t.end == s.start && !t.end.is_empty() {
            t.end = s.end.clone();
        } else if s.end == t.start && !s.end.is_empty() {
            t.start = s.start.clone();
        } else {
            return Err(TopologyError::NotAdjacent(source, target));
        }
        t.version = t.version.max(s.version) + 1;
        self.remove_region(source);
        self.insert_region(t.clone());
        Ok(t)
    }

    /// Move the leader of `region` to its voter peer on `store`.
    pub fn transfer_leader(&mut self, region: u64, store: u64) -> Result<Region, TopologyError> {
        let r = self.region_mut(region)?;
        if !r.peers.iter().any(|p| p.1 == store && !p.2) {
            return Err(TopologyError::NoPeer { region, store });
        }
        r.leader_store = store;
        Ok(r.clone())
    }

    /// Add a peer on `store` (conf_ver + 1).
    pub fn add_peer(
        &mut self,
        region: u64,
        store: u64,
        learner: bool,
    ) -> Result<Region, TopologyError> {
        if !self.stores.contains_key(&store) {
            return Err(TopologyError::NoStore(store));
        }
        let pid = self.alloc_id();
        let r = self.region_mut(region)?;
        r.peers.push((pid, store, learner));
        r.conf_ver += 1;
        Ok(r.clone())
    }

    /// Remove the peer on `store` (conf_ver + 1); the leader cannot be removed.
    pub fn remove_peer(&mut self, region: u64, store: u64) -> Result<Region, TopologyError> {
        let r = self.region_mut(region)?;
        if r.leader_store == store || !r.peers.iter().any(|p| p.1 == store) {
            return Err(TopologyError::NoPeer { region, store });
        }
        r.peers.retain(|p| p.1 != store);
        r.conf_ver += 1;
        Ok(r.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo() -> Topology {
        let mut t = Topology::default();
        for id in [1, 2] {
            t.stores.insert(
                id,
                StoreInfo {
                    id,
                    address: String::new(),
                    version: "8.5.0".into(),
                    tiflash: false,
                    supports_v2: true,
                    up: true,
                    tombstone: false,
                },
            );
        }
        t.insert_region(Region {
            id: 10,
            start: vec![],
            end: vec![],
            conf_ver: 1,
            version: 1,
            peers: vec![(11, 1, false), (12, 2, false)],
            leader_store: 1,
        });
        t
    }

    #[test]
    fn split_then_merge() {
        let mut t = topo();
        let (l, r) = t.split(10, b"m").expect("split");
        assert_eq!(
            (l.start.as_slice(), l.end.as_slice(), l.version),
            (&b""[..], &b"m"[..], 2)
        );
        assert_eq!((r.id, r.start.as_slice(), r.version), (10, &b"m"[..], 2));
        assert_ne!(l.id, 10);
        t.validate().expect("valid");
        let m = t.merge(l.id, 10).expect("merge");
        assert_eq!(
            (m.start.as_slice(), m.end.as_slice(), m.version),
            (&b""[..], &b""[..], 3)
        );
        assert_eq!(t.regions().len(), 1);
        assert_eq!(t.region_for_raw(b"z").map(|r| r.id), Some(10));
    }

    #[test]
    fn conf_change_bumps_conf_ver_only() {
        let mut t = topo();
        let r = t.remove_peer(10, 2).expect("remove");
        assert_eq!((r.conf_ver, r.version), (2, 1));
        assert!(t.remove_peer(10, 1).is_err());
    }
}
