//! The process lifecycle of `run`: crypto provider, logging, metrics, the HTTP server, one
//! task per `[[changefeed]]`, and the graceful shutdown that drains them within
//! `[server] shutdown-timeout` (each changefeed flushes, waits for Kafka's acknowledgements
//! and saves its checkpoint).

pub mod balance;
pub mod changefeed;
pub mod cluster;
pub mod lifecycle;
pub mod logging;
pub mod notify;
pub mod signals;
pub mod systemd;

use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use crate::build_info;
use crate::checkpoint::sql::SqlStore;
use crate::checkpoint::{AdminStore, Announcer, CheckpointError, FileStore, Store};
use crate::config::{CheckpointStore, Config, Loaded};
use crate::metrics::{self, ProcessMetrics};
use crate::pipeline;
use crate::server::{self, AppState};
use crate::shutdown;
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
    /// The SQL state store refused this daemon (login, grants, table version).
    #[error(transparent)]
    Store(crate::checkpoint::sql::StoreError),
    #[error("[state] store = \"mysql\" needs [state.mysql] dsn")]
    StoreConfig,
    #[error("shutdown did not finish within {0:?}; exiting without waiting further")]
    ShutdownTimeout(std::time::Duration),
}

impl RunError {
    /// The operator must repair something before a restart can help (a damaged checkpoint
    /// file): `main` exits with the configuration status so systemd does not loop.
    pub fn needs_operator(&self) -> bool {
        matches!(self, RunError::State(e) if e.is_corrupt())
            || matches!(self, RunError::Store(_) | RunError::StoreConfig)
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
    tracing::info!(listen = %cfg.server.listen, "HTTP server listening (/metrics, /healthz, /readyz, /api/v1/status, /api/v1/changefeeds)");
    let file_store = FileStore::new(&cfg.state.dir);
    let announcer = Announcer::default();
    let state = AppState {
        prometheus,
        process: Arc::new(ProcessMetrics::new()),
        status: status.clone(),
        admin: Arc::default(),
    };
    for cf in &cfg.changefeeds {
        status.register(&cf.id);
    }
    let admin_api = Arc::clone(&state.admin);
    let server_task = tokio::spawn(server::serve(listener, state, trigger.subscribe()));
    // Type=notify: READY, STATUS, WATCHDOG (only while changefeeds move) and STOPPING.
    systemd::spawn(
        status.clone(),
        trigger.subscribe(),
        cfg.server.shutdown_timeout.get(),
    );

    let mut tasks = tokio::task::JoinSet::new();
    if cfg.state.store == CheckpointStore::Mysql {
        // The read-only API answers while the store is being reached.
        let sql = connect_store(cfg, &shutdown).await?;
        if let Some(sql) = sql {
            let _ = admin_api.set(server::admin::Admin::new(cfg, AdminStore::Sql(sql.clone())));
            let settings = cluster::Settings::from_config(cfg);
            let (cfg, status, shutdown) = (cfg.clone(), status.clone(), shutdown.clone());
            tasks.spawn(async move { cluster::run(&cfg, sql, status, settings, shutdown).await });
        }
    } else {
        let _ = admin_api.set(server::admin::Admin::new(
            cfg,
            AdminStore::File {
                store: file_store.clone(),
                announcer: announcer.clone(),
            },
        ));
        for cf in &cfg.changefeeds {
            let span = tracing::info_span!("changefeed", id = %cf.id);
            let initial = file_store
                .load_stored(&cf.id)?
                .map(|s| s.admin)
                .unwrap_or_default();
            let admin = announcer.subscribe(&cf.id, initial);
            let ctx = pipeline::Context {
                changefeed: cf.clone(),
                upstream: cfg.upstream.clone(),
                state: cfg.state.clone(),
                status: status.clone(),
                store: Store::File(file_store.clone()),
            };
            tasks.spawn(run_file_changefeed(ctx, admin, trigger.subscribe()).instrument(span));
        }
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
    // The sorter's spill files live there with either store.
    store.probe()?;
    if cfg.state.store == CheckpointStore::File {
        for cf in &cfg.changefeeds {
            store.load(&cf.id)?;
        }
    }
    Ok(())
}

/// Connects to the SQL state store, retrying while it is unreachable (bounded back-off);
/// `None` when shutdown came first. A refused login, a missing grant or a table of an
/// unknown version stops the daemon: the operator must act.
async fn connect_store(
    cfg: &Config,
    shutdown: &shutdown::Shutdown,
) -> Result<Option<SqlStore>, RunError> {
    let Some(mysql) = cfg.state.mysql.as_ref() else {
        return Err(RunError::StoreConfig);
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        match SqlStore::connect(mysql).await {
            Ok(s) => return Ok(Some(s)),
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, retry_in = ?backoff, "the SQL state store is not reachable yet");
            }
            Err(e) => return Err(RunError::Store(e)),
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.clone().wait() => return Ok(None),
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// A changefeed of the file store: follows its admin state until shutdown; a failed one
/// stays `failed` until then (or until it is paused or removed).
async fn run_file_changefeed(
    ctx: pipeline::Context,
    admin: tokio::sync::watch::Receiver<crate::checkpoint::AdminState>,
    shutdown: shutdown::Shutdown,
) {
    let ended = lifecycle::run(ctx.clone(), admin, shutdown.clone(), lifecycle::Mode::Alone).await;
    if let changefeed::Ended::Failed(_) = ended {
        shutdown.wait().await;
    }
    let shown = ctx
        .status
        .get(&ctx.changefeed.id)
        .map(|s| s.state)
        .filter(|s| matches!(s, ChangefeedState::Paused | ChangefeedState::Removed));
    match shown {
        // Paused and removed stay visible to the last scrape.
        Some(_) => {}
        None => ctx.status.set_state(
            &ctx.changefeed.id,
            ChangefeedState::Stopped,
            Some("shut down".to_string()),
        ),
    }
}
