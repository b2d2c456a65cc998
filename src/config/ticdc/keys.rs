//! The one table of TiCDC's Kafka changefeed settings and what becomes of each here: every
//! sink-URI query parameter ([`URI_PARAMS`]) and every key of a changefeed configuration
//! file ([`FILE_KEYS`]) is either mapped to a key of this daemon's `[[changefeed]]`, accepted
//! as having no effect on a Kafka changefeed run by this daemon, or not supported — each with
//! its reason. The sink-URI parser, `import-ticdc` and the README's "Coming from TiCDC" table
//! (checked by a test) all read this table, so they cannot drift apart.
//!
//! Sources (tiflow at `c7b2588e`): sink-URI parameters `pkg/sink/kafka/options.go:115-144`
//! (`urlConfig`), `pkg/sink/codec/common/config.go:157-177` (codec `urlConfig`),
//! `pkg/config/sink.go:40` (`transaction-atomicity`) and `pkg/config/sink_protocol.go:24`
//! (`protocol`); the file layout `pkg/config/replica_config.go:130-166`,
//! `pkg/config/filter.go:21-38`, `pkg/config/sink.go:133-206` (`[sink]`), `:381-402`
//! (dispatchers, column selectors), `:405-455` (`[sink.kafka-config]`, codec-config),
//! `:1009-1016` (`[sink.open]`, `[sink.debezium]`), `pkg/config/large_message.go:31-36`,
//! `pkg/integrity/integrity.go:23-26`.

/// How a value is written in our TOML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Bool,
    /// A Go duration string (`"10s"`).
    Duration,
    /// A secret: inline, or an env/file reference (see `import-ticdc --inline-secrets`).
    Secret,
    /// A file path.
    Path,
    /// A list of strings.
    StrList,
    /// An array of tables copied key by key (dispatchers, column selectors, event filters).
    Rules,
    /// A protocol name; only the protocols this daemon builds are accepted.
    Protocol,
}

