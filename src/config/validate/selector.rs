//! Rules of `[[sink.column-selectors]]`: each has at least one table matcher and one column
//! pattern; matchers parse as table-filter rules and column patterns (optionally negated
//! with `!`) parse with nothing left over.

use super::{Report, filter};
use crate::config::{ColumnSelector, KeyPath};

/// Every selector's matchers and column patterns parse (`s` is the `sink` path).
pub(super) fn patterns(
    r: &mut Report,
    s: &KeyPath,
    selectors: &[ColumnSelector],
    case_sensitive: bool,
) {
    for (i, sel) in selectors.iter().enumerate() {
        let c = s.key("column-selectors").index(i);
        filter::matchers(r, &c.key("matcher"), &sel.matcher, case_sensitive);
        for (j, col) in sel.columns.iter().enumerate() {
            let pat = col.trim().trim_start_matches('!');
            match crate::filter::pattern::parse_pattern(pat, false, true) {
                Ok((_, "")) => {}
                Ok((_, rest)) => r.err(
                    c.key("columns").index(j),
                    format!("invalid column pattern {col:?}: stray characters {rest:?}"),
                ),
                Err(why) => r.err(
                    c.key("columns").index(j),
                    format!("invalid column pattern {col:?}: {why}"),
                ),
            }
        }
    }
}

/// Every selector has a matcher and a column pattern (`s` is the `sink` path).
pub(super) fn required(r: &mut Report, s: &KeyPath, selectors: &[ColumnSelector]) {
    for (i, sel) in selectors.iter().enumerate() {
        let c = s.key("column-selectors").index(i);
        if sel.matcher.is_empty() {
            r.err(
                c.key("matcher"),
                "a column selector needs at least one matcher",
            );
        }
        if sel.columns.is_empty() {
            r.err(
                c.key("columns"),
                "a column selector needs at least one column pattern",
            );
        }
    }
}
