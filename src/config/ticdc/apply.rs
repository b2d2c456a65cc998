//! Writes TiCDC settings into a `[[changefeed]]` TOML table of this daemon, through the
//! table of [`super::keys`]: the sink URI's brokers, topic and parameters (URI values
//! override keys the file already has, as TiCDC merges them, tiflow
//! `pkg/sink/kafka/options.go:335-374`), and single settings of a TiCDC configuration file.
//! What is not carried over is returned with its reason, never dropped silently.

use toml::{Table, Value};

use super::keys::{self, Fate, Kind};
use super::uri::SinkUri;

/// How secrets (SASL password, a schema registry URL with credentials) are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretStyle {
    /// The value itself.
    Inline,
    /// `{ env = "<prefix>_<KEY>" }`; the value is not written anywhere.
    Env(String),
}

/// Why a setting was not carried over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It has no effect on a Kafka changefeed here.
    NoEffect(String),
    /// It changes the output or the connection, and is not built here.
    Unsupported(String),
    /// TiCDC has no such setting (or this daemon does not know it).
    Unknown,
    /// The value cannot be read as the setting's type.
    BadValue(String),
}

/// One setting that was not carried over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The parameter or key path as TiCDC names it.
    pub name: String,
    /// Its value as written (secrets masked).
    pub value: String,
    pub verdict: Verdict,
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.verdict {
            Verdict::NoEffect(why) => write!(f, "{}={}: ignored: {why}", self.name, self.value),
            Verdict::Unsupported(why) => {
                write!(f, "{}={}: not supported: {why}", self.name, self.value)
            }
            Verdict::Unknown => write!(
                f,
                "{}={}: unknown TiCDC setting, not carried over",
                self.name, self.value
            ),
            Verdict::BadValue(why) => {
                write!(f, "{}={}: invalid value: {why}", self.name, self.value)
            }
        }
    }
}

/// What applying settings did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// (TiCDC name, our key path below `[[changefeed]]`) of every value written.
    pub mapped: Vec<(String, String)>,
    pub dropped: Vec<Dropped>,
    /// (environment variable, our key path) of every secret written as a reference.
    pub secrets: Vec<(String, String)>,
}

/// Writes the URI's brokers, default topic and parameters into `cf` (a `[[changefeed]]`
/// table).
pub fn apply_uri(cf: &mut Table, uri: &SinkUri, secrets: &SecretStyle) -> Outcome {
    let mut out = Outcome::default();
    let brokers = Value::Array(uri.brokers.iter().cloned().map(Value::String).collect());
    set_path(cf, "sink.kafka-config.brokers", brokers);
    set_path(
        cf,
        "sink.kafka-config.topic",
        Value::String(uri.topic.clone()),
    );
    for (name, value) in &uri.params {
        let shown = if super::uri::is_secret_param(name) {
            "***".to_string()
        } else {
            value.clone()
        };
        let dropped = |verdict| Dropped {
            name: name.clone(),
            value: shown.clone(),
            verdict,
        };
        let Some(entry) = keys::uri_param(name) else {
            out.dropped.push(dropped(Verdict::Unknown));
            continue;
        };
        match (entry.fate, keys::value_verdict(name, value)) {
            (_, Some(Fate::Unsupported(why))) | (Fate::Unsupported(why), _) => out
                .dropped
                .push(dropped(Verdict::Unsupported(why.to_string()))),
            (_, Some(Fate::NoEffect(why))) | (Fate::NoEffect(why), _) => out
                .dropped
                .push(dropped(Verdict::NoEffect(why.to_string()))),
            (Fate::Map { to, kind }, _) => match from_text(kind, value) {
                Ok(v) => {
                    let v = secret(v, kind, to, secrets, &mut out);
                    set_path(cf, to, v);
                    out.mapped.push((name.clone(), to.to_string()));
                }
                Err(why) => out.dropped.push(dropped(Verdict::BadValue(why))),
            },
        }
    }
    out
}

/// Writes one typed value of a TiCDC file key (already judged to be mapped to `to`).
pub fn apply_value(
    cf: &mut Table,
    name: &str,
    to: &str,
    kind: Kind,
    value: Value,
    secrets: &SecretStyle,
    out: &mut Outcome,
) {
    // TiCDC's TOML takes some numbers and booleans as strings too.
    let value = match (kind, value) {
        (Kind::Int | Kind::Bool, Value::String(s)) => match from_text(kind, &s) {
            Ok(v) => v,
            Err(why) => {
                out.dropped.push(Dropped {
                    name: name.to_string(),
                    value: s,
                    verdict: Verdict::BadValue(why),
                });
                return;
            }
        },
        (_, v) => v,
    };
    let value = secret(value, kind, to, secrets, out);
    set_path(cf, to, value);
    out.mapped.push((name.to_string(), to.to_string()));
}

