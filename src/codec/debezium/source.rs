//! The `payload.source` object of a Debezium value message (tiflow v8.5.7
//! `pkg/sink/codec/debezium/codec.go` `EncodeValue`).
//!
//! Owns [`write_source`]. Guarantees: keys in TiCDC's order — Debezium's MySQL source fields
//! `version` (`2.4.0.Final`), `connector` (`TiCDC`), `name` (the cluster id), `ts_ms` (the
//! commit ts' physical milliseconds), `snapshot` (`"false"`), `db`, `table`, `server_id` 0,
//! `gtid` null, `file` `""`, `pos` 0, `row` 0, `thread` 0, `query` null — then TiDB's
//! `commit_ts` and `cluster_id`, always (no option gates them). There is no `sequence` key,
//! although the source schema lists it.

use super::json::Json;
use crate::codec::tso_physical_millis;

/// `"source":{…}` for a row of `schema`.`table` committed at `commit_ts`.
pub fn write_source(j: &mut Json, cluster_id: &str, schema: &str, table: &str, commit_ts: u64) {
    j.object_field("source", |j| {
        j.string_field("version", b"2.4.0.Final");
        j.string_field("connector", b"TiCDC");
        j.string_field("name", cluster_id.as_bytes());
        j.int_field("ts_ms", tso_physical_millis(commit_ts));
        j.string_field("snapshot", b"false");
        j.string_field("db", schema.as_bytes());
        j.string_field("table", table.as_bytes());
        j.int_field("server_id", 0);
        j.null_field("gtid");
        j.string_field("file", b"");
        j.int_field("pos", 0);
        j.int_field("row", 0);
        j.int_field("thread", 0);
        j.null_field("query");
        j.uint_field("commit_ts", commit_ts);
        j.string_field("cluster_id", cluster_id.as_bytes());
    });
}
