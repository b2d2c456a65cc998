//! `tidb-changefeed import-ticdc`: turns a TiCDC Kafka changefeed (its `--sink-uri`, its
//! `--config` TOML, `--start-ts`, `--schema-registry`, `--changefeed-id` and the cluster's
//! `--pd`, as given to `cdc cli changefeed create`) into a complete configuration file for
//! this daemon.
//!
//! Every TiCDC setting goes through the table of [`crate::config::ticdc::keys`]: it is
//! carried over, or named with the reason it is not (no effect here, not supported, unknown,
//! bad value) both as TOML comments at the top of the output and in [`Imported::dropped`].
//! Secrets are written as `{ env = "…" }` references unless the operator asks for them
//! inline. The output is then read back with the real configuration loader; what it finds is
//! reported, split into what needs the machine that runs the daemon (a secret variable, a
//! certificate file) and what makes the file unusable.

use std::fmt::Write as _;
use std::path::Path;

use toml::{Table, Value};

use crate::config::ticdc::apply::{self, Dropped, Outcome, SecretStyle, Verdict};
use crate::config::ticdc::keys::{self, Fate, Kind};
use crate::config::ticdc::{SinkUri, UriError};
use crate::config::{self, StartPosition};

/// What the operator gave, as `cdc cli changefeed create` takes it.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub sink_uri: String,
    /// The TiCDC changefeed configuration file's path and text.
    pub config: Option<(String, String)>,
    pub start_ts: Option<String>,
    pub changefeed_id: Option<String>,
    /// TiCDC's `--schema-registry` flag.
    pub schema_registry: Option<String>,
    /// PD addresses (TiCDC's `--pd`).
    pub pd: Vec<String>,
    /// Write secrets as they are instead of as environment references.
    pub inline_secrets: bool,
}

/// The result of an import.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The whole configuration file.
    pub toml: String,
    /// Every TiCDC setting that was not carried over, with the reason.
    pub dropped: Vec<Dropped>,
    /// Environment variables the configuration reads its secrets from.
    pub secrets: Vec<String>,
    /// What the loader said about the output and needs the target machine (a variable not
    /// set here, a file that is not here).
    pub notes: Vec<String>,
    /// What the loader said makes the output unusable as it is.
    pub problems: Vec<String>,
}

/// Why nothing could be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Uri(#[from] UriError),
    #[error("{path}: not a TOML file: {reason}")]
    Config { path: String, reason: String },
    #[error("--start-ts: {0}")]
    StartTs(String),
}

/// The changefeed id when none is given.
pub const DEFAULT_ID: &str = "kafka-changefeed";

