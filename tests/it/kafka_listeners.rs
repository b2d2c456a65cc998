//! rskafka through every listener of the real broker — plaintext, SASL PLAIN,
//! SCRAM-SHA-256, SCRAM-SHA-512, TLS with the test CA, mutual TLS, SASL over TLS — with a
//! different compression codec each time, read back by an independent consumer on the same
//! listener: kcat, or the JVM's console consumer for SCRAM (Debian's kcat, on librdkafka
//! 2.0.2, cannot log in with SCRAM to Kafka 4.x). A wrong password must fail fast with an
//! authentication error.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::record::Record;
use tidb_changefeed::config::SaslMechanism;
use tidb_changefeed::sink::kafka::{ConnectOptions, ErrorKind, KafkaError, connect};

use crate::kafka_env::{
    KcatAuth, create_topic, jvm_consume, jvm_sasl_properties, kafka, kcat_consume,
};
use crate::support::unique;

fn records(tag: &str) -> Vec<Record> {
    (0..3)
        .map(|i| Record {
            key: Some(format!("{tag}-key-{i}").into_bytes()),
            value: Some(format!("{{\"listener\":\"{tag}\",\"n\":{i}}}").into_bytes()),
            headers: BTreeMap::from([("source".to_string(), b"tidb-changefeed".to_vec())]),
            timestamp: rskafka::chrono::Utc::now(),
        })
        .collect()
}

/// The independent consumer that reads a listener back.
enum Reader {
    Kcat(KcatAuth),
    Jvm(Vec<(&'static str, String)>),
}

async fn round_trip(tag: &str, opts: ConnectOptions<'_>, compression: Compression, reader: Reader) {
    let topic = unique(&format!("it_listener_{tag}"));
    create_topic(&topic, 1).await;
    let broker = opts.brokers[0].clone();
    let client = connect(&opts)
        .await
        .unwrap_or_else(|e| panic!("{tag}: connect failed: {e}"))
        .client;
    let partition = client
        .partition_client(topic.clone(), 0, UnknownTopicHandling::Retry)
        .await
        .unwrap_or_else(|e| panic!("{tag}: partition client: {e}"));
    let offsets = partition
        .produce(records(tag), compression)
        .await
        .unwrap_or_else(|e| panic!("{tag}: produce failed: {e}"));
    assert_eq!(offsets, vec![0, 1, 2], "{tag}");

    let got = match &reader {
        Reader::Kcat(auth) => kcat_consume(&broker, auth, &topic, 3),
        Reader::Jvm(props) => jvm_consume(&broker, props, &topic, 3),
    };
    assert_eq!(got.len(), 3, "{tag}: the consumer read {got:?}");
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.topic, topic);
        assert_eq!(m.offset, i as i64);
        assert_eq!(m.key.as_deref(), Some(format!("{tag}-key-{i}").as_str()));
        assert_eq!(
            m.payload.as_deref(),
            Some(format!("{{\"listener\":\"{tag}\",\"n\":{i}}}").as_str())
        );
        assert_eq!(
            m.headers.as_deref(),
            Some(&["source".to_string(), "tidb-changefeed".to_string()][..]),
            "{tag}"
        );
    }
}

/// kcat as the admin user (PLAIN works with Debian's kcat; SCRAM does not).
fn kcat_admin(protocol: &'static str, mechanism: SaslMechanism) -> Reader {
    let env = kafka();
    Reader::Kcat(KcatAuth::Sasl {
        protocol,
        mechanism,
        user: env.admin_user.clone(),
        password: env.admin_password.clone(),
    })
}

/// The JVM's console consumer as the admin user.
fn jvm_admin(protocol: &str, mechanism: SaslMechanism) -> Reader {
    let env = kafka();
    Reader::Jvm(jvm_sasl_properties(
        protocol,
        mechanism,
        &env.admin_user,
        &env.admin_password,
    ))
}

#[tokio::test]
async fn plaintext() {
    let env = kafka();
    let brokers = vec![env.plaintext.clone()];
    round_trip(
        "plaintext",
        ConnectOptions::plain(&brokers),
        Compression::NoCompression,
        Reader::Kcat(KcatAuth::Plain),
    )
    .await;
}

#[tokio::test]
async fn sasl_plain() {
    let env = kafka();
    let brokers = vec![env.sasl_plaintext.clone()];
    let opts = ConnectOptions::plain(&brokers).with_sasl(
        SaslMechanism::Plain,
        &env.admin_user,
        &env.admin_password,
    );
    round_trip(
        "sasl_plain",
        opts,
        Compression::Gzip,
        kcat_admin("SASL_PLAINTEXT", SaslMechanism::Plain),
    )
    .await;
}

