//! One `[[changefeed]]`: what to replicate (start position, table filter, event filters,
//! column selectors) and where to (the sink). Setting names follow TiCDC's changefeed
//! configuration and Kafka sink parameters, in kebab-case, so an operator can port a
//! changefeed by copying its `[filter]`, `[sink]` and `[sink.kafka-config]` values.
//!
//! This module only describes the shape and the defaults; the rules between settings live
//! in [`super::validate`].

use std::fmt;
use std::path::PathBuf;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::protocol::Protocol;
use super::secret::Secret;
use super::units::{ByteSize, HumanDuration};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ChangefeedConfig {
    /// Changefeed id, as TiCDC's: letters and digits in groups joined by single dashes.
    pub id: String,
    /// Where to start when no checkpoint was saved yet: `"now"`, a TSO (integer), an
    /// RFC 3339 time such as `"2026-11-25T08:00:00Z"`, or `"2026-11-25 08:00:00"` in the
    /// changefeed's `time-zone` (`System`: the machine's zone). A saved checkpoint always wins.
    #[serde(default)]
    pub start_ts: StartPosition,
    /// Match schema, table, dispatcher and selector names case-sensitively.
    #[serde(default)]
    pub case_sensitive: bool,
    /// Tables with neither a primary key nor a NOT NULL unique key: unset = replicated with
    /// a warning (as TiDB Cloud does); `true` = replicated; `false` = skipped with a warning
    /// (TiCDC's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_replicate: Option<bool>,
    /// Time zone TIMESTAMP values are rendered in: `System`, `UTC`, an offset `+08:00` or an
    /// IANA name `Asia/Shanghai`.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// TiCDC's server `cluster-id`: Debezium messages carry it as `source.name` and
    /// `source.cluster_id` and start their schema names with it. Letters and digits in
    /// groups joined by single dashes, at most 128 characters.
    #[serde(default = "default_cluster_id")]
    pub cluster_id: String,
    /// TiCDC's `memory-quota`: the row data the changefeed holds in memory (sorter, jobs
    /// between the stages, messages queued for or in flight to Kafka). Beyond it the sorter
    /// spills to disk and the upstream streams are throttled. Default 1 GiB.
    #[serde(default = "default_memory_quota")]
    pub memory_quota: ByteSize,
    /// How long the sink may acknowledge nothing while messages wait for it before the
    /// changefeed is reported `retrying` (status API, `/readyz` 503, the state metric);
    /// it is reported `running` again at the next acknowledgement. Default 30 s.
    #[serde(default = "default_sink_stall_timeout")]
    pub sink_stall_timeout: HumanDuration,
    #[serde(default)]
    pub filter: FilterConfig,
    pub sink: SinkConfig,
}

impl ChangefeedConfig {
    /// The Kafka sink's settings when the sink type is `kafka` (and `kafka-config` is set);
    /// `None` for a `stdout` sink.
    pub fn kafka_sink(&self) -> Option<&KafkaConfig> {
        self.sink
            .kafka_config
            .as_ref()
            .filter(|_| self.sink.kind == SinkKind::Kafka)
    }
}

fn default_time_zone() -> String {
    "System".to_string()
}

/// The default `sink-stall-timeout`: three of Kafka's default `write-timeout`s.
pub fn default_sink_stall_timeout() -> HumanDuration {
    HumanDuration::secs(30)
}

/// TiCDC's default `memory-quota` (1 GiB).
pub fn default_memory_quota() -> ByteSize {
    ByteSize::mib(1024)
}

fn default_cluster_id() -> String {
    "default".to_string()
}

/// The configured start of a changefeed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StartPosition {
    #[default]
    Now,
    Tso(u64),
    /// Unix time in milliseconds, converted to a TSO with logical part 0.
    UnixMillis(i64),
    /// `YYYY-MM-DD HH:MM:SS[.fff]` without a zone: a wall-clock time in the changefeed's
    /// `time-zone`. Loading the configuration turns it into [`StartPosition::UnixMillis`]
    /// ([`StartPosition::in_zone`]); a caller that never resolved it reads it as UTC.
    LocalTime(chrono::NaiveDateTime),
}

