//! The real schema registry and the independent consumers of the test bed, for tests that
//! check what we write with code nobody here wrote.
//!
//! - [`registry`]: the Apicurio Registry instances `scripts/registry.sh start` runs (an open
//!   one and one behind HTTP basic auth), found through the variables `scripts/registry.sh env`
//!   exports or its env file. It panics with the command that starts them when they are not
//!   configured or do not answer: a test never skips.
//! - [`http`] / [`register_schema`]: a minimal HTTP/1.1 client on `std::net` (one request per
//!   connection), enough to drive the registry's Confluent API.
//! - [`consume_avro`]: runs `tests/consumers/consume.py --format avro` (confluent-kafka's
//!   consumer and Confluent Avro deserializer) with the venv python that
//!   `tests/consumers/setup.sh` installs, and returns its records as JSON values.
//! - [`consume_debezium`] / [`consume_debezium_with`]: runs `consume.py --format
//!   debezium-json`, which hands over to the JVM consumer in `tests/consumers/jvm` (Kafka
//!   Connect's `JsonConverter` on key and value, Flink's `debezium-json` format on the value;
//!   `tests/consumers/setup-jvm.sh` fetches and compiles it when needed).
//! - [`consume_open`]: runs `consume.py --format open-protocol`, a plain-Python decoder of
//!   TiCDC's Open Protocol written from its public documentation, and returns one JSON value
//!   per event (a record holds a batch of events).
//!
//! The tests here prove the chains: a schema registered by HTTP, a Confluent-framed Avro
//! record produced with rskafka, decoded by the independent consumer; two hand-written
//! Debezium JSON records (TiCDC's envelope) decoded by Kafka Connect and by Flink; hand-built
//! Open Protocol batches decoded event by event, and a bad one refused with its offset. They
//! also run the Open Protocol decoder's own unit tests (`tests/consumers/test_open_protocol.py`).

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::record::Record;
use serde_json::{Value, json};

use crate::kafka_env::{admin_client, create_topic, kafka};
use crate::support::unique;

const HOW: &str =
    "start it with `scripts/registry.sh start` (or run the whole suite with `scripts/test`)";
const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// One registry instance: its Confluent API base URL (`…/apis/ccompat/v7`) and credentials.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub credentials: Option<(String, String)>,
}

impl Endpoint {
    /// The same instance with other credentials (e.g. a wrong password, for 401 checks).
    pub fn with_credentials(&self, user: &str, password: &str) -> Endpoint {
        Endpoint {
            url: self.url.clone(),
            credentials: Some((user.to_string(), password.to_string())),
        }
    }

    /// The same instance without credentials.
    pub fn anonymous(&self) -> Endpoint {
        Endpoint {
            url: self.url.clone(),
            credentials: None,
        }
    }
}

/// The test bed's registries, as `scripts/registry.sh env` describes them.
#[derive(Debug, Clone)]
pub struct Registry {
    /// `SCHEMA_REGISTRY_URL`: no authentication.
    pub url: String,
    /// `SCHEMA_REGISTRY_AUTH_URL`: HTTP basic auth.
    pub auth_url: String,
    /// `SCHEMA_REGISTRY_USER` / `SCHEMA_REGISTRY_PASSWORD`: may read and write on `auth_url`.
    pub user: String,
    pub password: String,
}

impl Registry {
    /// The open instance.
    pub fn open(&self) -> Endpoint {
        Endpoint {
            url: self.url.clone(),
            credentials: None,
        }
    }

    /// The basic-auth instance, with the user that may write.
    pub fn authenticated(&self) -> Endpoint {
        Endpoint {
            url: self.auth_url.clone(),
            credentials: Some((self.user.clone(), self.password.clone())),
        }
    }
}

fn read_env_file() -> HashMap<String, String> {
    crate::support::script_env_file("REGISTRY_IT_DIR", "/tmp/tidb-changefeed-registry")
}

