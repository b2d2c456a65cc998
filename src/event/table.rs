//! Per-table-version metadata every encoder and dispatcher reads.
//!
//! Owns [`TableMeta`]: computed once from a [`TableInfo`] when a table version first appears
//! and shared (`Arc`) by every row of that version. It holds the columns TiCDC emits, in table
//! order (virtual generated and non-public columns are left out, as the row decoder leaves them
//! out), each with TiCDC's column flags, the TiDB type names the protocols print, and the
//! handle-key choice.
//!
//! Guarantees, following TiCDC classic v8.5 (`cdc/model/schema_storage.go`, `WrapTableInfo`,
//! `findHandleIndex`, `initColumnsFlag`, `IsIndexUnique`, `IsEligible`):
//! * handle key = the primary key when it is the row handle (int PK or clustered PK); else the
//!   primary index if any; else the unique index whose columns are all NOT NULL and stored,
//!   with the fewest columns, ties to the smaller index id;
//! * flags: Binary (charset `binary`), Generated, PrimaryKey (column flag or member of the
//!   primary index), UniqueKey (column flag or member of a unique index), MultipleKey (column
//!   flag or member of a multi-column index), Nullable (no NOT NULL), Unsigned, HandleKey;
//! * a table is eligible when it has a handle key (sequences and views are not modelled in
//!   our `TableInfo`; the schema layer filters them).

use super::type_name::{type_desc, type_name};
use crate::model::{ColumnDefault, ColumnInfo, FieldType, TableInfo, flag};

/// TiCDC's column flag bits (`cdc/model/sink.go` `ColumnFlagType`; Open protocol prints them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ColumnFlags(pub u32);

impl ColumnFlags {
    pub const BINARY: u32 = 1;
    pub const HANDLE_KEY: u32 = 1 << 1;
    pub const GENERATED: u32 = 1 << 2;
    pub const PRIMARY_KEY: u32 = 1 << 3;
    pub const UNIQUE_KEY: u32 = 1 << 4;
    pub const MULTIPLE_KEY: u32 = 1 << 5;
    pub const NULLABLE: u32 = 1 << 6;
    pub const UNSIGNED: u32 = 1 << 7;

    /// Whether every bit of `bits` is set.
    pub fn has(self, bits: u32) -> bool {
        self.0 & bits == bits
    }
    fn set(&mut self, bits: u32) {
        self.0 |= bits;
    }
    pub fn is_binary(self) -> bool {
        self.has(Self::BINARY)
    }
    pub fn is_handle_key(self) -> bool {
        self.has(Self::HANDLE_KEY)
    }
    pub fn is_primary_key(self) -> bool {
        self.has(Self::PRIMARY_KEY)
    }
    pub fn is_unique_key(self) -> bool {
        self.has(Self::UNIQUE_KEY)
    }
    pub fn is_unsigned(self) -> bool {
        self.has(Self::UNSIGNED)
    }
}

/// One emitted column.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnMeta {
    pub id: i64,
    /// Original-case name (`Name.O`).
    pub name: String,
    /// Position in `TableInfo.columns` (TiCDC's `columnsOffset`; index offsets refer to it).
    pub info_offset: usize,
    pub field_type: FieldType,
    pub flags: ColumnFlags,
    /// `TypeToStr` + ` unsigned` + ` zerofill` (canal-json `mysqlType`, e.g. `int unsigned`).
    pub type_name: String,
    /// `ColumnInfo.GetTypeDesc()` (e.g. `decimal(10,2) unsigned`, `enum('a','b')`).
    pub type_desc: String,
    /// False when a column selector dropped the column: every protocol then skips it.
    pub selected: bool,
    /// The column's current default (Avro writes it into the field's schema).
    pub default: Option<ColumnDefault>,
}

/// An index of the table, as dispatchers need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexMeta {
    pub id: i64,
    /// Lower-case name (index names are case-insensitive).
    pub name_lower: String,
    pub primary: bool,
    pub unique: bool,
    /// (original-case column name, offset in `TableInfo.columns`) in index order.
    pub columns: Vec<(String, usize)>,
}

