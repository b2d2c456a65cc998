//! The replication pipeline of one changefeed: TiKV CDC → schema/decode → filter → sorter →
//! dispatch → codec → Kafka → checkpoint.
//!
//! Owns the assembly of the stages from a `[[changefeed]]` (start position, PD client,
//! schema snapshot, output, encoder, router, processor) and the loop that drives them until
//! shutdown or an error, saving the checkpoint at `[state] checkpoint-interval` and at the
//! end, keeping the PD service GC safepoint at `checkpoint - 1`, broadcasting watermarks, and
//! publishing status and metrics.
//!
//! Guarantees: the checkpoint saved is always one the output acknowledged (see
//! [`processor`]); it never moves backwards; a restart resumes after it, so every committed
//! row reaches Kafka at least once; a shutdown flushes and waits for acknowledgements before
//! the final save. Errors carry their kind: [`ErrorKind::Retryable`] ones make the caller
//! restart the pipeline from the saved checkpoint.

pub mod emitter;
pub mod error;
pub mod output;
pub mod processor;
pub mod schema_source;
pub mod schemas;
pub mod stages;
pub mod subscriptions;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, watch};

pub use emitter::{Emitter, Stats};
pub use error::{ErrorKind, PipelineError};
pub use output::{KafkaOutput, Output, StdoutOutput};
pub use processor::{Processor, Settings};
pub use schemas::{JobOrder, Schemas};

use crate::checkpoint::{self, FileStore};
use crate::config::{ChangefeedConfig, SinkKind, StateConfig, UpstreamConfig};
use crate::dispatch::{DispatchRule, EventRouter};
use crate::filter::{ColumnSelectors, EventFilters, EventRuleSpec, TableFilter};
use crate::metrics as m;
use crate::mount::TimeZone;
use crate::shutdown::Shutdown;
use crate::sink::ack::AckTracker;
use crate::sink::kafka::{
    self, ConnectOptions, Kafka, Producer, ProducerSettings, TopicPolicy, Topics,
};
use crate::sink::large_message::LargeMessagePolicy;
use crate::status::{ChangefeedState, StatusBoard};
use crate::upstream::feed::{Feed, FeedOptions, UpstreamEvent};
use crate::upstream::gc::{DEFAULT_GC_INTERVAL, DEFAULT_GC_TTL, spawn_gc_keeper};
use crate::upstream::pd::{ConnectOptions as UpstreamConnect, PdClient};

/// Serialises "take a start ts, hold GC from it" across the changefeeds of the process.
static GC_START: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Upstream events buffered between the feeds and the processor; when full, the feeds wait
/// (back-pressure from a slow Kafka reaches TiKV's streams).
const EVENT_CHANNEL: usize = 4096;
/// In-memory bytes of held changes per changefeed before the sorter spills to disk.
pub const SORTER_MEMORY_QUOTA: usize = 256 << 20;

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
}

/// The time zone of `time-zone` (`System` = the `TZ` variable, else `/etc/localtime`, else
/// UTC).
pub fn resolve_time_zone(name: &str) -> Result<TimeZone, String> {
    if !name.eq_ignore_ascii_case("system") {
        return name.parse();
    }
    if let Ok(tz) = std::env::var("TZ")
        && let Ok(z) = tz.trim_start_matches(':').parse()
    {
        return Ok(z);
    }
    if let Ok(target) = std::fs::read_link("/etc/localtime") {
        let t = target.to_string_lossy();
        if let Some((_, name)) = t.split_once("zoneinfo/")
            && let Ok(z) = name.parse()
        {
            return Ok(z);
        }
    }
    Ok(TimeZone::Utc)
}

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

/// The processor settings of a changefeed.
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
        memory_quota: SORTER_MEMORY_QUOTA,
    })
}

fn spill_dir(state: &StateConfig, id: &str) -> PathBuf {
    state.dir.join("sorter").join(id)
}

