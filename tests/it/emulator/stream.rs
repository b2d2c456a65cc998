//! EventFeed basics: scan, INITIALIZED, live rows, resolved ts and its batching,
//! subscriptions per request id, deregister, limits.

use tidb_changefeed::proto::cdcpb::{change_data_request, event};
use tidb_changefeed_emulator::{MutationOp, PrewriteOptions};

use super::harness::{THREE_REGIONS, del, env, k, put};

#[tokio::test]
async fn plain_client_registers_regions_and_receives_rows_initialized_and_resolved_ts() {
    let env = env(THREE_REGIONS).await;
    let (s0, c0) = env
        .cluster
        .lock()
        .one_pc(&[put("a1", "x")], 0)
        .expect("1pc");
    let mut f1 = env.feed(1).await;
    let mut f2 = env.feed(2).await;
    f1.send(env.reg(10, 7, 0));
    f2.send(env.reg(20, 8, 0));
    assert_eq!(
        f1.lines(2).await,
        [
            format!("r10#7 [COMMITTED PUT a1 s={s0} c={c0} v=x]"),
            "r10#7 [INITIALIZED]".into()
        ]
    );
    assert_eq!(f2.lines(1).await, ["r20#8 [INITIALIZED]"]);

    // A 2PC transaction spanning region 10 (store 1) and region 20 (store 2).
    let s1 = env.ts();
    env.cluster
        .lock()
        .prewrite(
            s1,
            b"a1",
            &[put("a1", "y"), put("b1", "z")],
            PrewriteOptions::default(),
        )
        .expect("prewrite");
    assert_eq!(
        f1.lines(1).await,
        [format!("r10#7 [PREWRITE PUT a1 s={s1} c=0 v=y old=x]")]
    );
    assert_eq!(
        f2.lines(1).await,
        [format!("r20#8 [PREWRITE PUT b1 s={s1} c=0 v=z]")]
    );
    let c1 = env.ts();
    env.cluster
        .lock()
        .commit(s1, c1, &[k("a1"), k("b1")])
        .expect("commit");
    assert_eq!(
        f1.lines(1).await,
        [format!("r10#7 [COMMIT PUT a1 s={s1} c={c1} v=y]")]
    );
    assert_eq!(
        f2.lines(1).await,
        [format!("r20#8 [COMMIT PUT b1 s={s1} c={c1} v=z]")]
    );

    let t = env.tick();
    assert_eq!(
        f1.lines(1).await,
        [format!("resolved req=0 ts={t} regions=[10]")]
    );
    assert_eq!(
        f2.lines(1).await,
        [format!("resolved req=0 ts={t} regions=[20]")]
    );
}

/// TiKV `test_cdc_scan_impl`: lock first, then versions newest first; a second
/// subscription with a checkpoint between two commits.
#[tokio::test]
async fn scan_emits_lock_then_versions_newest_first() {
    let env = env(THREE_REGIONS).await;
    let (s1, c1) = env
        .cluster
        .lock()
        .one_pc(&[put("a1", "v1")], 0)
        .expect("1pc");
    let s2 = env.ts();
    env.cluster
        .lock()
        .prewrite(s2, b"a1", &[put("a1", "v2")], PrewriteOptions::default())
        .expect("prewrite");
    let mut f = env.feed(1).await;
    f.send(env.reg(10, 1, 0));
    assert_eq!(
        f.lines(2).await,
        [
            format!(
                "r10#1 [PREWRITE PUT a1 s={s2} c=0 v=v2 old=v1, COMMITTED PUT a1 s={s1} c={c1} v=v1]"
            ),
            "r10#1 [INITIALIZED]".into()
        ]
    );
    let c2 = env.ts();
    env.cluster
        .lock()
        .commit(s2, c2, &[k("a1")])
        .expect("commit");
    let s3 = env.ts();
    env.cluster
        .lock()
        .prewrite(s3, b"a1", &[del("a1")], PrewriteOptions::default())
        .expect("prewrite delete");
    assert_eq!(
        f.lines(2).await,
        [
            format!("r10#1 [COMMIT PUT a1 s={s2} c={c2} v=v2]"),
            format!("r10#1 [PREWRITE DELETE a1 s={s3} c=0 old=v2]"),
        ]
    );
    f.send(env.reg(10, 2, c1 + 1));
    assert_eq!(
        f.lines(2).await,
        [
            format!(
                "r10#2 [PREWRITE DELETE a1 s={s3} c=0 old=v2, COMMITTED PUT a1 s={s2} c={c2} v=v2 old=v1]"
            ),
            "r10#2 [INITIALIZED]".into()
        ]
    );
}