impl StartPosition {
    /// Parses `"now"`, a TSO, an RFC 3339 time or a `YYYY-MM-DD HH:MM:SS` wall-clock time.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("now") {
            return Ok(StartPosition::Now);
        }
        if let Ok(tso) = text.parse::<u64>() {
            return Ok(StartPosition::Tso(tso));
        }
        if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
            return Ok(StartPosition::UnixMillis(t.timestamp_millis()));
        }
        for form in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S"] {
            if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, form) {
                return Ok(StartPosition::LocalTime(t));
            }
        }
        Err(format!(
            "invalid start-ts {text:?}: expected \"now\", a TSO, an RFC 3339 time such as \"2026-11-25T08:00:00+08:00\", or \"2026-11-25 08:00:00\" (in the changefeed's time-zone)"
        ))
    }

    /// This position with a wall-clock time resolved in `zone` (other forms unchanged).
    pub fn in_zone(self, zone: crate::mount::time::TimeZone) -> Result<Self, String> {
        match self {
            StartPosition::LocalTime(t) => {
                zone.local_to_unix_millis(t).map(StartPosition::UnixMillis)
            }
            other => Ok(other),
        }
    }

    /// The TSO this position names when it is not `now`: PD's layout, physical
    /// milliseconds shifted left by 18 bits (a wall-clock time read as UTC).
    pub fn fixed_tso(self) -> Option<u64> {
        let millis = |ms: i64| u64::try_from(ms).ok().map(|m| m << 18);
        match self {
            StartPosition::Now => None,
            StartPosition::Tso(t) => Some(t),
            StartPosition::UnixMillis(ms) => millis(ms),
            StartPosition::LocalTime(t) => millis(t.and_utc().timestamp_millis()),
        }
    }
}

impl fmt::Display for StartPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartPosition::Now => f.write_str("now"),
            StartPosition::Tso(t) => write!(f, "{t}"),
            StartPosition::UnixMillis(ms) => match chrono::DateTime::from_timestamp_millis(*ms) {
                Some(t) => write!(f, "{}", t.to_rfc3339()),
                None => write!(f, "{ms}ms"),
            },
            StartPosition::LocalTime(t) => write!(f, "{}", t.format("%Y-%m-%d %H:%M:%S%.f")),
        }
    }
}

impl Serialize for StartPosition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StartPosition::Tso(t) => s.serialize_u64(*t),
            other => s.collect_str(other),
        }
    }
}

