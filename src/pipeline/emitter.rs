//! The emitter of one changefeed: decoded events in, Kafka messages out.
//!
//! Owns everything after a row is decoded and filtered: TiCDC's split-and-sort of a
//! transaction's rows, routing to a topic and partition, encoding, large-message handling,
//! the per-row [`AckTracker`] ticket and the hand-off to the [`Output`]; for batching
//! protocols (`caps().batches_rows`), one open record per topic partition that rows are
//! appended to ([`Encoder::append_to_batch`]); DDL messages to partition 0 or every partition
//! of their topic; watermark broadcasts; the per-table topic and per-topic partition count /
//! size limit caches; the encode and send busy time of [`super::stages`].
//!
//! Guarantees:
//! * messages of one transaction chunk are sent in TiCDC's order (deletes and split update
//!   halves first, as `split_and_sort_txn` orders them), each with a ticket submitted before
//!   it is sent, so the table's progress never passes an unsent row;
//! * a row that cannot be routed or encoded stops the changefeed with the table and reason,
//!   before its ticket (the checkpoint stays before it);
//! * a batched record carries the tickets of all its rows; open records are sent when full,
//!   before any DDL or watermark, at [`Emitter::flush`] and after each handled resolved ts,
//!   so nothing overtakes a row on its partition and no ticket waits for ever;
//! * watermarks carry no ticket: they are sent only at an acknowledged checkpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::codec::{Encoder, Record, TableCodec};
use crate::config::Placement;
use crate::dispatch::EventRouter;
use crate::event::{DdlEvent, RowEvent, TableMeta};
use crate::schema::DDL_JOB_TABLE_ID;
use crate::sink::ack::{AckTracker, Ticket};
use crate::sink::kafka::{Message, SizeLimit};
use crate::sink::large_message::LargeMessagePolicy;

use super::error::PipelineError;
use super::output::Output;
use super::stages::{Stage, StageTimes};

/// `` `schema`.`table` `` for messages and logs.
pub(crate) fn quoted(schema: &str, table: &str) -> String {
    format!("`{schema}`.`{table}`")
}

/// Counters for status reporting.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub rows_sent: u64,
    pub ddls_sent: u64,
    pub rows_received: u64,
}

/// The output side of one changefeed.
#[derive(Debug)]
pub struct Emitter {
    output: Arc<dyn Output>,
    encoder: Arc<dyn Encoder>,
    router: EventRouter,
    large_messages: LargeMessagePolicy,
    tracker: AckTracker,
    /// Topic of each table's rows (cleared by DDLs: renames move tables).
    topics: HashMap<(Arc<str>, Arc<str>), Arc<str>>,
    /// Partition count and message size limit per topic (cleared every checkpoint tick so
    /// added partitions and changed limits are picked up).
    sink_limits: HashMap<Arc<str>, (i32, u64)>,
    /// Batching protocols: the record being filled per (topic, partition), with the tickets
    /// of the rows in it. Sent when full, before any DDL or watermark, and at [`Self::flush_batches`].
    batches: HashMap<(Arc<str>, i32), (Record, Vec<Ticket>)>,
    rows_sent: u64,
    ddls_sent: u64,
    rows_sent_total: ::metrics::Counter,
    /// Encode and send time since the last [`Emitter::take_times`].
    times: StageTimes,
}

impl Emitter {
    /// An emitter writing to `output`, acknowledging on `tracker`.
    pub fn new(
        changefeed: &str,
        output: Arc<dyn Output>,
        encoder: Arc<dyn Encoder>,
        router: EventRouter,
        large_messages: LargeMessagePolicy,
        tracker: AckTracker,
    ) -> Self {
        Emitter {
            output,
            encoder,
            router,
            large_messages,
            tracker,
            topics: HashMap::new(),
            sink_limits: HashMap::new(),
            batches: HashMap::new(),
            rows_sent: 0,
            ddls_sent: 0,
            times: StageTimes::default(),
            rows_sent_total: ::metrics::counter!(
                crate::metrics::ROWS_SENT_TOTAL,
                "changefeed" => changefeed.to_string()
            ),
        }
    }

    /// Checks the services the encoder depends on (a schema registry).
    pub async fn probe(&self) -> Result<(), PipelineError> {
        self.encoder
            .probe()
            .await
            .map_err(|source| PipelineError::Codec {
                table: "(startup check)".to_string(),
                source,
            })
    }

