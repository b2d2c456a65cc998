//! The process lifecycle of `run`: crypto provider, logging, metrics, the HTTP server, one
//! task per `[[changefeed]]`, and the graceful shutdown that drains them within
//! `[server] shutdown-timeout`.

pub mod logging;
pub mod shutdown;

use std::sync::Arc;

use tracing::Instrument;

use crate::build_info;
use crate::config::{ChangefeedConfig, Loaded, SinkKind};
use crate::metrics::{self, ProcessMetrics};
use crate::server::{self, AppState};
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
    #[error("cannot create the state directory {path}: {source}")]
    StateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("shutdown did not finish within {0:?}; exiting without waiting further")]
    ShutdownTimeout(std::time::Duration),
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

    std::fs::create_dir_all(&cfg.state.dir).map_err(|source| RunError::StateDir {
        path: cfg.state.dir.display().to_string(),
        source,
    })?;

    let prometheus = metrics::install()?;
    let status = StatusBoard::new();
    let (trigger, shutdown) = shutdown::channel();
    shutdown::spawn_signal_listener(trigger.clone()).map_err(RunError::Signals)?;

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
        tasks.spawn(
            run_changefeed(cf.clone(), status.clone(), trigger.subscribe()).instrument(span),
        );
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

/// One changefeed's task. It verifies the Kafka sink (login, limits, default topic,
/// ACLs), retrying while Kafka is unreachable and stopping with the named error when the
/// operator must act. The replication pipeline (TiKV CDC client, decoding) is not part of
/// this build yet, so the changefeed then reports that it cannot start and waits for
/// shutdown; `/readyz` says so.
async fn run_changefeed(cf: ChangefeedConfig, status: StatusBoard, shutdown: shutdown::Shutdown) {
    if let Some(k) = cf
        .sink
        .kafka_config
        .as_ref()
        .filter(|_| cf.sink.kind == SinkKind::Kafka)
    {
        let mut backoff = std::time::Duration::from_secs(1);
        loop {
            let attempt = tokio::select! {
                r = crate::sink::kafka::probe(&cf.id, k) => r,
                _ = shutdown.clone().wait() => break,
            };
            match attempt {
                Ok(lines) => {
                    for l in lines {
                        tracing::info!("{l}");
                    }
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Operator => {
                    tracing::error!(error = %e, "the Kafka sink cannot be used; fix it and restart");
                    ::metrics::counter!(metrics::CHANGEFEED_ERRORS_TOTAL, "changefeed" => cf.id.clone(), "kind" => "operator").increment(1);
                    status.set_error(&cf.id, e.to_string());
                    status.set_state(&cf.id, ChangefeedState::Failed, Some(e.to_string()));
                    shutdown.wait().await;
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?backoff, "Kafka is not reachable yet");
                    ::metrics::counter!(metrics::CHANGEFEED_ERRORS_TOTAL, "changefeed" => cf.id.clone(), "kind" => "retryable").increment(1);
                    status.set_error(&cf.id, e.to_string());
                    status.set_state(&cf.id, ChangefeedState::Retrying, Some(e.to_string()));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.clone().wait() => break,
                    }
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(30));
                }
            }
        }
    }
    if !shutdown.is_fired() {
        let reason =
            "the replication pipeline (TiKV CDC client) is not built into this version yet";
        tracing::warn!("{reason}");
        status.set_state(&cf.id, ChangefeedState::Starting, Some(reason.to_string()));
        shutdown.clone().wait().await;
    }
    status.set_state(
        &cf.id,
        ChangefeedState::Stopped,
        Some("shut down".to_string()),
    );
}
