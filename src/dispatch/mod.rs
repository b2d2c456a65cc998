//! Dispatch: which topic and which partition each event goes to.
//!
//! Owns [`EventRouter`] (tiflow `cdc/sink/dmlsink/mq/dispatcher/event_router.go`) built from
//! TiCDC-style `[[sink.dispatchers]]` rules ([`DispatchRule`]), the topic expressions
//! ([`topic`]), the partition dispatchers ([`partition`]) with TiCDC's hash ([`hash`]) and the
//! table-filter matchers the rules use ([`crate::filter::TableFilter`]).
//!
//! Guarantees: rules are tried in order and the first whose matcher accepts the table wins; an
//! implicit last rule `{matcher = ["*.*"], partition = "default", topic = ""}` catches the
//! rest; matchers are case-insensitive unless `case-sensitive`; a DDL goes to the topic of the
//! table before the DDL when there was one, and schema-level DDLs (no table) to the default
//! topic; partitions are identical to TiCDC classic v8.5 for the same partition count.

pub mod hash;
pub mod partition;
pub mod topic;

use thiserror::Error;

use crate::event::{DdlEvent, RowEvent, TableMeta};
use crate::filter::TableFilter;
pub use hash::PositionInertia;
pub use partition::PartitionDispatcher;
pub use topic::TopicDispatcher;

/// A dispatch configuration or dispatch-time error. All are operator errors (fix the config or
/// the schema); none is retryable.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DispatchError {
    #[error("invalid dispatch matcher {rule:?}: {reason}")]
    InvalidMatcher { rule: String, reason: String },
    #[error("invalid topic expression {expression:?}: {reason}")]
    InvalidTopicExpression {
        expression: String,
        reason: &'static str,
    },
    #[error("dispatch rule sets both `partition` and its deprecated alias `dispatcher`")]
    PartitionAndDispatcherBoth,
    #[error("table {table}: index {index:?} not found for the index-value dispatcher")]
    IndexNotFound { table: String, index: String },
    #[error(
        "table {table}: index {index:?} is not unique; the index-value dispatcher needs a unique index"
    )]
    IndexNotUnique { table: String, index: String },
    #[error("table {table}: column {column:?} not found for the columns dispatcher")]
    ColumnNotFound { table: String, column: String },
    #[error(
        "table {table}: column {column:?} is a virtual generated column and cannot be dispatched on"
    )]
    VirtualColumn { table: String, column: String },
    #[error("table {table}: dispatch column position {offset} is past the end of the row")]
    OffsetOutOfRow { table: String, offset: usize },
    #[error(
        "table {table}: its rows would go to the shared topic {topic:?}, but this protocol needs one topic per table; add a dispatcher whose topic expression contains {{schema}} and {{table}} and whose matcher selects the table"
    )]
    SharedTopic { table: String, topic: String },
    #[error("partition count {0} must be positive")]
    BadPartitionCount(i32),
}

/// One `[[sink.dispatchers]]` entry, with TiCDC's field names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchRule {
    pub matcher: Vec<String>,
    /// `partition` (or the deprecated `dispatcher`): default, table, ts, index-value, columns.
    pub partition: String,
    /// `index` for index-value.
    pub index: String,
    /// `columns` for the columns dispatcher.
    pub columns: Vec<String>,
    /// `topic` expression; empty = default topic.
    pub topic: String,
}

#[derive(Debug, Clone)]
struct Route {
    matcher: TableFilter,
    topic: TopicDispatcher,
    partition: PartitionDispatcher,
}

/// A rule's matcher, in the table-filter syntax shared with `[filter] rules`.
fn matcher(rules: &[String], case_sensitive: bool) -> Result<TableFilter, DispatchError> {
    TableFilter::parse(rules, case_sensitive).map_err(|e| DispatchError::InvalidMatcher {
        rule: e.rule,
        reason: e.reason,
    })
}

/// Routes events to topics and partitions.
#[derive(Debug, Clone)]
pub struct EventRouter {
    default_topic: String,
    routes: Vec<Route>,
    /// The implicit last rule (`*.*`, default partition, default topic).
    implicit: Route,
    /// Rules whose partition name was unknown and fell back to `default`.
    pub unknown_partition_rules: Vec<String>,
    /// Every table needs its own topic (Avro).
    one_table_per_topic: bool,
}

