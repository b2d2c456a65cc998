//! State-directory faults against the real daemon binary and real file systems.
//!
//! The box runs the tests as root, so file modes would not stop the daemon from writing.
//! The faults are real instead: the daemon runs in its own mount namespace (`unshare -m`)
//! with a small tmpfs as its state directory, which the test remounts read-only
//! (`nsenter … mount -o remount,ro`: EROFS) or fills through `/proc/<pid>/root` (ENOSPC).
//! Damaged checkpoint files are written by the test. Rows come from the emulated upstream
//! and are read back from the real Kafka broker with kcat.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tidb_changefeed_emulator::Emulator;
use tidb_changefeed_emulator::scenario::Scenario;

use crate::e2e::{Daemon, KILL_SCENARIO, emulator, read_all, table_topics_sink, wait_subscribed};
use crate::support::{daemon_bin, unique};

const TMPFS: &str = "4m";

/// Commits rows `v{from}..v{to}` (ids `i % 40`) as 1PC transactions; returns the last
/// commit ts.
pub fn commit(emu: &Emulator, from: i64, to: i64) -> u64 {
    use tidb_changefeed_emulator::tidb::encode_row;
    use tidb_changefeed_emulator::{Mutation, MutationOp};
    let s = Scenario::parse(KILL_SCENARIO, "kill").expect("scenario");
    let info = tidb_changefeed::model::TableInfo::from_json(s.tables[0].info.as_bytes())
        .expect("table info");
    let mut last = 0;
    for i in from..to {
        let mut v = std::collections::BTreeMap::new();
        v.insert("id".to_string(), toml::Value::Integer(i % 40));
        v.insert("name".to_string(), toml::Value::String(format!("v{i}")));
        let (key, value) = encode_row(&info, &v, None).expect("row");
        last = emu
            .cluster()
            .lock()
            .one_pc(
                &[Mutation {
                    key,
                    op: MutationOp::Put(value),
                }],
                0,
            )
            .expect("commit")
            .1;
    }
    last
}

/// The row versions (`name` values) in the table's topic.
pub fn versions(prefix: &str) -> BTreeSet<String> {
    read_all(&format!("{prefix}_test_t"))
        .iter()
        .filter_map(|m| serde_json::from_str::<serde_json::Value>(m.payload.as_deref()?).ok())
        .filter_map(|v| v["data"][0]["name"].as_str().map(str::to_string))
        .collect()
}

pub fn want(from: i64, to: i64) -> BTreeSet<String> {
    (from..to).map(|i| format!("v{i}")).collect()
}

