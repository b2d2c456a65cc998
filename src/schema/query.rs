//! DDL statement text per table, as TiCDC rebuilds it, and the job arguments multi-table
//! jobs need.
//!
//! Owns: splitting a CREATE TABLES job's query into its statements, the rebuilt statements for
//! DROP TABLE/VIEW, RENAME TABLES and EXCHANGE PARTITION (TiCDC `DDLEvent.FromJobWithArgs`),
//! and reading RENAME TABLES arguments from `raw_args` in both job formats (v1: an array
//! `[old schema ids, new schema ids, new table names, table ids, old schema names, …]`; v2: an
//! object `{"rename_table_infos": [{old_schema_id, new_schema_id, table_id, old_schema_name,
//! new_table_name, …}]}`).
//!
//! Known difference: TiCDC splits CREATE TABLES with TiDB's parser and re-renders each
//! statement (`Restore`, default flags) before appending `;`; without that parser we keep each
//! statement's own text, trimmed, with `;` appended.

use serde_json::Value;

/// `DROP TABLE \`s\`.\`t\`` (or VIEW), one statement per dropped table.
pub(crate) fn drop_query(view: bool, schema: &str, table: &str) -> String {
    let kind = if view { "VIEW" } else { "TABLE" };
    format!("DROP {kind} `{schema}`.`{table}`")
}

/// `RENAME TABLE \`os\`.\`ot\` TO \`ns\`.\`nt\``.
pub(crate) fn rename_query(old_schema: &str, old: &str, new_schema: &str, new: &str) -> String {
    format!("RENAME TABLE `{old_schema}`.`{old}` TO `{new_schema}`.`{new}`")
}

/// `ALTER TABLE \`ps\`.\`pt\` EXCHANGE PARTITION \`p\` WITH TABLE \`s\`.\`t\`[ WITHOUT
/// VALIDATION]`, the partition name taken from the original query.
pub(crate) fn exchange_query(
    query: &str,
    part_schema: &str,
    part_table: &str,
    schema: &str,
    table: &str,
) -> String {
    let upper = query.to_ascii_uppercase();
    const EXCHANGE: &str = "EXCHANGE PARTITION";
    let name = match (upper.find(EXCHANGE), upper.find("WITH TABLE")) {
        (Some(a), Some(b)) if a + EXCHANGE.len() <= b => {
            query.get(a + EXCHANGE.len()..b).unwrap_or("").trim()
        }
        _ => "",
    };
    let mut q = format!(
        "ALTER TABLE `{part_schema}`.`{part_table}` EXCHANGE PARTITION `{name}` WITH TABLE `{schema}`.`{table}`"
    );
    if upper.trim_end().ends_with("WITHOUT VALIDATION") {
        q.push_str(" WITHOUT VALIDATION");
    }
    q
}

/// Splits SQL text into statements at `;` outside quotes and comments; each is trimmed and
/// ends with `;`. Empty statements are dropped.
pub(crate) fn split_queries(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = sql.chars().peekable();
    let push = |cur: &mut String, out: &mut Vec<String>| {
        let s = cur.trim();
        if !s.is_empty() {
            out.push(format!("{s};"));
        }
        cur.clear();
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' => {
                cur.push(c);
                while let Some(d) = chars.next() {
                    cur.push(d);
                    if d == '\\' && c != '`' {
                        if let Some(e) = chars.next() {
                            cur.push(e);
                        }
                    } else if d == c {
                        if chars.peek() == Some(&c) {
                            // doubled quote inside a quoted string
                            if let Some(e) = chars.next() {
                                cur.push(e);
                            }
                        } else {
                            break;
                        }
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        cur.push('\n');
                        break;
                    }
                }
            }
            '#' => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        cur.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                cur.push(c);
                let mut prev = '\0';
                for d in chars.by_ref() {
                    cur.push(d);
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
            }
            ';' => push(&mut cur, &mut out),
            _ => cur.push(c),
        }
    }
    push(&mut cur, &mut out);
    out
}

/// One table of a RENAME TABLES job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RenameArg {
    pub new_schema_id: i64,
    pub table_id: i64,
    pub old_schema_name: Option<String>,
}

fn ci_name(v: &Value) -> Option<String> {
    v.get("O").and_then(Value::as_str).map(str::to_owned)
}

