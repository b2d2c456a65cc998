//! Claim-check to S3 end to end, on a real S3 HTTP API (moto's server, `scripts/s3.sh`):
//! emulated TiDB → the `tidb-changefeed` binary → the real Kafka broker, the rows too large
//! for `max-message-bytes` stored in a bucket. kcat reads what Kafka got, boto3 (an
//! independent client) reads the objects back, and the consumer side restores the full row
//! from the stored JSON (`{"key":null,"value":<base64 of the full Canal-JSON message>}`).
//!
//! * [`a_large_row_goes_through_s3_and_the_consumer_restores_it`]: the record points at
//!   the object, the object holds the row written; `check` proves the bucket with a probe
//!   object; the secret key appears in no log line, status or `check` output.
//! * [`a_stopped_s3_server_stalls_the_changefeed_and_loses_nothing`]: a private moto server
//!   is stopped (SIGSTOP) under a load of large rows: writes time out and are retried,
//!   `/readyz` turns 503 with a `claim-check storage` fault naming the bucket, the
//!   checkpoint never passes a row whose object is not stored; after SIGCONT every row is
//!   in Kafka in order, and each object holds its row.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use tidb_changefeed::model::TableInfo;
use tidb_changefeed_emulator::scenario::Scenario;
use tidb_changefeed_emulator::tidb::encode_row;
use tidb_changefeed_emulator::{Cluster, Mutation, MutationOp, TxnError};

use crate::e2e::{Daemon, KILL_SCENARIO, emulator, read_all, table_topics_sink, wait_subscribed};
use crate::s3_env::{OwnMoto, S3Env, s3};
use crate::support::{daemon, get_within, unique, write_file};

/// The Kafka message limit of these changefeeds: rows above it are claim-checked.
const MAX_MESSAGE_BYTES: usize = 4096;

/// A bucket name S3 accepts (lower case, digits, hyphens).
fn bucket(prefix: &str) -> String {
    unique(prefix).replace('_', "-").to_ascii_lowercase()
}

/// The `tail` of the sink: small messages, the TiDB extension (canal-json marks reduced
/// messages in it) and claim-check to `uri` with `params` (a TOML inline table).
fn claim_check_tail(uri: &str, params: &str) -> String {
    format!(
        r#"max-message-bytes = {MAX_MESSAGE_BYTES}

[changefeed.sink.kafka-config.codec-config]
enable-tidb-extension = true

[changefeed.sink.kafka-config.large-message-handle]
large-message-handle-option = "claim-check"
claim-check-storage-uri = "{uri}"
claim-check-storage-parameters = {params}
claim-check-storage-request-timeout = "1s"
"#
    )
}

/// Commits rows `(id, name)` of `info` in one transaction; returns its commit ts (retrying
/// while a region's store is unavailable).
fn commit(cluster: &Cluster, info: &TableInfo, rows: &[(i64, String)]) -> u64 {
    let muts: Vec<Mutation> = rows
        .iter()
        .map(|(id, name)| {
            let mut row = BTreeMap::new();
            row.insert("id".to_string(), toml::Value::Integer(*id));
            row.insert("name".to_string(), toml::Value::String(name.clone()));
            let (key, value) = encode_row(info, &row, None).expect("row");
            Mutation {
                key,
                op: MutationOp::Put(value),
            }
        })
        .collect();
    loop {
        match cluster.lock().one_pc(&muts, 0) {
            Ok((_, ts)) => return ts,
            Err(TxnError::Unavailable(_)) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("commit failed: {e}"),
        }
    }
}

/// One row message read from Kafka.
#[derive(Debug)]
struct RowMessage {
    id: String,
    name: Option<String>,
    commit_ts: u64,
    location: Option<String>,
}

/// The row messages of `topic` in partition order (watermarks and DDLs skipped).
fn row_messages(topic: &str) -> Vec<RowMessage> {
    read_all(topic)
        .into_iter()
        .filter_map(|m| {
            let v: serde_json::Value =
                serde_json::from_str(m.payload.as_deref()?).expect("canal-json");
            if v["isDdl"].as_bool() != Some(false)
                || !matches!(v["type"].as_str(), Some("INSERT" | "UPDATE" | "DELETE"))
            {
                return None;
            }
            let row = &v["data"][0];
            Some(RowMessage {
                id: row["id"].as_str().expect("id").to_string(),
                name: row["name"].as_str().map(str::to_string),
                commit_ts: v["_tidb"]["commitTs"].as_u64().expect("commitTs"),
                location: v["_tidb"]["claimCheckLocation"]
                    .as_str()
                    .map(str::to_string),
            })
        })
        .collect()
}

