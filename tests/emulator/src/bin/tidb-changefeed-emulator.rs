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
use tidb_changefeed_emulator::runner::{self, Runner};
use tidb_changefeed_emulator::scenario::Scenario;

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

/// Registers SIGINT/SIGTERM now (before the PD address is printed, so a signal sent as soon
/// as a caller reads it is not lost to the default action) and returns a future that ends at
/// the first of them.
fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
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
    let mut stop = std::pin::pin!(shutdown_signal());
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
                stop.as_mut().await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
        () = stop.as_mut() => ExitCode::SUCCESS,
    };
    emu.shutdown().await;
    code
}
