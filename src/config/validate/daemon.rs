//! Rules of the daemon's own sections: `[server]` (a shutdown timeout above zero; an
//! `admin-token-file` that can be read and is not empty, read here), `[state]`
//! (a checkpoint interval above zero; `store = "mysql"` needs `[state.mysql]` with a valid
//! DSN without a password, a plain table name, TLS `cert`+`key` together, timeouts above
//! zero; its password secret resolved here, relative files read from `base`) and `[log]` (a
//! level or `RUST_LOG`-style directives that `tracing` accepts).

use std::path::Path;

use super::Report;
use crate::config::{CheckpointStore, Config, Dsn, KeyPath, MysqlStateConfig, Secret};

/// The longest state table name: MySQL allows 64 characters and the members table adds
/// `_members`.
const MAX_TABLE_LEN: usize = 64 - "_members".len();

pub(super) fn check(r: &mut Report, root: &KeyPath, cfg: &mut Config, base: &Path) {
    if cfg.server.shutdown_timeout.get().is_zero() {
        r.err(
            root.key("server").key("shutdown-timeout"),
            "must be greater than 0",
        );
    }
    if let Some(path) = &cfg.server.admin_token_file {
        let mut token = Secret::file(path);
        match token.resolve(base) {
            Err(why) => r.err(root.key("server").key("admin-token-file"), why),
            Ok(()) if token.expose().trim().is_empty() => r.err(
                root.key("server").key("admin-token-file"),
                "the token file is empty: write a long random token into it (e.g. `openssl rand -hex 32`)",
            ),
            Ok(()) => cfg.server.admin_token = Some(token),
        }
    }
    let state = root.key("state");
    match (&cfg.state.store, cfg.state.mysql.as_mut()) {
        (CheckpointStore::Mysql, None) => r.err(
            state.key("store"),
            "store = \"mysql\" needs a [state.mysql] section with at least `dsn`, e.g. dsn = \"mysql://cdc@tidb.example:4000/tidb_changefeed\"",
        ),
        (_, Some(m)) => check_mysql(r, &state.key("mysql"), m, base),
        (CheckpointStore::File, None) => {}
    }
    if cfg.state.checkpoint_interval.get().is_zero() {
        r.err(
            root.key("state").key("checkpoint-interval"),
            "must be greater than 0",
        );
    }
    if cfg.ha.lease_ttl.get() < std::time::Duration::from_secs(2) {
        r.err(
            root.key("ha").key("lease-ttl"),
            "must be at least 2s (the owner renews every lease-ttl/4 and stops writing after lease-ttl/2 without a renewal)",
        );
    }
    if cfg.ha.takeover_margin.get() >= cfg.ha.lease_ttl.get() {
        r.err(
            root.key("ha").key("takeover-margin"),
            "must be shorter than lease-ttl",
        );
    }
    if cfg.ha.daemon_id.len() > 255 {
        r.err(root.key("ha").key("daemon-id"), "at most 255 bytes");
    }
    if let Err(why) = check_log_filter(&cfg.log.level) {
        r.err(root.key("log").key("level"), why);
    }
}

fn check_mysql(r: &mut Report, p: &KeyPath, m: &mut MysqlStateConfig, base: &Path) {
    if let Err(why) = Dsn::parse(&m.dsn) {
        r.err(p.key("dsn"), why);
    }
    if m.table.is_empty()
        || m.table.len() > MAX_TABLE_LEN
        || !m
            .table
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        r.err(
            p.key("table"),
            format!(
                "invalid table name {:?}: use 1 to {MAX_TABLE_LEN} letters, digits or underscores (the members table adds \"_members\")",
                m.table
            ),
        );
    }
    if let Some(tls) = &m.tls
        && tls.cert.is_some() != tls.key.is_some()
    {
        r.err(
            p.key("tls")
                .key(if tls.cert.is_some() { "key" } else { "cert" }),
            "`cert` and `key` must be set together",
        );
    }
    for (key, d) in [
        ("connect-timeout", m.connect_timeout),
        ("query-timeout", m.query_timeout),
    ] {
        if d.get().is_zero() {
            r.err(p.key(key), "must be greater than 0");
        }
    }
    if let Some(pw) = m.password.as_mut()
        && let Err(why) = pw.resolve(base)
    {
        r.err(p.key("password"), why);
    }
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
