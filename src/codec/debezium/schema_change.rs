//! Debezium schema-change (DDL) and watermark messages of TiCDC's new architecture
//! (pingcap/ticdc v8.5.7-release.1 `pkg/sink/codec/debezium/codec.go` `EncodeDDLEvent`,
//! `EncodeCheckpointEvent`; `encoder.go` drops a DDL of a kind it cannot describe and sends a
//! watermark only with `enable-tidb-extension`). TiCDC classic v8.5 sends neither.
//!
//! Owns [`change_type`], [`ddl_key`], [`ddl_value`], [`watermark_key`], [`watermark_value`].
//! Guarantees, key order included:
//! * DDL key: `{"payload":{"databaseName":<schema>}[,"schema":<SchemaChangeKey>]}`;
//! * DDL value: `payload` = `source` (as a row's, with the DDL's table and finished ts),
//!   `ts_ms` (clock), `databaseName`, `schemaName` null, `ddl` (the query), `tableChanges`:
//!   empty for a schema-level DDL and for TRUNCATE TABLE; else one change of `type` CREATE /
//!   ALTER / DROP with `id` `"db"."table"` (a rename: `"old db"."old table","db"."table"`; an
//!   exchange of partitions: the other table) and the `table` struct of
//!   [`super::table_change`] (null for DROP TABLE); then the `SchemaChangeValue` schema;
//! * watermark key: empty payload, schema `<cluster>.watermark.Key` with no fields; value:
//!   `source` with empty `db` and `table` and the watermark ts as `commit_ts`, `ts_ms`,
//!   `transaction` null, `op` `"m"`, schema `<cluster>.watermark.Envelope`;
//! * every `schema` member is left out with `debezium-disable-schema`.

use super::json::Json;
use super::schema::{envelope_tail, source_schema};
use super::source::write_source;
use super::table_change::write_table;
use crate::codec::avro::sanitize_name;
use crate::event::DdlEvent;
use crate::model::ActionType;

/// Debezium's change type of a DDL kind (TiCDC's list), or `None` for a kind TiCDC does not
/// describe (its encoder logs and drops the DDL).
pub fn change_type(action: ActionType) -> Option<&'static str> {
    Some(match action {
        ActionType::CREATE_SCHEMA
        | ActionType::CREATE_TABLE
        | ActionType::CREATE_TABLES
        | ActionType::CREATE_VIEW => "CREATE",
        ActionType::ADD_COLUMN
        | ActionType::MODIFY_COLUMN
        | ActionType::DROP_COLUMN
        | ActionType::MULTI_SCHEMA_CHANGE
        | ActionType::ADD_TABLE_PARTITION
        | ActionType::REMOVE_PARTITIONING
        | ActionType::REORGANIZE_PARTITION
        | ActionType::EXCHANGE_TABLE_PARTITION
        | ActionType::ALTER_TABLE_PARTITIONING
        | ActionType::TRUNCATE_TABLE_PARTITION
        | ActionType::DROP_TABLE_PARTITION
        | ActionType::REBASE_AUTO_ID
        | ActionType::SET_DEFAULT_VALUE
        | ActionType::MODIFY_TABLE_COMMENT
        | ActionType::MODIFY_TABLE_CHARSET_AND_COLLATE
        | ActionType::MODIFY_SCHEMA_CHARSET_AND_COLLATE
        | ActionType::ADD_INDEX
        | ActionType::ALTER_INDEX_VISIBILITY
        | ActionType::RENAME_INDEX
        | ActionType::RENAME_TABLE
        | ActionType::RENAME_TABLES
        | ActionType::ADD_PRIMARY_KEY
        | ActionType::DROP_PRIMARY_KEY => "ALTER",
        ActionType::DROP_SCHEMA
        | ActionType::DROP_TABLE
        | ActionType::DROP_INDEX
        | ActionType::DROP_VIEW
        | ActionType::TRUNCATE_TABLE => "DROP",
        _ => return None,
    })
}

