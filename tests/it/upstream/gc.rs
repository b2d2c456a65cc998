//! The GC safe point keeper against the emulator's PD: the service safe point follows the
//! checkpoint (− 1) with its TTL and caps GC, PD outages are retried, a checkpoint behind
//! the cluster's GC safe point is fatal, and the entry survives the keeper.

use std::net::SocketAddr;
use std::time::Duration;

use tidb_changefeed::upstream::gc::spawn_gc_keeper;
use tidb_changefeed::upstream::pd::PdClient;
use tidb_changefeed::upstream::{ErrorKind, UpstreamError};
use tidb_changefeed_emulator::scenario::Scenario;
use tidb_changefeed_emulator::{Emulator, runner};
use tokio::sync::watch;

const SERVICE: &str = "tidb-changefeed-cf1";

async fn emulator() -> (Emulator, PdClient) {
    let s = Scenario::parse(
        include_str!("../../scenarios/gc_safepoint.toml"),
        "gc_safepoint.toml",
    )
    .expect("scenario");
    let emu = runner::start(&s, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("emulator");
    let pd = PdClient::connect(&[emu.pd_addr().to_string()])
        .await
        .expect("pd");
    (emu, pd)
}

fn entry(emu: &Emulator) -> Option<(u64, u64)> {
    emu.cluster().lock().service_safe_point(SERVICE.as_bytes())
}

async fn wait_entry(emu: &Emulator, sp: u64) {
    for _ in 0..300 {
        if entry(emu).is_some_and(|e| e.0 == sp) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("service safe point {:?}, expected {sp}", entry(emu));
}

#[tokio::test]
async fn upstream_gc_keeper_follows_the_checkpoint_and_caps_gc() {
    let (emu, pd) = emulator().await;
    let cp1 = emu.cluster().lock().next_ts();
    let (tx, rx) = watch::channel(cp1);
    let task = spawn_gc_keeper(
        pd,
        SERVICE.into(),
        Duration::from_secs(3600),
        Duration::from_millis(50),
        rx,
    );
    wait_entry(&emu, cp1 - 1).await;
    let (_, ttl) = entry(&emu).expect("entry");
    assert!(ttl > 3500 && ttl <= 3600, "TTL {ttl}");
    // GC up to now is held at checkpoint − 1.
    let now = emu.cluster().lock().next_ts();
    assert_eq!(emu.cluster().lock().run_gc(now), cp1 - 1);
    let cp2 = emu.cluster().lock().next_ts();
    tx.send(cp2).expect("keeper alive");
    wait_entry(&emu, cp2 - 1).await;
    let now = emu.cluster().lock().next_ts();
    assert_eq!(emu.cluster().lock().run_gc(now), cp2 - 1);
    // Stopping the keeper leaves the entry (a restart resumes from it).
    drop(tx);
    let r = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("keeper stops")
        .expect("joins");
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(entry(&emu).map(|e| e.0), Some(cp2 - 1));
}

#[tokio::test]
async fn upstream_gc_keeper_retries_pd_errors() {
    let (emu, pd) = emulator().await;
    let cp1 = emu.cluster().lock().next_ts();
    let (tx, rx) = watch::channel(cp1);
    let task = spawn_gc_keeper(
        pd,
        SERVICE.into(),
        Duration::from_secs(3600),
        Duration::from_millis(100),
        rx,
    );
    wait_entry(&emu, cp1 - 1).await;
    emu.cluster().lock().set_pd_unavailable(true);
    let cp2 = emu.cluster().lock().next_ts();
    tx.send(cp2).expect("keeper alive");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(entry(&emu).map(|e| e.0), Some(cp1 - 1), "PD is down");
    assert!(!task.is_finished(), "PD errors are retried");
    emu.cluster().lock().set_pd_unavailable(false);
    wait_entry(&emu, cp2 - 1).await;
    assert!(!task.is_finished());
}

#[tokio::test]
async fn upstream_gc_keeper_fails_when_the_checkpoint_is_behind_gc() {
    let (emu, pd) = emulator().await;
    let cp = emu.cluster().lock().next_ts();
    let gc_to = emu.cluster().lock().next_ts();
    assert_eq!(emu.cluster().lock().run_gc(gc_to), gc_to);
    let (_tx, rx) = watch::channel(cp);
    let task = spawn_gc_keeper(
        pd,
        SERVICE.into(),
        Duration::from_secs(3600),
        Duration::from_millis(50),
        rx,
    );
    let e = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("keeper stops")
        .expect("joins")
        .expect_err("fatal");
    assert_eq!(e.kind(), ErrorKind::Fatal);
    assert!(
        matches!(e, UpstreamError::SafePointBehindGc { requested, min_safe_point } if requested == cp - 1 && min_safe_point == gc_to),
        "{e}"
    );
    assert!(e.to_string().contains("garbage-collected"), "{e}");
    assert_eq!(entry(&emu), None, "nothing stored below the GC safe point");
}

#[tokio::test]
async fn upstream_gc_keeper_gives_up_after_failing_for_longer_than_the_ttl() {
    let (emu, pd) = emulator().await;
    emu.cluster().lock().set_pd_unavailable(true);
    let cp = emu.cluster().lock().next_ts();
    let (_tx, rx) = watch::channel(cp);
    let task = spawn_gc_keeper(
        pd,
        SERVICE.into(),
        Duration::from_secs(1),
        Duration::from_millis(100),
        rx,
    );
    let e = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("keeper stops")
        .expect("joins")
        .expect_err("gives up");
    assert!(matches!(e, UpstreamError::PdRpc { .. }), "{e}");
}

/// Two changefeeds of one daemon starting one TSO apart: the second asks for
/// `start - 1`, below the first's entry; PD refuses that, and since the least entry is still
/// at or below its start, nothing it needs can be collected: it holds history from there.
#[tokio::test]
async fn upstream_gc_hold_falls_back_to_the_least_entry_at_or_below_the_checkpoint() {
    let (emu, pd) = emulator().await;
    let first = emu.cluster().lock().next_ts();
    let second = first - 1;
    let held = pd
        .hold_gc_from("tidb-changefeed-first", 3600, first)
        .await
        .expect("first changefeed");
    assert_eq!(held, first - 1);
    // Raise the least entry to `first` (as a later checkpoint of the first changefeed does).
    pd.update_service_gc_safe_point("tidb-changefeed-first", 3600, first)
        .await
        .expect("advance");
    let held = pd
        .hold_gc_from("tidb-changefeed-second", 3600, first)
        .await
        .expect("a start at the least entry is safe");
    assert_eq!(held, first, "set at the least entry, not at start - 1");
    let err = pd
        .hold_gc_from("tidb-changefeed-third", 3600, second)
        .await
        .expect_err("a start below the least entry may have lost history");
    assert!(
        matches!(err, UpstreamError::SafePointBehindGc { .. }),
        "{err}"
    );
    assert_eq!(err.kind(), ErrorKind::Fatal);
}
