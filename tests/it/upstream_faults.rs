//! Upstream faults against the real daemon binary: PD stopped, a TiKV store down, a store
//! removed from the cluster (tombstone), PD's regions leaving a hole. Each is retried with
//! bounded backoff and, past the escalation threshold (`[upstream] fault-report-after`),
//! shown in the status API (state `retrying`, the error, what to check, since when),
//! `/readyz` and the metrics; replication recovers by itself when the part returns (or its
//! regions move), and no committed row is lost (rows read back from the real Kafka broker
//! with kcat).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tidb_changefeed_emulator::scenario::Scenario;

use crate::e2e::{Daemon, KILL_SCENARIO, emulator, read_all, table_topics_sink, wait_subscribed};
use crate::load::SteadyLoad;
use crate::state_faults::{commit, metric, versions, wait_for, want};
use crate::support::unique;

/// `[upstream]` of the daemons below: faults reported after 2 s (default 10 s), and a
/// service GC safe point TTL of 10 minutes (default 24 h).
const UPSTREAM: &str = "fault-report-after = \"2s\"\ngc-ttl = \"10m\"";
/// The configured `fault-report-after`.
const REPORT_AFTER: Duration = Duration::from_secs(2);

/// The fault on `component` once the status shows it, and how long that took.
async fn escalated(
    d: &mut Daemon,
    component: &str,
    within: Duration,
) -> (serde_json::Value, Duration) {
    let t0 = Instant::now();
    let cf = wait_for(
        d,
        within,
        &format!("a {component} fault in the status"),
        |d| {
            let st = d.try_status()?;
            let cf = st["changefeeds"][0].clone();
            let found = cf["faults"]
                .as_array()?
                .iter()
                .any(|f| f["component"] == component);
            (cf["state"] == "retrying" && found).then_some(cf)
        },
    )
    .await;
    (cf, t0.elapsed())
}

fn fault<'a>(cf: &'a serde_json::Value, component: &str) -> &'a serde_json::Value {
    cf["faults"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["component"] == component))
        .unwrap_or_else(|| panic!("no {component} fault: {cf}"))
}

async fn running_again(d: &mut Daemon) {
    wait_for(d, Duration::from_secs(20), "state running again", |d| {
        let st = d.try_status()?;
        (st["changefeeds"][0]["state"] == "running").then_some(())
    })
    .await;
    assert!(d.get("/readyz").0.contains("200"));
}

#[tokio::test]
async fn pd_stopped_is_reported_as_retrying_then_recovers_without_loss() {
    let s = Scenario::parse(KILL_SCENARIO, "kill").expect("scenario");
    let mut emu = emulator(&s).await;
    let prefix = unique("pd_down");
    let mut d = Daemon::start(emu.pd_addr(), &prefix, "", "");
    wait_subscribed(&emu).await;
    let first = commit(&emu, 0, 20);
    d.wait_checkpoint(first, Duration::from_secs(60)).await;

    emu.stop_pd().await;
    // Probe every 2 s, reported after 10 s of failures: well within 30 s.
    let (cf, took) = escalated(&mut d, "pd", Duration::from_secs(30)).await;
    let f = fault(&cf, "pd");
    assert!(!f["error"].as_str().unwrap_or_default().is_empty(), "{cf}");
    let action = f["action"].as_str().unwrap_or_default();
    assert!(
        action.contains("[upstream] pd") && action.contains(&emu.pd_addr().to_string()),
        "{cf}"
    );
    assert!(
        action.contains("gc-ttl") && action.contains("expires in"),
        "{cf}"
    );
    assert!(f["since"].is_string(), "{cf}");
    eprintln!("PD stopped: reported after {took:?}");
    let (line, body) = d.get("/readyz");
    assert!(
        line.contains("503") && body.contains("pd failing since"),
        "{line} {body}"
    );
    assert!(
        metric(
            &d,
            "tidb_changefeed_fault_since_seconds",
            "component=\"pd\""
        )
        .is_some_and(|v| v > 0.0)
    );
    let ttl_left = metric(
        &d,
        "tidb_changefeed_upstream_gc_safe_point_ttl_remaining_seconds",
        "e2e",
    )
    .expect("TTL gauge");
    assert!(ttl_left > 0.0 && ttl_left <= 86_400.0, "{ttl_left}");
    assert!(
        metric(
            &d,
            "tidb_changefeed_upstream_escalations_total",
            "kind=\"pd\""
        )
        .is_some_and(|v| v >= 1.0)
    );

    emu.start_pd().await.expect("PD back");
    let second = commit(&emu, 20, 40);
    d.wait_checkpoint(second, Duration::from_secs(60)).await;
    running_again(&mut d).await;
    assert_eq!(
        metric(
            &d,
            "tidb_changefeed_fault_since_seconds",
            "component=\"pd\""
        ),
        Some(0.0)
    );
    assert!(d.terminate().success(), "{}", d.log());
    assert!(versions(&prefix).is_superset(&want(0, 40)), "no row lost");
}

