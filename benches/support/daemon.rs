//! The daemon under a bench: the `tidb-changefeed` binary with one changefeed `bench`
//! reading an emulated cluster and writing Canal-JSON to one topic of the test broker
//! (`scripts/kafka.sh`), its state in a temporary directory; and what the benches read
//! about it from outside (checkpoint file, `/proc`, `/metrics`). Shared by `e2e` and
//! `memory`.

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tidb_changefeed_emulator::Emulator;

/// The glibc malloc settings `deploy/` gives the daemon.
pub const GLIBC_TUNABLES: &str = "glibc.malloc.arena_max=4";

/// A running daemon (killed on drop if still running).
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Child,
    pub http: u16,
}

impl Daemon {
    /// Starts the daemon on the emulated cluster at `pd`, writing `topic` on `broker`;
    /// `changefeed_extra` is added under `[[changefeed]]` (e.g. a `memory-quota`).
    pub fn start(pd: &str, topic: &str, broker: &str, changefeed_extra: &str) -> Daemon {
        let dir = tempfile::tempdir().expect("tempdir");
        let http = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let config = config(pd, http, topic, broker, changefeed_extra);
        std::fs::write(dir.path().join("bench.toml"), config).expect("config");
        let child = Command::new(env!("CARGO_BIN_EXE_tidb-changefeed"))
            .args(["run", "--config"])
            .arg(dir.path().join("bench.toml"))
            .env_remove("RUST_LOG")
            // As deploy/ runs it: two glibc malloc arenas, so freed row buffers are reused
            // rather than kept in idle arenas (README "Inside a changefeed", memory-quota).
            .env("GLIBC_TUNABLES", GLIBC_TUNABLES)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("daemon.log")).expect("log"))
            .spawn()
            .expect("the daemon starts");
        Daemon { dir, child, http }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until the daemon holds a region subscription of `emu`.
    pub async fn wait_subscribed(&mut self, emu: &Emulator) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while emu.cluster().lock().subscription_count() == 0 {
            self.check_alive();
            assert!(Instant::now() < deadline, "the daemon never subscribed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Panics with the daemon's log if it exited.
    pub fn check_alive(&mut self) {
        if let Ok(Some(st)) = self.child.try_wait() {
            panic!(
                "the daemon exited ({st}):\n{}",
                std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
            );
        }
    }

    /// Waits until the saved checkpoint reaches `last`.
    pub async fn settle(&mut self, last: u64) {
        let deadline = Instant::now() + Duration::from_secs(600);
        while checkpoint(self.dir.path()).is_none_or(|c| c < last) {
            self.check_alive();
            assert!(
                Instant::now() < deadline,
                "the checkpoint did not reach the last commit"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Reads the daemon's own figures, then stops it (SIGTERM).
    pub fn stop(&mut self) -> DaemonStats {
        let pid = self.child.id();
        let stats = DaemonStats {
            rss_kib: peak_rss_kib(pid),
            stages: stage_busy(self.http),
            cpu_secs: process_cpu_seconds(pid),
        };
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let _ = self.child.wait();
        stats
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The daemon's configuration: changefeed `bench`, Canal-JSON, index-value dispatch.
fn config(pd: &str, http: u16, topic: &str, broker: &str, changefeed_extra: &str) -> String {
    format!(
        r#"
[upstream]
pd = ["http://{pd}"]
[server]
listen = "127.0.0.1:{http}"
[state]
dir = "state"
checkpoint-interval = "100ms"
[log]
level = "warn"
format = "text"
[[changefeed]]
id = "bench"
{changefeed_extra}
[changefeed.sink]
protocol = "canal-json"
[[changefeed.sink.dispatchers]]
matcher = ["*.*"]
topic = "{topic}"
partition = "index-value"
[changefeed.sink.kafka-config]
brokers = ["{broker}"]
topic = "{topic}"
"#
    )
}

/// The test broker's run directory (`scripts/kafka.sh`).
pub fn kafka_dir() -> String {
    std::env::var("KAFKA_IT_DIR").unwrap_or_else(|_| "/tmp/tidb-changefeed-kafka".into())
}

/// A variable `scripts/kafka.sh env` exports: from the environment, else from its env file.
pub fn kafka_var(name: &str) -> Option<String> {
    if let Ok(v) = std::env::var(name) {
        return Some(v);
    }
    let prefix = format!("export {name}=");
    std::fs::read_to_string(format!("{}/env", kafka_dir()))
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()).map(str::to_string))
        })
}

/// The test broker's PLAINTEXT listener.
pub fn broker() -> String {
    kafka_var("KAFKA_PLAINTEXT")
        .expect("the Kafka test broker is not running: start it with `scripts/kafka.sh start`")
}

/// The repository root.
pub fn repo() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Creates `topic` with 3 partitions and broker-side append timestamps.
pub fn create_topic(broker: &str, topic: &str) {
    let st = Command::new(repo().join("scripts/kafka.sh"))
        .args([
            "topics",
            "--bootstrap-server",
            broker,
            "--create",
            "--topic",
            topic,
            "--partitions",
            "3",
            "--replication-factor",
            "1",
            "--config",
            "message.timestamp.type=LogAppendTime",
        ])
        .stdout(Stdio::null())
        .status()
        .expect("scripts/kafka.sh topics");
    assert!(st.success(), "creating {topic} failed");
}

/// Deletes `topic` (a bench's gigabytes should not stay on the test broker's disk).
pub fn delete_topic(broker: &str, topic: &str) {
    let st = Command::new(repo().join("scripts/kafka.sh"))
        .args([
            "topics",
            "--bootstrap-server",
            broker,
            "--delete",
            "--topic",
            topic,
        ])
        .stdout(Stdio::null())
        .status()
        .expect("scripts/kafka.sh topics");
    assert!(st.success(), "deleting {topic} failed");
}

/// A process's peak resident set (`VmHWM`), KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmHWM")
}

/// A process's resident set now (`VmRSS`), KiB.
pub fn rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS")
}