/// The registries' settings; panics with instructions when they are not configured or an
/// instance does not answer `GET /subjects` with 200.
pub fn registry() -> Registry {
    static REG: OnceLock<Registry> = OnceLock::new();
    REG.get_or_init(|| {
        let file = read_env_file();
        let get = |k: &str| -> String {
            std::env::var(k)
                .ok()
                .or_else(|| file.get(k).cloned())
                .unwrap_or_else(|| {
                    panic!("the test schema registry is not configured ({k} is unset): {HOW}")
                })
        };
        let reg = Registry {
            url: get("SCHEMA_REGISTRY_URL"),
            auth_url: get("SCHEMA_REGISTRY_AUTH_URL"),
            user: get("SCHEMA_REGISTRY_USER"),
            password: get("SCHEMA_REGISTRY_PASSWORD"),
        };
        for ep in [reg.open(), reg.authenticated()] {
            match http(&ep, "GET", "/subjects", None) {
                Ok(r) if r.status == 200 => {}
                Ok(r) => panic!(
                    "the test schema registry at {} answers GET /subjects with {} {}: {HOW}",
                    ep.url, r.status, r.body
                ),
                Err(e) => panic!(
                    "the test schema registry at {} does not answer ({e}): {HOW}",
                    ep.url
                ),
            }
        }
        reg
    })
    .clone()
}

/// An HTTP answer: status code and body text.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

impl HttpResponse {
    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("registry answer is not JSON ({e}): {}", self.body))
    }
}

/// Sends one HTTP/1.1 request to `endpoint.url` + `path` (with basic auth when the endpoint
/// has credentials, and the Confluent content type when there is a body).
pub fn http(
    endpoint: &Endpoint,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> std::io::Result<HttpResponse> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let rest = endpoint
        .url
        .strip_prefix("http://")
        .ok_or_else(|| invalid(format!("not an http:// URL: {}", endpoint.url)))?;
    let (authority, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let mut stream = TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!(
        "{method} {prefix}{path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\
         Accept: application/json\r\n"
    );
    if let Some((user, password)) = &endpoint.credentials {
        req.push_str(&format!(
            "Authorization: Basic {}\r\n",
            base64(format!("{user}:{password}").as_bytes())
        ));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" || method == "PUT" {
        req.push_str(&format!(
            "Content-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw).map_err(invalid)
}

fn parse_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers in the answer")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let chunked = lines.any(|l| {
        l.to_ascii_lowercase()
            .replace(' ', "")
            .starts_with("transfer-encoding:chunked")
    });
    let rest = &raw[split + 4..];
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|e| format!("bad chunk size {size_hex:?}: {e}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = rest.get(..size).ok_or("truncated chunk")?;
        out.extend_from_slice(chunk);
        rest = rest.get(size + 2..).ok_or("truncated chunk end")?;
    }
}

fn base64(input: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Registers `schema` (Avro schema JSON text) under `subject` with
/// `POST /subjects/<subject>/versions`; `Ok(id)` on 200, `Err(answer)` otherwise.
pub fn register_schema(
    endpoint: &Endpoint,
    subject: &str,
    schema: &str,
) -> Result<u32, HttpResponse> {
    let body = json!({ "schema": schema }).to_string();
    let r = http(
        endpoint,
        "POST",
        &format!("/subjects/{subject}/versions"),
        Some(&body),
    )
    .unwrap_or_else(|e| panic!("POST to the registry at {} failed: {e}", endpoint.url));
    if r.status != 200 {
        return Err(r);
    }
    let id = r.json()["id"]
        .as_u64()
        .and_then(|id| u32::try_from(id).ok())
        .unwrap_or_else(|| panic!("registry answer has no id: {}", r.body));
    Ok(id)
}

fn cache_root() -> PathBuf {
    std::env::var_os("TIDB_CHANGEFEED_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
            Path::new(&home).join(".cache/tidb-changefeed")
        })
}

/// The python of the consumers' venv: `TIDB_CHANGEFEED_CONSUMER_PYTHON`, else the venv that
/// `tests/consumers/setup.sh` makes in the cache; panics with instructions when neither exists.
pub fn consumer_python() -> PathBuf {
    if let Some(p) = std::env::var_os("TIDB_CHANGEFEED_CONSUMER_PYTHON") {
        return PathBuf::from(p);
    }
    let p = cache_root().join("consumers-venv/bin/python");
    assert!(
        p.exists(),
        "the independent consumers are not installed (TIDB_CHANGEFEED_CONSUMER_PYTHON is unset \
         and {} does not exist): run `tests/consumers/setup.sh` (or the whole suite with \
         `scripts/test`)",
        p.display()
    );
    p
}

fn consume_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/consumers/consume.py")
}

