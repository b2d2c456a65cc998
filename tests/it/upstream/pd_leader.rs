//! PD leader changes: the client finds the leader from a follower's member list, and when
//! leadership moves while running (old leader now answers `not leader`), the PD client,
//! the feed and the GC keeper follow it.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use tidb_changefeed::upstream::feed::{Feed, FeedOptions, Span, UpstreamEvent};
use tidb_changefeed::upstream::gc::spawn_gc_keeper;
use tidb_changefeed::upstream::pd::PdClient;
use tidb_changefeed_emulator::scenario::Scenario;
use tidb_changefeed_emulator::{
    Emulator, Mutation, MutationOp, PrewriteOptions, RegionChangeNotice, ServeOptions, runner,
};
use tokio::sync::{mpsc, watch};

use super::feed::THREE_REGIONS;

async fn three_pds() -> Emulator {
    let s = Scenario::parse(THREE_REGIONS, "inline").expect("scenario");
    Emulator::start(
        runner::build_cluster(&s).expect("cluster"),
        ServeOptions {
            pd_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            tick_interval: None,
            tls: None,
            pd_members: 3,
        },
    )
    .await
    .expect("emulator")
}

fn put(emu: &Emulator, key: &str, value: &str) -> u64 {
    let mut m = emu.cluster().lock();
    let s = m.next_ts();
    let muts = [Mutation {
        key: key.as_bytes().to_vec(),
        op: MutationOp::Put(value.as_bytes().to_vec()),
    }];
    m.prewrite(s, key.as_bytes(), &muts, PrewriteOptions::default())
        .expect("prewrite");
    let c = m.next_ts();
    m.commit(s, c, &[key.as_bytes().to_vec()]).expect("commit");
    c
}

#[tokio::test]
async fn upstream_pd_client_follows_the_leader_through_followers() {
    let emu = three_pds().await;
    let addrs: Vec<String> = emu.pd_addrs().iter().map(ToString::to_string).collect();
    // Only a follower given: its member list leads to member 1.
    let mut pd = PdClient::connect(&[addrs[2].clone()]).await.expect("pd");
    assert_eq!(pd.leader_url(), format!("http://{}", addrs[0]));
    pd.get_ts().await.expect("tso from the leader");
    // Leadership moves to member 2: the old leader answers `not leader`, a reconnect
    // finds the new one.
    emu.cluster().lock().set_pd_leader(2);
    let e = pd.get_ts().await.expect_err("old leader refuses");
    assert!(e.to_string().contains("not leader"), "{e}");
    pd.reconnect().await.expect("new leader found");
    assert_eq!(pd.leader_url(), format!("http://{}", addrs[1]));
    pd.get_ts().await.expect("tso from the new leader");
    assert_eq!(pd.scan_regions(&[], &[]).await.expect("scan").len(), 3);
}

#[tokio::test]
async fn upstream_feed_and_gc_keeper_follow_a_pd_leader_change_mid_run() {
    let emu = three_pds().await;
    let endpoints: Vec<String> = emu.pd_addrs().iter().map(ToString::to_string).collect();
    let (tx, mut rx) = mpsc::channel(1024);
    let (feed, task) = Feed::start(FeedOptions::new(endpoints.clone()), tx)
        .await
        .expect("feed");
    let start_ts = emu.cluster().lock().next_ts();
    feed.add_span(
        Span {
            start: Vec::new(),
            end: Vec::new(),
        },
        start_ts,
    );
    let pd = PdClient::connect(&endpoints).await.expect("pd");
    let (cp_tx, cp_rx) = watch::channel(start_ts);
    let keeper = spawn_gc_keeper(
        pd,
        "tidb-changefeed-leader-test".into(),
        Duration::from_secs(3600),
        Duration::from_millis(100),
        cp_rx,
    );
    for _ in 0..500 {
        if emu.cluster().lock().subscription_count() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let c1 = put(&emu, "c", "1");
    // PD leadership moves, then a split makes the feed ask PD for regions again.
    {
        let mut m = emu.cluster().lock();
        m.set_pd_leader(3);
        m.split(20, b"c", RegionChangeNotice::EpochNotMatch)
            .expect("split");
    }
    let c2 = put(&emu, "cc", "2");
    let c3 = put(&emu, "b", "3");
    let mut rows = BTreeSet::new();
    let mut frontier = start_ts;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while frontier < c3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "frontier stuck at {frontier}; rows {rows:?}"
        );
        assert!(!task.is_finished(), "feed ended");
        emu.cluster().lock().tick_resolved_ts();
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(50), rx.recv()).await {
            match ev {
                UpstreamEvent::Row(r) => {
                    rows.insert((String::from_utf8_lossy(&r.key).into_owned(), r.commit_ts));
                }
                UpstreamEvent::Resolved { ts, .. } => frontier = ts,
            }
        }
    }
    for r in [("c", c1), ("cc", c2), ("b", c3)] {
        assert!(
            rows.contains(&(r.0.to_string(), r.1)),
            "missing {r:?} in {rows:?}"
        );
    }
    // The keeper follows the new leader too.
    cp_tx.send(c3).expect("keeper alive");
    for _ in 0..300 {
        if emu
            .cluster()
            .lock()
            .service_safe_point(b"tidb-changefeed-leader-test")
            .is_some_and(|e| e.0 == c3 - 1)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        emu.cluster()
            .lock()
            .service_safe_point(b"tidb-changefeed-leader-test")
            .map(|e| e.0),
        Some(c3 - 1)
    );
    assert!(!keeper.is_finished());
}
