//! Test harness: starts an emulator from scenario TOML (manual resolved-ts ticks; the shared
//! layouts are files in `tests/scenarios/fixtures/`), opens EventFeed streams with the
//! generated tonic client, and renders messages as compact lines so tests can assert exact
//! sequences.

use std::net::SocketAddr;
use std::time::Duration;

use tidb_changefeed::proto::cdcpb::{
    self, ChangeDataEvent, ChangeDataRequest, change_data_client::ChangeDataClient,
    change_data_request, event,
};
use tidb_changefeed::proto::metapb;
use tidb_changefeed_emulator::runner;
use tidb_changefeed_emulator::scenario::Scenario;
use tidb_changefeed_emulator::{Cluster, Emulator};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::Streaming;

/// Three stores, three regions [-inf,"b") led by 1, ["b","d") led by 2,
/// ["d",+inf) led by 3, every region with a peer on every store.
pub const THREE_REGIONS: &str = include_str!("../../scenarios/fixtures/three_regions.toml");

pub const CLUSTER_ID: u64 = 42;

pub struct Env {
    pub emu: Emulator,
    pub cluster: Cluster,
}

pub async fn env(toml: &str) -> Env {
    let s = Scenario::parse(toml, "inline").expect("scenario");
    let emu = runner::start(&s, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("emulator starts");
    let cluster = emu.cluster().clone();
    Env { emu, cluster }
}

impl Env {
    pub fn addr(&self, store: u64) -> String {
        format!("http://{}", self.emu.store_addr(store).expect("store"))
    }

    pub fn epoch(&self, region: u64) -> metapb::RegionEpoch {
        let m = self.cluster.lock();
        m.topo.regions().get(&region).map_or(
            metapb::RegionEpoch {
                conf_ver: 1,
                version: 1,
            },
            |r| metapb::RegionEpoch {
                conf_ver: r.conf_ver,
                version: r.version,
            },
        )
    }

    /// Wait until the model holds `n` subscriptions (requests travel
    /// asynchronously).
    pub async fn wait_subs(&self, n: usize) {
        for _ in 0..500 {
            if self.cluster.lock().subscription_count() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("subscription count never reached {n}");
    }

    /// A Register request as TiCDC sends it (version 8.5.0, whole region).
    pub fn reg(&self, region: u64, request_id: u64, checkpoint_ts: u64) -> ChangeDataRequest {
        ChangeDataRequest {
            header: Some(cdcpb::Header {
                cluster_id: CLUSTER_ID,
                ticdc_version: "8.5.0".into(),
            }),
            region_id: region,
            region_epoch: Some(self.epoch(region)),
            checkpoint_ts,
            start_key: Vec::new(),
            end_key: Vec::new(),
            request_id,
            extra_op: 1,
            request: Some(change_data_request::Request::Register(
                change_data_request::Register {},
            )),
            kv_api: 0,
            filter_loop: false,
            scan_priority: 0,
        }
    }

    pub async fn feed(&self, store: u64) -> Feed {
        Feed::open(&self.addr(store), None)
            .await
            .expect("EventFeed opens")
    }

    pub async fn feed_v2(&self, store: u64) -> Feed {
        Feed::open(&self.addr(store), Some("stream-multiplexing"))
            .await
            .expect("EventFeedV2 opens")
    }

    pub fn tick(&self) -> u64 {
        self.cluster.lock().tick_resolved_ts()
    }

    pub fn ts(&self) -> u64 {
        self.cluster.lock().next_ts()
    }
}

pub struct Feed {
    pub tx: mpsc::UnboundedSender<ChangeDataRequest>,
    pub rx: Streaming<ChangeDataEvent>,
}

impl Feed {
    /// Open EventFeed (`features = None`) or EventFeedV2 with a features header.
    pub async fn open(addr: &str, features: Option<&str>) -> Result<Self, tonic::Status> {
        let mut client = ChangeDataClient::connect(addr.to_owned())
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut req = tonic::Request::new(UnboundedReceiverStream::new(rx));
        let rx = match features {
            None => client.event_feed(req).await?.into_inner(),
            Some(f) => {
                req.metadata_mut()
                    .insert("features", f.parse().expect("ascii"));
                client.event_feed_v2(req).await?.into_inner()
            }
        };
        Ok(Self { tx, rx })
    }

    pub fn send(&self, req: ChangeDataRequest) {
        self.tx.send(req).expect("request stream open");
    }

    /// Next message (5 s timeout).
    pub async fn next(&mut self) -> Result<Option<ChangeDataEvent>, tonic::Status> {
        tokio::time::timeout(Duration::from_secs(5), self.rx.message())
            .await
            .expect("a message within 5 s")
    }

    /// Read messages until exactly `n` lines have been rendered.
    pub async fn lines(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            let m = self
                .next()
                .await
                .expect("stream ok")
                .expect("stream not closed");
            out.extend(render(&m));
        }
        assert_eq!(out.len(), n, "more lines than expected: {out:#?}");
        out
    }

    /// Assert nothing arrives for 200 ms.
    pub async fn silent(&mut self) {
        if let Ok(m) = tokio::time::timeout(Duration::from_millis(200), self.rx.message()).await {
            panic!("expected silence, got {m:?}");
        }
    }
}

pub fn show(b: &[u8]) -> String {
    if !b.is_empty() && b.iter().all(|c| c.is_ascii_graphic()) {
        String::from_utf8_lossy(b).into_owned()
    } else {
        format!("0x{}", hex::encode(b))
    }
}

pub fn render_row(r: &event::Row) -> String {
    let ty = event::LogType::try_from(r.r#type).map_or("?".into(), |t| t.as_str_name().to_owned());
    if ty == "INITIALIZED" {
        return ty;
    }
    let op =
        event::row::OpType::try_from(r.op_type).map_or("?".into(), |t| t.as_str_name().to_owned());
    let mut s = format!(
        "{ty} {op} {} s={} c={}",
        show(&r.key),
        r.start_ts,
        r.commit_ts
    );
    if !r.value.is_empty() {
        s.push_str(&format!(" v={}", show(&r.value)));
    }
    if !r.old_value.is_empty() {
        s.push_str(&format!(" old={}", show(&r.old_value)));
    }
    if r.txn_source != 0 {
        s.push_str(&format!(" src={}", r.txn_source));
    }
    s
}

pub fn render_error(e: &cdcpb::Error) -> String {
    if let Some(x) = &e.not_leader {
        return match &x.leader {
            Some(p) => format!("not_leader(leader=store {})", p.store_id),
            None => "not_leader(no leader)".into(),
        };
    }
    if let Some(x) = &e.epoch_not_match {
        let rs: Vec<String> = x
            .current_regions
            .iter()
            .map(|r| {
                let ep = r.region_epoch.unwrap_or_default();
                format!(
                    "{}[{},{})v{}",
                    r.id,
                    show(&r.start_key),
                    show(&r.end_key),
                    ep.version
                )
            })
            .collect();
        return format!("epoch_not_match({})", rs.join(" "));
    }
    if let Some(x) = &e.region_not_found {
        return format!("region_not_found({})", x.region_id);
    }
    if let Some(x) = &e.duplicate_request {
        return format!("duplicate_request({})", x.region_id);
    }
    if let Some(x) = &e.compatibility {
        return format!("compatibility({})", x.required_version);
    }
    if let Some(x) = &e.cluster_id_mismatch {
        return format!(
            "cluster_id_mismatch(current={} request={})",
            x.current, x.request
        );
    }
    if let Some(x) = &e.server_is_busy {
        return format!("server_is_busy({}, backoff_ms={})", x.reason, x.backoff_ms);
    }
    if let Some(x) = &e.congested {
        return format!("congested({})", x.region_id);
    }
    "empty_error".into()
}

/// One line per `Event` and per `ResolvedTs`.
pub fn render(m: &ChangeDataEvent) -> Vec<String> {
    assert!(
        m.events.is_empty() || m.resolved_ts.is_none(),
        "events and resolved_ts mixed in one message"
    );
    let mut out = Vec::new();
    for e in &m.events {
        let head = format!("r{}#{}", e.region_id, e.request_id);
        let body = match &e.event {
            Some(event::Event::Entries(en)) => {
                let rows: Vec<String> = en.entries.iter().map(render_row).collect();
                format!("[{}]", rows.join(", "))
            }
            Some(event::Event::Error(err)) => format!("error {}", render_error(err)),
            #[allow(deprecated)]
            Some(event::Event::ResolvedTs(ts)) => format!("resolved_ts {ts}"),
            Some(event::Event::LongTxn(_)) => "long_txn".into(),
            None => "none".into(),
        };
        out.push(format!("{head} {body}"));
    }
    if let Some(r) = &m.resolved_ts {
        out.push(format!(
            "resolved req={} ts={} regions={:?}",
            r.request_id, r.ts, r.regions
        ));
    }
    out
}

pub fn put(key: &str, value: &str) -> tidb_changefeed_emulator::Mutation {
    tidb_changefeed_emulator::Mutation {
        key: key.as_bytes().to_vec(),
        op: tidb_changefeed_emulator::MutationOp::Put(value.as_bytes().to_vec()),
    }
}

pub fn del(key: &str) -> tidb_changefeed_emulator::Mutation {
    tidb_changefeed_emulator::Mutation {
        key: key.as_bytes().to_vec(),
        op: tidb_changefeed_emulator::MutationOp::Delete,
    }
}

pub fn k(key: &str) -> Vec<u8> {
    key.as_bytes().to_vec()
}