    /// The encode and send busy time accumulated since the last call.
    pub fn take_times(&mut self) -> StageTimes {
        std::mem::take(&mut self.times)
    }

    /// Rows and DDLs sent so far.
    pub fn sent(&self) -> (u64, u64) {
        (self.rows_sent, self.ddls_sent)
    }

    /// Checks a new table version against the dispatch rules and lets the encoder prepare
    /// for it (schema-registry protocols register its schemas here, under its topic).
    pub async fn prepare_table(
        &self,
        schema: &str,
        table: &str,
        meta: &Arc<TableMeta>,
    ) -> Result<TableCodec, PipelineError> {
        self.router
            .verify_table(schema, table, meta)
            .map_err(|source| PipelineError::Dispatch {
                table: quoted(schema, table),
                source,
            })?;
        let topic = self.router.topic_for_table(schema, table);
        self.encoder
            .prepare_table(schema, table, meta, &topic)
            .await
            .map_err(|source| PipelineError::Codec {
                table: quoted(schema, table),
                source,
            })
    }

    /// Splits and orders one transaction's rows of `physical_id` as TiCDC does, then sends
    /// them.
    pub async fn send_txn(
        &mut self,
        physical_id: i64,
        table: &TableCodec,
        rows: Vec<RowEvent>,
        output_raw_change_event: bool,
    ) -> Result<(), PipelineError> {
        if rows.is_empty() {
            return Ok(());
        }
        let rows = crate::codec::split::split_and_sort_txn(rows, output_raw_change_event);
        for ev in &rows {
            self.send_row(table, ev, physical_id).await?;
        }
        Ok(())
    }

    /// The topic of a table's rows, computed once per table.
    fn row_topic(&mut self, ev: &RowEvent) -> Arc<str> {
        let key = (Arc::clone(&ev.schema), Arc::clone(&ev.table));
        if let Some(t) = self.topics.get(&key) {
            return Arc::clone(t);
        }
        let t: Arc<str> = Arc::from(self.router.topic_for_row(ev));
        self.topics.insert(key, Arc::clone(&t));
        t
    }

    /// Partition count and size limit of `topic`, asked from the output once per tick.
    async fn limits(&mut self, topic: &Arc<str>) -> Result<(i32, u64), PipelineError> {
        if let Some(l) = self.sink_limits.get(topic) {
            return Ok(*l);
        }
        let l = (
            self.output.partitions(topic).await?,
            self.output.max_message_bytes(topic).await?,
        );
        self.sink_limits.insert(Arc::clone(topic), l);
        Ok(l)
    }

    /// Forgets cached partition counts and size limits (called every checkpoint tick).
    pub fn refresh_sink_limits(&mut self) {
        self.sink_limits.clear();
    }

    /// Forgets each table's topic (after a DDL: renames move tables).
    pub fn forget_topics(&mut self) {
        self.topics.clear();
    }

    async fn send_row(
        &mut self,
        table_codec: &TableCodec,
        ev: &RowEvent,
        physical_id: i64,
    ) -> Result<(), PipelineError> {
        let started = Instant::now();
        let table = || quoted(&ev.schema, &ev.table);
        let topic = self.row_topic(ev);
        let (partitions, limit) = self.limits(&topic).await?;
        let partition = self
            .router
            .partition_for_row(ev, partitions)
            .map_err(|source| PipelineError::Dispatch {
                table: table(),
                source,
            })?;
        let Some(msg) =
            self.encoder
                .encode_row(table_codec, ev)
                .map_err(|source| PipelineError::Codec {
                    table: table(),
                    source,
                })?
        else {
            return Ok(());
        };
        let msg = self
            .large_messages
            .fit(
                self.encoder.as_ref(),
                table_codec,
                ev,
                msg,
                SizeLimit::new(limit, self.output.compression()),
            )?;
        let ticket = self.tracker.submit(physical_id, ev.commit_ts);
        self.rows_sent += 1;
        self.rows_sent_total.increment(1);
        let started = self.times.add_since(Stage::Encode, started);
        let sent = if self.encoder.caps().batches_rows {
            self.batch(topic, partition, msg, ticket, limit).await
        } else {
            self.output
                .send(&topic, partition, Message::from_record(msg, Some(ticket)))
                .await
        };
        self.times.add_since(Stage::Send, started);
        sent
    }

