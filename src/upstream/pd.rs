//! PD client: leader discovery, TSO, region scans, stores and the service GC safe point.
//!
//! Owns one gRPC channel to the PD leader. Guarantees:
//! - the leader is found with `GetMembers` over every configured endpoint in turn, following
//!   the leader's client URLs; [`PdClient::reconnect`] repeats that after a failure;
//! - every request carries the cluster id learned from `GetMembers`;
//! - region scans take and return **encoded** (memcomparable) keys, cover the whole requested
//!   range in key order (paging past PD's limit), and use `BatchScanRegions`, falling back to
//!   `ScanRegions` once PD answers `Unimplemented`;
//! - TiFlash stores (label `engine=tiflash`) are never returned as CDC stores;
//! - a service GC safe point below the cluster's minimum is a fatal
//!   [`UpstreamError::SafePointBehindGc`], never silently accepted.
//!
//! Application errors in a response header become [`UpstreamError::PdResponse`]; transport
//! errors become [`UpstreamError::PdRpc`]. Both are retryable.

use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::config::UpstreamTls;

use crate::proto::metapb;
use crate::proto::pdpb::{self, pd_client::PdClient as PdGrpc};

use super::error::UpstreamError;

/// Regions asked for per scan request (TiCDC loads regions in batches of 1024).
pub const SCAN_BATCH: i32 = 1024;
/// Per-RPC timeout.
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// A region as PD reports it, with its leader when PD knows one.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionInfo {
    pub region: metapb::Region,
    pub leader: Option<metapb::Peer>,
}

impl RegionInfo {
    pub fn id(&self) -> u64 {
        self.region.id
    }
}

/// Connected PD client (to the current leader).
#[derive(Debug, Clone)]
pub struct PdClient {
    endpoints: Vec<String>,
    leader_url: String,
    cluster_id: u64,
    client: PdGrpc<Channel>,
    batch_scan_supported: bool,
    conn: ConnectOptions,
}

/// `http://` is added to an endpoint given without a scheme.
pub fn normalize_url(s: &str) -> String {
    let s = s.trim();
    if s.contains("://") {
        s.to_string()
    } else {
        format!("http://{s}")
    }
}

/// An error with its whole `source()` chain (tonic's transport error alone says only
/// "transport error"; the TLS cause is further down).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = s.source();
    }
    out
}

/// A gRPC status as `Code: message: cause…` (the cause chain tells a TLS rejection from a
/// network failure).
pub fn status_detail(s: &tonic::Status) -> String {
    let mut out = format!("{:?}: {}", s.code(), s.message());
    if let Some(src) = std::error::Error::source(s) {
        let chain = error_chain(src);
        if !out.contains(&chain) {
            out.push_str(": ");
            out.push_str(&chain);
        }
    }
    out
}

/// How channels to PD and TiKV are opened: plain text, or TLS with the cluster's CA and,
/// for mutual TLS, a client certificate (`[upstream.tls]`); and the connect timeout.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    tls: Option<ClientTlsConfig>,
    connect_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            tls: None,
            connect_timeout: RPC_TIMEOUT,
        }
    }
}

fn read_pem(path: &std::path::Path) -> Result<Vec<u8>, UpstreamError> {
    let pem = std::fs::read(path).map_err(|e| UpstreamError::TlsConfig {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN ") {
        return Err(UpstreamError::TlsConfig {
            path: path.display().to_string(),
            detail: "not a PEM file".into(),
        });
    }
    Ok(pem)
}

impl ConnectOptions {
    /// Options from `[upstream.tls]` (PEM files read now) and `connect-timeout`.
    pub fn new(
        tls: Option<&UpstreamTls>,
        connect_timeout: Duration,
    ) -> Result<Self, UpstreamError> {
        let tls = match tls {
            None => None,
            Some(t) => {
                let mut c =
                    ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read_pem(&t.ca)?));
                match (&t.cert, &t.key) {
                    (Some(cert), Some(key)) => {
                        c = c.identity(Identity::from_pem(read_pem(cert)?, read_pem(key)?));
                    }
                    (None, None) => {}
                    (Some(p), None) | (None, Some(p)) => {
                        return Err(UpstreamError::TlsConfig {
                            path: p.display().to_string(),
                            detail: "a client certificate needs both `cert` and `key`".into(),
                        });
                    }
                }
                Some(c)
            }
        };
        Ok(ConnectOptions {
            tls,
            connect_timeout,
        })
    }

    /// Whether channels use TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The URL for an address (`host:port` or a URL): `https://` with TLS, else `http://`.
    pub fn url(&self, addr: &str) -> String {
        let u = normalize_url(addr);
        match (self.is_tls(), u.strip_prefix("http://")) {
            (true, Some(rest)) => format!("https://{rest}"),
            _ => u,
        }
    }

    /// Opens a channel to `url` (connection and TLS handshake done); `rpc_timeout` bounds
    /// each unary call (not streams' bodies).
    pub async fn channel(
        &self,
        url: &str,
        rpc_timeout: Option<Duration>,
    ) -> Result<Channel, String> {
        let mut ep = Endpoint::from_shared(url.to_string())
            .map_err(|e| format!("invalid URL {url:?}: {e}"))?
            .connect_timeout(self.connect_timeout);
        if let Some(t) = rpc_timeout {
            ep = ep.timeout(t);
        }
        if let Some(tls) = &self.tls {
            ep = ep.tls_config(tls.clone()).map_err(|e| error_chain(&e))?;
        }
        ep.connect().await.map_err(|e| error_chain(&e))
    }
}

