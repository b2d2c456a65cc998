//! Serde model of TiDB's `TableInfo` JSON, the subset row decoding needs.
//!
//! Field names are TiDB's JSON tags (`pkg/meta/model/table.go`, `column.go`, `index.go`;
//! `FieldType` is serialized through parser `types.jsonFieldType` with Go field names `Tp`,
//! `Flag`, `Flen`, ...). Unknown fields are ignored because TiDB adds fields every release.
//! Go writes `null` for nil slices, strings never, pointers as `null`: every collection here
//! accepts `null` as empty.

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// MySQL column type codes (`FieldType.Tp`), as TiDB's `parser/mysql/type.go` defines them.
pub mod tp {
    pub const DECIMAL: u8 = 0;
    pub const TINY: u8 = 1;
    pub const SHORT: u8 = 2;
    pub const LONG: u8 = 3;
    pub const FLOAT: u8 = 4;
    pub const DOUBLE: u8 = 5;
    pub const NULL: u8 = 6;
    pub const TIMESTAMP: u8 = 7;
    pub const LONGLONG: u8 = 8;
    pub const INT24: u8 = 9;
    pub const DATE: u8 = 10;
    pub const DURATION: u8 = 11;
    pub const DATETIME: u8 = 12;
    pub const YEAR: u8 = 13;
    pub const NEWDATE: u8 = 14;
    pub const VARCHAR: u8 = 15;
    pub const BIT: u8 = 16;
    pub const TIDB_VECTOR_FLOAT32: u8 = 0xe1;
    pub const JSON: u8 = 0xf5;
    pub const NEWDECIMAL: u8 = 0xf6;
    pub const ENUM: u8 = 0xf7;
    pub const SET: u8 = 0xf8;
    pub const TINY_BLOB: u8 = 0xf9;
    pub const MEDIUM_BLOB: u8 = 0xfa;
    pub const LONG_BLOB: u8 = 0xfb;
    pub const BLOB: u8 = 0xfc;
    pub const VAR_STRING: u8 = 0xfd;
    pub const STRING: u8 = 0xfe;
    pub const GEOMETRY: u8 = 0xff;
}

/// MySQL column flags (`FieldType.Flag`), as TiDB's `parser/mysql/const.go` defines them.
pub mod flag {
    pub const NOT_NULL: u32 = 1;
    pub const PRI_KEY: u32 = 1 << 1;
    pub const UNIQUE_KEY: u32 = 1 << 2;
    pub const MULTIPLE_KEY: u32 = 1 << 3;
    pub const BLOB: u32 = 1 << 4;
    pub const UNSIGNED: u32 = 1 << 5;
    pub const ZEROFILL: u32 = 1 << 6;
    pub const BINARY: u32 = 1 << 7;
    pub const ENUM: u32 = 1 << 8;
    pub const AUTO_INCREMENT: u32 = 1 << 9;
    pub const TIMESTAMP: u32 = 1 << 10;
    pub const SET: u32 = 1 << 11;
    pub const NO_DEFAULT_VALUE: u32 = 1 << 12;
    pub const ON_UPDATE_NOW: u32 = 1 << 13;
}

/// `SchemaState` (`pkg/meta/model/job.go`), serialized as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SchemaState(pub u8);

impl SchemaState {
    pub const NONE: SchemaState = SchemaState(0);
    pub const DELETE_ONLY: SchemaState = SchemaState(1);
    pub const WRITE_ONLY: SchemaState = SchemaState(2);
    pub const WRITE_REORGANIZATION: SchemaState = SchemaState(3);
    pub const DELETE_REORGANIZATION: SchemaState = SchemaState(4);
    pub const PUBLIC: SchemaState = SchemaState(5);
    pub const REPLICA_ONLY: SchemaState = SchemaState(6);
    pub const GLOBAL_TXN_ONLY: SchemaState = SchemaState(7);
}

/// TiDB's case-insensitive name: original and lower-case spelling.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CIStr {
    #[serde(rename = "O", default, deserialize_with = "null_default")]
    pub o: String,
    #[serde(rename = "L", default, deserialize_with = "null_default")]
    pub l: String,
}

