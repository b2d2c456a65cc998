//! The TOML configuration file: its model, loading, and every rule it must satisfy.
//!
//! [`load`] either returns a configuration in which every setting is valid, every secret is
//! resolved and every relative path is anchored at the file's directory, or a
//! [`ConfigError`] that names the file, line and column, the key path and what was expected,
//! for every problem found (syntax errors stop at the first).

mod changefeed;
mod dsn;
mod locate;
mod model;
mod protocol;
mod secret;
pub mod storage_uri;
pub mod ticdc;
mod units;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use changefeed::{
    AvroBigintUnsignedMode, AvroDecimalMode, ChangefeedConfig, CodecConfig, ColumnSelector,
    Compression, DebeziumSinkConfig, DispatchRule, EventFilterRule, FilterConfig, KafkaConfig,
    LargeMessageCompression, LargeMessageHandle, LargeMessageOption, SaslMechanism, SinkConfig,
    SinkKind, StartPosition,
};
pub use dsn::Dsn;
pub use locate::{KeyPath, Seg};
pub use model::{
    CheckpointStore, Config, DEFAULT_STATE_TABLE, HaConfig, LogConfig, LogFormat, MysqlStateConfig,
    ServerConfig, StateConfig, UpstreamConfig, UpstreamTls,
};
pub use protocol::{Placement, Protocol, ProtocolCaps};
pub use secret::{Secret, SecretSource, mask_uri_secrets};
pub use storage_uri::{StorageSpec, UriError};
pub use units::{ByteSize, HumanDuration};
pub use validate::valid_topic_name;

/// One problem in a configuration file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Key path such as `changefeed[0].sink.kafka-config.compression`; empty for syntax errors.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read the configuration file: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", display_problems(.0))]
    Invalid(Vec<Problem>),
}

fn display_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(p) => p,
            ConfigError::Read { .. } => &[],
        }
    }
}

/// A loaded, valid configuration and the file it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub path: PathBuf,
    pub config: Config,
}

/// Reads, parses and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let config = parse(path, &text)?;
    Ok(Loaded {
        path: path.to_path_buf(),
        config,
    })
}

/// Parses and validates configuration text; `path` names it in errors and anchors relative
/// paths.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let problem = |span_start: usize, key: String, message: String| {
        let (line, column) = locate::line_col(text, span_start);
        Problem {
            file: path.to_path_buf(),
            line,
            column,
            key,
            message,
        }
    };
    let doc = toml::de::DeTable::parse(text).map_err(|e| {
        let start = e.span().map_or(0, |s| s.start);
        ConfigError::Invalid(vec![problem(start, String::new(), syntax_message(&e))])
    })?;

    // `sink-uri` in `[changefeed.sink]`: its brokers, topic and parameters are written into
    // the table before it is read, overriding keys the file also sets (as TiCDC merges them).
    let uses_sink_uri = doc
        .get_ref()
        .get("changefeed")
        .and_then(|c| c.get_ref().as_array())
        .is_some_and(|cfs| {
            cfs.iter().any(|cf| {
                cf.get_ref()
                    .get("sink")
                    .is_some_and(|s| s.get_ref().get("sink-uri").is_some())
            })
        });
    let mut from_uri: Vec<(KeyPath, String)> = Vec::new();
    let deserialized = if uses_sink_uri {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| {
            let start = e.span().map_or(0, |s| s.start);
            ConfigError::Invalid(vec![problem(start, String::new(), syntax_message(&e))])
        })?;
        let mut problems = Vec::new();
        for (key, message) in merge_sink_uris(&mut table, &mut from_uri) {
            problems.push(problem(
                locate::span_of(&doc, &key).start,
                key.to_string(),
                message,
            ));
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        serde_path_to_error::deserialize::<_, Config>(toml::Value::Table(table))
    } else {
        serde_path_to_error::deserialize::<_, Config>(toml::de::Deserializer::from(doc.clone()))
    };
    let mut config: Config = deserialized.map_err(|e| {
        let key = KeyPath::from_serde(e.path());
        let start = e
            .inner()
            .span()
            .map(|s| s.start)
            .unwrap_or_else(|| locate::span_of(&doc, &key).start);
        let key_text = if key.0.is_empty() {
            String::new()
        } else {
            key.to_string()
        };
        ConfigError::Invalid(vec![problem(start, key_text, type_message(e.inner()))])
    })?;

    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
        .to_path_buf();
    let violations = validate::validate(&mut config, &base);
    if !violations.is_empty() {
        return Err(ConfigError::Invalid(
            violations
                .into_iter()
                .map(|v| {
                    let message = match from_uri.iter().find(|(p, _)| *p == v.path) {
                        Some((_, param)) => {
                            format!("{} (set by the sink-uri parameter {param})", v.message)
                        }
                        None => v.message,
                    };
                    problem(
                        locate::span_of(&doc, &v.path).start,
                        v.path.to_string(),
                        message,
                    )
                })
                .collect(),
        ));
    }
    anchor_paths(&mut config, &base);
    exclude_state_schema(&mut config);
    Ok(config)
}

