//! Large-message handling on the real broker: a Canal-JSON row above the topic's limit
//! (1 048 460 bytes: the broker's message.max.bytes minus 128) stops with a named error
//! under `none`, is sent with its handle key only under `handle-key-only`, and is stored in
//! full with a reference sent under `claim-check`; kcat reads what Kafka got.

use std::sync::Arc;
use std::time::Duration;
use tidb_changefeed::model::TableInfo;

use base64::Engine as _;
use tidb_changefeed::codec::canal_json::{CanalJsonConfig, CanalJsonEncoder};
use tidb_changefeed::codec::{Encoder, FixedClock, TableCodec};
use tidb_changefeed::config::{KafkaConfig, LargeMessageHandle, LargeMessageOption};
use tidb_changefeed::event::{RowEvent, RowKind, TableMeta};
use tidb_changefeed::mount::Value;
use tidb_changefeed::sink::ack::AckTracker;
use tidb_changefeed::sink::kafka::{
    ConnectOptions, Kafka, Message, Producer, ProducerSettings, TopicPolicy, Topics, connect,
};
use tidb_changefeed::sink::large_message::{LargeMessageError, LargeMessagePolicy};

use crate::kafka_env::{KcatAuth, kafka, kcat_consume};
use crate::support::unique;

const TABLE: &str = r#"{"id":120,"name":{"O":"docs","L":"docs"},"pk_is_handle":true,"state":5,"cols":[
 {"id":1,"name":{"O":"id","L":"id"},"offset":0,"state":5,"type":{"Tp":8,"Flag":4099,"Flen":20,"Decimal":0,"Charset":"binary","Collate":"binary","Elems":null}},
 {"id":2,"name":{"O":"body","L":"body"},"offset":1,"state":5,"type":{"Tp":251,"Flag":16,"Flen":4294967295,"Decimal":0,"Charset":"utf8mb4","Collate":"utf8mb4_bin","Elems":null}}]}"#;

fn event(body_len: usize) -> RowEvent {
    let info = TableInfo::from_json(TABLE.as_bytes()).expect("table info");
    RowEvent {
        schema: Arc::from("shop"),
        table: Arc::from("docs"),
        meta: Arc::new(TableMeta::new(&info)),
        commit_ts: 449_000_000_000_000_000,
        physical_id: 120,
        // The integer primary key is the row handle.
        row_id: 7,
        kind: RowKind::Insert,
        new: Some(vec![
            Value::Int(7),
            Value::Bytes("x".repeat(body_len).into_bytes()),
        ]),
        old: None,
    }
}

fn encoder() -> CanalJsonEncoder {
    CanalJsonEncoder::with_clock(
        CanalJsonConfig {
            enable_tidb_extension: true,
            ..CanalJsonConfig::default()
        },
        Arc::new(FixedClock(1_732_521_600_000)),
    )
}

fn policy(option: LargeMessageOption, uri: Option<String>) -> LargeMessagePolicy {
    LargeMessagePolicy::from_config(&LargeMessageHandle {
        large_message_handle_option: option,
        claim_check_storage_uri: uri,
        ..LargeMessageHandle::default()
    })
    .expect("policy")
}

async fn sink() -> (Topics, Producer, String) {
    let env = kafka();
    let brokers = vec![env.plaintext.clone()];
    let Kafka { client, admin } = connect(&ConnectOptions::plain(&brokers))
        .await
        .expect("connect");
    let client = Arc::new(client);
    let topic = unique("it_large");
    let topics = Topics::new(
        Arc::clone(&client),
        admin.clone(),
        TopicPolicy::from_config(&KafkaConfig {
            partition_num: Some(1),
            ..KafkaConfig::new(brokers.clone(), &topic)
        }),
    );
    let producer = Producer::new(
        client,
        admin,
        ProducerSettings {
            compression: rskafka::client::partition::Compression::NoCompression,
            max_message_bytes: 10 << 20,
            max_retry: 3,
            request_timeout: Duration::from_secs(10),
            queue_len: 16,
            linger: Duration::ZERO,
        },
        AckTracker::new(),
    );
    topics.ensure(&topic).await.expect("topic");
    (topics, producer, topic)
}

