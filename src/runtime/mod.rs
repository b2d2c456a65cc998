//! The process lifecycle of `run`: crypto provider, logging, metrics, the HTTP server, one
//! task per `[[changefeed]]`, and the graceful shutdown that drains them within
//! `[server] shutdown-timeout`.

pub mod logging;
pub mod shutdown;

use std::sync::Arc;

use tracing::Instrument;

use crate::build_info;
use crate::config::{ChangefeedConfig, Loaded};
use crate::metrics::{self, ProcessMetrics};
use crate::server::{self, AppState};
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

/// One changefeed's task. The replication pipeline (upstream client, decoding, Kafka sink)
/// is not part of this build yet, so the changefeed reports that it cannot start and waits
/// for shutdown; `/readyz` says so.
async fn run_changefeed(cf: ChangefeedConfig, status: StatusBoard, shutdown: shutdown::Shutdown) {
    let reason = "the replication pipeline (TiKV CDC client) is not built into this version yet";
    tracing::warn!(changefeed = %cf.id, "{reason}");
    status.set_state(&cf.id, ChangefeedState::Starting, Some(reason.to_string()));
    shutdown.wait().await;
    status.set_state(
        &cf.id,
        ChangefeedState::Stopped,
        Some("shut down".to_string()),
    );
}
