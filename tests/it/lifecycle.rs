//! The changefeed lifecycle (pause, resume, remove) through the HTTP API and the
//! `tidb-changefeed changefeed` CLI, with real daemons, the emulated cluster (whose PD the
//! tests read service safepoints from) and the real Kafka broker:
//!
//! - pause keeps the PD service safepoint (still there, not advanced, TTL refreshed) and
//!   nothing reaches Kafka while paused; resume delivers everything written during the
//!   pause, in order, nothing lost;
//! - remove (CLI) drops the service safepoint and the checkpoint; after a restart the
//!   changefeed is still removed and a resume is refused;
//! - a pause survives a restart; a resume whose checkpoint GC passed is refused with TiCDC's
//!   `ErrStartTsBeforeGC` message;
//! - the token rule: 401 without or with a wrong token, the CLI with `--token-file`;
//! - with the SQL store, a pause sent to the daemon that does not own the changefeed stops
//!   it on the owner.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tidb_changefeed_emulator::Emulator;
use tidb_changefeed_emulator::scenario::Scenario;

use crate::e2e::{Daemon, KILL_SCENARIO, emulator, read_all, table_topics_sink, wait_subscribed};
use crate::load::SteadyLoad;
use crate::mariadb_env::mariadb;
use crate::support::{daemon, unique, write_file};

/// The service safepoint name of the e2e daemon's changefeed.
const SERVICE: &[u8] = b"tidb-changefeed-e2e";