/// Imports one TiCDC changefeed.
pub fn import(opts: &ImportOptions) -> Result<Imported, ImportError> {
    let uri = SinkUri::parse(&opts.sink_uri)?;
    let id = opts
        .changefeed_id
        .clone()
        .unwrap_or_else(|| DEFAULT_ID.to_string());
    let secrets = if opts.inline_secrets {
        SecretStyle::Inline
    } else {
        let var: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        SecretStyle::Env(format!("TIDB_CHANGEFEED_{var}"))
    };
    let mut cf = Table::new();
    cf.insert("id".into(), Value::String(id.clone()));
    let mut notes_top = Vec::new();
    let start = match &opts.start_ts {
        None => StartPosition::Now,
        Some(text) => StartPosition::parse(text)
            .and_then(|p| p.in_zone(crate::mount::time::TimeZone::Utc))
            .map_err(ImportError::StartTs)?,
    };
    if let Some(text) = &opts.start_ts
        && !text.contains(['T', '+', 'Z'])
        && text.contains(' ')
    {
        notes_top.push(format!(
            "--start-ts {text:?} has no time zone and was read as UTC"
        ));
    }
    cf.insert(
        "start-ts".into(),
        match start {
            StartPosition::Tso(t) => Value::Integer(i64::try_from(t).unwrap_or(i64::MAX)),
            other => Value::String(other.to_string()),
        },
    );

    let mut out = Outcome::default();
    if let Some((path, text)) = &opts.config {
        let file: Table = toml::from_str(text).map_err(|e| ImportError::Config {
            path: path.clone(),
            reason: e.message().trim().to_string(),
        })?;
        walk(&file, "", &mut cf, &secrets, &mut out);
    }
    if let Some(registry) = &opts.schema_registry {
        apply::apply_value(
            &mut cf,
            "--schema-registry",
            "sink.schema-registry",
            Kind::Secret,
            Value::String(registry.clone()),
            &secrets,
            &mut out,
        );
    }
    let from_uri = apply::apply_uri(&mut cf, &uri, &secrets);
    out.mapped.extend(from_uri.mapped);
    out.dropped.extend(from_uri.dropped);
    out.secrets.extend(from_uri.secrets);
    for p in &uri.repeated {
        notes_top.push(format!(
            "sink-uri parameter {p} is given more than once: its first value is used, as TiCDC does"
        ));
    }
    if !cf.contains_key("force-replicate") {
        cf.insert("force-replicate".into(), Value::Boolean(false));
        notes_top.push(
            "force-replicate = false is TiCDC's default: tables without a primary key or NOT NULL unique key are skipped"
                .to_string(),
        );
    }

    let mut root = Table::new();
    let mut upstream = Table::new();
    let pd = if opts.pd.is_empty() {
        notes_top.push(
            "no --pd given: [upstream] pd is TiCDC's default http://127.0.0.1:2379; set your PD addresses"
                .to_string(),
        );
        vec!["http://127.0.0.1:2379".to_string()]
    } else {
        opts.pd
            .iter()
            .flat_map(|p| p.split(','))
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()
    };
    upstream.insert(
        "pd".into(),
        Value::Array(pd.into_iter().map(Value::String).collect()),
    );
    root.insert("upstream".into(), Value::Table(upstream));
    root.insert("changefeed".into(), Value::Array(vec![Value::Table(cf)]));

    let body = toml::to_string(&root).map_err(|e| ImportError::Config {
        path: "(output)".into(),
        reason: e.to_string(),
    })?;
    let mut text = header(opts, &uri, &out, &notes_top);
    text.push_str(&body);

    let (notes, problems) = self_check(&text);
    Ok(Imported {
        toml: text,
        dropped: out.dropped,
        secrets: out.secrets.into_iter().map(|(v, _)| v).collect(),
        notes: notes_top.into_iter().chain(notes).collect(),
        problems,
    })
}

/// Walks a TiCDC configuration table, judging each key by the table of settings.
fn walk(t: &Table, prefix: &str, cf: &mut Table, secrets: &SecretStyle, out: &mut Outcome) {
    for (k, v) in t {
        let path = format!("{prefix}{k}");
        let Some(entry) = keys::file_key(&path) else {
            if let Value::Table(inner) = v {
                walk(inner, &format!("{path}."), cf, secrets, out);
            } else {
                out.dropped.push(Dropped {
                    value: shown(&path, v),
                    name: path,
                    verdict: Verdict::Unknown,
                });
            }
            continue;
        };
        // A table inside a whole-table entry (`sink.pulsar-config.oauth2`): name each key.
        if let (Value::Table(inner), true) = (v, entry.key.ends_with(".*")) {
            walk(inner, &format!("{path}."), cf, secrets, out);
            continue;
        }
        let fate = keys::value_verdict(&path, &text_of(v)).unwrap_or(entry.fate);
        match fate {
            Fate::Map {
                to,
                kind: Kind::Rules,
            } => rules(&path, to, v, cf, out),
            Fate::Map { to, kind } => {
                apply::apply_value(cf, &path, to, kind, v.clone(), secrets, out)
            }
            Fate::NoEffect(why) => out.dropped.push(Dropped {
                name: path.clone(),
                value: shown(&path, v),
                verdict: Verdict::NoEffect(why.to_string()),
            }),
            Fate::Unsupported(why) => out.dropped.push(Dropped {
                name: path.clone(),
                value: shown(&path, v),
                verdict: Verdict::Unsupported(why.to_string()),
            }),
        }
    }
}