impl CIStr {
    /// Builds a name with its lower-case form.
    pub fn new(name: &str) -> Self {
        CIStr {
            o: name.to_owned(),
            l: name.to_lowercase(),
        }
    }
}

/// Column type (`types.FieldType`, JSON keys are the Go field names).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FieldType {
    #[serde(rename = "Tp", default)]
    pub tp: u8,
    #[serde(rename = "Flag", default)]
    pub flag: u32,
    #[serde(rename = "Flen", default)]
    pub flen: i64,
    #[serde(rename = "Decimal", default)]
    pub decimal: i32,
    #[serde(rename = "Charset", default, deserialize_with = "null_default")]
    pub charset: String,
    #[serde(rename = "Collate", default, deserialize_with = "null_default")]
    pub collate: String,
    #[serde(rename = "Elems", default, deserialize_with = "null_default")]
    pub elems: Vec<String>,
    #[serde(
        rename = "ElemsIsBinaryLit",
        default,
        deserialize_with = "null_default"
    )]
    pub elems_is_binary_lit: Vec<bool>,
    #[serde(rename = "Array", default)]
    pub array: bool,
}

impl FieldType {
    /// Whether `flag` has every bit of `f` set.
    pub fn has_flag(&self, f: u32) -> bool {
        self.flag & f == f
    }
    /// Unsigned integer column.
    pub fn is_unsigned(&self) -> bool {
        self.has_flag(flag::UNSIGNED)
    }
    /// `NOT NULL` column.
    pub fn is_not_null(&self) -> bool {
        self.has_flag(flag::NOT_NULL)
    }
    /// Binary string (charset `binary`): bytes, not text.
    pub fn is_binary_charset(&self) -> bool {
        self.charset == "binary"
    }
}

/// One column (`model.ColumnInfo`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// The id row values are keyed by; never reused, not the ordinal.
    pub id: i64,
    pub name: CIStr,
    /// Ordinal position in the table.
    #[serde(default)]
    pub offset: i64,
    /// Default used for rows written before the column existed (TiCDC fills missing columns
    /// from this, not from `default`).
    #[serde(default)]
    pub origin_default: Option<serde_json::Value>,
    /// BIT columns: the origin default's bytes (Go `[]byte`, so base64 in JSON).
    #[serde(default, with = "base64_bytes")]
    pub origin_default_bit: Option<Vec<u8>>,
    #[serde(default)]
    pub default: Option<serde_json::Value>,
    #[serde(default, with = "base64_bytes")]
    pub default_bit: Option<Vec<u8>>,
    #[serde(default)]
    pub default_is_expr: bool,
    /// Non-empty for generated columns.
    #[serde(default, deserialize_with = "null_default")]
    pub generated_expr_string: String,
    /// Stored generated column (virtual ones are not in row values).
    #[serde(default)]
    pub generated_stored: bool,
    #[serde(rename = "type", default)]
    pub field_type: FieldType,
    #[serde(default)]
    pub state: SchemaState,
    #[serde(default)]
    pub hidden: bool,
    /// The column's `COMMENT` (empty when none).
    #[serde(default, deserialize_with = "null_default")]
    pub comment: String,
    /// 0: timestamp defaults in the server zone; 1+: in UTC.
    #[serde(default)]
    pub version: u64,
}

impl ColumnInfo {
    /// Generated column whose value is computed on read, never stored.
    pub fn is_virtual_generated(&self) -> bool {
        !self.generated_expr_string.is_empty() && !self.generated_stored
    }
    /// Column in state public.
    pub fn is_public(&self) -> bool {
        self.state == SchemaState::PUBLIC
    }
    /// Origin default as TiDB's `GetOriginDefaultValue` sees it: BIT columns take the bytes of
    /// `origin_default_bit` when present. `None` = no origin default (JSON null or absent).
    pub fn origin_default_value(&self) -> Option<DefaultValue<'_>> {
        if let (tp::BIT, Some(b)) = (self.field_type.tp, &self.origin_default_bit) {
            return Some(DefaultValue::Bytes(b));
        }
        match &self.origin_default {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(DefaultValue::Bytes(s.as_bytes())),
            Some(v) => Some(DefaultValue::Json(v)),
        }
    }
}

