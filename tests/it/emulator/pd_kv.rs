//! PD and KV services through plain tonic clients: members, TSO batches, region
//! routing with encoded keys, stores, GC safe point rules, snapshot reads with
//! KeyIsLocked and region errors.

use tidb_changefeed::proto::kvrpcpb;
use tidb_changefeed::proto::pdpb::{self, pd_client::PdClient};
use tidb_changefeed::proto::tikvpb::tikv_client::TikvClient;
use tidb_changefeed_emulator::PrewriteOptions;
use tidb_changefeed_emulator::keyspace::encode_key;

use super::harness::{CLUSTER_ID, THREE_REGIONS, env, put};

fn hdr() -> Option<pdpb::RequestHeader> {
    Some(pdpb::RequestHeader {
        cluster_id: CLUSTER_ID,
        ..Default::default()
    })
}

async fn pd(env: &super::harness::Env) -> PdClient<tonic::transport::Channel> {
    PdClient::connect(format!("http://{}", env.emu.pd_addr()))
        .await
        .expect("pd")
}

#[tokio::test]
async fn pd_members_stores_and_cluster_id_check() {
    let toml = format!("{THREE_REGIONS}\n[[stores]]\nid = 9\ntiflash = true\n");
    let env = env(&toml).await;
    let mut c = pd(&env).await;
    let m = c
        .get_members(pdpb::GetMembersRequest { header: None })
        .await
        .expect("members")
        .into_inner();
    assert_eq!(m.header.expect("header").cluster_id, CLUSTER_ID);
    assert_eq!(
        m.leader.expect("leader").client_urls,
        [format!("http://{}", env.emu.pd_addr())]
    );
    let e = c
        .get_all_stores(pdpb::GetAllStoresRequest {
            header: None,
            exclude_tombstone_stores: true,
        })
        .await
        .expect_err("cluster id 0 refused");
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    assert!(e.message().contains("mismatch cluster id"), "{e}");
    let stores = c
        .get_all_stores(pdpb::GetAllStoresRequest {
            header: hdr(),
            exclude_tombstone_stores: true,
        })
        .await
        .expect("stores")
        .into_inner()
        .stores;
    assert_eq!(stores.len(), 4);
    let tiflash: Vec<u64> = stores
        .iter()
        .filter(|s| {
            s.labels
                .iter()
                .any(|l| l.key == "engine" && l.value == "tiflash")
        })
        .map(|s| s.id)
        .collect();
    assert_eq!(tiflash, [9]);
    let s1 = c
        .get_store(pdpb::GetStoreRequest {
            header: hdr(),
            store_id: 1,
        })
        .await
        .expect("store")
        .into_inner()
        .store
        .expect("store 1");
    assert_eq!(s1.address, env.emu.store_addr(1).expect("addr").to_string());
    assert_eq!(s1.version, "8.5.0");
}

/// Trap 15: a TSO response carries the largest timestamp of its batch.
#[tokio::test]
async fn tso_returns_last_timestamp_of_batch() {
    let env = env(THREE_REGIONS).await;
    let mut c = pd(&env).await;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut out = c
        .tso(tokio_stream::wrappers::UnboundedReceiverStream::new(rx))
        .await
        .expect("tso")
        .into_inner();
    tx.send(pdpb::TsoRequest {
        header: hdr(),
        count: 10,
        dc_location: String::new(),
    })
    .expect("send");
    let a = out.message().await.expect("ok").expect("resp");
    tx.send(pdpb::TsoRequest {
        header: hdr(),
        count: 1,
        dc_location: String::new(),
    })
    .expect("send");
    let b = out.message().await.expect("ok").expect("resp");
    let (ta, tb) = (a.timestamp.expect("ts"), b.timestamp.expect("ts"));
    assert_eq!(a.count, 10);
    assert!(ta.logical >= 10, "{ta:?}");
    let compose = |t: &pdpb::Timestamp| ((t.physical as u64) << 18) | t.logical as u64;
    assert!(compose(&tb) > compose(&ta));
    let model_ts = env.ts();
    assert!(model_ts > compose(&tb));
}

