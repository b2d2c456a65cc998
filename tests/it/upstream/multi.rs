//! The multi-span feed (`Feed::start`, `add_span`, `remove_span`) against the emulator: one
//! shared EventFeedV2 stream per store whatever the number of spans, exact committed rows
//! per span against the MVCC truth, spans added and removed while running, V1 fallback,
//! back-pressure through the output channel and through the streams' byte budget, and PD
//! region scans with holes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use tidb_changefeed::event::OpType;
use tidb_changefeed::upstream::UpstreamError;
use tidb_changefeed::upstream::feed::{EventBudget, Feed, FeedOptions, Span, UpstreamEvent};
use tidb_changefeed_emulator::keyspace::encode_key;
use tidb_changefeed_emulator::mvcc::WriteKind;
use tidb_changefeed_emulator::scenario::Scenario;
use tidb_changefeed_emulator::topology::Region;
use tidb_changefeed_emulator::{Emulator, Mutation, MutationOp, PrewriteOptions, runner};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::feed::THREE_REGIONS;

type Row = (String, String, OpType, u64);

fn span(start: &str, end: &str) -> Span {
    let enc = |k: &str| {
        if k.is_empty() {
            Vec::new()
        } else {
            encode_key(k.as_bytes())
        }
    };
    Span {
        start: enc(start),
        end: enc(end),
    }
}

/// Raw key bounds of a span built by [`span`].
struct Named {
    span: Span,
    start: &'static str,
    end: &'static str,
    start_ts: u64,
}

struct T {
    emu: Emulator,
    feed: Feed,
    rx: mpsc::Receiver<UpstreamEvent>,
    task: JoinHandle<Result<(), UpstreamError>>,
    /// Every row received (rows carry no span: they are attributed by key).
    rows: BTreeSet<Row>,
    frontiers: BTreeMap<Vec<u8>, u64>,
    spans: Vec<Named>,
}

async fn start(toml: &str, cap: usize) -> T {
    start_with(toml, cap, EventBudget::unbounded()).await
}

/// [`start`] with `streams` bounding the bytes of the store streams' queued messages.
async fn start_with(toml: &str, cap: usize, streams: EventBudget) -> T {
    let s = Scenario::parse(toml, "inline").expect("scenario");
    let emu = runner::start(&s, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("emulator");
    let (tx, rx) = mpsc::channel(cap);
    let opts = FeedOptions {
        streams,
        ..FeedOptions::new(vec![emu.pd_addr().to_string()])
    };
    let (feed, task) = Feed::start(opts, tx).await.expect("feed starts");
    T {
        emu,
        feed,
        rx,
        task,
        rows: BTreeSet::new(),
        frontiers: BTreeMap::new(),
        spans: Vec::new(),
    }
}

impl T {
    fn add(&mut self, start: &'static str, end: &'static str) -> Span {
        let start_ts = self.emu.cluster().lock().next_ts();
        let sp = span(start, end);
        self.feed.add_span(sp.clone(), start_ts);
        self.frontiers.insert(sp.start.clone(), start_ts);
        self.spans.push(Named {
            span: sp.clone(),
            start,
            end,
            start_ts,
        });
        sp
    }

    fn remove(&mut self, sp: &Span) {
        self.feed.remove_span(sp);
        self.spans.retain(|n| &n.span != sp);
        self.frontiers.remove(&sp.start);
    }

    async fn wait_subs(&self, n: usize) {
        for _ in 0..500 {
            if self.emu.cluster().lock().subscription_count() == n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "subscription count stuck at {} instead of {n}",
            self.emu.cluster().lock().subscription_count()
        );
    }

    fn conns(&self) -> Vec<usize> {
        let m = self.emu.cluster().lock();
        (1..=3).map(|s| m.conn_count(s)).collect()
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

    fn receive(&mut self, ev: UpstreamEvent) {
        match ev {
            UpstreamEvent::Row(r) => {
                self.rows.insert((
                    String::from_utf8_lossy(&r.key).into_owned(),
                    String::from_utf8_lossy(&r.value).into_owned(),
                    r.op,
                    r.commit_ts,
                ));
            }
            UpstreamEvent::Resolved { span, ts } => {
                let f = self.frontiers.get_mut(&span.start).unwrap_or_else(|| {
                    panic!("resolved ts {ts} for a span not (or no longer) added: {span:?}")
                });
                assert!(ts > *f, "span frontier went from {f} to {ts}");
                *f = ts;
            }
        }
    }

    /// Ticks resolved ts and collects events until every span's frontier passes `ts`.
    async fn until_all(&mut self, ts: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.frontiers.values().any(|f| *f < ts) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "frontiers {:?} stuck below {ts}",
                self.frontiers
            );
            self.emu.cluster().lock().tick_resolved_ts();
            let until = tokio::time::Instant::now() + Duration::from_millis(50);
            while let Ok(Some(ev)) = tokio::time::timeout_at(until, self.rx.recv()).await {
                self.receive(ev);
            }
            assert!(!self.task.is_finished(), "feed ended early");
        }
    }

    /// For every live span: the rows received for its keys with `commit_ts` up to its
    /// frontier equal the emulator's MVCC write records in `(start_ts, frontier]`.
    fn check_exact(&self, keys: &[&str]) {
        let m = self.emu.cluster().lock();
        for n in &self.spans {
            let f = self.frontiers[&n.span.start];
            let in_span = |k: &str| k >= n.start && (n.end.is_empty() || k < n.end);
            let mut truth = BTreeSet::new();
            for k in keys.iter().filter(|k| in_span(k)) {
                let Some(d) = m.key_data(k.as_bytes()) else {
                    continue;
                };
                for w in &d.writes {
                    if w.commit_ts <= n.start_ts || w.commit_ts > f {
                        continue;
                    }
                    let op = match w.kind {
                        WriteKind::Put => OpType::Put,
                        WriteKind::Delete => OpType::Delete,
                        WriteKind::Rollback | WriteKind::Lock => continue,
                    };
                    let v =
                        String::from_utf8_lossy(&w.value.clone().unwrap_or_default()).into_owned();
                    truth.insert(((*k).to_string(), v, op, w.commit_ts));
                }
            }
            let got: BTreeSet<Row> = self
                .rows
                .iter()
                .filter(|r| in_span(&r.0) && r.3 > n.start_ts && r.3 <= f)
                .cloned()
                .collect();
            assert_eq!(got, truth, "span [{:?}, {:?})", n.start, n.end);
        }
    }
}

