//! Rules of `[upstream]`: at least one PD endpoint, each `host:port` with an optional
//! `http://` or `https://`; https only with `[upstream.tls]`, whose `cert` and `key` come
//! together; a connect timeout above zero; a stale-lock threshold and a fault-report-after
//! of at least a second; a gc-ttl of at least 5 minutes.

use super::Report;

/// The shortest `gc-ttl` accepted: five renewals of the safe point (one a minute).
const MIN_GC_TTL: std::time::Duration = std::time::Duration::from_secs(300);
use crate::config::{KeyPath, UpstreamConfig};

pub(super) fn check(r: &mut Report, up: &KeyPath, cfg: &UpstreamConfig) {
    if cfg.pd.is_empty() {
        r.err(
            up.key("pd"),
            "at least one PD endpoint is required, e.g. [\"http://127.0.0.1:2379\"]",
        );
    }
    for (i, ep) in cfg.pd.iter().enumerate() {
        let p = up.key("pd").index(i);
        match split_endpoint(ep) {
            Err(why) => r.err(p, why),
            Ok(https) => {
                if https && cfg.tls.is_none() {
                    r.err(
                        p,
                        format!("{ep:?} uses https but [upstream.tls] is not set"),
                    );
                }
            }
        }
    }
    if let Some(tls) = &cfg.tls {
        let t = up.key("tls");
        if tls.cert.is_some() != tls.key.is_some() {
            r.err(
                t.key(if tls.cert.is_some() { "key" } else { "cert" }),
                "`cert` and `key` must be set together",
            );
        }
    }
    if cfg.connect_timeout.get().is_zero() {
        r.err(up.key("connect-timeout"), "must be greater than 0");
    }
    if cfg.stale_lock_threshold.get() < std::time::Duration::from_secs(1) {
        r.err(
            up.key("stale-lock-threshold"),
            "must be at least 1s (TiCDC uses 4s): a shorter one resolves the locks of live transactions' regions over and over",
        );
    }
    if cfg.fault_report_after.get() < std::time::Duration::from_secs(1) {
        r.err(
            up.key("fault-report-after"),
            "must be at least 1s: PD, store and region retries are up to 2s apart, so a shorter one reports every passing leader change or split",
        );
    }
    if cfg.gc_ttl.get() < MIN_GC_TTL {
        r.err(
            up.key("gc-ttl"),
            "must be at least 5m (TiCDC's default is 24h): the service GC safe point is renewed every minute, and a shorter TTL lets TiKV garbage-collect history the changefeed still needs after a brief PD outage or restart",
        );
    }
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
