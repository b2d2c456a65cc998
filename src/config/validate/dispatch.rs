//! Rules of `[[sink.dispatchers]]`: a matcher that parses; one partition dispatcher
//! (`partition`, or its deprecated name `dispatcher`, not both) of TiCDC's kinds, with
//! `index` and `columns` only where they are used; a topic expression as TiCDC accepts it
//! (`dispatcher/topic/expression.go`), with both `{schema}` and `{table}` under protocols with one table per topic.

use super::kafka::{topic_byte, valid_topic_name};
use super::{Report, filter};
use crate::config::{DispatchRule, KeyPath, Protocol};

/// Every dispatcher's matcher parses (`s` is the `sink` path).
pub(super) fn matchers(r: &mut Report, s: &KeyPath, rules: &[DispatchRule], case_sensitive: bool) {
    for (i, rule) in rules.iter().enumerate() {
        filter::matchers(
            r,
            &s.key("dispatchers").index(i).key("matcher"),
            &rule.matcher,
            case_sensitive,
        );
    }
}

/// The rules of one dispatcher besides its matcher's syntax.
pub(super) fn check(r: &mut Report, p: &KeyPath, rule: &DispatchRule, protocol: Protocol) {
    if rule.matcher.is_empty() {
        r.err(p.key("matcher"), "a dispatcher needs at least one matcher");
    }
    let partition = match (&rule.partition, &rule.dispatcher) {
        (Some(_), Some(_)) => {
            r.err(
                p.key("dispatcher"),
                "`dispatcher` is the deprecated name of `partition`; set only `partition`",
            );
            rule.partition.as_deref()
        }
        (Some(x), None) | (None, Some(x)) => Some(x.as_str()),
        (None, None) => None,
    };
    let key = if rule.partition.is_some() {
        "partition"
    } else {
        "dispatcher"
    };
    match partition {
        None | Some("default" | "table" | "ts") => {}
        Some("index-value" | "rowid") => {}
        Some("columns") => {
            if rule.columns.is_empty() {
                r.err(p.key("columns"), "partition = \"columns\" needs a non-empty `columns` list");
            }
        }
        Some(other) => r.err(
            p.key(key),
            format!("unknown partition dispatcher {other:?}, expected one of default, table, index-value, ts, columns"),
        ),
    }
    if rule.index.is_some() && !matches!(partition, Some("index-value" | "rowid")) {
        r.err(
            p.key("index"),
            "`index` is only used with partition = \"index-value\"",
        );
    }
    if !rule.columns.is_empty() && partition != Some("columns") {
        r.err(
            p.key("columns"),
            "`columns` is only used with partition = \"columns\"",
        );
    }
    if let Some(topic) = &rule.topic
        && let Err(why) = check_topic_expression(topic, protocol)
    {
        r.err(p.key("topic"), why);
    }
}

/// TiCDC's topic expression rules (`dispatcher/topic/expression.go`).
fn check_topic_expression(expr: &str, protocol: Protocol) -> Result<(), String> {
    if expr.is_empty() || valid_topic_name(expr) {
        return Ok(());
    }
    let plain = |s: &str| s.bytes().all(topic_byte);
    // prefix? {schema}? (middle {table})? suffix
    let (before_schema, after_schema) = match expr.split_once("{schema}") {
        Some((a, b)) => (a, Some(b)),
        None => (expr, None),
    };
    let ok = match after_schema {
        Some(rest) => {
            plain(before_schema)
                && match rest.split_once("{table}") {
                    Some((mid, suffix)) => plain(mid) && plain(suffix),
                    None => plain(rest),
                }
        }
        None => match before_schema.split_once("{table}") {
            Some((pre, suffix)) => plain(pre) && plain(suffix),
            None => false,
        },
    };
    if !ok {
        return Err(format!(
            "invalid topic expression {expr:?}: use letters, digits, '.', '_', '-' and at most one {{schema}} followed by at most one {{table}}"
        ));
    }
    if protocol.caps().one_table_per_topic
        && !(expr.contains("{schema}") && expr.contains("{table}"))
    {
        return Err(format!(
            "topic expression {expr:?} must contain both {{schema}} and {{table}} with protocol {}",
            protocol.name()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_expressions() {
        let ok = [
            "tidb",
            "cdc_{schema}",
            "{schema}_{table}",
            "p.{table}.s",
            "{schema}",
        ];
        for e in ok {
            assert!(
                check_topic_expression(e, Protocol::CanalJson).is_ok(),
                "{e}"
            );
        }
        for e in ["a b", "{table}_{schema}", "{Schema}", "x{schema}{schema}"] {
            assert!(
                check_topic_expression(e, Protocol::CanalJson).is_err(),
                "{e}"
            );
        }
        assert!(check_topic_expression("{schema}", Protocol::Avro).is_err());
    }
}