/// Which key TiCDC treats as the row identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleKey {
    /// The primary key is the row handle (int PK-is-handle or clustered index).
    PkIsHandle,
    /// This index (primary non-clustered, or a NOT NULL unique index).
    Index(i64),
    /// No usable key: the table is not eligible unless force-replicate.
    None,
}

/// Metadata of one table version.
#[derive(Debug, Clone, PartialEq)]
pub struct TableMeta {
    pub table_id: i64,
    /// TiDB `TableInfo.update_timestamp`: changes with every schema change of the table.
    pub version: u64,
    /// Emitted columns, in table order; row values are positional against this list.
    pub columns: Vec<ColumnMeta>,
    pub indices: Vec<IndexMeta>,
    pub handle_key: HandleKey,
    /// Lower-case name and "is virtual generated" of every `TableInfo.columns` entry.
    pub info_columns: Vec<(String, bool)>,
    /// The public virtual generated columns (never emitted), in table order: Debezium's
    /// schema still describes them.
    pub virtual_columns: Vec<ColumnMeta>,
    /// The table is partitioned (rows carry their partition's physical id).
    pub partitioned: bool,
}

/// TiCDC's `IsColCDCVisible` plus the decoder's "public only".
fn emitted(c: &ColumnInfo) -> bool {
    c.is_public() && !c.is_virtual_generated()
}

/// TiCDC's `IsIndexUnique`.
fn index_usable(t: &TableInfo, idx: &crate::model::IndexInfo) -> bool {
    if idx.primary {
        return true;
    }
    idx.unique
        && idx.columns.iter().all(|ic| {
            usize::try_from(ic.offset)
                .ok()
                .and_then(|o| t.columns.get(o))
                .is_some_and(|c| c.field_type.is_not_null() && !c.is_virtual_generated())
        })
}

