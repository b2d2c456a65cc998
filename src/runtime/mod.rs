//! The process lifecycle of `run`: crypto provider, logging, metrics, the HTTP server, one
//! task per `[[changefeed]]`, and the graceful shutdown that drains them within
//! `[server] shutdown-timeout` (each changefeed flushes, waits for Kafka's acknowledgements
//! and saves its checkpoint).

pub mod balance;
pub mod logging;
pub mod signals;

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::build_info;
use crate::checkpoint::{CheckpointError, FileStore, Store};
use crate::config::{ChangefeedConfig, Config, Loaded};
use crate::metrics::{self, ProcessMetrics};
use crate::pipeline;
use crate::server::{self, AppState};
use crate::shutdown;
use crate::sink::kafka::ErrorKind;
use crate::status::{ChangefeedState, StatusBoard};

/// Why `run` ended with an error. Each kind maps to an exit status in `main`.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Logging(#[from] logging::LoggingError),
    #[error("cannot install the metrics recorder: {0}")]
    Metrics(#[from] metrics_exporter_prometheus::BuildError),
    #[error(transparent)]
    Server(#[from] server::ServerError),
    #[error("cannot listen for signals: {0}")]
    Signals(#[source] std::io::Error),
    /// The state directory takes no write, or a checkpoint file cannot be read or is
    /// damaged; checked before anything starts.
    #[error(transparent)]
    State(#[from] CheckpointError),
    #[error("shutdown did not finish within {0:?}; exiting without waiting further")]
    ShutdownTimeout(std::time::Duration),
}

impl RunError {
    /// The operator must repair something before a restart can help (a damaged checkpoint
    /// file): `main` exits with the configuration status so systemd does not loop.
    pub fn needs_operator(&self) -> bool {
        matches!(self, RunError::State(e) if e.is_corrupt())
    }
}

/// Installs ring as the one rustls crypto provider of the process (rskafka and tonic both
/// use rustls; two providers in one process make rustls panic at first use).
pub fn install_crypto_provider() {
    // Err means a provider is installed already, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Runs every changefeed of `loaded` until SIGTERM/SIGINT, then drains.
pub async fn run(loaded: Loaded) -> Result<(), RunError> {
    let cfg = &loaded.config;
    install_crypto_provider();
    logging::init(&cfg.log)?;
    tracing::info!(config = %loaded.path.display(), "{}", build_info::describe());

    check_state(cfg)?;

    let prometheus = metrics::install()?;
    let status = StatusBoard::new();
    let (trigger, shutdown) = shutdown::channel();
    signals::spawn_signal_listener(trigger.clone()).map_err(RunError::Signals)?;

    let listener = server::bind(cfg.server.listen).await?;
    tracing::info!(listen = %cfg.server.listen, "HTTP server listening (/metrics, /healthz, /readyz, /api/v1/status)");
    let state = AppState {
        prometheus,
        process: Arc::new(ProcessMetrics::new()),
        status: status.clone(),
    };
    let server_task = tokio::spawn(server::serve(listener, state, trigger.subscribe()));

    let mut tasks = tokio::task::JoinSet::new();
    for cf in &cfg.changefeeds {
        status.register(&cf.id);
        let span = tracing::info_span!("changefeed", id = %cf.id);
        let ctx = pipeline::Context {
            changefeed: cf.clone(),
            upstream: cfg.upstream.clone(),
            state: cfg.state.clone(),
            status: status.clone(),
            store: Store::File(FileStore::new(&cfg.state.dir)),
        };
        tasks.spawn(run_changefeed(ctx, trigger.subscribe()).instrument(span));
    }

    shutdown.clone().wait().await;
    let deadline = cfg.server.shutdown_timeout.get();
    let drained = tokio::time::timeout(deadline, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        return Err(RunError::ShutdownTimeout(deadline));
    }
    match server_task.await {
        Ok(result) => result?,
        Err(e) => tracing::error!(error = %e, "HTTP server task ended abnormally"),
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Before anything starts: the state directory takes a durable write (else the first save
/// would fail), and every changefeed's checkpoint file is absent or valid (a damaged one
/// stops the process: starting from `start-ts` instead could skip rows).
fn check_state(cfg: &Config) -> Result<(), CheckpointError> {
    let store = FileStore::new(&cfg.state.dir);
    store.probe()?;
    for cf in &cfg.changefeeds {
        store.load(&cf.id)?;
    }
    Ok(())
}

/// One changefeed's task. It verifies the Kafka sink (login, limits, default topic, ACLs),
/// retrying while Kafka is unreachable and stopping with the named error when the operator
/// must act; then runs the replication pipeline, restarting it from the saved checkpoint
/// after retryable errors (bounded exponential backoff) and stopping it on operator errors,
/// until shutdown.
async fn run_changefeed(ctx: pipeline::Context, shutdown: shutdown::Shutdown) {
    let cf = &ctx.changefeed;
    let status = &ctx.status;
    if !probe_sink(cf, status, &shutdown).await {
        status.set_state(
            &cf.id,
            ChangefeedState::Stopped,
            Some("shut down".to_string()),
        );
        return;
    }
    let source = pipeline::schema_source::TikvSchemaSource::default();
    let mut backoff = Duration::from_secs(1);
    while !shutdown.is_fired() {
        let started = std::time::Instant::now();
        let result = pipeline::run(&ctx, &source, shutdown.clone()).await;
        let e = match result {
            Ok(()) => break,
            Err(e) => e,
        };
        let kind = e.kind();
        ::metrics::counter!(metrics::CHANGEFEED_ERRORS_TOTAL, "changefeed" => cf.id.clone(), "kind" => kind.label()).increment(1);
        status.set_error(&cf.id, e.to_string());
        if kind == pipeline::ErrorKind::Operator {
            tracing::error!(error = %e, "the changefeed stopped; fix the cause and restart the daemon");
            status.set_state(&cf.id, ChangefeedState::Failed, Some(e.to_string()));
            shutdown.clone().wait().await;
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            backoff = Duration::from_secs(1);
        }
        tracing::warn!(error = %e, retry_in = ?backoff, "the changefeed is restarting from its checkpoint");
        status.set_state(&cf.id, ChangefeedState::Retrying, Some(e.to_string()));
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.clone().wait() => break,
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
    status.set_state(
        &cf.id,
        ChangefeedState::Stopped,
        Some("shut down".to_string()),
    );
}

/// Verifies a Kafka sink before the pipeline starts. Returns false when the changefeed must
/// not start (operator error reported, or shutdown while retrying).
async fn probe_sink(
    cf: &ChangefeedConfig,
    status: &StatusBoard,
    shutdown: &shutdown::Shutdown,
) -> bool {
    let Some(k) = cf.kafka_sink() else {
        return true;
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        let attempt = tokio::select! {
            r = crate::sink::kafka::probe(&cf.id, k) => r,
            _ = shutdown.clone().wait() => return false,
        };
        match attempt {
            Ok(lines) => {
                for l in lines {
                    tracing::info!("{l}");
                }
                return true;
            }
            Err(e) if e.kind() == ErrorKind::Operator => {
                tracing::error!(error = %e, "the Kafka sink cannot be used; fix it and restart");
                ::metrics::counter!(metrics::CHANGEFEED_ERRORS_TOTAL, "changefeed" => cf.id.clone(), "kind" => "operator").increment(1);
                status.set_error(&cf.id, e.to_string());
                status.set_state(&cf.id, ChangefeedState::Failed, Some(e.to_string()));
                shutdown.clone().wait().await;
                return false;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "Kafka is not reachable yet");
                ::metrics::counter!(metrics::CHANGEFEED_ERRORS_TOTAL, "changefeed" => cf.id.clone(), "kind" => "retryable").increment(1);
                status.set_error(&cf.id, e.to_string());
                status.set_state(&cf.id, ChangefeedState::Retrying, Some(e.to_string()));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.clone().wait() => return false,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