/// What becomes of one TiCDC setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Written to this key of `[[changefeed]]` (a dotted path), as `kind`.
    Map { to: &'static str, kind: Kind },
    /// Accepted and dropped: it has no effect on a Kafka changefeed of this daemon.
    NoEffect(&'static str),
    /// It changes the output or the connection, and this daemon does not build it.
    Unsupported(&'static str),
}

/// One TiCDC setting.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The parameter name (URI) or dotted key path (file); a path ending in `.*` covers a
    /// whole table.
    pub key: &'static str,
    pub fate: Fate,
}

const fn map(key: &'static str, to: &'static str, kind: Kind) -> Entry {
    Entry {
        key,
        fate: Fate::Map { to, kind },
    }
}

const fn none(key: &'static str, why: &'static str) -> Entry {
    Entry {
        key,
        fate: Fate::NoEffect(why),
    }
}

const fn unsupported(key: &'static str, why: &'static str) -> Entry {
    Entry {
        key,
        fate: Fate::Unsupported(why),
    }
}

const GSSAPI: &str = "SASL/GSSAPI (Kerberos) is not built: rskafka, the Kafka client, logs in with PLAIN or SCRAM only; use sasl-mechanism plain, scram-sha-256 or scram-sha-512";
const OAUTH: &str =
    "SASL/OAUTHBEARER is not built: the Kafka client logs in with PLAIN or SCRAM only";

/// Sink-URI query parameters of TiCDC's Kafka sink.
pub const URI_PARAMS: &[Entry] = &[
    map("protocol", "sink.protocol", Kind::Protocol),
    none(
        "transaction-atomicity",
        "Kafka sinks only take \"none\" (TiCDC rejects \"table\" for MQ, pkg/config/sink.go:114-131): rows of one transaction are independent records",
    ),
    map(
        "partition-num",
        "sink.kafka-config.partition-num",
        Kind::Int,
    ),
    map(
        "replication-factor",
        "sink.kafka-config.replication-factor",
        Kind::Int,
    ),
    map(
        "kafka-version",
        "sink.kafka-config.kafka-version",
        Kind::Str,
    ),
    map(
        "max-message-bytes",
        "sink.kafka-config.max-message-bytes",
        Kind::Int,
    ),
    map("max-retry", "sink.kafka-config.max-retry", Kind::Int),
    map("compression", "sink.kafka-config.compression", Kind::Str),
    map(
        "kafka-client-id",
        "sink.kafka-config.kafka-client-id",
        Kind::Str,
    ),
    map(
        "auto-create-topic",
        "sink.kafka-config.auto-create-topic",
        Kind::Bool,
    ),
    map(
        "dial-timeout",
        "sink.kafka-config.dial-timeout",
        Kind::Duration,
    ),
    map(
        "read-timeout",
        "sink.kafka-config.read-timeout",
        Kind::Duration,
    ),
    map(
        "write-timeout",
        "sink.kafka-config.write-timeout",
        Kind::Duration,
    ),
    map(
        "required-acks",
        "sink.kafka-config.required-acks",
        Kind::Int,
    ),
    map("sasl-user", "sink.kafka-config.sasl-user", Kind::Str),
    map(
        "sasl-password",
        "sink.kafka-config.sasl-password",
        Kind::Secret,
    ),
    map(
        "sasl-mechanism",
        "sink.kafka-config.sasl-mechanism",
        Kind::Str,
    ),
    unsupported("sasl-gssapi-auth-type", GSSAPI),
    unsupported("sasl-gssapi-keytab-path", GSSAPI),
    unsupported("sasl-gssapi-kerberos-config-path", GSSAPI),
    unsupported("sasl-gssapi-service-name", GSSAPI),
    unsupported("sasl-gssapi-user", GSSAPI),
    unsupported("sasl-gssapi-password", GSSAPI),
    unsupported("sasl-gssapi-realm", GSSAPI),
    unsupported("sasl-gssapi-disable-pafxfast", GSSAPI),
    map("enable-tls", "sink.kafka-config.enable-tls", Kind::Bool),
    map("ca", "sink.kafka-config.ca", Kind::Path),
    map("cert", "sink.kafka-config.cert", Kind::Path),
    map("key", "sink.kafka-config.key", Kind::Path),
    map(
        "insecure-skip-verify",
        "sink.kafka-config.insecure-skip-verify",
        Kind::Bool,
    ),
    map(
        "enable-tidb-extension",
        "sink.kafka-config.codec-config.enable-tidb-extension",
        Kind::Bool,
    ),
    map(
        "max-batch-size",
        "sink.kafka-config.codec-config.max-batch-size",
        Kind::Int,
    ),
    map(
        "avro-decimal-handling-mode",
        "sink.kafka-config.codec-config.avro-decimal-handling-mode",
        Kind::Str,
    ),
    map(
        "avro-bigint-unsigned-handling-mode",
        "sink.kafka-config.codec-config.avro-bigint-unsigned-handling-mode",
        Kind::Str,
    ),
    unsupported(
        "avro-enable-watermark",
        "Avro watermark messages are not built (TiCDC's own is a test-only switch); Avro consumers get no watermarks here",
    ),
    map("schema-registry", "sink.schema-registry", Kind::Secret),
    map(
        "only-output-updated-columns",
        "sink.kafka-config.codec-config.only-output-updated-columns",
        Kind::Bool,
    ),
    map(
        "content-compatible",
        "sink.kafka-config.codec-config.content-compatible",
        Kind::Bool,
    ),
    map(
        "debezium-disable-schema",
        "sink.kafka-config.codec-config.debezium-disable-schema",
        Kind::Bool,
    ),
    none(
        "encoding-format",
        "applies to protocol simple only, which is not built",
    ),
];

const MYSQL: &str = "a MySQL/TiDB-sink setting: it does not affect a Kafka changefeed";
const STORAGE: &str = "a cloud-storage-sink setting: it does not affect a Kafka changefeed";
const SIMPLE: &str = "applies to protocol simple only, which is not built";

/// Keys of a TiCDC changefeed configuration file (`cdc cli changefeed create --config`).
pub const FILE_KEYS: &[Entry] = &[
    map("memory-quota", "memory-quota", Kind::Int),
    map("case-sensitive", "case-sensitive", Kind::Bool),
    map("force-replicate", "force-replicate", Kind::Bool),
    none(
        "check-gc-safe-point",
        "the start position is always checked against the cluster's GC safepoint",
    ),
    none("enable-sync-point", MYSQL),
    none("sync-point-interval", MYSQL),
    none("sync-point-retention", MYSQL),
    none(
        "enable-table-monitor",
        "TiCDC's per-table progress metric; lag and checkpoint metrics are per changefeed here",
    ),
    none(
        "ignore-ineligible-table",
        "tables without a primary key or NOT NULL unique key follow force-replicate",
    ),
    unsupported(
        "bdr-mode",
        "bidirectional replication filters rows written by a TiCDC downstream and needs a TiDB downstream",
    ),
    none(
        "changefeed-error-stuck-duration",
        "retryable errors are retried without a time limit; an error that needs the operator stops the changefeed at once",
    ),
    none(
        "sql-mode",
        "deprecated in TiCDC v8.0; table schemas are read from TiKV, DDL text is passed through",
    ),
    none(
        "enable-old-value",
        "removed in TiCDC v6.x: old values are always read; [sink.open]/[sink.debezium] output-old-value choose the output",
    ),
    none(
        "sort-engine",
        "TiCDC v4/v5 sorter setting: the sorter spills to the state directory",
    ),
    none(
        "sort-dir",
        "TiCDC v4/v5 sorter setting: the sorter spills to the state directory",
    ),
    none(
        "mounter.*",
        "decoding runs on a worker pool sized by the CPU count",
    ),
    none(
        "scheduler.*",
        "one process reads every region of the changefeed; tables are not split across nodes",
    ),
    none(
        "consistent.*",
        "the redo log serves MySQL sinks; restarts replay from the checkpoint",
    ),
    none("synced-status.*", MYSQL),
    map("filter.rules", "filter.rules", Kind::StrList),
    map(
        "filter.ignore-txn-start-ts",
        "filter.ignore-txn-start-ts",
        Kind::StrList,
    ),
    map("filter.event-filters", "filter.event-filters", Kind::Rules),
    unsupported(
        "filter.event-filters.ignore-insert-value-expr",
        "SQL expression filters are not built; the rule's other settings are kept",
    ),
    unsupported(
        "filter.event-filters.ignore-update-new-value-expr",
        "SQL expression filters are not built; the rule's other settings are kept",
    ),
    unsupported(
        "filter.event-filters.ignore-update-old-value-expr",
        "SQL expression filters are not built; the rule's other settings are kept",
    ),
    unsupported(
        "filter.event-filters.ignore-delete-value-expr",
        "SQL expression filters are not built; the rule's other settings are kept",
    ),
    none(
        "filter.ddl-allow-list",
        "TiCDC v4/v5 setting, removed; DDLs are filtered with event filters",
    ),
    map("sink.protocol", "sink.protocol", Kind::Protocol),
    map("sink.dispatchers", "sink.dispatchers", Kind::Rules),
    map(
        "sink.column-selectors",
        "sink.column-selectors",
        Kind::Rules,
    ),
    map("sink.schema-registry", "sink.schema-registry", Kind::Secret),
    map(
        "sink.delete-only-output-handle-key-columns",
        "sink.delete-only-output-handle-key-columns",
        Kind::Bool,
    ),
    map(
        "sink.only-output-updated-columns",
        "sink.kafka-config.codec-config.only-output-updated-columns",
        Kind::Bool,
    ),
    map(
        "sink.content-compatible",
        "sink.kafka-config.codec-config.content-compatible",
        Kind::Bool,
    ),
    map(
        "sink.debezium-disable-schema",
        "sink.kafka-config.codec-config.debezium-disable-schema",
        Kind::Bool,
    ),
    none(
        "sink.transaction-atomicity",
        "Kafka sinks only take \"none\" (TiCDC rejects \"table\" for MQ, pkg/config/sink.go:114-131): rows of one transaction are independent records",
    ),
    none(
        "sink.encoder-concurrency",
        "encoding runs on a worker pool sized by the CPU count",
    ),
    none(
        "sink.enable-kafka-sink-v2",
        "TiCDC's choice of Go Kafka client (kafka-go instead of sarama); the client here is rskafka",
    ),
    none("sink.safe-mode", MYSQL),
    none("sink.mysql-config.*", MYSQL),
    none(
        "sink.advance-timeout-in-sec",
        "a transaction-sink (MySQL) setting: it does not affect a Kafka changefeed",
    ),
    none("sink.terminator", STORAGE),
    none("sink.date-separator", STORAGE),
    none("sink.enable-partition-separator", STORAGE),
    none("sink.file-index-digit", STORAGE),
    none("sink.csv.*", STORAGE),
    none("sink.cloud-storage-config.*", STORAGE),
    none(
        "sink.pulsar-config.*",
        "a Pulsar-sink setting: it does not affect a Kafka changefeed",
    ),
    none("sink.send-bootstrap-interval-in-sec", SIMPLE),
    none("sink.send-bootstrap-in-msg-count", SIMPLE),
    none("sink.send-bootstrap-to-all-partition", SIMPLE),
    none("sink.send-all-bootstrap-at-start", SIMPLE),
    map(
        "sink.open.output-old-value",
        "sink.open.output-old-value",
        Kind::Bool,
    ),
    map(
        "sink.debezium.output-old-value",
        "sink.debezium.output-old-value",
        Kind::Bool,
    ),
    map(
        "sink.kafka-config.partition-num",
        "sink.kafka-config.partition-num",
        Kind::Int,
    ),
    map(
        "sink.kafka-config.replication-factor",
        "sink.kafka-config.replication-factor",
        Kind::Int,
    ),
    map(
        "sink.kafka-config.kafka-version",
        "sink.kafka-config.kafka-version",
        Kind::Str,
    ),
    map(
        "sink.kafka-config.max-message-bytes",
        "sink.kafka-config.max-message-bytes",
        Kind::Int,
    ),
    map(
        "sink.kafka-config.compression",
        "sink.kafka-config.compression",
        Kind::Str,
    ),
    map(
        "sink.kafka-config.kafka-client-id",
        "sink.kafka-config.kafka-client-id",
        Kind::Str,
    ),
    map(
        "sink.kafka-config.auto-create-topic",
        "sink.kafka-config.auto-create-topic",
        Kind::Bool,
    ),
    map(
        "sink.kafka-config.dial-timeout",
        "sink.kafka-config.dial-timeout",
        Kind::Duration,
    ),
    map(
        "sink.kafka-config.write-timeout",
        "sink.kafka-config.write-timeout",
        Kind::Duration,
    ),
    map(
        "sink.kafka-config.read-timeout",
        "sink.kafka-config.read-timeout",
        Kind::Duration,
    ),
    map(
        "sink.kafka-config.required-acks",
        "sink.kafka-config.required-acks",
        Kind::Int,
    ),
    map(
        "sink.kafka-config.sasl-user",
        "sink.kafka-config.sasl-user",
        Kind::Str,
    ),
    map(
        "sink.kafka-config.sasl-password",
        "sink.kafka-config.sasl-password",
        Kind::Secret,
    ),
    map(
        "sink.kafka-config.sasl-mechanism",
        "sink.kafka-config.sasl-mechanism",
        Kind::Str,
    ),
    unsupported("sink.kafka-config.sasl-gssapi-auth-type", GSSAPI),
    unsupported("sink.kafka-config.sasl-gssapi-keytab-path", GSSAPI),
    unsupported("sink.kafka-config.sasl-gssapi-kerberos-config-path", GSSAPI),
    unsupported("sink.kafka-config.sasl-gssapi-service-name", GSSAPI),
    unsupported("sink.kafka-config.sasl-gssapi-user", GSSAPI),
    unsupported("sink.kafka-config.sasl-gssapi-password", GSSAPI),
    unsupported("sink.kafka-config.sasl-gssapi-realm", GSSAPI),
    unsupported("sink.kafka-config.sasl-gssapi-disable-pafxfast", GSSAPI),
    unsupported("sink.kafka-config.sasl-oauth-client-id", OAUTH),
    unsupported("sink.kafka-config.sasl-oauth-client-secret", OAUTH),
    unsupported("sink.kafka-config.sasl-oauth-token-url", OAUTH),
    unsupported("sink.kafka-config.sasl-oauth-scopes", OAUTH),
    unsupported("sink.kafka-config.sasl-oauth-grant-type", OAUTH),
    unsupported("sink.kafka-config.sasl-oauth-audience", OAUTH),
    map(
        "sink.kafka-config.enable-tls",
        "sink.kafka-config.enable-tls",
        Kind::Bool,
    ),
    map("sink.kafka-config.ca", "sink.kafka-config.ca", Kind::Path),
    map(
        "sink.kafka-config.cert",
        "sink.kafka-config.cert",
        Kind::Path,
    ),
    map("sink.kafka-config.key", "sink.kafka-config.key", Kind::Path),
    map(
        "sink.kafka-config.insecure-skip-verify",
        "sink.kafka-config.insecure-skip-verify",
        Kind::Bool,
    ),
    map(
        "sink.kafka-config.output-raw-change-event",
        "sink.kafka-config.output-raw-change-event",
        Kind::Bool,
    ),
    map(
        "sink.kafka-config.codec-config.enable-tidb-extension",
        "sink.kafka-config.codec-config.enable-tidb-extension",
        Kind::Bool,
    ),
    map(
        "sink.kafka-config.codec-config.max-batch-size",
        "sink.kafka-config.codec-config.max-batch-size",
        Kind::Int,
    ),
    map(
        "sink.kafka-config.codec-config.avro-decimal-handling-mode",
        "sink.kafka-config.codec-config.avro-decimal-handling-mode",
        Kind::Str,
    ),
    map(
        "sink.kafka-config.codec-config.avro-bigint-unsigned-handling-mode",
        "sink.kafka-config.codec-config.avro-bigint-unsigned-handling-mode",
        Kind::Str,
    ),
    unsupported(
        "sink.kafka-config.codec-config.avro-enable-watermark",
        "Avro watermark messages are not built (TiCDC's own is a test-only switch); Avro consumers get no watermarks here",
    ),
    none("sink.kafka-config.codec-config.encoding-format", SIMPLE),
    map(
        "sink.kafka-config.large-message-handle.large-message-handle-option",
        "sink.kafka-config.large-message-handle.large-message-handle-option",
        Kind::Str,
    ),
    map(
        "sink.kafka-config.large-message-handle.large-message-handle-compression",
        "sink.kafka-config.large-message-handle.large-message-handle-compression",
        Kind::Str,
    ),
    map(
        "sink.kafka-config.large-message-handle.claim-check-storage-uri",
        "sink.kafka-config.large-message-handle.claim-check-storage-uri",
        Kind::Str,
    ),
    map(
        "sink.kafka-config.large-message-handle.claim-check-raw-value",
        "sink.kafka-config.large-message-handle.claim-check-raw-value",
        Kind::Bool,
    ),
    unsupported(
        "sink.kafka-config.glue-schema-registry-config.*",
        "AWS Glue Schema Registry is not built; Avro needs a Confluent-compatible registry (schema-registry)",
    ),
    none(
        "integrity.corruption-handle-level",
        "applies only with integrity-check-level = \"correctness\"",
    ),
    // integrity-check-level: "none" has no effect, "correctness" is not built (see
    // `value_verdict`).
    none(
        "integrity.integrity-check-level",
        "\"none\": no checksums, as here",
    ),
];

/// The verdict on one value of a mapped or accepted setting, where only some values are
/// built here: `None` when the value is fine.
pub fn value_verdict(key: &str, value: &str) -> Option<Fate> {
    let name = key.rsplit('.').next().unwrap_or(key);
    let lower = value.trim().to_ascii_lowercase();
    match name {
        "protocol" => {
            let p: Result<crate::config::Protocol, _> =
                serde::Deserialize::deserialize(serde::de::value::StrDeserializer::<
                    serde::de::value::Error,
                >::new(value.trim()));
            match p {
                Ok(p) if p.caps().built => None,
                Ok(p) => Some(Fate::Unsupported(leak(format!(
                    "protocol {} is not built here (built: {})",
                    p.name(),
                    crate::config::Protocol::built_names().join(", ")
                )))),
                Err(_) => Some(Fate::Unsupported(leak(format!(
                    "unknown protocol {value:?} (built: {})",
                    crate::config::Protocol::built_names().join(", ")
                )))),
            }
        }
        "sasl-mechanism" if lower == "gssapi" => Some(Fate::Unsupported(GSSAPI)),
        "sasl-mechanism" if lower == "oauthbearer" => Some(Fate::Unsupported(OAUTH)),
        "required-acks" if lower != "-1" => Some(Fate::Unsupported(
            "only required-acks = -1 (all in-sync replicas) is accepted: anything less can lose acknowledged rows when a broker fails",
        )),
        "transaction-atomicity" if !lower.is_empty() && lower != "none" => Some(Fate::Unsupported(
            "Kafka sinks only take \"none\" (TiCDC rejects it too, pkg/config/sink.go:114-131)",
        )),
        "integrity-check-level" if lower != "none" && !lower.is_empty() => Some(Fate::Unsupported(
            "row checksums (integrity-check-level = \"correctness\") are not built",
        )),
        "bdr-mode" if lower == "false" => Some(Fate::NoEffect("false: off, as here")),
        "avro-enable-watermark" if lower == "false" => Some(Fate::NoEffect("false: off, as here")),
        _ => None,
    }
}

/// Verdicts built from a value live as long as the process (a handful per import).
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// The entry for a sink-URI parameter.
pub fn uri_param(name: &str) -> Option<&'static Entry> {
    URI_PARAMS.iter().find(|e| e.key == name)
}

