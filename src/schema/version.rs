//! What the schema store hands out: one table's definition as of a version
//! ([`TableVersion`]) and one table's (or schema's) change by a DDL job ([`SchemaChange`]).
//!
//! Guarantees: a `TableVersion` is immutable and shared (`Arc`); its `physical_ids` are the ids
//! row keys of the table carry (the table id, or every partition id of an enabled partitioning).

use std::sync::Arc;

use crate::model::{ActionType, TableInfo, is_system_schema};

/// A table as of one schema version.
#[derive(Debug, Clone, PartialEq)]
pub struct TableVersion {
    /// Database id.
    pub schema_id: i64,
    /// Database name (original case).
    pub schema: Arc<str>,
    /// Table name (original case).
    pub table: Arc<str>,
    /// Logical table id (for a partitioned table, rows carry partition ids instead).
    pub table_id: i64,
    /// Physical ids row keys carry: `[table_id]`, or the partition ids in definition order.
    pub physical_ids: Vec<i64>,
    pub info: Arc<TableInfo>,
    /// Finished ts of the DDL that produced this version (the snapshot ts for versions read
    /// from the meta snapshot).
    pub version_ts: u64,
}

impl TableVersion {
    /// Builds a version of `info` in schema `schema_id`/`schema`.
    pub fn new(schema_id: i64, schema: Arc<str>, info: Arc<TableInfo>, version_ts: u64) -> Self {
        TableVersion {
            schema_id,
            schema,
            table: Arc::from(info.name.o.as_str()),
            table_id: info.id,
            physical_ids: physical_ids(&info),
            info,
            version_ts,
        }
    }

    /// Has a primary key or a unique key over NOT NULL columns, i.e. every row change can be
    /// identified (TiCDC's `HasUniqueColumn`; tables without one are "ineligible" and need
    /// `force-replicate`).
    pub fn has_valid_key(&self) -> bool {
        has_valid_key(&self.info)
    }

    /// In a schema TiCDC never replicates (`mysql`, `information_schema`,
    /// `performance_schema`, `metrics_schema`, `sys`, …).
    pub fn is_system(&self) -> bool {
        is_system_schema(&self.schema)
    }

    /// Partitioned (rows carry partition ids).
    pub fn is_partitioned(&self) -> bool {
        self.info.partition_info().is_some()
    }

    /// A view or a sequence: no rows to replicate.
    pub fn is_view_or_sequence(&self) -> bool {
        self.info.is_view() || self.info.is_sequence()
    }

    /// `schema.table` for logs.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }
}

/// The physical ids of `info`.
pub fn physical_ids(info: &TableInfo) -> Vec<i64> {
    match info.partition_info() {
        Some(p) => p.definitions.iter().map(|d| d.id).collect(),
        None => vec![info.id],
    }
}

/// TiCDC's `HasUniqueColumn`: an int-handle primary key, a primary index, or a unique index
/// whose columns are all NOT NULL.
pub fn has_valid_key(info: &TableInfo) -> bool {
    if info.pk_handle_column().is_some() {
        return true;
    }
    info.indices.iter().any(|idx| {
        idx.primary
            || (idx.unique
                && idx.columns.iter().all(|c| {
                    usize::try_from(c.offset)
                        .ok()
                        .and_then(|o| info.columns.get(o))
                        .is_some_and(|col| col.field_type.is_not_null())
                }))
    })
}

/// One table's (or, for schema DDLs, one schema's) change by a DDL job. Multi-table jobs
/// (RENAME TABLES, CREATE TABLES) give one change per table with its own query, as TiCDC splits
/// them.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaChange {
    pub job_id: i64,
    /// The DDL's commit ts.
    pub finished_ts: u64,
    pub start_ts: u64,
    /// This change's kind (a split RENAME TABLES reports RENAME TABLE, 14).
    pub action: ActionType,
    /// The statement for this table (rebuilt as TiCDC does for DROP TABLE/VIEW, RENAME
    /// TABLES and EXCHANGE PARTITION).
    pub query: String,
    /// Schema after the change (before it, for drops).
    pub schema: String,
    /// Table after the change (before it, for drops); empty for schema DDLs.
    pub table: String,
    /// Schema before the change, when a table existed before it.
    pub pre_schema: Option<String>,
    /// Table name before the change, when a table existed before it.
    pub pre_table: Option<String>,
    /// The table after the change; `None` for drops and schema DDLs.
    pub table_after: Option<Arc<TableVersion>>,
    /// Physical ids that exist after the change and did not before (subscribe these).
    pub added_physical: Vec<i64>,
    /// Physical ids that existed before the change and no longer do (unsubscribe these).
    pub removed_physical: Vec<i64>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn info(json: &str) -> TableInfo {
        TableInfo::from_json(json.as_bytes()).unwrap()
    }

    const COL: &str =
        r#"{"id":1,"name":{"O":"a","L":"a"},"offset":0,"state":5,"type":{"Tp":3,"Flag":FLAG}}"#;

    #[test]
    fn valid_keys_as_ticdc_sees_them() {
        let pk = info(&format!(
            r#"{{"id":1,"name":{{"O":"t","L":"t"}},"pk_is_handle":true,"cols":[{}]}}"#,
            COL.replace("FLAG", "3")
        ));
        assert!(has_valid_key(&pk));
        let uk = |flag: &str| {
            info(&format!(
                r#"{{"id":1,"name":{{"O":"t","L":"t"}},"cols":[{}],"index_info":[{{"id":1,
                "idx_name":{{"O":"u","L":"u"}},"idx_cols":[{{"name":{{"O":"a","L":"a"}},"offset":0,"length":-1}}],
                "is_unique":true,"state":5}}]}}"#,
                COL.replace("FLAG", flag)
            ))
        };
        assert!(has_valid_key(&uk("1")));
        assert!(!has_valid_key(&uk("0")), "nullable unique key");
        let none = info(&format!(
            r#"{{"id":1,"name":{{"O":"t","L":"t"}},"cols":[{}]}}"#,
            COL.replace("FLAG", "0")
        ));
        assert!(!has_valid_key(&none));
        let tv = TableVersion::new(3, Arc::from("mysql"), Arc::new(none), 5);
        assert!(tv.is_system());
        assert_eq!(
            (tv.physical_ids.clone(), tv.qualified_name()),
            (vec![1], "mysql.t".into())
        );
    }
}