impl<'de> Deserialize<'de> for StartPosition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = StartPosition;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"now\", a TSO, an RFC 3339 time or \"YYYY-MM-DD HH:MM:SS\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StartPosition, E> {
                u64::try_from(v)
                    .map(StartPosition::Tso)
                    .map_err(|_| E::custom("a TSO must not be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StartPosition, E> {
                Ok(StartPosition::Tso(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StartPosition, E> {
                StartPosition::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// TiCDC's `[filter]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FilterConfig {
    /// TiDB table-filter rules; the last matching rule decides.
    #[serde(default = "default_filter_rules")]
    pub rules: Vec<String>,
    /// Transactions with these start ts are dropped.
    #[serde(default)]
    pub ignore_txn_start_ts: Vec<u64>,
    #[serde(default)]
    pub event_filters: Vec<EventFilterRule>,
}

fn default_filter_rules() -> Vec<String> {
    vec!["*.*".to_string()]
}

impl Default for FilterConfig {
    fn default() -> Self {
        FilterConfig {
            rules: default_filter_rules(),
            ignore_txn_start_ts: Vec::new(),
            event_filters: Vec::new(),
        }
    }
}

/// TiCDC's `[[filter.event-filters]]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EventFilterRule {
    pub matcher: Vec<String>,
    /// Event kinds to drop: `all dml`, `all ddl`, `insert`, `update`, `delete`, or a DDL kind
    /// such as `create table`, `drop column`, `truncate table`.
    #[serde(default)]
    pub ignore_event: Vec<String>,
    /// Regular expressions; a DDL whose query matches one is dropped.
    #[serde(default)]
    pub ignore_sql: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_insert_value_expr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_update_new_value_expr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_update_old_value_expr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_delete_value_expr: Option<String>,
}

/// TiCDC's `[sink]`, with the Kafka parameters in `kafka-config`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SinkConfig {
    /// `kafka`, or `stdout` (encoded messages as lines, for debugging).
    #[serde(default, rename = "type")]
    pub kind: SinkKind,
    pub protocol: Protocol,
    /// Topic and partition rules, tried in order; the first whose matcher matches wins.
    #[serde(default)]
    pub dispatchers: Vec<DispatchRule>,
    /// Which columns to output per table; the first matching rule applies.
    #[serde(default)]
    pub column_selectors: Vec<ColumnSelector>,
    /// For DELETE events output only the handle-key columns.
    #[serde(default)]
    pub delete_only_output_handle_key_columns: bool,
    /// Confluent-compatible schema registry (`http(s)://[user:password@]host:port[/path]`),
    /// required by Avro (TiCDC's `[sink] schema-registry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry: Option<Secret>,
    /// PEM CA file for an `https://` schema registry signed by a private CA (default: the
    /// system roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_registry_ca: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_config: Option<KafkaConfig>,
    /// TiCDC's `[sink.debezium]`, for `protocol = "debezium"` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debezium: Option<DebeziumSinkConfig>,
    /// TiCDC's `[sink.open]`, for `protocol = "open-protocol"` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<OpenSinkConfig>,
}

/// TiCDC's `[sink.open]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OpenSinkConfig {
    /// UPDATE events carry the row before the change in `p`; `false` leaves `p` out.
    #[serde(default = "default_true")]
    pub output_old_value: bool,
}

impl Default for OpenSinkConfig {
    fn default() -> Self {
        OpenSinkConfig {
            output_old_value: true,
        }
    }
}

/// TiCDC's `[sink.debezium]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DebeziumSinkConfig {
    /// UPDATE messages carry the row before the change in `before`; `false` leaves the
    /// `before` key out.
    #[serde(default = "default_true")]
    pub output_old_value: bool,
    /// Messages as TiCDC's new architecture writes them (TiCDC's `newarch` server switch):
    /// schema-change messages for DDLs, and with `enable-tidb-extension` watermark messages
    /// and `tidb_type` in column schemas. `false` (default): TiCDC classic v8.5.
    #[serde(default)]
    pub newarch: bool,
}

impl Default for DebeziumSinkConfig {
    fn default() -> Self {
        DebeziumSinkConfig {
            output_old_value: true,
            newarch: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SinkKind {
    #[default]
    Kafka,
    Stdout,
}

/// One `[[sink.dispatchers]]` rule.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DispatchRule {
    pub matcher: Vec<String>,
    /// Topic expression: empty for the default topic, a name, or a pattern with `{schema}`
    /// and `{table}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// `default`, `table`, `index-value` (alias `rowid`), `ts` or `columns`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    /// Deprecated alias of `partition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatcher: Option<String>,
    /// With `partition = "index-value"`: the unique index whose values are hashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// With `partition = "columns"`: the columns whose values are hashed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
}

/// One `[[sink.column-selectors]]` rule.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ColumnSelector {
    pub matcher: Vec<String>,
    pub columns: Vec<String>,
}

/// TiCDC's Kafka sink parameters (`[sink.kafka-config]` and the sink-URI query), plus the
/// brokers and default topic that TiCDC takes from the sink URI.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    /// The default topic (the path of TiCDC's sink URI): rows of tables that no dispatcher
    /// routes elsewhere, DDL without a table, and watermarks.
    pub topic: String,
    /// Partitions of the default topic; unset means the topic's real count (3 on creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_num: Option<i32>,
    /// Replication factor of topics the daemon creates.
    #[serde(default = "default_replication_factor")]
    pub replication_factor: i16,
    /// Largest message the daemon sends; lowered to what the topic or broker accepts.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: ByteSize,
    /// How many times a failed produce request is retried before the changefeed stops.
    #[serde(default = "default_max_retry")]
    pub max_retry: u32,
    #[serde(default)]
    pub compression: Compression,
    /// Kafka client id; default `tidb_changefeed_<changefeed id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_client_id: Option<String>,
    /// Accepted for ported configurations; protocol versions are negotiated with the broker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_version: Option<String>,
    /// Create missing topics with `partition-num` and `replication-factor`.
    #[serde(default = "default_true")]
    pub auto_create_topic: bool,
    #[serde(default = "default_kafka_timeout")]
    pub dial_timeout: HumanDuration,
    #[serde(default = "default_kafka_timeout")]
    pub read_timeout: HumanDuration,
    #[serde(default = "default_kafka_timeout")]
    pub write_timeout: HumanDuration,
    /// How long a batch waits for more messages before it is sent (not a TiCDC setting;
    /// TiCDC sends at once, which `0s` keeps).
    #[serde(default = "default_linger")]
    pub linger: HumanDuration,
    /// Most bytes in one produce batch per partition (librdkafka's `batch.size`; not a
    /// TiCDC setting). Unset: the topic's size limit (`max-message-bytes` as lowered to the
    /// topic's), which also caps it. Each partition queues up to twice this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<ByteSize>,
    /// Only `-1` (all in-sync replicas): nothing less keeps the no-loss promise.
    #[serde(default = "default_required_acks")]
    pub required_acks: i16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_mechanism: Option<SaslMechanism>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sasl_password: Option<Secret>,
    /// Connect with TLS; implied by `ca`, `cert` or `key`.
    #[serde(default)]
    pub enable_tls: bool,
    /// PEM CA file to verify the brokers with (system roots when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// PEM client certificate for mutual TLS; needs `key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Do not verify the brokers' certificates (test clusters only).
    #[serde(default)]
    pub insecure_skip_verify: bool,
    /// Write each row change as it is (no splitting of key-changing UPDATEs).
    #[serde(default)]
    pub output_raw_change_event: bool,
    #[serde(default)]
    pub large_message_handle: LargeMessageHandle,
    #[serde(default)]
    pub codec_config: CodecConfig,
}