/// The DDL message key.
pub fn ddl_key(ev: &DdlEvent, with_schema: bool) -> Vec<u8> {
    let mut j = Json::with_capacity(256);
    j.object(|j| {
        j.object_field("payload", |j| {
            j.string_field("databaseName", ev.table.schema.as_bytes());
        });
        if with_schema {
            j.object_field("schema", |j| {
                j.string_field("type", b"struct");
                j.string_field("name", b"io.debezium.connector.mysql.SchemaChangeKey");
                j.bool_field("optional", false);
                j.int_field("version", 1);
                j.array_field("fields", |j| field(j, "databaseName", false, "string"));
            });
        }
    });
    j.into_bytes()
}

/// The DDL message value (`None` for a DDL kind TiCDC does not describe).
pub fn ddl_value(
    ev: &DdlEvent,
    cluster_id: &str,
    now_ms: i64,
    with_schema: bool,
) -> Option<Vec<u8>> {
    let kind = change_type(ev.action)?;
    let (db, table) = (&ev.table.schema, &ev.table.table);
    let mut j = Json::with_capacity(2048);
    j.object(|j| {
        j.object_field("payload", |j| {
            write_source(j, cluster_id, db, table, ev.commit_ts);
            j.int_field("ts_ms", now_ms);
            j.string_field("databaseName", db.as_bytes());
            j.null_field("schemaName");
            j.string_field("ddl", ev.query.as_bytes());
            j.array_field("tableChanges", |j| {
                if table.is_empty() || ev.action == ActionType::TRUNCATE_TABLE {
                    return;
                }
                j.object_element(|j| table_change(j, ev, kind));
            });
        });
        if with_schema {
            j.object_field("schema", schema_change_value_schema);
        }
    });
    Some(j.into_bytes())
}

/// One `tableChanges` element.
fn table_change(j: &mut Json, ev: &DdlEvent, kind: &str) {
    let quoted = |schema: &str, table: &str| format!("\"{schema}\".\"{table}\"");
    let here = quoted(&ev.table.schema, &ev.table.table);
    let other = ev
        .pre_table
        .as_ref()
        .map(|p| quoted(&p.schema, &p.table))
        .unwrap_or_else(|| here.clone());
    j.string_field("type", kind.as_bytes());
    let id = match ev.action {
        ActionType::RENAME_TABLE | ActionType::RENAME_TABLES => format!("{other},{here}"),
        ActionType::EXCHANGE_TABLE_PARTITION => other,
        _ => here,
    };
    j.string_field("id", id.as_bytes());
    match (&ev.table_info, ev.action) {
        (_, ActionType::DROP_TABLE) | (None, _) => j.null_field("table"),
        (Some(info), _) => write_table(j, info, &ev.query),
    }
}

/// `{"field":…,"optional":…,"type":…}` as an array element.
fn field(j: &mut Json, name: &str, optional: bool, ty: &str) {
    j.object_element(|j| {
        j.string_field("field", name.as_bytes());
        j.bool_field("optional", optional);
        j.string_field("type", ty.as_bytes());
    });
}

/// `"items":{"type":"string","optional":false}`.
fn string_items(j: &mut Json) {
    j.object_field("items", |j| {
        j.string_field("type", b"string");
        j.bool_field("optional", false);
    });
}

/// The body of the `io.debezium.connector.mysql.SchemaChangeValue` schema.
fn schema_change_value_schema(j: &mut Json) {
    j.bool_field("optional", false);
    j.string_field("type", b"struct");
    j.int_field("version", 1);
    j.string_field("name", b"io.debezium.connector.mysql.SchemaChangeValue");
    j.array_field("fields", |j| {
        source_schema(j);
        field(j, "ts_ms", false, "int64");
        field(j, "databaseName", true, "string");
        field(j, "schemaName", true, "string");
        field(j, "ddl", true, "string");
        j.object_element(|j| {
            j.string_field("field", b"tableChanges");
            j.bool_field("optional", false);
            j.string_field("type", b"array");
            j.object_field("items", |j| {
                j.string_field("name", b"io.debezium.connector.schema.Change");
                j.bool_field("optional", false);
                j.string_field("type", b"struct");
                j.int_field("version", 1);
                j.array_field("fields", |j| {
                    field(j, "type", false, "string");
                    field(j, "id", false, "string");
                    j.object_element(table_schema);
                });
            });
        });
    });
}

