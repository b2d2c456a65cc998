//! A start position before the cluster's GC safepoint, end to end: the emulator's PD has
//! run GC past the configured `start-ts` (written as a `YYYY-MM-DD HH:MM:SS` wall-clock time
//! in the changefeed's time zone), and the daemon's changefeed fails before reading anything,
//! with TiCDC's ErrStartTsBeforeGC meaning: the start ts and the GC safepoint each as a TSO
//! and as a time, and what to do.

use std::time::{Duration, Instant};

use tidb_changefeed::upstream::tso_time;
use tidb_changefeed_emulator::scenario::Scenario;

use crate::e2e::{Daemon, emulator, scenario_path};

#[tokio::test]
async fn a_start_ts_before_the_gc_safepoint_fails_naming_both_as_tso_and_time() {
    let s = Scenario::parse(
        &std::fs::read_to_string(scenario_path("gc_safepoint")).expect("scenario"),
        "gc_safepoint.toml",
    )
    .expect("scenario");
    let emu = emulator(&s).await;
    // GC has run up to the current TSO: history before it is gone.
    let gc_to = emu.cluster().lock().next_ts();
    assert_eq!(emu.cluster().lock().run_gc(gc_to), gc_to);
    let gc = emu.cluster().lock().gc_safe_point();

    // 2020-01-01 00:00:00 in Asia/Shanghai is 2019-12-31T16:00:00Z = 1577808000000 ms.
    let start_ms: u64 = 1_577_808_000_000;
    let start_tso = start_ms << 18;
    let pd = emu.pd_addr();
    let mut d = Daemon::start_config(
        "gc-start",
        |http| {
            format!(
                r#"
[upstream]
pd = ["http://{pd}"]
[server]
listen = "127.0.0.1:{http}"
[state]
dir = "state"
[log]
format = "text"
[[changefeed]]
id = "gc-start"
time-zone = "Asia/Shanghai"
start-ts = "2020-01-01 00:00:00"
[changefeed.sink]
type = "stdout"
protocol = "canal-json"
"#
            )
        },
        &[],
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    let error = loop {
        if let Some(st) = d.try_status() {
            let cf = &st["changefeeds"][0];
            if cf["state"] == "failed" {
                break cf["last_error"].as_str().unwrap_or_default().to_string();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the changefeed did not fail:\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for part in [
        format!("start-ts {start_tso} (2019-12-31T16:00:00.000Z)"),
        format!("GC safepoint {gc} ({})", tso_time(gc)),
        "ErrStartTsBeforeGC".to_string(),
        format!("Set start-ts to {gc} or later"),
        "tidb_gc_life_time".to_string(),
    ] {
        assert!(error.contains(&part), "{part:?} missing from: {error}");
    }
    assert!(d.log().contains("ErrStartTsBeforeGC"), "{}", d.log());
    // Nothing was pinned: no checkpoint saved, no service safe point below GC.
    assert_eq!(d.checkpoint(), None);
    assert_eq!(
        emu.cluster()
            .lock()
            .service_safe_point(b"tidb-changefeed-gc-start"),
        None
    );
    let st = d.terminate();
    assert!(st.success(), "exit {st}:\n{}", d.log());
}
