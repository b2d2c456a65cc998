//! What the daemon tells systemd under `Type=notify` (through [`notify`](super::notify)):
//! `READY=1`, `STATUS=` lines, `WATCHDOG=1` and `STOPPING=1`. One task samples the
//! [`StatusBoard`] every half second and decides; nothing is sent without `$NOTIFY_SOCKET`.
//!
//! Guarantees:
//! - `READY=1` is sent once, when the first changefeed is replicating — its state is
//!   `running` *and* its checkpoint or resolved ts has moved past where that run started,
//!   so the pipeline is assembled and TiKV has delivered at least one resolved ts — or
//!   when the daemon shares its changefeeds through the SQL state store and has read the
//!   state table once (standby, ready to take over).
//! - `WATCHDOG=1` is sent every `WATCHDOG_USEC / 2`, **only** when every changefeed that
//!   should be replicating (`starting`, `running`, `retrying`) has moved within the last
//!   `WATCHDOG_USEC / 2`: its checkpoint or its resolved ts advanced, or it changed state.
//!   A quiet upstream still moves (TiKV advances resolved ts every second and the checkpoint
//!   follows it); a changefeed that is paused, standing by, stopped or failed does not hold
//!   the watchdog back (a restart cannot help those). Only a move counts: a changefeed
//!   going from `running` to `retrying` and back has not moved by that. So when the data path hangs —
//!   upstream silent, sink stalled with rows waiting, a task wedged — the pings stop and
//!   systemd restarts the daemon `WatchdogSec` later; the restart resumes from the saved
//!   checkpoint. Before `READY=1` and once the drain has begun the pings continue
//!   regardless: the start is bounded by `TimeoutStartSec`, the drain by `[server]
//!   shutdown-timeout`.
//! - `STATUS=` (counts by state, the largest checkpoint lag, who does not move) is sent
//!   every two seconds, and with every other message.
//! - `STOPPING=1` is sent when the shutdown broadcast fires, with `EXTEND_TIMEOUT_USEC` of
//!   the shutdown timeout plus a margin, so a unit whose `TimeoutStopSec` is shorter than
//!   `shutdown-timeout` does not kill the drain.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::notify::{self, Notifier};
use crate::shutdown::Shutdown;
use crate::status::{ChangefeedState, ChangefeedStatus, StatusBoard};

/// How often the status board is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);
/// How often `STATUS=` is refreshed.
const STATUS_EVERY: Duration = Duration::from_secs(2);
/// Added to the shutdown timeout in `EXTEND_TIMEOUT_USEC`: the process exits by itself
/// at the timeout; this covers the last save and the exit.
const STOP_MARGIN: Duration = Duration::from_secs(5);
/// A reason shown in `STATUS=` is cut to this many characters.
const REASON_CHARS: usize = 80;

/// Starts the notification task when systemd asked for notifications (`$NOTIFY_SOCKET`).
pub fn spawn(status: StatusBoard, shutdown: Shutdown, shutdown_timeout: Duration) {
    let notifier = match Notifier::from_env() {
        Ok(Some(n)) => n,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, "cannot notify systemd: readiness and watchdog pings will not be sent");
            return;
        }
    };
    let watchdog = notify::watchdog_from_env();
    tracing::info!(
        watchdog = ?watchdog,
        "notifying systemd: READY once a changefeed replicates, WATCHDOG only while changefeeds move"
    );
    tokio::spawn(run(notifier, watchdog, status, shutdown, shutdown_timeout));
}

