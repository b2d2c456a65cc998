//! The rules between settings that types alone cannot express: ranges, names, settings that
//! contradict each other, and settings whose behaviour is not built yet. Every rule reports
//! the key path it is about, and all problems of a file are reported together.
//!
//! A setting that the daemon does not implement is rejected here with "not supported yet";
//! it is never accepted and silently ignored.

use std::collections::HashMap;
use std::path::Path;

use super::changefeed::{
    ChangefeedConfig, DispatchRule, KafkaConfig, LargeMessageCompression, LargeMessageOption,
    Protocol, SaslMechanism, SinkKind,
};
use super::locate::KeyPath;
use super::model::{CheckpointStore, Config};

/// One broken rule.
#[derive(Debug, Clone)]
pub struct Violation {
    pub path: KeyPath,
    pub message: String,
}

#[derive(Default)]
struct Report(Vec<Violation>);

impl Report {
    fn err(&mut self, path: KeyPath, message: impl Into<String>) {
        self.0.push(Violation {
            path,
            message: message.into(),
        });
    }

    fn unsupported(&mut self, path: KeyPath, what: impl AsRef<str>) {
        self.err(path, format!("{} is not supported yet", what.as_ref()));
    }
}

/// Checks the whole configuration and resolves its secrets (relative secret files are read
/// from `base`).
pub fn validate(cfg: &mut Config, base: &Path) -> Vec<Violation> {
    let mut r = Report::default();
    let root = KeyPath::root();

    let up = root.key("upstream");
    if cfg.upstream.pd.is_empty() {
        r.err(
            up.key("pd"),
            "at least one PD endpoint is required, e.g. [\"http://127.0.0.1:2379\"]",
        );
    }
    for (i, ep) in cfg.upstream.pd.iter().enumerate() {
        let p = up.key("pd").index(i);
        match split_endpoint(ep) {
            Err(why) => r.err(p, why),
            Ok(https) => {
                if https && cfg.upstream.tls.is_none() {
                    r.err(
                        p,
                        format!("{ep:?} uses https but [upstream.tls] is not set"),
                    );
                }
            }
        }
    }
    if let Some(tls) = &cfg.upstream.tls {
        let t = up.key("tls");
        if tls.cert.is_some() != tls.key.is_some() {
            r.err(
                t.key(if tls.cert.is_some() { "key" } else { "cert" }),
                "`cert` and `key` must be set together",
            );
        }
    }
    if cfg.upstream.connect_timeout.get().is_zero() {
        r.err(up.key("connect-timeout"), "must be greater than 0");
    }

    if cfg.server.shutdown_timeout.get().is_zero() {
        r.err(
            root.key("server").key("shutdown-timeout"),
            "must be greater than 0",
        );
    }
    if cfg.state.checkpoint_store == CheckpointStore::Mysql {
        r.unsupported(
            root.key("state").key("checkpoint-store"),
            "checkpoint-store = \"mysql\"",
        );
    }
    if cfg.state.checkpoint_interval.get().is_zero() {
        r.err(
            root.key("state").key("checkpoint-interval"),
            "must be greater than 0",
        );
    }
    if let Err(why) = check_log_filter(&cfg.log.level) {
        r.err(root.key("log").key("level"), why);
    }

    if cfg.changefeeds.is_empty() {
        r.err(
            root.key("changefeed"),
            "no [[changefeed]] is configured; add at least one",
        );
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, cf) in cfg.changefeeds.iter_mut().enumerate() {
        let p = root.key("changefeed").index(i);
        if let Some(first) = seen.insert(cf.id.clone(), i) {
            r.err(
                p.key("id"),
                format!(
                    "duplicate changefeed id {:?} (also used by changefeed[{first}])",
                    cf.id
                ),
            );
        }
        changefeed(&mut r, &p, cf, base);
    }
    r.0
}

