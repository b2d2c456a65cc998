//! `scripts/demo` run as a user runs it, for a few seconds and without a terminal: with the
//! stdout sink and with `--kafka` on the shared test broker, its summary must say every row
//! change the workload committed was read back from the sink (the demo checks the counts
//! itself and exits 1 when a row is missing).

use std::process::Command;

use crate::kafka_env::kafka;
use crate::support::{unique, workspace_bins};

fn run_demo(extra: &[&str]) -> String {
    let bins = workspace_bins();
    let dir = tempfile::tempdir().expect("tempdir");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo");
    let out = Command::new(script)
        .args([
            "--duration",
            "6s",
            "--tables",
            "2",
            "--table-size",
            "200",
            "--rate",
            "400",
        ])
        .args(["--dir", dir.path().to_str().expect("utf-8 path")])
        .args(extra)
        .env("DEMO_BIN_DIR", &bins)
        .env_remove("RUST_LOG")
        .output()
        .expect("scripts/demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "scripts/demo failed ({}):\n{stdout}\n{}\ndaemon log:\n{log}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("check      OK: every row accounted for"),
        "{stdout}"
    );
    // The daemon's log is human text, not JSON lines.
    assert!(log.contains(" INFO "), "{log}");
    assert!(!log.trim_start().starts_with('{'), "{log}");
    stdout
}

/// The row changes the workload committed, from the summary.
fn committed(summary: &str) -> u64 {
    summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("workload"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no workload line:\n{summary}"))
}

#[test]
fn demo_with_the_stdout_sink_delivers_every_row() {
    let s = run_demo(&[]);
    assert!(committed(&s) >= 1000, "{s}");
    assert!(s.contains("changefeed.jsonl"), "{s}");
    assert!(s.contains("1 DDL"), "{s}");
}

#[test]
fn demo_with_kafka_delivers_every_row() {
    let topic = unique("demo");
    let s = run_demo(&["--kafka", &kafka().plaintext, "--topic", &topic]);
    assert!(committed(&s) >= 1000, "{s}");
    assert!(s.contains(&format!("topic {topic}")), "{s}");
}