async fn send(producer: &Producer, topic: &str, m: tidb_changefeed::codec::Record) {
    let msg = Message::from_record(m, None);
    producer.send(topic, 0, msg).await.expect("send");
    producer.flush().await.expect("flush");
}

#[tokio::test]
async fn none_stops_with_table_key_and_size() {
    let (_topics, producer, topic) = sink().await;
    let limit = producer.max_message_bytes(&topic).await.expect("limit");
    assert_eq!(limit, 1_048_460);
    let ev = event(2_000_000);
    let enc = encoder();
    let full = enc
        .encode_row(&TableCodec::NONE, &ev)
        .expect("encode")
        .expect("a message");
    let err = policy(LargeMessageOption::None, None)
        .fit(&enc, &TableCodec::NONE, &ev, full, limit)
        .expect_err("too large");
    assert!(matches!(err, LargeMessageError::TooLarge { .. }));
    let text = err.to_string();
    assert!(
        text.starts_with("the row of `shop`.`docs` with key id=7 is 20"),
        "{text}"
    );
    assert!(text.contains("above the limit of 1048460 bytes"), "{text}");
    assert!(text.contains("large-message-handle-option"), "{text}");
    // A row that fits passes unchanged.
    let small = event(10);
    let m = enc
        .encode_row(&TableCodec::NONE, &small)
        .expect("encode")
        .expect("message");
    let same = policy(LargeMessageOption::None, None)
        .fit(&enc, &TableCodec::NONE, &small, m.clone(), limit)
        .expect("fits");
    assert_eq!(same, m);
}

#[tokio::test]
async fn handle_key_only_sends_the_key_marked() {
    let env = kafka();
    let (_topics, producer, topic) = sink().await;
    let limit = producer.max_message_bytes(&topic).await.expect("limit");
    let ev = event(2_000_000);
    let enc = encoder();
    let full = enc
        .encode_row(&TableCodec::NONE, &ev)
        .expect("encode")
        .expect("a message");
    let reduced = policy(LargeMessageOption::HandleKeyOnly, None)
        .fit(&enc, &TableCodec::NONE, &ev, full, limit)
        .expect("reduced");
    send(&producer, &topic, reduced).await;
    let got = kcat_consume(&env.plaintext, &KcatAuth::Plain, &topic, 1);
    let v: serde_json::Value =
        serde_json::from_str(got[0].payload.as_deref().expect("payload")).expect("json");
    assert_eq!(v["data"], serde_json::json!([{"id": "7"}]));
    assert_eq!(v["_tidb"]["onlyHandleKey"], true);
    assert_eq!(v["type"], "INSERT");
}

#[tokio::test]
async fn claim_check_stores_the_message_and_sends_its_location() {
    let env = kafka();
    let (_topics, producer, topic) = sink().await;
    let limit = producer.max_message_bytes(&topic).await.expect("limit");
    let dir = tempfile::tempdir().expect("tempdir");
    let uri = format!("file://{}", dir.path().display());
    let ev = event(2_000_000);
    let enc = encoder();
    let full = enc
        .encode_row(&TableCodec::NONE, &ev)
        .expect("encode")
        .expect("a message");
    let reduced = policy(LargeMessageOption::ClaimCheck, Some(uri.clone()))
        .fit(&enc, &TableCodec::NONE, &ev, full.clone(), limit)
        .expect("claim check");
    send(&producer, &topic, reduced).await;
    let got = kcat_consume(&env.plaintext, &KcatAuth::Plain, &topic, 1);
    let v: serde_json::Value =
        serde_json::from_str(got[0].payload.as_deref().expect("payload")).expect("json");
    let location = v["_tidb"]["claimCheckLocation"]
        .as_str()
        .expect("claimCheckLocation")
        .to_string();
    assert!(
        location.starts_with(&format!("{uri}/")) && location.ends_with(".json"),
        "{location}"
    );
    assert_eq!(v["data"], serde_json::json!([{"id": "7"}]));
    let (value, key) = stored(&location);
    assert_eq!(
        Some(value),
        full.value,
        "the stored value is the full message"
    );
    assert_eq!(
        key,
        serde_json::json!(""),
        "canal-json keys are empty, not null"
    );
}

