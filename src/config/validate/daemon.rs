//! Rules of the daemon's own sections: `[server]` (a shutdown timeout above zero), `[state]`
//! (the file checkpoint store only; a checkpoint interval above zero) and `[log]` (a level or
//! `RUST_LOG`-style directives that `tracing` accepts).

use super::Report;
use crate::config::{CheckpointStore, Config, KeyPath};

pub(super) fn check(r: &mut Report, root: &KeyPath, cfg: &Config) {
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