fn check_header(rpc: &'static str, h: Option<&pdpb::ResponseHeader>) -> Result<(), UpstreamError> {
    if let Some(err) = h.and_then(|h| h.error.as_ref()) {
        let t = pdpb::ErrorType::try_from(err.r#type).unwrap_or(pdpb::ErrorType::Unknown);
        if t != pdpb::ErrorType::Ok {
            return Err(UpstreamError::PdResponse {
                rpc,
                error_type: t.as_str_name().to_string(),
                message: err.message.clone(),
            });
        }
    }
    Ok(())
}

/// Whether PD reports the store removed from the cluster: `state` Tombstone, or
/// `node_state` Removed (PD's newer field, which `GetAllStores` with
/// `exclude_tombstone_stores` filters on: tikv/pd `server/grpc_service.go` lines 909-916).
fn is_removed(s: &metapb::Store) -> bool {
    s.state == metapb::StoreState::Tombstone as i32
        || s.node_state == metapb::NodeState::Removed as i32
}

fn is_tiflash(s: &metapb::Store) -> bool {
    s.labels
        .iter()
        .any(|l| l.key == "engine" && l.value.eq_ignore_ascii_case("tiflash"))
}

impl PdClient {
    /// Finds the PD leader through `GetMembers` on each endpoint in turn.
    pub async fn connect(endpoints: &[String]) -> Result<Self, UpstreamError> {
        Self::connect_with(endpoints, ConnectOptions::default()).await
    }

    /// [`PdClient::connect`] with TLS and timeout options.
    pub async fn connect_with(
        endpoints: &[String],
        conn: ConnectOptions,
    ) -> Result<Self, UpstreamError> {
        if endpoints.is_empty() {
            return Err(UpstreamError::NoPdEndpoints);
        }
        let endpoints: Vec<String> = endpoints.iter().map(|e| conn.url(e)).collect();
        let (leader_url, cluster_id, client) = discover(&endpoints, &conn).await?;
        Ok(PdClient {
            endpoints,
            leader_url,
            cluster_id,
            client,
            batch_scan_supported: true,
            conn,
        })
    }

    /// How this client opens channels (shared with the TiKV store streams).
    pub fn connect_options(&self) -> &ConnectOptions {
        &self.conn
    }

    /// Rediscovers the leader (after an RPC failure).
    pub async fn reconnect(&mut self) -> Result<(), UpstreamError> {
        let (url, id, client) = discover(&self.endpoints, &self.conn).await?;
        self.leader_url = url;
        self.cluster_id = id;
        self.client = client;
        Ok(())
    }

    /// The PD endpoints this client was given.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    pub fn cluster_id(&self) -> u64 {
        self.cluster_id
    }

    pub fn leader_url(&self) -> &str {
        &self.leader_url
    }

    fn header(&self) -> Option<pdpb::RequestHeader> {
        Some(pdpb::RequestHeader {
            cluster_id: self.cluster_id,
            caller_id: "tidb-changefeed".to_string(),
            ..Default::default()
        })
    }

    fn rpc_err(&self, rpc: &'static str, s: tonic::Status) -> UpstreamError {
        UpstreamError::PdRpc {
            rpc,
            endpoint: self.leader_url.clone(),
            detail: status_detail(&s),
        }
    }

    /// One timestamp from PD's TSO (`physical << 18 | logical`).
    pub async fn get_ts(&self) -> Result<u64, UpstreamError> {
        let req = pdpb::TsoRequest {
            header: self.header(),
            count: 1,
            dc_location: String::new(),
        };
        let mut client = self.client.clone();
        let mut stream = client
            .tso(tokio_stream::iter(vec![req]))
            .await
            .map_err(|s| self.rpc_err("Tso", s))?
            .into_inner();
        let resp = stream
            .message()
            .await
            .map_err(|s| self.rpc_err("Tso", s))?
            .ok_or(UpstreamError::PdInvalid {
                rpc: "Tso",
                detail: "stream ended without a response".into(),
            })?;
        check_header("Tso", resp.header.as_ref())?;
        let ts = resp.timestamp.ok_or(UpstreamError::PdInvalid {
            rpc: "Tso",
            detail: "no timestamp".into(),
        })?;
        compose_ts(ts.physical, ts.logical).ok_or(UpstreamError::PdInvalid {
            rpc: "Tso",
            detail: format!("timestamp out of range: {ts:?}"),
        })
    }

    /// Every region overlapping the encoded range `[start, end)` (empty `end` = +inf), in
    /// key order.
    pub async fn scan_regions(
        &mut self,
        start: &[u8],
        end: &[u8],
    ) -> Result<Vec<RegionInfo>, UpstreamError> {
        let mut out: Vec<RegionInfo> = Vec::new();
        let mut cursor = start.to_vec();
        loop {
            let page = self.scan_page(&cursor, end).await?;
            if page.is_empty() {
                break;
            }
            let last_end = page
                .last()
                .map(|r| r.region.end_key.clone())
                .unwrap_or_default();
            for r in page {
                if out.last().is_none_or(|l| l.region.id != r.region.id) {
                    out.push(r);
                }
            }
            // Stop at +inf or once the range end is covered.
            if last_end.is_empty() || (!end.is_empty() && last_end.as_slice() >= end) {
                break;
            }
            if last_end <= cursor {
                return Err(UpstreamError::PdInvalid {
                    rpc: "ScanRegions",
                    detail: "region scan did not advance".into(),
                });
            }
            cursor = last_end;
        }
        Ok(out)
    }

    async fn scan_page(
        &mut self,
        start: &[u8],
        end: &[u8],
    ) -> Result<Vec<RegionInfo>, UpstreamError> {
        if self.batch_scan_supported {
            let req = pdpb::BatchScanRegionsRequest {
                header: self.header(),
                need_buckets: false,
                ranges: vec![pdpb::KeyRange {
                    start_key: start.to_vec(),
                    end_key: end.to_vec(),
                }],
                limit: SCAN_BATCH,
                contain_all_key_range: false,
            };
            match self.client.clone().batch_scan_regions(req).await {
                Ok(resp) => {
                    let resp = resp.into_inner();
                    check_header("BatchScanRegions", resp.header.as_ref())?;
                    return Ok(region_infos(resp.regions));
                }
                Err(s) if s.code() == tonic::Code::Unimplemented => {
                    tracing::info!(pd = %self.leader_url, "PD has no BatchScanRegions; using ScanRegions");
                    self.batch_scan_supported = false;
                }
                Err(s) => return Err(self.rpc_err("BatchScanRegions", s)),
            }
        }
        let req = pdpb::ScanRegionsRequest {
            header: self.header(),
            start_key: start.to_vec(),
            limit: SCAN_BATCH,
            end_key: end.to_vec(),
        };
        let resp = self
            .client
            .clone()
            .scan_regions(req)
            .await
            .map_err(|s| self.rpc_err("ScanRegions", s))?
            .into_inner();
        check_header("ScanRegions", resp.header.as_ref())?;
        if !resp.regions.is_empty() {
            return Ok(region_infos(resp.regions));
        }
        let mut leaders = resp.leaders.into_iter();
        Ok(resp
            .region_metas
            .into_iter()
            .map(|region| RegionInfo {
                region,
                leader: leaders.next().filter(|p| p.store_id != 0),
            })
            .collect())
    }

    /// The region holding the encoded key `key` and its leader; `None` when PD knows no
    /// region there (a split or merge in flight).
    pub async fn get_region(&self, key: &[u8]) -> Result<Option<RegionInfo>, UpstreamError> {
        let req = pdpb::GetRegionRequest {
            header: self.header(),
            region_key: key.to_vec(),
            need_buckets: false,
        };
        let resp = self
            .client
            .clone()
            .get_region(req)
            .await
            .map_err(|s| self.rpc_err("GetRegion", s))?
            .into_inner();
        check_header("GetRegion", resp.header.as_ref())?;
        Ok(resp.region.map(|region| RegionInfo {
            region,
            leader: resp.leader.filter(|p| p.store_id != 0),
        }))
    }

    /// The store with this id. TiFlash stores are reported as not found: CDC never uses them.
    /// A store removed from the cluster is [`UpstreamError::StoreTombstone`]: PD keeps
    /// answering `GetStore` for it with its meta, `state` Tombstone (`node_state` Removed on
    /// PD ≥ 5.x), until `pd-ctl store remove-tombstone` forgets it, and then answers error
    /// UNKNOWN "invalid store ID N, not found" (tikv/pd `server/grpc_service.go` `GetStore`,
    /// lines 774-808 at a186e0cc61; PD's own Go client turns a removed store into "no
    /// store", `client/client.go` `handleStoreResponse`, lines 1083-1092).
    pub async fn get_store(&self, store_id: u64) -> Result<metapb::Store, UpstreamError> {
        let req = pdpb::GetStoreRequest {
            header: self.header(),
            store_id,
        };
        let resp = self
            .client
            .clone()
            .get_store(req)
            .await
            .map_err(|s| self.rpc_err("GetStore", s))?
            .into_inner();
        // PD answers an unknown id with error UNKNOWN "invalid store ID N, not found".
        match check_header("GetStore", resp.header.as_ref()) {
            Err(UpstreamError::PdResponse { message, .. })
                if resp.store.is_none() && message.contains("not found") =>
            {
                return Err(UpstreamError::StoreNotFound { store_id });
            }
            r => r?,
        }
        match resp.store {
            Some(s) if is_removed(&s) => Err(UpstreamError::StoreTombstone { store_id }),
            Some(s) if s.id != 0 && !is_tiflash(&s) => Ok(s),
            _ => Err(UpstreamError::StoreNotFound { store_id }),
        }
    }

    /// Every store that is not a tombstone and not TiFlash.
    pub async fn get_all_stores(&self) -> Result<Vec<metapb::Store>, UpstreamError> {
        let req = pdpb::GetAllStoresRequest {
            header: self.header(),
            exclude_tombstone_stores: true,
        };
        let resp = self
            .client
            .clone()
            .get_all_stores(req)
            .await
            .map_err(|s| self.rpc_err("GetAllStores", s))?
            .into_inner();
        check_header("GetAllStores", resp.header.as_ref())?;
        Ok(resp
            .stores
            .into_iter()
            .filter(|s| !is_tiflash(s) && !is_removed(s))
            .collect())
    }

    /// Sets this service's GC safe point with a TTL in seconds; returns the cluster's
    /// minimum safe point. Fails fatally when the cluster's minimum is above `safe_point`
    /// (history needed from `safe_point` may be gone). TTL ≤ 0 removes the entry, and then
    /// no check is made.
    pub async fn update_service_gc_safe_point(
        &self,
        service_id: &str,
        ttl_secs: i64,
        safe_point: u64,
    ) -> Result<u64, UpstreamError> {
        let req = pdpb::UpdateServiceGcSafePointRequest {
            header: self.header(),
            service_id: service_id.as_bytes().to_vec(),
            ttl: ttl_secs,
            safe_point,
        };
        let resp = self
            .client
            .clone()
            .update_service_gc_safe_point(req)
            .await
            .map_err(|s| self.rpc_err("UpdateServiceGCSafePoint", s))?
            .into_inner();
        check_header("UpdateServiceGCSafePoint", resp.header.as_ref())?;
        if ttl_secs > 0 && resp.min_safe_point > safe_point {
            return Err(UpstreamError::SafePointBehindGc {
                requested: safe_point,
                min_safe_point: resp.min_safe_point,
            });
        }
        Ok(resp.min_safe_point)
    }

    /// Keeps MVCC history from `checkpoint` on for this service: sets the service safe point
    /// to `checkpoint - 1` (TiCDC's convention) and returns the value set. PD refuses a value
    /// below the least safe point of all services; when that least value is still at or below
    /// `checkpoint` (another changefeed of this process, or another tool, holds history from
    /// just after our `checkpoint - 1`), nothing we need can be collected, so the service is
    /// set at that least value instead. Only a least value above `checkpoint` is fatal.
    pub async fn hold_gc_from(
        &self,
        service_id: &str,
        ttl_secs: i64,
        checkpoint: u64,
    ) -> Result<u64, UpstreamError> {
        let wanted = checkpoint.saturating_sub(1);
        match self
            .update_service_gc_safe_point(service_id, ttl_secs, wanted)
            .await
        {
            Ok(_) => Ok(wanted),
            Err(UpstreamError::SafePointBehindGc { min_safe_point, .. })
                if min_safe_point <= checkpoint =>
            {
                self.update_service_gc_safe_point(service_id, ttl_secs, min_safe_point)
                    .await?;
                Ok(min_safe_point)
            }
            Err(e) => Err(e),
        }
    }

    /// The cluster's GC safe point.
    pub async fn get_gc_safe_point(&self) -> Result<u64, UpstreamError> {
        let req = pdpb::GetGcSafePointRequest {
            header: self.header(),
        };
        let resp = self
            .client
            .clone()
            .get_gc_safe_point(req)
            .await
            .map_err(|s| self.rpc_err("GetGCSafePoint", s))?
            .into_inner();
        check_header("GetGCSafePoint", resp.header.as_ref())?;
        Ok(resp.safe_point)
    }
}