/// The object key of `location` in `bucket`.
fn object_key<'a>(bucket: &str, location: &'a str) -> &'a str {
    location
        .strip_prefix(&format!("s3://{bucket}/"))
        .unwrap_or_else(|| panic!("{location} is not in bucket {bucket}"))
}

/// The consumer's side: the full Canal-JSON message a claim-check object holds, read with
/// boto3 and decoded from TiCDC's `{"key":…,"value":<base64>}`; checks the key is null.
fn restore(env: &S3Env, bucket: &str, location: &str) -> serde_json::Value {
    decode_stored(&env.get_object(bucket, object_key(bucket, location)))
}

/// The full message of a stored claim-check object.
fn decode_stored(bytes: &[u8]) -> serde_json::Value {
    let stored: serde_json::Value = serde_json::from_slice(bytes).expect("stored JSON");
    assert_eq!(
        stored["key"],
        serde_json::Value::Null,
        "canal-json's stored key is null, as TiCDC's ClaimCheckMessage of a nil key"
    );
    let value = base64::engine::general_purpose::STANDARD
        .decode(stored["value"].as_str().expect("value"))
        .expect("base64 value");
    serde_json::from_slice(&value).expect("the stored value is a Canal-JSON message")
}

#[tokio::test]
async fn a_large_row_goes_through_s3_and_the_consumer_restores_it() {
    let env = s3();
    let bucket = bucket("cc-e2e");
    env.create_bucket(&bucket);
    let s = Scenario::parse(KILL_SCENARIO, "claim_check_s3").expect("scenario");
    let emu = emulator(&s).await;
    let info = TableInfo::from_json(s.tables[0].info.as_bytes()).expect("table info");
    let prefix = unique("cc_s3");
    let topic = format!("{prefix}_test_t");
    let access = "AKIACLAIMCHECKTEST";
    let secret = "s3cr3t+/Claim=Check";
    let uri = format!(
        "s3://{bucket}/claims/run1?endpoint={}&access-key={access}&region={}",
        env.endpoint, env.region
    );
    let sink = table_topics_sink(
        "protocol = \"canal-json\"",
        &prefix,
        1,
        &claim_check_tail(&uri, &format!("{{ secret-access-key = \"{secret}\" }}")),
    );
    let mut d = Daemon::start_sink(&format!("http://{}", emu.pd_addr()), "", &sink);
    wait_subscribed(&emu).await;

    let big = format!("{}-end", "b".repeat(20_000));
    let ts = commit(
        emu.cluster(),
        &info,
        &[(1, big.clone()), (2, "small".to_string())],
    );
    d.wait_checkpoint(ts, Duration::from_secs(60)).await;

    let rows = row_messages(&topic);
    assert_eq!(rows.len(), 2, "{rows:?}");
    let large = rows.iter().find(|r| r.id == "1").expect("row 1");
    let small = rows.iter().find(|r| r.id == "2").expect("row 2");
    assert_eq!(small.name.as_deref(), Some("small"));
    assert!(small.location.is_none());
    // The Kafka record points at the object and carries only the handle key.
    let location = large.location.clone().expect("claimCheckLocation");
    assert!(
        location.starts_with(&format!("s3://{bucket}/claims/run1/")) && location.ends_with(".json"),
        "{location}"
    );
    assert_eq!(large.name, None, "only the handle key travels in Kafka");
    // boto3 reads the object; the consumer restores the row written.
    let full = restore(env, &bucket, &location);
    assert_eq!(full["type"], "INSERT");
    assert_eq!(full["data"][0]["id"], "1");
    assert_eq!(full["data"][0]["name"].as_str(), Some(big.as_str()));
    assert_eq!(full["_tidb"]["commitTs"].as_u64(), Some(large.commit_ts));
    let listed = env.list_objects(&bucket);
    assert_eq!(
        listed.len(),
        1,
        "one object for the one large row: {listed:?}"
    );

    // `check` proves the bucket: a probe object stored, read back and deleted.
    let out = check(&d.config).await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "check failed:\n{text}");
    assert!(
        text.contains(&format!(
            "claim-check storage s3://{bucket}/claims/run1?endpoint={}&access-key=***&region={}: stored, read back and deleted a probe object",
            env.endpoint, env.region
        )),
        "{text}"
    );
    assert_eq!(env.list_objects(&bucket).len(), 1, "the probe cleaned up");
    // The secret is in no output.
    let (_, status, _) = get_within(d.http, "/api/v1/status");
    for (what, t) in [("log", d.log()), ("status", status), ("check", text)] {
        assert!(!t.contains(secret), "the secret key is in the {what}:\n{t}");
        assert!(!t.contains(access), "the access key is in the {what}:\n{t}");
    }

    // A bucket that does not exist: `check` fails naming the storage and what is needed.
    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = std::fs::read_to_string(&d.config).expect("config").replace(
        &format!("s3://{bucket}/"),
        &format!("s3://{bucket}-missing/"),
    );
    let path = write_file(dir.path(), "changefeed.toml", &wrong);
    let out = check(&path).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !out.status.success(),
        "check passed on a missing bucket:\n{text}"
    );
    assert!(
        text.contains(&format!(
            "claim-check storage s3://{bucket}-missing/claims/run1"
        )) && text.contains("cannot store a probe object")
            && text.contains("s3:PutObject"),
        "{text}"
    );
    assert!(!text.contains(secret), "{text}");
    d.terminate();
}

