//! Event filters (TiCDC's `[[filter.event-filters]]`): for tables a rule's matcher selects,
//! drop DML of the listed kinds (`insert`, `update`, `delete`, `all dml`) and DDL of the
//! listed kinds (`all ddl`, `create table`, `drop column`, …) or whose query matches one of
//! the `ignore-sql` regular expressions. Every rule that matches a table applies.

use regex::{Regex, RegexBuilder};

use super::table::TableFilter;

/// The DML kinds an event filter can drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmlKind {
    Insert,
    Update,
    Delete,
}

#[derive(Debug, Clone)]
struct EventRule {
    tables: TableFilter,
    /// Lower-case event kinds.
    kinds: Vec<String>,
    sql: Vec<Regex>,
}

/// Every event filter of a changefeed.
#[derive(Debug, Clone, Default)]
pub struct EventFilters {
    rules: Vec<EventRule>,
}

/// One event-filter rule as configured.
#[derive(Debug, Clone, Default)]
pub struct EventRuleSpec {
    pub matcher: Vec<String>,
    pub ignore_event: Vec<String>,
    pub ignore_sql: Vec<String>,
}

impl EventFilters {
    pub fn parse(specs: &[EventRuleSpec], case_sensitive: bool) -> Result<Self, String> {
        let mut rules = Vec::with_capacity(specs.len());
        for spec in specs {
            let tables =
                TableFilter::parse(&spec.matcher, case_sensitive).map_err(|e| e.to_string())?;
            let sql = spec
                .ignore_sql
                .iter()
                .map(|re| {
                    RegexBuilder::new(re)
                        .case_insensitive(true)
                        .build()
                        .map_err(|e| format!("invalid ignore-sql expression {re:?}: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let kinds = spec
                .ignore_event
                .iter()
                .map(|k| k.trim().to_ascii_lowercase())
                .collect();
            rules.push(EventRule { tables, kinds, sql });
        }
        Ok(EventFilters { rules })
    }

    fn matching<'a>(
        &'a self,
        schema: &'a str,
        table: &'a str,
    ) -> impl Iterator<Item = &'a EventRule> + 'a {
        self.rules
            .iter()
            .filter(move |r| r.tables.matches(schema, table))
    }

    /// Whether a row change of `kind` in `schema.table` is dropped.
    pub fn ignores_dml(&self, schema: &str, table: &str, kind: DmlKind) -> bool {
        let name = match kind {
            DmlKind::Insert => "insert",
            DmlKind::Update => "update",
            DmlKind::Delete => "delete",
        };
        self.matching(schema, table)
            .any(|r| r.kinds.iter().any(|k| k == "all dml" || k == name))
    }

    /// Whether a DDL of `ddl_kind` (e.g. "drop column") with `query` on `schema.table` is
    /// dropped. Schema-level DDL passes an empty table name.
    pub fn ignores_ddl(&self, schema: &str, table: &str, ddl_kind: &str, query: &str) -> bool {
        let kind = ddl_kind.to_ascii_lowercase();
        self.matching(schema, table).any(|r| {
            r.kinds.iter().any(|k| k == "all ddl" || *k == kind)
                || r.sql.iter().any(|re| re.is_match(query))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(m: &str, events: &[&str], sql: &[&str]) -> EventRuleSpec {
        EventRuleSpec {
            matcher: vec![m.to_string()],
            ignore_event: events.iter().map(|s| s.to_string()).collect(),
            ignore_sql: sql.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn dml_and_ddl_kinds() {
        let f = EventFilters::parse(
            &[
                spec("test.audit_*", &["delete"], &[]),
                spec("shop.*", &["All DDL"], &[]),
                spec("*.*", &[], &["^alter table .* drop"]),
            ],
            false,
        )
        .expect("parses");
        assert!(f.ignores_dml("test", "audit_log", DmlKind::Delete));
        assert!(!f.ignores_dml("test", "audit_log", DmlKind::Insert));
        assert!(!f.ignores_dml("test", "users", DmlKind::Delete));
        assert!(f.ignores_ddl("shop", "t", "create table", "CREATE TABLE t (a int)"));
        assert!(f.ignores_ddl("app", "t", "drop column", "ALTER TABLE t DROP c"));
        assert!(!f.ignores_ddl("app", "t", "add column", "ALTER TABLE t ADD c int"));
    }

    #[test]
    fn bad_sql_expression_is_an_error() {
        let e =
            EventFilters::parse(&[spec("*.*", &[], &["(unclosed"])], false).expect_err("bad regex");
        assert!(e.contains("invalid ignore-sql expression"), "{e}");
    }
}
