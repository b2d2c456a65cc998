//! TiDB's system schemas: the databases TiCDC never replicates, whatever the filter says.
//!
//! Guarantees: the list is TiCDC's (`pkg/filter/utils.go`) and names are compared
//! case-insensitively, as TiDB compares schema names.

/// Schemas TiCDC never replicates (`pkg/filter/utils.go`), compared case-insensitively.
pub const SYSTEM_SCHEMAS: &[&str] = &[
    "mysql",
    "information_schema",
    "performance_schema",
    "metrics_schema",
    "inspection_schema",
    "sys",
    "tidb_cdc",
    "lightning_task_info",
];

/// Whether `schema` is one of [`SYSTEM_SCHEMAS`].
pub fn is_system_schema(schema: &str) -> bool {
    SYSTEM_SCHEMAS
        .iter()
        .any(|s| s.eq_ignore_ascii_case(schema))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_schemas_ignore_case() {
        assert!(is_system_schema("mysql"));
        assert!(is_system_schema("INFORMATION_SCHEMA"));
        assert!(!is_system_schema("shop"));
    }
}