#[tokio::test]
async fn a_store_gone_is_reported_naming_it_then_recovers_without_loss() {
    let s = Scenario::parse(KILL_SCENARIO, "kill").expect("scenario");
    let mut emu = emulator(&s).await;
    let prefix = unique("store_gone");
    let mut d = Daemon::start(emu.pd_addr(), &prefix, "", "");
    wait_subscribed(&emu).await;
    let first = commit(&emu, 0, 40);
    d.wait_checkpoint(first, Duration::from_secs(60)).await;

    // Store 2 leads region 4 (ids below 25); PD keeps naming it the leader.
    emu.stop_store(2).await.expect("store 2 stops");
    let (cf, took) = escalated(&mut d, "store 2", Duration::from_secs(40)).await;
    let f = fault(&cf, "store 2");
    let action = f["action"].as_str().unwrap_or_default();
    assert!(action.contains("pd-ctl store 2"), "{cf}");
    let addr = emu.store_addr(2).expect("address").to_string();
    assert!(
        f["error"].as_str().unwrap_or_default().contains(&addr),
        "the error names the store's address: {cf}"
    );
    eprintln!("store 2 gone: reported after {took:?}");
    let (line, body) = d.get("/readyz");
    assert!(
        line.contains("503") && body.contains("store 2"),
        "{line} {body}"
    );
    assert!(
        metric(
            &d,
            "tidb_changefeed_upstream_escalations_total",
            "kind=\"store\""
        )
        .is_some_and(|v| v >= 1.0)
    );
    // Rows of the regions other stores lead are committed meanwhile (ids 25..39).
    commit(&emu, 65, 80);

    emu.start_store(2).await.expect("store 2 back");
    let last = commit(&emu, 80, 120);
    d.wait_checkpoint(last, Duration::from_secs(60)).await;
    running_again(&mut d).await;
    assert!(d.terminate().success(), "{}", d.log());
    assert!(versions(&prefix).is_superset(&want(0, 40)));
    assert!(versions(&prefix).is_superset(&want(65, 120)), "no row lost");
}

