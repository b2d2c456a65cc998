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
pub use secret::{Secret, SecretSource};
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
    Ok(config)
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
