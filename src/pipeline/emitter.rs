//! The emitter of one changefeed: the ordered stream of [`Step`]s in, Kafka messages out, on
//! its own task.
//!
//! Owns everything after a job is encoded: awaiting the workers' results strictly in job
//! order, the per-row [`AckTracker`] ticket and the hand-off to the [`Output`]; for batching
//! protocols (`caps().batches_rows`), one open record per topic partition that rows are
//! appended to ([`Encoder::append_to_batch`]); DDL messages to partition 0 or every partition
//! of their topic; watermark broadcasts; the send busy time of [`super::stages`] (and the
//! decode / encode time each job reports).
//!
//! Guarantees:
//! * records are handed to the output in step order, so per partition in the order the
//!   one-task pipeline sent them; each row's ticket is submitted before it is sent, and a
//!   table's [`Step::Resolved`] reaches the tracker only after every row before it was
//!   submitted, so a table's progress never passes an unsent row;
//! * a failed job (decode, encode, dispatch, large message) stops the emitter before any of
//!   its tickets: the checkpoint stays before its first row;
//! * a row whose message names a claim-check object is sent only once the object is stored
//!   (the emitter awaits the writer's pending put; the writer retries while the storage
//!   fails, so the changefeed waits and its checkpoint stays before the row);
//! * a batched record carries the tickets of all its rows; open records are sent when full,
//!   before any DDL or watermark, at every [`Step::Resolved`] and [`Step::Flush`], and when
//!   the stream ends, so nothing overtakes a row on its partition and no ticket waits for ever;
//! * a DDL's messages are sent only once everything before them is acknowledged, and
//!   [`Step::Ddl`] is answered once they are acknowledged too;
//! * watermarks carry no ticket: they are sent only at an acknowledged checkpoint;
//! * when the stream ends (every sender dropped), what was queued is sent and acknowledged
//!   before the task returns.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::codec::{Encoder, Record};
use crate::config::Placement;
use crate::dispatch::EventRouter;
use crate::event::DdlEvent;
use crate::schema::DDL_JOB_TABLE_ID;
use crate::sink::ack::{AckTracker, Ticket};
use crate::sink::kafka::{Message, PartitionHandle};

use super::counters::Counters;
use super::error::PipelineError;
use super::output::Output;
use super::stages::{Stage, StageMetrics, StageTimes};
use super::worker::{Encoded, quoted};

/// One item of the ordered stream from the sequencer.
#[derive(Debug)]
pub enum Step {
    /// A job's records, read when its worker is done.
    Rows(JoinHandle<Result<Encoded, PipelineError>>),
    /// Every row of `physical_id` at or below `ts` was in the steps before this one.
    Resolved { physical_id: i64, ts: u64 },
    /// The messages of one DDL job (after everything before them is acknowledged); answered
    /// once they are acknowledged.
    Ddl {
        events: Vec<DdlEvent>,
        finished_ts: u64,
        done: oneshot::Sender<()>,
    },
    /// A watermark at an acknowledged `ts` for the topics of `tables` (schema, table).
    Watermark {
        ts: u64,
        tables: Vec<(Arc<str>, Arc<str>)>,
    },
    /// Answered once everything before it is sent and acknowledged.
    Flush(oneshot::Sender<()>),
}

/// The output side of one changefeed.
#[derive(Debug)]
pub struct Emitter {
    output: Arc<dyn Output>,
    encoder: Arc<dyn Encoder>,
    router: Arc<EventRouter>,
    tracker: AckTracker,
    /// Batching protocols: the record being filled per (topic, partition), with the tickets
    /// of the rows in it.
    batches: HashMap<(Arc<str>, i32), (Record, Vec<Ticket>)>,
    /// The output's handle per topic and partition (`None`: the output has none, sends go
    /// through [`Output::send`]); kept, so a send takes no lock.
    handles: HashMap<Arc<str>, HashMap<i32, Option<PartitionHandle>>>,
    counters: Counters,
    rows_sent_total: ::metrics::Counter,
    stage_metrics: StageMetrics,
}

impl Emitter {
    /// An emitter of `changefeed` writing to `output`, acknowledging on `tracker`.
    pub fn new(
        changefeed: &str,
        output: Arc<dyn Output>,
        encoder: Arc<dyn Encoder>,
        router: Arc<EventRouter>,
        tracker: AckTracker,
        counters: Counters,
    ) -> Self {
        Emitter {
            output,
            encoder,
            router,
            tracker,
            batches: HashMap::new(),
            handles: HashMap::new(),
            counters,
            rows_sent_total: ::metrics::counter!(
                crate::metrics::ROWS_SENT_TOTAL,
                "changefeed" => changefeed.to_string()
            ),
            stage_metrics: StageMetrics::new(changefeed),
        }
    }