/// RENAME TABLES arguments from `raw_args`, in `MultipleTableInfos` order.
pub(crate) fn rename_tables_args(raw: &Value) -> Option<Vec<RenameArg>> {
    let v2 = |o: &Value| -> Option<Vec<RenameArg>> {
        o.get("rename_table_infos")?
            .as_array()?
            .iter()
            .map(|i| {
                Some(RenameArg {
                    new_schema_id: i.get("new_schema_id").and_then(Value::as_i64).unwrap_or(0),
                    table_id: i.get("table_id").and_then(Value::as_i64).unwrap_or(0),
                    old_schema_name: i.get("old_schema_name").and_then(ci_name),
                })
            })
            .collect()
    };
    match raw {
        Value::Object(_) => v2(raw),
        Value::Array(a) => {
            if let Some(o) = a.first().filter(|o| o.is_object()) {
                return v2(o);
            }
            let ids = |i: usize| -> Option<Vec<i64>> {
                a.get(i)?.as_array()?.iter().map(Value::as_i64).collect()
            };
            let new_schema_ids = ids(1)?;
            let table_ids = ids(3)?;
            if new_schema_ids.len() != table_ids.len() {
                return None;
            }
            let old_names: Vec<Option<String>> = a
                .get(4)
                .and_then(Value::as_array)
                .map(|v| v.iter().map(ci_name).collect())
                .unwrap_or_default();
            Some(
                new_schema_ids
                    .into_iter()
                    .zip(table_ids)
                    .enumerate()
                    .map(|(i, (new_schema_id, table_id))| RenameArg {
                        new_schema_id,
                        table_id,
                        old_schema_name: old_names.get(i).cloned().flatten(),
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn splits_create_tables() {
        let q = "CREATE TABLE t1 (a varchar(5) default ';', b int comment \"x;y\");\n \
                 create table `t;2` (c int) /* ; */;-- trailing; comment\n";
        assert_eq!(
            split_queries(q),
            [
                "CREATE TABLE t1 (a varchar(5) default ';', b int comment \"x;y\");",
                "create table `t;2` (c int) /* ; */;"
            ]
        );
        assert_eq!(
            split_queries("create table a (x int)"),
            ["create table a (x int);"]
        );
        assert_eq!(split_queries("select 'it''s;'; ;"), ["select 'it''s;';"]);
    }

    #[test]
    fn rebuilt_statements() {
        assert_eq!(drop_query(false, "s", "t"), "DROP TABLE `s`.`t`");
        assert_eq!(drop_query(true, "s", "v"), "DROP VIEW `s`.`v`");
        assert_eq!(
            rename_query("a", "t1", "b", "t2"),
            "RENAME TABLE `a`.`t1` TO `b`.`t2`"
        );
        assert_eq!(
            exchange_query(
                "alter table pt exchange partition p0 with table t without validation",
                "s",
                "pt",
                "s",
                "t"
            ),
            "ALTER TABLE `s`.`pt` EXCHANGE PARTITION `p0` WITH TABLE `s`.`t` WITHOUT VALIDATION"
        );
    }

    #[test]
    fn rename_args_in_both_job_formats() {
        let v1 = json!([[2, 2], [3, 2], [{"O":"x","L":"x"}, {"O":"y","L":"y"}], [104, 105],
                        [{"O":"a","L":"a"}, {"O":"a","L":"a"}]]);
        let a = rename_tables_args(&v1).expect("v1");
        assert_eq!(a.len(), 2);
        assert_eq!((a[0].new_schema_id, a[0].table_id), (3, 104));
        assert_eq!(a[1].old_schema_name.as_deref(), Some("a"));
        let v2 = json!({"rename_table_infos": [{"old_schema_id": 2, "new_schema_id": 3,
            "table_id": 104, "old_schema_name": {"O":"a","L":"a"}}]});
        let b = rename_tables_args(&v2).expect("v2");
        assert_eq!((b[0].new_schema_id, b[0].table_id), (3, 104));
        assert_eq!(rename_tables_args(&json!([v2])), Some(b));
        assert_eq!(rename_tables_args(&json!("x")), None);
        assert_eq!(rename_tables_args(&json!([[1], [2, 3], [], [4]])), None);
    }
}