/// A level, or comma-separated `target=level` directives, as `RUST_LOG` takes them.
fn check_log_filter(filter: &str) -> Result<(), String> {
    const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
    for part in filter.split(',').map(str::trim) {
        let level = part.rsplit_once('=').map_or(part, |(_, l)| l);
        if !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "invalid log level {part:?} in {filter:?}: use off, error, warn, info, debug or trace, optionally as target=level"
            ));
        }
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(filter)
        .map(|_| ())
        .map_err(|e| format!("invalid log filter {filter:?}: {e}"))
}

/// Returns whether the endpoint uses https.
fn split_endpoint(ep: &str) -> Result<bool, String> {
    let (https, rest) = if let Some(r) = ep.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = ep.strip_prefix("http://") {
        (false, r)
    } else {
        (false, ep)
    };
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(https),
        _ => Err(format!(
            "invalid PD endpoint {ep:?}: expected host:port, optionally with http:// or https://"
        )),
    }
}

/// TiCDC's changefeed id rule: `^[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*$`.
fn valid_changefeed_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn changefeed(r: &mut Report, p: &KeyPath, cf: &mut ChangefeedConfig, base: &Path) {
    if !valid_changefeed_id(&cf.id) {
        r.err(
            p.key("id"),
            format!(
                "invalid changefeed id {:?}: use letters and digits, groups joined by single dashes (e.g. \"orders-to-kafka\")",
                cf.id
            ),
        );
    }
    if !valid_time_zone(&cf.time_zone) {
        r.err(
            p.key("time-zone"),
            format!("unknown time zone {:?}: use \"System\", \"UTC\", an offset such as \"+08:00\" or an IANA name such as \"Asia/Shanghai\"", cf.time_zone),
        );
    }
    let f = p.key("filter");
    if cf.filter.rules.is_empty() {
        r.err(
            f.key("rules"),
            "at least one rule is required (\"*.*\" selects every table)",
        );
    }
    for (i, rule) in cf.filter.rules.iter().enumerate() {
        if rule.trim().is_empty() {
            r.err(f.key("rules").index(i), "empty table-filter rule");
        }
    }
    matchers(r, &f.key("rules"), &cf.filter.rules, cf.case_sensitive);
    for (i, ef) in cf.filter.event_filters.iter().enumerate() {
        let e = f.key("event-filters").index(i);
        if ef.matcher.is_empty() {
            r.err(
                e.key("matcher"),
                "an event filter needs at least one matcher",
            );
        }
        for (j, re) in ef.ignore_sql.iter().enumerate() {
            if let Err(why) = regex::Regex::new(re) {
                r.err(
                    e.key("ignore-sql").index(j),
                    format!("invalid regular expression {re:?}: {why}"),
                );
            }
        }
        for (j, kind) in ef.ignore_event.iter().enumerate() {
            if !known_event_kind(kind) {
                r.err(
                    e.key("ignore-event").index(j),
                    format!("unknown event kind {kind:?}, expected e.g. \"all dml\", \"all ddl\", \"insert\", \"update\", \"delete\", \"create table\", \"drop column\""),
                );
            }
        }
        for (key, set) in [
            (
                "ignore-insert-value-expr",
                ef.ignore_insert_value_expr.is_some(),
            ),
            (
                "ignore-update-new-value-expr",
                ef.ignore_update_new_value_expr.is_some(),
            ),
            (
                "ignore-update-old-value-expr",
                ef.ignore_update_old_value_expr.is_some(),
            ),
            (
                "ignore-delete-value-expr",
                ef.ignore_delete_value_expr.is_some(),
            ),
        ] {
            if set {
                r.unsupported(e.key(key), format!("{key} (SQL expression filters)"));
            }
        }
    }
    let s = p.key("sink");
    for (i, rule) in cf.sink.dispatchers.iter().enumerate() {
        matchers(
            r,
            &s.key("dispatchers").index(i).key("matcher"),
            &rule.matcher,
            cf.case_sensitive,
        );
    }
    for (i, sel) in cf.sink.column_selectors.iter().enumerate() {
        let c = s.key("column-selectors").index(i);
        matchers(r, &c.key("matcher"), &sel.matcher, cf.case_sensitive);
        for (j, col) in sel.columns.iter().enumerate() {
            let pat = col.trim().trim_start_matches('!');
            match crate::filter::pattern::parse_pattern(pat, false, true) {
                Ok((_, "")) => {}
                Ok((_, rest)) => r.err(
                    c.key("columns").index(j),
                    format!("invalid column pattern {col:?}: stray characters {rest:?}"),
                ),
                Err(why) => r.err(
                    c.key("columns").index(j),
                    format!("invalid column pattern {col:?}: {why}"),
                ),
            }
        }
    }
    sink(r, &s, cf, base);
}

