//! The emulated PD gRPC service (`pdpb.PD`).
//!
//! Owns the translation from the model to PD answers. Guarantees: every RPC but
//! `GetMembers` refuses a header cluster id different from the cluster's with
//! `FailedPrecondition` ("mismatch cluster id"); regions and keys are encoded; a key
//! with no region gets an OK header and no region; TSO answers carry the largest
//! timestamp of the batch; `ScanRegions` fills both legacy and new fields; a store removed
//! from the cluster is answered by `GetStore` with state Tombstone and left out of
//! `GetAllStores` when tombstones are excluded, as PD does; a region the model hides is in
//! no region answer (a hole).

use std::pin::Pin;

use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use crate::cluster::Cluster;
use crate::proto::pdpb::pd_server::Pd;
use crate::topology::Region;
use tidb_changefeed::proto::pdpb;

/// PD service state.
#[derive(Debug, Clone)]
pub struct PdService {
    cluster: Cluster,
    addr: String,
    scheme: &'static str,
    member_id: u64,
}

impl PdService {
    /// A PD serving `cluster`, advertising `addr` as its client URL.
    #[must_use]
    pub fn new(cluster: Cluster, addr: String) -> Self {
        Self {
            cluster,
            addr,
            scheme: "http",
            member_id: 1,
        }
    }

    /// This server is PD member `id` (1-based; see `Model::set_pd_leader`).
    #[must_use]
    pub fn with_member(mut self, id: u64) -> Self {
        self.member_id = id;
        self
    }

    /// Advertise `https://` client URLs (the servers speak TLS).
    #[must_use]
    pub fn with_tls(mut self, tls: bool) -> Self {
        self.scheme = if tls { "https" } else { "http" };
        self
    }

    fn header(&self) -> Option<pdpb::ResponseHeader> {
        Some(pdpb::ResponseHeader {
            cluster_id: self.cluster.lock().cluster_id,
            error: None,
        })
    }

    fn check(&self, h: Option<&pdpb::RequestHeader>) -> Result<(), Status> {
        let (down, leader) = {
            let m = self.cluster.lock();
            (m.pd_unavailable(), m.pd_leader())
        };
        if down {
            return Err(Status::unavailable("PD is unavailable (injected)"));
        }
        // Classic PD `validateRequest`: a follower refuses with `not leader`.
        if leader != self.member_id {
            return Err(Status::unavailable("not leader"));
        }
        let want = self.cluster.lock().cluster_id;
        let got = h.map_or(0, |h| h.cluster_id);
        if got == want {
            Ok(())
        } else {
            Err(Status::failed_precondition(format!(
                "mismatch cluster id, need {want} but got {got}"
            )))
        }
    }

    /// Every member, and the leader.
    fn members(&self) -> (Vec<pdpb::Member>, Option<pdpb::Member>) {
        let (addrs, leader) = {
            let m = self.cluster.lock();
            (m.pd_members().to_vec(), m.pd_leader())
        };
        let addrs = if addrs.is_empty() {
            vec![self.addr.clone()]
        } else {
            addrs
        };
        let members: Vec<pdpb::Member> = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| self.member(u64::try_from(i).unwrap_or(u64::MAX - 1) + 1, a))
            .collect();
        let l = members.iter().find(|m| m.member_id == leader).cloned();
        (members, l)
    }

    fn member(&self, member_id: u64, addr: &str) -> pdpb::Member {
        pdpb::Member {
            name: format!("pd-emulator-{member_id}"),
            member_id,
            peer_urls: vec![format!("{}://{}", self.scheme, addr)],
            client_urls: vec![format!("{}://{}", self.scheme, addr)],
            leader_priority: 0,
            deploy_path: String::new(),
            binary_version: "8.5.0".into(),
            git_hash: String::new(),
            dc_location: String::new(),
        }
    }
}

fn region_pair(
    r: &Region,
) -> (
    tidb_changefeed::proto::metapb::Region,
    Option<tidb_changefeed::proto::metapb::Peer>,
) {
    (r.to_proto(), r.leader())
}

/// A PD request: carries the header whose cluster id every RPC but `GetMembers` checks.
trait PdRequest {
    fn request_header(&self) -> Option<&pdpb::RequestHeader>;
}