/// `physical_ms << 18 | logical`, or `None` when out of range.
pub fn compose_ts(physical: i64, logical: i64) -> Option<u64> {
    let p = u64::try_from(physical).ok()?;
    let l = u64::try_from(logical).ok()?;
    if l >= 1 << 18 || p >= 1 << 46 {
        return None;
    }
    Some(p << 18 | l)
}

/// Asks each endpoint for the members; connects to the leader's first reachable client URL.
async fn discover(
    endpoints: &[String],
    conn: &ConnectOptions,
) -> Result<(String, u64, PdGrpc<Channel>), UpstreamError> {
    let mut errors = Vec::new();
    for ep in endpoints {
        let ch = match conn.channel(ep, Some(RPC_TIMEOUT)).await {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!("{ep}: {e}"));
                continue;
            }
        };
        let mut c = PdGrpc::new(ch.clone());
        let resp = match c
            .get_members(pdpb::GetMembersRequest { header: None })
            .await
        {
            Ok(r) => r.into_inner(),
            Err(s) => {
                errors.push(format!("{ep}: GetMembers: {}", status_detail(&s)));
                continue;
            }
        };
        if let Err(e) = check_header("GetMembers", resp.header.as_ref()) {
            errors.push(format!("{ep}: {e}"));
            continue;
        }
        let cluster_id = resp.header.as_ref().map_or(0, |h| h.cluster_id);
        let Some(leader) = resp.leader else {
            errors.push(format!("{ep}: GetMembers names no leader"));
            continue;
        };
        for url in &leader.client_urls {
            let url = conn.url(url);
            if url == *ep {
                return Ok((url, cluster_id, PdGrpc::new(ch)));
            }
            match conn.channel(&url, Some(RPC_TIMEOUT)).await {
                Ok(lc) => return Ok((url, cluster_id, PdGrpc::new(lc))),
                Err(e) => errors.push(format!("leader {url}: {e}")),
            }
        }
        if leader.client_urls.is_empty() {
            errors.push(format!("{ep}: the leader has no client URLs"));
        }
    }
    Err(UpstreamError::PdUnreachable {
        endpoints: endpoints.join(","),
        detail: errors.join("; "),
    })
}

