//! End to end: emulated TiDB upstream → the `tidb-changefeed` binary → the real Kafka
//! broker → read back with kcat, compared with golden Canal-JSON messages per topic and
//! partition (only the wall-clock and TSO-derived fields `es`, `ts` and `commitTs` are
//! masked: the emulator's TSO follows the clock).
//!
//! Golden files live in `tests/e2e/<scenario>.golden`, one message per line:
//! `topic-suffix <TAB> partition <TAB> value`. `E2E_BLESS=1` rewrites them from the run
//! (review the diff before committing).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tidb_changefeed_emulator::Emulator;
use tidb_changefeed_emulator::runner::{self, Runner};
use tidb_changefeed_emulator::scenario::Scenario;

use crate::kafka_env::{KcatAuth, kafka, kcat_consume};
use crate::support::{daemon_bin, free_port, unique, write_file};

/// A running daemon with its files.
pub struct Daemon {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub id: String,
    pub http: u16,
    /// A command the daemon runs under (e.g. `unshare … sh -c 'mount …; exec "$@"'`),
    /// empty for none.
    pub wrapper: Vec<String>,
}

impl Daemon {
    /// Writes the configuration and starts the binary.
    /// `extra` goes into the `[[changefeed]]` table, `tail` after the kafka-config table
    /// (e.g. a `codec-config` table).
    pub fn start(pd: SocketAddr, prefix: &str, extra: &str, tail: &str) -> Daemon {
        Self::start_url(&format!("http://{pd}"), prefix, extra, tail)
    }

    /// [`Daemon::start`] with the PD URL given (e.g. `https://…`).
    pub fn start_url(pd: &str, prefix: &str, extra: &str, tail: &str) -> Daemon {
        let sink = table_topics_sink("protocol = \"canal-json\"", prefix, 3, tail);
        Self::start_sink(pd, extra, &sink)
    }

    /// Starts the binary with `sink` as the whole `[changefeed.sink]` part of the file.
    pub fn start_sink(pd: &str, extra: &str, sink: &str) -> Daemon {
        Self::start_wrapped(pd, extra, sink, |_| Vec::new())
    }

    /// [`Daemon::start_sink`] under the command `wrapper(dir)` returns (`dir` is the test's
    /// directory, holding the configuration and `state/`); the daemon's arguments follow it.
    pub fn start_wrapped(
        pd: &str,
        extra: &str,
        sink: &str,
        wrapper: impl FnOnce(&Path) -> Vec<String>,
    ) -> Daemon {
        Self::start_upstream(pd, "", extra, sink, wrapper)
    }