async fn run(
    notifier: Notifier,
    watchdog: Option<Duration>,
    status: StatusBoard,
    shutdown: Shutdown,
    shutdown_timeout: Duration,
) {
    let ping_every = watchdog.map(|w| w / 2);
    let sample = ping_every.map_or(SAMPLE_EVERY, |p| (p / 4).min(SAMPLE_EVERY));
    let mut tick = tokio::time::interval(sample);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut progress = Progress::default();
    let mut last_status: Option<Instant> = None;
    let mut last_ping: Option<Instant> = None;
    let mut stopping = false;
    let mut was_stuck = false;
    let send = |msg: String| {
        if let Err(e) = notifier.send(&msg) {
            tracing::warn!(error = %e, "systemd notification not sent");
        }
    };
    // STOPPING=1 goes out the moment the drain begins, not at the next sample: a quick
    // drain may end the process before then.
    let fired = shutdown.clone().wait();
    tokio::pin!(fired);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = &mut fired, if !stopping => {}
        }
        let now = Instant::now();
        let snap = status.snapshot();
        let ha_ready = status.cluster().is_some_and(|c| c.updated.is_some());
        progress.observe(&snap, now);
        let stuck = ping_every.map_or_else(Vec::new, |w| progress.stuck(w, now));
        let line = status_line(
            &snap,
            chrono::Utc::now().timestamp_millis(),
            &stuck,
            stopping,
        );
        let mut msg = Vec::new();
        if !stopping && shutdown.is_fired() {
            stopping = true;
            msg.push("STOPPING=1".to_string());
            let extend = shutdown_timeout + STOP_MARGIN;
            msg.push(format!("EXTEND_TIMEOUT_USEC={}", extend.as_micros()));
        }
        if !progress.ready && (progress.any_replicating() || ha_ready) {
            progress.ready = true;
            msg.push("READY=1".to_string());
            tracing::info!(status = %line, "told systemd the daemon is ready");
        }
        if let Some(every) = ping_every
            && last_ping.is_none_or(|t| now.duration_since(t) >= every)
        {
            // Before READY=1 the start is bounded by TimeoutStartSec, during the drain by
            // the shutdown timeout: the pings go on regardless.
            if stopping || !progress.ready || stuck.is_empty() {
                msg.push("WATCHDOG=1".to_string());
                last_ping = Some(now);
                if was_stuck {
                    tracing::info!("every changefeed moves again: watchdog pings resume");
                }
                was_stuck = false;
            } else if !was_stuck {
                was_stuck = true;
                tracing::warn!(
                    stuck = %describe_stuck(&stuck),
                    "withholding the systemd watchdog ping: a changefeed has not moved; systemd restarts the daemon if this lasts WatchdogSec"
                );
            }
        }
        if !msg.is_empty() || last_status.is_none_or(|t| now.duration_since(t) >= STATUS_EVERY) {
            msg.push(format!("STATUS={line}"));
            last_status = Some(now);
            send(msg.join("\n"));
        }
    }
}

/// What the task last saw of one changefeed.
#[derive(Debug, Clone)]
struct Seen {
    state: ChangefeedState,
    checkpoint: u64,
    resolved: u64,
    /// When it last advanced or changed state.
    moved_at: Instant,
    /// Checkpoint and resolved ts when it was first seen in its current run (`running`).
    run_start: Option<(u64, u64)>,
    /// It moved past `run_start` while running.
    replicating: bool,
}

/// Tracks the movement of every changefeed across samples of the status board.
#[derive(Debug, Default)]
pub struct Progress {
    seen: BTreeMap<String, Seen>,
    /// `READY=1` was sent.
    pub ready: bool,
}

impl Progress {
    /// Takes a sample of the status board at `now`.
    pub fn observe(&mut self, snap: &[ChangefeedStatus], now: Instant) {
        for s in snap {
            let cp = s.checkpoint_ts.unwrap_or(0);
            let rs = s.resolved_ts.unwrap_or(0).max(cp);
            let e = self.seen.entry(s.id.clone()).or_insert_with(|| Seen {
                state: s.state,
                checkpoint: cp,
                resolved: rs,
                moved_at: now,
                run_start: None,
                replicating: false,
            });
            if e.state != s.state {
                // The clock starts when a changefeed becomes expected to move (a take-over,
                // a resume) or starts again; `running` <-> `retrying` (a fault raised or
                // cleared, a pipeline restart) is no movement by itself.
                if s.state == ChangefeedState::Starting
                    || (!must_move(e.state) && must_move(s.state))
                {
                    e.moved_at = now;
                }
                e.run_start = None;
                e.replicating = false;
            }
            if cp > e.checkpoint || rs > e.resolved {
                e.moved_at = now;
            }
            e.state = s.state;
            e.checkpoint = e.checkpoint.max(cp);
            e.resolved = e.resolved.max(rs);
            if s.state == ChangefeedState::Running {
                match e.run_start {
                    None => e.run_start = Some((cp, rs)),
                    Some((c0, r0)) if cp > c0 || rs > r0 => e.replicating = true,
                    Some(_) => {}
                }
            }
        }
        self.seen.retain(|id, _| snap.iter().any(|s| &s.id == id));
    }

