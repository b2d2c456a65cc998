//! The encoder group's workers: a job of released changes in, the Kafka records of its rows
//! out — pure CPU, run on the blocking pool, several at once.
//!
//! Owns [`PreparedTable`] (a table version ready to decode and encode: its row decoder, its
//! metadata after column selection, the ids the selectors keep, what the encoder prepared for
//! it), [`Job`] (the changes of whole transactions of one table version, cut by the
//! sequencer), [`Encoded`] (a job's records in send order) and [`Workers`] (at most N jobs
//! computing at once, N = the cores available).
//!
//! For each transaction of a job a worker decodes every change with the job's table version,
//! drops empty rows and what the event filters ignore, applies TiCDC's split-and-sort of the
//! transaction, picks each row's partition, encodes it and applies large-message handling
//! (a claim-check object is handed to the changefeed's claim-check writer, which stores it
//! on its own task: a worker never waits for storage; the row carries the pending put).
//!
//! Guarantees: a job's records come out in exactly the order the one-task pipeline sent them
//! (transactions in commit order, TiCDC's order inside each); a worker never touches the ack
//! tracker or the output, so a failed job leaves no ticket behind: the emitter stops at it and
//! the checkpoint stays before its first row.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::codec::{Encoder, Record, TableCodec};
use crate::dispatch::{EventRouter, PartitionDispatcher};
use crate::event::{KvChange, RowError, RowEvent, RowKind, TableMeta};
use crate::mount::RowDecoder;
use crate::schema::TableVersion;
use crate::sink::claim_check::PendingPut;
use crate::sink::kafka::SizeLimit;
use crate::sink::large_message::LargeMessagePolicy;

use super::error::PipelineError;
use super::memory::{Charge, MemoryBudget};
use super::stages::{Stage, StageTimes};

/// `` `schema`.`table` `` for messages and logs.
pub(crate) fn quoted(schema: &str, table: &str) -> String {
    format!("`{schema}`.`{table}`")
}

/// A table version ready to decode rows and encode them (built once per version by the
/// sequencer).
#[derive(Debug)]
pub struct PreparedTable {
    pub view: Arc<TableVersion>,
    pub decoder: RowDecoder,
    pub meta: Arc<TableMeta>,
    /// Column ids the selectors keep; `None` keeps all.
    pub keep: Option<HashSet<i64>>,
    /// What the encoder prepared for this version.
    pub codec: TableCodec,
    /// The table's partition dispatcher (its dispatch rule, matched once).
    pub partition: PartitionDispatcher,
    /// Whether the event filters drop the table's inserts, updates, deletes (matched once).
    pub ignored: [bool; 3],
}

impl PreparedTable {
    /// Whether the event filters drop a row change of `kind`.
    pub fn ignores(&self, kind: RowKind) -> bool {
        self.ignored[match kind {
            RowKind::Insert => 0,
            RowKind::Update => 1,
            RowKind::Delete => 2,
        }]
    }
}

/// Whole transactions of one table version, in commit order.
#[derive(Debug)]
pub struct Job {
    pub physical_id: i64,
    pub table: Arc<PreparedTable>,
    /// The topic of the table's rows, its partition count and message size limit.
    pub topic: Arc<str>,
    pub partitions: i32,
    pub limit: SizeLimit,
    pub changes: Vec<KvChange>,
    /// Where each transaction (or chunk of a very large one) ends in `changes`.
    pub txn_ends: Vec<usize>,
}

impl Job {
    /// Rows in the job.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Whether the job has no rows.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Bytes of row data the job holds (keys and values as TiKV sent them).
    pub fn bytes(&self) -> u64 {
        self.changes
            .iter()
            .map(|c| c.key.len() + c.value.len() + c.old_value.as_ref().map_or(0, Vec::len))
            .sum::<usize>() as u64
    }
}

/// One row's record and where it goes.
#[derive(Debug)]
pub struct EncodedRow {
    pub partition: i32,
    pub commit_ts: u64,
    pub record: Record,
    /// The claim-check object `record` names, still being stored: the emitter awaits it
    /// before `record` is sent.
    pub stored: Option<PendingPut>,
}

/// A job's records, in send order.
#[derive(Debug)]
pub struct Encoded {
    pub physical_id: i64,
    pub topic: Arc<str>,
    pub limit: SizeLimit,
    pub rows: Vec<EncodedRow>,
    /// Decode and encode time spent on the job.
    pub times: StageTimes,
    /// The job's share of the memory quota, given back once its rows are handed on.
    pub charge: Charge,
}

/// What every worker shares.
#[derive(Debug)]
pub struct WorkerContext {
    pub encoder: Arc<dyn Encoder>,
    pub router: Arc<EventRouter>,
    pub large_messages: LargeMessagePolicy,
    pub output_raw_change_event: bool,
}

