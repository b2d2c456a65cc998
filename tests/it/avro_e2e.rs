//! Avro end to end: emulated TiDB → the daemon → the real Kafka broker and the real schema
//! registry (scripts/registry.sh) → confluent-kafka's Avro deserializer (tests/consumers),
//! which decodes every record with the writer schema it fetches from the registry by id.
//! Also the registry's faults: down at start, an incompatible schema (409), bad credentials
//! (401).

use std::time::{Duration, Instant};

use serde_json::{Value as J, json};
use tidb_changefeed_emulator::runner::Runner;
use tidb_changefeed_emulator::scenario::Scenario;
use tokio::io::AsyncWriteExt;

use crate::consumers::{Endpoint, consume_avro, http, registry};
use crate::e2e::{Daemon, emulator, table_topics_sink};
use crate::kafka_env::kafka;
use crate::support::{free_port, unique};

const ALL_TYPES: &str = include_str!("../scenarios/fixtures/avro_all_types.toml");
const INCOMPATIBLE: &str = include_str!("../scenarios/fixtures/avro_incompatible.toml");

/// The `[changefeed.sink]` of an Avro changefeed: one topic per table, 3 partitions.
fn avro_sink(prefix: &str, registry_url: &str, codec: &str) -> String {
    table_topics_sink(
        &format!("protocol = \"avro\"\nschema-registry = \"{registry_url}\""),
        prefix,
        3,
        &format!("[changefeed.sink.kafka-config.codec-config]\n{codec}"),
    )
}

fn scenario(text: &str) -> Scenario {
    Scenario::parse(text, "avro_e2e").expect("scenario")
}

/// The registry URL with credentials in it.
fn with_credentials(ep: &Endpoint, user: &str, password: &str) -> String {
    ep.url
        .replacen("http://", &format!("http://{user}:{password}@"), 1)
}

async fn wait_for(
    what: &str,
    within: Duration,
    mut ok: impl FnMut() -> bool,
    log: impl Fn() -> String,
) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "{what} within {within:?}\nlog:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Starts the emulator of scenario `text` and a daemon with `sink`, and plays the scenario.
async fn run(text: &str, sink: &str) -> (Daemon, tidb_changefeed_emulator::Emulator) {
    let s = scenario(text);
    let mut emu = emulator(&s).await;
    let d = Daemon::start_sink(&format!("http://{}", emu.pd_addr()), "", sink);
    Runner::new(&s)
        .expect("runner")
        .play(&mut emu, &s)
        .await
        .expect("scenario plays");
    (d, emu)
}

fn by_id(records: &[J], id: i64) -> Vec<&J> {
    records.iter().filter(|r| r["key"]["id"] == id).collect()
}

