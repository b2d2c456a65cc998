//! Large-message handling on the real broker: a Canal-JSON row above the topic's limit
//! (1 048 460 bytes: the broker's message.max.bytes minus 128) stops with a named error
//! under `none`, is sent with its handle key only under `handle-key-only`, and is stored in
//! full with a reference sent under `claim-check`; kcat reads what Kafka got.
//!
//! The limit is checked after compression, as the broker checks it (unlike TiCDC, tiflow
//! issue 12232): on a topic with `max.message.bytes` = 20 000, a compressible row of about
//! 100 KB arrives whole and byte-exact with each compression, an incompressible one is still
//! reduced, and without compression the compressible one is reduced as before.

use std::sync::Arc;
use std::time::Duration;
use tidb_changefeed::model::TableInfo;

use base64::Engine as _;
use rskafka::client::partition::Compression;
use tidb_changefeed::codec::canal_json::{CanalJsonConfig, CanalJsonEncoder};
use tidb_changefeed::codec::{Encoder, FixedClock, TableCodec};
use tidb_changefeed::config::{KafkaConfig, LargeMessageHandle, LargeMessageOption};
use tidb_changefeed::event::{RowEvent, RowKind, TableMeta};
use tidb_changefeed::mount::Value;
use tidb_changefeed::sink::ack::AckTracker;
use tidb_changefeed::sink::kafka::{
    ConnectOptions, Kafka, KafkaError, Message, Producer, ProducerSettings, SizeLimit, TopicPolicy,
    Topics, connect,
};
use tidb_changefeed::sink::large_message::{LargeMessageError, LargeMessagePolicy};

use crate::kafka_env::{KcatAuth, kafka, kcat_consume};
use crate::support::unique;

const TABLE: &str = r#"{"id":120,"name":{"O":"docs","L":"docs"},"pk_is_handle":true,"state":5,"cols":[
 {"id":1,"name":{"O":"id","L":"id"},"offset":0,"state":5,"type":{"Tp":8,"Flag":4099,"Flen":20,"Decimal":0,"Charset":"binary","Collate":"binary","Elems":null}},
 {"id":2,"name":{"O":"body","L":"body"},"offset":1,"state":5,"type":{"Tp":251,"Flag":16,"Flen":4294967295,"Decimal":0,"Charset":"utf8mb4","Collate":"utf8mb4_bin","Elems":null}}]}"#;

fn event(body_len: usize) -> RowEvent {
    event_with_body("x".repeat(body_len))
}