/// Writes each `[changefeed.sink] sink-uri` into its changefeed table (the key itself is
/// removed) and records which key each parameter set in `from_uri`. Returns the problems:
/// a URI that does not parse, a sink type other than kafka, and every parameter that is not
/// carried over because it is unknown, not supported here or has a bad value. Parameters
/// with no effect on a Kafka changefeed here (e.g. `transaction-atomicity=none`) are accepted.
fn merge_sink_uris(
    table: &mut toml::Table,
    from_uri: &mut Vec<(KeyPath, String)>,
) -> Vec<(KeyPath, String)> {
    let mut problems = Vec::new();
    let Some(toml::Value::Array(cfs)) = table.get_mut("changefeed") else {
        return problems;
    };
    for (i, cf) in cfs.iter_mut().enumerate() {
        let Some(cf) = cf.as_table_mut() else {
            continue;
        };
        let sink_path = KeyPath::root().key("changefeed").index(i).key("sink");
        let Some(sink) = cf.get_mut("sink").and_then(toml::Value::as_table_mut) else {
            continue;
        };
        let Some(uri) = sink.remove("sink-uri") else {
            continue;
        };
        let key = sink_path.key("sink-uri");
        let Some(text) = uri.as_str() else {
            problems.push((
                key,
                "sink-uri must be a string such as \"kafka://host:9092/topic?protocol=canal-json\""
                    .to_string(),
            ));
            continue;
        };
        if let Some(kind) = sink.get("type").and_then(toml::Value::as_str)
            && kind != "kafka"
        {
            problems.push((
                key,
                format!("sink-uri names a Kafka sink but type is {kind:?}; remove one of them"),
            ));
            continue;
        }
        let uri = match ticdc::SinkUri::parse(text) {
            Ok(u) => u,
            Err(e) => {
                problems.push((key, e.to_string()));
                continue;
            }
        };
        let outcome = ticdc::apply_uri(cf, &uri, &ticdc::SecretStyle::Inline);
        for d in outcome.dropped {
            if !matches!(d.verdict, ticdc::Verdict::NoEffect(_)) {
                problems.push((key.clone(), format!("parameter {d}")));
            }
        }
        let base = KeyPath::root().key("changefeed").index(i);
        for (param, to) in outcome.mapped {
            let mut p = base.clone();
            for part in to.split('.') {
                p = p.key(part);
            }
            from_uri.push((p, param));
        }
        for param in uri.repeated {
            problems.push((key.clone(), format!("parameter {param} is given more than once (TiCDC would use the first value silently); keep one")));
        }
    }
    problems
}