/// The entry for a file key path (`sink.kafka-config.sasl-user`), or the whole-table entry
/// (`sink.csv.*`) that covers a key inside that table (not the table itself, so each key of
/// it is named on its own).
pub fn file_key(path: &str) -> Option<&'static Entry> {
    FILE_KEYS.iter().find(|e| e.key == path).or_else(|| {
        FILE_KEYS.iter().find(|e| {
            e.key
                .strip_suffix(".*")
                .is_some_and(|t| path.starts_with(&format!("{t}.")))
        })
    })
}

/// The README's table of every TiCDC setting (between its `ticdc-keys` markers); a test
/// keeps the README equal to it.
pub fn markdown_table() -> String {
    let mut out = String::new();
    for (title, entries) in [
        ("Sink-URI parameter", URI_PARAMS),
        ("Changefeed file key", FILE_KEYS),
    ] {
        out.push_str(&format!("| {title} | here |\n| --- | --- |\n"));
        for e in entries {
            let here = match e.fate {
                Fate::Map { to, .. } => {
                    let (table, key) = to.rsplit_once('.').unwrap_or(("", to));
                    if table.is_empty() {
                        format!("`[[changefeed]]` `{key}`")
                    } else {
                        format!("`[changefeed.{table}]` `{key}`")
                    }
                }
                Fate::NoEffect(why) => format!("ignored: {why}"),
                Fate::Unsupported(why) => format!("**not supported**: {why}"),
            };
            out.push_str(&format!("| `{}` | {} |\n", e.key, here.replace('|', "\\|")));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_listed_once() {
        for table in [URI_PARAMS, FILE_KEYS] {
            let mut seen = std::collections::HashSet::new();
            for e in table {
                assert!(seen.insert(e.key), "{} twice", e.key);
            }
        }
    }

    #[test]
    fn values_that_are_not_built_are_named() {
        assert!(matches!(
            value_verdict("protocol", "simple"),
            Some(Fate::Unsupported(w)) if w.contains("simple")
        ));
        assert_eq!(value_verdict("protocol", "canal-json"), None);
        assert_eq!(value_verdict("protocol", "default"), None);
        assert!(matches!(
            value_verdict("sink.kafka-config.sasl-mechanism", "GSSAPI"),
            Some(Fate::Unsupported(_))
        ));
        assert_eq!(value_verdict("sasl-mechanism", "SCRAM-SHA-512"), None);
        assert!(value_verdict("required-acks", "1").is_some());
        assert_eq!(value_verdict("required-acks", "-1"), None);
        assert!(file_key("sink.csv.delimiter").is_some());
        assert!(file_key("sink.cs").is_none());
        assert!(file_key("sink.kafka-config.glue-schema-registry-config.region").is_some());
        assert!(file_key("sink.csv").is_none());
    }
}
