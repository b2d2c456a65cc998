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

    let deserializer = toml::de::Deserializer::from(doc.clone());
    let mut config: Config = serde_path_to_error::deserialize(deserializer).map_err(|e| {
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
                    problem(
                        locate::span_of(&doc, &v.path).start,
                        v.path.to_string(),
                        v.message,
                    )
                })
                .collect(),
        ));
    }
    anchor_paths(&mut config, &base);
    exclude_state_schema(&mut config);
    Ok(config)
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
