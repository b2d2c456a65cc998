//! The chaos campaign: one run of a steady stream over three tables (three partitions each)
//! while, all at once, the daemon is killed with SIGKILL and restarted at 20 or more random
//! moments, the broker is killed (SIGKILL) and restarted three times and stopped (SIGSTOP)
//! for 30 s twice, and the emulated cluster splits, merges and moves regions' leaders and
//! restarts its stores. Afterwards kcat reads every topic and the test prints one line:
//! rows committed, rows delivered, rows lost (must be 0), per-key order breaks (must be 0),
//! duplicates (allowed by at-least-once, counted) and the largest checkpoint lag seen.
//!
//! Length: `CHAOS_SECONDS` (default 150, at least 120 so both 30 s stops fit); a longer soak
//! is `CHAOS_SECONDS=1800 cargo test --release --test it chaos -- --nocapture`. The random
//! moments come from `CHAOS_SEED` (default: the clock), printed so a failing run can be
//! repeated. Runs on a broker of its own, so the shared one stays up.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tidb_changefeed::model::TableInfo;
use tidb_changefeed_emulator::scenario::Scenario;
use tidb_changefeed_emulator::tidb::encode_row;
use tidb_changefeed_emulator::{Cluster, RegionChangeNotice};

use crate::e2e::{Daemon, emulator, table_topics_sink_on, wait_subscribed};
use crate::kafka_env::{KcatAuth, kcat_consume};
use crate::load::SteadyLoad;
use crate::own_broker::OwnBroker;
use crate::support::{try_get_within, unique};

const SCENARIO: &str = include_str!("../scenarios/fixtures/chaos.toml");
/// Keys per table the load updates in turn.
const KEYS: i64 = 100;
/// Rows per transaction; a transaction writes one table.
const ROWS_PER_TXN: i64 = 10;

/// The stream: [`ROWS_PER_TXN`] versions every 20 ms over the scenario's tables.
fn stream(infos: Vec<TableInfo>) -> SteadyLoad {
    SteadyLoad {
        tables: infos,
        rows_per_txn: ROWS_PER_TXN,
        keys: KEYS,
        every: Duration::from_millis(20),
    }
}
/// How long each broker stop lasts.
const BROKER_STOP: Duration = Duration::from_secs(30);

/// A small deterministic generator (xorshift64*), so a run is repeatable from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What the campaign did to the cluster.
#[derive(Debug, Default)]
struct Moves {
    splits: u32,
    merges: u32,
    leader_moves: u32,
    store_restarts: u32,
}

/// One random region move: a split at a row key, a merge of two neighbours or a leader
/// transfer, whichever the region count and the dice allow. Moves that the topology
/// refuses (a key on a boundary, no voter there) are skipped.
fn region_move(cluster: &Cluster, infos: &[TableInfo], rng: &mut Rng, moves: &mut Moves) {
    let mut m = cluster.lock();
    let regions: Vec<_> = m.topo.regions().values().cloned().collect();
    let up: Vec<u64> = m
        .topo
        .stores
        .values()
        .filter(|s| s.up)
        .map(|s| s.id)
        .collect();
    let dice = rng.below(3);
    if dice == 0 && regions.len() < 14 {
        let t = rng.below(infos.len() as u64) as usize;
        let mut row = BTreeMap::new();
        row.insert(
            "id".to_string(),
            toml::Value::Integer(1 + rng.below(KEYS as u64 - 1) as i64),
        );
        row.insert("name".to_string(), toml::Value::String(String::new()));
        let (key, _) = encode_row(&infos[t], &row, None).expect("split key");
        let Some(r) = m.topo.region_for_raw(&key).map(|r| r.id) else {
            return;
        };
        let notice = if rng.chance(50) {
            RegionChangeNotice::EpochNotMatch
        } else {
            RegionChangeNotice::RegionNotFound
        };
        if m.split(r, &key, notice).is_ok() {
            moves.splits += 1;
        }
    } else if dice == 1 && regions.len() > 4 {
        let target = &regions[rng.below(regions.len() as u64) as usize];
        let Some(source) = regions
            .iter()
            .find(|s| !target.end.is_empty() && s.start == target.end)
        else {
            return;
        };
        let notice = if rng.chance(50) {
            RegionChangeNotice::EpochNotMatch
        } else {
            RegionChangeNotice::RegionNotFound
        };
        if m.merge(source.id, target.id, notice).is_ok() {
            moves.merges += 1;
        }
    } else {
        let r = &regions[rng.below(regions.len() as u64) as usize];
        let to: Vec<u64> = r
            .peers
            .iter()
            .filter(|(_, store, learner)| {
                !learner && *store != r.leader_store && up.contains(store)
            })
            .map(|(_, store, _)| *store)
            .collect();
        if to.is_empty() {
            return;
        }
        let store = to[rng.below(to.len() as u64) as usize];
        if m.transfer_leader(r.id, store, rng.chance(80)).is_ok() {
            moves.leader_moves += 1;
        }
    }
}

