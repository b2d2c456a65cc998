//! The daemon under systemd's notification protocol, seen as systemd sees it: the test binds
//! the `NOTIFY_SOCKET` datagram socket, sets `WATCHDOG_USEC` (6 s: a ping every 3 s while
//! changefeeds moved within the last 3 s) and runs the real binary against the emulator
//! binary serving a sysbench-like workload (a process of its own, so it can be frozen).
//!
//! Checked: `READY=1` once the changefeed runs (the status API agrees), `STATUS=` with the
//! checkpoint lag, `WATCHDOG=1` every 3 s while rows flow; with the emulator frozen by
//! SIGSTOP the pings stop within the window and stay away, and `STATUS=` names the
//! changefeed that does not move; after SIGCONT they come back; SIGTERM brings `STOPPING=1`
//! with `EXTEND_TIMEOUT_USEC` and a clean exit.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{EmulatorProcess, daemon_bin, free_port, get_within, write_file};

/// `WATCHDOG_USEC` given to the daemon.
const WATCHDOG: Duration = Duration::from_secs(6);

/// Every datagram received, with when.
struct Messages {
    rx: UnixDatagram,
    seen: Vec<(Instant, String)>,
}

impl Messages {
    /// The next message before `deadline`.
    fn next(&mut self, deadline: Instant) -> Option<String> {
        let left = deadline.checked_duration_since(Instant::now())?;
        self.rx
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .expect("timeout");
        let mut buf = vec![0u8; 4096];
        let n = self.rx.recv(&mut buf).ok()?;
        let m = String::from_utf8_lossy(&buf[..n]).to_string();
        self.seen.push((Instant::now(), m.clone()));
        Some(m)
    }

    /// Waits for a message with line `line`.
    fn wait_for(&mut self, line: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        while let Some(m) = self.next(deadline) {
            if m.lines().any(|l| l == line) {
                return m;
            }
        }
        panic!("no {line} within {within:?}; got:\n{}", self.dump());
    }

    /// The messages of the next `d`.
    fn during(&mut self, d: Duration) -> Vec<(Instant, String)> {
        let deadline = Instant::now() + d;
        let from = self.seen.len();
        while self.next(deadline).is_some() {}
        self.seen[from..].to_vec()
    }