    /// Adds a row's record to its partition's open batch, sending the batch first when the
    /// row does not fit in it.
    async fn batch(
        &mut self,
        topic: Arc<str>,
        partition: i32,
        msg: Record,
        ticket: Ticket,
        limit: u64,
    ) -> Result<(), PipelineError> {
        let key = (topic, partition);
        if let Some((open, tickets)) = self.batches.get_mut(&key) {
            if self
                .encoder
                .append_to_batch(open, tickets.len(), &msg, limit)
            {
                tickets.push(ticket);
                return Ok(());
            }
            if let Some((full, tickets)) = self.batches.remove(&key) {
                self.output
                    .send(&key.0, key.1, Message::from_record(full, tickets))
                    .await?;
            }
        }
        self.batches.insert(key, (msg, vec![ticket]));
        Ok(())
    }

    /// Sends every open batch (batching protocols), so that what was encoded reaches Kafka
    /// and nothing sent after (a DDL, a watermark) overtakes it.
    pub async fn flush_batches(&mut self) -> Result<(), PipelineError> {
        if self.batches.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let open: Vec<_> = self.batches.drain().collect();
        for ((topic, partition), (record, tickets)) in open {
            self.output
                .send(&topic, partition, Message::from_record(record, tickets))
                .await?;
        }
        self.times.add_since(Stage::Send, started);
        Ok(())
    }

    /// Encodes a DDL and sends it where the protocol places DDLs (partition 0 of its topic, or
    /// every partition); each copy is a ticket of the DDL stream at `finished_ts`.
    pub async fn send_ddl(&mut self, ev: &DdlEvent, finished_ts: u64) -> Result<(), PipelineError> {
        self.flush_batches().await?;
        let Some(msg) = self
            .encoder
            .encode_ddl(ev)
            .map_err(|source| PipelineError::Codec {
                table: quoted(&ev.table.schema, &ev.table.table),
                source,
            })?
        else {
            return Ok(());
        };
        let topic = self.router.topic_for_ddl(ev);
        let partitions = self.placed(self.encoder.caps().ddl, &topic).await?;
        self.broadcast(&topic, partitions, &msg, Some(finished_ts))
            .await?;
        self.ddls_sent += 1;
        Ok(())
    }

    /// Sends a watermark at `ts` to every partition of every topic the `tables` (schema,
    /// table) write to (TiCDC's checkpoint event); protocols without watermarks send nothing.
    /// Call it only with a ts that is acknowledged (the checkpoint).
    pub async fn send_watermark(
        &mut self,
        ts: u64,
        tables: &[(Arc<str>, Arc<str>)],
    ) -> Result<(), PipelineError> {
        self.flush_batches().await?;
        let Some(msg) =
            self.encoder
                .encode_watermark(ts)
                .map_err(|source| PipelineError::Codec {
                    table: "(watermark)".to_string(),
                    source,
                })?
        else {
            return Ok(());
        };
        let topics = self
            .router
            .active_topics(tables.iter().map(|(s, t)| (s.as_ref(), t.as_ref())));
        for topic in topics {
            let partitions = self.placed(self.encoder.caps().watermark, &topic).await?;
            self.broadcast(&topic, partitions, &msg, None).await?;
        }
        Ok(())
    }

    /// How many partitions of `topic` (from 0) a message placed so goes to; the topic is
    /// created when missing either way.
    async fn placed(&self, placement: Placement, topic: &str) -> Result<i32, PipelineError> {
        let partitions = self.output.partitions(topic).await?;
        Ok(match placement {
            Placement::Nowhere => 0,
            Placement::Partition0 => 1,
            Placement::AllPartitions => partitions,
        })
    }

    /// Sends one message to partitions `0..partitions` of `topic`, each with a ticket of the
    /// DDL stream at `ddl_ts` when given.
    async fn broadcast(
        &mut self,
        topic: &str,
        partitions: i32,
        msg: &Record,
        ddl_ts: Option<u64>,
    ) -> Result<(), PipelineError> {
        for p in 0..partitions {
            let ticket = ddl_ts.map(|ts| self.tracker.submit(DDL_JOB_TABLE_ID, ts));
            self.output
                .send(topic, p, Message::from_record(msg.clone(), ticket))
                .await?;
        }
        Ok(())
    }

    /// Waits for every message sent so far to be acknowledged.
    pub async fn flush(&mut self) -> Result<(), PipelineError> {
        self.flush_batches().await?;
        self.output.flush().await
    }
}