/// Moves every leader off `store` to another voter whose store is up, as the cluster
/// elects new leaders when a store goes down.
fn drain_leaders(cluster: &Cluster, store: u64) {
    let mut m = cluster.lock();
    let up: Vec<u64> = m
        .topo
        .stores
        .values()
        .filter(|s| s.up && s.id != store)
        .map(|s| s.id)
        .collect();
    let led: Vec<(u64, Vec<u64>)> = m
        .topo
        .regions()
        .values()
        .filter(|r| r.leader_store == store)
        .map(|r| {
            (
                r.id,
                r.peers
                    .iter()
                    .filter(|(_, s, learner)| !learner && up.contains(s))
                    .map(|(_, s, _)| *s)
                    .collect(),
            )
        })
        .collect();
    for (region, voters) in led {
        if let Some(&to) = voters.first() {
            m.transfer_leader(region, to, true)
                .expect("leader transfer");
        }
    }
}

/// Broker events of the campaign, at fractions of its length.
#[derive(Debug, Clone, Copy)]
enum BrokerEvent {
    Kill,
    Stop,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_campaign_loses_no_row_and_breaks_no_key_order() {
    let seconds: u64 = std::env::var("CHAOS_SECONDS")
        .ok()
        .map(|s| s.parse().expect("CHAOS_SECONDS is a number of seconds"))
        .unwrap_or(150);
    assert!(
        seconds >= 120,
        "CHAOS_SECONDS={seconds}: at least 120 so both 30 s broker stops fit"
    );
    let seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .map(|s| s.parse().expect("CHAOS_SEED is a number"))
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("chaos: CHAOS_SECONDS={seconds} CHAOS_SEED={seed}");
    let mut rng = Rng(seed);
    let total = Duration::from_secs(seconds);

    let broker = Arc::new(OwnBroker::new("chaos", 29292));
    broker.run("start", false);
    let s = Scenario::parse(SCENARIO, "chaos").expect("scenario");
    let mut emu = emulator(&s).await;
    let infos: Vec<TableInfo> = s
        .tables
        .iter()
        .map(|t| TableInfo::from_json(t.info.as_bytes()).expect("table info"))
        .collect();
    let prefix = unique("chaos");
    let sink = table_topics_sink_on(
        &broker.plaintext(),
        "protocol = \"canal-json\"",
        &prefix,
        3,
        "write-timeout = \"5s\"\ndial-timeout = \"5s\"",
    );
    let mut d = Daemon::start_sink(
        &format!("http://{}", emu.pd_addr()),
        "memory-quota = \"64MiB\"\nsink-stall-timeout = \"5s\"",
        &sink,
    );
    wait_subscribed(&emu).await;

    // The schedule: daemon kills spread over the run with jitter; the broker killed at
    // 12 %, 50 % and 88 % and stopped at 22 % and 62 % (30 s each, so they never overlap a
    // kill's restart); a store restart every tenth of the run; a region move every 1.5 s.
    let kills = (seconds / 7).max(20);
    let mut daemon_kills: Vec<Duration> = (0..kills)
        .map(|i| {
            let slot = seconds as f64 * 0.9 / kills as f64;
            let at = seconds as f64 * 0.04 + slot * (i as f64 + rng.below(80) as f64 / 100.0);
            Duration::from_secs_f64(at)
        })
        .collect();
    daemon_kills.reverse();
    let mut broker_events: Vec<(Duration, BrokerEvent)> = [
        (0.12, BrokerEvent::Kill),
        (0.22, BrokerEvent::Stop),
        (0.50, BrokerEvent::Kill),
        (0.62, BrokerEvent::Stop),
        (0.88, BrokerEvent::Kill),
    ]
    .into_iter()
    .map(|(f, e)| (total.mul_f64(f), e))
    .rev()
    .collect();
    let store_every = total / 10;
    let mut next_store_restart = store_every;
    let mut next_move = Duration::from_millis(1500);
    let stores: Vec<u64> = s.stores.iter().map(|s| s.id).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let stream = stream(infos.clone());
    let load = stream
        .clone()
        .spawn(emu.cluster().clone(), Arc::clone(&stop));
    let lags: Arc<Mutex<Vec<f64>>> = Arc::default();
    let mut moves = Moves::default();
    let (mut daemon_kills_done, mut broker_kills, mut broker_stops) = (0u32, 0u32, 0u32);
    let mut broker_task: Option<tokio::task::JoinHandle<()>> = None;
    let started = Instant::now();
    while started.elapsed() < total {
        let now = started.elapsed();
        if daemon_kills.last().is_some_and(|at| *at <= now) {
            daemon_kills.pop();
            d.kill9();
            tokio::time::sleep(Duration::from_millis(100 + rng.below(400))).await;
            d.restart();
            daemon_kills_done += 1;
        }
        if broker_events.last().is_some_and(|(at, _)| *at <= now) {
            let (_, event) = broker_events.pop().expect("an event");
            if let Some(t) = broker_task.take() {
                t.await.expect("the previous broker event");
            }
            let b = Arc::clone(&broker);
            broker_task = Some(match event {
                BrokerEvent::Kill => {
                    broker_kills += 1;
                    tokio::task::spawn_blocking(move || {
                        b.run("kill", false);
                        std::thread::sleep(Duration::from_secs(1));
                        b.run("start", true);
                    })
                }
                BrokerEvent::Stop => {
                    broker_stops += 1;
                    b.signal("STOP");
                    tokio::spawn(async move {
                        tokio::time::sleep(BROKER_STOP).await;
                        b.signal("CONT");
                    })
                }
            });
        }
        if now >= next_store_restart {
            next_store_restart += store_every;
            let store = stores[rng.below(stores.len() as u64) as usize];
            drain_leaders(emu.cluster(), store);
            emu.stop_store(store).await.expect("stop store");
            tokio::time::sleep(Duration::from_millis(500 + rng.below(1500))).await;
            emu.start_store(store).await.expect("start store");
            moves.store_restarts += 1;
        }
        if now >= next_move {
            next_move += Duration::from_millis(1000 + rng.below(1000));
            region_move(emu.cluster(), &infos, &mut rng, &mut moves);
        }
        let port = d.http;
        let lags = Arc::clone(&lags);
        tokio::task::spawn_blocking(move || {
            if let Ok((_, body, _)) = try_get_within(port, "/api/v1/status")
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&body)
                && let Some(lag) = v["changefeeds"][0]["lag_seconds"].as_f64()
            {
                lags.lock().expect("lags").push(lag);
            }
        })
        .await
        .expect("status poll");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if let Some(t) = broker_task.take() {
        t.await.expect("the last broker event");
    }
    stop.store(true, Ordering::SeqCst);
    let (last_version, last_ts) = load.join().expect("load thread");
    d.wait_checkpoint(last_ts, Duration::from_secs(180)).await;
    let st = d.terminate();
    assert!(st.success(), "exit {st}:\n{}", d.log());
    assert!(
        daemon_kills_done >= 20 && broker_kills == 3 && broker_stops == 2,
        "the campaign ran whole: {daemon_kills_done} daemon kills, {broker_kills} broker kills, {broker_stops} broker stops"
    );

    // Read back: per key, in partition order, the versions first seen must rise.
    let mut seen: HashSet<i64> = HashSet::new();
    let mut latest: HashMap<(usize, i64), i64> = HashMap::new();
    let mut partition_of: HashMap<(usize, i64), i32> = HashMap::new();
    let (mut duplicates, mut order_breaks) = (0u64, 0u64);
    for (t, info) in infos.iter().enumerate() {
        let topic = format!("{prefix}_test_{}", info.name.o);
        for m in kcat_consume(
            &broker.plaintext(),
            &KcatAuth::Plain,
            &topic,
            usize::MAX >> 1,
        ) {
            let v: serde_json::Value =
                serde_json::from_str(m.payload.as_deref().unwrap_or_default()).expect("canal-json");
            let row = &v["data"][0];
            let id: i64 = row["id"].as_str().and_then(|s| s.parse().ok()).expect("id");
            let version: i64 = row["name"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("version");
            assert_eq!(
                stream.place(version),
                (t, id),
                "version {version} in {topic}"
            );
            let p = *partition_of.entry((t, id)).or_insert(m.partition);
            assert_eq!(p, m.partition, "{topic} key {id} stays in one partition");
            let last = latest.entry((t, id)).or_insert(-1);
            if seen.insert(version) {
                if version < *last {
                    order_breaks += 1;
                }
                *last = (*last).max(version);
            } else {
                duplicates += 1;
            }
        }
    }
    let committed = last_version + 1;
    let lost = (0..committed).filter(|v| !seen.contains(v)).count();
    let max_lag = lags
        .lock()
        .expect("lags")
        .iter()
        .copied()
        .fold(0.0, f64::max);
    eprintln!(
        "chaos: {seconds} s, seed {seed}: {daemon_kills_done} daemon kill -9, {broker_kills} broker kill/restart, {broker_stops} broker SIGSTOP {}s, {} splits, {} merges, {} leader moves, {} store restarts | rows committed {committed}, delivered {}, lost {lost}, order breaks {order_breaks}, duplicates {duplicates}, max checkpoint lag {max_lag:.1} s",
        BROKER_STOP.as_secs(),
        moves.splits,
        moves.merges,
        moves.leader_moves,
        moves.store_restarts,
        seen.len(),
    );
    assert_eq!(lost, 0, "rows lost");
    assert_eq!(order_breaks, 0, "per-key order breaks");
}