    fn dump(&self) -> String {
        let t0 = self.seen.first().map_or_else(Instant::now, |s| s.0);
        self.seen
            .iter()
            .map(|(t, m)| {
                format!(
                    "{:>7.2}s {}",
                    (*t - t0).as_secs_f64(),
                    m.replace('\n', " | ")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn pings(msgs: &[(Instant, String)]) -> Vec<Instant> {
    msgs.iter()
        .filter(|(_, m)| m.lines().any(|l| l == "WATCHDOG=1"))
        .map(|(t, _)| *t)
        .collect()
}

#[test]
fn notify_socket_gets_ready_status_watchdog_only_while_moving_and_stopping() {
    let emu = EmulatorProcess::start(&[
        "--workload",
        "sysbench",
        "--tables",
        "2",
        "--table-size",
        "100",
        "--rate",
        "200",
        "--duration",
        "10m",
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("notify.sock");
    let mut msgs = Messages {
        rx: UnixDatagram::bind(&socket).expect("bind the notify socket"),
        seen: Vec::new(),
    };
    let http = free_port();
    let config = write_file(
        dir.path(),
        "cf.toml",
        &format!(
            "[upstream]\npd = [\"{}\"]\n[server]\nlisten = \"127.0.0.1:{http}\"\nshutdown-timeout = \"20s\"\n[state]\ndir = \"{}\"\n[[changefeed]]\nid = \"sd\"\n[changefeed.sink]\ntype = \"stdout\"\nprotocol = \"canal-json\"\n",
            emu.pd,
            dir.path().join("state").display()
        ),
    );
    let log = std::fs::File::create(dir.path().join("daemon.log")).expect("log");
    let mut daemon = Command::new(daemon_bin())
        .args(["run", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket)
        .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string())
        .env_remove("WATCHDOG_PID")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the daemon runs");
    let log_text = || std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default();

    // READY=1 once the changefeed replicates, with a status line.
    let ready = msgs.wait_for("READY=1", Duration::from_secs(90));
    let (_, body, _) = get_within(http, "/api/v1/status");
    let v: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
    assert_eq!(v["changefeeds"][0]["state"], "running", "{body}");
    assert!(
        v["changefeeds"][0]["checkpoint_ts"].as_u64().is_some(),
        "{body}"
    );
    assert!(
        ready.contains("STATUS=1 changefeed running, max checkpoint lag "),
        "{ready}"
    );

    // Moving: a ping every WATCHDOG/2, and status lines with the lag.
    let moving = msgs.during(Duration::from_secs(13));
    let p = pings(&moving);
    assert!(p.len() >= 3, "pings while moving:\n{}", msgs.dump());
    for w in p.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap <= WATCHDOG / 2 + Duration::from_millis(1500),
            "a gap of {gap:?} between pings while moving:\n{}",
            msgs.dump()
        );
    }
    assert!(
        moving
            .iter()
            .filter(|(_, m)| m.contains("STATUS=1 changefeed running, max checkpoint lag "))
            .count()
            >= 4,
        "status lines every 2 s:\n{}",
        msgs.dump()
    );

    // Stuck for real: the upstream frozen.
    emu.signal("STOP");
    let stopped = Instant::now();
    let frozen = msgs.during(Duration::from_secs(20));
    let p = pings(&frozen);
    // At most a ping of the window before the stop was noticed: progress seen just before
    // the stop counts for WATCHDOG/2, plus one ping interval, plus sampling.
    let grace = WATCHDOG / 2 + WATCHDOG / 2 + Duration::from_millis(1500);
    if let Some(last) = p.last() {
        assert!(
            *last - stopped <= grace,
            "a ping {:?} after the upstream froze:\n{}\n{}",
            *last - stopped,
            msgs.dump(),
            log_text()
        );
    }
    assert!(
        frozen
            .iter()
            .any(|(_, m)| m.contains("not moving: sd for ")),
        "the status line names the changefeed that does not move:\n{}",
        msgs.dump()
    );
    assert!(
        log_text().contains("withholding the systemd watchdog ping"),
        "{}",
        log_text()
    );

    // Thawed: the pings come back.
    emu.signal("CONT");
    let resumed = Instant::now();
    msgs.wait_for("WATCHDOG=1", Duration::from_secs(60));
    eprintln!("pings back {:?} after SIGCONT", resumed.elapsed());

    // SIGTERM: STOPPING=1 with the extended stop timeout, then a clean exit.
    let st = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.id().to_string())
        .status()
        .expect("kill");
    assert!(st.success());
    let stopping = msgs.wait_for("STOPPING=1", Duration::from_secs(5));
    assert!(
        stopping.contains("EXTEND_TIMEOUT_USEC=25000000"),
        "{stopping}"
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(s) = daemon.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "the daemon did not exit");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "exit {status}:\n{}", log_text());
}

#[test]
fn without_notify_socket_nothing_is_sent_and_the_daemon_runs() {
    // The same daemon without NOTIFY_SOCKET (and a WATCHDOG_USEC for another process):
    // it runs, logs nothing about systemd and exits cleanly.
    let emu = EmulatorProcess::start(&[
        "--workload",
        "sysbench",
        "--tables",
        "1",
        "--table-size",
        "10",
        "--rate",
        "50",
        "--duration",
        "10m",
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let http = free_port();
    let config = write_file(
        dir.path(),
        "cf.toml",
        &format!(
            "[upstream]\npd = [\"{}\"]\n[server]\nlisten = \"127.0.0.1:{http}\"\n[state]\ndir = \"{}\"\n[[changefeed]]\nid = \"plain\"\n[changefeed.sink]\ntype = \"stdout\"\nprotocol = \"canal-json\"\n",
            emu.pd,
            dir.path().join("state").display()
        ),
    );
    let daemon = Command::new(daemon_bin())
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("NOTIFY_SOCKET")
        .env("WATCHDOG_USEC", "6000000")
        .env("WATCHDOG_PID", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the daemon runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ok = crate::support::try_get_within(http, "/readyz")
            .is_ok_and(|(s, _, _)| s.contains("200"));
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    let st = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.id().to_string())
        .status()
        .expect("kill");
    assert!(st.success());
    let out = daemon.wait_with_output().expect("wait");
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("notifying systemd"), "{log}");
    assert!(!log.contains("systemd notification"), "{log}");
}
