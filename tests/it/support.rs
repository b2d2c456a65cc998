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