#[tokio::test]
async fn upstream_multi_span_feed_shares_one_stream_per_store_and_adds_and_removes_spans() {
    let mut t = start(THREE_REGIONS, 1024).await;
    // Regions: 10 [-inf, b) on store 1, 20 [b, d) on store 2, 30 [d, +inf) on store 3.
    let a = t.add("a", "c"); // regions 10 and 20
    let _b = t.add("c", "e"); // regions 20 and 30
    t.wait_subs(4).await;
    assert_eq!(
        t.conns(),
        vec![1, 1, 1],
        "one stream per store for two spans"
    );
    let c1 = t.put("a", "1");
    let c2 = t.put("bb", "2");
    let c3 = t.put("c", "3");
    let c4 = t.put("dd", "4");
    t.until_all(c1.max(c2).max(c3).max(c4)).await;
    t.check_exact(&["a", "bb", "c", "dd"]);
    for r in [
        ("a", "1", c1),
        ("bb", "2", c2),
        ("c", "3", c3),
        ("dd", "4", c4),
    ] {
        assert!(
            t.rows.contains(&(r.0.into(), r.1.into(), OpType::Put, r.2)),
            "missing {r:?}"
        );
    }

    // A third span added while running: its regions go onto the existing streams.
    let c5 = t.put("f", "before");
    let _c = t.add("e", "");
    t.wait_subs(5).await;
    assert_eq!(t.conns(), vec![1, 1, 1], "still one stream per store");
    let c6 = t.put("f", "5");
    let c7 = t.put("c", "6");
    t.until_all(c6.max(c7)).await;
    t.check_exact(&["a", "bb", "c", "dd", "f"]);
    assert!(
        !t.rows.iter().any(|r| r.3 == c5),
        "a commit before the span's start ts is not delivered"
    );

    // Removing the first span deregisters its two regions on TiKV; the others go on.
    t.remove(&a);
    t.wait_subs(3).await;
    assert_eq!(t.conns(), vec![1, 1, 1], "the shared streams stay open");
    // Drain whatever was queued before the removal was processed.
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(100), t.rx.recv()).await {
        if let UpstreamEvent::Row(r) = &ev
            && r.key == b"a"
        {
            continue;
        }
        if let UpstreamEvent::Resolved { span, .. } = &ev
            && span == &a
        {
            continue;
        }
        t.receive(ev);
    }
    let c8 = t.put("a", "gone");
    let c9 = t.put("bb", "gone");
    let c10 = t.put("dd", "7");
    t.until_all(c8.max(c9).max(c10)).await;
    t.check_exact(&["a", "bb", "c", "dd", "f"]);
    assert!(
        !t.rows.iter().any(|r| r.3 == c8 || r.3 == c9),
        "no row of a removed span: {:?}",
        t.rows
    );
    assert!(
        t.rows
            .contains(&("dd".into(), "7".into(), OpType::Put, c10))
    );
}

