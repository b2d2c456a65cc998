//! The replication pipeline of one changefeed: TiKV CDC → schema/decode → filter → sorter →
//! dispatch → codec → Kafka → checkpoint.
//!
//! Owns the assembly of the stages from a `[[changefeed]]` (start position, PD client,
//! schema snapshot, output, encoder, router) and their tasks, joined by bounded channels so
//! back-pressure reaches TiKV's streams by itself:
//!
//! ```text
//! store readers → feed driver ─events→ sequencer ─jobs→ workers (N = cores)
//!                                          └─steps, in order─→ emitter → partition writers → acks
//! tick: checkpoint save, status, metrics ─saved checkpoint→ GC keeper, sequencer (watermarks)
//! ```
//!
//! [`sequencer`] (sorter, frontiers, DDL barrier, table registry) cuts released rows into
//! jobs; [`worker`]s decode, filter, split, route and encode them in parallel; the
//! [`emitter`] takes the results strictly in job order, submits ack tickets and sends; the
//! [`tick`] saves the checkpoint at `[state] checkpoint-interval` on its own task, so a
//! stalled Kafka never freezes the status or the checkpoint lag.
//!
//! Guarantees: the checkpoint saved is always one the output acknowledged (see
//! [`sequencer`]); it never moves backwards; a restart resumes after it, so every committed
//! row reaches Kafka at least once; a shutdown stops releasing, sends what was queued, waits
//! for its acknowledgements and saves. Errors carry their kind: [`ErrorKind::Retryable`] ones
//! make the caller restart the pipeline from the saved checkpoint.

pub mod counters;
pub mod emitter;
pub mod error;
pub mod memory;
pub mod output;
pub mod schema_source;
pub mod schemas;
pub mod sequencer;
pub mod stages;
pub mod stall;
pub mod subscriptions;
pub mod tick;
pub mod worker;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, watch};

pub use counters::{Counters, Stats};
pub use emitter::{Emitter, Step};
pub use error::{ErrorKind, PipelineError};
pub use memory::{MemoryBudget, MemoryPlan};
pub use output::{KafkaOutput, Output, StdoutOutput};
pub use schemas::{JobOrder, Schemas};
pub use sequencer::{Downstream, Sequencer, Settings};
pub use worker::{WorkerContext, Workers};

use crate::checkpoint::{self, Store};
use crate::config::{ChangefeedConfig, SinkKind, StateConfig, UpstreamConfig};
use crate::dispatch::{DispatchRule, EventRouter};
use crate::filter::{ColumnSelectors, EventFilters, EventRuleSpec, TableFilter};
use crate::shutdown::Shutdown;
use crate::sink::ack::AckTracker;
use crate::sink::kafka::{
    self, ConnectOptions, Kafka, Producer, ProducerSettings, TopicPolicy, Topics,
};
use crate::sink::large_message::LargeMessagePolicy;
use crate::status::{ChangefeedState, StatusBoard};
use crate::upstream::feed::{EventBudget, Feed, FeedOptions, UpstreamEvent};
use crate::upstream::gc::{DEFAULT_GC_INTERVAL, spawn_gc_keeper_with};
use crate::upstream::health::UpstreamHealth;
use crate::upstream::pd::{ConnectOptions as UpstreamConnect, PdClient};
use crate::upstream::prewrites::PrewriteStore;
use crate::upstream::{StartOrigin, UpstreamError};
use tick::Tick;

/// Serialises "take a start ts, hold GC from it" across the changefeeds of the process.
static GC_START: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Upstream events buffered between the feeds and the sequencer; when full, the feeds wait
/// (back-pressure from a slow Kafka reaches TiKV's streams).
const EVENT_CHANNEL: usize = 4096;
/// Steps (jobs, markers) queued between the sequencer and the emitter.
const STEP_CHANNEL: usize = 64;

/// Loads the schema tracker at a ts (the real one reads TiKV; tests may give fixed tables).
pub trait SchemaSource: Send + Sync {
    type S: Schemas + 'static;
    fn load<'a>(
        &'a self,
        pd: &'a PdClient,
        pd_endpoints: &'a [String],
        ts: u64,
    ) -> crate::codec::BoxFuture<'a, Result<Self::S, PipelineError>>;
}

