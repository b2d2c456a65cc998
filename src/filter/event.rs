//! Event filters (TiCDC's `[[filter.event-filters]]`): for tables a rule's matcher selects,
//! drop DML of the listed kinds (`insert`, `update`, `delete`, `all dml`) and DDL of the
//! listed kinds (`all ddl`, `create table`, `drop column`, …) or whose query matches one of
//! the `ignore-sql` regular expressions. Every rule that matches a table applies.

use regex::{Regex, RegexBuilder};

use super::table::TableFilter;
use crate::event::RowKind;
use crate::model::ActionType;

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
    pub fn ignores_dml(&self, schema: &str, table: &str, kind: RowKind) -> bool {
        let name = match kind {
            RowKind::Insert => "insert",
            RowKind::Update => "update",
            RowKind::Delete => "delete",
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

/// TiCDC's event-filter name of a DDL kind (`pkg/filter` `ddlWhiteListMap`).
pub fn ddl_kind_name(action: ActionType) -> &'static str {
    match action {
        ActionType::CREATE_SCHEMA => "create schema",
        ActionType::DROP_SCHEMA => "drop schema",
        ActionType::CREATE_TABLE => "create table",
        ActionType::DROP_TABLE => "drop table",
        ActionType::ADD_COLUMN | ActionType::ADD_COLUMNS => "add column",
        ActionType::DROP_COLUMN | ActionType::DROP_COLUMNS => "drop column",
        ActionType::ADD_INDEX => "add index",
        ActionType::DROP_INDEX => "drop index",
        ActionType::TRUNCATE_TABLE => "truncate table",
        ActionType::MODIFY_COLUMN => "modify column",
        ActionType::RENAME_TABLE | ActionType::RENAME_TABLES => "rename table",
        ActionType::SET_DEFAULT_VALUE => "set default value",
        ActionType::MODIFY_TABLE_COMMENT => "modify table comment",
        ActionType::RENAME_INDEX => "rename index",
        ActionType::ADD_TABLE_PARTITION => "add table partition",
        ActionType::DROP_TABLE_PARTITION => "drop table partition",
        ActionType::CREATE_VIEW => "create view",
        ActionType::MODIFY_TABLE_CHARSET_AND_COLLATE => "modify table charset and collate",
        ActionType::TRUNCATE_TABLE_PARTITION => "truncate table partition",
        ActionType::DROP_VIEW => "drop view",
        ActionType::RECOVER_TABLE => "recover table",
        ActionType::MODIFY_SCHEMA_CHARSET_AND_COLLATE => "modify schema charset and collate",
        ActionType::ADD_PRIMARY_KEY => "add primary key",
        ActionType::DROP_PRIMARY_KEY => "drop primary key",
        ActionType::CREATE_SEQUENCE => "create sequence",
        ActionType::ALTER_SEQUENCE => "alter sequence",
        ActionType::DROP_SEQUENCE => "drop sequence",
        ActionType::ALTER_INDEX_VISIBILITY => "alter index visibility",
        ActionType::EXCHANGE_TABLE_PARTITION => "exchange table partition",
        _ => "alter table",
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
        assert!(f.ignores_dml("test", "audit_log", RowKind::Delete));
        assert!(!f.ignores_dml("test", "audit_log", RowKind::Insert));
        assert!(!f.ignores_dml("test", "users", RowKind::Delete));
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