#[tokio::test]
async fn empty_region_still_gets_initialized() {
    let env = env(THREE_REGIONS).await;
    let mut f = env.feed(3).await;
    f.send(env.reg(30, 5, 0));
    assert_eq!(f.lines(1).await, ["r30#5 [INITIALIZED]"]);
    f.silent().await;
}

/// Trap 4: live COMMIT carries no old value and only short values; PREWRITE
/// carries value + old value; 1PC is COMMITTED only.
#[tokio::test]
async fn live_commit_has_no_old_value_and_only_short_values() {
    let env = env(THREE_REGIONS).await;
    let mut f = env.feed(1).await;
    f.send(env.reg(10, 1, 0));
    assert_eq!(f.lines(1).await, ["r10#1 [INITIALIZED]"]);
    let (s0, c0) = env
        .cluster
        .lock()
        .one_pc(&[put("a1", "old")], 0)
        .expect("1pc");
    assert_eq!(
        f.lines(1).await,
        [format!("r10#1 [COMMITTED PUT a1 s={s0} c={c0} v=old]")]
    );
    let (s1, c1) = env
        .cluster
        .lock()
        .one_pc(&[put("a1", "new")], 0)
        .expect("1pc");
    assert_eq!(
        f.lines(1).await,
        [format!(
            "r10#1 [COMMITTED PUT a1 s={s1} c={c1} v=new old=old]"
        )]
    );

    let long = "L".repeat(256);
    let s2 = env.ts();
    env.cluster
        .lock()
        .prewrite(
            s2,
            b"a1",
            &[put("a1", &long), put("a2", "short")],
            PrewriteOptions::default(),
        )
        .expect("prewrite");
    assert_eq!(
        f.lines(1).await,
        [format!(
            "r10#1 [PREWRITE PUT a1 s={s2} c=0 v={long} old=new, PREWRITE PUT a2 s={s2} c=0 v=short]"
        )]
    );
    let c2 = env.ts();
    env.cluster
        .lock()
        .commit(s2, c2, &[k("a1"), k("a2")])
        .expect("commit");
    assert_eq!(
        f.lines(1).await,
        [format!(
            "r10#1 [COMMIT PUT a1 s={s2} c={c2}, COMMIT PUT a2 s={s2} c={c2} v=short]"
        )]
    );
}

/// Trap 5: locks below the checkpoint are re-sent as PREWRITE in the scan.
#[tokio::test]
async fn scan_resends_locks_older_than_checkpoint() {
    let env = env(THREE_REGIONS).await;
    let s1 = env.ts();
    env.cluster
        .lock()
        .prewrite(s1, b"a1", &[put("a1", "v")], PrewriteOptions::default())
        .expect("prewrite");
    let checkpoint = env.ts();
    let mut f = env.feed(1).await;
    f.send(env.reg(10, 1, checkpoint));
    assert_eq!(
        f.lines(2).await,
        [
            format!("r10#1 [PREWRITE PUT a1 s={s1} c=0 v=v]"),
            "r10#1 [INITIALIZED]".into()
        ]
    );
}

/// Trap 6: Rollback records are skipped by scans but sent live.
#[tokio::test]
async fn rollback_is_sent_live_but_skipped_by_scan() {
    let env = env(THREE_REGIONS).await;
    let mut f = env.feed(1).await;
    f.send(env.reg(10, 1, 0));
    assert_eq!(f.lines(1).await, ["r10#1 [INITIALIZED]"]);
    let s1 = env.ts();
    env.cluster
        .lock()
        .prewrite(s1, b"a1", &[put("a1", "v")], PrewriteOptions::default())
        .expect("prewrite");
    env.cluster
        .lock()
        .rollback(s1, &[k("a1")])
        .expect("rollback");
    assert_eq!(
        f.lines(2).await,
        [
            format!("r10#1 [PREWRITE PUT a1 s={s1} c=0 v=v]"),
            format!("r10#1 [ROLLBACK UNKNOWN a1 s={s1} c=0]"),
        ]
    );
    f.send(env.reg(10, 2, 0));
    assert_eq!(f.lines(1).await, ["r10#2 [INITIALIZED]"]);
}