/// Everything a changefeed's pipeline needs from the process.
#[derive(Debug, Clone)]
pub struct Context {
    pub changefeed: ChangefeedConfig,
    pub upstream: UpstreamConfig,
    pub state: StateConfig,
    pub status: StatusBoard,
    /// Where the checkpoint is loaded from and saved to; with a lease, its fence also
    /// guards every produce request.
    pub store: Store,
}

pub use crate::mount::time::resolve_time_zone;

fn operator(msg: String) -> PipelineError {
    PipelineError::Config(msg)
}

/// The event router of the sink's dispatch rules.
pub fn router(cf: &ChangefeedConfig) -> Result<EventRouter, PipelineError> {
    let rules: Vec<DispatchRule> = cf
        .sink
        .dispatchers
        .iter()
        .map(|r| DispatchRule {
            matcher: r.matcher.clone(),
            partition: r
                .partition
                .clone()
                .or_else(|| r.dispatcher.clone())
                .unwrap_or_else(|| "default".to_string()),
            index: r.index.clone().unwrap_or_default(),
            columns: r.columns.clone(),
            topic: r.topic.clone().unwrap_or_default(),
        })
        .collect();
    EventRouter::new(
        &rules,
        &default_topic(cf),
        cf.case_sensitive,
        cf.sink.protocol.caps().one_table_per_topic,
    )
    .map_err(|e| operator(e.to_string()))
}

fn default_topic(cf: &ChangefeedConfig) -> String {
    cf.sink
        .kafka_config
        .as_ref()
        .map_or_else(|| cf.id.clone(), |k| k.topic.clone())
}

/// The sequencer settings of a changefeed.
pub fn settings(
    cf: &ChangefeedConfig,
    state: &StateConfig,
    start_ts: u64,
) -> Result<Settings, PipelineError> {
    let cs = cf.case_sensitive;
    let table_filter =
        TableFilter::parse(&cf.filter.rules, cs).map_err(|e| operator(e.to_string()))?;
    let specs: Vec<EventRuleSpec> = cf
        .filter
        .event_filters
        .iter()
        .map(|r| EventRuleSpec {
            matcher: r.matcher.clone(),
            ignore_event: r.ignore_event.clone(),
            ignore_sql: r.ignore_sql.clone(),
        })
        .collect();
    let event_filters = EventFilters::parse(&specs, cs).map_err(operator)?;
    let selectors: Vec<(Vec<String>, Vec<String>)> = cf
        .sink
        .column_selectors
        .iter()
        .map(|s| (s.matcher.clone(), s.columns.clone()))
        .collect();
    let column_selectors = ColumnSelectors::parse(&selectors, cs).map_err(operator)?;
    Ok(Settings {
        changefeed: cf.id.clone(),
        start_ts,
        time_zone: resolve_time_zone(&cf.time_zone).map_err(operator)?,
        table_filter,
        event_filters,
        column_selectors,
        ignore_txn_start_ts: cf
            .filter
            .ignore_txn_start_ts
            .iter()
            .copied()
            .collect::<HashSet<_>>(),
        // Protocols that key records by the handle key skip keyless tables (TiCDC requires
        // force-replicate = false for them; validation refuses true).
        force_replicate: if cf.sink.protocol.caps().needs_handle_key {
            Some(false)
        } else {
            cf.force_replicate
        },
        output_raw_change_event: cf
            .sink
            .kafka_config
            .as_ref()
            .is_some_and(|k| k.output_raw_change_event),
        spill_dir: spill_dir(state, &cf.id),
        memory_quota: usize::try_from(MemoryPlan::of(cf.memory_quota.as_u64()).sorter)
            .unwrap_or(usize::MAX),
    })
}

fn spill_dir(state: &StateConfig, id: &str) -> PathBuf {
    state.dir.join("sorter").join(id)
}