/// Table-filter rules (filter rules, dispatcher and selector matchers) must parse.
fn matchers(r: &mut Report, p: &KeyPath, rules: &[String], case_sensitive: bool) {
    if let Err(e) = crate::filter::TableFilter::parse(rules, case_sensitive) {
        r.err(p.index(e.index), e.to_string());
    }
}

fn valid_time_zone(tz: &str) -> bool {
    tz.eq_ignore_ascii_case("system") || tz.parse::<crate::mount::TimeZone>().is_ok()
}

/// Event kinds of TiCDC's `ignore-event` (`pkg/filter`), compared case-insensitively.
fn known_event_kind(kind: &str) -> bool {
    const KINDS: &[&str] = &[
        "all dml",
        "all ddl",
        "insert",
        "update",
        "delete",
        "create schema",
        "create database",
        "drop schema",
        "drop database",
        "create table",
        "drop table",
        "rename table",
        "truncate table",
        "alter table",
        "add table partition",
        "drop table partition",
        "truncate table partition",
        "create view",
        "drop view",
        "add column",
        "drop column",
        "modify column",
        "set default value",
        "add primary key",
        "drop primary key",
        "add index",
        "drop index",
        "rename index",
        "alter index visibility",
        "add unique key",
        "alter table partitioning",
        "remove table partitioning",
        "exchange table partition",
        "reorganize table partition",
        "alter column",
        "rebase auto id",
        "set ttl",
        "remove ttl",
        "modify table comment",
        "modify column comment",
        "modify table charset and collate",
        "modify schema charset and collate",
        "recover table",
        "create sequence",
        "alter sequence",
        "drop sequence",
        "multi schema change",
    ];
    let k = kind.trim().to_ascii_lowercase();
    KINDS.contains(&k.as_str())
}

fn sink(r: &mut Report, p: &KeyPath, cf: &mut ChangefeedConfig, base: &Path) {
    let s = &mut cf.sink;
    if s.protocol != Protocol::CanalJson {
        r.unsupported(
            p.key("protocol"),
            format!(
                "protocol = {:?} (only \"canal-json\" is built)",
                s.protocol.name()
            ),
        );
    }
    for (i, rule) in s.dispatchers.iter().enumerate() {
        dispatcher(r, &p.key("dispatchers").index(i), rule, s.protocol);
    }
    for (i, sel) in s.column_selectors.iter().enumerate() {
        let c = p.key("column-selectors").index(i);
        if sel.matcher.is_empty() {
            r.err(
                c.key("matcher"),
                "a column selector needs at least one matcher",
            );
        }
        if sel.columns.is_empty() {
            r.err(
                c.key("columns"),
                "a column selector needs at least one column pattern",
            );
        }
    }
    match (s.kind, s.kafka_config.as_mut()) {
        (SinkKind::Kafka, None) => r.err(
            p.key("kafka-config"),
            "a kafka sink needs [changefeed.sink.kafka-config] with `brokers` and `topic`",
        ),
        (SinkKind::Kafka, Some(k)) => kafka(
            r,
            &p.key("kafka-config"),
            k,
            s.protocol,
            cf.force_replicate == Some(true),
            base,
        ),
        (SinkKind::Stdout, Some(_)) => r.err(
            p.key("kafka-config"),
            "kafka-config is set but sink type is \"stdout\"; remove one of them",
        ),
        (SinkKind::Stdout, None) => {}
    }
}