/// With `[state] store = "mysql"`, appends `!<database>.*` to every changefeed's filter
/// rules (the last matching rule decides), so the store's own writes are never replicated
/// when its table lives in the replicated TiDB. `check` shows the rule. A database name with
/// filter wildcard characters is left to the operator's rules.
fn exclude_state_schema(cfg: &mut Config) {
    if cfg.state.store != CheckpointStore::Mysql {
        return;
    }
    let Some(db) = cfg
        .state
        .mysql
        .as_ref()
        .and_then(|m| Dsn::parse(&m.dsn).ok())
        .map(|d| d.database)
    else {
        return;
    };
    if !db
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '-')
    {
        return;
    }
    let rule = format!("!{db}.*");
    for cf in &mut cfg.changefeeds {
        if !cf.filter.rules.contains(&rule) {
            cf.filter.rules.push(rule.clone());
        }
    }
}

/// The first line of a TOML syntax error, without the source excerpt.
fn syntax_message(e: &toml::de::Error) -> String {
    format!("invalid TOML: {}", e.message().trim())
}

/// serde's messages, made to read as the operator wrote TOML (`unknown variant` → value).
fn type_message(e: &toml::de::Error) -> String {
    e.message()
        .trim()
        .replace("unknown variant", "unknown value")
        .replace("unknown field", "unknown key")
        .replace("missing field", "missing required key")
        .replace('`', "\"")
}