/// The events of an Open protocol record: (key, value) text pairs.
fn open_events(r: &tidb_changefeed::codec::Record) -> Vec<(String, String)> {
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("utf-8");
    tidb_changefeed::codec::open::message::events(r)
        .expect("an open-protocol record")
        .into_iter()
        .map(|(k, v)| (text(k), text(v)))
        .collect()
}

/// The full message a claim-check object at `location` holds: its base64 `value`, and `key`.
fn stored(location: &str) -> (Vec<u8>, serde_json::Value) {
    let stored = std::fs::read(location.trim_start_matches("file://")).expect("stored object");
    let obj: serde_json::Value = serde_json::from_slice(&stored).expect("claim-check JSON");
    let value = base64::engine::general_purpose::STANDARD
        .decode(obj["value"].as_str().expect("value"))
        .expect("base64");
    (value, obj["key"].clone())
}

/// Open protocol, as TiCDC's open encoder handles a row past the limit: handle-key-only marks
/// the key `ohk` and keeps only the handle-key columns; claim-check stores the full record
/// and sends those columns with the location in `ccl`.
#[tokio::test]
async fn open_protocol_reduces_with_ohk_and_ccl() {
    use tidb_changefeed::codec::open::{OpenConfig, OpenEncoder};
    let (_topics, producer, topic) = sink().await;
    let limit = producer.max_message_bytes(&topic).await.expect("limit");
    let ev = event(2_000_000);
    let enc = OpenEncoder::new(OpenConfig::default());
    let full = enc
        .encode_row(&TableCodec::NONE, &ev)
        .expect("encode")
        .expect("a message");
    let reduced = policy(LargeMessageOption::HandleKeyOnly, None)
        .fit(&enc, &TableCodec::NONE, &ev, full.clone(), limit)
        .expect("reduced");
    let events = open_events(&reduced);
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].0,
        r#"{"ts":449000000000000000,"scm":"shop","tbl":"docs","rid":7,"t":1,"ohk":true}"#
    );
    assert_eq!(events[0].1, r#"{"u":{"id":{"t":8,"h":true,"f":11,"v":7}}}"#);
    send(&producer, &topic, reduced).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let uri = format!("file://{}", dir.path().display());
    let checked = policy(LargeMessageOption::ClaimCheck, Some(uri.clone()))
        .fit(&enc, &TableCodec::NONE, &ev, full.clone(), limit)
        .expect("claim check");
    let events = open_events(&checked);
    let key: serde_json::Value = serde_json::from_str(&events[0].0).expect("key json");
    let location = key["ccl"].as_str().expect("ccl").to_string();
    assert!(key.get("ohk").is_none(), "{key}");
    assert!(location.starts_with(&format!("{uri}/")), "{location}");
    assert_eq!(events[0].1, r#"{"u":{"id":{"t":8,"h":true,"f":11,"v":7}}}"#);
    let stored = std::fs::read(location.trim_start_matches("file://")).expect("stored object");
    let obj: serde_json::Value = serde_json::from_slice(&stored).expect("claim-check JSON");
    let b64 = base64::engine::general_purpose::STANDARD;
    let value = b64
        .decode(obj["value"].as_str().expect("value"))
        .expect("base64");
    assert_eq!(
        Some(value),
        full.value,
        "the stored value is the full record"
    );
}
