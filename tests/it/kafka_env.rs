//! The real Apache Kafka test broker that `scripts/kafka.sh start` runs, found through the
//! variables `scripts/kafka.sh env` exports (or its env file). A test that needs the broker
//! and cannot find or reach it fails with the command that starts it; it never skips.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use rskafka::client::Client;
use tidb_changefeed::config::SaslMechanism;
use tidb_changefeed::sink::kafka::{ConnectOptions, connect};

const HOW: &str =
    "start it with `scripts/kafka.sh start` (or run the whole suite with `scripts/test`)";

/// Addresses and credentials of the test broker.
#[derive(Debug, Clone)]
pub struct KafkaEnv {
    pub plaintext: String,
    pub sasl_plaintext: String,
    pub ssl: String,
    pub sasl_ssl: String,
    /// The DELAYED listener (plaintext) and the address it advertises, where a test's own
    /// proxy to it must listen.
    pub delayed: String,
    pub delayed_proxy: String,
    pub ca_file: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    pub admin_user: String,
    pub admin_password: String,
    pub user: String,
    pub password: String,
    pub libs: PathBuf,
    pub it_dir: PathBuf,
}

fn read_env_file() -> HashMap<String, String> {
    crate::support::script_env_file("KAFKA_IT_DIR", "/tmp/tidb-changefeed-kafka")
}

/// The broker's settings; panics with instructions when they are not there.
pub fn kafka() -> &'static KafkaEnv {
    static ENV: OnceLock<KafkaEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let file = read_env_file();
        let get = |k: &str| -> String {
            std::env::var(k)
                .ok()
                .or_else(|| file.get(k).cloned())
                .unwrap_or_else(|| {
                    panic!("the Kafka test broker is not configured ({k} is unset): {HOW}")
                })
        };
        let env = KafkaEnv {
            plaintext: get("KAFKA_PLAINTEXT"),
            sasl_plaintext: get("KAFKA_SASL_PLAINTEXT"),
            ssl: get("KAFKA_SSL"),
            sasl_ssl: get("KAFKA_SASL_SSL"),
            delayed: get("KAFKA_DELAYED"),
            delayed_proxy: get("KAFKA_DELAYED_PROXY"),
            ca_file: get("KAFKA_CA_FILE").into(),
            client_cert: get("KAFKA_CLIENT_CERT").into(),
            client_key: get("KAFKA_CLIENT_KEY").into(),
            admin_user: get("KAFKA_ADMIN_USER"),
            admin_password: get("KAFKA_ADMIN_PASSWORD"),
            user: get("KAFKA_USER"),
            password: get("KAFKA_PASSWORD"),
            libs: get("KAFKA_LIBS").into(),
            it_dir: get("KAFKA_IT_DIR").into(),
        };
        let reachable = std::net::TcpStream::connect_timeout(
            &env.plaintext
                .parse()
                .unwrap_or_else(|e| panic!("bad KAFKA_PLAINTEXT: {e}")),
            Duration::from_secs(3),
        );
        if let Err(e) = reachable {
            panic!(
                "the Kafka test broker at {} does not answer ({e}): {HOW}",
                env.plaintext
            );
        }
        env
    })
}

/// The kcat binary; panics with instructions when it is missing.
pub fn kcat() -> &'static str {
    static OK: OnceLock<()> = OnceLock::new();
    OK.get_or_init(|| {
        let found = Command::new("kcat")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "kcat is not installed: `scripts/kafka.sh start` installs it (apt-get install kcat)"
        );
    });
    "kcat"
}

/// An admin client on the PLAINTEXT listener (a super user there).
pub async fn admin_client() -> Client {
    let brokers = vec![kafka().plaintext.clone()];
    connect(&ConnectOptions::plain(&brokers))
        .await
        .unwrap_or_else(|e| panic!("admin connection to the test broker failed: {e}"))
        .client
}

/// Creates `topic` with `partitions` partitions through the admin client.
pub async fn create_topic(topic: &str, partitions: i32) {
    let admin = admin_client().await;
    admin
        .controller_client()
        .expect("controller client")
        .create_topic(topic, partitions, 1, 10_000)
        .await
        .unwrap_or_else(|e| panic!("create topic {topic}: {e}"));
}

/// kcat's `-X` security settings for one listener.
#[derive(Debug, Clone)]
pub enum KcatAuth {
    Plain,
    Sasl {
        protocol: &'static str,
        mechanism: SaslMechanism,
        user: String,
        password: String,
    },
    Tls {
        client_cert: bool,
    },
}

