//! `check`: what a configuration would run, printed for an operator, with secrets masked;
//! then, unless `--offline`, what the live systems say: the upstream (PD leader, TiKV
//! stores, GC safepoint against each changefeed's start, and the tables each filter selects,
//! naming those without a usable key, as TiDB Cloud's console does), the SQL state store
//! with `[state] store = "mysql"` (reachable, TLS verified, schema version, the privileges
//! proved by doing them, and each changefeed's stored checkpoint and owner), the Kafka
//! login, limits, default topic and ACLs of each changefeed's sink, and its claim-check
//! storage (a probe object stored, read back and deleted; the permission to grant named).

use std::fmt::Write as _;

use crate::checkpoint::sql::SqlStore;
use crate::config::{CheckpointStore, Config, KafkaConfig, Loaded, MysqlStateConfig};

/// The human summary of a valid configuration.
pub fn summary(loaded: &Loaded) -> String {
    let c: &Config = &loaded.config;
    let mut out = String::new();
    let _ = writeln!(out, "configuration {} is valid", loaded.path.display());
    let _ = writeln!(out, "upstream PD: {}", c.upstream.pd.join(", "));
    match &c.upstream.tls {
        Some(t) => {
            let _ = writeln!(
                out,
                "upstream TLS: ca {}{}",
                t.ca.display(),
                if t.cert.is_some() {
                    ", client certificate"
                } else {
                    ""
                }
            );
        }
        None => {
            let _ = writeln!(out, "upstream TLS: off");
        }
    }
    let _ = writeln!(out, "HTTP server: http://{}", c.server.listen);
    match (&c.state.store, &c.state.mysql) {
        (CheckpointStore::Mysql, Some(m)) => {
            let _ = writeln!(
                out,
                "state: mysql {}, table {} (members {}_members), password {}, TLS {}, connect timeout {}, query timeout {} (checkpoints every {}; sorter spill in {})",
                m.dsn,
                m.table,
                m.table,
                m.password
                    .as_ref()
                    .map_or_else(|| "none".to_string(), ToString::to_string),
                m.tls.as_ref().map_or_else(
                    || "off".to_string(),
                    |t| format!(
                        "on, ca {}{}",
                        t.ca.display(),
                        if t.cert.is_some() {
                            ", client certificate"
                        } else {
                            ""
                        }
                    )
                ),
                m.connect_timeout,
                m.query_timeout,
                c.state.checkpoint_interval,
                c.state.dir.display()
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "state: {} (checkpoints every {})",
                c.state.dir.display(),
                c.state.checkpoint_interval
            );
        }
    }
    let _ = writeln!(out, "changefeeds: {}", c.changefeeds.len());
    for cf in &c.changefeeds {
        let _ = writeln!(out, "- {}", cf.id);
        let _ = writeln!(out, "    start: {}", cf.start_ts);
        let _ = writeln!(out, "    tables: {}", cf.filter.rules.join(" "));
        if !cf.filter.event_filters.is_empty() {
            let _ = writeln!(out, "    event filters: {}", cf.filter.event_filters.len());
        }
        let _ = writeln!(out, "    protocol: {}", cf.sink.protocol.name());
        match cf.kafka_sink() {
            Some(k) => kafka_summary(&mut out, k),
            None => {
                let _ = writeln!(out, "    sink: stdout");
            }
        }
        if !cf.sink.dispatchers.is_empty() {
            let _ = writeln!(out, "    dispatch rules: {}", cf.sink.dispatchers.len());
        }
    }
    out
}