/// A column's current default (`ColumnInfo.GetDefaultValue`), owned.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnDefault {
    /// A string (TiDB stores nearly every default as its string form) or BIT bytes.
    Bytes(Vec<u8>),
    /// A non-string JSON value (number or bool).
    Json(serde_json::Value),
}

impl ColumnInfo {
    /// The default new rows get, as TiDB's `GetDefaultValue` sees it: BIT columns take the
    /// bytes of `default_bit` when present. `None` = no default (JSON null or absent).
    pub fn default_value(&self) -> Option<ColumnDefault> {
        if let (tp::BIT, Some(b)) = (self.field_type.tp, &self.default_bit) {
            return Some(ColumnDefault::Bytes(b.clone()));
        }
        match &self.default {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) => Some(ColumnDefault::Bytes(s.as_bytes().to_vec())),
            Some(v) => Some(ColumnDefault::Json(v.clone())),
        }
    }
}

/// A column default value as stored in TableInfo.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultValue<'a> {
    /// A string (TiDB stores nearly every default as its string form) or BIT bytes.
    Bytes(&'a [u8]),
    /// A non-string JSON value (number or bool).
    Json(&'a serde_json::Value),
}

/// One column of an index (`model.IndexColumn`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IndexColumn {
    pub name: CIStr,
    /// Offset of the column in `TableInfo.cols`.
    #[serde(default)]
    pub offset: i64,
    /// Prefix length, -1 when the whole column is indexed.
    #[serde(default)]
    pub length: i64,
}

/// An index (`model.IndexInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IndexInfo {
    pub id: i64,
    #[serde(rename = "idx_name", default)]
    pub name: CIStr,
    #[serde(rename = "idx_cols", default, deserialize_with = "null_default")]
    pub columns: Vec<IndexColumn>,
    #[serde(default)]
    pub state: SchemaState,
    #[serde(rename = "is_unique", default)]
    pub unique: bool,
    #[serde(rename = "is_primary", default)]
    pub primary: bool,
    #[serde(rename = "is_invisible", default)]
    pub invisible: bool,
    #[serde(rename = "is_global", default)]
    pub global: bool,
}

/// One partition (`model.PartitionDefinition`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PartitionDefinition {
    /// Physical table id of the partition: row keys carry this id.
    pub id: i64,
    #[serde(default)]
    pub name: CIStr,
}

/// Partitioning (`model.PartitionInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PartitionInfo {
    /// 1 range, 2 hash, 3 list, 4 key, 5 system time.
    #[serde(rename = "type", default)]
    pub partition_type: i64,
    #[serde(default, deserialize_with = "null_default")]
    pub expr: String,
    /// Partitioning is in use only when true (TiDB's `GetPartitionInfo`).
    #[serde(default)]
    pub enable: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub definitions: Vec<PartitionDefinition>,
    #[serde(default, deserialize_with = "null_default")]
    pub adding_definitions: Vec<PartitionDefinition>,
    #[serde(default, deserialize_with = "null_default")]
    pub dropping_definitions: Vec<PartitionDefinition>,
    #[serde(default)]
    pub num: u64,
}

/// A table (`model.TableInfo`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TableInfo {
    /// Logical table id (for a partitioned table, row keys carry partition ids instead).
    pub id: i64,
    pub name: CIStr,
    #[serde(default, deserialize_with = "null_default")]
    pub charset: String,
    #[serde(default, deserialize_with = "null_default")]
    pub collate: String,
    #[serde(rename = "cols", default, deserialize_with = "null_default")]
    pub columns: Vec<ColumnInfo>,
    #[serde(rename = "index_info", default, deserialize_with = "null_default")]
    pub indices: Vec<IndexInfo>,
    #[serde(default)]
    pub state: SchemaState,
    /// The primary key is a single integer column whose value is the row handle.
    #[serde(default)]
    pub pk_is_handle: bool,
    /// Clustered index on a non-single-integer primary key: the handle is the PK datums.
    #[serde(default)]
    pub is_common_handle: bool,
    #[serde(default)]
    pub common_handle_version: u16,
    #[serde(default)]
    pub partition: Option<PartitionInfo>,
    #[serde(default)]
    pub max_col_id: i64,
    #[serde(default)]
    pub version: u16,
    #[serde(default)]
    pub update_timestamp: u64,
    #[serde(default)]
    pub revision: u64,
    /// Set for a view (`model.ViewInfo`); views hold no rows.
    #[serde(default)]
    pub view: Option<serde_json::Value>,
    /// Set for a sequence (`model.SequenceInfo`); TiCDC never replicates sequences.
    #[serde(default)]
    pub sequence: Option<serde_json::Value>,
}

