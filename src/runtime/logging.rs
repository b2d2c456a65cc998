//! Logging with `tracing`: human text when stderr is a terminal (or `format = "text"`),
//! JSON lines otherwise (or `format = "json"`), so journald and container log collectors get
//! structured records. `RUST_LOG`, when set, overrides the configured level.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("invalid log filter {filter:?}: {reason}")]
    Filter { filter: String, reason: String },
    #[error("a global logger is already installed")]
    AlreadyInstalled,
}

/// Installs the global subscriber. Logs go to stderr; stdout belongs to the stdout sink.
pub fn init(cfg: &LogConfig) -> Result<(), LoggingError> {
    let filter_text = std::env::var("RUST_LOG").unwrap_or_else(|_| cfg.level.clone());
    let filter = EnvFilter::builder()
        .parse(&filter_text)
        .map_err(|e| LoggingError::Filter {
            filter: filter_text.clone(),
            reason: e.to_string(),
        })?;
    let json = match cfg.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        // Colours only on a terminal: text logs sent to a file (the demo's) stay plain.
        builder
            .with_target(true)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init()
    };
    result.map_err(|_| LoggingError::AlreadyInstalled)
}