/// The keys a rule of each list has here (TiCDC's names).
fn rule_keys(path: &str) -> &'static [&'static str] {
    match path {
        "sink.dispatchers" => &[
            "matcher",
            "topic",
            "partition",
            "dispatcher",
            "index",
            "columns",
        ],
        "sink.column-selectors" => &["matcher", "columns"],
        _ => &["matcher", "ignore-event", "ignore-sql"],
    }
}

/// Copies an array of rule tables key by key; keys this daemon does not have are named.
fn rules(path: &str, to: &str, v: &Value, cf: &mut Table, out: &mut Outcome) {
    let Value::Array(items) = v else {
        out.dropped.push(Dropped {
            name: path.to_string(),
            value: shown(path, v),
            verdict: Verdict::BadValue("expected a list of tables".into()),
        });
        return;
    };
    let mut copied = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Table(rule) = item else {
            out.dropped.push(Dropped {
                name: format!("{path}[{i}]"),
                value: shown(path, item),
                verdict: Verdict::BadValue("expected a table".into()),
            });
            continue;
        };
        let mut kept = Table::new();
        for (k, val) in rule {
            let name = format!("{path}[{i}].{k}");
            if rule_keys(path).contains(&k.as_str()) {
                kept.insert(k.clone(), val.clone());
                continue;
            }
            let verdict = match keys::file_key(&format!("{path}.{k}")).map(|e| e.fate) {
                Some(Fate::Unsupported(why)) => Verdict::Unsupported(why.to_string()),
                Some(Fate::NoEffect(why)) => Verdict::NoEffect(why.to_string()),
                _ => Verdict::Unknown,
            };
            out.dropped.push(Dropped {
                name,
                value: shown(k, val),
                verdict,
            });
        }
        copied.push(Value::Table(kept));
    }
    apply::set_path(cf, to, Value::Array(copied));
    out.mapped.push((path.to_string(), to.to_string()));
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A value for messages, secrets masked.
fn shown(path: &str, v: &Value) -> String {
    let name = path.rsplit('.').next().unwrap_or(path);
    if name.contains("password")
        || name.contains("secret")
        || name.ends_with("token")
        || name.ends_with("access-key")
    {
        return "***".to_string();
    }
    let t = text_of(v);
    if t.len() > 80 {
        format!("{}…", t.chars().take(77).collect::<String>())
    } else {
        t
    }
}

/// The comment block at the top of the output.
fn header(opts: &ImportOptions, uri: &SinkUri, out: &Outcome, notes: &[String]) -> String {
    let mut h = String::new();
    let _ = writeln!(
        h,
        "# Imported from a TiCDC changefeed by `tidb-changefeed import-ticdc` ({}).",
        crate::build_info::VERSION
    );
    let _ = writeln!(h, "# sink-uri: {uri}");
    if let Some((path, _)) = &opts.config {
        let _ = writeln!(h, "# config:   {path}");
    }
    let _ = writeln!(
        h,
        "# Validate it with `tidb-changefeed check --config FILE` on the machine that runs the daemon."
    );
    for n in notes {
        let _ = writeln!(h, "# note: {n}");
    }
    if !out.secrets.is_empty() {
        let _ = writeln!(
            h,
            "# Secrets are read from the environment; set before starting the daemon:"
        );
        for (var, key) in &out.secrets {
            let _ = writeln!(h, "#   {var}  ({key})");
        }
    }
    for (title, pick) in [
        (
            "Not supported here (left out; see README \"Coming from TiCDC\"):",
            0u8,
        ),
        ("Unknown to TiCDC or to this importer (left out):", 1),
        ("Invalid values (left out):", 2),
        ("No effect on a Kafka changefeed here (left out):", 3),
    ] {
        let items: Vec<&Dropped> = out
            .dropped
            .iter()
            .filter(|d| {
                matches!(
                    (&d.verdict, pick),
                    (Verdict::Unsupported(_), 0)
                        | (Verdict::Unknown, 1)
                        | (Verdict::BadValue(_), 2)
                        | (Verdict::NoEffect(_), 3)
                )
            })
            .collect();
        if items.is_empty() {
            continue;
        }
        let _ = writeln!(h, "# {title}");
        for d in items {
            let _ = writeln!(h, "#   {d}");
        }
    }
    h.push('\n');
    h
}