/// Trap 7: pessimistic and `Lock` locks produce no events and do not hold
/// resolved ts.
#[tokio::test]
async fn pessimistic_and_lock_locks_are_invisible() {
    let env = env(THREE_REGIONS).await;
    let mut f = env.feed(1).await;
    f.send(env.reg(10, 1, 0));
    assert_eq!(f.lines(1).await, ["r10#1 [INITIALIZED]"]);
    let s1 = env.ts();
    let fu = env.ts();
    env.cluster
        .lock()
        .pessimistic_lock(s1, fu, b"a1", &[k("a1")])
        .expect("lock");
    let s2 = env.ts();
    env.cluster
        .lock()
        .prewrite(
            s2,
            b"a2",
            &[tidb_changefeed_emulator::Mutation {
                key: k("a2"),
                op: MutationOp::Lock,
            }],
            PrewriteOptions::default(),
        )
        .expect("prewrite lock");
    f.silent().await;
    let t = env.tick();
    assert_eq!(
        f.lines(1).await,
        [format!("resolved req=0 ts={t} regions=[10]")]
    );
    let c2 = env.ts();
    env.cluster
        .lock()
        .commit(s2, c2, &[k("a2")])
        .expect("commit lock");
    f.silent().await;
    // A pessimistic lock turned into a real prewrite becomes visible.
    env.cluster
        .lock()
        .prewrite(
            s1,
            b"a1",
            &[put("a1", "v")],
            PrewriteOptions {
                for_update_ts: fu,
                ..Default::default()
            },
        )
        .expect("prewrite");
    assert_eq!(
        f.lines(1).await,
        [format!("r10#1 [PREWRITE PUT a1 s={s1} c=0 v=v]")]
    );
}

/// Trap 3: no resolved ts before INITIALIZED; it only moves forward and is
/// re-sent unchanged; a lock holds it at the lock's start ts.
#[tokio::test]
async fn resolved_ts_waits_for_initialized_and_is_held_by_locks() {
    let env = env(THREE_REGIONS).await;
    env.cluster.lock().hold_scans(10);
    let mut f = env.feed(1).await;
    f.send(env.reg(10, 1, 0));
    env.wait_subs(1).await;
    f.silent().await;
    env.tick();
    f.silent().await;
    env.cluster.lock().release_scan(10);
    assert_eq!(f.lines(1).await, ["r10#1 [INITIALIZED]"]);
    let t1 = env.tick();
    assert_eq!(
        f.lines(1).await,
        [format!("resolved req=0 ts={t1} regions=[10]")]
    );
    let s = env.ts();
    env.cluster
        .lock()
        .prewrite(s, b"a1", &[put("a1", "v")], PrewriteOptions::default())
        .expect("prewrite");
    assert_eq!(
        f.lines(1).await,
        [format!("r10#1 [PREWRITE PUT a1 s={s} c=0 v=v]")]
    );
    env.tick();
    assert_eq!(
        f.lines(1).await,
        [format!("resolved req=0 ts={s} regions=[10]")]
    );
    env.tick();
    assert_eq!(
        f.lines(1).await,
        [format!("resolved req=0 ts={s} regions=[10]")]
    );
    let c = env.ts();
    env.cluster.lock().commit(s, c, &[k("a1")]).expect("commit");
    assert_eq!(
        f.lines(1).await,
        [format!("r10#1 [COMMIT PUT a1 s={s} c={c} v=v]")]
    );
    let t4 = env.tick();
    assert_eq!(
        f.lines(1).await,
        [format!("resolved req=0 ts={t4} regions=[10]")]
    );
}

const TEN_REGIONS: &str = include_str!("../../scenarios/fixtures/ten_regions.toml");

const REGION_IDS: [u64; 10] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 11];

/// Batched resolved ts: slowest 8 regions first with their minimum, then the rest;
/// `request_id = 0` without multiplexing.
#[tokio::test]
async fn batched_resolved_ts_pops_slowest_eight_first() {
    let env = super::harness::env(TEN_REGIONS).await;
    let mut f = env.feed(1).await;
    for id in REGION_IDS {
        f.send(env.reg(id, 100 + id, 0));
    }
    f.lines(10).await;
    let sa = env.ts();
    let sb = env.ts();
    {
        let mut m = env.cluster.lock();
        m.prewrite(sa, b"k2x", &[put("k2x", "a")], PrewriteOptions::default())
            .expect("prewrite");
        m.prewrite(sb, b"k6x", &[put("k6x", "b")], PrewriteOptions::default())
            .expect("prewrite");
    }
    f.lines(2).await;
    let t = env.tick();
    let mut m1 = f.next().await.expect("ok").expect("msg");
    let mut m2 = f.next().await.expect("ok").expect("msg");
    let r1 = m1.resolved_ts.take().expect("resolved");
    let r2 = m2.resolved_ts.take().expect("resolved");
    assert_eq!((r1.request_id, r1.ts, r1.regions.len()), (0, sa, 8));
    assert!(r1.regions.contains(&3) && r1.regions.contains(&7), "{r1:?}");
    assert_eq!((r2.request_id, r2.ts, r2.regions.len()), (0, t, 2));
    f.silent().await;
}

