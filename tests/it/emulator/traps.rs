//! Registration errors and transaction-shaped traps: cluster id, compatibility,
//! busy, congested, V2 UNIMPLEMENTED, TiFlash, commit-before-prewrite, duplicates,
//! rewritten locks, stalls, async commit, interleaved 2PC.

use tidb_changefeed::proto::cdcpb::change_data_client::ChangeDataClient;
use tidb_changefeed_emulator::PrewriteOptions;

use super::harness::{CLUSTER_ID, Feed, THREE_REGIONS, del, env, k, put};

#[tokio::test]
async fn cluster_id_mismatch_for_clients_from_5_3_0_only() {
    let env = env(THREE_REGIONS).await;
    let mut f = env.feed(1).await;
    let mut r = env.reg(10, 1, 0);
    r.header.as_mut().expect("header").cluster_id = 7;
    f.send(r);
    assert_eq!(
        f.lines(1).await,
        [format!(
            "r10#1 error cluster_id_mismatch(current={CLUSTER_ID} request=7)"
        )]
    );
    // Features are fixed by the first request of a stream: an old client is not validated.
    let mut g = env.feed(1).await;
    let mut r = env.reg(10, 1, 0);
    let h = r.header.as_mut().expect("header");
    h.cluster_id = 7;
    h.ticdc_version = "5.2.9".into();
    g.send(r);
    assert_eq!(g.lines(1).await, ["r10#1 [INITIALIZED]"]);
}

#[tokio::test]
async fn compatibility_error_for_rawkv_api() {
    let env = env(THREE_REGIONS).await;
    let mut f = env.feed(1).await;
    let mut r = env.reg(10, 1, 0);
    r.kv_api = 1;
    f.send(r);
    assert_eq!(f.lines(1).await, ["r10#1 error compatibility(6.2.0)"]);
}

#[tokio::test]
async fn server_is_busy_then_registration_succeeds() {
    let env = env(THREE_REGIONS).await;
    env.cluster.lock().inject_server_busy(1, 1, 300);
    let mut f = env.feed(1).await;
    f.send(env.reg(10, 1, 0));
    assert_eq!(
        f.lines(1).await,
        ["r10#1 error server_is_busy(too many pending incremental scans, backoff_ms=300)"]
    );
    f.send(env.reg(10, 1, 0));
    assert_eq!(f.lines(1).await, ["r10#1 [INITIALIZED]"]);
}

#[tokio::test]
async fn congested_stops_the_subscription() {
    let env = env(THREE_REGIONS).await;
    let mut f = env.feed(1).await;
    f.send(env.reg(10, 1, 0));
    f.lines(1).await;
    env.cluster.lock().inject_congested(10);
    assert_eq!(f.lines(1).await, ["r10#1 error congested(10)"]);
    env.cluster
        .lock()
        .one_pc(&[put("a1", "v")], 0)
        .expect("1pc");
    env.tick();
    f.silent().await;
}

#[tokio::test]
async fn v2_unimplemented_for_unknown_feature_and_old_store() {
    let toml = THREE_REGIONS.replacen(
        "[[stores]]\nid = 3",
        "[[stores]]\nid = 3\neventfeed_v2 = false",
        1,
    );
    let env = env(&toml).await;
    let e = Feed::open(&env.addr(1), Some("stream-multiplexing, time-travel"))
        .await
        .err()
        .expect("unknown feature refused");
    assert_eq!(e.code(), tonic::Code::Unimplemented);
    assert!(e.message().contains("time-travel"), "{e}");
    let e = Feed::open(&env.addr(3), Some("stream-multiplexing"))
        .await
        .err()
        .expect("old store refuses V2");
    assert_eq!(e.code(), tonic::Code::Unimplemented);
    // The TiCDC probe: open V2, half-close at once, read EOF => supported.
    let mut probe = Feed::open(&env.addr(1), Some("stream-multiplexing"))
        .await
        .expect("v2");
    drop(probe.tx);
    assert!(probe.rx.message().await.expect("clean end").is_none());
    // V1 still works on the old store.
    let mut f = env.feed(3).await;
    f.send(env.reg(30, 1, 0));
    assert_eq!(f.lines(1).await, ["r30#1 [INITIALIZED]"]);
}

#[tokio::test]
async fn tiflash_store_is_labelled_and_has_no_cdc_service() {
    let toml = format!("{THREE_REGIONS}\n[[stores]]\nid = 9\ntiflash = true\n")
        .replace("peers = [1, 2, 3]", "peers = [1, 2, 3]\nlearners = [9]");
    let env = env(&toml).await;
    let m = env
        .cluster
        .lock()
        .topo
        .regions()
        .get(&10)
        .cloned()
        .expect("region");
    assert!(
        m.peers.iter().any(|p| p.1 == 9 && p.2),
        "learner peer on TiFlash"
    );
    let mut c = ChangeDataClient::connect(env.addr(9))
        .await
        .expect("connect");
    let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let e = c
        .event_feed(tokio_stream::wrappers::UnboundedReceiverStream::new(rx))
        .await
        .expect_err("no CDC on TiFlash");
    assert_eq!(e.code(), tonic::Code::Unimplemented);
}