/// Opens the configured output.
pub async fn open_output(
    cf: &ChangefeedConfig,
    tracker: &AckTracker,
    fence: crate::fence::Fence,
) -> Result<Arc<dyn Output>, PipelineError> {
    match (cf.sink.kind, cf.sink.kafka_config.as_ref()) {
        (SinkKind::Kafka, Some(k)) => {
            let Kafka { client, admin } =
                kafka::connect(&ConnectOptions::from_config(&cf.id, k)).await?;
            let client = Arc::new(client);
            let topics = Arc::new(Topics::new(
                Arc::clone(&client),
                admin.clone(),
                TopicPolicy::from_config(k),
            ));
            let producer = Arc::new(Producer::new(
                client,
                admin,
                ProducerSettings {
                    compression: compression(k.compression),
                    max_message_bytes: k.max_message_bytes.as_u64(),
                    batch_size: k.batch_size.map(|b| b.as_u64()),
                    max_retry: k.max_retry,
                    request_timeout: k.write_timeout.get(),
                    queue_bytes: None,
                    total_queue_bytes: Some(MemoryPlan::of(cf.memory_quota.as_u64()).produce),
                    linger: k.linger.get(),
                    fence,
                },
                tracker.clone(),
            ));
            Ok(Arc::new(KafkaOutput { topics, producer }))
        }
        (SinkKind::Stdout, k) => Ok(Arc::new(StdoutOutput {
            tracker: tracker.clone(),
            partitions: k.and_then(|k| k.partition_num).unwrap_or(1),
            max_message_bytes: k.map_or(10 << 20, |k| k.max_message_bytes.as_u64()),
        })),
        (SinkKind::Kafka, None) => Err(operator(
            "a kafka sink needs [changefeed.sink.kafka-config]".to_string(),
        )),
    }
}

fn compression(c: crate::config::Compression) -> rskafka::client::partition::Compression {
    use crate::config::Compression as C;
    use rskafka::client::partition::Compression as R;
    match c {
        C::None => R::NoCompression,
        C::Gzip => R::Gzip,
        C::Lz4 => R::Lz4,
        C::Snappy => R::Snappy,
        C::Zstd => R::Zstd,
    }
}