fn dispatcher(r: &mut Report, p: &KeyPath, rule: &DispatchRule, protocol: Protocol) {
    if rule.matcher.is_empty() {
        r.err(p.key("matcher"), "a dispatcher needs at least one matcher");
    }
    let partition = match (&rule.partition, &rule.dispatcher) {
        (Some(_), Some(_)) => {
            r.err(
                p.key("dispatcher"),
                "`dispatcher` is the deprecated name of `partition`; set only `partition`",
            );
            rule.partition.as_deref()
        }
        (Some(x), None) | (None, Some(x)) => Some(x.as_str()),
        (None, None) => None,
    };
    let key = if rule.partition.is_some() {
        "partition"
    } else {
        "dispatcher"
    };
    match partition {
        None | Some("default" | "table" | "ts") => {}
        Some("index-value" | "rowid") => {}
        Some("columns") => {
            if rule.columns.is_empty() {
                r.err(p.key("columns"), "partition = \"columns\" needs a non-empty `columns` list");
            }
        }
        Some(other) => r.err(
            p.key(key),
            format!("unknown partition dispatcher {other:?}, expected one of default, table, index-value, ts, columns"),
        ),
    }
    if rule.index.is_some() && !matches!(partition, Some("index-value" | "rowid")) {
        r.err(
            p.key("index"),
            "`index` is only used with partition = \"index-value\"",
        );
    }
    if !rule.columns.is_empty() && partition != Some("columns") {
        r.err(
            p.key("columns"),
            "`columns` is only used with partition = \"columns\"",
        );
    }
    if let Some(topic) = &rule.topic
        && let Err(why) = check_topic_expression(topic, protocol)
    {
        r.err(p.key("topic"), why);
    }
}

/// TiCDC's topic expression rules (`dispatcher/topic/expression.go`).
fn check_topic_expression(expr: &str, protocol: Protocol) -> Result<(), String> {
    if expr.is_empty() || valid_topic_name(expr) {
        return Ok(());
    }
    let plain = |s: &str| s.bytes().all(topic_byte);
    // prefix? {schema}? (middle {table})? suffix
    let (before_schema, after_schema) = match expr.split_once("{schema}") {
        Some((a, b)) => (a, Some(b)),
        None => (expr, None),
    };
    let ok = match after_schema {
        Some(rest) => {
            plain(before_schema)
                && match rest.split_once("{table}") {
                    Some((mid, suffix)) => plain(mid) && plain(suffix),
                    None => plain(rest),
                }
        }
        None => match before_schema.split_once("{table}") {
            Some((pre, suffix)) => plain(pre) && plain(suffix),
            None => false,
        },
    };
    if !ok {
        return Err(format!(
            "invalid topic expression {expr:?}: use letters, digits, '.', '_', '-' and at most one {{schema}} followed by at most one {{table}}"
        ));
    }
    if protocol == Protocol::Avro && !(expr.contains("{schema}") && expr.contains("{table}")) {
        return Err(format!(
            "topic expression {expr:?} must contain both {{schema}} and {{table}} with protocol avro"
        ));
    }
    Ok(())
}

fn topic_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'
}

/// Kafka's topic name rule.
pub fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name.bytes().all(topic_byte)
}