/// `tidb-changefeed check --config path`, off the test's runtime (which serves the emulator
/// the check probes).
async fn check(path: &std::path::Path) -> std::process::Output {
    let path = path.to_str().expect("utf-8 path").to_string();
    tokio::task::spawn_blocking(move || daemon(&["check", "--config", &path]))
        .await
        .expect("check runs")
}

/// How long the private S3 server stays stopped.
const STOPPED: Duration = Duration::from_secs(8);
/// `sink-stall-timeout` of the daemon under test.
const STALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Keys the load writes in turn.
const KEYS: i64 = 20;

/// A row value far above [`MAX_MESSAGE_BYTES`], naming its version first.
fn large_name(v: i64) -> String {
    format!("{v}:{}", "v".repeat(6_000))
}

#[tokio::test]
async fn a_stopped_s3_server_stalls_the_changefeed_and_loses_nothing() {
    let moto = OwnMoto::start(25_091);
    let env = s3().at(&moto.endpoint);
    let bucket = bucket("cc-stop");
    env.create_bucket(&bucket);
    let s = Scenario::parse(KILL_SCENARIO, "claim_check_stop").expect("scenario");
    let emu = emulator(&s).await;
    let info = TableInfo::from_json(s.tables[0].info.as_bytes()).expect("table info");
    let prefix = unique("cc_stop");
    let topic = format!("{prefix}_test_t");
    let uri = format!("s3://{bucket}/stalls?endpoint={}", env.endpoint);
    let params = format!(
        "{{ access-key = \"{}\", secret-access-key = \"{}\" }}",
        env.access_key, env.secret_key
    );
    let sink = table_topics_sink(
        "protocol = \"canal-json\"",
        &prefix,
        1,
        &claim_check_tail(&uri, &params),
    );
    let mut d = Daemon::start_sink(
        &format!("http://{}", emu.pd_addr()),
        &format!("sink-stall-timeout = \"{}s\"", STALL_TIMEOUT.as_secs()),
        &sink,
    );
    let port = d.http;
    wait_subscribed(&emu).await;

    // A load of large rows: version v to key v % KEYS, two versions per transaction.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let cluster = emu.cluster().clone();
        let stop = Arc::clone(&stop);
        let info = info.clone();
        std::thread::spawn(move || {
            let mut v = 0i64;
            let mut commits = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let rows = [
                    (v % KEYS, large_name(v)),
                    ((v + 1) % KEYS, large_name(v + 1)),
                ];
                commits.push(commit(&cluster, &info, &rows));
                v += 2;
                std::thread::sleep(Duration::from_millis(100));
            }
            (v, commits)
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let marker = emu.cluster().lock().next_ts();
    d.wait_checkpoint(marker, Duration::from_secs(60)).await;
    let metric = |text: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with("tidb_changefeed_claim_check_write_errors_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let errors_before = metric(&get_within(port, "/metrics").1);

    moto.signal("STOP");
    let stopped_at = std::time::SystemTime::now();
    let stopped = Instant::now();
    let mut unready_after = None;
    let mut fault = None;
    let mut checkpoint_in_stop = 0u64;
    while stopped.elapsed() < STOPPED {
        let (ready, body, _) = tokio::task::spawn_blocking(move || get_within(port, "/readyz"))
            .await
            .expect("poll");
        if ready.contains("503") && unready_after.is_none() {
            unready_after = Some(stopped.elapsed());
        }
        let status = d.status();
        if let Some(f) = status["changefeeds"][0]["faults"]
            .as_array()
            .and_then(|fs| fs.iter().find(|f| f["component"] == "claim-check storage"))
        {
            fault.get_or_insert_with(|| (f.clone(), body.clone()));
        }
        checkpoint_in_stop = d.checkpoint().unwrap_or(0).max(checkpoint_in_stop);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let errors_during = metric(&get_within(port, "/metrics").1) - errors_before;
    let unready_after = unready_after.unwrap_or_else(|| {
        panic!(
            "/readyz never turned 503 while S3 was stopped:\n{}",
            d.log()
        )
    });
    let (fault, readyz_body) = fault.expect("a claim-check storage fault while S3 was stopped");
    moto.signal("CONT");
    let continued = Instant::now();

    assert!(
        unready_after <= STALL_TIMEOUT + Duration::from_secs(3),
        "/readyz turned 503 only after {unready_after:?}"
    );
    let error = fault["error"].as_str().expect("fault error");
    assert!(
        error.contains(&format!("s3://{bucket}/stalls")) && error.contains("waited"),
        "{fault}"
    );
    assert!(readyz_body.contains("claim-check storage"), "{readyz_body}");
    assert!(
        errors_during >= 2.0,
        "requests timing out were retried and counted: {errors_during}"
    );

    // Back: ready again, the fault cleared, everything written arrives.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (ready, _, _) = get_within(port, "/readyz");
        if ready.contains("200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready again 60 s after SIGCONT:\n{}",
            d.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "S3 stopped {STOPPED:?}: /readyz 503 after {unready_after:?}, ready {:?} after SIGCONT, {errors_during} failed attempts",
        continued.elapsed()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    let (versions, commits) = load.join().expect("load thread");
    let last = *commits.last().expect("commits");
    d.wait_checkpoint(last, Duration::from_secs(60)).await;
    assert!(
        d.status()["changefeeds"][0]["faults"]
            .as_array()
            .is_none_or(|f| f.is_empty()),
        "faults left: {}",
        d.status()
    );

    let rows = row_messages(&topic);
    let objects = env.list_objects(&bucket);
    let stopped_secs = stopped_at
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    // The rows whose object is missing fail below, with their location.
    let keys: Vec<&str> = rows
        .iter()
        .map(|r| {
            object_key(
                &bucket,
                r.location.as_deref().expect("every row is claim-checked"),
            )
        })
        .filter(|k| objects.contains_key(*k))
        .collect();
    let stored = env.get_objects(&bucket, &keys);
    let mut seen: HashMap<i64, i64> = HashMap::new();
    let mut latest: HashMap<String, i64> = HashMap::new();
    for r in &rows {
        let location = r.location.as_deref().expect("every row is claim-checked");
        let key = object_key(&bucket, location);
        let (_, modified) = objects
            .get(key)
            .unwrap_or_else(|| panic!("{location} was sent but is not stored"));
        // The checkpoint never passed a row whose object was not stored: nothing was stored
        // while the server was stopped, so every row at or below the checkpoint seen then
        // has an object from before the stop (1 s for clock granularity).
        if r.commit_ts <= checkpoint_in_stop {
            assert!(
                *modified <= stopped_secs + 1.0,
                "row {} at {} is below the checkpoint {checkpoint_in_stop} reached during the stop, but its object was stored at {modified} (stop at {stopped_secs})",
                r.id,
                r.commit_ts
            );
        }
        let version = r.version(&stored[key]);
        *seen.entry(version).or_default() += 1;
        let prev = latest.insert(r.id.clone(), version);
        assert!(
            prev.is_none_or(|p| p <= version),
            "key {} went back from version {prev:?} to {version}",
            r.id
        );
    }
    for v in 0..versions {
        assert!(seen.contains_key(&v), "version {v} was lost");
    }
    eprintln!(
        "{} rows ({} versions) in Kafka, {} objects in S3",
        rows.len(),
        versions,
        objects.len()
    );
    d.terminate();
}

impl RowMessage {
    /// The version the row's full value names, restored from its stored object.
    fn version(&self, stored: &[u8]) -> i64 {
        let full = decode_stored(stored);
        assert_eq!(full["data"][0]["id"].as_str(), Some(self.id.as_str()));
        let name = full["data"][0]["name"].as_str().expect("name");
        let (version, pad) = name.split_once(':').expect("version:padding");
        assert_eq!(pad.len(), 6_000, "the full value");
        version.parse().expect("version")
    }
}