/// Makes every relative file path relative to the configuration file's directory.
fn anchor_paths(cfg: &mut Config, base: &Path) {
    let fix = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    fix(&mut cfg.state.dir);
    cfg.server.admin_token_file.as_mut().map(fix);
    if let Some(tls) = cfg.state.mysql.as_mut().and_then(|m| m.tls.as_mut()) {
        fix(&mut tls.ca);
        tls.cert.as_mut().map(fix);
        tls.key.as_mut().map(fix);
    }
    if let Some(tls) = cfg.upstream.tls.as_mut() {
        fix(&mut tls.ca);
        tls.cert.as_mut().map(fix);
        tls.key.as_mut().map(fix);
    }
    for cf in &mut cfg.changefeeds {
        if let Some(k) = cf.sink.kafka_config.as_mut() {
            k.ca.as_mut().map(fix);
            k.cert.as_mut().map(fix);
            k.key.as_mut().map(fix);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[upstream]
pd = ["127.0.0.1:2379"]
[[changefeed]]
id = "cf"
[changefeed.sink]
type = "stdout"
protocol = "canal-json"
"#;

    fn load(extra: &str) -> Result<Config, ConfigError> {
        parse(Path::new("/etc/cf.toml"), &format!("{BASE}{extra}"))
    }

    const URI_BASE: &str = r#"
[upstream]
pd = ["127.0.0.1:2379"]
[[changefeed]]
id = "cf"
"#;

    fn load_uri(sink: &str) -> Result<Config, ConfigError> {
        parse(Path::new("/etc/cf.toml"), &format!("{URI_BASE}{sink}"))
    }

    #[test]
    fn a_sink_uri_configures_the_kafka_sink() {
        let c = load_uri(
            "[changefeed.sink]\nsink-uri = \"kafka://k1:9092,k2:9092/cdc-topic?protocol=canal-json&partition-num=6&max-message-bytes=67108864&enable-tidb-extension=true&sasl-mechanism=SCRAM-SHA-512&sasl-user=cdc&sasl-password=p%40ss&kafka-version=2.4.0&transaction-atomicity=none\"\n",
        )
        .expect("valid");
        let cf = &c.changefeeds[0];
        assert_eq!(cf.sink.protocol, Protocol::CanalJson);
        let k = cf.kafka_sink().expect("kafka");
        assert_eq!(k.brokers, vec!["k1:9092", "k2:9092"]);
        assert_eq!(k.topic, "cdc-topic");
        assert_eq!(k.partition_num, Some(6));
        assert_eq!(k.max_message_bytes.as_u64(), 64 << 20);
        assert!(k.codec_config.enable_tidb_extension);
        assert_eq!(k.sasl_mechanism, Some(SaslMechanism::ScramSha512));
        assert_eq!(k.sasl_password.as_ref().map(Secret::expose), Some("p@ss"));
        assert!(!format!("{c:?}").contains("p@ss"));
    }

    #[test]
    fn sink_uri_values_override_the_file() {
        let c = load_uri(
            "[changefeed.sink]\nprotocol = \"avro\"\nsink-uri = \"kafka://k:9092/from-uri?protocol=canal-json&partition-num=6\"\n[changefeed.sink.kafka-config]\nbrokers = [\"file:9092\"]\ntopic = \"from-file\"\npartition-num = 3\ncompression = \"zstd\"\n",
        )
        .expect("valid");
        let cf = &c.changefeeds[0];
        assert_eq!(cf.sink.protocol, Protocol::CanalJson);
        let k = cf.kafka_sink().expect("kafka");
        assert_eq!(k.brokers, vec!["k:9092"]);
        assert_eq!(k.topic, "from-uri");
        assert_eq!(k.partition_num, Some(6));
        assert_eq!(
            k.compression,
            Compression::Zstd,
            "file keys the URI leaves alone stay"
        );
    }

    #[test]
    fn an_unsupported_sink_uri_parameter_is_a_located_error() {
        let sink = "[changefeed.sink]\nsink-uri = \"kafka://k:9092/t?protocol=canal-json&sasl-mechanism=gssapi&sasl-gssapi-realm=EXAMPLE.COM&bogus=1&partition-num=x\"\n";
        let e = load_uri(sink).expect_err("invalid");
        let p = e.problems();
        assert_eq!(p.len(), 4, "{p:?}");
        for (problem, what) in p.iter().zip([
            "sasl-mechanism=gssapi: not supported: SASL/GSSAPI",
            "sasl-gssapi-realm=EXAMPLE.COM: not supported",
            "bogus=1: unknown TiCDC setting",
            "partition-num=x: invalid value",
        ]) {
            assert_eq!(problem.key, "changefeed[0].sink.sink-uri");
            assert_eq!((problem.line, problem.column), (7, 12), "{problem}");
            assert!(problem.message.contains(what), "{problem}");
        }
        let e = load_uri("[changefeed.sink]\nsink-uri = \"kafka://k:9092/t?protocol=simple\"\n")
            .expect_err("simple");
        assert!(
            e.to_string().contains("protocol=simple: not supported"),
            "{e}"
        );
        let e = load_uri("[changefeed.sink]\nsink-uri = \"mysql://root@h:3306/\"\n")
            .expect_err("mysql");
        assert!(e.to_string().contains("not a Kafka sink"), "{e}");
        // A value the URI sets is checked like the file's, naming the parameter.
        let e = load_uri("[changefeed.sink]\nsink-uri = \"kafka://k:9092/t?protocol=canal-json&partition-num=0\"\n")
            .expect_err("zero partitions");
        let p = &e.problems()[0];
        assert_eq!(p.key, "changefeed[0].sink.kafka-config.partition-num");
        assert!(
            p.message
                .contains("(set by the sink-uri parameter partition-num)"),
            "{p}"
        );
    }

    #[test]
    fn start_ts_takes_a_wall_clock_time_in_the_changefeed_time_zone() {
        let at = |tz: &str, start: &str| {
            parse(
                Path::new("/etc/cf.toml"),
                &format!("{URI_BASE}time-zone = \"{tz}\"\nstart-ts = {start}\n[changefeed.sink]\ntype = \"stdout\"\nprotocol = \"canal-json\"\n"),
            )
            .map(|c| c.changefeeds[0].start_ts)
        };
        // 2026-11-25 08:00:00 UTC = 1795593600000 ms; PD's layout shifts it left by 18 bits.
        let utc = 1_795_593_600_000i64;
        assert_eq!(
            at("UTC", "\"2026-11-25 08:00:00\"").expect("utc"),
            StartPosition::UnixMillis(utc)
        );
        assert_eq!(
            at("+08:00", "\"2026-11-25 16:00:00\"").expect("offset"),
            StartPosition::UnixMillis(utc)
        );
        assert_eq!(
            at("Asia/Shanghai", "\"2026-11-25 16:00:00.250\"").expect("named"),
            StartPosition::UnixMillis(utc + 250)
        );
        assert_eq!(
            at("UTC", "\"2026-11-25 08:00:00\"")
                .expect("utc")
                .fixed_tso(),
            Some((utc as u64) << 18)
        );
        assert_eq!(
            at("UTC", "\"2026-11-25T16:00:00+08:00\"").expect("rfc"),
            StartPosition::UnixMillis(utc)
        );
        assert_eq!(
            at("UTC", "464118405038784512").expect("tso"),
            StartPosition::Tso(464118405038784512)
        );
        assert_eq!(at("UTC", "\"now\"").expect("now"), StartPosition::Now);
        // 02:30 does not exist in New York on 2026-03-08 (clocks jump from 02:00 to 03:00).
        let e = at("America/New_York", "\"2026-03-08 02:30:00\"").expect_err("skipped");
        assert!(
            e.to_string().contains("changefeed[0].start-ts")
                && e.to_string().contains("does not exist"),
            "{e}"
        );
        let e = at("UTC", "\"25/11/2026\"").expect_err("bad");
        assert!(
            e.to_string().contains("YYYY") || e.to_string().contains("2026-11-25 08:00:00"),
            "{e}"
        );
    }

    #[test]
    fn the_sql_store_is_configured_and_its_schema_excluded() {
        let c = load(
            r#"
[state]
checkpoint-store = "mysql"
[state.mysql]
dsn = "mysql://cdc@tidb:4000/cdc_state"
password = "pw"
[state.mysql.tls]
ca = "ca.pem"
"#,
        )
        .expect("valid");
        assert_eq!(c.state.store, CheckpointStore::Mysql);
        let m = c.state.mysql.as_ref().expect("mysql");
        assert_eq!(m.table, DEFAULT_STATE_TABLE);
        assert_eq!(m.connect_timeout.get(), std::time::Duration::from_secs(5));
        assert_eq!(m.query_timeout.get(), std::time::Duration::from_secs(3));
        assert_eq!(m.password.as_ref().map(Secret::expose), Some("pw"));
        assert!(!format!("{m:?}").contains("\"pw\""), "{m:?}");
        assert_eq!(
            m.tls.as_ref().map(|t| t.ca.clone()),
            Some(PathBuf::from("/etc/ca.pem"))
        );
        assert_eq!(
            c.changefeeds[0].filter.rules.last().map(String::as_str),
            Some("!cdc_state.*")
        );
    }

    #[test]
    fn sql_store_mistakes_are_located() {
        let keys = |extra: &str| -> Vec<(String, String)> {
            load(extra)
                .expect_err("invalid")
                .problems()
                .iter()
                .map(|p| (p.key.clone(), p.message.clone()))
                .collect()
        };
        let p = keys("[state]\nstore = \"mysql\"\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "state.store");
        assert!(p[0].1.contains("[state.mysql]"), "{p:?}");
        let p = keys(
            "[state]\nstore = \"mysql\"\n[state.mysql]\ndsn = \"mysql://cdc:hunter2@h:4000/db\"\ntable = \"bad-name\"\nquery-timeout = \"0s\"\n[state.mysql.tls]\nca = \"ca.pem\"\ncert = \"c.pem\"\n",
        );
        let got: Vec<&str> = p.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            got,
            vec![
                "state.mysql.dsn",
                "state.mysql.table",
                "state.mysql.tls.key",
                "state.mysql.query-timeout"
            ],
            "{p:?}"
        );
        assert!(!format!("{p:?}").contains("hunter2"), "{p:?}");
        let p = keys(
            "[state]\nstore = \"mysql\"\n[state.mysql]\ndsn = \"mysql://cdc@h:4000/db\"\npassword = { env = \"TIDB_CHANGEFEED_SURELY_UNSET_VAR\" }\n",
        );
        assert_eq!(p[0].0, "state.mysql.password", "{p:?}");
    }
}
