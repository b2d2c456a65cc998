//! What the integration tests share: the daemon binary, temporary files, unique names.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The `tidb-changefeed` binary built for this test run.
pub fn daemon_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tidb-changefeed"))
}

/// Runs the daemon with `args` and returns its output.
pub fn daemon(args: &[&str]) -> Output {
    Command::new(daemon_bin())
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("TIDB_CHANGEFEED_CONFIG")
        .output()
        .expect("the daemon binary runs")
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write test file");
    p
}

/// A name unique within this test process and across runs, for topics and ids.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{n}_{nanos:x}", std::process::id())
}

/// A free TCP port on loopback (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// GET `path` of the daemon's HTTP endpoint on `port` with a 2 s deadline: status line,
/// body, time taken; the reason when it cannot connect or gets no answer in time.
pub fn try_get_within(port: u16, path: &str) -> Result<(String, String, Duration), String> {
    let started = Instant::now();
    let mut s = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )
    .map_err(|e| format!("{path}: cannot connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| format!("{path}: {e}"))?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(|e| format!("{path}: cannot send: {e}"))?;
    let mut text = String::new();
    s.read_to_string(&mut text)
        .map_err(|e| format!("{path} did not answer within 2 s: {e}"))?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Ok((
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
        started.elapsed(),
    ))
}

/// [`try_get_within`], panicking with the reason when the endpoint does not answer.
pub fn get_within(port: u16, path: &str) -> (String, String, Duration) {
    try_get_within(port, path).unwrap_or_else(|e| panic!("{e}"))
}

/// The directory of the binaries of this test run's profile (`target/release` or
/// `target/debug`), with the workspace's other binaries (the emulator's, the demo's) built
/// there by cargo first: fresh, in the same profile, or the test fails saying why.
pub fn workspace_bins() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let daemon = daemon_bin();
            let dir = daemon
                .parent()
                .expect("the daemon binary has a directory")
                .to_path_buf();
            let release = dir.file_name().is_some_and(|n| n == "release");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
            let mut cmd = Command::new(cargo);
            cmd.args([
                "build",
                "--quiet",
                "-p",
                "tidb-changefeed-emulator",
                "--bins",
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
            if release {
                cmd.arg("--release");
            }
            let st = cmd.status().expect("cargo runs");
            assert!(
                st.success(),
                "building the emulator and demo binaries failed"
            );
            for b in ["tidb-changefeed-emulator", "tidb-changefeed-demo"] {
                assert!(
                    dir.join(b).is_file(),
                    "{} was not built",
                    dir.join(b).display()
                );
            }
            dir
        })
        .clone()
}

/// The emulator binary (`tidb-changefeed-emulator`), serving a scenario or workload as a
/// process of its own (so a test can stop it with SIGSTOP), killed on drop.
#[derive(Debug)]
pub struct EmulatorProcess {
    pub child: std::process::Child,
    /// PD's address, `host:port`.
    pub pd: String,
}

impl EmulatorProcess {
    /// Starts the emulator with `args` and reads the PD address it prints.
    pub fn start(args: &[&str]) -> EmulatorProcess {
        use std::io::BufRead;
        let mut child = Command::new(workspace_bins().join("tidb-changefeed-emulator"))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("the emulator binary runs");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = std::io::BufReader::new(stdout);
        let mut pd = String::new();
        lines
            .read_line(&mut pd)
            .expect("the emulator prints PD's address");
        // Keep reading (the workload's counts) so the emulator never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut rest = String::new();
            while lines.read_line(&mut rest).is_ok_and(|n| n > 0) {
                rest.clear();
            }
        });
        assert!(!pd.trim().is_empty(), "the emulator printed no PD address");
        EmulatorProcess {
            child,
            pd: pd.trim().to_string(),
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the emulator.
    pub fn signal(&self, signal: &str) {
        let st = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(st.success(), "kill -{signal} failed");
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `export NAME=value` lines of the env file a test-server script (`scripts/kafka.sh`,
/// `registry.sh`, `mariadb.sh`, `s3.sh`) writes into its directory: `$dir_var`, else
/// `default_dir`. Empty when the file is missing (callers then fall back to the
/// environment and fail with their own instructions).
pub fn script_env_file(
    dir_var: &str,
    default_dir: &str,
) -> std::collections::HashMap<String, String> {
    let dir = std::env::var(dir_var).unwrap_or_else(|_| default_dir.to_string());
    let text = std::fs::read_to_string(PathBuf::from(dir).join("env")).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches(['"', '\'']).to_string()))
        .collect()
}
