//! The span feed against the emulator: exact committed rows, rising frontier, and region
//! errors (split, leader transfer, store restart, fatal kinds).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use tidb_changefeed::event::OpType;
use tidb_changefeed::upstream::UpstreamError;
use tidb_changefeed::upstream::feed::{self, FeedConfig, Span, UpstreamEvent};
use tidb_changefeed_emulator::mvcc::WriteKind;
use tidb_changefeed_emulator::scenario::Scenario;
use tidb_changefeed_emulator::{Emulator, Mutation, MutationOp, PrewriteOptions, runner};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The emulator tests' three-store, three-region cluster.
pub use crate::emulator::harness::THREE_REGIONS;

type Row = (String, String, OpType, u64);

struct T {
    emu: Emulator,
    rx: mpsc::Receiver<UpstreamEvent>,
    task: JoinHandle<Result<(), UpstreamError>>,
    rows: BTreeSet<Row>,
    start_ts: u64,
    frontier: u64,
}

async fn start(toml: &str) -> T {
    let s = Scenario::parse(toml, "inline").expect("scenario");
    let emu = runner::start(&s, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("emulator");
    let start_ts = emu.cluster().lock().next_ts();
    let (tx, rx) = mpsc::channel(1024);
    let cfg = FeedConfig {
        pd_endpoints: vec![emu.pd_addr().to_string()],
        span: Span {
            start: Vec::new(),
            end: Vec::new(),
        },
        start_ts,
    };
    let task = tokio::spawn(feed::run(cfg, tx));
    let t = T {
        emu,
        rx,
        task,
        rows: BTreeSet::new(),
        start_ts,
        frontier: start_ts,
    };
    t.wait_subs(3).await;
    t
}

impl T {
    /// The emulator's MVCC truth for `keys`: every Put/Delete committed after the feed's
    /// start ts and at or below its frontier.
    fn truth(&self, keys: &[&str]) -> BTreeSet<Row> {
        let m = self.emu.cluster().lock();
        let mut out = BTreeSet::new();
        for k in keys {
            let Some(d) = m.key_data(k.as_bytes()) else {
                continue;
            };
            for w in &d.writes {
                if w.commit_ts <= self.start_ts || w.commit_ts > self.frontier {
                    continue;
                }
                let op = match w.kind {
                    WriteKind::Put => OpType::Put,
                    WriteKind::Delete => OpType::Delete,
                    WriteKind::Rollback | WriteKind::Lock => continue,
                };
                let v = w.value.clone().unwrap_or_default();
                out.insert(row(k, &String::from_utf8_lossy(&v), op, w.commit_ts));
            }
        }
        out
    }

    async fn wait_subs(&self, n: usize) {
        for _ in 0..500 {
            if self.emu.cluster().lock().subscription_count() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("subscription count never reached {n}");
    }

    fn put(&self, key: &str, value: &str) -> u64 {
        let mut m = self.emu.cluster().lock();
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

    fn delete(&self, key: &str) -> u64 {
        let mut m = self.emu.cluster().lock();
        let s = m.next_ts();
        let muts = [Mutation {
            key: key.as_bytes().to_vec(),
            op: MutationOp::Delete,
        }];
        m.prewrite(s, key.as_bytes(), &muts, PrewriteOptions::default())
            .expect("prewrite");
        let c = m.next_ts();
        m.commit(s, c, &[key.as_bytes().to_vec()]).expect("commit");
        c
    }

    fn one_pc(&self, key: &str, value: &str) -> u64 {
        let mut m = self.emu.cluster().lock();
        let (_, c) = m
            .one_pc(
                &[Mutation {
                    key: key.as_bytes().to_vec(),
                    op: MutationOp::Put(value.as_bytes().to_vec()),
                }],
                0,
            )
            .expect("1pc");
        c
    }

    /// Ticks resolved ts and collects events until the frontier passes `ts`.
    async fn until_frontier(&mut self, ts: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.frontier < ts {
            assert!(
                tokio::time::Instant::now() < deadline,
                "frontier stuck at {} < {ts}; rows {:?}",
                self.frontier,
                self.rows
            );
            self.emu.cluster().lock().tick_resolved_ts();
            let until = tokio::time::Instant::now() + Duration::from_millis(50);
            while let Ok(Some(ev)) = tokio::time::timeout_at(until, self.rx.recv()).await {
                match ev {
                    UpstreamEvent::Row(r) => {
                        self.rows.insert((
                            String::from_utf8_lossy(&r.key).into_owned(),
                            String::from_utf8_lossy(&r.value).into_owned(),
                            r.op,
                            r.commit_ts,
                        ));
                    }
                    UpstreamEvent::Resolved { ts, .. } => {
                        assert!(
                            ts > self.frontier,
                            "frontier went from {} to {ts}",
                            self.frontier
                        );
                        self.frontier = ts;
                    }
                }
            }
            assert!(!self.task.is_finished(), "feed ended early");
        }
    }
}

fn row(k: &str, v: &str, op: OpType, c: u64) -> Row {
    (k.into(), v.into(), op, c)
}

#[tokio::test]
async fn upstream_feed_plain_dml_yields_exactly_the_committed_rows() {
    let mut t = start(THREE_REGIONS).await;
    let c1 = t.put("a", "1");
    let c2 = t.put("c", "2");
    let c3 = t.one_pc("e", "3");
    let c4 = t.delete("a");
    t.until_frontier(c4).await;
    let f1 = t.frontier;
    let want: BTreeSet<Row> = [
        row("a", "1", OpType::Put, c1),
        row("c", "2", OpType::Put, c2),
        row("e", "3", OpType::Put, c3),
        row("a", "", OpType::Delete, c4),
    ]
    .into_iter()
    .collect();
    assert_eq!(t.rows, want);
    assert_eq!(
        t.truth(&["a", "c", "e"]),
        want,
        "the emulator's MVCC agrees"
    );
    // The frontier keeps rising with no writes.
    let now = t.emu.cluster().lock().next_ts();
    t.until_frontier(now).await;
    assert!(t.frontier > f1);
}

#[tokio::test]
async fn upstream_feed_split_and_leader_transfer_deliver_every_row() {
    let mut t = start(THREE_REGIONS).await;
    let c1 = t.put("c", "1");
    t.until_frontier(c1).await;
    t.emu
        .cluster()
        .lock()
        .split(
            20,
            b"c",
            tidb_changefeed_emulator::RegionChangeNotice::EpochNotMatch,
        )
        .expect("split");
    let c2 = t.put("b", "2");
    let c3 = t.put("cc", "3");
    t.emu
        .cluster()
        .lock()
        .transfer_leader(30, 1, true)
        .expect("transfer");
    let c4 = t.put("e", "4");
    t.emu
        .cluster()
        .lock()
        .transfer_leader(10, 2, false)
        .expect("transfer");
    let c5 = t.put("a", "5");
    t.until_frontier(c5).await;
    for r in [
        row("c", "1", OpType::Put, c1),
        row("b", "2", OpType::Put, c2),
        row("cc", "3", OpType::Put, c3),
        row("e", "4", OpType::Put, c4),
        row("a", "5", OpType::Put, c5),
    ] {
        assert!(t.rows.contains(&r), "missing {r:?} in {:?}", t.rows);
    }
    let truth = t.truth(&["a", "b", "c", "cc", "e"]);
    assert!(
        truth.is_subset(&t.rows),
        "MVCC {truth:?} vs rows {:?}",
        t.rows
    );
}

#[tokio::test]
async fn upstream_feed_store_restart_delivers_every_row() {
    let mut t = start(THREE_REGIONS).await;
    let c1 = t.put("c", "1");
    t.until_frontier(c1).await;
    t.emu.stop_store(2).await.expect("stop");
    // Region 20 (led by store 2) takes no writes while its store is down; region 10 does.
    let c2 = t.put("a", "2");
    tokio::time::sleep(Duration::from_millis(300)).await;
    t.emu.start_store(2).await.expect("start");
    let c3 = t.put("c", "3");
    t.until_frontier(c3).await;
    for r in [
        row("c", "1", OpType::Put, c1),
        row("a", "2", OpType::Put, c2),
        row("c", "3", OpType::Put, c3),
    ] {
        assert!(t.rows.contains(&r), "missing {r:?} in {:?}", t.rows);
    }
}

#[tokio::test]
async fn upstream_feed_server_busy_and_congested_are_retried() {
    let mut t = start(THREE_REGIONS).await;
    {
        let mut m = t.emu.cluster().lock();
        m.inject_server_busy(2, 2, 30);
        m.split(
            20,
            b"c",
            tidb_changefeed_emulator::RegionChangeNotice::RegionNotFound,
        )
        .expect("split");
        m.inject_congested(30);
    }
    let c1 = t.put("b", "1");
    let c2 = t.put("cc", "2");
    let c3 = t.put("e", "3");
    t.until_frontier(c3).await;
    for r in [
        row("b", "1", OpType::Put, c1),
        row("cc", "2", OpType::Put, c2),
        row("e", "3", OpType::Put, c3),
    ] {
        assert!(t.rows.contains(&r), "missing {r:?} in {:?}", t.rows);
    }
}

#[tokio::test]
async fn upstream_feed_cluster_id_mismatch_surfaces_as_fatal_error() {
    let t = start(THREE_REGIONS).await;
    {
        let mut m = t.emu.cluster().lock();
        // The stores now answer as another cluster; a leader change makes the feed
        // re-register region 30 on store 1 with the cluster id PD gave it (42).
        m.cluster_id = 7;
        m.transfer_leader(30, 1, true).expect("transfer");
    }
    let res = tokio::time::timeout(Duration::from_secs(10), t.task)
        .await
        .expect("feed stops")
        .expect("task joins");
    let e = res.expect_err("fatal");
    assert!(
        matches!(
            e,
            UpstreamError::ClusterIdMismatch {
                current: 7,
                requested: 42,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.kind(), tidb_changefeed::upstream::ErrorKind::Fatal);
}

#[tokio::test]
async fn upstream_feed_merge_keeps_the_frontier_moving() {
    let mut t = start(THREE_REGIONS).await;
    let c1 = t.put("c", "1");
    t.until_frontier(c1).await;
    t.emu
        .cluster()
        .lock()
        .merge(
            20,
            30,
            tidb_changefeed_emulator::RegionChangeNotice::EpochNotMatch,
        )
        .expect("merge");
    let c2 = t.put("c", "2");
    let c3 = t.put("e", "3");
    t.until_frontier(c3).await;
    let truth = t.truth(&["c", "e"]);
    assert!(
        truth.is_subset(&t.rows),
        "MVCC {truth:?} vs rows {:?}",
        t.rows
    );
    assert!(t.rows.contains(&row("c", "2", OpType::Put, c2)));
}

#[tokio::test]
async fn upstream_feed_falls_back_to_eventfeed_v1_and_skips_tiflash() {
    let toml = THREE_REGIONS.replace(
        "[[stores]]\nid = 2\n",
        "[[stores]]\nid = 2\neventfeed_v2 = false\n",
    ) + "[[stores]]\nid = 4\ntiflash = true\n";
    let mut t = start(&toml).await;
    let stores = tidb_changefeed::upstream::pd::PdClient::connect(&[t.emu.pd_addr().to_string()])
        .await
        .expect("pd")
        .get_all_stores()
        .await
        .expect("stores");
    assert_eq!(
        stores.iter().map(|s| s.id).collect::<BTreeSet<_>>(),
        [1, 2, 3].into_iter().collect(),
        "the TiFlash store is skipped"
    );
    let c1 = t.put("c", "1");
    let c2 = t.put("a", "2");
    t.until_frontier(c1.max(c2)).await;
    let want: BTreeSet<Row> = [
        row("c", "1", OpType::Put, c1),
        row("a", "2", OpType::Put, c2),
    ]
    .into_iter()
    .collect();
    assert_eq!(t.rows, want);
}

#[tokio::test]
async fn upstream_feed_live_commits_during_a_held_incremental_scan_are_delivered() {
    let mut t = start(THREE_REGIONS).await;
    let c1 = t.put("c", "1");
    t.until_frontier(c1).await;
    // Re-subscribe region 20 (split) with its scans held: live PREWRITE/COMMIT rows arrive
    // before INITIALIZED and go through the matcher's pre-initialization path.
    {
        let mut m = t.emu.cluster().lock();
        m.hold_scans(20);
        m.split(
            20,
            b"c",
            tidb_changefeed_emulator::RegionChangeNotice::EpochNotMatch,
        )
        .expect("split");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let c2 = t.put("cc", "2");
    let c3 = t.put("c", "3");
    tokio::time::sleep(Duration::from_millis(100)).await;
    t.emu.cluster().lock().release_scan(20);
    t.until_frontier(c3).await;
    for r in [
        row("c", "1", OpType::Put, c1),
        row("cc", "2", OpType::Put, c2),
        row("c", "3", OpType::Put, c3),
    ] {
        assert!(t.rows.contains(&r), "missing {r:?} in {:?}", t.rows);
    }
}