macro_rules! pd_requests {
    ($($t:ident),* $(,)?) => {
        $(impl PdRequest for pdpb::$t {
            fn request_header(&self) -> Option<&pdpb::RequestHeader> {
                self.header.as_ref()
            }
        })*
    };
}

pd_requests!(
    GetStoreRequest,
    GetAllStoresRequest,
    GetRegionRequest,
    GetRegionByIdRequest,
    ScanRegionsRequest,
    BatchScanRegionsRequest,
    GetGcSafePointRequest,
    UpdateServiceGcSafePointRequest,
);

impl PdService {
    /// The shape of every checked unary RPC: refuse a request [`PdService::check`] refuses,
    /// else answer with what `build` makes of the request and an OK response header.
    fn reply<Q: PdRequest, R>(
        &self,
        req: Request<Q>,
        build: impl FnOnce(Q, Option<pdpb::ResponseHeader>) -> R,
    ) -> Result<Response<R>, Status> {
        let req = req.into_inner();
        self.check(req.request_header())?;
        let header = self.header();
        Ok(Response::new(build(req, header)))
    }

    /// A `GetRegion`/`GetRegionByID` answer: the region and its leader, or neither.
    fn region_response(
        header: Option<pdpb::ResponseHeader>,
        found: Option<&Region>,
    ) -> pdpb::GetRegionResponse {
        let (region, leader) = found
            .map(region_pair)
            .map_or((None, None), |(r, l)| (Some(r), l));
        pdpb::GetRegionResponse {
            header,
            region,
            leader,
            down_peers: Vec::new(),
            pending_peers: Vec::new(),
            buckets: None,
        }
    }
}