    /// Some changefeed runs and has moved since its run started.
    pub fn any_replicating(&self) -> bool {
        self.seen
            .values()
            .any(|s| s.replicating && s.state == ChangefeedState::Running)
    }

    /// The changefeeds that should be replicating and have not moved within `window`, with
    /// how long they have not.
    pub fn stuck(&self, window: Duration, now: Instant) -> Vec<(String, Duration)> {
        self.seen
            .iter()
            .filter(|(_, s)| must_move(s.state))
            .map(|(id, s)| (id.clone(), now.saturating_duration_since(s.moved_at)))
            .filter(|(_, idle)| *idle > window)
            .collect()
    }
}

/// States in which a changefeed is expected to move; a paused, standing-by, stopped or
/// failed one is not (and a draining one is bounded by the shutdown timeout).
fn must_move(state: ChangefeedState) -> bool {
    matches!(
        state,
        ChangefeedState::Starting | ChangefeedState::Running | ChangefeedState::Retrying
    )
}

fn describe_stuck(stuck: &[(String, Duration)]) -> String {
    stuck
        .iter()
        .map(|(id, d)| format!("{id} for {}s", d.as_secs()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `STATUS=` text: how many changefeeds are in which state, the largest checkpoint lag
/// (at `now_ms`, Unix milliseconds), why one is not running, and who does not move.
pub fn status_line(
    snap: &[ChangefeedStatus],
    now_ms: i64,
    stuck: &[(String, Duration)],
    stopping: bool,
) -> String {
    let mut counts: BTreeMap<usize, (ChangefeedState, usize)> = BTreeMap::new();
    for s in snap {
        let order = ChangefeedState::ALL
            .iter()
            .position(|x| *x == s.state)
            .unwrap_or(usize::MAX);
        counts.entry(order).or_insert((s.state, 0)).1 += 1;
    }
    let noun = |n: usize| if n == 1 { "changefeed" } else { "changefeeds" };
    let mut text = match counts.len() {
        0 => "no changefeed".to_string(),
        1 => {
            let (state, n) = counts
                .values()
                .next()
                .copied()
                .unwrap_or((ChangefeedState::Starting, 0));
            format!("{n} {} {}", noun(n), state.as_str())
        }
        _ => format!(
            "{} {}: {}",
            snap.len(),
            noun(snap.len()),
            counts
                .values()
                .map(|(s, n)| format!("{n} {}", s.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    if stopping {
        text = format!("draining for shutdown; {text}");
    }
    let lag = snap
        .iter()
        .filter(|s| must_move(s.state) || s.state == ChangefeedState::Stopping)
        .filter_map(|s| s.checkpoint_ts)
        .map(|ts| (now_ms - i64::try_from(ts >> 18).unwrap_or(i64::MAX)).max(0))
        .max();
    if let Some(ms) = lag {
        text.push_str(&format!(", max checkpoint lag {:.1}s", ms as f64 / 1000.0));
    }
    if let Some(s) = snap
        .iter()
        .find(|s| matches!(s.state, ChangefeedState::Retrying | ChangefeedState::Failed))
        && let Some(r) = &s.reason
    {
        let short: String = r.chars().take(REASON_CHARS).collect();
        let more = if short.len() < r.len() { "…" } else { "" };
        text.push_str(&format!("; {} {}: {short}{more}", s.id, s.state.as_str()));
    }
    if !stuck.is_empty() {
        text.push_str(&format!("; not moving: {}", describe_stuck(stuck)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cf(id: &str, state: ChangefeedState, cp: Option<u64>, rs: Option<u64>) -> ChangefeedStatus {
        let b = StatusBoard::new();
        b.register(id);
        b.set_state(id, state, None);
        if let (Some(c), Some(r)) = (cp, rs) {
            b.set_progress(id, c, r);
        }
        b.snapshot().remove(0)
    }

    const T: u64 = 1_700_000_000_000 << 18;

    #[test]
    fn ready_needs_a_move_after_the_run_started() {
        let mut p = Progress::default();
        let t0 = Instant::now();
        p.observe(&[cf("a", ChangefeedState::Starting, None, None)], t0);
        assert!(!p.any_replicating());
        p.observe(&[cf("a", ChangefeedState::Running, Some(T), Some(T))], t0);
        assert!(
            !p.any_replicating(),
            "the first tick shows the start position only"
        );
        p.observe(
            &[cf("a", ChangefeedState::Running, Some(T), Some(T + 1))],
            t0,
        );
        assert!(p.any_replicating(), "a resolved ts arrived");
    }

    #[test]
    fn the_watchdog_waits_for_every_changefeed_that_should_move() {
        let mut p = Progress::default();
        let t0 = Instant::now();
        let w = Duration::from_secs(3);
        let snap = |rs| {
            vec![
                cf("a", ChangefeedState::Running, Some(T), Some(rs)),
                cf("paused", ChangefeedState::Standby, Some(T), Some(T)),
                cf("broken", ChangefeedState::Failed, Some(T), Some(T)),
            ]
        };
        p.observe(&snap(T), t0);
        p.observe(&snap(T + 1), t0 + Duration::from_secs(2));
        assert!(p.stuck(w, t0 + Duration::from_secs(4)).is_empty());
        let stuck = p.stuck(w, t0 + Duration::from_secs(6));
        assert_eq!(stuck, vec![("a".to_string(), Duration::from_secs(4))]);
        // Turning `retrying` is no movement; a resolved ts is.
        p.observe(
            &[cf("a", ChangefeedState::Retrying, Some(T), Some(T + 1))],
            t0 + Duration::from_secs(6),
        );
        assert_eq!(p.stuck(w, t0 + Duration::from_secs(7)).len(), 1);
        p.observe(
            &[cf("a", ChangefeedState::Retrying, Some(T), Some(T + 2))],
            t0 + Duration::from_secs(7),
        );
        assert!(p.stuck(w, t0 + Duration::from_secs(8)).is_empty());
        // A changefeed taken over (standby -> running) gets a full window from then on.
        p.observe(
            &[cf("paused", ChangefeedState::Running, Some(T), Some(T))],
            t0 + Duration::from_secs(9),
        );
        assert!(
            p.stuck(w, t0 + Duration::from_secs(11))
                .iter()
                .all(|(id, _)| id != "paused")
        );
    }

    #[test]
    fn status_line_says_states_lag_and_who_is_stuck() {
        let now_ms = 1_700_000_001_200;
        let one = [cf("a", ChangefeedState::Running, Some(T), Some(T))];
        assert_eq!(
            status_line(&one, now_ms, &[], false),
            "1 changefeed running, max checkpoint lag 1.2s"
        );
        let two = [
            cf("a", ChangefeedState::Running, Some(T), Some(T)),
            cf(
                "b",
                ChangefeedState::Running,
                Some(T + (500 << 18)),
                Some(T),
            ),
        ];
        assert_eq!(
            status_line(&two, now_ms, &[], false),
            "2 changefeeds running, max checkpoint lag 1.2s"
        );
        let b = StatusBoard::new();
        b.register("x");
        b.set_state(
            "x",
            ChangefeedState::Retrying,
            Some("Kafka is not reachable".into()),
        );
        let mixed = [one[0].clone(), b.snapshot().remove(0)];
        assert_eq!(
            status_line(
                &mixed,
                now_ms,
                &[("a".into(), Duration::from_secs(9))],
                true
            ),
            "draining for shutdown; 2 changefeeds: 1 running, 1 retrying, max checkpoint lag 1.2s; x retrying: Kafka is not reachable; not moving: a for 9s"
        );
    }
}