impl KafkaConfig {
    /// A Kafka sink to `brokers` with the default `topic`, every other setting at the value
    /// it has when the file leaves it out.
    pub fn new(brokers: Vec<String>, topic: impl Into<String>) -> Self {
        KafkaConfig {
            brokers,
            topic: topic.into(),
            partition_num: None,
            replication_factor: default_replication_factor(),
            max_message_bytes: default_max_message_bytes(),
            max_retry: default_max_retry(),
            compression: Compression::default(),
            kafka_client_id: None,
            kafka_version: None,
            auto_create_topic: default_true(),
            dial_timeout: default_kafka_timeout(),
            read_timeout: default_kafka_timeout(),
            write_timeout: default_kafka_timeout(),
            linger: default_linger(),
            batch_size: None,
            required_acks: default_required_acks(),
            sasl_mechanism: None,
            sasl_user: None,
            sasl_password: None,
            enable_tls: false,
            ca: None,
            cert: None,
            key: None,
            insecure_skip_verify: false,
            output_raw_change_event: false,
            large_message_handle: LargeMessageHandle::default(),
            codec_config: CodecConfig::default(),
        }
    }
}

fn default_true() -> bool {
    true
}

fn default_replication_factor() -> i16 {
    1
}

fn default_max_message_bytes() -> ByteSize {
    ByteSize::mib(10)
}

fn default_max_retry() -> u32 {
    5
}

fn default_kafka_timeout() -> HumanDuration {
    HumanDuration::secs(10)
}

fn default_linger() -> HumanDuration {
    HumanDuration::millis(0)
}

fn default_required_acks() -> i16 {
    -1
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Lz4,
    Snappy,
    Zstd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
    Gssapi,
    Oauthbearer,
}

impl SaslMechanism {
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::Gssapi => "GSSAPI",
            SaslMechanism::Oauthbearer => "OAUTHBEARER",
        }
    }
}

impl<'de> Deserialize<'de> for SaslMechanism {
    /// Case-insensitive, as TiCDC accepts `PLAIN` and `plain` alike.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const NAMES: &[&str] = &[
            "plain",
            "scram-sha-256",
            "scram-sha-512",
            "gssapi",
            "oauthbearer",
        ];
        let s = String::deserialize(d)?;
        match s.to_ascii_lowercase().as_str() {
            "plain" => Ok(SaslMechanism::Plain),
            "scram-sha-256" => Ok(SaslMechanism::ScramSha256),
            "scram-sha-512" => Ok(SaslMechanism::ScramSha512),
            "gssapi" => Ok(SaslMechanism::Gssapi),
            "oauthbearer" => Ok(SaslMechanism::Oauthbearer),
            _ => Err(de::Error::unknown_variant(&s, NAMES)),
        }
    }
}