#[tokio::test]
async fn every_type_reaches_an_independent_avro_consumer_through_a_real_registry() {
    let reg = registry();
    let prefix = unique("avro");
    let (mut d, emu) = run(
        ALL_TYPES,
        &avro_sink(&prefix, &reg.open().url, "enable-tidb-extension = true"),
    )
    .await;
    let last = emu.cluster().lock().next_ts();
    d.wait_checkpoint(last, Duration::from_secs(60)).await;
    let st = d.terminate();
    assert!(st.success(), "exit {st}:\n{}", d.log());

    let topic = format!("{prefix}_test_all_types");
    // Inserts of 1, 2, 3; the update of 2; the delete of 3.
    let records = consume_avro(&kafka().plaintext, &topic, 5, &reg.open());
    assert_eq!(records.len(), 5, "{records:#?}");

    // The row with a value in every column, as the consumer decodes it.
    let one = by_id(&records, 1);
    assert_eq!(one.len(), 1, "{records:#?}");
    let v = &one[0]["value"];
    let want = json!({
        "id": 1, "c_tiny": -8, "c_small": -300, "c_medium": 70000,
        "c_int": -2147483648i64, "c_uint": 4294967295u64,
        // BIGINT UNSIGNED in the default "long" mode wraps, as in TiCDC.
        "c_ubig": -1,
        "c_float": 1.5, "c_double": -2.25, "c_decimal": "-12345678.91",
        "c_varchar": "héllo <&>", "c_char": "ab", "c_text": "long text",
        "c_blob": "010262696e", "c_varbinary": "7662",
        "c_date": "2024-02-29", "c_datetime": "2024-02-29 23:59:58.123",
        "c_timestamp": "2024-03-01 00:00:01", "c_time": "-12:34:56",
        "c_year": 2024, "c_json": "{\"k\": [1, 2]}", "c_enum": "b", "c_set": "x,z",
        "c_bit": "a5",
        "_tidb_op": "c",
    });
    for (k, w) in want.as_object().expect("object") {
        assert_eq!(&v[k], w, "column {k} of row 1: {v}");
    }
    let commit_ts = v["_tidb_commit_ts"].as_i64().expect("commit ts");
    assert_eq!(v["_tidb_commit_physical_time"], json!(commit_ts >> 18));
    assert_eq!(one[0]["key"], json!({"id": 1}));

    // NULLs in every nullable column.
    let two = by_id(&records, 2);
    assert_eq!(two.len(), 2, "insert and update of row 2: {records:#?}");
    let v = &two[0]["value"];
    for k in ["c_tiny", "c_decimal", "c_json", "c_set", "c_bit", "c_blob"] {
        assert!(v[k].is_null(), "{k} of row 2 is NULL: {v}");
    }
    assert_eq!(v["c_char"], "cc");
    assert!(v.get("c_note").is_none(), "row 2 predates the DDL: {v}");
    let first_schema = two[0]["value_schema_id"].clone();

    // After `add column c_note … default 'n/a'`: a second value schema, the update in it.
    let upd = &two[1]["value"];
    assert_eq!(upd["_tidb_op"], "u");
    assert_eq!(upd["c_char"], "ee");
    assert_eq!(upd["c_int"], 7);
    assert_eq!(upd["c_note"], "upd");
    assert_ne!(two[1]["value_schema_id"], first_schema, "{records:#?}");

    // The delete of row 3 is a tombstone with its key.
    let three = by_id(&records, 3);
    assert_eq!(three.len(), 2, "{records:#?}");
    assert_eq!(three[0]["value"]["c_note"], "noted");
    assert!(
        three[1]["value"].is_null(),
        "a DELETE is a tombstone: {}",
        three[1]
    );
    assert_eq!(three[1]["key"], json!({"id": 3}));

    // The subject's versions: one more after the DDL; the key schema did not change.
    let subject = format!("{topic}-value");
    let versions = http(
        &reg.open(),
        "GET",
        &format!("/subjects/{subject}/versions"),
        None,
    )
    .expect("registry answers");
    assert_eq!(versions.json(), json!([1, 2]), "{}", versions.body);
    let key_versions = http(
        &reg.open(),
        "GET",
        &format!("/subjects/{topic}-key/versions"),
        None,
    )
    .expect("registry answers");
    assert_eq!(key_versions.json(), json!([1]), "{}", key_versions.body);
}

/// A TCP forwarder to `target` on `port`, started on demand: the registry "comes up".
async fn forward(port: u16, target: String) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the forwarder");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    let _ = outbound.shutdown().await;
                }
            });
        }
    });
}

#[tokio::test]
async fn a_registry_down_at_start_is_retried_and_nothing_is_lost() {
    let reg = registry();
    let s = scenario(ALL_TYPES);
    let mut emu = emulator(&s).await;
    let prefix = unique("avro_down");
    // The registry's address, through a port where nothing listens yet.
    let real = reg.open().url;
    let authority = real
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .expect("registry authority")
        .to_string();
    let port = free_port();
    let down = real.replacen(&authority, &format!("127.0.0.1:{port}"), 1);
    let sink = avro_sink(&prefix, &down, "");
    let mut d = Daemon::start_sink(&format!("http://{}", emu.pd_addr()), "", &sink);
    wait_for(
        "the changefeed retrying with the registry named",
        Duration::from_secs(60),
        || {
            let Some(st) = d.try_status() else {
                return false;
            };
            let cf = &st["changefeeds"][0];
            cf["state"] == "retrying"
                && cf["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("schema registry") && e.contains("unavailable"))
        },
        || d.log(),
    )
    .await;
    let (ready, body) = d.get("/readyz");
    assert!(
        ready.contains("503"),
        "/readyz while the registry is down: {ready} {body}"
    );
    let metrics = d.get("/metrics").1;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("tidb_changefeed_changefeed_errors_total")
                && l.contains("kind=\"retryable\"")),
        "the retries are counted:\n{metrics}"
    );

    forward(port, authority).await;
    Runner::new(&s)
        .expect("runner")
        .play(&mut emu, &s)
        .await
        .expect("scenario plays");
    let last = emu.cluster().lock().next_ts();
    d.wait_checkpoint(last, Duration::from_secs(90)).await;
    let (ready, _) = d.get("/readyz");
    assert!(
        ready.contains("200"),
        "/readyz after recovery: {ready}\n{}",
        d.log()
    );
    let st = d.terminate();
    assert!(st.success(), "exit {st}:\n{}", d.log());
    let records = consume_avro(
        &kafka().plaintext,
        &format!("{prefix}_test_all_types"),
        5,
        &reg.open(),
    );
    assert_eq!(
        records.len(),
        5,
        "every row after the recovery: {records:#?}"
    );
}