/// Live events before INITIALIZED: a COMMIT whose PREWRITE only arrives later in
/// the scan.
#[tokio::test]
async fn commit_before_its_prewrite_before_initialized() {
    let env = env(THREE_REGIONS).await;
    let s1 = env.ts();
    env.cluster
        .lock()
        .prewrite(s1, b"a1", &[put("a1", "v")], PrewriteOptions::default())
        .expect("prewrite");
    env.cluster.lock().hold_scans(10);
    let mut f = env.feed(1).await;
    f.send(env.reg(10, 1, 0));
    env.wait_subs(1).await;
    f.silent().await;
    let c1 = env.ts();
    env.cluster
        .lock()
        .commit(s1, c1, &[k("a1")])
        .expect("commit");
    assert_eq!(
        f.lines(1).await,
        [format!("r10#1 [COMMIT PUT a1 s={s1} c={c1} v=v]")]
    );
    env.cluster.lock().release_scan(10);
    assert_eq!(
        f.lines(2).await,
        [
            format!("r10#1 [PREWRITE PUT a1 s={s1} c=0 v=v]"),
            "r10#1 [INITIALIZED]".into()
        ]
    );
}

/// A change delivered live as COMMIT and again as COMMITTED by a scan; and a
/// re-subscription re-sending COMMITTED rows above its checkpoint.
#[tokio::test]
async fn duplicates_after_resubscription_and_scan_overlap() {
    let env = env(THREE_REGIONS).await;
    let mut f = env.feed(1).await;
    f.send(env.reg(10, 1, 0));
    f.lines(1).await;
    let (s1, c1) = env
        .cluster
        .lock()
        .one_pc(&[put("a1", "v1")], 0)
        .expect("1pc");
    assert_eq!(
        f.lines(1).await,
        [format!("r10#1 [COMMITTED PUT a1 s={s1} c={c1} v=v1]")]
    );
    let t = env.tick();
    f.lines(1).await;
    // Error, then re-subscribe from a checkpoint below c1: the row comes again.
    env.cluster.lock().inject_congested(10);
    f.lines(1).await;
    f.send(env.reg(10, 1, s1 - 1));
    assert_eq!(
        f.lines(2).await,
        [
            format!("r10#1 [COMMITTED PUT a1 s={s1} c={c1} v=v1]"),
            "r10#1 [INITIALIZED]".into()
        ]
    );
    assert!(t > c1);
    // Scan snapshot taken before a commit that is also seen live.
    let s2 = env.ts();
    env.cluster
        .lock()
        .prewrite(s2, b"a2", &[put("a2", "v2")], PrewriteOptions::default())
        .expect("prewrite");
    f.lines(1).await;
    let c2 = env.ts();
    env.cluster
        .lock()
        .commit(s2, c2, &[k("a2")])
        .expect("commit");
    f.lines(1).await;
    env.cluster.lock().hold_scans(10);
    f.send(env.reg(10, 2, 0));
    env.wait_subs(2).await;
    let (s3, c3) = env.cluster.lock().one_pc(&[del("a2")], 0).expect("1pc");
    assert_eq!(
        f.lines(2).await,
        [
            format!("r10#1 [COMMITTED DELETE a2 s={s3} c={c3} old=v2]"),
            format!("r10#2 [COMMITTED DELETE a2 s={s3} c={c3} old=v2]"),
        ]
    );
    env.cluster.lock().release_scan(10);
    assert_eq!(
        f.lines(2).await,
        [
            format!(
                "r10#2 [COMMITTED PUT a1 s={s1} c={c1} v=v1, COMMITTED PUT a2 s={s2} c={c2} v=v2]"
            ),
            "r10#2 [INITIALIZED]".into()
        ]
    );
}

/// Rewritten Put locks are suppressed; rewritten Delete locks are re-sent as a
/// fake prewrite with an empty value.
#[tokio::test]
async fn rewritten_locks_put_suppressed_delete_fake_prewrite() {
    let env = env(THREE_REGIONS).await;
    env.cluster
        .lock()
        .one_pc(&[put("a2", "old")], 0)
        .expect("1pc");
    let mut f = env.feed(1).await;
    f.send(env.reg(10, 1, u64::MAX - 1));
    f.lines(1).await;
    let s = env.ts();
    env.cluster
        .lock()
        .prewrite(
            s,
            b"a1",
            &[put("a1", "v"), del("a2")],
            PrewriteOptions::default(),
        )
        .expect("prewrite");
    assert_eq!(
        f.lines(1).await,
        [format!(
            "r10#1 [PREWRITE PUT a1 s={s} c=0 v=v, PREWRITE DELETE a2 s={s} c=0 old=old]"
        )]
    );
    env.cluster
        .lock()
        .rewrite_lock(b"a1")
        .expect("rewrite put lock");
    f.silent().await;
    env.cluster
        .lock()
        .rewrite_lock(b"a2")
        .expect("rewrite delete lock");
    assert_eq!(
        f.lines(1).await,
        [format!("r10#1 [PREWRITE DELETE a2 s={s} c=0 old=old]")]
    );
}