/// The `io.debezium.connector.schema.Table` field of a change.
fn table_schema(j: &mut Json) {
    j.string_field("field", b"table");
    j.bool_field("optional", true);
    j.string_field("type", b"struct");
    j.string_field("name", b"io.debezium.connector.schema.Table");
    j.int_field("version", 1);
    j.array_field("fields", |j| {
        field(j, "defaultCharsetName", true, "string");
        j.object_element(|j| {
            j.string_field("field", b"primaryKeyColumnNames");
            j.bool_field("optional", true);
            j.string_field("type", b"array");
            string_items(j);
        });
        j.object_element(|j| {
            j.string_field("field", b"columns");
            j.bool_field("optional", false);
            j.string_field("type", b"array");
            j.object_field("items", |j| {
                j.string_field("name", b"io.debezium.connector.schema.Column");
                j.bool_field("optional", false);
                j.string_field("type", b"struct");
                j.int_field("version", 1);
                j.array_field("fields", column_schema_fields);
            });
        });
        field(j, "comment", true, "string");
    });
}

/// The fields of `io.debezium.connector.schema.Column`.
fn column_schema_fields(j: &mut Json) {
    for (name, optional, ty) in [
        ("name", false, "string"),
        ("jdbcType", false, "int32"),
        ("nativeType", true, "int32"),
        ("typeName", false, "string"),
        ("typeExpression", true, "string"),
        ("charsetName", true, "string"),
        ("length", true, "int32"),
        ("scale", true, "int32"),
        ("position", false, "int32"),
        ("optional", true, "boolean"),
        ("autoIncremented", true, "boolean"),
        ("generated", true, "boolean"),
        ("comment", true, "string"),
        ("defaultValueExpression", true, "string"),
    ] {
        field(j, name, optional, ty);
    }
    j.object_element(|j| {
        j.string_field("field", b"enumValues");
        j.bool_field("optional", true);
        j.string_field("type", b"array");
        string_items(j);
    });
}

/// The watermark message key.
pub fn watermark_key(cluster_id: &str, with_schema: bool) -> Vec<u8> {
    let mut j = Json::with_capacity(128);
    j.object(|j| {
        j.object_field("payload", |_| {});
        if with_schema {
            j.object_field("schema", |j| {
                j.string_field("type", b"struct");
                let name = format!("{}.watermark.Key", sanitize_name(cluster_id));
                j.string_field("name", name.as_bytes());
                j.bool_field("optional", false);
                j.array_field("fields", |_| {});
            });
        }
    });
    j.into_bytes()
}

/// The watermark message value for checkpoint `ts`.
pub fn watermark_value(cluster_id: &str, ts: u64, now_ms: i64, with_schema: bool) -> Vec<u8> {
    let mut j = Json::with_capacity(1024);
    j.object(|j| {
        j.object_field("payload", |j| {
            write_source(j, cluster_id, "", "", ts);
            j.int_field("ts_ms", now_ms);
            j.null_field("transaction");
            j.string_field("op", b"m");
        });
        if with_schema {
            j.object_field("schema", |j| {
                j.string_field("type", b"struct");
                j.bool_field("optional", false);
                let name = format!("{}.watermark.Envelope", sanitize_name(cluster_id));
                j.string_field("name", name.as_bytes());
                j.int_field("version", 1);
                j.array_field("fields", |j| {
                    source_schema(j);
                    envelope_tail(j);
                });
            });
        }
    });
    j.into_bytes()
}