type TsoStream = Pin<Box<dyn Stream<Item = Result<pdpb::TsoResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Pd for PdService {
    async fn get_members(
        &self,
        _req: Request<pdpb::GetMembersRequest>,
    ) -> Result<Response<pdpb::GetMembersResponse>, Status> {
        let (members, leader) = self.members();
        Ok(Response::new(pdpb::GetMembersResponse {
            header: self.header(),
            members,
            etcd_leader: leader.clone(),
            leader,
            tso_allocator_leaders: Default::default(),
        }))
    }

    type TsoStream = TsoStream;

    async fn tso(
        &self,
        req: Request<Streaming<pdpb::TsoRequest>>,
    ) -> Result<Response<Self::TsoStream>, Status> {
        let me = self.clone();
        Ok(Response::new(tso_stream(req.into_inner(), me)))
    }

    async fn get_store(
        &self,
        req: Request<pdpb::GetStoreRequest>,
    ) -> Result<Response<pdpb::GetStoreResponse>, Status> {
        self.reply(req, |req, mut header| {
            let store = self
                .cluster
                .lock()
                .topo
                .stores
                .get(&req.store_id)
                .map(crate::topology::StoreInfo::to_proto);
            if store.is_none()
                && let Some(h) = header.as_mut()
            {
                h.error = Some(pdpb::Error {
                    r#type: pdpb::ErrorType::Unknown as i32,
                    message: format!("invalid store ID {}, not found", req.store_id),
                });
            }
            pdpb::GetStoreResponse { header, store }
        })
    }

    async fn get_all_stores(
        &self,
        req: Request<pdpb::GetAllStoresRequest>,
    ) -> Result<Response<pdpb::GetAllStoresResponse>, Status> {
        self.reply(req, |req, header| {
            let stores = self
                .cluster
                .lock()
                .topo
                .stores
                .values()
                .filter(|s| !(req.exclude_tombstone_stores && s.tombstone))
                .map(crate::topology::StoreInfo::to_proto)
                .collect();
            pdpb::GetAllStoresResponse { header, stores }
        })
    }

    async fn get_region(
        &self,
        req: Request<pdpb::GetRegionRequest>,
    ) -> Result<Response<pdpb::GetRegionResponse>, Status> {
        self.reply(req, |req, header| {
            let m = self.cluster.lock();
            let found = m
                .topo
                .region_for_encoded(&req.region_key)
                .filter(|r| !m.region_hidden(r.id));
            Self::region_response(header, found)
        })
    }

    async fn get_region_by_id(
        &self,
        req: Request<pdpb::GetRegionByIdRequest>,
    ) -> Result<Response<pdpb::GetRegionResponse>, Status> {
        self.reply(req, |req, header| {
            let m = self.cluster.lock();
            let found = m
                .topo
                .regions()
                .get(&req.region_id)
                .filter(|r| !m.region_hidden(r.id));
            Self::region_response(header, found)
        })
    }

    async fn scan_regions(
        &self,
        req: Request<pdpb::ScanRegionsRequest>,
    ) -> Result<Response<pdpb::ScanRegionsResponse>, Status> {
        self.reply(req, |req, header| {
            let m = self.cluster.lock();
            let mut rs = m.topo.regions_in_encoded(&req.start_key, &req.end_key);
            rs.retain(|r| !m.region_hidden(r.id));
            if req.limit > 0 {
                rs.truncate(usize::try_from(req.limit).unwrap_or(usize::MAX));
            }
            let mut resp = pdpb::ScanRegionsResponse {
                header,
                ..Default::default()
            };
            for r in rs {
                let (meta, leader) = region_pair(r);
                resp.region_metas.push(meta.clone());
                resp.leaders.push(leader.unwrap_or_default());
                resp.regions.push(pdpb::Region {
                    region: Some(meta),
                    leader,
                    ..Default::default()
                });
            }
            resp
        })
    }

    async fn batch_scan_regions(
        &self,
        req: Request<pdpb::BatchScanRegionsRequest>,
    ) -> Result<Response<pdpb::BatchScanRegionsResponse>, Status> {
        self.reply(req, |req, header| {
            let m = self.cluster.lock();
            let limit = if req.limit > 0 {
                usize::try_from(req.limit).unwrap_or(usize::MAX)
            } else {
                usize::MAX
            };
            let mut seen = std::collections::HashSet::new();
            let mut regions = Vec::new();
            for kr in &req.ranges {
                for r in m.topo.regions_in_encoded(&kr.start_key, &kr.end_key) {
                    if m.region_hidden(r.id) {
                        continue;
                    }
                    if regions.len() >= limit {
                        break;
                    }
                    if seen.insert(r.id) {
                        let (meta, leader) = region_pair(r);
                        regions.push(pdpb::Region {
                            region: Some(meta),
                            leader,
                            ..Default::default()
                        });
                    }
                }
            }
            pdpb::BatchScanRegionsResponse { header, regions }
        })
    }

    async fn get_gc_safe_point(
        &self,
        req: Request<pdpb::GetGcSafePointRequest>,
    ) -> Result<Response<pdpb::GetGcSafePointResponse>, Status> {
        self.reply(req, |_, header| pdpb::GetGcSafePointResponse {
            header,
            safe_point: self.cluster.lock().gc_safe_point(),
        })
    }

    async fn update_service_gc_safe_point(
        &self,
        req: Request<pdpb::UpdateServiceGcSafePointRequest>,
    ) -> Result<Response<pdpb::UpdateServiceGcSafePointResponse>, Status> {
        self.reply(req, |req, header| {
            let u = self.cluster.lock().update_service_safe_point(
                &req.service_id,
                req.ttl,
                req.safe_point,
            );
            pdpb::UpdateServiceGcSafePointResponse {
                header,
                service_id: u.service_id,
                ttl: u.ttl,
                min_safe_point: u.min_safe_point,
            }
        })
    }
}

/// Turn the request stream into a response stream: one answer per request.
fn tso_stream(mut input: Streaming<pdpb::TsoRequest>, pd: PdService) -> TsoStream {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(item) = input.next().await {
            let resp = match item {
                Ok(req) => pd.check(req.header.as_ref()).and_then(|()| {
                    if req.count == 0 {
                        return Err(Status::invalid_argument("tso count should be positive"));
                    }
                    let (physical, logical) = pd.cluster.lock().tso.allocate(req.count);
                    Ok(pdpb::TsoResponse {
                        header: pd.header(),
                        count: req.count,
                        timestamp: Some(pdpb::Timestamp {
                            physical,
                            logical,
                            suffix_bits: 0,
                        }),
                    })
                }),
                Err(s) => Err(s),
            };
            let failed = resp.is_err();
            if tx.send(resp).is_err() || failed {
                break;
            }
        }
    });
    Box::pin(tokio_stream::wrappers::UnboundedReceiverStream::new(rx))
}
