//! EventFeed building blocks that do not touch shared state: connection features
//! from the client version and V2 headers, row constructors, incremental-scan row
//! derivation, event packing limits and the resolved-ts batching rule.
//!
//! Guarantees, as TiKV: event row keys are raw; a scan emits per key the Put/Delete
//! lock first (any start ts) and then committed Put/Delete versions above the
//! checkpoint newest first; rows are packed ≤ 32 KiB per `Event` and ≤ ~6 MiB per
//! `ChangeDataEvent` (a single larger row still goes alone); batched resolved ts
//! pop the slowest 8, then 32, 128, … regions with the batch minimum as `ts`.

use std::collections::BTreeSet;

use crate::keyspace::{encode_key, in_range};
use crate::mvcc::{KeyData, LockKind, WriteKind};
use tidb_changefeed::proto::cdcpb::{self, event};

/// Max row bytes per `Event` (TiKV `CDC_EVENT_MAX_BYTES`).
pub const EVENT_MAX_BYTES: usize = 32 * 1024;
/// Max rows per scan batch (TiKV `max_scan_batch_size`).
pub const SCAN_BATCH_ROWS: usize = 1024;
/// Max bytes per `ChangeDataEvent` (TiKV `CDC_RESP_MAX_BYTES`, ~6 MiB).
pub const RESP_MAX_BYTES: usize = 6 * 1024 * 1024;
/// The one V2 feature TiKV knows.
pub const FEATURE_STREAM_MULTIPLEXING: &str = "stream-multiplexing";

/// Feature set of one connection, fixed by its first request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Features {
    /// Version ≥ 4.0.8: resolved ts arrive as `ChangeDataEvent.resolved_ts`.
    pub batch_resolved_ts: bool,
    /// Version ≥ 5.3.0: `header.cluster_id` is validated.
    pub validate_cluster_id: bool,
    /// V2 with `features: stream-multiplexing`: resolved ts grouped per request id.
    pub stream_multiplexing: bool,
}

/// Parse a `ticdc_version` like TiKV: semver, optional leading `v`, pre-release
/// and build suffixes ignored; anything invalid is `0.0.0`.
#[must_use]
pub fn parse_version(v: &str) -> (u64, u64, u64) {
    let v = v.trim().trim_start_matches('v');
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 {
        return (0, 0, 0);
    }
    let nums: Option<Vec<u64>> = parts.iter().map(|p| p.parse().ok()).collect();
    match nums.as_deref() {
        Some([a, b, c]) => (*a, *b, *c),
        _ => (0, 0, 0),
    }
}

/// Features of a connection from the first request's version and the V2 header.
#[must_use]
pub fn features_for(version: &str, multiplexing_requested: bool) -> Features {
    let v = parse_version(version);
    Features {
        batch_resolved_ts: v >= (4, 0, 8),
        validate_cluster_id: v >= (5, 3, 0),
        stream_multiplexing: multiplexing_requested,
    }
}

/// Parse the V2 `features` header; `Err` lists the unknown names.
pub fn parse_feature_header(value: Option<&str>) -> Result<bool, Vec<String>> {
    let Some(value) = value else {
        return Ok(false);
    };
    let mut multiplexing = false;
    let mut unknown = Vec::new();
    // As TiKV: every comma-separated entry counts, so an empty entry is unknown.
    for f in value.split(',').map(str::trim) {
        if f == FEATURE_STREAM_MULTIPLEXING {
            multiplexing = true;
        } else {
            unknown.push(f.to_owned());
        }
    }
    if unknown.is_empty() {
        Ok(multiplexing)
    } else {
        Err(unknown)
    }
}

#[allow(clippy::too_many_arguments)] // mirrors the Row message's fields one to one
fn row(
    ty: event::LogType,
    op: event::row::OpType,
    start_ts: u64,
    commit_ts: u64,
    key: &[u8],
    value: Vec<u8>,
    old_value: Vec<u8>,
    txn_source: u64,
) -> event::Row {
    event::Row {
        start_ts,
        commit_ts,
        r#type: ty as i32,
        generation: 0,
        op_type: op as i32,
        key: key.to_vec(),
        value,
        old_value,
        expire_ts_unix_secs: 0,
        txn_source,
    }
}

fn op_of(delete: bool) -> event::row::OpType {
    if delete {
        event::row::OpType::Delete
    } else {
        event::row::OpType::Put
    }
}

/// A PREWRITE row (value empty for deletes and fake prewrites).
#[must_use]
pub fn prewrite_row(
    key: &[u8],
    start_ts: u64,
    delete: bool,
    value: Vec<u8>,
    old_value: Vec<u8>,
    txn_source: u64,
) -> event::Row {
    row(
        event::LogType::Prewrite,
        op_of(delete),
        start_ts,
        0,
        key,
        value,
        old_value,
        txn_source,
    )
}