/// Row 7 of `shop.docs` with `body`.
fn event_with_body(body: String) -> RowEvent {
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
        new: Some(vec![Value::Int(7), Value::Bytes(body.into_bytes())]),
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

/// The policy of `option` (claim-check objects in `uri`), inside the test's runtime.
fn policy(option: LargeMessageOption, uri: Option<String>) -> Policy {
    Policy(
        LargeMessagePolicy::from_config(
            &LargeMessageHandle {
                large_message_handle_option: option,
                claim_check_storage_uri: uri,
                ..LargeMessageHandle::default()
            },
            "it",
            None,
        )
        .expect("policy"),
    )
}

/// A policy whose `fit` also waits for the claim-check object, as the emitter does before
/// it sends the message.
struct Policy(LargeMessagePolicy);

impl Policy {
    async fn fit(
        &self,
        encoder: &dyn Encoder,
        table: &TableCodec,
        event: &RowEvent,
        msg: tidb_changefeed::codec::Record,
        limit: SizeLimit,
    ) -> Result<tidb_changefeed::codec::Record, LargeMessageError> {
        let fitted = self.0.fit(encoder, table, event, msg, limit)?;
        if let Some(put) = fitted.stored {
            put.wait().await?;
        }
        Ok(fitted.record)
    }
}

async fn sink() -> (Topics, Producer, String) {
    let topic = unique("it_large");
    let (topics, producer) = sink_to(&topic, Compression::NoCompression).await;
    topics.ensure(&topic).await.expect("topic");
    (topics, producer, topic)
}

/// A producer with `compression` for `topic` (created by the caller or on first use).
async fn sink_to(topic: &str, compression: Compression) -> (Topics, Producer) {
    let env = kafka();
    let brokers = vec![env.plaintext.clone()];
    let Kafka { client, admin } = connect(&ConnectOptions::plain(&brokers))
        .await
        .expect("connect");
    let client = Arc::new(client);
    let topics = Topics::new(
        Arc::clone(&client),
        admin.clone(),
        TopicPolicy::from_config(&KafkaConfig {
            partition_num: Some(1),
            ..KafkaConfig::new(brokers.clone(), topic)
        }),
    );
    let producer = Producer::new(
        client,
        admin,
        ProducerSettings {
            compression,
            max_message_bytes: 10 << 20,
            max_retry: 3,
            request_timeout: Duration::from_secs(10),
            linger: Duration::from_millis(20),
            ..ProducerSettings::default()
        },
        AckTracker::new(),
    );
    (topics, producer)
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
        .fit(
            &enc,
            &TableCodec::NONE,
            &ev,
            full,
            SizeLimit::uncompressed(limit),
        )
        .await
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
        .fit(
            &enc,
            &TableCodec::NONE,
            &small,
            m.clone(),
            SizeLimit::uncompressed(limit),
        )
        .await
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
        .fit(
            &enc,
            &TableCodec::NONE,
            &ev,
            full,
            SizeLimit::uncompressed(limit),
        )
        .await
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
        .fit(
            &enc,
            &TableCodec::NONE,
            &ev,
            full.clone(),
            SizeLimit::uncompressed(limit),
        )
        .await
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
    // TiCDC's canal-json encoder leaves the message key nil (tiflow
    // pkg/sink/codec/canal/canal_json_row_event_encoder.go 393-395) and stores it as
    // ClaimCheckMessage.Key (claim_check.go 85-92): Go's encoding/json writes a nil []byte
    // as null, though the Kafka record itself has a zero-length key.
    assert_eq!(
        key,
        serde_json::Value::Null,
        "canal-json's stored key is null, as TiCDC's"
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
        .fit(
            &enc,
            &TableCodec::NONE,
            &ev,
            full.clone(),
            SizeLimit::uncompressed(limit),
        )
        .await
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
        .fit(
            &enc,
            &TableCodec::NONE,
            &ev,
            full.clone(),
            SizeLimit::uncompressed(limit),
        )
        .await
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

/// `max.message.bytes` of the small topics below; the effective limit is 128 less.
const SMALL_TOPIC_LIMIT: u64 = 20_000;

/// Creates a one-partition topic whose `max.message.bytes` is [`SMALL_TOPIC_LIMIT`].
fn small_topic(prefix: &str) -> String {
    let topic = unique(prefix);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka.sh");
    let out = std::process::Command::new("bash")
        .args([script, "topics", "--create", "--topic", &topic])
        .args(["--partitions", "1", "--replication-factor", "1"])
        .args([
            "--config",
            &format!("max.message.bytes={SMALL_TOPIC_LIMIT}"),
        ])
        .output()
        .expect("kafka.sh topics runs");
    assert!(
        out.status.success(),
        "creating {topic}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    topic
}

/// Text no codec shrinks much: letters and digits from a xorshift generator (about 6 bits
/// of entropy per byte, so gzip and zstd keep about three quarters of it).
fn random_text(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(ALPHABET[(x >> 32) as usize % ALPHABET.len()])
        })
        .collect()
}

fn full_message(enc: &dyn Encoder, ev: &RowEvent) -> tidb_changefeed::codec::Record {
    enc.encode_row(&TableCodec::NONE, ev)
        .expect("encode")
        .expect("a message")
}

const CODECS: [Compression; 4] = [
    Compression::Gzip,
    Compression::Lz4,
    Compression::Snappy,
    Compression::Zstd,
];

/// A 100 KB row of repeated text is five times the topic's limit uncompressed: with each
/// compression it passes the large-message check unchanged, the producer takes it, the
/// broker accepts it (between small messages, so it travels in a batch of its own), and
/// kcat reads it back byte for byte.
#[tokio::test]
async fn a_compressible_row_over_the_limit_is_sent_whole_when_compressed() {
    let env = kafka();
    let topic = small_topic("it_large_zip");
    let ev = event(100_000);
    let enc = encoder();
    let full = full_message(&enc, &ev);
    assert!(full.length() as u64 > 5 * SMALL_TOPIC_LIMIT);
    let full_text = String::from_utf8(full.value.clone().expect("value")).expect("utf-8");
    let mut expected = Vec::new();
    for c in CODECS {
        let (_topics, producer) = sink_to(&topic, c).await;
        let limit = producer.size_limit(&topic).await.expect("limit");
        assert_eq!(limit, SizeLimit::new(SMALL_TOPIC_LIMIT - 128, c));
        let fitted = policy(LargeMessageOption::HandleKeyOnly, None)
            .fit(&enc, &TableCodec::NONE, &ev, full.clone(), limit)
            .await
            .expect("fits compressed");
        assert_eq!(fitted, full, "{c:?}: unreduced");
        let small = |tag: &str| {
            Message::from_record(
                tidb_changefeed::codec::Record::new(None, format!("{c:?} {tag}").into_bytes()),
                None,
            )
        };
        let handle = producer.partition(&topic, 0).await.expect("handle");
        handle.send(small("before")).await.expect("small before");
        handle
            .send(Message::from_record(fitted, None))
            .await
            .expect("the producer takes it compressed");
        handle.send(small("after")).await.expect("small after");
        producer.flush().await.expect("the broker accepts it");
        expected.extend([
            format!("{c:?} before"),
            full_text.clone(),
            format!("{c:?} after"),
        ]);
    }
    let got: Vec<String> = kcat_consume(&env.plaintext, &KcatAuth::Plain, &topic, expected.len())
        .into_iter()
        .map(|m| m.payload.expect("payload"))
        .collect();
    assert_eq!(got.len(), expected.len());
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert!(
            g == e,
            "message {i}: {} bytes, expected {} bytes",
            g.len(),
            e.len()
        );
    }
}

/// A row of random text three times the limit stays over it compressed: `handle-key-only`
/// still reduces it, `none` stops with both sizes, and the producer refuses the full one.
#[tokio::test]
async fn an_incompressible_row_over_the_limit_still_gets_the_large_message_handling() {
    let env = kafka();
    let topic = small_topic("it_large_rand");
    let ev = event_with_body(random_text(3 * SMALL_TOPIC_LIMIT as usize));
    let enc = encoder();
    let full = full_message(&enc, &ev);
    for c in [Compression::Gzip, Compression::Zstd] {
        let (_topics, producer) = sink_to(&topic, c).await;
        let limit = producer.size_limit(&topic).await.expect("limit");
        let err = policy(LargeMessageOption::None, None)
            .fit(&enc, &TableCodec::NONE, &ev, full.clone(), limit)
            .await
            .expect_err("too large compressed");
        let LargeMessageError::TooLarge {
            size, compressed, ..
        } = &err
        else {
            panic!("{err}");
        };
        let compressed = compressed.expect("measured compressed");
        assert_eq!(*size, full.length() as u64);
        assert!(
            compressed > limit.bytes && compressed < *size,
            "{c:?}: {compressed} of {size}"
        );
        assert!(
            err.to_string().contains(&format!(
                "is {size} bytes encoded ({compressed} bytes as a compressed record batch), above the limit of 19872 bytes"
            )),
            "{err}"
        );
        let refused = producer
            .send(&topic, 0, Message::from_record(full.clone(), None))
            .await
            .expect_err("too large for the producer");
        assert!(
            matches!(
                refused,
                KafkaError::MessageTooLarge { compressed: Some(c), limit: 19_872, .. } if c == compressed
            ),
            "{refused}"
        );
        let reduced = policy(LargeMessageOption::HandleKeyOnly, None)
            .fit(&enc, &TableCodec::NONE, &ev, full.clone(), limit)
            .await
            .expect("reduced");
        send(&producer, &topic, reduced).await;
    }
    let got = kcat_consume(&env.plaintext, &KcatAuth::Plain, &topic, 2);
    assert_eq!(got.len(), 2);
    for m in got {
        let v: serde_json::Value =
            serde_json::from_str(m.payload.as_deref().expect("payload")).expect("json");
        assert_eq!(v["data"], serde_json::json!([{"id": "7"}]));
        assert_eq!(v["_tidb"]["onlyHandleKey"], true);
    }
}

/// Without compression nothing changes: the compressible row is checked uncompressed,
/// reduced under `handle-key-only`, and the producer refuses it whole.
#[tokio::test]
async fn without_compression_a_row_over_the_limit_is_reduced_as_before() {
    let env = kafka();
    let topic = small_topic("it_large_plain");
    let ev = event(100_000);
    let enc = encoder();
    let full = full_message(&enc, &ev);
    let (_topics, producer) = sink_to(&topic, Compression::NoCompression).await;
    let limit = producer.size_limit(&topic).await.expect("limit");
    assert_eq!(limit, SizeLimit::uncompressed(SMALL_TOPIC_LIMIT - 128));
    let err = policy(LargeMessageOption::None, None)
        .fit(&enc, &TableCodec::NONE, &ev, full.clone(), limit)
        .await
        .expect_err("too large");
    assert!(
        matches!(
            err,
            LargeMessageError::TooLarge {
                compressed: None,
                ..
            }
        ),
        "{err}"
    );
    let refused = producer
        .send(&topic, 0, Message::from_record(full.clone(), None))
        .await
        .expect_err("too large for the producer");
    assert!(
        matches!(
            refused,
            KafkaError::MessageTooLarge {
                compressed: None,
                limit: 19_872,
                ..
            }
        ),
        "{refused}"
    );
    let reduced = policy(LargeMessageOption::HandleKeyOnly, None)
        .fit(&enc, &TableCodec::NONE, &ev, full, limit)
        .await
        .expect("reduced");
    send(&producer, &topic, reduced).await;
    let got = kcat_consume(&env.plaintext, &KcatAuth::Plain, &topic, 1);
    let v: serde_json::Value =
        serde_json::from_str(got[0].payload.as_deref().expect("payload")).expect("json");
    assert_eq!(v["_tidb"]["onlyHandleKey"], true);
}