impl EventRouter {
    /// Builds the router. `one_table_per_topic` (Avro) applies the stricter topic-expression
    /// check and refuses tables whose rows would share a fixed topic.
    pub fn new(
        rules: &[DispatchRule],
        default_topic: &str,
        case_sensitive: bool,
        one_table_per_topic: bool,
    ) -> Result<Self, DispatchError> {
        let mut routes = Vec::with_capacity(rules.len());
        let mut unknown = Vec::new();
        for r in rules {
            let (partition, was_unknown) =
                PartitionDispatcher::from_rule(&r.partition, &r.index, &r.columns);
            if was_unknown {
                tracing::warn!(
                    rule = %r.partition,
                    "the partition dispatch rule is not default/ts/table/index-value/columns, using default"
                );
                unknown.push(r.partition.clone());
            }
            routes.push(Route {
                matcher: matcher(&r.matcher, case_sensitive)?,
                topic: TopicDispatcher::new(&r.topic, default_topic, one_table_per_topic)?,
                partition,
            });
        }
        Ok(EventRouter {
            default_topic: default_topic.to_owned(),
            routes,
            implicit: Route {
                matcher: matcher(&["*.*".to_string()], case_sensitive)?,
                topic: TopicDispatcher::Static(default_topic.to_owned()),
                partition: PartitionDispatcher::Default,
            },
            unknown_partition_rules: unknown,
            one_table_per_topic,
        })
    }

    fn route(&self, schema: &str, table: &str) -> &Route {
        self.routes
            .iter()
            .find(|r| r.matcher.matches(schema, table))
            .unwrap_or(&self.implicit)
    }

    /// The default topic.
    pub fn default_topic(&self) -> &str {
        &self.default_topic
    }

    /// Topic of a table's rows.
    pub fn topic_for_table(&self, schema: &str, table: &str) -> String {
        self.route(schema, table).topic.substitute(schema, table)
    }

    /// Topic of a row.
    pub fn topic_for_row(&self, ev: &RowEvent) -> String {
        self.topic_for_table(&ev.schema, &ev.table)
    }

    /// Topic of a DDL (TiCDC `GetTopicForDDL`).
    pub fn topic_for_ddl(&self, ddl: &DdlEvent) -> String {
        let name = ddl.pre_table.as_ref().unwrap_or(&ddl.table);
        if name.table.is_empty() {
            return self.default_topic.clone();
        }
        self.topic_for_table(&name.schema, &name.table)
    }

    /// The partition dispatcher of a table.
    pub fn partition_dispatcher(&self, schema: &str, table: &str) -> &PartitionDispatcher {
        &self.route(schema, table).partition
    }

    /// Partition of a row among `partitions`.
    pub fn partition_for_row(&self, ev: &RowEvent, partitions: i32) -> Result<i32, DispatchError> {
        self.partition_dispatcher(&ev.schema, &ev.table)
            .partition(ev, partitions)
    }

    /// TiCDC `VerifyTables` for one table.
    pub fn verify_table(
        &self,
        schema: &str,
        table: &str,
        meta: &TableMeta,
    ) -> Result<(), DispatchError> {
        if self.one_table_per_topic
            && let TopicDispatcher::Static(topic) = &self.route(schema, table).topic
        {
            return Err(DispatchError::SharedTopic {
                table: format!("`{schema}`.`{table}`"),
                topic: topic.clone(),
            });
        }
        self.partition_dispatcher(schema, table).verify(table, meta)
    }

    /// Topics of the replicated tables plus the default topic, first-seen order (TiCDC
    /// `GetActiveTopics`: where watermarks are broadcast).
    pub fn active_topics<'a>(
        &self,
        tables: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (s, t) in tables {
            let topic = self.topic_for_table(s, t);
            if !out.contains(&topic) {
                out.push(topic);
            }
        }
        if !out.contains(&self.default_topic) {
            out.push(self.default_topic.clone());
        }
        out
    }
}

#[cfg(test)]
mod tests;
