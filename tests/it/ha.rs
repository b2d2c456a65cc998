//! High availability and scale-out on the SQL state store (a real MariaDB started by
//! `scripts/mariadb.sh`, or a private one for the outage test), with real daemons, the
//! emulated cluster and the real Kafka broker. Each test has its own state table, so tests
//! sharing the server never see each other's leases.
//!
//! - failover: two daemons, one changefeed, a steady stream; kill -9 the owner: the standby
//!   takes over within lease-ttl + 5 s; kcat finds 0 rows lost and 0 per-key order breaks;
//!   duplicates are counted and printed;
//! - zombie: SIGSTOP the owner past its lease, let the standby take over, SIGCONT it: it
//!   finds its lease gone and stops without sending a row or saving a checkpoint (its
//!   message counter does not move; the table keeps the new owner's epoch);
//! - scale-out: three daemons, six changefeeds: two each; stop one: the other two own three
//!   each within the lease-ttl; 0 lost on every changefeed;
//! - store outage: the store SIGSTOPped for 30 s: the owner keeps writing while its lease
//!   allows, then stops; when the store answers again replication resumes; 0 lost.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tidb_changefeed_emulator::Emulator;
use tidb_changefeed_emulator::scenario::Scenario;

use crate::e2e::{Daemon, KILL_SCENARIO, emulator, read_all, table_topics_sink, wait_subscribed};
use crate::load::SteadyLoad;
use crate::mariadb_env::{mariadb, state_config};
use crate::own_mariadb::OwnMariadb;
use crate::support::unique;

/// The lease TTL of these tests (short, so a failover test takes seconds).
const TTL: Duration = Duration::from_secs(6);

/// One daemon's configuration: `changefeeds` ids, each writing topics `<prefix>_<id>_*`.
fn config(
    pd: &str,
    http: u16,
    daemon_id: &str,
    store: &StoreAt,
    changefeeds: &[&str],
    prefix: &str,
) -> String {
    let mut text = format!(
        r#"
[upstream]
pd = ["{pd}"]

[server]
listen = "127.0.0.1:{http}"
shutdown-timeout = "20s"

[state]
dir = "state"
checkpoint-interval = "200ms"
store = "mysql"

[state.mysql]
dsn = "{dsn}"
password = {{ env = "TIDB_CHANGEFEED_MYSQL_PASSWORD" }}
table = "{table}"

[ha]
lease-ttl = "{ttl}s"
daemon-id = "{daemon_id}"

[log]
level = "info,tidb_changefeed=debug"
format = "text"
"#,
        dsn = store.dsn,
        table = store.table,
        ttl = TTL.as_secs(),
    );
    for cf in changefeeds {
        text.push_str(&format!(
            "\n[[changefeed]]\nid = \"{cf}\"\ntime-zone = \"UTC\"\n\n{}\n",
            table_topics_sink(
                "protocol = \"canal-json\"",
                &format!("{prefix}_{cf}"),
                3,
                ""
            )
        ));
    }
    text
}

/// Where the state lives.
struct StoreAt {
    dsn: String,
    table: String,
}

impl StoreAt {
    fn shared(test: &str) -> StoreAt {
        StoreAt {
            dsn: mariadb().url.clone(),
            table: unique(&format!("ha_{test}")).replace('-', "_"),
        }
    }
}

/// Starts a daemon named `name` with `text(http)` as its configuration.
fn daemon(name: &str, text: impl FnOnce(u16) -> String) -> Daemon {
    Daemon::start_config(
        name,
        text,
        &[("TIDB_CHANGEFEED_MYSQL_PASSWORD", &mariadb().password)],
    )
}

/// The owner of changefeed `cf` as `d`'s status shows the table, and whether `d` runs it.
fn owner(d: &Daemon, cf: &str) -> Option<(Option<String>, String)> {
    let st = d.try_status()?;
    let c = st["changefeeds"]
        .as_array()?
        .iter()
        .find(|c| c["id"] == cf)?
        .clone();
    Some((
        c["lease"]["owner"].as_str().map(String::from),
        c["state"].as_str().unwrap_or_default().to_string(),
    ))
}

