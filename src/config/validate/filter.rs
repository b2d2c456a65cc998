//! Rules of `[filter]`: at least one table-filter rule, each non-empty and parseable; event
//! filters with a parseable matcher, valid `ignore-sql` regular expressions and known `ignore-event`
//! kinds; SQL expression filters rejected as not supported yet. Also the one rule every
//! table matcher (filter rules, dispatcher and column-selector matchers) must satisfy.

use super::Report;
use crate::config::{EventFilterRule, FilterConfig, KeyPath};

pub(super) fn check(r: &mut Report, f: &KeyPath, filter: &FilterConfig, case_sensitive: bool) {
    if filter.rules.is_empty() {
        r.err(
            f.key("rules"),
            "at least one rule is required (\"*.*\" selects every table)",
        );
    }
    for (i, rule) in filter.rules.iter().enumerate() {
        if rule.trim().is_empty() {
            r.err(f.key("rules").index(i), "empty table-filter rule");
        }
    }
    matchers(r, &f.key("rules"), &filter.rules, case_sensitive);
    for (i, ef) in filter.event_filters.iter().enumerate() {
        event_filter(r, &f.key("event-filters").index(i), ef, case_sensitive);
    }
}

/// Table-filter rules (filter rules, dispatcher and selector matchers) must parse.
pub(super) fn matchers(r: &mut Report, p: &KeyPath, rules: &[String], case_sensitive: bool) {
    if let Err(e) = crate::filter::TableFilter::parse(rules, case_sensitive) {
        r.err(p.index(e.index), e.to_string());
    }
}

fn event_filter(r: &mut Report, e: &KeyPath, ef: &EventFilterRule, case_sensitive: bool) {
    if ef.matcher.is_empty() {
        r.err(
            e.key("matcher"),
            "an event filter needs at least one matcher",
        );
    }
    // The matcher is table-filter rules, parsed when the changefeed starts
    // (`filter::EventFilters::parse`): a rule that does not parse must be refused here, not
    // accepted and then fail the start.
    matchers(r, &e.key("matcher"), &ef.matcher, case_sensitive);
    for (j, re) in ef.ignore_sql.iter().enumerate() {
        // Compiled as the event filter compiles it (case-insensitive).
        if let Err(why) = regex::RegexBuilder::new(re).case_insensitive(true).build() {
            r.err(
                e.key("ignore-sql").index(j),
                format!("invalid regular expression {re:?}: {why}"),
            );
        }
    }
    for (j, kind) in ef.ignore_event.iter().enumerate() {
        if !known_event_kind(kind) {
            r.err(
                e.key("ignore-event").index(j),
                format!("unknown event kind {kind:?}, expected e.g. \"all dml\", \"all ddl\", \"insert\", \"update\", \"delete\", \"create table\", \"drop column\""),
            );
        }
    }
    for (key, set) in [
        (
            "ignore-insert-value-expr",
            ef.ignore_insert_value_expr.is_some(),
        ),
        (
            "ignore-update-new-value-expr",
            ef.ignore_update_new_value_expr.is_some(),
        ),
        (
            "ignore-update-old-value-expr",
            ef.ignore_update_old_value_expr.is_some(),
        ),
        (
            "ignore-delete-value-expr",
            ef.ignore_delete_value_expr.is_some(),
        ),
    ] {
        if set {
            r.unsupported(e.key(key), format!("{key} (SQL expression filters)"));
        }
    }
}

/// Event kinds of TiCDC's `ignore-event` (`pkg/filter`), compared case-insensitively.
fn known_event_kind(kind: &str) -> bool {
    const KINDS: &[&str] = &[
        "all dml",
        "all ddl",
        "insert",
        "update",
        "delete",
        "create schema",
        "create database",
        "drop schema",
        "drop database",
        "create table",
        "drop table",
        "rename table",
        "truncate table",
        "alter table",
        "add table partition",
        "drop table partition",
        "truncate table partition",
        "create view",
        "drop view",
        "add column",
        "drop column",
        "modify column",
        "set default value",
        "add primary key",
        "drop primary key",
        "add index",
        "drop index",
        "rename index",
        "alter index visibility",
        "add unique key",
        "alter table partitioning",
        "remove table partitioning",
        "exchange table partition",
        "reorganize table partition",
        "alter column",
        "rebase auto id",
        "set ttl",
        "remove ttl",
        "modify table comment",
        "modify column comment",
        "modify table charset and collate",
        "modify schema charset and collate",
        "recover table",
        "create sequence",
        "alter sequence",
        "drop sequence",
        "multi schema change",
    ];
    let k = kind.trim().to_ascii_lowercase();
    KINDS.contains(&k.as_str())
}