impl TableInfo {
    /// Parses TableInfo JSON (as stored in meta keys), ignoring unknown fields.
    pub fn from_json(bytes: &[u8]) -> Result<TableInfo, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// A view (no rows of its own).
    pub fn is_view(&self) -> bool {
        self.view.as_ref().is_some_and(|v| !v.is_null())
    }

    /// A sequence.
    pub fn is_sequence(&self) -> bool {
        self.sequence.as_ref().is_some_and(|v| !v.is_null())
    }

    /// Column by id.
    pub fn column_by_id(&self, id: i64) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.id == id)
    }

    /// The integer primary-key column whose value is the handle (`pk_is_handle` and the
    /// `PriKey` flag, as TiCDC finds it).
    pub fn pk_handle_column(&self) -> Option<&ColumnInfo> {
        if !self.pk_is_handle {
            return None;
        }
        self.columns
            .iter()
            .find(|c| c.field_type.has_flag(flag::PRI_KEY))
    }

    /// The primary index, if any.
    pub fn primary_index(&self) -> Option<&IndexInfo> {
        self.indices.iter().find(|i| i.primary)
    }

    /// Columns of a common handle, in key order (empty unless `is_common_handle`).
    pub fn common_handle_columns(&self) -> Vec<&ColumnInfo> {
        if !self.is_common_handle {
            return Vec::new();
        }
        let Some(pk) = self.primary_index() else {
            return Vec::new();
        };
        pk.columns
            .iter()
            .filter_map(|ic| {
                usize::try_from(ic.offset)
                    .ok()
                    .and_then(|o| self.columns.get(o))
            })
            .collect()
    }

    /// Enabled partitioning, as TiDB's `GetPartitionInfo`.
    pub fn partition_info(&self) -> Option<&PartitionInfo> {
        self.partition.as_ref().filter(|p| p.enable)
    }

    /// Whether row keys with this physical table id belong to this table: the table id
    /// itself, or one of its partitions (including partitions being added or dropped).
    pub fn owns_physical_id(&self, physical_id: i64) -> bool {
        if physical_id == self.id {
            return true;
        }
        self.partition_info().is_some_and(|p| {
            p.definitions
                .iter()
                .chain(&p.adding_definitions)
                .chain(&p.dropping_definitions)
                .any(|d| d.id == physical_id)
        })
    }
}