/// A live COMMIT row: value only if short, never an old value.
#[must_use]
pub fn commit_row(
    key: &[u8],
    start_ts: u64,
    commit_ts: u64,
    delete: bool,
    short_value: Vec<u8>,
    txn_source: u64,
) -> event::Row {
    row(
        event::LogType::Commit,
        op_of(delete),
        start_ts,
        commit_ts,
        key,
        short_value,
        Vec::new(),
        txn_source,
    )
}

/// A COMMITTED row (scan or 1PC): full value and old value.
#[must_use]
pub fn committed_row(
    key: &[u8],
    start_ts: u64,
    commit_ts: u64,
    delete: bool,
    value: Vec<u8>,
    old_value: Vec<u8>,
    txn_source: u64,
) -> event::Row {
    row(
        event::LogType::Committed,
        op_of(delete),
        start_ts,
        commit_ts,
        key,
        value,
        old_value,
        txn_source,
    )
}

/// A ROLLBACK row.
#[must_use]
pub fn rollback_row(key: &[u8], start_ts: u64, txn_source: u64) -> event::Row {
    row(
        event::LogType::Rollback,
        event::row::OpType::Unknown,
        start_ts,
        0,
        key,
        Vec::new(),
        Vec::new(),
        txn_source,
    )
}

/// The INITIALIZED row (all other fields zero).
#[must_use]
pub fn initialized_row() -> event::Row {
    row(
        event::LogType::Initialized,
        event::row::OpType::Unknown,
        0,
        0,
        &[],
        Vec::new(),
        Vec::new(),
        0,
    )
}

/// Whether TiKV would deliver a row with this `txn_source` to a downstream.
#[must_use]
pub fn passes_source_filter(txn_source: u64, filter_loop: bool) -> bool {
    if txn_source >> 8 != 0 {
        return false;
    }
    !(filter_loop && txn_source & 0xFF != 0)
}

/// Incremental-scan rows for one key (raw), per TiKV's delta scan policy.
#[must_use]
pub fn scan_key_rows(key: &[u8], d: &KeyData, checkpoint_ts: u64) -> Vec<event::Row> {
    let mut out = Vec::new();
    if let Some(l) = &d.lock {
        let read_ts = l.start_ts.max(l.for_update_ts);
        let old = d.visible(read_ts).map(|x| x.0.to_vec()).unwrap_or_default();
        match l.kind {
            LockKind::Put => {
                if let Some(v) = &l.value {
                    out.push(prewrite_row(
                        key,
                        l.start_ts,
                        false,
                        v.clone(),
                        old,
                        l.txn_source,
                    ));
                }
            }
            LockKind::Delete => {
                out.push(prewrite_row(
                    key,
                    l.start_ts,
                    true,
                    Vec::new(),
                    old,
                    l.txn_source,
                ));
            }
            LockKind::Pessimistic | LockKind::Lock => {}
        }
    }
    for w in d.writes.iter().filter(|w| w.commit_ts > checkpoint_ts) {
        let delete = match w.kind {
            WriteKind::Put => false,
            WriteKind::Delete => true,
            WriteKind::Rollback | WriteKind::Lock => continue,
        };
        let old = d
            .visible(w.commit_ts - 1)
            .map(|x| x.0.to_vec())
            .unwrap_or_default();
        let value = if delete {
            Vec::new()
        } else {
            w.value.clone().unwrap_or_default()
        };
        out.push(committed_row(
            key,
            w.start_ts,
            w.commit_ts,
            delete,
            value,
            old,
            w.txn_source,
        ));
    }
    out
}

/// Keep only rows whose encoded key lies in the observed range and that pass the
/// source filter.
#[must_use]
pub fn filter_rows(
    rows: &[event::Row],
    enc_start: &[u8],
    enc_end: &[u8],
    filter_loop: bool,
) -> Vec<event::Row> {
    rows.iter()
        .filter(|r| {
            in_range(&encode_key(&r.key), enc_start, enc_end)
                && passes_source_filter(r.txn_source, filter_loop)
        })
        .cloned()
        .collect()
}

fn row_size(r: &event::Row) -> usize {
    r.key.len() + r.value.len() + r.old_value.len() + 32
}