#[tokio::test]
async fn an_incompatible_schema_fails_the_changefeed_before_its_row() {
    let reg = registry();
    let prefix = unique("avro_409");
    let (mut d, emu) = run(INCOMPATIBLE, &avro_sink(&prefix, &reg.open().url, "")).await;
    let subject = format!("{prefix}_test_t-value");
    wait_for(
        "the changefeed failed naming the subject",
        Duration::from_secs(60),
        || {
            let Some(st) = d.try_status() else {
                return false;
            };
            let cf = &st["changefeeds"][0];
            cf["state"] == "failed"
                && cf["last_error"].as_str().is_some_and(|e| {
                    e.contains(&subject) && e.contains("HTTP 409") && e.contains("compatib")
                })
        },
        || d.log(),
    )
    .await;
    // The last row (after the DDL) is not acknowledged: the checkpoint stays below it.
    let row_ts = emu.cluster().lock().next_ts();
    let st = d.terminate();
    assert!(st.success(), "exit {st}:\n{}", d.log());
    let cp = d.checkpoint().expect("a checkpoint was saved");
    assert!(cp < row_ts, "checkpoint {cp} stays before the failing row");
    let records = consume_avro(
        &kafka().plaintext,
        &format!("{prefix}_test_t"),
        1,
        &reg.open(),
    );
    assert_eq!(
        records.len(),
        1,
        "only the row before the DDL: {records:#?}"
    );
    assert_eq!(records[0]["value"], json!({"id": 1, "a": 1}));
}

#[tokio::test]
async fn a_wrong_registry_password_is_named_as_such() {
    let reg = registry();
    let s = scenario(ALL_TYPES);
    let emu = emulator(&s).await;
    let prefix = unique("avro_401");
    let url = with_credentials(&reg.authenticated(), &reg.user, "not-the-password");
    let sink = avro_sink(&prefix, &url, "");
    let d = Daemon::start_sink(&format!("http://{}", emu.pd_addr()), "", &sink);
    wait_for(
        "the changefeed failed on the credentials",
        Duration::from_secs(60),
        || {
            let Some(st) = d.try_status() else {
                return false;
            };
            let cf = &st["changefeeds"][0];
            cf["state"] == "failed"
                && cf["last_error"].as_str().is_some_and(|e| {
                    e.contains("HTTP 401") && e.contains("did not accept the credentials")
                })
        },
        || d.log(),
    )
    .await;
    let st = d.status();
    let err = st["changefeeds"][0]["last_error"]
        .as_str()
        .unwrap_or_default();
    assert!(
        !err.contains("not-the-password"),
        "the password is not shown: {err}"
    );
    // The right password works.
    let good = with_credentials(&reg.authenticated(), &reg.user, &reg.password);
    let ok = Daemon::start_sink(
        &format!("http://{}", emu.pd_addr()),
        "",
        &avro_sink(&unique("avro_auth"), &good, ""),
    );
    wait_for(
        "the changefeed running with the right password",
        Duration::from_secs(60),
        || {
            ok.try_status()
                .is_some_and(|st| st["changefeeds"][0]["state"] == "running")
        },
        || ok.log(),
    )
    .await;
}
