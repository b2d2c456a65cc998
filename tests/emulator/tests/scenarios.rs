//! Every scenario file under tests/scenarios/ parses and plays to the end while a
//! plain client holds subscriptions; and the emulator binary prints the PD address
//! first and serves it. (Here, in the emulator's own package, because only its tests see
//! the binary.)

use std::path::PathBuf;

use tidb_changefeed_emulator::runner::{self, Runner};
use tidb_changefeed_emulator::scenario::Scenario;

/// `tests/scenarios/` of the repository (this package is `tests/emulator/`).
fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

fn scenario_files() -> Vec<PathBuf> {
    let dir = scenarios_dir();
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/scenarios exists")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn every_scenario_file_plays_to_the_end() {
    let files = scenario_files();
    assert!(files.len() >= 10, "{files:?}");
    for path in files {
        let mut s = Scenario::load(&path).expect("scenario parses");
        s.steps.retain(|st| {
            !matches!(
                st,
                tidb_changefeed_emulator::scenario::Step::WaitSubscriptions { .. }
                    | tidb_changefeed_emulator::scenario::Step::Sleep { .. }
            )
        });
        s.cluster.tick_interval_ms = 0;
        let mut emu = runner::start(&s, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("starts");
        let mut r = Runner::new(&s).expect("runner");
        r.play(&mut emu, &s)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        emu.shutdown().await;
    }
}

#[tokio::test]
async fn binary_prints_pd_address_first_and_serves() {
    use tokio::io::AsyncBufReadExt;
    let path = scenarios_dir().join("plain_dml.toml");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tidb-changefeed-emulator"))
        .arg("--scenario")
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn emulator");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
        .await
        .expect("first line in time")
        .expect("read")
        .expect("a line");
    let addr: std::net::SocketAddr = first.parse().expect("first line is host:port");
    let mut pd =
        tidb_changefeed::proto::pdpb::pd_client::PdClient::connect(format!("http://{addr}"))
            .await
            .expect("pd reachable");
    let m = pd
        .get_members(tidb_changefeed::proto::pdpb::GetMembersRequest { header: None })
        .await
        .expect("members")
        .into_inner();
    assert!(m.header.expect("header").cluster_id > 0);
    // SIGTERM stops it cleanly.
    let pid = child.id().expect("pid").to_string();
    let st = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(st.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .expect("exits after SIGTERM")
        .expect("status");
    assert!(status.success(), "{status:?}");
}