fn kafka(
    r: &mut Report,
    p: &KeyPath,
    k: &mut KafkaConfig,
    protocol: Protocol,
    force_replicate: bool,
    base: &Path,
) {
    if k.brokers.is_empty() {
        r.err(
            p.key("brokers"),
            "at least one broker is required, e.g. [\"127.0.0.1:9092\"]",
        );
    }
    for (i, b) in k.brokers.iter().enumerate() {
        let ok = b.rsplit_once(':').is_some_and(|(h, port)| {
            !h.is_empty() && !h.contains("://") && port.parse::<u16>().is_ok()
        });
        if !ok {
            r.err(
                p.key("brokers").index(i),
                format!("invalid broker {b:?}: expected host:port without a scheme"),
            );
        }
    }
    if !valid_topic_name(&k.topic) {
        r.err(
            p.key("topic"),
            format!(
                "invalid topic name {:?}: 1 to 249 letters, digits, '.', '_' or '-'",
                k.topic
            ),
        );
    }
    if let Some(n) = k.partition_num
        && n <= 0
    {
        r.err(
            p.key("partition-num"),
            format!("must be greater than 0, got {n}"),
        );
    }
    if k.replication_factor <= 0 {
        r.err(
            p.key("replication-factor"),
            format!("must be greater than 0, got {}", k.replication_factor),
        );
    }
    let mmb = k.max_message_bytes.as_u64();
    if !(1024..=(1 << 30)).contains(&mmb) {
        r.err(
            p.key("max-message-bytes"),
            format!("must be between 1KiB and 1GiB, got {}", k.max_message_bytes),
        );
    }
    if let Some(id) = &k.kafka_client_id
        && (id.is_empty() || !id.bytes().all(topic_byte))
    {
        r.err(
            p.key("kafka-client-id"),
            format!("invalid client id {id:?}: letters, digits, '.', '_' or '-'"),
        );
    }
    for key in ["dial-timeout", "read-timeout", "write-timeout"] {
        let d = match key {
            "dial-timeout" => k.dial_timeout,
            "read-timeout" => k.read_timeout,
            _ => k.write_timeout,
        };
        if d.get().is_zero() {
            r.err(p.key(key), "must be greater than 0");
        }
    }
    if k.linger.get() > std::time::Duration::from_secs(10) {
        r.err(
            p.key("linger"),
            format!("must be at most 10s, got {}", k.linger),
        );
    }
    match k.required_acks {
        -1 => {}
        0 | 1 => r.unsupported(
            p.key("required-acks"),
            format!("required-acks = {} (only -1 keeps every committed row; it is the only value accepted)", k.required_acks),
        ),
        other => r.err(p.key("required-acks"), format!("invalid required-acks {other}, expected -1, 0 or 1")),
    }

    match k.sasl_mechanism {
        Some(m @ (SaslMechanism::Gssapi | SaslMechanism::Oauthbearer)) => {
            r.unsupported(
                p.key("sasl-mechanism"),
                format!("sasl-mechanism = {:?}", m.name()),
            );
        }
        Some(_) => {
            if k.sasl_user.as_deref().is_none_or(str::is_empty) {
                r.err(
                    p.key("sasl-user"),
                    "sasl-mechanism is set but sasl-user is missing",
                );
            }
            if k.sasl_password.is_none() {
                r.err(
                    p.key("sasl-password"),
                    "sasl-mechanism is set but sasl-password is missing",
                );
            }
        }
        None => {
            if k.sasl_user.is_some() || k.sasl_password.is_some() {
                let key = if k.sasl_user.is_some() {
                    "sasl-user"
                } else {
                    "sasl-password"
                };
                r.err(p.key(key), "SASL credentials are set but sasl-mechanism is not (plain, scram-sha-256 or scram-sha-512)");
            }
        }
    }
    if let Some(pw) = k.sasl_password.as_mut()
        && let Err(why) = pw.resolve(base)
    {
        r.err(p.key("sasl-password"), why);
    }

    if k.cert.is_some() != k.key.is_some() {
        r.err(
            p.key(if k.cert.is_some() { "key" } else { "cert" }),
            "`cert` and `key` must be set together",
        );
    }
    let tls = k.enable_tls || k.ca.is_some() || k.cert.is_some();
    if k.insecure_skip_verify && !tls {
        r.err(
            p.key("insecure-skip-verify"),
            "insecure-skip-verify needs TLS: set enable-tls = true",
        );
    }
    if k.insecure_skip_verify && k.ca.is_some() {
        r.err(
            p.key("insecure-skip-verify"),
            "insecure-skip-verify and ca contradict each other; keep one",
        );
    }
    for (key, file) in [("ca", &k.ca), ("cert", &k.cert), ("key", &k.key)] {
        if let Some(f) = file {
            let full = base.join(f);
            if !full.is_file() {
                r.err(
                    p.key(key),
                    format!("file {} does not exist or is not a file", full.display()),
                );
            }
        }
    }

    let lm = p.key("large-message-handle");
    let h = &k.large_message_handle;
    match h.large_message_handle_option {
        LargeMessageOption::None => {
            if h.claim_check_storage_uri.is_some() {
                r.err(
                    lm.key("claim-check-storage-uri"),
                    "set only with large-message-handle-option = \"claim-check\"",
                );
            }
        }
        opt => {
            if protocol == Protocol::CanalJson && !k.codec_config.enable_tidb_extension {
                r.err(
                    lm.key("large-message-handle-option"),
                    "canal-json marks handle-key-only and claim-check messages in its TiDB extension: set codec-config.enable-tidb-extension = true",
                );
            }
            if force_replicate {
                r.err(lm.key("large-message-handle-option"), "large-message handling needs a handle key and cannot be used with force-replicate = true");
            }
            if opt == LargeMessageOption::ClaimCheck {
                match h.claim_check_storage_uri.as_deref() {
                    None | Some("") => r.err(lm.key("claim-check-storage-uri"), "claim-check needs claim-check-storage-uri, e.g. \"file:///var/lib/tidb-changefeed/claim-check\""),
                    Some(uri) if uri.starts_with("file:///") => {}
                    Some(uri) => r.unsupported(lm.key("claim-check-storage-uri"), format!("claim-check storage {uri:?} (only file:/// URIs are built)")),
                }
            }
        }
    }
    if h.large_message_handle_compression != LargeMessageCompression::None {
        r.unsupported(
            lm.key("large-message-handle-compression"),
            "large-message-handle-compression other than \"none\"",
        );
    }
    if h.claim_check_raw_value && h.large_message_handle_option != LargeMessageOption::ClaimCheck {
        r.err(
            lm.key("claim-check-raw-value"),
            "set only with large-message-handle-option = \"claim-check\"",
        );
    }

    let cc = p.key("codec-config");
    let c = &k.codec_config;
    if c.content_compatible && protocol != Protocol::CanalJson {
        r.err(
            cc.key("content-compatible"),
            "content-compatible applies to canal-json only",
        );
    }
    if c.content_compatible && c.enable_tidb_extension {
        r.err(
            cc.key("content-compatible"),
            "content-compatible output has no TiDB extension: set enable-tidb-extension = false",
        );
    }
    if c.only_output_updated_columns && !matches!(protocol, Protocol::CanalJson | Protocol::Simple)
    {
        r.err(
            cc.key("only-output-updated-columns"),
            "only-output-updated-columns applies to canal-json and simple only",
        );
    }
    if let Some(url) = &c.schema_registry
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        r.err(
            cc.key("schema-registry"),
            format!("invalid schema registry URL {url:?}: expected http:// or https://"),
        );
    }
    if c.max_batch_size == 0 {
        r.err(cc.key("max-batch-size"), "must be greater than 0");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changefeed_ids() {
        assert!(valid_changefeed_id("orders-to-kafka"));
        assert!(valid_changefeed_id("cf1"));
        assert!(!valid_changefeed_id("cf_1"));
        assert!(!valid_changefeed_id("-cf"));
        assert!(!valid_changefeed_id("cf--1"));
    }

    #[test]
    fn topic_expressions() {
        let ok = [
            "tidb",
            "cdc_{schema}",
            "{schema}_{table}",
            "p.{table}.s",
            "{schema}",
        ];
        for e in ok {
            assert!(
                check_topic_expression(e, Protocol::CanalJson).is_ok(),
                "{e}"
            );
        }
        for e in ["a b", "{table}_{schema}", "{Schema}", "x{schema}{schema}"] {
            assert!(
                check_topic_expression(e, Protocol::CanalJson).is_err(),
                "{e}"
            );
        }
        assert!(check_topic_expression("{schema}", Protocol::Avro).is_err());
    }

    #[test]
    fn time_zones() {
        assert!(valid_time_zone("System"));
        assert!(valid_time_zone("UTC"));
        assert!(valid_time_zone("+08:00"));
        assert!(valid_time_zone("Asia/Shanghai"));
        assert!(!valid_time_zone("Mars/Olympus"));
    }
}