/// A KiB figure of `/proc/<pid>/status` (0 when unreadable).
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix(field)?
                    .strip_prefix(':')?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()
            })
        })
        .unwrap_or(0)
}

/// Reads `topic` from the beginning with kcat, one line per message as kcat's `output`
/// options print it (`["-J"]`, or `["-f", "%p\t%s\n"]`), handing each line to `each`
/// without keeping them.
pub fn read_topic(broker: &str, topic: &str, output: &[&str], mut each: impl FnMut(&str)) {
    use std::io::BufRead;
    let mut child = Command::new("kcat")
        .args([
            "-C",
            "-b",
            broker,
            "-t",
            topic,
            "-e",
            "-q",
            "-o",
            "beginning",
        ])
        .args(output)
        .stdout(Stdio::piped())
        .spawn()
        .expect("kcat");
    let out = child.stdout.take().expect("stdout");
    let mut reader = std::io::BufReader::with_capacity(1 << 20, out);
    let mut line = String::new();
    while reader.read_line(&mut line).expect("kcat output") > 0 {
        each(line.trim_end());
        line.clear();
    }
    let status = child.wait().expect("kcat");
    assert!(status.success(), "kcat failed: {status}");
}

/// The checkpoint the daemon in `dir` saved for changefeed `bench`.
pub fn checkpoint(dir: &std::path::Path) -> Option<u64> {
    let t = std::fs::read_to_string(dir.join("state/bench.checkpoint.json")).ok()?;
    serde_json::from_str::<serde_json::Value>(&t).ok()?["checkpoint_ts"].as_u64()
}

/// What the daemon reported about itself before it stopped.
pub struct DaemonStats {
    pub rss_kib: u64,
    pub cpu_secs: f64,
    pub stages: Vec<(String, f64)>,
}

/// The daemon's user + system CPU seconds (`/proc/<pid>/stat`, clock ticks of 1/100 s).
pub fn process_cpu_seconds(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let f: Vec<&str> = after.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

/// `tidb_changefeed_stage_busy_seconds_sum` per stage from the daemon's `/metrics`.
pub fn stage_busy(port: u16) -> Vec<(String, f64)> {
    use std::io::{Read, Write};
    let mut body = String::new();
    if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
        let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let _ = s.read_to_string(&mut body);
    }
    body.lines()
        .filter(|l| l.starts_with("tidb_changefeed_stage_busy_seconds_sum"))
        .filter_map(|l| {
            let stage = l.split("stage=\"").nth(1)?.split('"').next()?.to_string();
            let v = l.rsplit(' ').next()?.parse().ok()?;
            Some((stage, v))
        })
        .collect()
}