    /// [`Daemon::start_wrapped`] with `upstream` added to the `[upstream]` table (e.g.
    /// `fault-report-after = "2s"`).
    pub fn start_upstream(
        pd: &str,
        upstream: &str,
        extra: &str,
        sink: &str,
        wrapper: impl FnOnce(&Path) -> Vec<String>,
    ) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let http = free_port();
        let id = "e2e".to_string();
        let text = format!(
            r#"
[upstream]
pd = ["{pd}"]
{upstream}

[server]
listen = "127.0.0.1:{http}"
shutdown-timeout = "20s"

[state]
dir = "state"
checkpoint-interval = "200ms"

[log]
level = "info,tidb_changefeed=debug"
format = "text"

[[changefeed]]
id = "{id}"
time-zone = "UTC"
{extra}

{sink}
"#
        );
        let config = write_file(dir.path(), "changefeed.toml", &text);
        std::fs::File::create(dir.path().join("daemon.log")).expect("log file");
        let wrapper = wrapper(dir.path());
        let child = spawn_daemon(&wrapper, &config, dir.path());
        Daemon {
            child,
            dir,
            config,
            id,
            http,
            wrapper,
        }
    }

    /// Starts the binary with the whole configuration `text(http_port)`, with `env` set;
    /// `id` names the daemon in messages.
    pub fn start_config(
        id: &str,
        text: impl FnOnce(u16) -> String,
        env: &[(&str, &str)],
    ) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let http = free_port();
        let config = write_file(dir.path(), "changefeed.toml", &text(http));
        std::fs::File::create(dir.path().join("daemon.log")).expect("log file");
        let wrapper: Vec<String> = if env.is_empty() {
            Vec::new()
        } else {
            std::iter::once("env".to_string())
                .chain(env.iter().map(|(k, v)| format!("{k}={v}")))
                .collect()
        };
        let child = spawn_daemon(&wrapper, &config, dir.path());
        Daemon {
            child,
            dir,
            config,
            id: id.to_string(),
            http,
            wrapper,
        }
    }

    /// Restarts the binary on the same configuration and state.
    pub fn restart(&mut self) {
        self.child = spawn_daemon(&self.wrapper, &self.config, self.dir.path());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    /// The saved checkpoint, if any.
    pub fn checkpoint(&self) -> Option<u64> {
        let p = self
            .dir
            .path()
            .join("state")
            .join(format!("{}.checkpoint.json", self.id));
        let text = std::fs::read_to_string(p).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v.get("checkpoint_ts")?.as_u64()
    }

    /// Waits until the saved checkpoint reaches `ts`.
    pub async fn wait_checkpoint(&mut self, ts: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            if self.checkpoint().is_some_and(|c| c >= ts) {
                return;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "the daemon exited ({st}) before checkpoint {ts}:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "checkpoint {:?} did not reach {ts} in {within:?}:\n{}",
                self.checkpoint(),
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `/api/v1/status` as JSON.
    pub fn status(&self) -> serde_json::Value {
        let (_, json) = self.get("/api/v1/status");
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("status JSON ({e}): {json}"))
    }

    /// `/api/v1/status` as JSON, or `None` while the endpoint does not answer yet.
    pub fn try_status(&self) -> Option<serde_json::Value> {
        std::net::TcpStream::connect(("127.0.0.1", self.http)).ok()?;
        Some(self.status())
    }

    /// GET `path` of the HTTP endpoint: the status line and the body.
    pub fn get(&self, path: &str) -> (String, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.http)).expect("status port");
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .expect("request");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("response");
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.lines().next().unwrap_or_default().to_string();
        (status, body.to_string())
    }

    /// SIGTERM, and the exit status (0 expected: drained and saved).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "no exit after SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no drain, no final save.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `run --config config` (under `wrapper` when not empty), its stderr appended to
/// `dir/daemon.log`.
fn spawn_daemon(wrapper: &[String], config: &Path, dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("daemon.log"))
        .expect("log file");
    let mut cmd = match wrapper.split_first() {
        Some((head, rest)) => {
            let mut c = Command::new(head);
            c.args(rest).arg(daemon_bin());
            c
        }
        None => Command::new(daemon_bin()),
    };
    cmd.args(["run", "--config"])
        .arg(config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the daemon starts")
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn scenario_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(format!("{name}.toml"))
}

pub async fn emulator(s: &Scenario) -> Emulator {
    runner::start(s, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("emulator starts")
}

/// Replaces the value of each numeric field `name` with 0.
pub fn mask(text: &str, names: &[&str]) -> String {
    let mut out = text.to_string();
    for name in names {
        let pat = format!("\"{name}\":");
        let mut res = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(i) = rest.find(&pat) {
            let (head, tail) = rest.split_at(i + pat.len());
            res.push_str(head);
            let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                res.push('0');
            }
            rest = &tail[digits..];
        }
        res.push_str(rest);
        out = res;
    }
    out
}

/// One message as the golden files hold it.
pub fn golden_line(prefix: &str, topic: &str, partition: i32, payload: &str) -> String {
    let suffix = topic.strip_prefix(prefix).unwrap_or(topic);
    format!(
        "{suffix}\t{partition}\t{}",
        mask(payload, &["es", "ts", "commitTs"])
    )
}

/// Every message of the topics, grouped by (topic, partition) in offset order.
pub fn read_topics(
    prefix: &str,
    topics: &[String],
    counts: &BTreeMap<String, usize>,
) -> Vec<String> {
    let broker = &kafka().plaintext;
    let mut lines = Vec::new();
    for t in topics {
        let full = format!("{prefix}{t}");
        let n = counts.get(t).copied().unwrap_or(0);
        let mut msgs = kcat_consume(broker, &KcatAuth::Plain, &full, n);
        msgs.sort_by_key(|m| (m.partition, m.offset));
        for m in msgs {
            lines.push(golden_line(
                prefix,
                &m.topic,
                m.partition,
                m.payload.as_deref().unwrap_or(""),
            ));
        }
    }
    lines
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e")
        .join(format!("{name}.golden"))
}

