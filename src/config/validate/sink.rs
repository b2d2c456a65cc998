//! Rules of `[sink]`: only the built protocols, and what each protocol's capabilities
//! ([`crate::config::ProtocolCaps`]) demand — a schema registry URL (resolved, `http(s)://`)
//! exactly where one is used, `force-replicate = true` not where rows need a handle key, every
//! dispatcher's topic one table's own where the protocol has one table per topic; each
//! dispatcher's rules, each column selector complete, `[sink.debezium]` only with
//! `protocol = "debezium"`, and a `kafka-config` exactly when the sink type is `kafka` (whose
//! rules are in `kafka`).

use std::path::Path;

use super::{Report, dispatch, kafka, selector};
use crate::config::{ChangefeedConfig, KeyPath, Protocol, SinkConfig, SinkKind};

pub(super) fn check(r: &mut Report, p: &KeyPath, cf: &mut ChangefeedConfig, base: &Path) {
    let s = &mut cf.sink;
    let caps = s.protocol.caps();
    if !caps.built {
        r.unsupported(
            p.key("protocol"),
            format!(
                "protocol = {:?} (built: {})",
                s.protocol.name(),
                Protocol::built_names().join(", ")
            ),
        );
    }
    schema_registry(r, p, s, base);
    if caps.needs_handle_key && cf.force_replicate == Some(true) {
        r.err(
            p.parent().key("force-replicate"),
            format!(
                "protocol {} keys every record by the table's handle key, so tables without one cannot be replicated: set force-replicate = false (or leave it out)",
                s.protocol.name()
            ),
        );
    }
    if caps.one_table_per_topic {
        one_table_per_topic(r, p, s);
    }
    for (i, rule) in s.dispatchers.iter().enumerate() {
        dispatch::check(r, &p.key("dispatchers").index(i), rule, s.protocol);
    }
    selector::required(r, p, &s.column_selectors);
    if s.debezium.is_some() && s.protocol != Protocol::Debezium {
        r.err(
            p.key("debezium"),
            format!(
                "[sink.debezium] applies to protocol debezium only (protocol is {}); remove it",
                s.protocol.name()
            ),
        );
    }
    if s.open.is_some() && s.protocol != Protocol::OpenProtocol {
        r.err(
            p.key("open"),
            format!(
                "[sink.open] applies to protocol open-protocol only (protocol is {}); remove it",
                s.protocol.name()
            ),
        );
    }
    match (s.kind, s.kafka_config.as_mut()) {
        (SinkKind::Kafka, None) => r.err(
            p.key("kafka-config"),
            "a kafka sink needs [changefeed.sink.kafka-config] with `brokers` and `topic`",
        ),
        (SinkKind::Kafka, Some(k)) => kafka::check(
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

/// `schema-registry`: required by protocols that use one, refused by the others, and a
/// resolvable `http(s)://` URL.
fn schema_registry(r: &mut Report, p: &KeyPath, s: &mut SinkConfig, base: &Path) {
    let wanted = s.protocol.caps().schema_registry;
    if s.schema_registry.is_none() {
        if wanted {
            r.err(
                p.key("schema-registry"),
                format!(
                    "protocol {} needs a Confluent-compatible schema registry: set schema-registry = \"http://host:8081\"",
                    s.protocol.name()
                ),
            );
        }
        return;
    }
    if !wanted {
        r.err(
            p.key("schema-registry"),
            format!(
                "protocol {} does not use a schema registry; remove schema-registry",
                s.protocol.name()
            ),
        );
        return;
    }
    if let Some(ca) = s.schema_registry_ca.as_ref() {
        let path = if ca.is_relative() {
            base.join(ca)
        } else {
            ca.clone()
        };
        if !path.is_file() {
            r.err(
                p.key("schema-registry-ca"),
                format!("CA file {} does not exist", path.display()),
            );
        }
        s.schema_registry_ca = Some(path);
    }
    let Some(url) = s.schema_registry.as_mut() else {
        return;
    };
    if let Err(why) = url.resolve(base) {
        r.err(p.key("schema-registry"), why);
        return;
    }
    let text = url.expose();
    if !(text.starts_with("http://") || text.starts_with("https://")) {
        r.err(
            p.key("schema-registry"),
            "invalid schema registry URL: expected http://[user:password@]host:port or https://…",
        );
    }
}

/// Every table must have its own topic: each dispatcher names a topic expression with both
/// `{schema}` and `{table}` (its syntax is checked with the dispatcher), and some dispatcher
/// exists (otherwise every table would share the default topic).
fn one_table_per_topic(r: &mut Report, p: &KeyPath, s: &SinkConfig) {
    let name = s.protocol.name();
    if s.dispatchers.is_empty() {
        r.err(
            p.key("dispatchers"),
            format!(
                "protocol {name} needs one topic per table: add a dispatcher such as {{ matcher = [\"*.*\"], topic = \"tidb_{{schema}}_{{table}}\" }}"
            ),
        );
    }
    for (i, rule) in s.dispatchers.iter().enumerate() {
        // An expression is checked (both placeholders) with the dispatcher's own rules.
        let expression = rule.topic.as_deref().is_some_and(|t| t.contains('{'));
        if !expression {
            r.err(
                p.key("dispatchers").index(i).key("topic"),
                format!(
                    "protocol {name} needs one topic per table: set topic to an expression with both {{schema}} and {{table}}, e.g. \"tidb_{{schema}}_{{table}}\""
                ),
            );
        }
    }
}