/// With `stream-multiplexing`, resolved ts are grouped per request id.
#[tokio::test]
async fn multiplexed_resolved_ts_is_grouped_per_request_id() {
    let env = super::harness::env(TEN_REGIONS).await;
    let mut f = env.feed_v2(1).await;
    f.send(env.reg(1, 7, 0));
    f.send(env.reg(2, 7, 0));
    f.send(env.reg(3, 9, 0));
    f.lines(3).await;
    let t = env.tick();
    let mut got = f.lines(2).await;
    got.sort();
    assert_eq!(
        got,
        [
            format!("resolved req=7 ts={t} regions=[1, 2]"),
            format!("resolved req=9 ts={t} regions=[3]")
        ]
    );
}

/// Clients older than 4.0.8 get one `Event.resolved_ts` per region.
#[tokio::test]
async fn old_clients_get_per_region_resolved_ts_events() {
    let env = super::harness::env(TEN_REGIONS).await;
    let mut f = env.feed(1).await;
    for id in [1, 2] {
        let mut r = env.reg(id, id, 0);
        r.header.as_mut().expect("header").ticdc_version = "4.0.7".into();
        f.send(r);
    }
    f.lines(2).await;
    let t = env.tick();
    let mut got = f.lines(2).await;
    got.sort();
    assert_eq!(
        got,
        [
            format!("r1#1 resolved_ts {t}"),
            format!("r2#2 resolved_ts {t}")
        ]
    );
}

/// Trap 11: one region under several request ids; `duplicate_request` only for
/// the same pair, leaving the first subscription intact.
#[tokio::test]
async fn same_region_under_two_request_ids_and_duplicate_request() {
    let env = env(THREE_REGIONS).await;
    let mut f = env.feed(1).await;
    f.send(env.reg(10, 1, 0));
    f.send(env.reg(10, 2, 0));
    assert_eq!(
        f.lines(2).await,
        ["r10#1 [INITIALIZED]", "r10#2 [INITIALIZED]"]
    );
    f.send(env.reg(10, 1, 0));
    assert_eq!(f.lines(1).await, ["r10#1 error duplicate_request(10)"]);
    let (s, c) = env
        .cluster
        .lock()
        .one_pc(&[put("a1", "v")], 0)
        .expect("1pc");
    assert_eq!(
        f.lines(2).await,
        [
            format!("r10#1 [COMMITTED PUT a1 s={s} c={c} v=v]"),
            format!("r10#2 [COMMITTED PUT a1 s={s} c={c} v=v]")
        ]
    );
}

/// Trap 8: deregister answers `region_not_found` and nothing more is sent for it.
#[tokio::test]
async fn deregister_answers_region_not_found_then_silence() {
    let env = env(THREE_REGIONS).await;
    let mut f = env.feed(1).await;
    f.send(env.reg(10, 1, 0));
    f.send(env.reg(10, 2, 0));
    f.lines(2).await;
    let mut d = env.reg(10, 1, 0);
    d.request = Some(change_data_request::Request::Deregister(
        change_data_request::Deregister {},
    ));
    f.send(d);
    assert_eq!(f.lines(1).await, ["r10#1 error region_not_found(10)"]);
    let (s, c) = env
        .cluster
        .lock()
        .one_pc(&[put("a1", "v")], 0)
        .expect("1pc");
    assert_eq!(
        f.lines(1).await,
        [format!("r10#2 [COMMITTED PUT a1 s={s} c={c} v=v]")]
    );
    let mut d = env.reg(0, 2, 0);
    d.region_id = 0;
    d.request = Some(change_data_request::Request::Deregister(
        change_data_request::Deregister {},
    ));
    f.send(d);
    assert_eq!(f.lines(1).await, ["r10#2 error region_not_found(10)"]);
    env.cluster
        .lock()
        .one_pc(&[put("a1", "w")], 0)
        .expect("1pc");
    env.tick();
    f.silent().await;
}