fn kafka_summary(out: &mut String, k: &KafkaConfig) {
    let _ = writeln!(out, "    kafka: {} topic {}", k.brokers.join(","), k.topic);
    let _ = writeln!(
        out,
        "    partitions: {}, replication factor {}, max message {}, compression {}",
        k.partition_num.map_or_else(
            || "topic's own (3 when created)".to_string(),
            |n| n.to_string()
        ),
        k.replication_factor,
        k.max_message_bytes,
        setting_name(&k.compression)
    );
    let auth = match (&k.sasl_mechanism, &k.sasl_user, &k.sasl_password) {
        (Some(m), Some(u), Some(p)) => format!("SASL {} user {u} password {p}", m.name()),
        _ => "none".to_string(),
    };
    let tls = if k.enable_tls || k.ca.is_some() || k.cert.is_some() {
        let mut t = String::from("on");
        if let Some(ca) = &k.ca {
            let _ = write!(t, ", ca {}", ca.display());
        }
        if k.cert.is_some() {
            t.push_str(", client certificate");
        }
        if k.insecure_skip_verify {
            t.push_str(", certificates NOT verified");
        }
        t
    } else {
        "off".to_string()
    };
    let _ = writeln!(out, "    authentication: {auth}; TLS: {tls}");
    let _ = writeln!(
        out,
        "    tidb extension: {}, auto-create topics: {}, large messages: {}",
        k.codec_config.enable_tidb_extension,
        k.auto_create_topic,
        setting_name(&k.large_message_handle.large_message_handle_option)
    );
    if let Some(uri) = &k.large_message_handle.claim_check_storage_uri {
        let _ = writeln!(
            out,
            "    claim-check storage: {}{}",
            crate::config::mask_uri_secrets(uri),
            if k.large_message_handle
                .claim_check_storage_parameters
                .is_empty()
            {
                String::new()
            } else {
                format!(
                    " with {}",
                    k.large_message_handle
                        .claim_check_storage_parameters
                        .iter()
                        .map(|(p, v)| format!("{p} = {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
    }
}

/// A setting's value as written in the file (its kebab-case name).
fn setting_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".to_string(),
    }
}

/// The effective configuration (defaults filled in) as TOML, secrets masked.
pub fn effective_toml(c: &Config) -> String {
    toml::to_string_pretty(c).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
}

/// Probes every changefeed's Kafka sink. Returns the report and whether all passed.
pub async fn probe_sinks(c: &Config) -> (String, bool) {
    let mut out = String::new();
    let mut ok = true;
    for cf in &c.changefeeds {
        let Some(k) = cf.kafka_sink() else {
            continue;
        };
        match crate::sink::kafka::probe(&cf.id, k).await {
            Ok(lines) => {
                for l in lines {
                    let _ = writeln!(out, "{}: {l}", cf.id);
                }
            }
            Err(e) => {
                ok = false;
                let _ = writeln!(out, "{}: error: {e}", cf.id);
            }
        }
        match crate::sink::claim_check::probe(&k.large_message_handle).await {
            Ok(lines) => {
                for l in lines {
                    let _ = writeln!(out, "{}: {l}", cf.id);
                }
            }
            Err(e) => {
                ok = false;
                let _ = writeln!(out, "{}: error: {e}", cf.id);
            }
        }
    }
    (out, ok)
}

/// The SQL state store of `c`, if `[state] store = "mysql"`.
fn sql_state(c: &Config) -> Option<&MysqlStateConfig> {
    match c.state.store {
        CheckpointStore::Mysql => c.state.mysql.as_ref(),
        CheckpointStore::File => None,
    }
}

/// Probes the SQL state store (nothing to do for the file store): connects (reachability,
/// login, TLS verification, tables and schema version), proves the privileges with
/// [`SqlStore::check_grants`] and lists each configured changefeed's stored checkpoint and
/// owner. Returns the report and whether all passed.
pub async fn probe_state(c: &Config) -> (String, bool) {
    let mut out = String::new();
    let Some(m) = sql_state(c) else {
        return (out, true);
    };
    let store = match SqlStore::connect(m).await {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(out, "state store: error: {e}");
            return (out, false);
        }
    };
    let _ = writeln!(
        out,
        "state store: connected to {}{}",
        store.describe(),
        if m.tls.is_some() {
            ", TLS verified"
        } else {
            ", TLS off"
        }
    );
    let mut ok = true;
    match store.check_grants().await {
        Ok(lines) => {
            for l in lines {
                let _ = writeln!(out, "state store: {l}");
            }
        }
        Err(e) => {
            ok = false;
            let _ = writeln!(out, "state store: error: {e}");
        }
    }
    match store.leases().await {
        Ok(rows) => {
            for cf in &c.changefeeds {
                let line = match rows.iter().find(|r| r.changefeed == cf.id) {
                    None => "no checkpoint stored yet".to_string(),
                    Some(r) => format!(
                        "checkpoint {}, {}, epoch {}",
                        r.checkpoint_ts
                            .map_or_else(|| "none".to_string(), |t| t.to_string()),
                        match &r.owner {
                            Some(o) if r.lease_remaining_ms >= 0 =>
                                format!("owned by {o} (lease ends in {} ms)", r.lease_remaining_ms),
                            Some(o) => format!(
                                "last owned by {o} (lease ended {} ms ago)",
                                -r.lease_remaining_ms
                            ),
                            None => "no owner".to_string(),
                        },
                        r.epoch
                    ),
                };
                let _ = writeln!(out, "{}: state store: {line}", cf.id);
            }
        }
        Err(e) => {
            ok = false;
            let _ = writeln!(out, "state store: error: {e}");
        }
    }
    store.disconnect().await;
    (out, ok)
}

/// Probes the upstream: PD, the TiKV stores, the GC safepoint against each changefeed's
/// start, and the tables each changefeed's filter selects (read from TiKV at PD's current
/// ts). Returns the report and whether all passed.
pub async fn probe_upstream(c: &Config) -> (String, bool) {
    use crate::checkpoint::{FileStore, start_ts};
    use crate::upstream::pd::{ConnectOptions, PdClient};
    use crate::upstream::snapshot::{SnapshotOptions, read_meta};

    let mut out = String::new();
    let timeout = c.upstream.connect_timeout.get();
    let conn = match ConnectOptions::new(c.upstream.tls.as_ref(), timeout) {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(out, "upstream: error: {e}");
            return (out, false);
        }
    };
    let pd = match tokio::time::timeout(timeout, PdClient::connect_with(&c.upstream.pd, conn)).await
    {
        Ok(Ok(pd)) => pd,
        Ok(Err(e)) => {
            let _ = writeln!(out, "upstream: error: {e}");
            return (out, false);
        }
        Err(_) => {
            let _ = writeln!(
                out,
                "upstream: error: no PD member at {} answered within {timeout:?}",
                c.upstream.pd.join(", ")
            );
            return (out, false);
        }
    };
    let facts = async {
        let stores = pd.get_all_stores().await?;
        let now = pd.get_ts().await?;
        let gc = pd.get_gc_safe_point().await?;
        Ok::<_, crate::upstream::UpstreamError>((stores, now, gc))
    };
    let (stores, now, gc) = match facts.await {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(out, "upstream: error: {e}");
            return (out, false);
        }
    };
    let _ = writeln!(
        out,
        "upstream: PD leader {}, cluster id {}, {} TiKV store(s), GC safepoint {gc}",
        pd.leader_url(),
        pd.cluster_id(),
        stores.len()
    );
    let snapshot = match read_meta(&pd, now, &SnapshotOptions::default()).await {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(out, "upstream: error: reading the schema at ts {now}: {e}");
            return (out, false);
        }
    };
    let store = crate::schema::SchemaStore::from_snapshot(&snapshot);
    let state = FileStore::new(&c.state.dir);
    // With the SQL store, saved checkpoints come from it (its own errors are reported by
    // `probe_state`; here the changefeeds are checked against start-ts alone then).
    let sql = match sql_state(c) {
        Some(m) => SqlStore::connect(m).await.ok(),
        None => None,
    };
    let mut ok = true;
    for cf in &c.changefeeds {
        let saved =
            match &sql {
                Some(s) => s.load(&cf.id).await.map_err(|e| e.to_string()).map(|ts| {
                    ts.map(|checkpoint_ts| crate::checkpoint::Checkpoint { checkpoint_ts })
                }),
                None if sql_state(c).is_some() => Ok(None),
                None => state.load(&cf.id).map_err(|e| e.to_string()),
            };
        let saved = match saved {
            Ok(s) => s,
            Err(e) => {
                ok = false;
                let _ = writeln!(out, "{}: error: {e}", cf.id);
                continue;
            }
        };
        let resumed = saved.is_some();
        let start = start_ts(saved, cf.start_ts, now);
        if start < gc {
            ok = false;
            let e = crate::upstream::UpstreamError::StartBeforeGc {
                origin: if resumed {
                    crate::upstream::StartOrigin::Checkpoint
                } else {
                    crate::upstream::StartOrigin::StartTs
                },
                start_ts: start,
                gc_safe_point: gc,
            };
            let _ = writeln!(out, "{}: error: {e}", cf.id);
        }
        let filter = match crate::filter::TableFilter::parse(&cf.filter.rules, cf.case_sensitive) {
            Ok(f) => f,
            Err(e) => {
                ok = false;
                let _ = writeln!(out, "{}: error: {e}", cf.id);
                continue;
            }
        };
        let mut selected = Vec::new();
        let mut keyless = Vec::new();
        for t in store.tables() {
            if t.is_system() || !filter.matches(&t.schema, &t.table) {
                continue;
            }
            let name = format!("`{}`.`{}`", t.schema, t.table);
            if !t.has_valid_key() {
                keyless.push(name.clone());
            }
            selected.push(name);
        }
        selected.sort();
        keyless.sort();
        let _ = writeln!(
            out,
            "{}: {} table(s) selected now: {}",
            cf.id,
            selected.len(),
            if selected.is_empty() {
                "none (tables created later that match are picked up)".to_string()
            } else {
                selected.join(", ")
            }
        );
        if !keyless.is_empty() {
            let what = match cf.force_replicate {
                None => "replicated with a warning (set force-replicate = false to skip them)",
                Some(true) => "replicated (force-replicate = true)",
                Some(false) => "NOT replicated (force-replicate = false)",
            };
            let _ = writeln!(
                out,
                "{}: without a primary key or NOT NULL unique key, {what}: {}",
                cf.id,
                keyless.join(", ")
            );
        }
    }
    (out, ok)
}
