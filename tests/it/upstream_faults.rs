//! Upstream faults against the real daemon binary: PD stopped, a TiKV store gone. Each is
//! retried with bounded backoff and, past the escalation threshold, shown in the status API
//! (state `retrying`, the error, what to check, since when), `/readyz` and the metrics;
//! replication recovers by itself when the part returns, and no committed row is lost
//! (rows read back from the real Kafka broker with kcat).

use std::time::{Duration, Instant};

use tidb_changefeed_emulator::scenario::Scenario;

use crate::e2e::{Daemon, KILL_SCENARIO, emulator, wait_subscribed};
use crate::state_faults::{commit, metric, versions, wait_for, want};
use crate::support::unique;

/// The fault on `component` once the status shows it, and how long that took.
async fn escalated(
    d: &mut Daemon,
    component: &str,
    within: Duration,
) -> (serde_json::Value, Duration) {
    let t0 = Instant::now();
    let cf = wait_for(
        d,
        within,
        &format!("a {component} fault in the status"),
        |d| {
            let st = d.try_status()?;
            let cf = st["changefeeds"][0].clone();
            let found = cf["faults"]
                .as_array()?
                .iter()
                .any(|f| f["component"] == component);
            (cf["state"] == "retrying" && found).then_some(cf)
        },
    )
    .await;
    (cf, t0.elapsed())
}

fn fault<'a>(cf: &'a serde_json::Value, component: &str) -> &'a serde_json::Value {
    cf["faults"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["component"] == component))
        .unwrap_or_else(|| panic!("no {component} fault: {cf}"))
}

async fn running_again(d: &mut Daemon) {
    wait_for(d, Duration::from_secs(20), "state running again", |d| {
        let st = d.try_status()?;
        (st["changefeeds"][0]["state"] == "running").then_some(())
    })
    .await;
    assert!(d.get("/readyz").0.contains("200"));
}

#[tokio::test]
async fn pd_stopped_is_reported_as_retrying_then_recovers_without_loss() {
    let s = Scenario::parse(KILL_SCENARIO, "kill").expect("scenario");
    let mut emu = emulator(&s).await;
    let prefix = unique("pd_down");
    let mut d = Daemon::start(emu.pd_addr(), &prefix, "", "");
    wait_subscribed(&emu).await;
    let first = commit(&emu, 0, 20);
    d.wait_checkpoint(first, Duration::from_secs(60)).await;

    emu.stop_pd().await;
    // Probe every 2 s, reported after 10 s of failures: well within 30 s.
    let (cf, took) = escalated(&mut d, "pd", Duration::from_secs(30)).await;
    let f = fault(&cf, "pd");
    assert!(!f["error"].as_str().unwrap_or_default().is_empty(), "{cf}");
    let action = f["action"].as_str().unwrap_or_default();
    assert!(
        action.contains("[upstream] pd") && action.contains(&emu.pd_addr().to_string()),
        "{cf}"
    );
    assert!(
        action.contains("gc-ttl") && action.contains("expires in"),
        "{cf}"
    );
    assert!(f["since"].is_string(), "{cf}");
    eprintln!("PD stopped: reported after {took:?}");
    let (line, body) = d.get("/readyz");
    assert!(
        line.contains("503") && body.contains("pd failing since"),
        "{line} {body}"
    );
    assert!(
        metric(
            &d,
            "tidb_changefeed_fault_since_seconds",
            "component=\"pd\""
        )
        .is_some_and(|v| v > 0.0)
    );
    let ttl_left = metric(
        &d,
        "tidb_changefeed_upstream_gc_safe_point_ttl_remaining_seconds",
        "e2e",
    )
    .expect("TTL gauge");
    assert!(ttl_left > 0.0 && ttl_left <= 86_400.0, "{ttl_left}");
    assert!(
        metric(
            &d,
            "tidb_changefeed_upstream_escalations_total",
            "kind=\"pd\""
        )
        .is_some_and(|v| v >= 1.0)
    );

    emu.start_pd().await.expect("PD back");
    let second = commit(&emu, 20, 40);
    d.wait_checkpoint(second, Duration::from_secs(60)).await;
    running_again(&mut d).await;
    assert_eq!(
        metric(
            &d,
            "tidb_changefeed_fault_since_seconds",
            "component=\"pd\""
        ),
        Some(0.0)
    );
    assert!(d.terminate().success(), "{}", d.log());
    assert!(versions(&prefix).is_superset(&want(0, 40)), "no row lost");
}

#[tokio::test]
async fn a_store_gone_is_reported_naming_it_then_recovers_without_loss() {
    let s = Scenario::parse(KILL_SCENARIO, "kill").expect("scenario");
    let mut emu = emulator(&s).await;
    let prefix = unique("store_gone");
    let mut d = Daemon::start(emu.pd_addr(), &prefix, "", "");
    wait_subscribed(&emu).await;
    let first = commit(&emu, 0, 40);
    d.wait_checkpoint(first, Duration::from_secs(60)).await;

    // Store 2 leads region 4 (ids below 25); PD keeps naming it the leader.
    emu.stop_store(2).await.expect("store 2 stops");
    let (cf, took) = escalated(&mut d, "store 2", Duration::from_secs(40)).await;
    let f = fault(&cf, "store 2");
    let action = f["action"].as_str().unwrap_or_default();
    assert!(action.contains("pd-ctl store 2"), "{cf}");
    let addr = emu.store_addr(2).expect("address").to_string();
    assert!(
        f["error"].as_str().unwrap_or_default().contains(&addr),
        "the error names the store's address: {cf}"
    );
    eprintln!("store 2 gone: reported after {took:?}");
    let (line, body) = d.get("/readyz");
    assert!(
        line.contains("503") && body.contains("store 2"),
        "{line} {body}"
    );
    assert!(
        metric(
            &d,
            "tidb_changefeed_upstream_escalations_total",
            "kind=\"store\""
        )
        .is_some_and(|v| v >= 1.0)
    );
    // Rows of the regions other stores lead are committed meanwhile (ids 25..39).
    commit(&emu, 65, 80);

    emu.start_store(2).await.expect("store 2 back");
    let last = commit(&emu, 80, 120);
    d.wait_checkpoint(last, Duration::from_secs(60)).await;
    running_again(&mut d).await;
    assert!(d.terminate().success(), "{}", d.log());
    assert!(versions(&prefix).is_superset(&want(0, 40)));
    assert!(versions(&prefix).is_superset(&want(65, 120)), "no row lost");
}