/// Split rows into `Entries` events of ≤ 32 KiB of rows (and ≤ `max_rows` rows).
#[must_use]
pub fn pack_entries(
    region_id: u64,
    request_id: u64,
    rows: Vec<event::Row>,
    max_rows: usize,
) -> Vec<cdcpb::Event> {
    let mut events = Vec::new();
    let mut cur: Vec<event::Row> = Vec::new();
    let mut size = 0;
    for r in rows {
        let s = row_size(&r);
        if !cur.is_empty() && (size + s > EVENT_MAX_BYTES || cur.len() >= max_rows) {
            events.push(entries_event(
                region_id,
                request_id,
                std::mem::take(&mut cur),
            ));
            size = 0;
        }
        size += s;
        cur.push(r);
    }
    if !cur.is_empty() {
        events.push(entries_event(region_id, request_id, cur));
    }
    events
}

/// One `Event` carrying rows.
#[must_use]
pub fn entries_event(region_id: u64, request_id: u64, rows: Vec<event::Row>) -> cdcpb::Event {
    cdcpb::Event {
        region_id,
        index: 0,
        request_id,
        event: Some(event::Event::Entries(event::Entries { entries: rows })),
    }
}

/// One error `Event`.
#[must_use]
pub fn error_event(region_id: u64, request_id: u64, err: cdcpb::Error) -> cdcpb::Event {
    cdcpb::Event {
        region_id,
        index: 0,
        request_id,
        event: Some(event::Event::Error(err)),
    }
}

/// Pack events into `ChangeDataEvent`s of ≤ ~6 MiB each.
#[must_use]
pub fn pack_messages(events: Vec<cdcpb::Event>) -> Vec<cdcpb::ChangeDataEvent> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut size = 0;
    for e in events {
        let s = prost::Message::encoded_len(&e);
        if !cur.is_empty() && size + s > RESP_MAX_BYTES {
            out.push(cdcpb::ChangeDataEvent {
                events: std::mem::take(&mut cur),
                resolved_ts: None,
            });
            size = 0;
        }
        size += s;
        cur.push(e);
    }
    if !cur.is_empty() {
        out.push(cdcpb::ChangeDataEvent {
            events: cur,
            resolved_ts: None,
        });
    }
    out
}

/// TiKV's batching of one group's `(region, resolved_ts)` pairs: slowest first,
/// 8 regions, then 32, 128, …; each message's `ts` is the batch minimum.
#[must_use]
pub fn batch_resolved(mut regions: Vec<(u64, u64)>, request_id: u64) -> Vec<cdcpb::ResolvedTs> {
    regions.sort_by_key(|&(id, ts)| (ts, id));
    let mut out = Vec::new();
    let mut batch = 8usize;
    let mut it = regions.into_iter().peekable();
    while it.peek().is_some() {
        let chunk: Vec<(u64, u64)> = it.by_ref().take(batch).collect();
        let ts = chunk.iter().map(|c| c.1).min().unwrap_or(0);
        let ids: BTreeSet<u64> = chunk.iter().map(|c| c.0).collect();
        out.push(cdcpb::ResolvedTs {
            regions: ids.into_iter().collect(),
            ts,
            request_id,
        });
        batch = batch.saturating_mul(4);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_features() {
        assert_eq!(parse_version("v8.5.1-alpha+abc"), (8, 5, 1));
        assert_eq!(parse_version("nonsense"), (0, 0, 0));
        assert_eq!(parse_version(""), (0, 0, 0));
        let f = features_for("5.3.0", false);
        assert!(f.batch_resolved_ts && f.validate_cluster_id && !f.stream_multiplexing);
        let f = features_for("4.0.8", true);
        assert!(f.batch_resolved_ts && !f.validate_cluster_id && f.stream_multiplexing);
        assert!(!features_for("4.0.7", false).batch_resolved_ts);
        assert_eq!(
            parse_feature_header(Some(" stream-multiplexing ")),
            Ok(true)
        );
        assert_eq!(parse_feature_header(None), Ok(false));
        assert_eq!(parse_feature_header(Some("")), Err(vec![String::new()]));
        assert_eq!(
            parse_feature_header(Some("stream-multiplexing,x, y")),
            Err(vec!["x".to_owned(), "y".to_owned()])
        );
    }

    #[test]
    fn resolved_batches_grow_by_four() {
        let regions: Vec<(u64, u64)> = (1..=50).map(|i| (i, 1000 + i)).collect();
        let b = batch_resolved(regions, 0);
        assert_eq!(
            b.iter().map(|r| r.regions.len()).collect::<Vec<_>>(),
            [8, 32, 10]
        );
        assert_eq!(
            b.iter().map(|r| r.ts).collect::<Vec<_>>(),
            [1001, 1009, 1041]
        );
    }

    #[test]
    fn source_filter() {
        assert!(passes_source_filter(0, true));
        assert!(passes_source_filter(1, false));
        assert!(!passes_source_filter(1, true));
        assert!(!passes_source_filter(1 << 8, false));
        assert!(!passes_source_filter(1 << 16, false));
    }
}