/// Opens the configured output.
pub async fn open_output(
    cf: &ChangefeedConfig,
    tracker: &AckTracker,
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
                    linger: k.linger.get(),
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

/// Publishes progress to the status board and metrics.
fn publish(status: &StatusBoard, id: &str, checkpoint: u64, resolved: u64) {
    status.set_progress(id, checkpoint, resolved);
    let now = now_secs();
    let cp = (checkpoint >> 18) as f64 / 1000.0;
    let rs = (resolved >> 18) as f64 / 1000.0;
    let label = id.to_string();
    ::metrics::gauge!(m::CHECKPOINT_TIMESTAMP_SECONDS, "changefeed" => label.clone()).set(cp);
    ::metrics::gauge!(m::CHECKPOINT_LAG_SECONDS, "changefeed" => label.clone())
        .set((now - cp).max(0.0));
    ::metrics::gauge!(m::RESOLVED_TIMESTAMP_SECONDS, "changefeed" => label.clone()).set(rs);
    ::metrics::gauge!(m::RESOLVED_LAG_SECONDS, "changefeed" => label).set((now - rs).max(0.0));
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Runs one changefeed's pipeline until `shutdown` (then drains and returns `Ok`) or an
/// error. The caller restarts it after retryable errors.
pub async fn run<L: SchemaSource>(
    ctx: &Context,
    schemas: &L,
    shutdown: Shutdown,
) -> Result<(), PipelineError> {
    let cf = &ctx.changefeed;
    let store = FileStore::new(&ctx.state.dir);
    let saved = store.load(&cf.id)?;
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
    tracing::info!(start_ts, resumed = saved.is_some(), "changefeed starting");

    // The GC safepoint must hold history from the start on before anything is read.
    let service_id = format!("tidb-changefeed-{}", cf.id);
    pd.hold_gc_from(
        &service_id,
        i64::try_from(DEFAULT_GC_TTL.as_secs()).unwrap_or(i64::MAX),
        start_ts,
    )
    .await?;
    drop(start_guard);

    let tracker = AckTracker::new();
    let output = open_output(cf, &tracker).await?;
    let settings = settings(cf, &ctx.state, start_ts)?;
    let _ = std::fs::remove_dir_all(&settings.spill_dir);
    std::fs::create_dir_all(&settings.spill_dir).map_err(|e| {
        operator(format!(
            "cannot create the sorter directory {}: {e}",
            settings.spill_dir.display()
        ))
    })?;
    let emitter = Emitter::new(
        &cf.id,
        Arc::clone(&output),
        crate::codec::build(cf, settings.time_zone).map_err(operator)?,
        router(cf)?,
        LargeMessagePolicy::from_config(
            &cf.sink
                .kafka_config
                .as_ref()
                .map(|k| k.large_message_handle.clone())
                .unwrap_or_default(),
        )
        .map_err(operator)?,
        tracker.clone(),
    );
    // The encoder's services (a schema registry) answer before anything is read.
    emitter.probe().await?;
    let tracker_schemas = schemas.load(&pd, &ctx.upstream.pd, start_ts).await?;

    let (tx, mut rx) = mpsc::channel::<UpstreamEvent>(EVENT_CHANNEL);
    let (feed, mut feed_task) = Feed::start(
        FeedOptions {
            pd_endpoints: ctx.upstream.pd.clone(),
            tls: ctx.upstream.tls.clone(),
            connect_timeout: ctx.upstream.connect_timeout.get(),
        },
        tx,
    )
    .await?;
    let mut p = Processor::new(
        settings,
        tracker_schemas,
        Box::new(feed),
        emitter,
        tracker.clone(),
    );
    p.start();
    ctx.status.set_state(&cf.id, ChangefeedState::Running, None);

    let (gc_tx, gc_rx) = watch::channel(start_ts);
    let mut gc = spawn_gc_keeper(
        pd.clone(),
        service_id,
        DEFAULT_GC_TTL,
        DEFAULT_GC_INTERVAL,
        gc_rx,
    );

    let interval = ctx.state.checkpoint_interval.get();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut saved_ts = start_ts;
    let mut last_rate = (Instant::now(), 0u64);
    let result: Result<(), PipelineError> = loop {
        tokio::select! {
            biased;
            _ = shutdown.clone().wait() => break Ok(()),
            kept = &mut gc => break Err(match kept {
                Ok(Ok(())) => PipelineError::Task("the GC safepoint keeper stopped".into()),
                Ok(Err(e)) => e.into(),
                Err(e) => PipelineError::Task(format!("the GC safepoint keeper failed: {e}")),
            }),
            ended = &mut feed_task => break Err(match ended {
                Ok(Ok(())) => PipelineError::FeedEnded,
                Ok(Err(e)) => e.into(),
                Err(e) => PipelineError::Task(format!("the upstream feed task failed: {e}")),
            }),
            _ = tick.tick() => {
                let cp = p.checkpoint();
                if cp > saved_ts {
                    saved_ts = store.save(&cf.id, cp)?;
                    publish(&ctx.status, &cf.id, saved_ts, p.resolved_ts());
                    let _ = gc_tx.send(saved_ts);
                    p.gc_schemas(saved_ts);
                    if let Err(e) = p.send_watermark(saved_ts).await {
                        break Err(e);
                    }
                } else {
                    publish(&ctx.status, &cf.id, saved_ts, p.resolved_ts());
                }
                p.refresh_sink_limits();
                let stats = p.stats();
                let secs = last_rate.0.elapsed().as_secs_f64();
                if secs > 0.0 {
                    ctx.status.set_rate(&cf.id, (stats.rows_sent - last_rate.1) as f64 / secs);
                }
                last_rate = (Instant::now(), stats.rows_sent);
                ::metrics::gauge!(m::SORTER_MEMORY_BYTES, "changefeed" => cf.id.clone()).set(p.sorter_memory() as f64);
                if let Some(e) = output.health() {
                    ctx.status.set_error(&cf.id, e);
                }
            }
            ev = rx.recv() => match ev {
                // A shutdown may interrupt an event whose rows wait for a stalled Kafka:
                // nothing unacknowledged is in the checkpoint, so a restart sends them again.
                Some(ev) => tokio::select! {
                    r = p.handle(ev) => if let Err(e) = r { break Err(e) },
                    _ = shutdown.clone().wait() => break Ok(()),
                },
                None => break Err(PipelineError::FeedEnded),
            },
        }
    };
    gc.abort();
    feed_task.abort();
    match &result {
        Ok(()) => {
            // Drain: wait for Kafka to acknowledge everything sent, then save.
            p.flush().await?;
            let cp = p.checkpoint();
            let saved = store.save(&cf.id, cp)?;
            publish(&ctx.status, &cf.id, saved, p.resolved_ts());
            tracing::info!(
                checkpoint_ts = saved,
                "changefeed drained and checkpoint saved"
            );
        }
        Err(e) => {
            // Save what is acknowledged so far; the failing event is after it.
            let cp = p.checkpoint();
            if let Ok(s) = store.save(&cf.id, cp) {
                tracing::warn!(checkpoint_ts = s, error = %e, "changefeed stopped; checkpoint saved before the failure");
            }
        }
    }
    result
}