/// Sends `method path` to the daemon on `port` with an optional bearer token: the status
/// code and the body.
fn request(port: u16, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("daemon port");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    s.write_all(
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .expect("request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("response");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, body.to_string())
}

/// The changefeed's detail from the lifecycle API.
fn detail(d: &Daemon, cf: &str) -> serde_json::Value {
    let (code, body) = request(d.http, "GET", &format!("/api/v1/changefeeds/{cf}"), None);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("detail JSON")
}

/// Waits until the daemon shows changefeed `cf` in `state`.
async fn wait_state(d: &Daemon, cf: &str, state: &str, within: Duration) -> serde_json::Value {
    let deadline = Instant::now() + within;
    loop {
        if d.try_status().is_some() {
            let v = detail(d, cf);
            if v["state"] == state {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{cf} is not {state} within {within:?}: {v}\n{}",
                d.log()
            );
        }
        assert!(Instant::now() < deadline, "no status:\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The emulated cluster and a steady load over `test.t`'s 40 keys.
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

/// Versions lost and per-key order breaks on `topic` for versions `0..=last`.
fn lost_and_breaks(topic: &str, load: &SteadyLoad, last: i64) -> (usize, usize) {
    let mut seen = HashSet::new();
    let mut latest: HashMap<i64, i64> = HashMap::new();
    let mut breaks = 0;
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
        if !seen.insert(version) {
            continue;
        }
        let l = latest.entry(id).or_insert(-1);
        if version < *l {
            breaks += 1;
        }
        *l = (*l).max(version);
    }
    ((0..=last).filter(|v| !seen.contains(v)).count(), breaks)
}

fn cli(args: &[&str]) -> std::process::Output {
    let mut all = vec!["changefeed"];
    all.extend_from_slice(args);
    daemon(&all)
}

fn text(o: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_keeps_the_gc_safepoint_and_sends_nothing_resume_delivers_everything_in_order() {
    let (emu, load) = cluster_with_load("life_pause").await;
    let prefix = unique("life_pause");
    let topic = format!("{prefix}_test_t");
    let d = Daemon::start(emu.pd_addr(), &prefix, "", "");
    wait_subscribed(&emu).await;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = load.clone().spawn(emu.cluster().clone(), Arc::clone(&stop));
    wait_state(&d, "e2e", "running", Duration::from_secs(60)).await;
    // Let the running keeper's TTL age a few seconds, so a refresh is visible.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let before = emu
        .cluster()
        .lock()
        .service_safe_point(SERVICE)
        .expect("the running changefeed holds a service safepoint");

    let (code, body) = request(d.http, "POST", "/api/v1/changefeeds/e2e/pause", None);
    assert!(code == 202 || code == 200, "{code} {body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["admin_state"], "paused", "{body}");
    let paused = wait_state(&d, "e2e", "paused", Duration::from_secs(30)).await;
    let cp = paused["checkpoint_ts"].as_u64().expect("paused checkpoint");
    assert_eq!(paused["admin_state"], "paused");
    let (sp, ttl) = emu
        .cluster()
        .lock()
        .service_safe_point(SERVICE)
        .expect("the paused changefeed keeps its service safepoint");
    assert_eq!(sp, cp - 1, "held at checkpoint - 1");
    assert!(sp >= before.0, "never moved back");
    assert!(
        ttl > before.1,
        "the pause refreshed the TTL: {ttl}s left now, {}s before",
        before.1
    );
    let at_pause = read_all(&topic).len();
    // Rows keep being committed for more than one refresh interval (60 s, TiCDC's).
    tokio::time::sleep(Duration::from_secs(65)).await;
    let (sp2, ttl2) = emu
        .cluster()
        .lock()
        .service_safe_point(SERVICE)
        .expect("still held after a minute of pause");
    assert_eq!(sp2, sp, "not advanced while paused");
    assert!(
        ttl2 + 10 >= ttl,
        "the TTL was refreshed while paused: {ttl2}s left, {ttl}s at the pause"
    );
    assert_eq!(
        read_all(&topic).len(),
        at_pause,
        "nothing reaches Kafka while paused"
    );
    let st = detail(&d, "e2e");
    assert_eq!(st["state"], "paused");
    assert_eq!(st["checkpoint_ts"].as_u64(), Some(cp), "{st}");
    let (_, metrics) = d.get("/metrics");
    assert_eq!(
        metric(
            &metrics,
            "tidb_changefeed_changefeed_admin_state",
            &[("changefeed", "e2e"), ("state", "paused")]
        ),
        Some(1.0),
        "{metrics}"
    );

    let (code, body) = request(d.http, "POST", "/api/v1/changefeeds/e2e/resume", None);
    assert!(code == 202 || code == 200, "{code} {body}");
    wait_state(&d, "e2e", "running", Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    let (last, last_ts) = thread.join().expect("load");
    let mut d = d;
    d.wait_checkpoint(last_ts, Duration::from_secs(60)).await;
    let sp3 = emu
        .cluster()
        .lock()
        .service_safe_point(SERVICE)
        .expect("held after resume")
        .0;
    assert!(sp3 >= sp, "resumed from the paused checkpoint on");
    let (lost, breaks) = lost_and_breaks(&topic, &load, last);
    eprintln!(
        "pause/resume: {} versions committed, {} delivered while paused: 0 expected; lost {lost}, order breaks {breaks}",
        last + 1,
        0
    );
    assert_eq!((lost, breaks), (0, 0));
    let (_, metrics) = d.get("/metrics");
    for verb in ["pause", "resume"] {
        assert_eq!(
            metric(
                &metrics,
                "tidb_changefeed_admin_requests_total",
                &[("verb", verb), ("outcome", "accepted")]
            ),
            Some(1.0),
            "{verb}"
        );
    }
    assert!(d.terminate().success(), "{}", d.log());
}

/// The value of `name` whose labels include every one of `labels`.
fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_drops_the_gc_safepoint_and_checkpoint_and_stays_removed_after_a_restart() {
    let (emu, load) = cluster_with_load("life_remove").await;
    let prefix = unique("life_remove");
    let topic = format!("{prefix}_test_t");
    let mut d = Daemon::start(emu.pd_addr(), &prefix, "", "");
    wait_subscribed(&emu).await;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = load.clone().spawn(emu.cluster().clone(), Arc::clone(&stop));
    wait_state(&d, "e2e", "running", Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(emu.cluster().lock().service_safe_point(SERVICE).is_some());
    let server = format!("http://127.0.0.1:{}", d.http);

    let o = cli(&["remove", "--server", &server, "e2e"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("changefeed e2e: removed (state removed"),
        "{}",
        text(&o)
    );
    assert_eq!(
        emu.cluster().lock().service_safe_point(SERVICE),
        None,
        "PD's service safepoint is gone"
    );
    let file = d.dir.path().join("state/e2e.checkpoint.json");
    let tomb: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("tombstone")).expect("json");
    assert_eq!(tomb["admin_state"], "removed", "{tomb}");
    assert!(tomb.get("checkpoint_ts").is_none(), "no checkpoint: {tomb}");
    let at_removal = read_all(&topic).len();

    assert!(d.terminate().success(), "{}", d.log());
    d.restart();
    let st = wait_state(&d, "e2e", "removed", Duration::from_secs(30)).await;
    assert_eq!(st["admin_state"], "removed");
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    thread.join().expect("load");
    assert_eq!(emu.cluster().lock().service_safe_point(SERVICE), None);
    assert_eq!(
        read_all(&topic).len(),
        at_removal,
        "nothing sent once removed"
    );
    // `/readyz` counts a removed changefeed as the operator's choice.
    let (ready, _) = d.get("/readyz");
    assert!(ready.contains("200"), "{ready}");
    let o = cli(&["list", "--server", &server]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(out.starts_with("ID "), "{out}");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().take(3).collect::<Vec<_>>()
                == ["e2e", "removed", "removed"]),
        "{out}"
    );
    let o = cli(&["resume", "--server", &server, "-c", "e2e"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is removed and cannot be resumed"),
        "{}",
        text(&o)
    );
    let (code, _) = request(d.http, "POST", "/api/v1/changefeeds/nope/pause", None);
    assert_eq!(code, 404);
    assert!(d.terminate().success(), "{}", d.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_survives_a_restart_and_a_resume_behind_gc_is_refused() {
    let (emu, load) = cluster_with_load("life_restart").await;
    let prefix = unique("life_restart");
    let mut d = Daemon::start(emu.pd_addr(), &prefix, "", "");
    wait_subscribed(&emu).await;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = load.clone().spawn(emu.cluster().clone(), Arc::clone(&stop));
    wait_state(&d, "e2e", "running", Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let server = format!("http://127.0.0.1:{}", d.http);
    let o = cli(&["pause", "--server", &server, "e2e"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("changefeed e2e: paused (state paused, checkpoint ts"),
        "{}",
        text(&o)
    );
    let cp = detail(&d, "e2e")["checkpoint_ts"]
        .as_u64()
        .expect("checkpoint");
    assert!(d.terminate().success(), "{}", d.log());
    d.restart();
    let st = wait_state(&d, "e2e", "paused", Duration::from_secs(30)).await;
    assert_eq!(st["checkpoint_ts"].as_u64(), Some(cp), "{st}");
    assert_eq!(
        emu.cluster()
            .lock()
            .service_safe_point(SERVICE)
            .map(|s| s.0),
        Some(cp - 1)
    );
    assert!(d.terminate().success(), "{}", d.log());

    // While the daemon is down its safepoint disappears and GC passes the checkpoint.
    stop.store(true, Ordering::SeqCst);
    let (_, last_ts) = thread.join().expect("load");
    {
        let mut c = emu.cluster().lock();
        c.update_service_safe_point(SERVICE, 0, u64::MAX);
        let gc = c.run_gc(last_ts);
        assert!(gc > cp, "GC at {gc} passed the checkpoint {cp}");
    }
    d.restart();
    let st = wait_state(&d, "e2e", "paused", Duration::from_secs(30)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut st = st;
    while !st["warning"]
        .as_str()
        .is_some_and(|w| w.contains("ErrSnapshotLostByGC"))
    {
        assert!(Instant::now() < deadline, "no GC warning: {st}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        st = detail(&d, "e2e");
    }
    let o = cli(&["resume", "--server", &server, "e2e"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("409")
            && err.contains(&format!(
                "start-ts {cp} is earlier than or equal to GC safepoint at"
            )),
        "{}",
        text(&o)
    );
    assert_eq!(detail(&d, "e2e")["state"], "paused", "still paused");
    assert!(d.terminate().success(), "{}", d.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_every_change_and_the_cli_sends_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = write_file(dir.path(), "token", "s3cret-token\n");
    let token_path = token.display().to_string();
    let d = Daemon::start_config(
        "auth",
        |http| {
            format!(
                r#"
[upstream]
pd = ["127.0.0.1:1"]

[server]
listen = "127.0.0.1:{http}"
admin-token-file = "{token_path}"

[state]
dir = "state"

[log]
level = "info"
format = "text"

[[changefeed]]
id = "cf"

[changefeed.sink]
type = "stdout"
protocol = "canal-json"
"#
            )
        },
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while d.try_status().is_none() {
        assert!(Instant::now() < deadline, "no HTTP:\n{}", d.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for token in [None, Some("wrong"), Some("s3cret-token-and-more")] {
        let (code, body) = request(d.http, "POST", "/api/v1/changefeeds/cf/pause", token);
        assert_eq!(code, 401, "{token:?}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json error");
        assert!(
            v["error_msg"]
                .as_str()
                .is_some_and(|m| m.contains("admin-token-file")),
            "{body}"
        );
    }
    let (code, _) = request(d.http, "DELETE", "/api/v1/changefeeds/cf", None);
    assert_eq!(code, 401);
    // Read-only endpoints stay open.
    let (code, body) = request(d.http, "GET", "/api/v1/changefeeds", None);
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("list");
    assert_eq!(
        (v["total"].as_u64(), v["items"][0]["id"].as_str()),
        (Some(1), Some("cf"))
    );
    // With the token the request gets past the check: the changefeed (PD unreachable) has
    // no checkpoint yet, so the pause is refused for that reason.
    let (code, body) = request(
        d.http,
        "POST",
        "/api/v1/changefeeds/cf/pause",
        Some("s3cret-token"),
    );
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("ErrNoCheckpoint"), "{body}");
    let (code, body) = request(
        d.http,
        "POST",
        "/api/v1/changefeeds/other/pause",
        Some("s3cret-token"),
    );
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("CDC:ErrChangeFeedNotExists"), "{body}");
    let server = format!("http://127.0.0.1:{}", d.http);
    let o = cli(&["pause", "--server", &server, "cf"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("401"),
        "{}",
        text(&o)
    );
    let o = cli(&[
        "pause",
        "--server",
        &server,
        "--token-file",
        &token_path,
        "cf",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("has not saved a checkpoint yet"),
        "{}",
        text(&o)
    );
    let o = cli(&["query", "--server", &server, "cf"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("query JSON");
    assert_eq!(
        (v["id"].as_str(), v["admin_state"].as_str()),
        (Some("cf"), Some("normal"))
    );
    let (_, metrics) = d.get("/metrics");
    assert_eq!(
        metric(
            &metrics,
            "tidb_changefeed_admin_requests_total",
            &[("verb", "pause"), ("outcome", "unauthorized")]
        ),
        Some(4.0),
        "{metrics}"
    );
}

/// Two daemons sharing a state table on the MariaDB test server, one changefeed `cf`.
fn sql_config(pd: &str, http: u16, daemon_id: &str, table: &str, prefix: &str) -> String {
    format!(
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
lease-ttl = "6s"
daemon-id = "{daemon_id}"

[log]
level = "info,tidb_changefeed=debug"
format = "text"

[[changefeed]]
id = "cf"
time-zone = "UTC"

{sink}
"#,
        dsn = mariadb().url,
        sink = table_topics_sink("protocol = \"canal-json\"", prefix, 3, "")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_store_a_pause_sent_to_the_standby_stops_the_owner_and_resume_loses_nothing() {
    let (emu, load) = cluster_with_load("life_sql").await;
    let pd = format!("http://{}", emu.pd_addr());
    let table = unique("life_sql").replace('-', "_");
    let prefix = unique("life_sql");
    let topic = format!("{prefix}_test_t");
    let env = [(
        "TIDB_CHANGEFEED_MYSQL_PASSWORD",
        mariadb().password.as_str(),
    )];
    let a = Daemon::start_config(
        "a",
        |http| sql_config(&pd, http, "a", &table, &prefix),
        &env,
    );
    wait_state(&a, "cf", "running", Duration::from_secs(60)).await;
    let b = Daemon::start_config(
        "b",
        |http| sql_config(&pd, http, "b", &table, &prefix),
        &env,
    );
    wait_state(&b, "cf", "standby", Duration::from_secs(60)).await;
    wait_subscribed(&emu).await;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = load.clone().spawn(emu.cluster().clone(), Arc::clone(&stop));
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The pause goes to b, which does not own cf; the CLI waits until b shows it paused,
    // which b learns from the row its owner a wrote.
    let b_server = format!("http://127.0.0.1:{}", b.http);
    let o = cli(&["pause", "--server", &b_server, "cf"]);
    assert!(o.status.success(), "{}\n{}\n{}", text(&o), a.log(), b.log());
    let st = wait_state(&a, "cf", "paused", Duration::from_secs(10)).await;
    assert_eq!(
        st["lease"]["owner"], "a",
        "a keeps the lease while paused: {st}"
    );
    let cp = st["checkpoint_ts"].as_u64().expect("checkpoint");
    assert_eq!(
        emu.cluster()
            .lock()
            .service_safe_point(b"tidb-changefeed-cf")
            .map(|s| s.0),
        Some(cp - 1),
        "the owner keeps the service safepoint"
    );
    let at_pause = read_all(&topic).len();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        read_all(&topic).len(),
        at_pause,
        "nothing sent while paused"
    );
    assert_eq!(detail(&b, "cf")["state"], "paused");

    let (code, body) = request(b.http, "POST", "/api/v1/changefeeds/cf/resume", None);
    assert!(code == 202 || code == 200, "{code} {body}");
    wait_state(&a, "cf", "running", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    let (last, last_ts) = thread.join().expect("load");
    let deadline = Instant::now() + Duration::from_secs(60);
    while detail(&a, "cf")["checkpoint_ts"].as_u64().unwrap_or(0) < last_ts {
        assert!(Instant::now() < deadline, "checkpoint stuck:\n{}", a.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (lost, breaks) = lost_and_breaks(&topic, &load, last);
    assert_eq!((lost, breaks), (0, 0));
    let mut a = a;
    let mut b = b;
    assert!(a.terminate().success(), "{}", a.log());
    assert!(b.terminate().success(), "{}", b.log());
}
