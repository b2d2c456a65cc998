//! Topology changes and outages mid-stream: split, merge, leader transfer, peer
//! removal, stale epochs, store restart and outage.

use tidb_changefeed_emulator::RegionChangeNotice;

use super::harness::{Feed, THREE_REGIONS, env, put};

#[tokio::test]
async fn split_mid_stream_epoch_not_match_with_current_regions() {
    let env = env(THREE_REGIONS).await;
    let mut f = env.feed(2).await;
    f.send(env.reg(20, 1, 0));
    f.lines(1).await;
    let (l, r) = env
        .cluster
        .lock()
        .split(20, b"c", RegionChangeNotice::EpochNotMatch)
        .expect("split");
    assert_eq!(
        f.lines(1).await,
        [format!(
            "r20#1 error epoch_not_match({}[0x6200000000000000f8,0x6300000000000000f8)v2 20[0x6300000000000000f8,0x6400000000000000f8)v2)",
            l.id
        )]
    );
    assert_eq!(r.id, 20);
    // The stale epoch is refused; the new regions register fine.
    let mut stale = env.reg(20, 2, 0);
    stale.region_epoch.as_mut().expect("epoch").version = 1;
    f.send(stale);
    assert_eq!(
        f.lines(1).await,
        ["r20#2 error epoch_not_match(20[0x6300000000000000f8,0x6400000000000000f8)v2)"]
    );
    f.send(env.reg(l.id, 3, 0));
    f.send(env.reg(20, 3, 0));
    assert_eq!(
        f.lines(2).await,
        [
            format!("r{}#3 [INITIALIZED]", l.id),
            "r20#3 [INITIALIZED]".into()
        ]
    );
    let (s, c) = env
        .cluster
        .lock()
        .one_pc(&[put("b5", "x"), put("c5", "y")], 0)
        .expect("1pc");
    // One raft command per region; regions are applied in id order here.
    assert_eq!(
        f.lines(2).await,
        [
            format!("r20#3 [COMMITTED PUT c5 s={s} c={c} v=y]"),
            format!("r{}#3 [COMMITTED PUT b5 s={s} c={c} v=x]", l.id)
        ]
    );
}

#[tokio::test]
async fn split_mid_stream_region_not_found() {
    let env = env(THREE_REGIONS).await;
    let mut f = env.feed(2).await;
    f.send(env.reg(20, 1, 0));
    f.lines(1).await;
    env.cluster
        .lock()
        .split(20, b"c", RegionChangeNotice::RegionNotFound)
        .expect("split");
    assert_eq!(f.lines(1).await, ["r20#1 error region_not_found(20)"]);
    env.tick();
    f.silent().await;
}

#[tokio::test]
async fn merge_epoch_not_match_without_regions_and_region_not_found() {
    let env = env(THREE_REGIONS).await;
    // Put region 10's leader on store 2 so both regions are on one stream.
    env.cluster
        .lock()
        .transfer_leader(10, 2, true)
        .expect("transfer");
    let mut f = env.feed(2).await;
    f.send(env.reg(10, 1, 0));
    f.send(env.reg(20, 1, 0));
    f.lines(2).await;
    let merged = env
        .cluster
        .lock()
        .merge(10, 20, RegionChangeNotice::EpochNotMatch)
        .expect("merge");
    assert_eq!(
        f.lines(2).await,
        [
            "r10#1 error epoch_not_match()",
            "r20#1 error epoch_not_match()"
        ]
    );
    assert_eq!(
        (
            merged.start.as_slice(),
            merged.end.as_slice(),
            merged.version
        ),
        (&b""[..], &b"d"[..], 2)
    );
    f.send(env.reg(10, 2, 0));
    assert_eq!(f.lines(1).await, ["r10#2 error region_not_found(10)"]);
    f.send(env.reg(20, 2, 0));
    assert_eq!(f.lines(1).await, ["r20#2 [INITIALIZED]"]);
    let merged = env
        .cluster
        .lock()
        .merge(30, 20, RegionChangeNotice::RegionNotFound);
    assert!(merged.is_ok());
    assert_eq!(f.lines(1).await, ["r20#2 error epoch_not_match()"]);
}