/// Reads `expect` records of `topic` (all partitions, from the beginning) through `bootstrap`
/// with the independent Avro consumer, schemas from `registry`. Each record is
/// `{"partition","offset","key","value","key_schema_id","value_schema_id"}` (see consume.py),
/// sorted by partition and offset. Panics with the consumer's stderr when it fails (a decode
/// error names the offset) or reads fewer than `expect` records within 30 s.
pub fn consume_avro(
    bootstrap: &str,
    topic: &str,
    expect: usize,
    registry: &Endpoint,
) -> Vec<Value> {
    let mut cmd = Command::new(consumer_python());
    cmd.arg(consume_script())
        .args([
            "--format",
            "avro",
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
        ])
        .args(["--registry", &registry.url])
        .args(["--expect", &expect.to_string(), "--timeout", "30"]);
    if let Some((user, password)) = &registry.credentials {
        cmd.args(["--registry-user", user, "--registry-password", password]);
    }
    run_consumer(cmd, "Avro", topic)
}

/// Runs one consume.py command; its stdout lines as JSON values. Panics with the consumer's
/// stderr (and stdout) when it fails.
fn run_consumer(mut cmd: Command, what: &str, topic: &str) -> Vec<Value> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run the independent consumer ({cmd:?}): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the independent {what} consumer failed on topic {topic} ({}): {}\nstdout:\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("consumer line is not JSON ({e}): {l}"))
        })
        .collect()
}

/// How the JVM consumer reads Debezium JSON records.
#[derive(Debug, Clone, Copy)]
pub struct DebeziumReading<'a> {
    /// The table for Flink's `debezium-json`, `"name:TYPE,..."` in Flink SQL types (e.g.
    /// `"id:BIGINT NOT NULL,d:INT,s:STRING"`); `None` skips Flink (`"flink"` is null).
    pub flink_columns: Option<&'a str>,
    /// `JsonConverter`'s `schemas.enable` (the `{"schema","payload"}` envelope) on key and value.
    pub connect_schemas: bool,
    /// Flink's `debezium-json.schema-include`: the row change is read under `"payload"`.
    pub flink_schema_include: bool,
    /// A record Flink rejects is data, not a failure of the run: its `"flink"` is null and
    /// `"flink_error"` holds the exception chain on one line (`"Type: message; caused by
    /// Type: message"`). Connect failures still fail the run.
    pub flink_errors_as_data: bool,
    /// Which of Flink's formats decodes the value.
    pub flink_format: FlinkFormat,
}

/// Flink's JSON changelog formats the JVM consumer can run (tests/consumers/jvm/FlinkView.java).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlinkFormat {
    /// `'format' = 'debezium-json'` (`DebeziumJsonDeserializationSchema`).
    DebeziumJson,
    /// `'format' = 'canal-json'` (`CanalJsonDeserializationSchema`); Connect then reads the
    /// value as a schemaless map.
    CanalJson,
}

/// Reads `expect` records of `topic` (all partitions, from the beginning) through `bootstrap`
/// with the JVM consumer: Kafka Connect's `JsonConverter` with `schemas.enable` =
/// `schema_included` on key and value, and Flink's `debezium-json` with `schema-include` =
/// `schema_included` for the table `flink_columns` (see [`DebeziumReading`]). Each record is
/// `{"partition","offset","connect_key","connect_value","flink"}`, sorted by partition and
/// offset: `connect_*` is the Connect data rendered with its schema (type, logical name,
/// version, parameters, default, Java class and value of every field;
/// `tests/consumers/jvm/ConnectView.java`), null for a missing key or a tombstone; `flink` the
/// rows Flink emits, `[{"kind":"+I|-U|+U|-D","fields":[...]}]` (`FlinkView.java`). Panics with
/// the consumer's stderr when it fails (a record Connect or Flink rejects names its offset and
/// the decoder) or reads fewer than `expect` records within 30 s.
pub fn consume_debezium(
    bootstrap: &str,
    topic: &str,
    expect: usize,
    flink_columns: &str,
    schema_included: bool,
) -> Vec<Value> {
    consume_debezium_with(
        bootstrap,
        topic,
        expect,
        DebeziumReading {
            flink_columns: Some(flink_columns),
            connect_schemas: schema_included,
            flink_schema_include: schema_included,
            flink_errors_as_data: false,
            flink_format: FlinkFormat::DebeziumJson,
        },
    )
}