/// Trap 14: encoded keys; GetRegion for an uncovered key answers OK with no
/// region; ScanRegions shows holes and fills legacy and new fields.
#[tokio::test]
async fn region_routing_with_encoded_keys_and_holes() {
    let toml = r#"
[cluster]
cluster_id = 42
tick_interval_ms = 0
[[stores]]
id = 1
[[regions]]
id = 10
end = "62"
peers = [1]
[[regions]]
id = 30
start = "64"
end = "66"
peers = [1]
"#;
    let env = env(toml).await;
    let mut c = pd(&env).await;
    let r = c
        .get_region(pdpb::GetRegionRequest {
            header: hdr(),
            region_key: encode_key(b"a"),
            need_buckets: false,
        })
        .await
        .expect("get region")
        .into_inner();
    let region = r.region.expect("region");
    assert_eq!((region.id, region.end_key.clone()), (10, encode_key(b"b")));
    assert_eq!(r.leader.expect("leader").store_id, 1);
    let r = c
        .get_region(pdpb::GetRegionRequest {
            header: hdr(),
            region_key: encode_key(b"c"),
            need_buckets: false,
        })
        .await
        .expect("ok for a hole")
        .into_inner();
    assert!(r.region.is_none() && r.header.expect("header").error.is_none());
    let s = c
        .scan_regions(pdpb::ScanRegionsRequest {
            header: hdr(),
            start_key: Vec::new(),
            limit: 0,
            end_key: Vec::new(),
        })
        .await
        .expect("scan")
        .into_inner();
    assert_eq!(
        s.region_metas.iter().map(|r| r.id).collect::<Vec<_>>(),
        [10, 30]
    );
    assert_eq!(s.leaders.len(), 2);
    assert_eq!(
        s.regions
            .iter()
            .map(|r| r.region.as_ref().map(|x| x.id))
            .collect::<Vec<_>>(),
        [Some(10), Some(30)]
    );
    assert_eq!(s.region_metas[1].start_key, encode_key(b"d"));
    let b = c
        .batch_scan_regions(pdpb::BatchScanRegionsRequest {
            header: hdr(),
            need_buckets: false,
            ranges: vec![
                pdpb::KeyRange {
                    start_key: encode_key(b"a"),
                    end_key: encode_key(b"a1"),
                },
                pdpb::KeyRange {
                    start_key: encode_key(b"e"),
                    end_key: Vec::new(),
                },
            ],
            limit: 0,
            contain_all_key_range: false,
        })
        .await
        .expect("batch scan")
        .into_inner();
    assert_eq!(
        b.regions
            .iter()
            .map(|r| r.region.as_ref().map(|x| x.id))
            .collect::<Vec<_>>(),
        [Some(10), Some(30)]
    );
    let r = c
        .get_region_by_id(pdpb::GetRegionByIdRequest {
            header: hdr(),
            region_id: 30,
            need_buckets: false,
        })
        .await
        .expect("by id")
        .into_inner();
    assert_eq!(r.region.expect("region").start_key, encode_key(b"d"));
}

/// Service GC safe point: below the minimum refused, TTL ≤ 0 deletes, GC capped
/// by service safe points and history below it is gone for scans.
#[tokio::test]
async fn gc_safe_point_rules() {
    let env = env(THREE_REGIONS).await;
    let (_, c0) = env
        .cluster
        .lock()
        .one_pc(&[put("a1", "v0")], 0)
        .expect("1pc");
    let (s1, c1) = env
        .cluster
        .lock()
        .one_pc(&[put("a1", "v1")], 0)
        .expect("1pc");
    let mut c = pd(&env).await;
    let upd = |service: &str, ttl: i64, safe_point: u64| pdpb::UpdateServiceGcSafePointRequest {
        header: hdr(),
        service_id: service.as_bytes().to_vec(),
        ttl,
        safe_point,
    };
    let r = c
        .update_service_gc_safe_point(upd("ticdc", 3600, c0))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(
        (r.service_id.as_slice(), r.min_safe_point),
        (&b"ticdc"[..], c0)
    );
    // GC is capped at the service safe point.
    let sp = env.cluster.lock().run_gc(u64::MAX - 1);
    assert_eq!(sp, c0);
    let g = c
        .get_gc_safe_point(pdpb::GetGcSafePointRequest { header: hdr() })
        .await
        .expect("gc")
        .into_inner();
    assert_eq!(g.safe_point, c0);
    // Below the minimum: refused, the minimum is returned.
    let r = c
        .update_service_gc_safe_point(upd("other", 3600, c0 - 1))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(r.min_safe_point, c0);
    // Delete ticdc (TTL 0), then GC past c1: only the newest version survives.
    c.update_service_gc_safe_point(upd("ticdc", 0, u64::MAX))
        .await
        .expect("delete");
    let sp = env.cluster.lock().run_gc(c1 + 1);
    assert_eq!(sp, c1 + 1);
    let r = c
        .update_service_gc_safe_point(upd("ticdc", 3600, c0))
        .await
        .expect("update")
        .into_inner();
    assert_eq!(
        (r.service_id.as_slice(), r.min_safe_point),
        (&b"gc_worker"[..], c1 + 1)
    );
    let mut f = env.feed(1).await;
    f.send(env.reg(10, 1, 0));
    assert_eq!(
        f.lines(2).await,
        [
            format!("r10#1 [COMMITTED PUT a1 s={s1} c={c1} v=v1]"),
            "r10#1 [INITIALIZED]".into()
        ]
    );
}

