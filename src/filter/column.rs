//! Column selectors (TiCDC's `[[sink.column-selectors]]`): for the first rule whose
//! matcher selects the table, a column is output when the last of the rule's column
//! patterns that matches it is positive (`!pattern` excludes); a column no pattern matches
//! is dropped. Column names always match case-insensitively, as in TiDB's column filter.
//! Tables no selector matches keep every column.

use super::pattern::{Pattern, parse_pattern};
use super::table::TableFilter;

#[derive(Debug, Clone)]
struct ColumnRule {
    pattern: Pattern,
    include: bool,
}

/// One parsed selector: which tables, which columns.
#[derive(Debug, Clone)]
struct Selector {
    tables: TableFilter,
    columns: Vec<ColumnRule>,
}

/// Every selector of a changefeed, in order.
#[derive(Debug, Clone, Default)]
pub struct ColumnSelectors {
    selectors: Vec<Selector>,
}

impl ColumnSelectors {
    /// Parses `(matcher, columns)` pairs in configuration order.
    pub fn parse(
        rules: &[(Vec<String>, Vec<String>)],
        case_sensitive: bool,
    ) -> Result<Self, String> {
        let mut selectors = Vec::with_capacity(rules.len());
        for (matcher, columns) in rules {
            let tables = TableFilter::parse(matcher, case_sensitive).map_err(|e| e.to_string())?;
            let mut cols = Vec::with_capacity(columns.len());
            for c in columns {
                let text = c.trim();
                let (include, pat) = match text.strip_prefix('!') {
                    Some(rest) => (false, rest),
                    None => (true, text),
                };
                let (pattern, rest) = parse_pattern(pat, false, true)
                    .map_err(|e| format!("invalid column pattern {c:?}: {e}"))?;
                if !rest.is_empty() {
                    return Err(format!(
                        "invalid column pattern {c:?}: stray characters {rest:?}"
                    ));
                }
                cols.push(ColumnRule { pattern, include });
            }
            selectors.push(Selector {
                tables,
                columns: cols,
            });
        }
        Ok(ColumnSelectors { selectors })
    }

    /// Whether `column` of `schema.table` is output.
    pub fn keeps(&self, schema: &str, table: &str, column: &str) -> bool {
        let Some(sel) = self
            .selectors
            .iter()
            .find(|s| s.tables.matches(schema, table))
        else {
            return true;
        };
        sel.columns
            .iter()
            .rev()
            .find(|r| r.pattern.matches(column, true))
            .is_some_and(|r| r.include)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(rules: &[(&[&str], &[&str])]) -> ColumnSelectors {
        let rules: Vec<(Vec<String>, Vec<String>)> = rules
            .iter()
            .map(|(m, c)| {
                (
                    m.iter().map(|x| x.to_string()).collect(),
                    c.iter().map(|x| x.to_string()).collect(),
                )
            })
            .collect();
        ColumnSelectors::parse(&rules, false).expect("parses")
    }

    #[test]
    fn first_selector_last_column_pattern() {
        let sel = s(&[
            (&["shop.customers"], &["*", "!ssn"]),
            (&["shop.*"], &["id"]),
        ]);
        assert!(sel.keeps("shop", "customers", "name"));
        assert!(!sel.keeps("shop", "customers", "SSN"), "case-insensitive");
        assert!(sel.keeps("shop", "orders", "id"));
        assert!(
            !sel.keeps("shop", "orders", "total"),
            "no pattern matches: dropped"
        );
        assert!(
            sel.keeps("other", "t", "anything"),
            "no selector: every column"
        );
    }
}
