//! The event model: what flows between the stages of a changefeed, shared by filters,
//! dispatchers, codecs and sinks (a foundation: it imports only `model`, TiDB's meta model,
//! and `mount`'s values and decoder).
//!
//! A row changes form twice on its way:
//! * [`KvChange`] — a committed change of one key, still TiDB's bytes (upstream matcher →
//!   sorter);
//! * [`RowEvent`] — the typed row of one table version, positional against its [`TableMeta`]
//!   (decoder → filters → dispatch → codec);
//!
//! then leaves as the codec's `Record` (wrapped with its progress ticket
//! as the sink's message). A DDL is a [`DdlEvent`]. There is one put/delete
//! enum ([`OpType`]) and one insert/update/delete enum ([`RowKind`]).

mod change;
mod ddl;
mod row;
mod table;
mod type_name;
pub mod value_text;

pub use change::{KvChange, OpType};
pub use ddl::{DdlEvent, TableName};
pub use row::{RowError, RowEvent, RowKind};
pub use table::{ColumnFlags, ColumnMeta, HandleKey, IndexMeta, TableMeta};
pub use type_name::{default_flen_decimal, type_desc, type_name, type_to_str};

#[cfg(test)]
pub(crate) use table::test_support;