/// A long-running lock stalls resolved ts at its start ts until it resolves.
#[tokio::test]
async fn long_lock_stalls_resolved_ts() {
    let env = env(THREE_REGIONS).await;
    let mut f = env.feed(1).await;
    f.send(env.reg(10, 1, 0));
    f.lines(1).await;
    let s = env.ts();
    env.cluster
        .lock()
        .prewrite(s, b"a1", &[put("a1", "v")], PrewriteOptions::default())
        .expect("prewrite");
    f.lines(1).await;
    for _ in 0..3 {
        env.tick();
        assert_eq!(
            f.lines(1).await,
            [format!("resolved req=0 ts={s} regions=[10]")]
        );
    }
    env.cluster
        .lock()
        .rollback(s, &[k("a1")])
        .expect("rollback");
    f.lines(1).await;
    let t = env.tick();
    assert_eq!(
        f.lines(1).await,
        [format!("resolved req=0 ts={t} regions=[10]")]
    );
    // A stalled store sends nothing at all.
    env.cluster.lock().stall_resolved_ts(1, true);
    env.tick();
    f.silent().await;
}

/// Async commit: commit ts derived from the locks' min_commit_ts by a resolver,
/// larger than any resolved ts already sent.
#[tokio::test]
async fn async_commit_resolved_by_a_resolver() {
    let env = env(THREE_REGIONS).await;
    let mut f1 = env.feed(1).await;
    let mut f2 = env.feed(2).await;
    f1.send(env.reg(10, 1, 0));
    f2.send(env.reg(20, 1, 0));
    f1.lines(1).await;
    f2.lines(1).await;
    let t0 = env.tick();
    f1.lines(1).await;
    f2.lines(1).await;
    let s = env.ts();
    env.cluster
        .lock()
        .prewrite(
            s,
            b"a1",
            &[put("a1", "x"), put("b1", "y")],
            PrewriteOptions {
                async_commit: true,
                ..Default::default()
            },
        )
        .expect("prewrite");
    let min_commit = env
        .cluster
        .lock()
        .key_data(b"a1")
        .and_then(|d| d.lock.clone())
        .expect("lock")
        .min_commit_ts;
    assert!(min_commit > t0 && min_commit > s);
    f1.lines(1).await;
    f2.lines(1).await;
    let c = env.cluster.lock().resolve_async_commit(s).expect("resolve");
    assert_eq!(c, min_commit);
    assert_eq!(
        f1.lines(1).await,
        [format!("r10#1 [COMMIT PUT a1 s={s} c={c} v=x]")]
    );
    assert_eq!(
        f2.lines(1).await,
        [format!("r20#1 [COMMIT PUT b1 s={s} c={c} v=y]")]
    );
}

/// 2PC across regions and stores with prewrites and commits interleaved in an
/// arbitrary order, one secondary rolled back region by region.
#[tokio::test]
async fn two_pc_interleaved_across_regions_and_stores() {
    let env = env(THREE_REGIONS).await;
    let mut f = [env.feed(1).await, env.feed(2).await, env.feed(3).await];
    for (i, r) in [10u64, 20, 30].into_iter().enumerate() {
        f[i].send(env.reg(r, 1, 0));
        f[i].lines(1).await;
    }
    let s = env.ts();
    let o = PrewriteOptions::default();
    env.cluster
        .lock()
        .prewrite(s, b"b1", &[put("d1", "3")], o)
        .expect("pw d1");
    assert_eq!(
        f[2].lines(1).await,
        [format!("r30#1 [PREWRITE PUT d1 s={s} c=0 v=3]")]
    );
    env.cluster
        .lock()
        .prewrite(s, b"b1", &[put("b1", "2")], o)
        .expect("pw b1");
    assert_eq!(
        f[1].lines(1).await,
        [format!("r20#1 [PREWRITE PUT b1 s={s} c=0 v=2]")]
    );
    let c = env.ts();
    env.cluster
        .lock()
        .commit(s, c, &[k("b1")])
        .expect("commit primary");
    assert_eq!(
        f[1].lines(1).await,
        [format!("r20#1 [COMMIT PUT b1 s={s} c={c} v=2]")]
    );
    // A secondary prewritten after the primary committed is impossible in TiDB,
    // but secondaries may commit in any order after it.
    env.cluster
        .lock()
        .commit(s, c, &[k("d1")])
        .expect("commit d1");
    assert_eq!(
        f[2].lines(1).await,
        [format!("r30#1 [COMMIT PUT d1 s={s} c={c} v=3]")]
    );
    f[0].silent().await;
}
