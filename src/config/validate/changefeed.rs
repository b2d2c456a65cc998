//! Rules of one `[[changefeed]]`: TiCDC's changefeed id rule, a known time zone (in which a
//! `YYYY-MM-DD HH:MM:SS` start-ts is resolved to a Unix time), TiCDC's
//! cluster-id rule and a usable `memory-quota`, then
//! the rules of its parts in the order they are reported: `[filter]`, the matchers of
//! `[[sink.dispatchers]]`, `[[sink.column-selectors]]`, and `[sink]` itself.

use std::path::Path;

use super::{Report, dispatch, filter, selector, sink};
use crate::config::{ChangefeedConfig, KeyPath, StartPosition};

pub(super) fn check(r: &mut Report, p: &KeyPath, cf: &mut ChangefeedConfig, base: &Path) {
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
    if matches!(cf.start_ts, StartPosition::LocalTime(_))
        && let Ok(zone) = crate::mount::time::resolve_time_zone(&cf.time_zone)
    {
        match cf.start_ts.in_zone(zone) {
            Ok(resolved) => cf.start_ts = resolved,
            Err(why) => r.err(p.key("start-ts"), format!("start-ts: {why}")),
        }
    }
    if !valid_cluster_id(&cf.cluster_id) {
        r.err(
            p.key("cluster-id"),
            format!(
                "invalid cluster-id {:?}: use letters and digits, groups joined by single dashes, at most 128 characters, not one of {} (TiCDC's rule)",
                cf.cluster_id,
                RESERVED_CLUSTER_IDS.join(", ")
            ),
        );
    }
    if cf.memory_quota.as_u64() < MIN_MEMORY_QUOTA {
        r.err(
            p.key("memory-quota"),
            format!(
                "memory-quota of {} bytes is too small: the sorter, the jobs between the stages and the messages in flight to Kafka share it; use at least 64MiB (TiCDC's default is 1GiB)",
                cf.memory_quota.as_u64()
            ),
        );
    }
    if cf.sink_stall_timeout.get() < std::time::Duration::from_secs(1) {
        r.err(
            p.key("sink-stall-timeout"),
            format!(
                "sink-stall-timeout of {:?} is too short: a healthy Kafka batch can take longer; use at least 1s (default 30s)",
                cf.sink_stall_timeout.get()
            ),
        );
    }
    filter::check(r, &p.key("filter"), &cf.filter, cf.case_sensitive);
    let s = p.key("sink");
    dispatch::matchers(r, &s, &cf.sink.dispatchers, cf.case_sensitive);
    selector::patterns(r, &s, &cf.sink.column_selectors, cf.case_sensitive);
    sink::check(r, &s, cf, base);
}

/// The least `memory-quota`: each share must hold a few full Kafka batches.
const MIN_MEMORY_QUOTA: u64 = 64 << 20;

/// TiCDC's changefeed id rule: `^[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*$`.
fn valid_changefeed_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .split('-')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Words TiCDC reserves (old etcd key prefixes), `pkg/config/server_config.go`.
const RESERVED_CLUSTER_IDS: [&str; 6] = ["owner", "capture", "task", "changefeed", "job", "meta"];

/// TiCDC's `isValidClusterID`: the changefeed-id pattern, at most 128 bytes, not reserved.
fn valid_cluster_id(id: &str) -> bool {
    valid_changefeed_id(id) && !RESERVED_CLUSTER_IDS.contains(&id)
}

fn valid_time_zone(tz: &str) -> bool {
    tz.eq_ignore_ascii_case("system") || tz.parse::<crate::mount::TimeZone>().is_ok()
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
    fn cluster_ids() {
        assert!(valid_cluster_id("default"));
        assert!(valid_cluster_id("dbserver1"));
        assert!(valid_cluster_id("east-1"));
        assert!(!valid_cluster_id(""));
        assert!(!valid_cluster_id("a_b"));
        assert!(!valid_cluster_id("owner"));
        assert!(!valid_cluster_id(&"a".repeat(129)));
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