    /// Starts the emitter on its own task reading a stream of `capacity` steps; the task ends
    /// when every sender is dropped (after sending what was queued) or at the first error.
    pub fn spawn(
        self,
        capacity: usize,
    ) -> (mpsc::Sender<Step>, JoinHandle<Result<(), PipelineError>>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (tx, tokio::spawn(self.run(rx)))
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Step>) -> Result<(), PipelineError> {
        while let Some(step) = rx.recv().await {
            self.step(step).await?;
        }
        self.flush().await
    }

    async fn step(&mut self, step: Step) -> Result<(), PipelineError> {
        match step {
            Step::Rows(job) => {
                let encoded = job
                    .await
                    .map_err(|e| PipelineError::Task(format!("a pipeline worker failed: {e}")))??;
                self.send_rows(encoded).await
            }
            Step::Resolved { physical_id, ts } => {
                self.flush_batches().await?;
                self.tracker.resolve(physical_id, ts);
                Ok(())
            }
            Step::Ddl {
                events,
                finished_ts,
                done,
            } => {
                self.flush().await?;
                for ev in &events {
                    self.send_ddl(ev, finished_ts).await?;
                }
                self.flush().await?;
                let _ = done.send(());
                Ok(())
            }
            Step::Watermark { ts, tables } => self.send_watermark(ts, &tables).await,
            Step::Flush(done) => {
                self.flush().await?;
                let _ = done.send(());
                Ok(())
            }
        }
    }

    /// Submits the tickets of a job's rows and sends them.
    async fn send_rows(&mut self, encoded: Encoded) -> Result<(), PipelineError> {
        let started = Instant::now();
        let mut times = encoded.times;
        let table = encoded.physical_id;
        let n = encoded.rows.len() as u64;
        self.tracker
            .submit_many(table, encoded.rows.iter().map(|r| r.commit_ts));
        let batching = self.encoder.caps().batches_rows;
        for row in encoded.rows {
            if let Some(put) = row.stored {
                put.wait()
                    .await
                    .map_err(crate::sink::large_message::LargeMessageError::from)?;
            }
            let ticket = Ticket {
                table,
                commit_ts: row.commit_ts,
            };
            if batching {
                self.batch(
                    Arc::clone(&encoded.topic),
                    row.partition,
                    row.record,
                    ticket,
                    encoded.limit.bytes,
                )
                .await?;
            } else {
                self.send(
                    &encoded.topic,
                    row.partition,
                    Message::from_record(row.record, Some(ticket)),
                )
                .await?;
            }
        }
        self.counters.add_rows_sent(n);
        self.rows_sent_total.increment(n);
        times.add_since(Stage::Send, started);
        self.stage_metrics.record(&times);
        Ok(())
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
                self.send(&key.0, key.1, Message::from_record(full, tickets))
                    .await?;
            }
        }
        self.batches.insert(key, (msg, vec![ticket]));
        Ok(())
    }

    /// Sends every open batch (batching protocols), so that what was encoded reaches Kafka
    /// and nothing sent after (a DDL, a watermark) overtakes it.
    async fn flush_batches(&mut self) -> Result<(), PipelineError> {
        if self.batches.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let open: Vec<_> = self.batches.drain().collect();
        for ((topic, partition), (record, tickets)) in open {
            self.send(&topic, partition, Message::from_record(record, tickets))
                .await?;
        }
        let mut times = StageTimes::default();
        times.add_since(Stage::Send, started);
        self.stage_metrics.record(&times);
        Ok(())
    }

    /// Encodes a DDL and sends it where the protocol places DDLs (partition 0 of its topic, or
    /// every partition); each copy is a ticket of the DDL stream at `finished_ts`.
    async fn send_ddl(&mut self, ev: &DdlEvent, finished_ts: u64) -> Result<(), PipelineError> {
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
        self.counters.add_ddl_sent();
        Ok(())
    }

    /// Sends a watermark at `ts` to every partition of every topic the `tables` (schema,
    /// table) write to (TiCDC's checkpoint event); protocols without watermarks send nothing.
    async fn send_watermark(
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
            self.send(topic, p, Message::from_record(msg.clone(), ticket))
                .await?;
        }
        Ok(())
    }

    /// Sends one message to `topic`/`partition` through the cached handle of that partition
    /// (asking the output for it on first use); waits while the partition's queue is full.
    async fn send(
        &mut self,
        topic: &str,
        partition: i32,
        msg: Message,
    ) -> Result<(), PipelineError> {
        let cached = self.handles.get(topic).and_then(|p| p.get(&partition));
        let handle = match cached {
            Some(h) => h.clone(),
            None => {
                let h = self.output.partition_handle(topic, partition).await?;
                self.handles
                    .entry(Arc::from(topic))
                    .or_default()
                    .insert(partition, h.clone());
                h
            }
        };
        match handle {
            Some(h) => Ok(h.send(msg).await?),
            None => self.output.send(topic, partition, msg).await,
        }
    }

    /// Sends the open batches and waits for every message sent so far to be acknowledged.
    async fn flush(&mut self) -> Result<(), PipelineError> {
        self.flush_batches().await?;
        self.output.flush().await
    }
}