/// [`consume_debezium`] with Connect's and Flink's settings chosen apart (TiCDC keeps the
/// `"payload"` wrapper when `debezium-disable-schema` drops the schema, which Flink reads only
/// with `schema-include=true`), and optionally Flink's refusals as data (see
/// [`DebeziumReading::flink_errors_as_data`]).
pub fn consume_debezium_with(
    bootstrap: &str,
    topic: &str,
    expect: usize,
    reading: DebeziumReading<'_>,
) -> Vec<Value> {
    let mut cmd = Command::new(consumer_python());
    cmd.arg(consume_script())
        .args([
            "--format",
            match reading.flink_format {
                FlinkFormat::DebeziumJson => "debezium-json",
                FlinkFormat::CanalJson => "canal-json",
            },
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
        ])
        .args(["--expect", &expect.to_string(), "--timeout", "30"])
        .args([
            "--flink-schema-include",
            if reading.flink_schema_include {
                "true"
            } else {
                "false"
            },
        ]);
    if !reading.connect_schemas {
        cmd.arg("--no-schema");
    }
    if reading.flink_errors_as_data {
        cmd.arg("--flink-errors-as-data");
    }
    if let Some(columns) = reading.flink_columns {
        cmd.args(["--flink-columns", columns]);
    }
    run_consumer(cmd, "Debezium JSON (JVM)", topic)
}

/// The consume.py command that reads `topic` as TiCDC Open Protocol (see [`consume_open`]).
fn open_command(bootstrap: &str, topic: &str, expect: Option<usize>) -> Command {
    let mut cmd = Command::new(consumer_python());
    cmd.arg(consume_script())
        .args([
            "--format",
            "open-protocol",
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
        ])
        .args(["--timeout", "30"]);
    if let Some(n) = expect {
        cmd.args(["--expect", &n.to_string()]);
    }
    cmd
}

/// Reads `topic` (all partitions, from the beginning) through `bootstrap` with the independent
/// Open Protocol decoder (`consume.py --format open-protocol`): until at least `expect`
/// events, or with `None` to the end of every partition. One value per EVENT,
/// `{"partition","offset","index","batch_size","key","value"}` (`index` its place in the
/// record's batch of `batch_size` events, `key` the event key JSON, `value` the event value
/// JSON or null for a resolved event), sorted by partition, offset and index. Panics with the
/// consumer's stderr when a record is not valid Open Protocol (the message names topic,
/// partition and offset) or fewer events arrive within 30 s.
pub fn consume_open(bootstrap: &str, topic: &str, expect: Option<usize>) -> Vec<Value> {
    run_consumer(
        open_command(bootstrap, topic, expect),
        "Open Protocol",
        topic,
    )
}

// ---------------------------------------------------------------------------------------------
// The chain, by hand: registry over HTTP, Avro binary written here, rskafka, the independent
// consumer.

/// Avro's zig-zag varint `long`.
fn avro_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn avro_bytes(out: &mut Vec<u8>, b: &[u8]) {
    avro_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

/// The Confluent wire format: magic byte 0, the schema id big-endian, the Avro body.
fn framed(schema_id: u32, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&schema_id.to_be_bytes());
    out.extend_from_slice(body);
    out
}

const KEY_SCHEMA: &str = r#"{"type":"record","name":"k","namespace":"default.it","fields":[{"name":"id","type":"long"}]}"#;
const VALUE_SCHEMA: &str = r#"{"type":"record","name":"t","namespace":"default.it","fields":[{"name":"id","type":"long"},{"name":"name","type":["null","string"],"default":null},{"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":3}},{"name":"raw","type":"bytes"}]}"#;