impl TableMeta {
    /// Computes the metadata of `t`.
    pub fn new(t: &TableInfo) -> TableMeta {
        let mut handle_key = HandleKey::None;
        let pk_handle = t
            .columns
            .iter()
            .any(|c| emitted(c) && t.pk_is_handle && c.field_type.has_flag(flag::PRI_KEY));
        if pk_handle || (t.is_common_handle && t.columns.iter().any(emitted)) {
            handle_key = HandleKey::PkIsHandle;
        } else {
            let mut best: Option<&crate::model::IndexInfo> = None;
            for idx in &t.indices {
                if !index_usable(t, idx) {
                    continue;
                }
                if idx.primary {
                    best = Some(idx);
                    break;
                }
                best = match best {
                    Some(b)
                        if b.columns.len() < idx.columns.len()
                            || (b.columns.len() == idx.columns.len() && b.id <= idx.id) =>
                    {
                        Some(b)
                    }
                    _ => Some(idx),
                };
            }
            if let Some(b) = best {
                handle_key = HandleKey::Index(b.id);
            }
        }

        let mut flags: Vec<ColumnFlags> = t
            .columns
            .iter()
            .map(|c| {
                let ft = &c.field_type;
                let mut f = ColumnFlags::default();
                if ft.charset == "binary" {
                    f.set(ColumnFlags::BINARY);
                }
                if !c.generated_expr_string.is_empty() {
                    f.set(ColumnFlags::GENERATED);
                }
                if ft.has_flag(flag::PRI_KEY) {
                    f.set(ColumnFlags::PRIMARY_KEY);
                    if handle_key == HandleKey::PkIsHandle {
                        f.set(ColumnFlags::HANDLE_KEY);
                    }
                }
                if ft.has_flag(flag::UNIQUE_KEY) {
                    f.set(ColumnFlags::UNIQUE_KEY);
                }
                if !ft.is_not_null() {
                    f.set(ColumnFlags::NULLABLE);
                }
                if ft.has_flag(flag::MULTIPLE_KEY) {
                    f.set(ColumnFlags::MULTIPLE_KEY);
                }
                if ft.is_unsigned() {
                    f.set(ColumnFlags::UNSIGNED);
                }
                f
            })
            .collect();
        let mut indices = Vec::with_capacity(t.indices.len());
        for idx in &t.indices {
            let mut cols = Vec::with_capacity(idx.columns.len());
            for ic in &idx.columns {
                let Some(off) = usize::try_from(ic.offset)
                    .ok()
                    .filter(|&o| o < t.columns.len())
                else {
                    continue;
                };
                if let Some(f) = flags.get_mut(off) {
                    if idx.primary {
                        f.set(ColumnFlags::PRIMARY_KEY);
                    } else if idx.unique {
                        f.set(ColumnFlags::UNIQUE_KEY);
                    }
                    if idx.columns.len() > 1 {
                        f.set(ColumnFlags::MULTIPLE_KEY);
                    }
                    if handle_key == HandleKey::Index(idx.id) {
                        f.set(ColumnFlags::HANDLE_KEY);
                    }
                }
                cols.push((ic.name.o.clone(), off));
            }
            indices.push(IndexMeta {
                id: idx.id,
                name_lower: idx.name.l.clone(),
                primary: idx.primary,
                unique: idx.unique,
                columns: cols,
            });
        }

        let meta = |(i, c): (usize, &ColumnInfo)| ColumnMeta {
            id: c.id,
            name: c.name.o.clone(),
            info_offset: i,
            field_type: c.field_type.clone(),
            flags: flags.get(i).copied().unwrap_or_default(),
            type_name: type_name(&c.field_type),
            type_desc: type_desc(&c.field_type),
            selected: true,
            default: c.default_value(),
        };
        let columns = t
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| emitted(c))
            .map(meta)
            .collect();
        let virtual_columns = t
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_public() && c.is_virtual_generated())
            .map(meta)
            .collect();
        TableMeta {
            table_id: t.id,
            version: t.update_timestamp,
            columns,
            indices,
            handle_key,
            info_columns: t
                .columns
                .iter()
                .map(|c| (c.name.l.clone(), c.is_virtual_generated()))
                .collect(),
            virtual_columns,
            partitioned: t.partition.as_ref().is_some_and(|p| p.enable),
        }
    }

    /// Whether TiCDC replicates the table without `force-replicate` (it has a handle key).
    pub fn is_eligible(&self) -> bool {
        self.handle_key != HandleKey::None
    }

    /// Position (in [`TableMeta::columns`]) of the column with this id.
    pub fn position_of(&self, column_id: i64) -> Option<usize> {
        self.columns.iter().position(|c| c.id == column_id)
    }

    /// A copy in which the columns `keep` rejects are marked unselected (column selectors).
    pub fn with_selection(&self, keep: impl Fn(&ColumnMeta) -> bool) -> TableMeta {
        let mut t = self.clone();
        for c in &mut t.columns {
            c.selected = keep(c);
        }
        t
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builders for hand-written `TableInfo`s shaped like TiDB's for a given DDL.
    use crate::model::{CIStr, ColumnInfo, FieldType, IndexColumn, IndexInfo, SchemaState};

    pub fn ft(tp: u8, flag: u32, flen: i64, decimal: i32, charset: &str) -> FieldType {
        FieldType {
            tp,
            flag,
            flen,
            decimal,
            charset: charset.to_owned(),
            collate: if charset == "binary" {
                "binary".into()
            } else {
                "utf8mb4_bin".into()
            },
            ..FieldType::default()
        }
    }

    pub fn col(id: i64, name: &str, ft: FieldType) -> ColumnInfo {
        ColumnInfo {
            id,
            name: CIStr::new(name),
            offset: id - 1,
            field_type: ft,
            state: SchemaState::PUBLIC,
            ..ColumnInfo::default()
        }
    }

    pub fn index(
        id: i64,
        name: &str,
        cols: &[(&str, i64)],
        unique: bool,
        primary: bool,
    ) -> IndexInfo {
        IndexInfo {
            id,
            name: CIStr::new(name),
            columns: cols
                .iter()
                .map(|(n, o)| IndexColumn {
                    name: CIStr::new(n),
                    offset: *o,
                    length: -1,
                })
                .collect(),
            state: SchemaState::PUBLIC,
            unique,
            primary,
            ..IndexInfo::default()
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::model::{CIStr, TableInfo, tp};

    const NN: u32 = flag::NOT_NULL;
    const PK: u32 = flag::PRI_KEY;
    const UN: u32 = flag::UNSIGNED;
    const ZF: u32 = flag::ZEROFILL;

    fn table(cols: Vec<crate::model::ColumnInfo>) -> TableInfo {
        TableInfo {
            id: 100,
            name: CIStr::new("t"),
            columns: cols,
            ..TableInfo::default()
        }
    }

    /// mysqlType goldens from tiflow release-8.5 `pkg/sink/codec/canal/type_test.go`; the
    /// FieldTypes are what TiDB builds for the DDL quoted in each comment there.
    #[test]
    fn mysql_type_names_match_ticdc_type_test() {
        let b = "binary";
        let u = "utf8mb4";
        let cases: Vec<(FieldType, &str, &str)> = vec![
            // type_test.go:30-94 `a int primary key, b tinyint, c smallint, d mediumint, e bigint`
            (ft(tp::LONG, NN | PK, 11, 0, b), "int", "int(11)"),
            (ft(tp::TINY, 0, 4, 0, b), "tinyint", "tinyint(4)"),
            (ft(tp::SHORT, 0, 6, 0, b), "smallint", "smallint(6)"),
            (ft(tp::INT24, 0, 9, 0, b), "mediumint", "mediumint(9)"),
            (ft(tp::LONGLONG, 0, 20, 0, b), "bigint", "bigint(20)"),
            // type_test.go:99-197 unsigned variants
            (
                ft(tp::LONG, UN, 10, 0, b),
                "int unsigned",
                "int(10) unsigned",
            ),
            (
                ft(tp::TINY, UN, 3, 0, b),
                "tinyint unsigned",
                "tinyint(3) unsigned",
            ),
            (
                ft(tp::SHORT, UN, 5, 0, b),
                "smallint unsigned",
                "smallint(5) unsigned",
            ),
            (
                ft(tp::INT24, UN, 8, 0, b),
                "mediumint unsigned",
                "mediumint(8) unsigned",
            ),
            (
                ft(tp::LONGLONG, UN, 20, 0, b),
                "bigint unsigned",
                "bigint(20) unsigned",
            ),
            // type_test.go:211-253 explicit widths
            (ft(tp::LONGLONG, 0, 19, 0, b), "bigint", "bigint(19)"),
            // type_test.go:299-341 zerofill (implies unsigned)
            (
                ft(tp::LONG, UN | ZF, 10, 0, b),
                "int unsigned zerofill",
                "int(10) unsigned zerofill",
            ),
            (
                ft(tp::LONGLONG, UN | ZF, 20, 0, b),
                "bigint unsigned zerofill",
                "bigint(20) unsigned zerofill",
            ),
            // type_test.go:343-375 bit(1), bit(3), bool
            (ft(tp::BIT, UN, 1, 0, b), "bit", "bit(1)"),
            (ft(tp::BIT, UN, 3, 0, b), "bit", "bit(3)"),
            (ft(tp::TINY, 0, 1, 0, b), "tinyint", "tinyint(1)"),
            // type_test.go:382-492 float/double
            (ft(tp::FLOAT, 0, 12, -1, b), "float", "float"),
            (ft(tp::DOUBLE, 0, 22, -1, b), "double", "double"),
            (ft(tp::FLOAT, 0, 10, 3, b), "float", "float(10,3)"),
            (ft(tp::FLOAT, 0, 10, -1, b), "float", "float"),
            (ft(tp::DOUBLE, 0, 20, 3, b), "double", "double(20,3)"),
            (
                ft(tp::FLOAT, UN, 12, -1, b),
                "float unsigned",
                "float unsigned",
            ),
            (
                ft(tp::DOUBLE, UN | ZF, 22, -1, b),
                "double unsigned zerofill",
                "double unsigned zerofill",
            ),
            // type_test.go:499-558 decimal
            (ft(tp::NEWDECIMAL, 0, 10, 0, b), "decimal", "decimal(10,0)"),
            (ft(tp::NEWDECIMAL, 0, 5, 2, b), "decimal", "decimal(5,2)"),
            (
                ft(tp::NEWDECIMAL, UN, 10, 0, b),
                "decimal unsigned",
                "decimal(10,0) unsigned",
            ),
            (
                ft(tp::NEWDECIMAL, UN | ZF, 10, 0, b),
                "decimal unsigned zerofill",
                "decimal(10,0) unsigned zerofill",
            ),
            // type_test.go:568-671 time types
            (ft(tp::DURATION, 0, 10, 0, b), "time", "time"),
            (ft(tp::DURATION, 0, 14, 3, b), "time", "time(3)"),
            (ft(tp::DATETIME, 0, 19, 0, b), "datetime", "datetime"),
            (ft(tp::DATETIME, 0, 23, 3, b), "datetime", "datetime(3)"),
            (ft(tp::TIMESTAMP, 0, 23, 3, b), "timestamp", "timestamp(3)"),
            (ft(tp::DATE, 0, 10, 0, b), "date", "date"),
            (ft(tp::YEAR, UN | ZF, 4, 0, b), "year", "year(4)"),
            // type_test.go:681-715 char/varchar
            (ft(tp::STRING, 0, 1, 0, u), "char", "char(1)"),
            (ft(tp::STRING, 0, 123, 0, u), "char", "char(123)"),
            (ft(tp::VARCHAR, 0, 123, 0, u), "varchar", "varchar(123)"),
            // type_test.go:725-772 text family
            (ft(tp::BLOB, 0, 65535, 0, u), "text", "text"),
            (ft(tp::TINY_BLOB, 0, 255, 0, u), "tinytext", "tinytext"),
            (
                ft(tp::MEDIUM_BLOB, 0, 16_777_215, 0, u),
                "mediumtext",
                "mediumtext",
            ),
            (ft(tp::LONG_BLOB, 0, -1, 0, u), "longtext", "longtext"),
            // type_test.go:782-814 binary/varbinary
            (ft(tp::STRING, 0, 10, 0, b), "binary", "binary(10)"),
            (ft(tp::VARCHAR, 0, 23, 0, b), "varbinary", "varbinary(23)"),
            // type_test.go:824-867 blob family
            (ft(tp::BLOB, 0, 65535, 0, b), "blob", "blob"),
            (ft(tp::LONG_BLOB, 0, -1, 0, b), "longblob", "longblob"),
            // type_test.go:910-925 json
            (ft(tp::JSON, 0, -1, 0, b), "json", "json"),
        ];
        for (f, short, full) in cases {
            assert_eq!(type_name(&f), short, "{f:?}");
            assert_eq!(type_desc(&f), full, "{f:?}");
        }
        // type_test.go:877-903 enum/set
        let mut e = ft(tp::ENUM, 0, -1, 0, u);
        e.elems = vec!["a".into(), "b".into(), "c".into()];
        assert_eq!(type_name(&e), "enum");
        assert_eq!(type_desc(&e), "enum('a','b','c')");
        let mut s = e.clone();
        s.tp = tp::SET;
        assert_eq!(type_desc(&s), "set('a','b','c')");
        // Derived (CompactStr): quotes in elements are doubled.
        e.elems = vec!["it's".into()];
        assert_eq!(type_desc(&e), "enum('it''s')");
    }

    #[test]
    fn int_pk_is_handle() {
        let mut t = table(vec![
            col(1, "id", ft(tp::LONG, NN | PK, 11, 0, "binary")),
            col(2, "name", ft(tp::VARCHAR, 0, 20, 0, "utf8mb4")),
        ]);
        t.pk_is_handle = true;
        let m = TableMeta::new(&t);
        assert_eq!(m.handle_key, HandleKey::PkIsHandle);
        assert!(m.is_eligible());
        let f = m.columns[0].flags;
        assert!(f.is_handle_key() && f.is_primary_key() && f.is_binary());
        assert!(!f.has(ColumnFlags::NULLABLE));
        assert_eq!(m.columns[1].flags.0, ColumnFlags::NULLABLE);
    }

    #[test]
    fn unique_index_choice_fewest_columns_then_smaller_id() {
        let mut t = table(vec![
            col(1, "a", ft(tp::LONG, NN, 11, 0, "binary")),
            col(2, "b", ft(tp::LONG, NN, 11, 0, "binary")),
            col(3, "c", ft(tp::LONG, NN, 11, 0, "binary")),
            col(4, "d", ft(tp::LONG, 0, 11, 0, "binary")),
        ]);
        t.indices = vec![
            index(1, "uab", &[("a", 0), ("b", 1)], true, false),
            index(2, "ud", &[("d", 3)], true, false), // nullable: not usable
            index(4, "uc", &[("c", 2)], true, false),
            index(3, "ub", &[("b", 1)], true, false),
            index(5, "ka", &[("a", 0)], false, false),
        ];
        let m = TableMeta::new(&t);
        assert_eq!(m.handle_key, HandleKey::Index(3));
        let f: Vec<u32> = m.columns.iter().map(|c| c.flags.0).collect();
        // a: unique (uab) + multiple; b: unique + multiple + handle; c: unique; d: unique + nullable.
        assert_eq!(
            f[0],
            ColumnFlags::BINARY | ColumnFlags::UNIQUE_KEY | ColumnFlags::MULTIPLE_KEY
        );
        assert_eq!(
            f[1],
            ColumnFlags::BINARY
                | ColumnFlags::UNIQUE_KEY
                | ColumnFlags::MULTIPLE_KEY
                | ColumnFlags::HANDLE_KEY
        );
        assert_eq!(f[2], ColumnFlags::BINARY | ColumnFlags::UNIQUE_KEY);
        assert_eq!(
            f[3],
            ColumnFlags::BINARY | ColumnFlags::UNIQUE_KEY | ColumnFlags::NULLABLE
        );
    }

    #[test]
    fn no_key_is_ineligible_and_virtual_columns_are_hidden() {
        let mut v = col(2, "v", ft(tp::LONG, 0, 11, 0, "binary"));
        v.generated_expr_string = "`a` + 1".into();
        let mut s = col(3, "s", ft(tp::LONG, 0, 11, 0, "binary"));
        s.generated_expr_string = "`a` + 2".into();
        s.generated_stored = true;
        let t = table(vec![col(1, "a", ft(tp::LONG, 0, 11, 0, "binary")), v, s]);
        let m = TableMeta::new(&t);
        assert!(!m.is_eligible());
        assert_eq!(m.columns.len(), 2);
        assert_eq!(m.columns[1].name, "s");
        assert_eq!(m.columns[1].info_offset, 2);
        assert!(m.columns[1].flags.has(ColumnFlags::GENERATED));
    }

    #[test]
    fn clustered_and_nonclustered_primary_keys() {
        let mut t = table(vec![
            col(1, "a", ft(tp::VARCHAR, NN | PK, 10, 0, "utf8mb4")),
            col(2, "b", ft(tp::LONG, NN | PK, 11, 0, "binary")),
        ]);
        t.indices = vec![index(1, "PRIMARY", &[("a", 0), ("b", 1)], true, true)];
        t.is_common_handle = true;
        let m = TableMeta::new(&t);
        assert_eq!(m.handle_key, HandleKey::PkIsHandle);
        assert!(
            m.columns
                .iter()
                .all(|c| c.flags.is_handle_key() && c.flags.is_primary_key())
        );
        t.is_common_handle = false;
        let m = TableMeta::new(&t);
        assert_eq!(m.handle_key, HandleKey::Index(1));
        assert!(m.columns.iter().all(|c| c.flags.is_handle_key()));
    }
}
