//! Which tables, events and columns a changefeed replicates, with TiCDC's semantics:
//! table-filter rules (`table`), and the pattern syntax they share with dispatcher matchers
//! and column selectors (`pattern`). Event filters and column selectors build on these.

pub mod pattern;
pub mod table;

pub use pattern::Pattern;
pub use table::{RuleError, TableFilter, is_system_schema};