fn ctx(env: &super::harness::Env, region: u64) -> Option<kvrpcpb::Context> {
    Some(kvrpcpb::Context {
        region_id: region,
        region_epoch: Some(env.epoch(region)),
        ..Default::default()
    })
}

#[tokio::test]
async fn kv_reads_at_ts_with_key_is_locked_and_region_errors() {
    let env = env(THREE_REGIONS).await;
    let (_, c1) = env
        .cluster
        .lock()
        .one_pc(&[put("a1", "v1"), put("a2", "w")], 0)
        .expect("1pc");
    let s2 = env.ts();
    env.cluster
        .lock()
        .prewrite(s2, b"a1", &[put("a1", "v2")], PrewriteOptions::default())
        .expect("prewrite");
    let mut kv = TikvClient::connect(env.addr(1)).await.expect("kv");
    let g = kv
        .kv_get(kvrpcpb::GetRequest {
            context: ctx(&env, 10),
            key: b"a1".to_vec(),
            version: c1,
            need_commit_ts: true,
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        (g.value.as_slice(), g.commit_ts, g.not_found),
        (&b"v1"[..], c1, false)
    );
    let t = env.ts();
    let g = kv
        .kv_get(kvrpcpb::GetRequest {
            context: ctx(&env, 10),
            key: b"a1".to_vec(),
            version: t,
            need_commit_ts: false,
        })
        .await
        .expect("get")
        .into_inner();
    let lock = g.error.and_then(|e| e.locked).expect("KeyIsLocked");
    assert_eq!(
        (
            lock.lock_version,
            lock.primary_lock.as_slice(),
            lock.key.as_slice()
        ),
        (s2, &b"a1"[..], &b"a1"[..])
    );
    let s = kv
        .kv_scan(kvrpcpb::ScanRequest {
            context: ctx(&env, 10),
            start_key: b"a".to_vec(),
            limit: 10,
            version: t,
            end_key: Vec::new(),
            ..Default::default()
        })
        .await
        .expect("scan")
        .into_inner();
    let got: Vec<(String, bool)> = s
        .pairs
        .iter()
        .map(|p| {
            (
                String::from_utf8_lossy(&p.key).into_owned(),
                p.error.is_some(),
            )
        })
        .collect();
    assert_eq!(got, [("a1".to_owned(), true), ("a2".to_owned(), false)]);
    let b = kv
        .kv_batch_get(kvrpcpb::BatchGetRequest {
            context: ctx(&env, 10),
            keys: vec![b"a2".to_vec(), b"a3".to_vec()],
            version: t,
            need_commit_ts: false,
        })
        .await
        .expect("batch get")
        .into_inner();
    assert_eq!(b.pairs.len(), 1);
    // Region errors: follower, stale epoch, key outside region.
    let mut kv2 = TikvClient::connect(env.addr(2)).await.expect("kv");
    let g = kv2
        .kv_get(kvrpcpb::GetRequest {
            context: ctx(&env, 10),
            key: b"a1".to_vec(),
            version: t,
            need_commit_ts: false,
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        g.region_error
            .and_then(|e| e.not_leader)
            .and_then(|n| n.leader)
            .map(|p| p.store_id),
        Some(1)
    );
    let mut stale = ctx(&env, 10);
    if let Some(c) = stale.as_mut() {
        c.region_epoch = None;
    }
    let g = kv
        .kv_get(kvrpcpb::GetRequest {
            context: stale,
            key: b"a1".to_vec(),
            version: t,
            need_commit_ts: false,
        })
        .await
        .expect("get")
        .into_inner();
    assert!(g.region_error.and_then(|e| e.epoch_not_match).is_some());
    let g = kv
        .kv_get(kvrpcpb::GetRequest {
            context: ctx(&env, 10),
            key: b"z".to_vec(),
            version: t,
            need_commit_ts: false,
        })
        .await
        .expect("get")
        .into_inner();
    assert!(g.region_error.and_then(|e| e.key_not_in_region).is_some());
}

/// A store removed from the cluster, as PD answers it (tikv/pd `server/grpc_service.go`
/// `GetStore`, `GetAllStores`): `GetStore` still returns it, state Tombstone and node
/// state Removed; `GetAllStores` leaves it out only when tombstones are excluded; it
/// cannot start again; the regions it led keep naming it until they are moved.
#[tokio::test]
async fn pd_reports_a_removed_store_as_tombstone() {
    use tidb_changefeed::proto::metapb;
    let mut env = env(THREE_REGIONS).await;
    env.emu.remove_store(2).await.expect("store 2 removed");
    let mut c = pd(&env).await;
    let s2 = c
        .get_store(pdpb::GetStoreRequest {
            header: hdr(),
            store_id: 2,
        })
        .await
        .expect("store")
        .into_inner();
    assert!(s2.header.and_then(|h| h.error).is_none(), "no error");
    let s2 = s2.store.expect("store 2 still answered");
    assert_eq!(s2.state, metapb::StoreState::Tombstone as i32);
    assert_eq!(s2.node_state, metapb::NodeState::Removed as i32);
    let ids = |stores: Vec<metapb::Store>| stores.iter().map(|s| s.id).collect::<Vec<_>>();
    let all = |exclude| {
        let mut c = c.clone();
        async move {
            c.get_all_stores(pdpb::GetAllStoresRequest {
                header: hdr(),
                exclude_tombstone_stores: exclude,
            })
            .await
            .expect("stores")
            .into_inner()
            .stores
        }
    };
    assert_eq!(ids(all(true).await), [1, 3]);
    assert_eq!(ids(all(false).await), [1, 2, 3]);
    assert!(matches!(
        env.emu.start_store(2).await,
        Err(tidb_changefeed_emulator::EmulatorError::StoreTombstone(2))
    ));
    let r = c
        .get_region(pdpb::GetRegionRequest {
            header: hdr(),
            region_key: encode_key(b"c"),
            need_buckets: false,
        })
        .await
        .expect("region")
        .into_inner();
    assert_eq!(r.leader.expect("leader").store_id, 2, "until moved");
}

/// A hidden region is a hole in every region answer of PD, until shown again.
#[tokio::test]
async fn pd_leaves_a_hole_where_a_region_is_hidden() {
    let env = env(THREE_REGIONS).await;
    let mut c = pd(&env).await;
    env.cluster.lock().hide_region(20, true);
    let scan = |c: &mut PdClient<tonic::transport::Channel>| {
        let mut c = c.clone();
        async move {
            c.scan_regions(pdpb::ScanRegionsRequest {
                header: hdr(),
                start_key: Vec::new(),
                limit: 0,
                end_key: Vec::new(),
            })
            .await
            .expect("scan")
            .into_inner()
            .region_metas
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(scan(&mut c).await, [10, 30]);
    let batch = c
        .batch_scan_regions(pdpb::BatchScanRegionsRequest {
            header: hdr(),
            need_buckets: false,
            ranges: vec![pdpb::KeyRange {
                start_key: Vec::new(),
                end_key: Vec::new(),
            }],
            limit: 0,
            contain_all_key_range: false,
        })
        .await
        .expect("batch scan")
        .into_inner();
    assert_eq!(batch.regions.len(), 2);
    let at_c = c
        .get_region(pdpb::GetRegionRequest {
            header: hdr(),
            region_key: encode_key(b"c"),
            need_buckets: false,
        })
        .await
        .expect("region")
        .into_inner();
    assert!(at_c.region.is_none(), "no region at the hole");
    let by_id = c
        .get_region_by_id(pdpb::GetRegionByIdRequest {
            header: hdr(),
            region_id: 20,
            need_buckets: false,
        })
        .await
        .expect("region by id")
        .into_inner();
    assert!(by_id.region.is_none());
    env.cluster.lock().hide_region(20, false);
    assert_eq!(scan(&mut c).await, [10, 20, 30]);
}

/// The scenario actions `remove_store` and `hide_region` play through the runner.
#[tokio::test]
async fn scenario_steps_remove_a_store_and_hide_a_region() {
    use tidb_changefeed_emulator::runner::{self, Runner};
    use tidb_changefeed_emulator::scenario::Scenario;
    let text = format!(
        "{THREE_REGIONS}\n[[steps]]\naction = \"remove_store\"\nstore = 3\n\n[[steps]]\naction = \"hide_region\"\nregion = 20\n\n[[steps]]\naction = \"hide_region\"\nregion = 10\n\n[[steps]]\naction = \"hide_region\"\nregion = 10\nhidden = false\n"
    );
    let s = Scenario::parse(&text, "inline").expect("scenario");
    let mut emu = runner::start(&s, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("emulator starts");
    Runner::new(&s)
        .expect("runner")
        .play(&mut emu, &s)
        .await
        .expect("plays");
    let m = emu.cluster().lock();
    let s3 = m.topo.stores.get(&3).expect("store 3");
    assert!(s3.tombstone && !s3.up);
    assert!(m.region_hidden(20) && !m.region_hidden(10));
}