/// Runs one job, keeping its memory `charge` with the result.
pub fn run(ctx: &WorkerContext, job: Job, charge: Charge) -> Result<Encoded, PipelineError> {
    let mut times = StageTimes::default();
    let mut rows = Vec::with_capacity(job.changes.len());
    let mut start = 0;
    let mut changes = job.changes.into_iter();
    for &end in &job.txn_ends {
        let started = Instant::now();
        let mut txn = Vec::with_capacity(end - start);
        for c in changes.by_ref().take(end - start) {
            if let Some(ev) = decode(job.physical_id, &job.table, &c)? {
                txn.push(ev);
            }
        }
        start = end;
        let started = times.add_since(Stage::Decode, started);
        let txn = crate::codec::split::split_and_sort_txn(txn, ctx.output_raw_change_event);
        for ev in &txn {
            if let Some(row) = encode(ctx, &job.table, ev, job.partitions, job.limit)? {
                rows.push(row);
            }
        }
        times.add_since(Stage::Encode, started);
    }
    Ok(Encoded {
        physical_id: job.physical_id,
        topic: job.topic,
        limit: job.limit,
        rows,
        times,
        charge,
    })
}

/// Decodes one change into the row event the codec sees, or `None` when it is empty or an
/// event filter drops it.
fn decode(
    physical_id: i64,
    m: &PreparedTable,
    c: &KvChange,
) -> Result<Option<RowEvent>, PipelineError> {
    let table = || quoted(&m.view.schema, &m.view.table);
    let ev = RowEvent::decode(
        c,
        &m.decoder,
        Arc::clone(&m.view.schema),
        Arc::clone(&m.view.table),
        Arc::clone(&m.meta),
        m.keep.as_ref(),
    )
    .map_err(|e| match e {
        RowError::Decode(source) => PipelineError::Decode {
            table: table(),
            physical_id,
            key: hex::encode(&c.key),
            commit_ts: c.commit_ts,
            source: Box::new(source),
        },
        RowError::Mismatch { reason } => PipelineError::Codec {
            table: table(),
            source: crate::codec::CodecError::ColumnMismatch {
                table: table(),
                reason,
            },
        },
    })?;
    let Some(ev) = ev else {
        // A delete of a row that did not exist (e.g. inserted and deleted in one
        // transaction): TiCDC skips such empty events.
        tracing::debug!(
            table = %table(),
            key = %hex::encode(&c.key),
            commit_ts = c.commit_ts,
            "skipping an empty row event"
        );
        return Ok(None);
    };
    if m.ignores(ev.kind) {
        return Ok(None);
    }
    Ok(Some(ev))
}

/// Routes and encodes one row, with large-message handling.
fn encode(
    ctx: &WorkerContext,
    prepared: &PreparedTable,
    ev: &RowEvent,
    partitions: i32,
    limit: SizeLimit,
) -> Result<Option<EncodedRow>, PipelineError> {
    let table = || quoted(&ev.schema, &ev.table);
    let codec = &prepared.codec;
    let partition = prepared
        .partition
        .partition(ev, partitions)
        .map_err(|source| PipelineError::Dispatch {
            table: table(),
            source,
        })?;
    let Some(record) =
        ctx.encoder
            .encode_row(codec, ev)
            .map_err(|source| PipelineError::Codec {
                table: table(),
                source,
            })?
    else {
        return Ok(None);
    };
    let fitted = ctx
        .large_messages
        .fit(ctx.encoder.as_ref(), codec, ev, record, limit)?;
    Ok(Some(EncodedRow {
        partition,
        commit_ts: ev.commit_ts,
        record: fitted.record,
        stored: fitted.stored,
    }))
}

/// The worker group of one changefeed: jobs run on the blocking pool, at most `n` at once,
/// and the row data of the jobs started and not yet handed to the output stays within the
/// jobs share of the memory quota.
#[derive(Debug, Clone)]
pub struct Workers {
    ctx: Arc<WorkerContext>,
    permits: Arc<Semaphore>,
    memory: MemoryBudget,
}

impl Workers {
    /// A group of `n` workers (at least one) whose jobs share `memory`.
    pub fn new(ctx: WorkerContext, n: usize, memory: MemoryBudget) -> Self {
        Workers {
            ctx: Arc::new(ctx),
            permits: Arc::new(Semaphore::new(n.max(1))),
            memory,
        }
    }

    /// Bytes of row data in jobs now.
    pub fn memory_used(&self) -> u64 {
        self.memory.used()
    }

    /// The cores this process may use (the default group size).
    pub fn default_size() -> usize {
        std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
    }

    /// What the workers share (the encoder and router also serve the sequencer and emitter).
    pub fn context(&self) -> &Arc<WorkerContext> {
        &self.ctx
    }

    /// Starts `job` once its bytes fit the jobs' memory share and a worker is free (waiting
    /// here is the back-pressure of the group); its result is read from the handle.
    pub async fn start(&self, job: Job) -> JoinHandle<Result<Encoded, PipelineError>> {
        let charge = self.memory.charge(job.bytes()).await;
        let permit = Arc::clone(&self.permits).acquire_owned().await;
        let ctx = Arc::clone(&self.ctx);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            run(&ctx, job, charge)
        })
    }
}