/// TiCDC's `[sink.kafka-config.large-message-handle]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LargeMessageHandle {
    #[serde(default)]
    pub large_message_handle_option: LargeMessageOption,
    #[serde(default)]
    pub large_message_handle_compression: LargeMessageCompression,
    /// Where claim-check messages are stored: `file:///dir`, `s3://bucket/prefix`,
    /// `gcs://bucket/prefix` (`gs://`), `azblob://container/prefix` (`azure://`), with
    /// TiCDC's external-storage parameters in the query. Shown with its secrets masked.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_storage_uri"
    )]
    pub claim_check_storage_uri: Option<String>,
    #[serde(default)]
    pub claim_check_raw_value: bool,
    /// Not TiCDC's: parameters of the storage URI given as secrets (inline, `{ env = … }`
    /// or `{ file = … }`), e.g. `secret-access-key`, so they need not be written in the URI.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub claim_check_storage_parameters: std::collections::BTreeMap<String, Secret>,
    /// Not TiCDC's: how long one request to the claim-check storage may take before it is
    /// abandoned and retried.
    #[serde(default = "default_claim_check_request_timeout")]
    pub claim_check_storage_request_timeout: HumanDuration,
}

fn default_claim_check_request_timeout() -> HumanDuration {
    HumanDuration::secs(30)
}

impl Default for LargeMessageHandle {
    fn default() -> Self {
        LargeMessageHandle {
            large_message_handle_option: LargeMessageOption::default(),
            large_message_handle_compression: LargeMessageCompression::default(),
            claim_check_storage_uri: None,
            claim_check_raw_value: false,
            claim_check_storage_parameters: std::collections::BTreeMap::new(),
            claim_check_storage_request_timeout: default_claim_check_request_timeout(),
        }
    }
}

/// The storage URI with its secret parameters masked.
fn serialize_storage_uri<S: Serializer>(uri: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match uri {
        Some(u) => s.serialize_str(&super::secret::mask_uri_secrets(u)),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LargeMessageOption {
    #[default]
    None,
    HandleKeyOnly,
    ClaimCheck,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LargeMessageCompression {
    #[default]
    None,
    Snappy,
    Lz4,
}

/// TiCDC's `[sink.kafka-config.codec-config]` and the codec keys of the sink URI.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CodecConfig {
    /// Add TiDB fields (`_tidb`, commit ts) and WATERMARK messages.
    #[serde(default)]
    pub enable_tidb_extension: bool,
    /// Canal-JSON exactly as Canal itself writes it (no TiDB-only fields).
    #[serde(default)]
    pub content_compatible: bool,
    /// In UPDATE messages, `old` carries only the columns that changed.
    #[serde(default)]
    pub only_output_updated_columns: bool,
    #[serde(default)]
    pub avro_decimal_handling_mode: AvroDecimalMode,
    #[serde(default)]
    pub avro_bigint_unsigned_handling_mode: AvroBigintUnsignedMode,
    /// Debezium messages without their `schema` blocks (payload only).
    #[serde(default)]
    pub debezium_disable_schema: bool,
    /// Rows per message for batching protocols (open-protocol).
    #[serde(default = "default_max_batch_size")]
    pub max_batch_size: u32,
}

fn default_max_batch_size() -> u32 {
    16
}

impl Default for CodecConfig {
    fn default() -> Self {
        CodecConfig {
            enable_tidb_extension: false,
            content_compatible: false,
            only_output_updated_columns: false,
            avro_decimal_handling_mode: AvroDecimalMode::default(),
            avro_bigint_unsigned_handling_mode: AvroBigintUnsignedMode::default(),
            debezium_disable_schema: false,
            max_batch_size: default_max_batch_size(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AvroDecimalMode {
    #[default]
    Precise,
    String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AvroBigintUnsignedMode {
    #[default]
    Long,
    String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_config_new_has_the_file_defaults() {
        let parsed: KafkaConfig =
            toml::from_str("brokers = [\"b:9092\"]\ntopic = \"t\"\n").expect("parse");
        let built = KafkaConfig::new(vec!["b:9092".to_string()], "t");
        assert_eq!(
            serde_json::to_value(&built).expect("json"),
            serde_json::to_value(&parsed).expect("json")
        );
    }
}