#[tokio::test]
async fn sasl_scram_sha_256() {
    let env = kafka();
    let brokers = vec![env.sasl_plaintext.clone()];
    let opts = ConnectOptions::plain(&brokers).with_sasl(
        SaslMechanism::ScramSha256,
        &env.admin_user,
        &env.admin_password,
    );
    round_trip(
        "scram256",
        opts,
        Compression::Lz4,
        jvm_admin("SASL_PLAINTEXT", SaslMechanism::ScramSha256),
    )
    .await;
}

#[tokio::test]
async fn sasl_scram_sha_512() {
    let env = kafka();
    let brokers = vec![env.sasl_plaintext.clone()];
    let opts = ConnectOptions::plain(&brokers).with_sasl(
        SaslMechanism::ScramSha512,
        &env.admin_user,
        &env.admin_password,
    );
    round_trip(
        "scram512",
        opts,
        Compression::Snappy,
        jvm_admin("SASL_PLAINTEXT", SaslMechanism::ScramSha512),
    )
    .await;
}

#[tokio::test]
async fn tls_with_the_test_ca() {
    let env = kafka();
    let brokers = vec![env.ssl.clone()];
    let opts = ConnectOptions::plain(&brokers).with_tls(Some(&env.ca_file));
    round_trip(
        "tls",
        opts,
        Compression::Zstd,
        Reader::Kcat(KcatAuth::Tls { client_cert: false }),
    )
    .await;
}

#[tokio::test]
async fn mutual_tls() {
    let env = kafka();
    let brokers = vec![env.ssl.clone()];
    let opts = ConnectOptions::plain(&brokers)
        .with_tls(Some(&env.ca_file))
        .with_client_cert(&env.client_cert, &env.client_key);
    round_trip(
        "mtls",
        opts,
        Compression::Gzip,
        Reader::Kcat(KcatAuth::Tls { client_cert: true }),
    )
    .await;
}

#[tokio::test]
async fn sasl_over_tls() {
    let env = kafka();
    let brokers = vec![env.sasl_ssl.clone()];
    let opts = ConnectOptions::plain(&brokers)
        .with_tls(Some(&env.ca_file))
        .with_sasl(
            SaslMechanism::ScramSha512,
            &env.admin_user,
            &env.admin_password,
        );
    round_trip(
        "sasl_ssl",
        opts,
        Compression::Lz4,
        jvm_admin("SASL_SSL", SaslMechanism::ScramSha512),
    )
    .await;
}

#[tokio::test]
async fn wrong_password_fails_fast_with_an_authentication_error() {
    let env = kafka();
    let brokers = vec![env.sasl_plaintext.clone()];
    for mechanism in [
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
        SaslMechanism::ScramSha512,
    ] {
        let mut opts =
            ConnectOptions::plain(&brokers).with_sasl(mechanism, &env.user, "not-the-password");
        opts.dial_timeout = Duration::from_secs(5);
        let started = Instant::now();
        let err = connect(&opts)
            .await
            .expect_err("a wrong password must not connect");
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(10),
            "{mechanism:?}: took {took:?}"
        );
        assert!(
            matches!(err, KafkaError::Authentication { .. }),
            "{mechanism:?}: {err}"
        );
        assert_eq!(err.kind(), ErrorKind::Operator);
        let text = err.to_string();
        assert!(
            text.contains(mechanism.name()) && text.contains(&env.user),
            "{text}"
        );
    }
}

#[tokio::test]
async fn tls_without_the_ca_is_refused_with_a_certificate_error() {
    let env = kafka();
    let brokers = vec![env.ssl.clone()];
    let mut opts = ConnectOptions::plain(&brokers).with_tls(None);
    opts.dial_timeout = Duration::from_secs(5);
    let err = connect(&opts)
        .await
        .expect_err("the test CA is not a system root");
    assert!(matches!(err, KafkaError::TlsHandshake { .. }), "{err}");
}

#[tokio::test]
async fn insecure_skip_verify_connects_without_the_ca() {
    let env = kafka();
    let brokers = vec![env.ssl.clone()];
    let mut opts = ConnectOptions::plain(&brokers).with_tls(None);
    if let Some(t) = opts.tls.as_mut() {
        t.insecure_skip_verify = true;
    }
    round_trip(
        "insecure",
        opts,
        Compression::NoCompression,
        Reader::Kcat(KcatAuth::Tls { client_cert: false }),
    )
    .await;
}