/// Trap 10: `NotifyTxnStatus` must not be sent (TiKV panics); the emulator fails
/// the stream.
#[tokio::test]
async fn notify_txn_status_fails_the_stream() {
    let env = env(THREE_REGIONS).await;
    let mut f = env.feed(1).await;
    let mut r = env.reg(10, 1, 0);
    r.request = Some(change_data_request::Request::NotifyTxnStatus(
        change_data_request::NotifyTxnStatus {
            txn_status: Vec::new(),
        },
    ));
    f.send(r);
    let e = f.next().await.expect_err("stream fails");
    assert_eq!(e.code(), tonic::Code::Unknown);
}

/// Trap 12: the register epoch check ignores conf_ver; conf changes do not fail
/// subscriptions.
#[tokio::test]
async fn conf_ver_is_ignored_by_register_and_conf_change() {
    let env = env(THREE_REGIONS).await;
    let mut f = env.feed(1).await;
    let mut r = env.reg(10, 1, 0);
    r.region_epoch.as_mut().expect("epoch").conf_ver = 999;
    f.send(r);
    assert_eq!(f.lines(1).await, ["r10#1 [INITIALIZED]"]);
    env.cluster.lock().topo.stores.insert(
        4,
        tidb_changefeed_emulator::StoreInfo {
            id: 4,
            address: String::new(),
            version: "8.5.0".into(),
            tiflash: false,
            supports_v2: true,
            up: true,
            tombstone: false,
        },
    );
    env.cluster.lock().add_peer(10, 4, false).expect("add peer");
    f.silent().await;
    let t = env.tick();
    assert_eq!(
        f.lines(1).await,
        [format!("resolved req=0 ts={t} regions=[10]")]
    );
}

/// Trap 13: rows packed ≤ 32 KiB per Event; events never mixed with resolved ts.
#[tokio::test]
async fn scan_rows_are_packed_in_32k_events() {
    let env = env(THREE_REGIONS).await;
    {
        let mut m = env.cluster.lock();
        for i in 0..100 {
            let key = format!("a{i:03}");
            m.one_pc(&[put(&key, &"v".repeat(1000))], 0).expect("1pc");
        }
        m.one_pc(&[put("a999", &"h".repeat(40 * 1024))], 0)
            .expect("huge row");
    }
    let mut f = env.feed(1).await;
    f.send(env.reg(10, 1, 0));
    let mut rows = 0;
    let mut events = Vec::new();
    loop {
        let m = f.next().await.expect("ok").expect("msg");
        assert!(m.resolved_ts.is_none());
        let mut done = false;
        for e in m.events {
            let Some(event::Event::Entries(en)) = e.event else {
                panic!("unexpected event");
            };
            let size: usize = en
                .entries
                .iter()
                .map(|r| r.key.len() + r.value.len() + r.old_value.len())
                .sum();
            if en
                .entries
                .iter()
                .any(|r| r.r#type == event::LogType::Initialized as i32)
            {
                assert_eq!(en.entries.len(), 1);
                done = true;
            } else {
                rows += en.entries.len();
                events.push((en.entries.len(), size));
            }
        }
        if done {
            break;
        }
    }
    assert_eq!(rows, 101);
    assert!(events.len() >= 5, "{events:?}");
    for (n, size) in &events {
        assert!(*size <= 32 * 1024 || *n == 1, "{events:?}");
    }
}

/// Rows written by a CDC sink (`txn_source` bits 0–7) are dropped only with
/// `filter_loop`; bits ≥ 8 are always dropped.
#[tokio::test]
async fn txn_source_filtering() {
    let env = env(THREE_REGIONS).await;
    let mut f = env.feed(1).await;
    let mut r = env.reg(10, 2, 0);
    r.filter_loop = true;
    f.send(env.reg(10, 1, 0));
    f.send(r);
    f.lines(2).await;
    let (s, c) = env
        .cluster
        .lock()
        .one_pc(&[put("a1", "cdc")], 1)
        .expect("1pc");
    assert_eq!(
        f.lines(1).await,
        [format!("r10#1 [COMMITTED PUT a1 s={s} c={c} v=cdc src=1]")]
    );
    env.cluster
        .lock()
        .one_pc(&[put("a1", "ddl")], 1 << 8)
        .expect("1pc");
    f.silent().await;
}
