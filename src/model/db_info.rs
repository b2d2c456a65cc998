//! Serde model of TiDB's `DBInfo` JSON (the value of the `DBs` / `DB:<id>` meta hash field and
//! of a DDL job's `binlog.DBInfo`), restricted to what schema tracking needs.
//!
//! Field names are TiDB's JSON tags (`pkg/meta/model/db.go`); unknown fields are ignored.

use serde::{Deserialize, Serialize};

use super::table_info::{CIStr, SchemaState};

/// A database (schema).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DbInfo {
    pub id: i64,
    #[serde(rename = "db_name", default)]
    pub name: CIStr,
    #[serde(default, deserialize_with = "null_string")]
    pub charset: String,
    #[serde(default, deserialize_with = "null_string")]
    pub collate: String,
    #[serde(default)]
    pub state: SchemaState,
}

impl DbInfo {
    /// Parses DBInfo JSON, ignoring unknown fields.
    pub fn from_json(bytes: &[u8]) -> Result<DbInfo, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

fn null_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tidb_db_info() {
        let j = br#"{"id":2,"db_name":{"O":"Test","L":"test"},"charset":"utf8mb4",
            "collate":"utf8mb4_bin","state":5,"policy_ref_info":null,"deleted":false}"#;
        let d = DbInfo::from_json(j).expect("DBInfo");
        assert_eq!(
            (d.id, d.name.o.as_str(), d.state),
            (2, "Test", SchemaState::PUBLIC)
        );
    }
}