/// A daemon on `emu` with [`UPSTREAM`], writing `prefix`'s topics, and a steady load of 4
/// versions every 20 ms over the 40 keys of `test.t` (ids below 25 are in region 4, led by
/// store 2; the rest in region 6, led by store 3).
async fn loaded(
    emu: &tidb_changefeed_emulator::Emulator,
    s: &Scenario,
    prefix: &str,
) -> (
    Daemon,
    SteadyLoad,
    Arc<AtomicBool>,
    std::thread::JoinHandle<(i64, u64)>,
) {
    let sink = table_topics_sink("protocol = \"canal-json\"", prefix, 3, "");
    let d = Daemon::start_upstream(
        &format!("http://{}", emu.pd_addr()),
        UPSTREAM,
        "",
        &sink,
        |_| Vec::new(),
    );
    wait_subscribed(emu).await;
    let info = tidb_changefeed::model::TableInfo::from_json(s.tables[0].info.as_bytes())
        .expect("table info");
    let load = SteadyLoad {
        tables: vec![info],
        rows_per_txn: 4,
        keys: 40,
        every: Duration::from_millis(20),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let thread = load.clone().spawn(emu.cluster().clone(), Arc::clone(&stop));
    (d, load, stop, thread)
}

/// Stops the load, waits for the daemon to deliver all of it, stops the daemon, and checks
/// with kcat that every version arrived at its key and no key's versions went backwards.
async fn delivered_whole(
    mut d: Daemon,
    load: &SteadyLoad,
    stop: &AtomicBool,
    thread: std::thread::JoinHandle<(i64, u64)>,
    prefix: &str,
) -> i64 {
    stop.store(true, Ordering::SeqCst);
    let (last_version, last_ts) = thread.join().expect("load thread");
    d.wait_checkpoint(last_ts, Duration::from_secs(60)).await;
    let st = d.terminate();
    assert!(st.success(), "exit {st}:\n{}", d.log());
    let mut seen = HashSet::new();
    let mut latest: HashMap<i64, i64> = HashMap::new();
    for m in read_all(&format!("{prefix}_test_t")) {
        let v: serde_json::Value =
            serde_json::from_str(m.payload.as_deref().unwrap_or_default()).expect("canal-json");
        let row = &v["data"][0];
        let id: i64 = row["id"].as_str().and_then(|s| s.parse().ok()).expect("id");
        let version: i64 = row["name"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("version");
        assert_eq!(
            load.place(version),
            (0, id),
            "version {version} at key {id}"
        );
        let last = latest.entry(id).or_insert(-1);
        assert!(
            version >= *last || seen.contains(&version),
            "key {id}: version {version} after {last}: order broken"
        );
        *last = (*last).max(version);
        seen.insert(version);
    }
    let lost: Vec<i64> = (0..=last_version).filter(|v| !seen.contains(v)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} versions lost, first {:?}",
        lost.len(),
        last_version + 1,
        &lost[..lost.len().min(10)]
    );
    last_version
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_removed_for_good_is_reported_as_tombstone_and_its_regions_move_without_loss() {
    let s = Scenario::parse(KILL_SCENARIO, "tombstone").expect("scenario");
    let mut emu = emulator(&s).await;
    let prefix = unique("tombstone");
    let (mut d, load, stop, thread) = loaded(&emu, &s, &prefix).await;
    let marker = emu.cluster().lock().next_ts();
    d.wait_checkpoint(marker, Duration::from_secs(60)).await;

    // gc-ttl reaches PD: the service safe point's TTL is the configured 10 minutes.
    let (_, ttl) = emu
        .cluster()
        .lock()
        .service_safe_point(b"tidb-changefeed-e2e")
        .expect("service safe point");
    assert!(ttl > 0 && ttl <= 600, "TTL {ttl}s, gc-ttl 10m");

    // Store 2 is removed while rows flow; PD still names it the leader of region 4 (its
    // peers have not elected a new leader yet).
    let removed = Instant::now();
    emu.remove_store(2).await.expect("store 2 removed");
    let (cf, _) = escalated(&mut d, "store 2", Duration::from_secs(20)).await;
    let took = removed.elapsed();
    let f = fault(&cf, "store 2");
    let error = f["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("store 2 was removed from the cluster (tombstone)"),
        "{cf}"
    );
    let action = f["action"].as_str().unwrap_or_default();
    assert!(
        action.contains("gone for good") && action.contains("pd-ctl region store 2"),
        "{cf}"
    );
    assert!(
        took < Duration::from_secs(8),
        "reported {took:?} after the removal: fault-report-after is {REPORT_AFTER:?}, not the default 10s"
    );
    let (line, body) = d.get("/readyz");
    assert!(
        line.contains("503") && body.contains("store 2 failing since"),
        "{line} {body}"
    );
    // Still reported, and still as removed, while PD names it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let st = d.try_status().expect("status");
    let f = fault(&st["changefeeds"][0], "store 2");
    assert!(
        f["error"]
            .as_str()
            .unwrap_or_default()
            .contains("tombstone"),
        "{st}"
    );
    eprintln!("store 2 removed: reported after {took:?}");

    // The region's peers elect store 3 and PD moves the peer off store 2.
    {
        let mut m = emu.cluster().lock();
        m.transfer_leader(4, 3, true).expect("leader to store 3");
        m.remove_peer(4, 2).expect("peer off store 2");
    }
    running_again(&mut d).await;
    let log = d.log();
    assert!(
        log.contains("store removed from the cluster; re-loading the region from PD"),
        "the removal is logged"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("cannot open EventFeed") && l.contains("store_id=2")),
        "a tombstone store is never dialed:\n{log}"
    );
    let last = delivered_whole(d, &load, &stop, thread, &prefix).await;
    eprintln!(
        "store 2 removed: {} versions delivered, none lost",
        last + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hole_in_pds_regions_is_reported_then_replication_resumes_without_loss() {
    let s = Scenario::parse(KILL_SCENARIO, "hole").expect("scenario");
    let emu = emulator(&s).await;
    let prefix = unique("hole");
    let (mut d, load, stop, thread) = loaded(&emu, &s, &prefix).await;
    let marker = emu.cluster().lock().next_ts();
    d.wait_checkpoint(marker, Duration::from_secs(60)).await;

    // PD loses region 4 (a split or merge it has not been told the end of), and its leader
    // moves without a hint: the daemon must re-locate the range and finds a hole.
    let opened = Instant::now();
    {
        let mut m = emu.cluster().lock();
        m.hide_region(4, true);
        m.transfer_leader(4, 3, false).expect("leader to store 3");
    }
    let (cf, _) = escalated(&mut d, "regions", Duration::from_secs(20)).await;
    let took = opened.elapsed();
    let f = fault(&cf, "regions");
    assert!(
        f["error"]
            .as_str()
            .unwrap_or_default()
            .contains("do not cover"),
        "{cf}"
    );
    let action = f["action"].as_str().unwrap_or_default();
    assert!(action.contains("pd-ctl region key"), "{cf}");
    assert!(
        took < Duration::from_secs(8),
        "reported {took:?} after the hole opened (fault-report-after {REPORT_AFTER:?})"
    );
    let (line, body) = d.get("/readyz");
    assert!(
        line.contains("503") && body.contains("regions failing since"),
        "{line} {body}"
    );
    assert!(
        metric(
            &d,
            "tidb_changefeed_upstream_escalations_total",
            "kind=\"region_holes\""
        )
        .is_some_and(|v| v >= 1.0)
    );
    eprintln!("region hole: reported after {took:?}");

    emu.cluster().lock().hide_region(4, false);
    running_again(&mut d).await;
    let last = delivered_whole(d, &load, &stop, thread, &prefix).await;
    eprintln!("region hole: {} versions delivered, none lost", last + 1);
}
