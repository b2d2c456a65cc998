//! PD client against the emulator's PD: leader discovery, TSO, region scan, stores, GC.

use std::net::SocketAddr;

use tidb_changefeed::upstream::{ErrorKind, UpstreamError, pd::PdClient};
use tidb_changefeed_emulator::runner;
use tidb_changefeed_emulator::scenario::Scenario;

use super::feed::THREE_REGIONS;

#[tokio::test]
async fn upstream_pd_discovers_leader_scans_regions_and_guards_gc() {
    let s = Scenario::parse(THREE_REGIONS, "inline").expect("scenario");
    let emu = runner::start(&s, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("emulator");
    // An unreachable endpoint first: discovery moves on to the next one.
    let mut pd = PdClient::connect(&["127.0.0.1:1".to_string(), emu.pd_addr().to_string()])
        .await
        .expect("PD found");
    assert_eq!(pd.cluster_id(), 42);
    let t1 = pd.get_ts().await.expect("tso");
    let t2 = pd.get_ts().await.expect("tso");
    assert!(t2 > t1);
    let regions = pd.scan_regions(&[], &[]).await.expect("scan");
    assert_eq!(
        regions.iter().map(|r| r.id()).collect::<Vec<_>>(),
        vec![10, 20, 30]
    );
    assert!(regions.iter().all(|r| r.leader.is_some()));
    let stores = pd.get_all_stores().await.expect("stores");
    assert_eq!(stores.len(), 3);
    let st = pd.get_store(2).await.expect("store 2");
    assert_eq!(st.id, 2);
    assert!(matches!(
        pd.get_store(99).await,
        Err(UpstreamError::StoreNotFound { store_id: 99 })
    ));
    let min = pd
        .update_service_gc_safe_point("tidb-changefeed-test", 60, t1)
        .await
        .expect("safe point set");
    assert!(min <= t1);
    // GC runs up to our service safe point t1; asking for anything below it is fatal.
    emu.cluster().lock().run_gc(t2);
    assert_eq!(pd.get_gc_safe_point().await.expect("gc safe point"), t1);
    let e = pd
        .update_service_gc_safe_point("other-service", 60, t1 - 1)
        .await
        .expect_err("below the cluster's GC safe point");
    assert_eq!(e.kind(), ErrorKind::Fatal);
    assert!(
        matches!(e, UpstreamError::SafePointBehindGc { requested, min_safe_point } if requested == t1 - 1 && min_safe_point == t1),
        "{e}"
    );
    pd.update_service_gc_safe_point("tidb-changefeed-test", 60, t2)
        .await
        .expect("moving forward is fine");
}