fn load_golden(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| {
            panic!(
                "golden file {}: {e} (run with E2E_BLESS=1 to create it)",
                path.display()
            )
        })
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Plays `name` against the daemon and compares Kafka's content with the golden file.
async fn replicate_scenario(name: &str, extra: &str, tail: &str) {
    let s = Scenario::load(&scenario_path(name)).expect("scenario");
    let mut emu = emulator(&s).await;
    let prefix = unique("e2e");
    let mut d = Daemon::start(emu.pd_addr(), &prefix, extra, tail);
    let mut r = Runner::new(&s).expect("runner");
    r.play(&mut emu, &s).await.expect("scenario plays");
    let last = emu.cluster().lock().next_ts();
    d.wait_checkpoint(last, Duration::from_secs(60)).await;
    // The tick publishes progress to the status board just after it saves the file.
    let mut status = d.status();
    for _ in 0..50 {
        if status["changefeeds"][0]["checkpoint_ts"]
            .as_u64()
            .is_some_and(|c| c >= last)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = d.status();
    }
    let cf = &status["changefeeds"][0];
    assert_eq!(cf["id"], "e2e", "{status}");
    assert_eq!(cf["state"], "running", "{status}");
    assert!(
        cf["checkpoint_ts"].as_u64().is_some_and(|c| c >= last),
        "{status}"
    );
    assert!(
        cf["resolved_ts"].as_u64().is_some_and(|r| r >= last),
        "{status}"
    );
    assert!(
        cf["checkpoint_time"].is_string() && cf["lag_seconds"].is_number(),
        "{status}"
    );
    let st = d.terminate();
    assert!(st.success(), "exit {st} after SIGTERM:\n{}", d.log());
    assert!(d.checkpoint().is_some_and(|c| c >= last));

    let path = golden_path(name);
    let bless = std::env::var_os("E2E_BLESS").is_some();
    // What Kafka holds under this run's prefix: topic suffix → message count.
    let found = topic_counts(&prefix);
    let want = if bless {
        Vec::new()
    } else {
        load_golden(&path)
    };
    let mut want_counts: BTreeMap<String, usize> = BTreeMap::new();
    for l in &want {
        let t = l.split('\t').next().unwrap_or("").to_string();
        *want_counts.entry(t).or_default() += 1;
    }
    if !bless {
        let nonempty: BTreeMap<String, usize> = found
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(t, n)| (t.clone(), *n))
            .collect();
        assert_eq!(
            nonempty,
            want_counts,
            "{name}: topics and message counts\nlog:\n{}",
            d.log()
        );
    }
    let topics: Vec<String> = found.keys().cloned().collect();
    let got = read_topics(&prefix, &topics, &found);
    if bless {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(
            &path,
            got.iter().map(|l| format!("{l}\n")).collect::<String>(),
        )
        .expect("write golden");
        return;
    }
    assert_eq!(
        got.join("\n"),
        want.join("\n"),
        "{name}: Kafka content differs from {}\nlog:\n{}",
        path.display(),
        d.log()
    );
}

/// Topics whose name starts with `prefix` (by suffix) and how many messages each holds.
fn topic_counts(prefix: &str) -> BTreeMap<String, usize> {
    let broker = &kafka().plaintext;
    let listed = Command::new(crate::kafka_env::kcat())
        .args(["-L", "-b", broker, "-J"])
        .output()
        .expect("kcat -L");
    let v: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("metadata JSON");
    let mut counts = BTreeMap::new();
    for t in v["topics"].as_array().into_iter().flatten() {
        let n = t["topic"].as_str().unwrap_or("");
        if let Some(suffix) = n.strip_prefix(prefix) {
            let out = Command::new(crate::kafka_env::kcat())
                .args([
                    "-C",
                    "-b",
                    broker,
                    "-t",
                    n,
                    "-o",
                    "beginning",
                    "-e",
                    "-q",
                    "-f",
                    "x\n",
                ])
                .output()
                .expect("kcat");
            assert!(
                out.status.success(),
                "kcat: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            counts.insert(
                suffix.to_string(),
                out.stdout.iter().filter(|b| **b == b'\n').count(),
            );
        }
    }
    counts
}

macro_rules! scenario_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                replicate_scenario(stringify!($name), "", "").await;
            }
        )*
    };
}