/// Runs one changefeed's pipeline until `shutdown` (then drains and returns `Ok`) or an
/// error. The caller restarts it after retryable errors.
pub async fn run<L: SchemaSource>(
    ctx: &Context,
    schemas: &L,
    shutdown: Shutdown,
) -> Result<(), PipelineError> {
    let cf = &ctx.changefeed;
    let store = ctx.store.clone();
    let saved = store.load(&cf.id).await?;
    let conn = UpstreamConnect::new(
        ctx.upstream.tls.as_ref(),
        ctx.upstream.connect_timeout.get(),
    )?;
    let pd = PdClient::connect_with(&ctx.upstream.pd, conn).await?;
    // Taking a start ts and holding GC from it is one step across the process's changefeeds:
    // each has its own service safe point, and PD refuses one below the least existing entry,
    // so a changefeed whose TSO came first must also register first.
    let start_guard = GC_START.lock().await;
    let now = if saved.is_none() {
        pd.get_ts().await?
    } else {
        0
    };
    let start_ts = checkpoint::start_ts(saved, cf.start_ts, now);
    if saved.is_some() {
        tracing::info!(start_ts, "changefeed resuming from its saved checkpoint");
    } else {
        tracing::warn!(start_ts, location = %store.location(&cf.id),
            "no saved checkpoint: the changefeed starts from its configured start-ts (if it ran before, its checkpoint was lost)");
    }

    // The GC safepoint must hold history from the start on before anything is read.
    let service_id = format!("tidb-changefeed-{}", cf.id);
    let gc_ttl = ctx.upstream.gc_ttl.get();
    pd.hold_gc_from(
        &service_id,
        i64::try_from(gc_ttl.as_secs()).unwrap_or(i64::MAX),
        start_ts,
    )
    .await
    .map_err(|e| match e {
        UpstreamError::SafePointBehindGc { min_safe_point, .. } => UpstreamError::StartBeforeGc {
            origin: if saved.is_some() {
                StartOrigin::Checkpoint
            } else {
                StartOrigin::StartTs
            },
            start_ts,
            gc_safe_point: min_safe_point,
        },
        other => other,
    })?;
    drop(start_guard);
    if saved.is_none() {
        // Pin the start position before anything is read: a restart (or another daemon
        // taking the changefeed over) before the first progress resumes from here rather
        // than from a later "now", which would skip the rows in between.
        store.save(&cf.id, start_ts).await?;
    }

    let tracker = AckTracker::new();
    let output = open_output(cf, &tracker, store.fence()).await?;
    let settings = settings(cf, &ctx.state, start_ts)?;
    let _ = std::fs::remove_dir_all(&settings.spill_dir);
    std::fs::create_dir_all(&settings.spill_dir).map_err(|source| {
        crate::checkpoint::CheckpointError::StateDir {
            path: settings.spill_dir.display().to_string(),
            op: "create the sorter's spill directory",
            source,
        }
    })?;
    let encoder = crate::codec::build(cf, settings.time_zone).map_err(operator)?;
    // The encoder's services (a schema registry) answer before anything is read.
    encoder
        .probe()
        .await
        .map_err(|source| PipelineError::Codec {
            table: "(startup check)".to_string(),
            source,
        })?;
    let router = Arc::new(router(cf)?);
    let counters = Counters::new();
    ::metrics::gauge!(crate::metrics::MEMORY_QUOTA_BYTES, "changefeed" => cf.id.clone())
        .set(cf.memory_quota.as_u64() as f64);
    let large_messages = LargeMessagePolicy::from_config(
        &cf.sink
            .kafka_config
            .as_ref()
            .map(|k| k.large_message_handle.clone())
            .unwrap_or_default(),
        &cf.id,
        Some(shutdown.clone()),
    )
    .map_err(operator)?;
    let workers = Workers::new(
        WorkerContext {
            encoder: Arc::clone(&encoder),
            router: Arc::clone(&router),
            large_messages: large_messages.clone(),
            output_raw_change_event: settings.output_raw_change_event,
        },
        Workers::default_size(),
        MemoryBudget::new(MemoryPlan::of(cf.memory_quota.as_u64()).jobs),
    );
    let tracker_schemas = schemas.load(&pd, &ctx.upstream.pd, start_ts).await?;

    let plan = MemoryPlan::of(cf.memory_quota.as_u64());
    let events = EventBudget::new(plan.events);
    let streams = EventBudget::new(plan.streams);
    // PREWRITE values beyond their share wait in a file next to the sorter's.
    let prewrites = PrewriteStore::new(
        plan.prewrites,
        settings
            .spill_dir
            .join(format!("{}-prewrites.spill", cf.id)),
    );
    let health = UpstreamHealth::new();
    let (tx, rx) = mpsc::channel::<UpstreamEvent>(EVENT_CHANNEL);
    let (feed, mut feed_task) = Feed::start(
        FeedOptions {
            pd_endpoints: ctx.upstream.pd.clone(),
            tls: ctx.upstream.tls.clone(),
            connect_timeout: ctx.upstream.connect_timeout.get(),
            prewrites: prewrites.clone(),
            events: events.clone(),
            streams: streams.clone(),
            health: health.clone(),
            stale_lock_threshold: ctx.upstream.stale_lock_threshold.get(),
        },
        tx,
    )
    .await?;
    let (steps, mut emitter) = Emitter::new(
        &cf.id,
        Arc::clone(&output),
        encoder,
        router,
        tracker.clone(),
        counters.clone(),
    )
    .spawn(STEP_CHANNEL);
    let mut seq = Sequencer::new(
        settings,
        tracker_schemas,
        Box::new(feed),
        Downstream {
            workers,
            steps,
            output: Arc::clone(&output),
            counters: counters.clone(),
        },
        tracker.clone(),
    );
    seq.start();
    ctx.status.set_state(&cf.id, ChangefeedState::Running, None);

    let (saved_tx, saved_rx) = watch::channel(start_ts);
    let mut gc = spawn_gc_keeper_with(
        pd.clone(),
        service_id,
        gc_ttl,
        DEFAULT_GC_INTERVAL,
        saved_rx.clone(),
        health.clone(),
    );
    let interval = ctx.state.checkpoint_interval.get();
    let resolved = Arc::new(AtomicU64::new(start_ts));
    let mut sequencer = tokio::spawn(seq.run(
        rx,
        events.clone(),
        saved_rx,
        Arc::clone(&resolved),
        interval,
    ));
    let mut tick = tokio::spawn(
        Tick {
            changefeed: cf.id.clone(),
            store: store.clone(),
            status: ctx.status.clone(),
            tracker: tracker.clone(),
            start_ts,
            resolved: Arc::clone(&resolved),
            counters,
            output,
            saved: saved_tx,
            prewrites,
            events,
            streams,
            stall_timeout: cf.sink_stall_timeout.get(),
            health,
            fault_report_after: ctx.upstream.fault_report_after.get(),
            claim_check: large_messages.claim_check().cloned(),
        }
        .run(interval),
    );
    let task_failed = |what: &str, e: tokio::task::JoinError| {
        PipelineError::Task(format!("the {what} task failed: {e}"))
    };
    let fence = store.fence();
    let result: Result<(), PipelineError> = tokio::select! {
        biased;
        // The lease may pass to another daemon: stop at once, without draining (every
        // produce request and save is refused by the same fence anyway).
        closed = fence.closed() => Err(PipelineError::Fenced(closed)),
        _ = shutdown.clone().wait() => Ok(()),
        kept = &mut gc => Err(match kept {
            Ok(Ok(())) => PipelineError::Task("the GC safepoint keeper stopped".into()),
            Ok(Err(e)) => e.into(),
            Err(e) => task_failed("GC safepoint keeper", e),
        }),
        ended = &mut feed_task => Err(match ended {
            Ok(Ok(())) => PipelineError::FeedEnded,
            Ok(Err(e)) => e.into(),
            Err(e) => task_failed("upstream feed", e),
        }),
        ended = &mut emitter => Err(match ended {
            Ok(Ok(())) => PipelineError::EmitterStopped,
            Ok(Err(e)) => e,
            Err(e) => task_failed("emitter", e),
        }),
        ended = &mut sequencer => match ended {
            // The emitter's own error says why it stopped.
            Ok(Err(PipelineError::EmitterStopped)) => match (&mut emitter).await {
                Ok(Err(e)) => Err(e),
                Ok(Ok(())) => Err(PipelineError::EmitterStopped),
                Err(e) => Err(task_failed("emitter", e)),
            },
            Ok(Err(e)) => Err(e),
            Ok(Ok(())) => Err(PipelineError::Task("the sequencer stopped".into())),
            Err(e) => Err(task_failed("sequencer", e)),
        },
        ended = &mut tick => Err(match ended {
            Ok(Err(e)) => e,
            Ok(Ok(())) => PipelineError::Task("the checkpoint tick stopped".into()),
            Err(e) => task_failed("checkpoint tick", e),
        }),
    };
    gc.abort();
    feed_task.abort();
    tick.abort();
    // Nothing more is released; what the sequencer queued drains through the emitter (its
    // stream ends once the aborted sequencer is dropped).
    sequencer.abort();
    match result {
        Ok(()) => {
            // Drain: the emitter sends what was queued and waits for Kafka to acknowledge
            // it, then the checkpoint is saved. A shutdown may interrupt rows waiting for a
            // stalled Kafka: nothing unacknowledged is in the checkpoint, so a restart sends
            // them again.
            match emitter.await {
                Ok(r) => r?,
                Err(e) => return Err(task_failed("emitter", e)),
            }
            let cp = sequencer::checkpoint(&tracker, start_ts);
            let saved = tick::save(&store, &cf.id, cp).await?;
            tick::publish(
                &ctx.status,
                &cf.id,
                saved,
                resolved.load(Ordering::Relaxed).max(saved),
            );
            tracing::info!(
                checkpoint_ts = saved,
                "changefeed drained and checkpoint saved"
            );
            Ok(())
        }
        Err(e) => {
            emitter.abort();
            // Save what is acknowledged so far; the failing event is after it.
            let cp = sequencer::checkpoint(&tracker, start_ts);
            if let Ok(s) = tick::save(&store, &cf.id, cp).await {
                tracing::warn!(checkpoint_ts = s, error = %e, "changefeed stopped; checkpoint saved before the failure");
            }
            Err(e)
        }
    }
}