/// Deserializes `null` as the type's default (Go writes nil slices as `null`).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Go `[]byte` fields: base64 string or `null`.
mod base64_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A TableInfo as TiDB v8 writes it (shape of `pkg/meta/model` JSON tags), with fields this
    /// model does not know, `null` slices and a BIT default.
    const SAMPLE: &str = r#"{
      "id": 104, "name": {"O": "T1", "L": "t1"}, "charset": "utf8mb4", "collate": "utf8mb4_bin",
      "cols": [
        {"id": 1, "name": {"O": "id", "L": "id"}, "offset": 0, "origin_default": null,
         "origin_default_bit": null, "default": null, "default_bit": null, "default_is_expr": false,
         "generated_expr_string": "", "generated_stored": false, "dependences": null,
         "type": {"Tp": 8, "Flag": 4099, "Flen": 20, "Decimal": 0, "Charset": "binary",
                  "Collate": "binary", "Elems": null, "ElemsIsBinaryLit": null, "Array": false},
         "state": 5, "comment": "", "hidden": false, "change_state_info": null, "version": 2},
        {"id": 2, "name": {"O": "b", "L": "b"}, "offset": 1, "origin_default": "\u0001",
         "origin_default_bit": "AQ==", "default": "\u0001", "default_bit": "AQ==",
         "type": {"Tp": 16, "Flag": 32, "Flen": 1, "Decimal": 0, "Charset": "binary",
                  "Collate": "binary", "Elems": null},
         "state": 5, "version": 2},
        {"id": 3, "name": {"O": "e", "L": "e"}, "offset": 2, "origin_default": null,
         "type": {"Tp": 247, "Flag": 0, "Flen": 1, "Decimal": 0, "Charset": "utf8mb4",
                  "Collate": "utf8mb4_bin", "Elems": ["a", "b"], "ElemsIsBinaryLit": [false, false]},
         "state": 5, "version": 2}
      ],
      "index_info": [{"id": 1, "idx_name": {"O": "PRIMARY", "L": "primary"}, "tbl_name": {"O": "", "L": ""},
        "idx_cols": [{"name": {"O": "id", "L": "id"}, "offset": 0, "length": -1}], "state": 5,
        "backfill_state": 0, "comment": "", "index_type": 1, "is_unique": true, "is_primary": true,
        "is_invisible": false, "is_global": false, "mv_index": false}],
      "constraint_info": null, "fk_info": null, "state": 5, "pk_is_handle": true,
      "is_common_handle": false, "common_handle_version": 0, "comment": "", "auto_inc_id": 0,
      "max_col_id": 3, "max_idx_id": 1, "update_timestamp": 449870311925678085,
      "ShardRowIDBits": 0, "partition": null, "compression": "", "view": null, "sequence": null,
      "Lock": null, "version": 5, "tiflash_replica": null, "revision": 1, "some_future_field": [1,2]
    }"#;

    #[test]
    fn parses_tidb_json_and_ignores_unknown_fields() {
        let t = TableInfo::from_json(SAMPLE.as_bytes()).unwrap();
        assert_eq!(t.id, 104);
        assert_eq!(t.name.o, "T1");
        assert_eq!(t.columns.len(), 3);
        assert!(t.pk_is_handle);
        assert_eq!(t.pk_handle_column().unwrap().id, 1);
        assert_eq!(t.columns[0].field_type.tp, tp::LONGLONG);
        assert!(t.columns[0].field_type.is_not_null());
        assert_eq!(t.columns[1].origin_default_bit.as_deref(), Some(&[1u8][..]));
        assert_eq!(
            t.columns[1].origin_default_value(),
            Some(DefaultValue::Bytes(&[1]))
        );
        assert_eq!(t.columns[2].field_type.elems, vec!["a", "b"]);
        assert!(t.columns[0].field_type.elems.is_empty());
        assert_eq!(t.indices[0].columns[0].length, -1);
        assert!(t.indices[0].primary);
        assert_eq!(t.version, 5);
        assert_eq!(t.update_timestamp, 449870311925678085);
        assert!(t.partition.is_none());
    }

    #[test]
    fn partitions_map_physical_ids() {
        let j = r#"{"id": 10, "name": {"O":"p","L":"p"}, "cols": null,
            "partition": {"type": 1, "expr": "`a`", "columns": null, "enable": true,
              "definitions": [{"id": 11, "name": {"O":"p0","L":"p0"}, "less_than": ["10"]},
                              {"id": 12, "name": {"O":"p1","L":"p1"}, "less_than": ["MAXVALUE"]}],
              "adding_definitions": null, "dropping_definitions": [{"id": 13, "name": {"O":"p2","L":"p2"}}],
              "num": 2}}"#;
        let t = TableInfo::from_json(j.as_bytes()).unwrap();
        assert!(t.owns_physical_id(10));
        assert!(t.owns_physical_id(12));
        assert!(t.owns_physical_id(13));
        assert!(!t.owns_physical_id(14));
    }

    #[test]
    fn round_trips_through_serde() {
        let t = TableInfo::from_json(SAMPLE.as_bytes()).unwrap();
        let s = serde_json::to_vec(&t).unwrap();
        assert_eq!(TableInfo::from_json(&s).unwrap(), t);
    }
}