#[tokio::test]
async fn upstream_multi_span_feed_uses_one_v1_stream_per_span_on_a_store_without_v2() {
    let toml = THREE_REGIONS.replace(
        "[[stores]]\nid = 2\n",
        "[[stores]]\nid = 2\neventfeed_v2 = false\n",
    );
    let mut t = start(&toml, 1024).await;
    let a = t.add("a", "c");
    t.add("c", "e");
    t.wait_subs(4).await;
    // Region 20 (store 2) serves both spans: V1 cannot tell their batched resolved ts
    // apart, so each span has its own stream there, as TiCDC does.
    assert_eq!(t.conns(), vec![1, 2, 1]);
    let c1 = t.put("bb", "1");
    let c2 = t.put("c", "2");
    t.until_all(c1.max(c2)).await;
    t.check_exact(&["bb", "c"]);
    assert!(t.rows.contains(&("bb".into(), "1".into(), OpType::Put, c1)));
    assert!(t.rows.contains(&("c".into(), "2".into(), OpType::Put, c2)));
    // Removing a span closes its own V1 stream; the V2 streams stay.
    t.remove(&a);
    t.wait_subs(2).await;
    for _ in 0..200 {
        if t.conns() == vec![1, 1, 1] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(t.conns(), vec![1, 1, 1]);
}

#[tokio::test]
async fn upstream_multi_span_feed_stops_when_every_handle_is_dropped() {
    let mut t = start(THREE_REGIONS, 1024).await;
    t.add("", "");
    t.wait_subs(3).await;
    let T {
        feed, task, emu, ..
    } = t;
    drop(feed);
    let r = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("feed stops")
        .expect("joins");
    assert!(r.is_ok(), "{r:?}");
    // Its streams end with it: TiKV drops their subscriptions.
    for _ in 0..200 {
        if emu.cluster().lock().subscription_count() == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("subscriptions left after the feed stopped");
}

#[tokio::test]
async fn upstream_multi_span_feed_waits_on_a_full_output_channel_and_loses_nothing() {
    // Capacity 1: the feed must wait on every send while the test is not reading.
    let mut t = start(THREE_REGIONS, 1).await;
    t.add("", "");
    t.wait_subs(3).await;
    let keys: Vec<String> = (0..200).map(|i| format!("k{i:03}")).collect();
    let mut last = 0;
    for k in &keys {
        last = t.put(k, "v");
        t.emu.cluster().lock().tick_resolved_ts();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!t.task.is_finished());
    t.until_all(last).await;
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    t.check_exact(&refs);
    assert_eq!(t.rows.len(), keys.len());
}

#[tokio::test]
async fn upstream_multi_span_feed_within_a_one_unit_stream_budget_loses_nothing_and_gives_it_back()
{
    // One 1 KiB unit for the three stores' streams together: every message takes all of
    // it, so the readers take turns and each waits until the feed has handled the message
    // before (a message the feed kept would stall every stream). Some values are larger
    // than the whole budget.
    let budget = EventBudget::new(1024);
    let mut t = start_with(THREE_REGIONS, 1, budget.clone()).await;
    t.add("", "");
    t.wait_subs(3).await;
    // Keys on all three stores: regions [-inf, b), [b, d), [d, +inf).
    let keys: Vec<String> = (0..150)
        .map(|i| format!("{}{i:03}", ["a", "c", "e"][i % 3]))
        .collect();
    let big = "x".repeat(4096);
    let mut last = 0;
    for (i, k) in keys.iter().enumerate() {
        last = t.put(k, if i % 10 == 0 { &big } else { "v" });
        t.emu.cluster().lock().tick_resolved_ts();
    }
    t.until_all(last).await;
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    t.check_exact(&refs);
    assert_eq!(t.rows.len(), keys.len());

    // With the output drained, the feed holds no message: every byte was given back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while budget.used() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} bytes of stream messages never given back",
            budget.used()
        );
        if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(20), t.rx.recv()).await {
            t.receive(ev);
        }
    }
    assert!(!t.task.is_finished());
}

#[tokio::test]
async fn upstream_multi_span_feed_retries_a_region_scan_with_holes() {
    // No region covers [b, d) at first (a split in flight in PD).
    let toml = THREE_REGIONS.replace(
        "[[regions]]\nid = 20\nstart = \"62\"\nend = \"64\"\npeers = [2, 3, 1]\n",
        "",
    );
    assert_ne!(toml, THREE_REGIONS, "scenario edited");
    let mut t = start(&toml, 1024).await;
    let sp = t.add("", "");
    tokio::time::sleep(Duration::from_millis(300)).await;
    t.emu.cluster().lock().tick_resolved_ts();
    assert_eq!(
        t.emu.cluster().lock().subscription_count(),
        0,
        "nothing is registered while the span has a hole"
    );
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(100), t.rx.recv()).await {
        assert!(
            !matches!(ev, UpstreamEvent::Resolved { .. }),
            "no resolved ts over a hole: {ev:?}"
        );
    }
    {
        let mut m = t.emu.cluster().lock();
        m.topo.insert_region(Region {
            id: 20,
            start: b"b".to_vec(),
            end: b"d".to_vec(),
            conf_ver: 1,
            version: 1,
            peers: vec![(21, 2, false), (22, 3, false), (23, 1, false)],
            leader_store: 2,
        });
    }
    t.wait_subs(3).await;
    let c1 = t.put("c", "1");
    let c2 = t.put("a", "2");
    t.until_all(c1.max(c2)).await;
    t.check_exact(&["a", "c"]);
    assert!(t.rows.contains(&("c".into(), "1".into(), OpType::Put, c1)));
    let _ = sp;
}