/// Regions with their leaders (a leader on store 0 means none is known).
fn region_infos(regions: Vec<pdpb::Region>) -> Vec<RegionInfo> {
    regions
        .into_iter()
        .filter_map(|r| {
            r.region.map(|region| RegionInfo {
                region,
                leader: r.leader.filter(|p| p.store_id != 0),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_compose_ts_matches_reference_example() {
        assert_eq!(
            compose_ts(1_700_000_000_000, 5),
            Some(445_644_800_000_000_005)
        );
        assert_eq!(compose_ts(-1, 0), None);
        assert_eq!(compose_ts(1, 1 << 18), None);
    }

    #[test]
    fn upstream_tiflash_detection() {
        let mut s = metapb::Store::default();
        assert!(!is_tiflash(&s));
        s.labels.push(metapb::StoreLabel {
            key: "engine".into(),
            value: "tiflash".into(),
        });
        assert!(is_tiflash(&s));
    }

    #[test]
    fn upstream_removed_store_detection() {
        let mut s = metapb::Store {
            node_state: metapb::NodeState::Serving as i32,
            ..Default::default()
        };
        assert!(!is_removed(&s), "Up and serving");
        s.state = metapb::StoreState::Offline as i32;
        assert!(!is_removed(&s), "Offline is still being drained");
        s.state = metapb::StoreState::Tombstone as i32;
        assert!(is_removed(&s));
        s.state = metapb::StoreState::Up as i32;
        s.node_state = metapb::NodeState::Removed as i32;
        assert!(is_removed(&s), "newer PD: node state only");
    }

    #[test]
    fn upstream_url_normalization() {
        assert_eq!(normalize_url("127.0.0.1:2379"), "http://127.0.0.1:2379");
        assert_eq!(normalize_url("https://pd:2379"), "https://pd:2379");
    }
}