/// A secret value as `secrets` wants it written.
fn secret(value: Value, kind: Kind, to: &str, secrets: &SecretStyle, out: &mut Outcome) -> Value {
    let SecretStyle::Env(prefix) = secrets else {
        return value;
    };
    let Value::String(text) = &value else {
        return value;
    };
    // A registry URL is a secret only when it carries credentials.
    let has_secret = kind == Kind::Secret
        && (!to.ends_with("schema-registry")
            || text
                .split_once("://")
                .is_some_and(|(_, rest)| rest.split('/').next().is_some_and(|a| a.contains('@'))));
    if !has_secret {
        return value;
    }
    let last = to.rsplit('.').next().unwrap_or(to);
    let var = format!("{prefix}_{}", last.to_ascii_uppercase().replace('-', "_"));
    out.secrets.push((var.clone(), to.to_string()));
    let mut t = Table::new();
    t.insert("env".to_string(), Value::String(var));
    Value::Table(t)
}

/// A URI parameter's text as the TOML value of `kind` (Go's `strconv.ParseBool` and
/// `strconv.Atoi` forms).
pub fn from_text(kind: Kind, text: &str) -> Result<Value, String> {
    match kind {
        Kind::Int => text
            .trim()
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| format!("{text:?} is not an integer")),
        Kind::Bool => match text.trim() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(Value::Boolean(true)),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(Value::Boolean(false)),
            other => Err(format!("{other:?} is not a boolean (true or false)")),
        },
        Kind::StrList | Kind::Rules => Err("a list cannot be given in a sink URI".to_string()),
        Kind::Str | Kind::Duration | Kind::Path | Kind::Secret | Kind::Protocol => {
            Ok(Value::String(text.to_string()))
        }
    }
}

/// Sets `path` (dotted) in `t`, creating the tables on the way; a non-table in the way is
/// replaced.
pub fn set_path(t: &mut Table, path: &str, value: Value) {
    let mut cur = t;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(part.to_string(), value);
            return;
        }
        let next = cur
            .entry(part.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        if !next.is_table() {
            *next = Value::Table(Table::new());
        }
        let Value::Table(inner) = next else {
            return;
        };
        cur = inner;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cf(text: &str) -> Table {
        toml::from_str(text).expect("toml")
    }

    #[test]
    fn uri_values_override_the_file_and_unsupported_ones_are_named() {
        let mut t = cf(
            "[sink]\nprotocol = \"avro\"\n[sink.kafka-config]\npartition-num = 3\nbrokers = [\"old:1\"]\ntopic = \"old\"\n",
        );
        let uri = SinkUri::parse("kafka://a:9092,b:9092/orders?protocol=canal-json&partition-num=6&sasl-mechanism=gssapi&sasl-gssapi-user=alice&kafka-version=2.4.0&enable-tidb-extension=true&transaction-atomicity=none&bogus=1").expect("uri");
        let out = apply_uri(&mut t, &uri, &SecretStyle::Inline);
        let k = &t["sink"]["kafka-config"];
        assert_eq!(t["sink"]["protocol"].as_str(), Some("canal-json"));
        assert_eq!(k["partition-num"].as_integer(), Some(6));
        assert_eq!(k["topic"].as_str(), Some("orders"));
        assert_eq!(k["brokers"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            k["codec-config"]["enable-tidb-extension"].as_bool(),
            Some(true)
        );
        assert!(k.get("sasl-mechanism").is_none());
        let names: Vec<(&str, &Verdict)> = out
            .dropped
            .iter()
            .map(|d| (d.name.as_str(), &d.verdict))
            .collect();
        assert!(
            matches!(names[0], ("sasl-mechanism", Verdict::Unsupported(w)) if w.contains("GSSAPI")),
            "{names:?}"
        );
        assert!(matches!(
            names[1],
            ("sasl-gssapi-user", Verdict::Unsupported(_))
        ));
        assert!(matches!(
            names[2],
            ("transaction-atomicity", Verdict::NoEffect(_))
        ));
        assert_eq!(names[3], ("bogus", &Verdict::Unknown));
        assert_eq!(names.len(), 4, "{names:?}");
    }

    #[test]
    fn secrets_become_references() {
        let mut t = Table::new();
        let uri = SinkUri::parse(
            "kafka://a:9092/t?protocol=avro&sasl-user=u&sasl-password=pw&sasl-mechanism=plain&schema-registry=http%3A%2F%2Fu%3Ap%40reg%3A8081",
        )
        .expect("uri");
        let out = apply_uri(
            &mut t,
            &uri,
            &SecretStyle::Env("TIDB_CHANGEFEED_CF1".into()),
        );
        assert_eq!(
            t["sink"]["kafka-config"]["sasl-password"]["env"].as_str(),
            Some("TIDB_CHANGEFEED_CF1_SASL_PASSWORD")
        );
        assert_eq!(
            t["sink"]["schema-registry"]["env"].as_str(),
            Some("TIDB_CHANGEFEED_CF1_SCHEMA_REGISTRY")
        );
        assert_eq!(out.secrets.len(), 2);
        assert!(!toml::to_string(&t).expect("toml").contains("pw"));
    }

    #[test]
    fn bad_values_are_named() {
        let mut t = Table::new();
        let uri = SinkUri::parse("kafka://a:9092/t?partition-num=six&auto-create-topic=yes")
            .expect("uri");
        let out = apply_uri(&mut t, &uri, &SecretStyle::Inline);
        assert_eq!(out.dropped.len(), 2);
        assert!(
            out.dropped
                .iter()
                .all(|d| matches!(d.verdict, Verdict::BadValue(_)))
        );
    }
}
