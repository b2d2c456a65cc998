//! Table filters: TiDB's table-filter rules as TiCDC applies them to a changefeed.
//!
//! A rule is `schema.table` (each side a [`Pattern`]), `!schema.table` to exclude, `#…`
//! a comment, or blank. The **last** rule that matches a table decides; a table no rule
//! matches is excluded. Matching folds case unless the changefeed is `case-sensitive`.
//! TiDB's system schemas (and TiCDC's own) are never replicated, whatever the rules say.

use super::pattern::{Pattern, parse_pattern};
use crate::model::is_system_schema;

#[derive(Debug, Clone)]
struct Rule {
    schema: Pattern,
    table: Pattern,
    include: bool,
}

/// A parsed list of table-filter rules.
#[derive(Debug, Clone)]
pub struct TableFilter {
    rules: Vec<Rule>,
    fold_case: bool,
}

/// A rule that does not parse: its index in the list and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid table-filter rule {rule:?}: {reason}")]
pub struct RuleError {
    pub index: usize,
    pub rule: String,
    pub reason: String,
}

impl TableFilter {
    /// Parses `rules` in order.
    pub fn parse(rules: &[String], case_sensitive: bool) -> Result<Self, RuleError> {
        let fold_case = !case_sensitive;
        let mut parsed = Vec::with_capacity(rules.len());
        for (index, text) in rules.iter().enumerate() {
            let err = |reason: String| RuleError {
                index,
                rule: text.clone(),
                reason,
            };
            let line = text.trim_matches([' ', '\t']);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (include, line) = match line.strip_prefix('!') {
                Some(rest) => (false, rest),
                None => (true, line),
            };
            if line.starts_with('@') {
                return Err(err(
                    "importing rules from a file (@file) is not supported; list the rules"
                        .to_string(),
                ));
            }
            let (schema, rest) = parse_pattern(line, true, fold_case).map_err(err)?;
            let Some(rest) = rest.strip_prefix('.') else {
                return Err(err(
                    "syntax error: missing '.' between schema and table patterns (write schema.table, e.g. \"db.*\")".to_string(),
                ));
            };
            let (table, rest) = parse_pattern(rest, true, fold_case).map_err(err)?;
            if !rest.is_empty() {
                return Err(err(format!(
                    "syntax error: stray characters {rest:?} after the table pattern"
                )));
            }
            parsed.push(Rule {
                schema,
                table,
                include,
            });
        }
        Ok(TableFilter {
            rules: parsed,
            fold_case,
        })
    }

    /// Whether the rules select `schema.table` (system schemas not considered).
    pub fn matches(&self, schema: &str, table: &str) -> bool {
        self.rules
            .iter()
            .rev()
            .find(|r| {
                r.schema.matches(schema, self.fold_case) && r.table.matches(table, self.fold_case)
            })
            .is_some_and(|r| r.include)
    }

    /// Whether a changefeed replicates `schema.table`: never a system schema, else the rules.
    pub fn replicates(&self, schema: &str, table: &str) -> bool {
        !is_system_schema(schema) && self.matches(schema, table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(rules: &[&str], cs: bool) -> TableFilter {
        let rules: Vec<String> = rules.iter().map(|s| s.to_string()).collect();
        TableFilter::parse(&rules, cs).expect("parses")
    }

    #[test]
    fn last_matching_rule_decides() {
        let filter = f(&["*.*", "!db1.*", "db1.keep"], false);
        assert!(filter.matches("shop", "orders"));
        assert!(!filter.matches("db1", "t"));
        assert!(filter.matches("db1", "keep"));
        assert!(
            !f(&["db.t"], false).matches("db", "u"),
            "no rule matches: excluded"
        );
    }

    #[test]
    fn case_folding_follows_case_sensitive() {
        assert!(f(&["Shop.Orders"], false).matches("shop", "ORDERS"));
        assert!(!f(&["Shop.Orders"], true).matches("shop", "orders"));
        assert!(f(&["shop.ord*"], false).matches("SHOP", "Orders"));
    }

    #[test]
    fn system_schemas_are_never_replicated() {
        let all = f(&["*.*"], false);
        assert!(all.matches("mysql", "user"));
        assert!(!all.replicates("mysql", "user"));
        assert!(!all.replicates("INFORMATION_SCHEMA", "tables"));
        assert!(all.replicates("app", "t"));
    }

    #[test]
    fn comments_blank_lines_and_errors() {
        let filter = f(&["# keep shop", "", "  shop.*  "], false);
        assert!(filter.matches("shop", "a"));
        let bad: Vec<String> = vec!["*.*".into(), "shop".into()];
        let e = TableFilter::parse(&bad, false).expect_err("missing dot");
        assert_eq!(e.index, 1);
        assert!(e.to_string().contains("missing '.'"), "{e}");
        let bad: Vec<String> = vec!["a.b.c".into()];
        assert!(
            TableFilter::parse(&bad, false)
                .expect_err("must fail")
                .reason
                .contains("stray characters")
        );
    }
}