#[tokio::test]
async fn a_framed_avro_record_is_decoded_by_the_independent_consumer() {
    let reg = registry();
    let open = reg.open();
    let topic = unique("it_consumers_avro");

    // The basic-auth instance refuses a wrong password, as the fault tests will need.
    let denied = http(
        &reg.authenticated()
            .with_credentials(&reg.user, "wrong-password"),
        "GET",
        "/subjects",
        None,
    )
    .expect("GET on the auth registry");
    assert_eq!(denied.status, 401, "wrong password: {}", denied.body);

    let key_id = register_schema(&open, &format!("{topic}-key"), KEY_SCHEMA)
        .unwrap_or_else(|r| panic!("register key schema: {} {}", r.status, r.body));
    let value_id = register_schema(&open, &format!("{topic}-value"), VALUE_SCHEMA)
        .unwrap_or_else(|r| panic!("register value schema: {} {}", r.status, r.body));
    assert_ne!(key_id, value_id);

    let mut key = Vec::new();
    avro_long(&mut key, -7);
    let mut value = Vec::new();
    avro_long(&mut value, -7); // id
    avro_long(&mut value, 1); // union branch 1: string
    avro_bytes(&mut value, "héllo".as_bytes());
    avro_bytes(&mut value, &(-12_340i16).to_be_bytes()); // decimal(10,3) -12.340
    avro_bytes(&mut value, &[0x00, 0xff]);

    create_topic(&topic, 1).await;
    let partition = admin_client()
        .await
        .partition_client(topic.clone(), 0, UnknownTopicHandling::Retry)
        .await
        .expect("partition client");
    let record = |value: Option<Vec<u8>>| Record {
        key: Some(framed(key_id, &key)),
        value,
        headers: BTreeMap::new(),
        timestamp: rskafka::chrono::Utc::now(),
    };
    let offsets = partition
        .produce(
            vec![record(Some(framed(value_id, &value))), record(None)],
            Compression::NoCompression,
        )
        .await
        .expect("produce");
    assert_eq!(offsets, vec![0, 1]);

    let got = consume_avro(&kafka().plaintext, &topic, 2, &open);
    assert_eq!(
        got,
        vec![
            json!({
                "partition": 0, "offset": 0,
                "key": {"id": -7},
                "value": {"id": -7, "name": "héllo", "price": "-12.340", "raw": "00ff"},
                "key_schema_id": key_id, "value_schema_id": value_id,
            }),
            json!({
                "partition": 0, "offset": 1,
                "key": {"id": -7},
                "value": null,
                "key_schema_id": key_id, "value_schema_id": null,
            }),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Debezium JSON, by hand: TiCDC's envelope (the shape of tiflow
// pkg/sink/codec/debezium/testdata/datatype.dbz.json and .key.json and codec_test.go's
// TestEncodeInsert/TestEncodeDelete: connector "TiCDC", commit_ts and cluster_id in source),
// produced with rskafka, read by Kafka Connect's JsonConverter and Flink's debezium-json.

fn dbz_field(ty: &str, optional: bool, field: &str) -> Value {
    json!({"type": ty, "optional": optional, "field": field})
}

/// The table test.foo (pk INT PRIMARY KEY, col_d DATE, col_varchar VARCHAR) as Debezium
/// columns; `col_d` carries Debezium's `io.debezium.time.Date` (int32 days since the epoch).
fn dbz_columns() -> Value {
    json!([
        dbz_field("int32", false, "pk"),
        {"type": "int32", "optional": true, "name": "io.debezium.time.Date", "version": 1, "field": "col_d"},
        dbz_field("string", true, "col_varchar"),
    ])
}

fn dbz_value_schema() -> Value {
    let value = |field: &str| {
        json!({"type": "struct", "optional": true, "name": "dbserver1.test.foo.Value",
               "field": field, "fields": dbz_columns()})
    };
    json!({
        "type": "struct", "optional": false, "name": "dbserver1.test.foo.Envelope", "version": 1,
        "fields": [
            value("before"),
            value("after"),
            {"type": "struct", "fields": [
                dbz_field("string", false, "version"),
                dbz_field("string", false, "connector"),
                dbz_field("string", false, "name"),
                dbz_field("int64", false, "ts_ms"),
                {"type": "string", "optional": true, "name": "io.debezium.data.Enum", "version": 1,
                 "parameters": {"allowed": "true,last,false,incremental"}, "default": "false",
                 "field": "snapshot"},
                dbz_field("string", false, "db"),
                dbz_field("string", true, "sequence"),
                dbz_field("string", true, "table"),
                dbz_field("int64", false, "server_id"),
                dbz_field("string", true, "gtid"),
                dbz_field("string", false, "file"),
                dbz_field("int64", false, "pos"),
                dbz_field("int32", false, "row"),
                dbz_field("int64", true, "thread"),
                dbz_field("string", true, "query"),
            ], "optional": false, "name": "io.debezium.connector.mysql.Source", "field": "source"},
            dbz_field("string", false, "op"),
            dbz_field("int64", true, "ts_ms"),
            {"type": "struct", "fields": [
                dbz_field("string", false, "id"),
                dbz_field("int64", false, "total_order"),
                dbz_field("int64", false, "data_collection_order"),
            ], "optional": true, "name": "event.block", "version": 1, "field": "transaction"},
        ]
    })
}

fn dbz_source() -> Value {
    json!({
        "version": "2.4.0.Final", "connector": "TiCDC", "name": "dbserver1",
        "ts_ms": 1701672687000_i64, "snapshot": "false", "db": "test", "table": "foo",
        "server_id": 0, "gtid": null, "file": "", "pos": 0, "row": 0, "thread": 0, "query": null,
        "commit_ts": 446266146443804673_u64, "cluster_id": "dbserver1"
    })
}

/// One Connect field as ConnectView renders it.
fn connect_field(ty: &str, name: Option<&str>, optional: bool, class: &str, value: Value) -> Value {
    let mut v = json!({"type": ty, "name": name, "optional": optional});
    if name.is_some() {
        v["version"] = json!(1);
    }
    v["class"] = json!(class);
    v["value"] = value;
    v
}

fn connect_row(pk: i32, days: i32, s: &str) -> Value {
    json!({
        "pk": connect_field("int32", None, false, "java.lang.Integer", json!(pk)),
        "col_d": connect_field("int32", Some("io.debezium.time.Date"), true, "java.lang.Integer", json!(days)),
        "col_varchar": connect_field("string", None, true, "java.lang.String", json!(s)),
    })
}

#[tokio::test]
async fn debezium_json_records_are_decoded_by_kafka_connect_and_flink() {
    let topic = unique("it_consumers_debezium");
    let row = json!({"pk": 1, "col_d": 19691, "col_varchar": "foo"}); // 2023-11-30
    let key = json!({
        "payload": {"pk": 1},
        "schema": {"type": "struct", "name": "dbserver1.test.foo.Key", "optional": false,
                   "fields": [dbz_field("int32", false, "pk")]}
    });
    let insert = json!({
        "payload": {"source": dbz_source(), "ts_ms": 1701672687217_i64, "transaction": null,
                    "op": "c", "before": null, "after": row},
        "schema": dbz_value_schema()
    });
    let delete = json!({
        "payload": {"source": dbz_source(), "ts_ms": 1701672687218_i64, "transaction": null,
                    "op": "d", "after": null, "before": row},
        "schema": dbz_value_schema()
    });

    create_topic(&topic, 1).await;
    let partition = admin_client()
        .await
        .partition_client(topic.clone(), 0, UnknownTopicHandling::Retry)
        .await
        .expect("partition client");
    let record = |value: &Value| Record {
        key: Some(key.to_string().into_bytes()),
        value: Some(value.to_string().into_bytes()),
        headers: BTreeMap::new(),
        timestamp: rskafka::chrono::Utc::now(),
    };
    let offsets = partition
        .produce(
            vec![record(&insert), record(&delete)],
            Compression::NoCompression,
        )
        .await
        .expect("produce");
    assert_eq!(offsets, vec![0, 1]);

    // Flink's debezium-json reads DATE only from ISO text; a Debezium Date column (int32 days)
    // is declared INT on the Flink side.
    let columns = "pk:INT NOT NULL,col_d:INT,col_varchar:STRING";
    let got = consume_debezium(&kafka().plaintext, &topic, 2, columns, true);
    assert_eq!(got.len(), 2, "{got:#?}");

    let connect_key = json!({
        "type": "struct", "name": "dbserver1.test.foo.Key", "optional": false,
        "class": "org.apache.kafka.connect.data.Struct",
        "value": {"pk": connect_field("int32", None, false, "java.lang.Integer", json!(1))},
    });
    let value_struct = |v: Value| {
        json!({"type": "struct", "name": "dbserver1.test.foo.Value", "optional": true,
               "class": if v.is_null() { Value::Null } else { json!("org.apache.kafka.connect.data.Struct") },
               "value": v})
    };
    for (rec, offset, op, before, after, kind) in [
        (
            &got[0],
            0,
            "c",
            Value::Null,
            connect_row(1, 19691, "foo"),
            "+I",
        ),
        (
            &got[1],
            1,
            "d",
            connect_row(1, 19691, "foo"),
            Value::Null,
            "-D",
        ),
    ] {
        assert_eq!(rec["partition"], json!(0), "{rec:#}");
        assert_eq!(rec["offset"], json!(offset), "{rec:#}");
        assert_eq!(rec["connect_key"], connect_key, "{rec:#}");
        let value = &rec["connect_value"];
        assert_eq!(value["type"], json!("struct"), "{value:#}");
        assert_eq!(
            value["name"],
            json!("dbserver1.test.foo.Envelope"),
            "{value:#}"
        );
        assert_eq!(value["version"], json!(1), "{value:#}");
        let fields = &value["value"];
        assert_eq!(fields["before"], value_struct(before), "{value:#}");
        assert_eq!(fields["after"], value_struct(after), "{value:#}");
        assert_eq!(fields["op"]["value"], json!(op), "{value:#}");
        assert_eq!(
            fields["source"]["name"],
            json!("io.debezium.connector.mysql.Source"),
            "{value:#}"
        );
        assert_eq!(
            fields["source"]["value"]["connector"]["value"],
            json!("TiCDC"),
            "{value:#}"
        );
        assert_eq!(
            fields["source"]["value"]["snapshot"],
            json!({"type": "string", "name": "io.debezium.data.Enum", "optional": true,
                   "version": 1, "parameters": {"allowed": "true,last,false,incremental"},
                   "default": "false", "class": "java.lang.String", "value": "false"}),
            "{value:#}"
        );
        assert_eq!(
            rec["flink"],
            json!([{"kind": kind, "fields": [1, 19691, "foo"]}]),
            "{rec:#}"
        );
    }

    // The same records read schemaless by Connect (a plain map holding "schema" and "payload")
    // and by Flink with schema-include=true give the same rows.
    let plain = consume_debezium_with(
        &kafka().plaintext,
        &topic,
        2,
        DebeziumReading {
            flink_columns: Some(columns),
            connect_schemas: false,
            flink_schema_include: true,
            flink_errors_as_data: false,
            flink_format: FlinkFormat::DebeziumJson,
        },
    );
    assert_eq!(plain.len(), 2, "{plain:#?}");
    for (rec, value, kind) in [(&plain[0], &insert, "+I"), (&plain[1], &delete, "-D")] {
        assert_eq!(rec["connect_key"]["type"], Value::Null, "{rec:#}");
        assert_eq!(rec["connect_key"]["value"], key, "{rec:#}");
        assert_eq!(rec["connect_value"]["value"], *value, "{rec:#}");
        assert_eq!(
            rec["flink"],
            json!([{"kind": kind, "fields": [1, 19691, "foo"]}]),
            "{rec:#}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// TiCDC Open Protocol, by hand: batches framed as the documentation's "Message format" says
// (version, then length-prefixed event keys; length-prefixed event values), with the events
// of its "Examples of the Event stream output", produced with rskafka and decoded by
// consume.py's open-protocol decoder.

/// The decoder's unit tests on hand-built bytes (tests/consumers/test_open_protocol.py).
#[test]
fn the_open_protocol_decoder_passes_its_unit_tests() {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/consumers/test_open_protocol.py");
    let out = Command::new(consumer_python())
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed ({}):\n{report}",
        script.display(),
        out.status
    );
    let ran = report
        .lines()
        .find_map(|l| {
            l.strip_prefix("Ran ")?
                .split_whitespace()
                .next()?
                .parse::<u32>()
                .ok()
        })
        .unwrap_or_else(|| panic!("no \"Ran N tests\" line:\n{report}"));
    assert!(ran >= 20, "only {ran} unit tests ran:\n{report}");
}

/// One Open Protocol record: key = version 1 then each event key framed by its 8-byte
/// big-endian length; value = each event value so framed (empty for a resolved event).
fn open_record(events: &[(&Value, Option<&Value>)]) -> Record {
    let mut key = 1i64.to_be_bytes().to_vec();
    let mut value = Vec::new();
    for (k, v) in events {
        let k = k.to_string().into_bytes();
        let v = v.map(|v| v.to_string().into_bytes()).unwrap_or_default();
        key.extend_from_slice(&(k.len() as i64).to_be_bytes());
        key.extend_from_slice(&k);
        value.extend_from_slice(&(v.len() as i64).to_be_bytes());
        value.extend_from_slice(&v);
    }
    Record {
        key: Some(key),
        value: Some(value),
        headers: BTreeMap::new(),
        timestamp: rskafka::chrono::Utc::now(),
    }
}

/// Produces `records` to partition `p` of `topic`; their offsets.
async fn produce_to(topic: &str, p: i32, records: Vec<Record>) -> Vec<i64> {
    admin_client()
        .await
        .partition_client(topic.to_string(), p, UnknownTopicHandling::Retry)
        .await
        .expect("partition client")
        .produce(records, Compression::NoCompression)
        .await
        .expect("produce")
}

#[tokio::test]
async fn open_protocol_batches_are_decoded_event_by_event() {
    let topic = unique("it_consumers_open");
    create_topic(&topic, 2).await;
    // The documentation's example: the CREATE TABLE broadcast with a resolved event to both
    // partitions, then rows (log 5, 7), an update with its old row, a delete, a resolved.
    let ddl_key = json!({"ts": 415508856908021766u64, "scm": "test", "tbl": "t1", "t": 2});
    let ddl = json!({"q": "CREATE TABLE test.t1(id int primary key, val varchar(16))", "t": 3});
    let resolved = json!({"ts": 415508856908021766u64, "t": 3});
    let row_key = json!({"ts": 415508878783938562u64, "scm": "test", "tbl": "t1", "t": 1});
    let col = |id: i64, val: &str| json!({"id": {"t": 3, "h": true, "f": 11, "v": id}, "val": {"t": 15, "f": 64, "v": val}});
    let insert_1 = json!({"u": col(1, "aa")});
    let insert_3 = json!({"u": col(3, "cc")});
    let update_3 = json!({"u": col(3, "dd"), "p": col(3, "cc")});
    let delete_1 = json!({"d": col(1, "aa")});
    let resolved_2 = json!({"ts": 415508881418485761u64, "t": 3});
    for p in 0..2 {
        let offsets = produce_to(
            &topic,
            p,
            vec![open_record(&[(&ddl_key, Some(&ddl)), (&resolved, None)])],
        )
        .await;
        assert_eq!(offsets, vec![0]);
    }
    let offsets = produce_to(
        &topic,
        0,
        vec![
            open_record(&[(&row_key, Some(&insert_1)), (&row_key, Some(&insert_3))]),
            open_record(&[
                (&row_key, Some(&update_3)),
                (&row_key, Some(&delete_1)),
                (&resolved_2, None),
            ]),
        ],
    )
    .await;
    assert_eq!(offsets, vec![1, 2]);

    let got = consume_open(&kafka().plaintext, &topic, None);
    let ev = |p: i32, offset: i64, index: usize, n: usize, key: &Value, value: Option<&Value>| {
        json!({"partition": p, "offset": offset, "index": index, "batch_size": n,
               "key": key, "value": value})
    };
    assert_eq!(
        got,
        vec![
            ev(0, 0, 0, 2, &ddl_key, Some(&ddl)),
            ev(0, 0, 1, 2, &resolved, None),
            ev(0, 1, 0, 2, &row_key, Some(&insert_1)),
            ev(0, 1, 1, 2, &row_key, Some(&insert_3)),
            ev(0, 2, 0, 3, &row_key, Some(&update_3)),
            ev(0, 2, 1, 3, &row_key, Some(&delete_1)),
            ev(0, 2, 2, 3, &resolved_2, None),
            ev(1, 0, 0, 2, &ddl_key, Some(&ddl)),
            ev(1, 0, 1, 2, &resolved, None),
        ]
    );

    // --expect counts events: 3 are reached inside the second record of partition 0 or
    // the first of partition 1, whichever is read first; either way at least 3 come back.
    let some = consume_open(&kafka().plaintext, &topic, Some(3));
    assert!(some.len() >= 3, "{some:#?}");
}

#[tokio::test]
async fn an_invalid_open_protocol_record_fails_the_run_naming_its_offset() {
    let topic = unique("it_consumers_open_bad");
    create_topic(&topic, 1).await;
    let resolved = json!({"ts": 1, "t": 3});
    let good = open_record(&[(&resolved, None)]);
    let mut bad = open_record(&[(&resolved, None)]);
    // Protocol version 2.
    if let Some(key) = bad.key.as_mut() {
        key[7] = 2;
    }
    let offsets = produce_to(&topic, 0, vec![good, bad]).await;
    assert_eq!(offsets, vec![0, 1]);

    let out = open_command(&kafka().plaintext, &topic, None)
        .output()
        .expect("the consumer runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot decode open-protocol record at topic {topic} partition 0 offset 1: \
             OpenProtocolError: protocol version 2, not 1"
        )),
        "{stderr}"
    );
}
