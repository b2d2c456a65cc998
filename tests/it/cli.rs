//! The command line and the process lifecycle: `version`, usage errors, and `run` serving
//! `/metrics`, `/healthz`, `/readyz` and `/api/v1/status` until SIGTERM ends it cleanly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{daemon, daemon_bin, free_port, write_file};

#[test]
fn version_names_commit_and_profile() {
    let out = daemon(&["version"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!(
            "tidb-changefeed {} (commit ",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    assert!(text.contains(" build)"), "{text}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(daemon(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        daemon(&["run"]).status.code(),
        Some(2),
        "run without --config"
    );
    let missing = daemon(&["check", "--config", "/nonexistent/changefeed.toml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("/nonexistent/changefeed.toml: cannot read")
    );
}

/// One HTTP/1.1 GET on loopback; returns (status code, body).
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn run_serves_http_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let cfg = format!(
        "[upstream]\npd = [\"127.0.0.1:2379\"]\n[server]\nlisten = \"127.0.0.1:{port}\"\n[log]\nformat = \"json\"\n[[changefeed]]\nid = \"cf-one\"\n[changefeed.sink]\nprotocol = \"canal-json\"\ntype = \"stdout\"\n"
    );
    let path = write_file(dir.path(), "run.toml", &cfg);
    let child = Command::new(daemon_bin())
        .args(["run", "--config", path.to_str().expect("utf-8 path")])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the daemon");
    let mut child = Running(child);

    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        match http_get(port, "/metrics") {
            Ok((200, body)) => break body,
            _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            other => panic!("/metrics never answered: {other:?}"),
        }
    };
    assert!(metrics.contains("tidb_changefeed_build_info{"), "{metrics}");
    assert!(
        metrics.contains("# TYPE tidb_changefeed_build_info gauge"),
        "{metrics}"
    );
    assert!(
        ["starting", "retrying"]
            .iter()
            .any(|st| metrics.contains(&format!(
                "tidb_changefeed_changefeed_state{{changefeed=\"cf-one\",state=\"{st}\"}} 1"
            ))),
        "{metrics}"
    );
    assert!(
        metrics.contains("process_resident_memory_bytes"),
        "{metrics}"
    );
    assert!(metrics.contains("process_cpu_seconds_total"), "{metrics}");

    assert_eq!(http_get(port, "/healthz").expect("healthz").0, 200);
    let (code, body) = http_get(port, "/readyz").expect("readyz");
    assert_eq!(
        code, 503,
        "no PD answers at 127.0.0.1:2379, so the daemon is not ready: {body}"
    );
    assert!(
        body.contains("changefeed cf-one: starting")
            || body.contains("changefeed cf-one: retrying"),
        "{body}"
    );
    let (code, body) = http_get(port, "/api/v1/status").expect("status");
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).expect("status is JSON");
    assert_eq!(status["ready"], false);
    assert_eq!(status["changefeeds"][0]["id"], "cf-one");
    let state = status["changefeeds"][0]["state"].as_str().unwrap_or("");
    assert!(state == "starting" || state == "retrying", "{status}");

    let pid = child.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let code = loop {
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            break status.code();
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not exit within 15 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0), "SIGTERM must end the daemon cleanly");
    let mut logs = String::new();
    if let Some(err) = child.0.stderr.take() {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            logs.push_str(&line);
            logs.push('\n');
        }
    }
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {l}"))
        })
        .collect();
    assert!(
        lines.iter().any(|l| l["fields"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("graceful shutdown started"))),
        "{logs}"
    );
    assert!(
        lines.iter().any(|l| l["span"]["id"] == "cf-one"),
        "changefeed logs carry the changefeed span: {logs}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "stopped cleanly"),
        "{logs}"
    );
}