/// Waits until `d` runs `cf` under its own lease.
async fn wait_running(d: &Daemon, name: &str, cf: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if let Some((Some(o), state)) = owner(d, cf)
            && o == name
            && state == "running"
        {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{name} did not run {cf} within {within:?}: {:?}\n{}",
            d.try_status(),
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `d`'s changefeed `cf` has checkpoint at least `ts` (status API).
async fn wait_checkpoint(d: &Daemon, cf: &str, ts: u64, within: Duration) {
    let started = Instant::now();
    loop {
        let cp = d.try_status().and_then(|st| {
            st["changefeeds"]
                .as_array()?
                .iter()
                .find(|c| c["id"] == cf)?["checkpoint_ts"]
                .as_u64()
        });
        if cp.is_some_and(|c| c >= ts) {
            return;
        }
        assert!(
            started.elapsed() < within,
            "changefeed {cf}: checkpoint {cp:?} did not reach {ts} within {within:?}:\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What kcat found on one changefeed's topic.
#[derive(Debug, Default)]
struct Tally {
    delivered: usize,
    lost: usize,
    order_breaks: usize,
    duplicates: usize,
}

/// Reads `topic` and checks it against versions `0..=last` of `load`.
fn tally(topic: &str, load: &SteadyLoad, last: i64) -> Tally {
    let mut seen = HashSet::new();
    let mut latest: HashMap<i64, i64> = HashMap::new();
    let mut t = Tally::default();
    for m in read_all(topic) {
        let v: serde_json::Value =
            serde_json::from_str(m.payload.as_deref().unwrap_or_default()).expect("canal-json");
        let row = &v["data"][0];
        let id: i64 = row["id"].as_str().and_then(|s| s.parse().ok()).expect("id");
        let version: i64 = row["name"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("version");
        assert_eq!(load.place(version).1, id, "version {version} at key {id}");
        t.delivered += 1;
        if !seen.insert(version) {
            t.duplicates += 1;
            continue;
        }
        let l = latest.entry(id).or_insert(-1);
        if version < *l {
            t.order_breaks += 1;
        }
        *l = (*l).max(version);
    }
    t.lost = (0..=last).filter(|v| !seen.contains(v)).count();
    t
}

/// The emulated cluster, a 4-versions-per-20-ms load over `test.t`'s 40 keys, and its stop
/// flag and thread.
async fn cluster_with_load(name: &str) -> (Emulator, SteadyLoad) {
    let s = Scenario::parse(KILL_SCENARIO, name).expect("scenario");
    let emu = emulator(&s).await;
    let info = tidb_changefeed::model::TableInfo::from_json(s.tables[0].info.as_bytes())
        .expect("table info");
    let load = SteadyLoad {
        tables: vec![info],
        rows_per_txn: 4,
        keys: 40,
        every: Duration::from_millis(20),
    };
    (emu, load)
}

fn metric(d: &Daemon, name: &str) -> f64 {
    let (_, body) = d.get("/metrics");
    body.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_kill_9_the_owner_the_standby_takes_over_within_the_ttl_and_loses_nothing() {
    let (emu, load) = cluster_with_load("ha_failover").await;
    let pd = format!("http://{}", emu.pd_addr());
    let store = StoreAt::shared("failover");
    let prefix = unique("ha_failover");
    let mut a = daemon("a", |http| config(&pd, http, "a", &store, &["cf"], &prefix));
    wait_running(&a, "a", "cf", Duration::from_secs(60)).await;
    let b = daemon("b", |http| config(&pd, http, "b", &store, &["cf"], &prefix));
    wait_subscribed(&emu).await;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = load.clone().spawn(emu.cluster().clone(), Arc::clone(&stop));
    tokio::time::sleep(Duration::from_secs(3)).await;
    // b is a standby: it shows a's lease.
    let (o, state) = owner(&b, "cf").expect("b's status");
    assert_eq!((o.as_deref(), state.as_str()), (Some("a"), "standby"));
    a.kill9();
    let took = wait_running(&b, "b", "cf", TTL + Duration::from_secs(20)).await;
    assert!(
        took <= TTL + Duration::from_secs(5),
        "b took over {took:?} after the kill (lease-ttl {TTL:?})"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    let (last, last_ts) = thread.join().expect("load");
    wait_checkpoint(&b, "cf", last_ts, Duration::from_secs(60)).await;
    let mut b = b;
    assert!(b.terminate().success(), "{}", b.log());
    let t = tally(&format!("{prefix}_cf_test_t"), &load, last);
    eprintln!(
        "failover: took over in {:.1} s (lease-ttl {} s); rows committed {}, delivered {}, lost {}, order breaks {}, duplicates {}",
        took.as_secs_f64(),
        TTL.as_secs(),
        last + 1,
        t.delivered,
        t.lost,
        t.order_breaks,
        t.duplicates
    );
    assert_eq!((t.lost, t.order_breaks), (0, 0), "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zombie_a_stopped_owner_resumed_after_takeover_writes_nothing() {
    let (emu, load) = cluster_with_load("ha_zombie").await;
    let pd = format!("http://{}", emu.pd_addr());
    let store = StoreAt::shared("zombie");
    let prefix = unique("ha_zombie");
    let a = daemon("a", |http| config(&pd, http, "a", &store, &["cf"], &prefix));
    wait_running(&a, "a", "cf", Duration::from_secs(60)).await;
    let b = daemon("b", |http| config(&pd, http, "b", &store, &["cf"], &prefix));
    wait_subscribed(&emu).await;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = load.clone().spawn(emu.cluster().clone(), Arc::clone(&stop));
    tokio::time::sleep(Duration::from_secs(2)).await;
    // a's count of messages Kafka acknowledged, read right before it is stopped: rows keep
    // arriving on its streams while it is stopped, so it holds unsent rows when resumed.
    let sent_before = metric(&a, "tidb_changefeed_kafka_messages_total");
    assert!(sent_before > 0.0, "a was replicating");
    let pid = a.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .expect("kill")
            .success()
    );
    wait_running(&b, "b", "cf", TTL + Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        std::process::Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .expect("kill")
            .success()
    );
    // a finds its lease gone: standby, reason naming the lease.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some((o, state)) = owner(&a, "cf")
            && state == "standby"
            && o.as_deref() == Some("b")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a did not stand down: {:?}\n{}",
            a.try_status(),
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sent_after = metric(&a, "tidb_changefeed_kafka_messages_total");
    stop.store(true, Ordering::SeqCst);
    let (last, last_ts) = thread.join().expect("load");
    wait_checkpoint(&b, "cf", last_ts, Duration::from_secs(60)).await;
    // The table: b's lease, an epoch after a's, and b's checkpoint.
    let rows = tidb_changefeed::checkpoint::sql::SqlStore::connect(&state_config(
        &store.dsn,
        &store.table,
    ))
    .await
    .expect("the state store")
    .leases()
    .await
    .expect("leases");
    let row = rows.iter().find(|r| r.changefeed == "cf").expect("cf row");
    assert_eq!(row.owner.as_deref(), Some("b"), "{row:?}");
    assert_eq!(row.epoch, 2, "a acquired epoch 1, b epoch 2: {row:?}");
    let log = a.log();
    let (mut a, mut b) = (a, b);
    assert!(b.terminate().success(), "{}", b.log());
    assert!(a.terminate().success(), "{}", a.log());
    assert_eq!(
        sent_after, sent_before,
        "the resumed zombie sent messages after losing its lease:\n{log}"
    );
    let t = tally(&format!("{prefix}_cf_test_t"), &load, last);
    eprintln!(
        "zombie: rows committed {}, delivered {}, lost {}, order breaks {}, duplicates {}",
        last + 1,
        t.delivered,
        t.lost,
        t.order_breaks,
        t.duplicates
    );
    assert_eq!((t.lost, t.order_breaks), (0, 0), "{t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_out_three_daemons_share_six_changefeeds_and_take_over_a_stopped_ones() {
    let (emu, load) = cluster_with_load("ha_scale").await;
    let pd = format!("http://{}", emu.pd_addr());
    let store = StoreAt::shared("scale");
    let prefix = unique("ha_scale");
    let cfs = ["c1", "c2", "c3", "c4", "c5", "c6"];
    let names = ["a", "b", "c"];
    let mut ds: Vec<Daemon> = names
        .iter()
        .map(|n| daemon(n, |http| config(&pd, http, n, &store, &cfs, &prefix)))
        .collect();
    // Two each.
    let shares = |ds: &[Daemon]| -> BTreeMap<String, usize> {
        let mut n = BTreeMap::new();
        if let Some(st) = ds[0].try_status() {
            for m in st["cluster"]["members"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                n.insert(
                    m["id"].as_str().unwrap_or_default().to_string(),
                    m["owns"].as_array().map_or(0, Vec::len),
                );
            }
        }
        n
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let s = shares(&ds);
        if s.len() == 3 && s.values().all(|n| *n == 2) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not two each: {s:?}\n{}",
            ds[0].log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for cf in cfs {
        while !ds
            .iter()
            .any(|d| owner(d, cf).is_some_and(|(_, s)| s == "running"))
        {
            assert!(Instant::now() < deadline, "nobody runs {cf}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Rows flow from here on: every changefeed runs and has pinned its start.
    let stop = Arc::new(AtomicBool::new(false));
    let thread = load.clone().spawn(emu.cluster().clone(), Arc::clone(&stop));
    // Every daemon's status shows who owns what.
    for d in &ds {
        let st = d.status();
        let owned = st["changefeeds"]
            .as_array()
            .expect("changefeeds")
            .iter()
            .filter(|c| c["lease"]["owner"].is_string())
            .count();
        assert_eq!(owned, 6, "{st}");
    }
    // Stop c: a and b own three each within the TTL.
    let mut c = ds.pop().expect("c");
    let stopped = Instant::now();
    assert!(c.terminate().success(), "{}", c.log());
    loop {
        let s = shares(&ds);
        if s.len() == 2 && s.values().all(|n| *n == 3) {
            break;
        }
        assert!(
            stopped.elapsed() < TTL,
            "a and b do not own three each {:?} after c stopped: {s:?}",
            stopped.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = stopped.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    let (last, last_ts) = thread.join().expect("load");
    for cf in cfs {
        let d = ds
            .iter()
            .find(|d| owner(d, cf).is_some_and(|(_, s)| s == "running"))
            .unwrap_or_else(|| panic!("nobody runs {cf}"));
        wait_checkpoint(d, cf, last_ts, Duration::from_secs(60)).await;
    }
    for d in &mut ds {
        assert!(d.terminate().success(), "{}", d.log());
    }
    let mut summary = Vec::new();
    for cf in cfs {
        let t = tally(&format!("{prefix}_{cf}_test_t"), &load, last);
        assert_eq!((t.lost, t.order_breaks), (0, 0), "{cf}: {t:?}");
        summary.push(format!("{cf}: {} dup", t.duplicates));
    }
    eprintln!(
        "scale-out: 3 daemons × 6 changefeeds, two each; c stopped, a and b own three each after {:.1} s; rows committed {} per changefeed, 0 lost, 0 order breaks ({})",
        took.as_secs_f64(),
        last + 1,
        summary.join(", ")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_outage_the_owner_stops_writing_within_its_lease_then_resumes_without_loss() {
    let db = OwnMariadb::new("ha_outage", 23406);
    let (emu, load) = cluster_with_load("ha_outage").await;
    let pd = format!("http://{}", emu.pd_addr());
    let store = StoreAt {
        dsn: db.url(),
        table: "ha_outage".to_string(),
    };
    let prefix = unique("ha_outage");
    let mut a = daemon("a", |http| config(&pd, http, "a", &store, &["cf"], &prefix));
    wait_running(&a, "a", "cf", Duration::from_secs(60)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = load.clone().spawn(emu.cluster().clone(), Arc::clone(&stop));
    tokio::time::sleep(Duration::from_secs(2)).await;
    db.signal("STOP");
    let outage = Instant::now();
    // Writes stop once lease-ttl/2 passed without a renewal (the last one was at most
    // lease-ttl/4 before the outage).
    let mut stopped_at = None;
    let mut last_count = metric(&a, "tidb_changefeed_kafka_messages_total");
    let mut last_change = Instant::now();
    while outage.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let n = metric(&a, "tidb_changefeed_kafka_messages_total");
        if n != last_count {
            last_count = n;
            last_change = Instant::now();
        }
        if stopped_at.is_none() && owner(&a, "cf").is_some_and(|(_, s)| s != "running") {
            stopped_at = Some(outage.elapsed());
        }
    }
    let stopped_at = stopped_at.expect("the owner never stopped during a 30 s store outage");
    let last_write = last_change.saturating_duration_since(outage);
    assert!(
        last_write <= TTL / 2 + Duration::from_secs(1),
        "messages were still acknowledged {last_write:?} into the outage (lease-ttl {TTL:?})"
    );
    db.signal("CONT");
    let resumed = Instant::now();
    wait_running(&a, "a", "cf", Duration::from_secs(60)).await;
    let back = resumed.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    let (last, last_ts) = thread.join().expect("load");
    wait_checkpoint(&a, "cf", last_ts, Duration::from_secs(60)).await;
    assert!(a.terminate().success(), "{}", a.log());
    let t = tally(&format!("{prefix}_cf_test_t"), &load, last);
    eprintln!(
        "store outage 30 s: writes stopped {:.1} s in (last ack {:.1} s in, lease-ttl {} s), running again {:.1} s after the store returned; rows committed {}, lost {}, order breaks {}, duplicates {}",
        stopped_at.as_secs_f64(),
        last_write.as_secs_f64(),
        TTL.as_secs(),
        back.as_secs_f64(),
        last + 1,
        t.lost,
        t.order_breaks,
        t.duplicates
    );
    assert_eq!((t.lost, t.order_breaks), (0, 0), "{t:?}");
}