/// Every scenario of tests/scenarios/, replicated and compared with its golden file.
mod scenarios {
    use super::replicate_scenario;
    scenario_tests!(
        commit_before_prewrite,
        cross_region_txn,
        ddl_drop_modify_column,
        ddl_mid_stream,
        ddl_partitions,
        ddl_rename_truncate,
        error_cluster_id_mismatch,
        error_compatibility,
        error_congested,
        error_duplicate_request,
        error_epoch_not_match,
        error_not_leader,
        error_region_not_found,
        error_server_is_busy,
        error_v2_unimplemented,
        gc_safepoint,
        merge,
        plain_dml,
        resolved_ts_stall,
        rewritten_locks,
        split_and_leader_transfer,
        stale_lock_commit,
        stale_lock_rollback,
        stale_lock_uninitialized,
        store_restart,
        tiflash_store,
    );
}

/// Every scenario file of `tests/scenarios/` (not its `fixtures/`: cluster layouts that tests
/// and benches fill themselves) is replicated end to end by a line of `scenario_tests!` above.
#[test]
fn every_scenario_file_has_an_end_to_end_test() {
    let src = include_str!("e2e.rs");
    for e in std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios"))
        .expect("scenarios")
    {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "toml") {
            let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            assert!(
                src.contains(&format!("        {stem},")),
                "{stem} has no end-to-end test"
            );
        }
    }
}

pub const KILL_SCENARIO: &str = include_str!("../scenarios/fixtures/kill_restart.toml");