#[tokio::test]
async fn leader_transfer_not_leader_with_and_without_hint() {
    let env = env(THREE_REGIONS).await;
    let mut f1 = env.feed(1).await;
    f1.send(env.reg(10, 1, 0));
    f1.lines(1).await;
    env.cluster
        .lock()
        .transfer_leader(10, 2, true)
        .expect("transfer");
    assert_eq!(
        f1.lines(1).await,
        ["r10#1 error not_leader(leader=store 2)"]
    );
    // The next registration on the old store also answers not_leader.
    f1.send(env.reg(10, 2, 0));
    assert_eq!(
        f1.lines(1).await,
        ["r10#2 error not_leader(leader=store 2)"]
    );
    let mut f2 = env.feed(2).await;
    f2.send(env.reg(10, 1, 0));
    assert_eq!(f2.lines(1).await, ["r10#1 [INITIALIZED]"]);
    env.cluster
        .lock()
        .transfer_leader(10, 3, false)
        .expect("transfer");
    assert_eq!(f2.lines(1).await, ["r10#1 error not_leader(no leader)"]);
    f2.send(env.reg(10, 2, 0));
    assert_eq!(f2.lines(1).await, ["r10#2 error not_leader(no leader)"]);
}

#[tokio::test]
async fn peer_removal_and_unknown_region_give_region_not_found() {
    let env = env(THREE_REGIONS).await;
    env.cluster
        .lock()
        .transfer_leader(10, 2, true)
        .expect("transfer");
    let mut f2 = env.feed(2).await;
    f2.send(env.reg(10, 1, 0));
    f2.lines(1).await;
    let mut f1 = env.feed(1).await;
    env.cluster.lock().remove_peer(10, 1).expect("remove");
    f2.silent().await;
    f1.send(env.reg(10, 1, 0));
    assert_eq!(f1.lines(1).await, ["r10#1 error region_not_found(10)"]);
    f1.send(env.reg(999, 1, 0));
    assert_eq!(f1.lines(1).await, ["r999#1 error region_not_found(999)"]);
    // A zero epoch is stale.
    let mut z = env.reg(10, 5, 0);
    z.region_epoch = None;
    f2.send(z);
    let l = f2.lines(1).await;
    assert!(l[0].starts_with("r10#5 error epoch_not_match(10["), "{l:?}");
}

#[tokio::test]
async fn store_restart_breaks_streams_refuses_connections_and_comes_back() {
    let mut env = env(THREE_REGIONS).await;
    let (s0, c0) = env
        .cluster
        .lock()
        .one_pc(&[put("a1", "v")], 0)
        .expect("1pc");
    let mut f = env.feed(1).await;
    f.send(env.reg(10, 1, 0));
    f.lines(2).await;
    let addr = env.addr(1);
    env.emu.stop_store(1).await.expect("stop");
    let err = f.next().await.expect_err("stream broken");
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert!(
        Feed::open(&addr, None).await.is_err(),
        "connection refused while down"
    );
    // PD still lists the store; writes to its regions fail meanwhile.
    assert!(env.cluster.lock().topo.stores.contains_key(&1));
    assert!(env.cluster.lock().one_pc(&[put("a2", "x")], 0).is_err());
    env.emu.start_store(1).await.expect("start");
    assert_eq!(env.addr(1), addr);
    let mut g = env.feed(1).await;
    g.send(env.reg(10, 1, 0));
    assert_eq!(
        g.lines(2).await,
        [
            format!("r10#1 [COMMITTED PUT a1 s={s0} c={c0} v=v]"),
            "r10#1 [INITIALIZED]".into()
        ]
    );
}