/// Polls `f` every 100 ms until it returns `Some`, failing with `what` and the log.
pub async fn wait_for<T>(
    d: &mut Daemon,
    within: Duration,
    what: &str,
    mut f: impl FnMut(&Daemon) -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(t) = f(d) {
            return t;
        }
        if let Ok(Some(st)) = d.child.try_wait() {
            panic!(
                "the daemon exited ({st}) while waiting for {what}:\n{}",
                d.log()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within {within:?}:\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the daemon to exit; its status code.
fn exit_code(d: &mut Daemon, within: Duration) -> i32 {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(st)) = d.child.try_wait() {
            return st.code().unwrap_or(-1);
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not exit:\n{}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Fails loudly when mount namespaces are not available here.
fn require_mount_namespaces() {
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs \"$d\" && umount \"$d\" && rmdir \"$d\"")
        .output()
        .expect("unshare (util-linux) is installed");
    assert!(
        out.status.success(),
        "these tests need a private mount namespace with tmpfs (root with CAP_SYS_ADMIN): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the daemon in its own mount namespace with a tmpfs of [`TMPFS`] as `state/`, after
/// `then` (shell, `$0` is the state directory).
fn in_namespace(then: &'static str) -> impl FnOnce(&Path) -> Vec<String> {
    move |dir| {
        let state = dir.join("state");
        std::fs::create_dir_all(&state).expect("mount point");
        vec![
            "unshare".into(),
            "-m".into(),
            "--propagation".into(),
            "private".into(),
            "sh".into(),
            "-c".into(),
            format!("mount -t tmpfs -o size={TMPFS} tmpfs \"$0\" && {then} exec \"$@\""),
            state.display().to_string(),
        ]
    }
}

/// The state directory as the daemon sees it (inside its mount namespace).
fn ns_state(d: &Daemon) -> PathBuf {
    let inner = d.dir.path().join("state");
    PathBuf::from(format!("/proc/{}/root", d.child.id()))
        .join(inner.strip_prefix("/").expect("absolute"))
}

fn ns_checkpoint(d: &Daemon) -> Option<u64> {
    let text = std::fs::read(ns_state(d).join("e2e.checkpoint.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    v["checkpoint_ts"].as_u64()
}

/// Remounts the daemon's state tmpfs with `opt` (`ro` or `rw`).
fn remount(d: &Daemon, opt: &str) {
    let st = Command::new("nsenter")
        .args(["-t", &d.child.id().to_string(), "-m", "mount", "-o"])
        .arg(format!("remount,{opt}"))
        .arg(d.dir.path().join("state"))
        .status()
        .expect("nsenter runs");
    assert!(st.success(), "remount {opt}");
}

/// The value of the first sample of `metric` whose line contains `label`.
pub fn metric(d: &Daemon, metric: &str, label: &str) -> Option<f64> {
    let (_, body) = d.get("/metrics");
    body.lines()
        .find(|l| l.starts_with(metric) && l.contains(label))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[derive(Clone, Copy)]
enum Fault {
    ReadOnly,
    Full,
}

/// A fault hits the state directory of a running daemon: replication goes on, the status
/// shows the fault with the file and what to do, `/readyz` is false, the saved checkpoint
/// stays valid; once the fault is gone the checkpoint catches up and nothing is lost.
async fn ride_out(fault: Fault) {
    require_mount_namespaces();
    let s = Scenario::parse(KILL_SCENARIO, "kill").expect("scenario");
    let emu = emulator(&s).await;
    let prefix = unique("state_fault");
    let sink = table_topics_sink("protocol = \"canal-json\"", &prefix, 3, "");
    let mut d = Daemon::start_wrapped(
        &format!("http://{}", emu.pd_addr()),
        "",
        &sink,
        in_namespace(""),
    );
    wait_subscribed(&emu).await;
    let first = commit(&emu, 0, 20);
    wait_for(
        &mut d,
        Duration::from_secs(60),
        "the first checkpoint",
        |d| ns_checkpoint(d).filter(|c| *c >= first),
    )
    .await;

    let filler = ns_state(&d).join("filler");
    match fault {
        Fault::ReadOnly => remount(&d, "ro"),
        Fault::Full => {
            use std::io::Write;
            let mut f = std::fs::File::create(&filler).expect("filler");
            let chunk = vec![0u8; 64 << 10];
            let e = loop {
                if let Err(e) = f.write_all(&chunk) {
                    break e;
                }
            };
            assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected: {e}");
        }
    }
    let second = commit(&emu, 20, 40);

    let (words, file) = (
        match fault {
            Fault::ReadOnly => ["Read-only file system", "remount it read-write"],
            Fault::Full => ["No space left on device", "free space"],
        },
        d.dir
            .path()
            .join("state/e2e.checkpoint.json")
            .display()
            .to_string(),
    );
    let status = wait_for(
        &mut d,
        Duration::from_secs(15),
        "state retrying with the checkpoint fault",
        |d| {
            let st = d.try_status()?;
            let cf = st["changefeeds"][0].clone();
            (cf["state"] == "retrying" && cf["faults"][0]["component"] == "checkpoint")
                .then_some(cf)
        },
    )
    .await;
    // A save failed: none succeeds from here until the fault is gone.
    let held = ns_checkpoint(&d).expect("checkpoint before the fault");
    assert!(held < second, "rows after the saved checkpoint");
    let err = status["faults"][0]["error"].as_str().unwrap_or_default();
    assert!(err.contains(&file), "the fault names the file: {status}");
    for w in words {
        assert!(
            err.contains(w) || status["reason"].as_str().unwrap_or_default().contains(w),
            "the fault says {w:?}: {status}"
        );
    }
    assert!(status["faults"][0]["since"].is_string(), "{status}");
    assert!(
        status["faults"][0]["action"]
            .as_str()
            .unwrap_or_default()
            .contains("stays valid"),
        "{status}"
    );
    let (line, body) = d.get("/readyz");
    assert!(
        line.contains("503") && body.contains("checkpoint"),
        "{line} {body}"
    );
    assert!(
        metric(&d, "tidb_changefeed_checkpoint_save_errors_total", "e2e").is_some_and(|v| v >= 1.0)
    );
    assert!(
        metric(&d, "tidb_changefeed_fault_since_seconds", "checkpoint").is_some_and(|v| v > 0.0)
    );

    // Replication goes on while the checkpoint cannot be saved.
    let all = want(0, 40);
    wait_for(
        &mut d,
        Duration::from_secs(30),
        "rows sent during the fault",
        |_| versions(&prefix).is_superset(&all).then_some(()),
    )
    .await;
    assert_eq!(
        ns_checkpoint(&d),
        Some(held),
        "the saved checkpoint stays as it was, and valid"
    );

    match fault {
        Fault::ReadOnly => remount(&d, "rw"),
        Fault::Full => std::fs::remove_file(&filler).expect("free the space"),
    }
    wait_for(
        &mut d,
        Duration::from_secs(45),
        "the checkpoint saved again",
        |d| ns_checkpoint(d).filter(|c| *c >= second),
    )
    .await;
    wait_for(&mut d, Duration::from_secs(5), "state running", |d| {
        (d.try_status()?["changefeeds"][0]["state"] == "running").then_some(())
    })
    .await;
    assert!(d.get("/readyz").0.contains("200"));
    assert_eq!(
        metric(&d, "tidb_changefeed_fault_since_seconds", "checkpoint"),
        Some(0.0)
    );
    let st = d.terminate();
    assert!(st.success(), "exit {st}:\n{}", d.log());
    assert!(versions(&prefix).is_superset(&all));
}

#[tokio::test]
async fn state_dir_turned_read_only_keeps_replicating_reports_and_recovers() {
    ride_out(Fault::ReadOnly).await;
}

#[tokio::test]
async fn state_dir_full_keeps_replicating_reports_and_recovers() {
    ride_out(Fault::Full).await;
}

/// At start, a state directory that takes no write stops the daemon with exit status 1 and
/// an error naming the directory and what to do (nothing has been read yet).
#[tokio::test]
async fn at_start_a_read_only_or_full_state_dir_exits_1_naming_it() {
    require_mount_namespaces();
    for (then, words) in [
        (
            "mount -o remount,ro \"$0\" &&",
            ["Read-only file system", "remount it read-write"],
        ),
        (
            "{ dd if=/dev/zero of=\"$0/filler\" bs=64k 2>/dev/null; true; } &&",
            ["No space left on device", "free space"],
        ),
    ] {
        let prefix = unique("state_start");
        let sink = table_topics_sink("protocol = \"canal-json\"", &prefix, 1, "");
        let mut d = Daemon::start_wrapped("http://127.0.0.1:9", "", &sink, in_namespace(then));
        assert_eq!(exit_code(&mut d, Duration::from_secs(20)), 1, "{}", d.log());
        let log = d.log();
        let state = d.dir.path().join("state").display().to_string();
        assert!(log.contains(&format!("state directory {state}")), "{log}");
        for w in words {
            assert!(log.contains(w), "{w:?} in:\n{log}");
        }
    }
}

/// A damaged checkpoint file (truncated, or a digit changed) stops the daemon at start with
/// exit status 2, naming the file and the override, instead of starting from start-ts; the
/// operator's `checkpoint --overwrite-checkpoint-ts` repairs it and every row committed after
/// that ts arrives.
#[tokio::test]
async fn a_damaged_checkpoint_stops_the_start_and_the_override_repairs_it() {
    let s = Scenario::parse(KILL_SCENARIO, "kill").expect("scenario");
    let emu = emulator(&s).await;
    let prefix = unique("state_damaged");
    let mut d = Daemon::start(emu.pd_addr(), &prefix, "", "");
    wait_subscribed(&emu).await;
    let first = commit(&emu, 0, 10);
    d.wait_checkpoint(first, Duration::from_secs(60)).await;
    assert!(d.terminate().success(), "{}", d.log());
    let cp = d.checkpoint().expect("saved");
    let file = d.dir.path().join("state/e2e.checkpoint.json");
    let good = std::fs::read_to_string(&file).expect("checkpoint file");
    // Rows committed while the daemon is down must not be skipped.
    let second = commit(&emu, 10, 20);

    let truncated = good[..good.len() / 2].to_string();
    let digit = good.find("checkpoint_ts\":").expect("the ts") + "checkpoint_ts\":".len() + 5;
    let mut flipped = good.clone().into_bytes();
    flipped[digit] = if flipped[digit] == b'9' {
        b'1'
    } else {
        flipped[digit] + 1
    };
    let flipped = String::from_utf8(flipped).expect("utf8");
    for (damage, why) in [
        (truncated, "not a checkpoint"),
        (flipped, "checksum mismatch"),
    ] {
        std::fs::write(&file, &damage).expect("damage");
        let before = d.log().len();
        d.restart();
        assert_eq!(exit_code(&mut d, Duration::from_secs(20)), 2, "{}", d.log());
        let log = d.log()[before..].to_string();
        assert!(
            log.contains(&format!("checkpoint file {} is damaged", file.display())),
            "{log}"
        );
        assert!(log.contains(why), "{why:?} in {log}");
        assert!(log.contains("--overwrite-checkpoint-ts"), "{log}");
        assert!(!log.contains("changefeed starting"), "{log}");
        let shown = Command::new(daemon_bin())
            .args(["checkpoint", "--changefeed", "e2e", "--config"])
            .arg(&d.config)
            .output()
            .expect("checkpoint runs");
        assert_eq!(shown.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&shown.stderr).contains("is damaged"));
    }
    assert!(
        !versions(&prefix).contains("v10"),
        "nothing ran on the damaged file"
    );

    let set = Command::new(daemon_bin())
        .args([
            "checkpoint",
            "--changefeed",
            "e2e",
            "--overwrite-checkpoint-ts",
        ])
        .arg(cp.to_string())
        .arg("--config")
        .arg(&d.config)
        .output()
        .expect("checkpoint runs");
    let out = String::from_utf8_lossy(&set.stdout);
    assert!(
        set.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&set.stderr)
    );
    assert!(
        out.contains(&format!("checkpoint set to {cp}")) && out.contains("was a damaged file"),
        "{out}"
    );
    assert_eq!(d.checkpoint(), Some(cp));

    d.restart();
    d.wait_checkpoint(second, Duration::from_secs(60)).await;
    assert!(d.terminate().success(), "{}", d.log());
    assert!(
        versions(&prefix).is_superset(&want(0, 20)),
        "every row after the override arrives"
    );
}