/// Reads the output back with the configuration loader. Problems that only the target
/// machine can fix (a secret variable not set here, a certificate file not here) are notes.
fn self_check(text: &str) -> (Vec<String>, Vec<String>) {
    let dir = std::env::current_dir().unwrap_or_else(|_| Path::new(".").to_path_buf());
    match config::parse(&dir.join("imported.toml"), text) {
        Ok(_) => (Vec::new(), Vec::new()),
        Err(e) => {
            let mut notes = Vec::new();
            let mut problems = Vec::new();
            for p in e.problems() {
                let machine = p.message.contains("environment variable")
                    || p.message.contains("does not exist")
                    || p.message.contains("cannot read secret file");
                let line = format!("{}: {}", p.key, p.message);
                if machine {
                    notes.push(format!(
                        "{line} (fix it on the machine that runs the daemon)"
                    ));
                } else {
                    problems.push(line);
                }
            }
            if let config::ConfigError::Read { .. } = e {
                problems.push(e.to_string());
            }
            (notes, problems)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_and_a_uri_make_one_changefeed() {
        let opts = ImportOptions {
            sink_uri: "kafka://k1:9092/cdc?protocol=canal-json&enable-tidb-extension=true&sasl-mechanism=scram-sha-512&sasl-user=cdc&sasl-password=pw".into(),
            config: Some((
                "cf.toml".into(),
                "case-sensitive = true\n[mounter]\nworker-num = 8\n[filter]\nrules = ['db.*']\n[[filter.event-filters]]\nmatcher = ['db.t']\nignore-event = ['delete']\nignore-insert-value-expr = 'id > 1'\n[sink]\nprotocol = 'avro'\nenable-kafka-sink-v2 = false\nsomething = 1\n[sink.kafka-config]\npartition-num = 3\nsasl-oauth-client-id = 'x'\n".into(),
            )),
            start_ts: Some("2026-01-02 03:04:05".into()),
            changefeed_id: Some("cf-1".into()),
            pd: vec!["http://pd:2379".into()],
            inline_secrets: true,
            ..ImportOptions::default()
        };
        let imported = import(&opts).expect("imports");
        assert!(imported.problems.is_empty(), "{:?}", imported.problems);
        let cfg = config::parse(Path::new("/tmp/x.toml"), &imported.toml).expect("loads");
        let cf = &cfg.changefeeds[0];
        assert_eq!(cf.id, "cf-1");
        assert!(cf.case_sensitive);
        assert_eq!(cf.force_replicate, Some(false));
        assert_eq!(cf.start_ts.fixed_tso(), Some(1_767_323_045_000u64 << 18));
        assert_eq!(cf.sink.protocol, crate::config::Protocol::CanalJson);
        let k = cf.kafka_sink().expect("kafka");
        assert_eq!(k.partition_num, Some(3));
        assert!(k.codec_config.enable_tidb_extension);
        assert_eq!(cf.filter.event_filters[0].ignore_event, vec!["delete"]);
        assert_eq!(k.sasl_password.as_ref().map(|s| s.expose()), Some("pw"));
        let names: Vec<&str> = imported.dropped.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "filter.event-filters[0].ignore-insert-value-expr",
                "mounter.worker-num",
                "sink.enable-kafka-sink-v2",
                "sink.kafka-config.sasl-oauth-client-id",
                "sink.something",
            ]
        );
        assert!(
            imported
                .toml
                .contains("#   sink.something=1: unknown TiCDC setting")
        );
    }
}
