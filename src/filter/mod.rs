//! Which tables, events and columns a changefeed replicates, with TiCDC's semantics:
//! table-filter rules (`table`), event filters (`event`), column selectors (`column`), and
//! the pattern syntax they share with dispatcher matchers (`pattern`).

pub mod column;
pub mod event;
pub mod pattern;
pub mod table;

pub use column::ColumnSelectors;
pub use event::{EventFilters, EventRuleSpec, ddl_kind_name};
pub use pattern::Pattern;
pub use table::{RuleError, TableFilter};
