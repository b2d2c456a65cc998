//! `tidb-changefeed-emulator`: serves a scenario file as an emulated TiDB upstream
//! (PD + TiKV CDC) on loopback until SIGINT/SIGTERM.
//!
//! Prints the PD address (`host:port`) as the first line of stdout, then plays
//! the scenario's timeline. Exit code 2 for an invalid scenario or arguments, 1
//! for a runtime failure.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tidb_changefeed::emulator::runner::{self, Runner};
use tidb_changefeed::emulator::scenario::Scenario;

/// Serve an emulated PD + TiKV cluster described by a scenario file.
#[derive(Debug, Parser)]
#[command(name = "tidb-changefeed-emulator", version)]
struct Args {
    /// Scenario file (TOML; see tests/scenarios/README.md).
    #[arg(long)]
    scenario: PathBuf,
    /// PD listen address.
    #[arg(long, default_value = "127.0.0.1:0")]
    pd_addr: SocketAddr,
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if rustls::crypto::ring::default_provider()
        .install_default()
        .is_err()
    {
        eprintln!("error: a rustls crypto provider was already installed");
        return ExitCode::from(1);
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let scenario = match Scenario::load(&args.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut runner = match Runner::new(&scenario) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut emu = match runner::start(&scenario, args.pd_addr).await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout();
    if writeln!(out, "{}", emu.pd_addr())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::from(1);
    }
    let code = tokio::select! {
        r = runner.play(&mut emu, &scenario) => match r {
            Ok(()) => {
                tracing::info!("scenario timeline finished; serving until stopped");
                shutdown_signal().await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
        () = shutdown_signal() => ExitCode::SUCCESS,
    };
    emu.shutdown().await;
    code
}