impl KcatAuth {
    fn args(&self) -> Vec<String> {
        let env = kafka();
        let x = |k: &str, v: &str| vec!["-X".to_string(), format!("{k}={v}")];
        match self {
            KcatAuth::Plain => vec![],
            KcatAuth::Sasl {
                protocol,
                mechanism,
                user,
                password,
            } => {
                let mut a = x("security.protocol", protocol);
                a.extend(x("sasl.mechanisms", mechanism.name()));
                a.extend(x("sasl.username", user));
                a.extend(x("sasl.password", password));
                if protocol.ends_with("SSL") {
                    a.extend(x("ssl.ca.location", &env.ca_file.display().to_string()));
                }
                a
            }
            KcatAuth::Tls { client_cert } => {
                let mut a = x("security.protocol", "SSL");
                a.extend(x("ssl.ca.location", &env.ca_file.display().to_string()));
                if *client_cert {
                    a.extend(x(
                        "ssl.certificate.location",
                        &env.client_cert.display().to_string(),
                    ));
                    a.extend(x("ssl.key.location", &env.client_key.display().to_string()));
                }
                a
            }
        }
    }
}

/// One message as kcat's `-J` prints it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct KcatMessage {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub payload: Option<String>,
    #[serde(default)]
    pub headers: Option<Vec<String>>,
}

/// Reads every message of `topic` (all partitions) with kcat through `broker`, expecting
/// `count` of them.
pub fn kcat_consume(broker: &str, auth: &KcatAuth, topic: &str, count: usize) -> Vec<KcatMessage> {
    let out = Command::new(kcat())
        .args([
            "-C",
            "-b",
            broker,
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-J",
            "-q",
        ])
        .args(["-c", &count.to_string(), "-m", "15"])
        .args(auth.args())
        .output()
        .expect("kcat runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kcat failed on {broker} ({auth:?}): {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("kcat line is not JSON ({e}): {l}"))
        })
        .collect()
}

/// Reads `count` messages of `topic` (all partitions) with the JVM's own Kafka consumer
/// (`kafka-console-consumer`) through `broker`, with `client_properties` (security settings
/// as a Java client takes them). Used where kcat cannot go: Debian's kcat (librdkafka 2.0.2)
/// fails SCRAM against Kafka 4.x (fixed in librdkafka 2.6.1).
pub fn jvm_consume(
    broker: &str,
    client_properties: &[(&str, String)],
    topic: &str,
    count: usize,
) -> Vec<KcatMessage> {
    let env = kafka();
    let dir = tempfile::tempdir().expect("tempdir");
    let props = dir.path().join("client.properties");
    let text: String = client_properties
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect();
    std::fs::write(&props, text).expect("write client properties");
    let out = Command::new("java")
        .arg("-cp")
        .arg(format!("{}/*", env.libs.display()))
        .arg("org.apache.kafka.tools.consumer.ConsoleConsumer")
        .args([
            "--bootstrap-server",
            broker,
            "--topic",
            topic,
            "--from-beginning",
        ])
        .args([
            "--max-messages",
            &count.to_string(),
            "--timeout-ms",
            "30000",
        ])
        .arg("--consumer.config")
        .arg(&props)
        .args([
            "--property",
            "print.partition=true",
            "--property",
            "print.offset=true",
        ])
        .args([
            "--property",
            "print.headers=true",
            "--property",
            "print.key=true",
        ])
        .output()
        .expect("java runs the console consumer");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the JVM consumer failed on {broker}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter(|l| l.starts_with("Partition:"))
        .map(|l| {
            let f: Vec<&str> = l.splitn(5, '\t').collect();
            assert_eq!(f.len(), 5, "unexpected console consumer line: {l}");
            let num = |s: &str, p: &str| -> i64 {
                s.strip_prefix(p)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("bad field {s:?} in {l}"))
            };
            let headers = if f[2] == "NO_HEADERS" {
                None
            } else {
                Some(
                    f[2].split(',')
                        .flat_map(|h| h.splitn(2, ':'))
                        .map(str::to_string)
                        .collect(),
                )
            };
            let text = |s: &str| (s != "null").then(|| s.to_string());
            KcatMessage {
                topic: topic.to_string(),
                partition: i32::try_from(num(f[0], "Partition:")).unwrap_or(-1),
                offset: num(f[1], "Offset:"),
                key: text(f[3]),
                payload: text(f[4]),
                headers,
            }
        })
        .collect()
}

/// Java client properties for a SASL login on the test broker.
pub fn jvm_sasl_properties(
    protocol: &str,
    mechanism: SaslMechanism,
    user: &str,
    password: &str,
) -> Vec<(&'static str, String)> {
    let module = match mechanism {
        SaslMechanism::Plain => "org.apache.kafka.common.security.plain.PlainLoginModule",
        _ => "org.apache.kafka.common.security.scram.ScramLoginModule",
    };
    let mut p = vec![
        ("security.protocol", protocol.to_string()),
        ("sasl.mechanism", mechanism.name().to_string()),
        (
            "sasl.jaas.config",
            format!("{module} required username=\"{user}\" password=\"{password}\";"),
        ),
    ];
    if protocol.ends_with("SSL") {
        p.push(("ssl.truststore.type", "PEM".to_string()));
        p.push((
            "ssl.truststore.location",
            kafka().ca_file.display().to_string(),
        ));
    }
    p
}