/// Waits until the daemon holds a region subscription (its start ts is taken by then).
pub async fn wait_subscribed(emu: &Emulator) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while emu.cluster().lock().subscription_count() == 0 {
        assert!(Instant::now() < deadline, "the daemon never subscribed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every message of `topic` up to its end.
pub fn read_all(topic: &str) -> Vec<crate::kafka_env::KcatMessage> {
    let out = Command::new(crate::kafka_env::kcat())
        .args([
            "-C",
            "-b",
            &kafka().plaintext,
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-J",
            "-q",
        ])
        .output()
        .expect("kcat runs");
    assert!(
        out.status.success(),
        "kcat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("kcat JSON"))
        .collect()
}

#[tokio::test]
async fn kill_9_mid_stream_then_restart_loses_no_committed_row_and_keeps_key_order() {
    use tidb_changefeed_emulator::tidb::encode_row;
    use tidb_changefeed_emulator::{Mutation, MutationOp};

    let s = Scenario::parse(KILL_SCENARIO, "kill").expect("scenario");
    let emu = emulator(&s).await;
    let info = tidb_changefeed::model::TableInfo::from_json(s.tables[0].info.as_bytes())
        .expect("table info");
    let prefix = unique("e2e_kill");
    let mut d = Daemon::start(
        emu.pd_addr(),
        &prefix,
        "",
        "[changefeed.sink.kafka-config.codec-config]\nenable-tidb-extension = true\n",
    );
    wait_subscribed(&emu).await;
    // (id, version) → commit ts, for every committed change.
    let mut committed: Vec<(i64, i64, u64)> = Vec::new();
    let mut kills = Vec::new();
    const TXNS: i64 = 400;
    for i in 0..TXNS {
        let id = i % 40;
        let mut v = BTreeMap::new();
        v.insert("id".to_string(), toml::Value::Integer(id));
        v.insert("name".to_string(), toml::Value::String(format!("v{i}")));
        let (key, value) = encode_row(&info, &v, None).expect("row");
        let (_, commit) = emu
            .cluster()
            .lock()
            .one_pc(
                &[Mutation {
                    key,
                    op: MutationOp::Put(value),
                }],
                0,
            )
            .expect("commit");
        committed.push((id, i, commit));
        if i > 0 && i % 100 == 0 {
            // Kill mid-stream, without any drain: rows are in flight.
            kills.push((d.checkpoint(), commit));
            d.kill9();
            tokio::time::sleep(Duration::from_millis(300)).await;
            d.restart();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let last = emu.cluster().lock().next_ts();
    d.wait_checkpoint(last, Duration::from_secs(90)).await;
    let st = d.terminate();
    assert!(st.success(), "exit {st}:\n{}", d.log());
    assert_eq!(kills.len(), 3);
    assert!(
        kills
            .iter()
            .all(|(cp, commit)| cp.is_none_or(|c| c < *commit)),
        "every kill happened with committed rows not yet checkpointed: {kills:?}"
    );

    let msgs = read_all(&format!("{prefix}_test_t"));
    // Per key, in partition order: the versions seen, with their commit ts.
    let mut per_key: BTreeMap<i64, Vec<(i64, u64)>> = BTreeMap::new();
    let mut partitions: BTreeMap<i64, i32> = BTreeMap::new();
    for m in &msgs {
        let v: serde_json::Value =
            serde_json::from_str(m.payload.as_deref().unwrap_or("")).expect("canal-json");
        if v["type"] == "TIDB_WATERMARK" {
            continue;
        }
        assert_eq!(
            v["type"],
            if v["old"].is_null() {
                "INSERT"
            } else {
                "UPDATE"
            },
            "{v}"
        );
        let row = &v["data"][0];
        let id: i64 = row["id"].as_str().and_then(|x| x.parse().ok()).expect("id");
        let ver: i64 = row["name"]
            .as_str()
            .and_then(|x| x.strip_prefix('v'))
            .and_then(|x| x.parse().ok())
            .expect("name");
        let ts = v["_tidb"]["commitTs"].as_u64().expect("commitTs");
        let p = *partitions.entry(id).or_insert(m.partition);
        assert_eq!(p, m.partition, "key {id} stays in one partition");
        per_key.entry(id).or_default().push((ver, ts));
    }
    // A watermark is sent only once everything at or below it is acknowledged: in its
    // partition, every row committed at or below it comes before it.
    let mut watermarks = 0;
    for (p_idx, m) in msgs.iter().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(m.payload.as_deref().unwrap_or("")).expect("canal-json");
        if v["type"] != "TIDB_WATERMARK" {
            continue;
        }
        watermarks += 1;
        let w = v["_tidb"]["watermarkTs"].as_u64().expect("watermarkTs");
        for (id, _, commit) in committed.iter().filter(|(_, _, c)| *c <= w) {
            if partitions.get(id) != Some(&m.partition) {
                continue;
            }
            let before = msgs[..p_idx].iter().any(|x| {
                x.partition == m.partition
                    && serde_json::from_str::<serde_json::Value>(x.payload.as_deref().unwrap_or(""))
                        .is_ok_and(|r| r["_tidb"]["commitTs"].as_u64() == Some(*commit))
            });
            assert!(
                before,
                "row of key {id} committed at {commit} is not before watermark {w}"
            );
        }
    }
    assert!(
        watermarks > 0,
        "with enable-tidb-extension, watermarks are sent"
    );
    let mut duplicates = 0;
    for (id, seen) in &per_key {
        // Deduplicated by commit ts (what a consumer does with at-least-once), the order is
        // exactly the commit order of that key.
        let mut max_ts = 0;
        let mut order = Vec::new();
        for (ver, ts) in seen {
            if *ts <= max_ts {
                duplicates += 1;
                continue;
            }
            max_ts = *ts;
            order.push(*ver);
        }
        let want: Vec<i64> = committed
            .iter()
            .filter(|(k, _, _)| k == id)
            .map(|(_, v, _)| *v)
            .collect();
        assert_eq!(order, want, "key {id}: versions in Kafka vs committed");
    }
    assert_eq!(per_key.len(), 40, "every key arrived");
    eprintln!(
        "kill -9 test: {} messages, {duplicates} re-sent after restarts",
        msgs.len()
    );
}

#[tokio::test]
async fn two_changefeeds_in_one_file_run_side_by_side() {
    let s = Scenario::load(&scenario_path("ddl_mid_stream")).expect("scenario");
    let mut emu = emulator(&s).await;
    let prefix = unique("e2e_two");
    let broker = &kafka().plaintext;
    // The second changefeed drops deletes and DDLs and writes everything to one topic.
    let second = format!(
        r#"
[[changefeed]]
id = "second"
time-zone = "UTC"

[[changefeed.filter.event-filters]]
matcher = ["test.*"]
ignore-event = ["delete", "all ddl"]

[changefeed.sink]
protocol = "canal-json"

[changefeed.sink.kafka-config]
brokers = ["{broker}"]
topic = "{prefix}_second"
partition-num = 1
"#
    );
    let mut d = Daemon::start(emu.pd_addr(), &prefix, "", &second);
    let mut r = Runner::new(&s).expect("runner");
    r.play(&mut emu, &s).await.expect("scenario plays");
    let last = emu.cluster().lock().next_ts();
    d.wait_checkpoint(last, Duration::from_secs(60)).await;
    let second_cp = d.dir.path().join("state/second.checkpoint.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let cp = std::fs::read_to_string(&second_cp)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["checkpoint_ts"].as_u64());
        if cp.is_some_and(|c| c >= last) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "second changefeed stuck at {cp:?}:\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = d.status();
    assert_eq!(
        status["changefeeds"].as_array().map(Vec::len),
        Some(2),
        "{status}"
    );
    assert!(d.terminate().success(), "{}", d.log());

    let first = read_all(&format!("{prefix}_test_t"));
    assert_eq!(first.len(), 5, "first changefeed: its golden's 5 messages");
    let second = read_all(&format!("{prefix}_second"));
    let kinds: Vec<String> = second
        .iter()
        .map(|m| {
            let v: serde_json::Value =
                serde_json::from_str(m.payload.as_deref().unwrap_or("")).expect("canal-json");
            v["type"].as_str().unwrap_or("").to_string()
        })
        .collect();
    assert_eq!(kinds, ["INSERT", "INSERT", "UPDATE"], "no DELETE, no DDL");
    assert!(second.iter().all(|m| m.partition == 0));
}

#[tokio::test]
async fn replicates_over_mutual_tls_to_pd_and_tikv() {
    use tidb_changefeed_emulator::{EmulatorTls, ServeOptions};

    let pki = tempfile::tempdir().expect("tempdir");
    crate::upstream::tls::pki(pki.path());
    let read = |f: &str| std::fs::read(pki.path().join(f)).expect("pem");
    let s = Scenario::load(&scenario_path("plain_dml")).expect("scenario");
    let cluster = runner::build_cluster(&s).expect("cluster");
    let mut emu = Emulator::start(
        cluster,
        ServeOptions {
            pd_addr: "127.0.0.1:0".parse().expect("addr"),
            tick_interval: Some(Duration::from_millis(200)),
            tls: Some(EmulatorTls {
                cert_pem: read("server.crt"),
                key_pem: read("server.key"),
                client_ca_pem: Some(read("ca.crt")),
            }),
            pd_members: 1,
        },
    )
    .await
    .expect("emulator over mTLS");
    let prefix = unique("e2e_tls");
    let p = |f: &str| pki.path().join(f).display().to_string();
    let tail = format!(
        "[upstream.tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        p("ca.crt"),
        p("client.crt"),
        p("client.key")
    );
    let mut d = Daemon::start_url(&format!("https://{}", emu.pd_addr()), &prefix, "", &tail);
    let mut r = Runner::new(&s).expect("runner");
    r.play(&mut emu, &s).await.expect("scenario plays");
    let last = emu.cluster().lock().next_ts();
    d.wait_checkpoint(last, Duration::from_secs(60)).await;
    assert!(d.terminate().success(), "{}", d.log());
    let got: Vec<String> = read_all(&format!("{prefix}_test_t"))
        .iter()
        .map(|m| {
            golden_line(
                &prefix,
                &m.topic,
                m.partition,
                m.payload.as_deref().unwrap_or(""),
            )
        })
        .collect();
    let mut want = load_golden(&golden_path("plain_dml"));
    let mut got_sorted = got.clone();
    got_sorted.sort();
    want.sort();
    assert_eq!(
        got_sorted, want,
        "plain_dml over mTLS gives the plain-text golden"
    );
}

/// The `[changefeed.sink]` text the end-to-end tests use: `head` (the `protocol` line and any
/// other `[changefeed.sink]` keys), every table in its own topic `<prefix>_<schema>_<table>`
/// dispatched by index value, DDLs of no table to `<prefix>_ddl`, `partitions` partitions per
/// created topic on the test broker, then `tail` (further tables such as a `codec-config`).
pub fn table_topics_sink(head: &str, prefix: &str, partitions: i32, tail: &str) -> String {
    table_topics_sink_on(&kafka().plaintext, head, prefix, partitions, tail)
}

/// [`table_topics_sink`] on the broker at `broker` (`host:port`).
pub fn table_topics_sink_on(
    broker: &str,
    head: &str,
    prefix: &str,
    partitions: i32,
    tail: &str,
) -> String {
    format!(
        r#"[changefeed.sink]
{head}

[[changefeed.sink.dispatchers]]
matcher = ["*.*"]
topic = "{prefix}_{{schema}}_{{table}}"
partition = "index-value"

[changefeed.sink.kafka-config]
brokers = ["{broker}"]
topic = "{prefix}_ddl"
partition-num = {partitions}

{tail}
"#
    )
}
