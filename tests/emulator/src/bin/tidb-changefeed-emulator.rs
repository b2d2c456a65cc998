//! `tidb-changefeed-emulator`: serves a scenario file, or a sysbench-like workload
//! (`--workload sysbench`, see `workload`), as an emulated TiDB upstream (PD + TiKV CDC) on
//! loopback until SIGINT/SIGTERM.
//!
//! Prints the PD address (`host:port`) as the first line of stdout, then plays the
//! scenario's timeline or runs the workload; a workload's counts follow as one JSON line
//! (`{"workload":"sysbench","rows":…,"last_commit_ts":…}`) when it ends. Exit code 2 for an
//! invalid scenario or arguments, 1 for a runtime failure.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use tidb_changefeed_emulator::runner::{self, Runner};
use tidb_changefeed_emulator::scenario::Scenario;
use tidb_changefeed_emulator::workload::{self, Sysbench, SysbenchOptions};

/// Serve an emulated PD + TiKV cluster described by a scenario file.
#[derive(Debug, Parser)]
#[command(name = "tidb-changefeed-emulator", version)]
struct Args {
    /// Scenario file (TOML; see tests/scenarios/README.md).
    #[arg(
        long,
        required_unless_present = "workload",
        conflicts_with = "workload"
    )]
    scenario: Option<PathBuf>,
    /// Serve a generated workload instead of a scenario.
    #[arg(long, value_enum)]
    workload: Option<Workload>,
    /// Workload: tables sbtest1..N.
    #[arg(long, default_value_t = 4)]
    tables: u32,
    /// Workload: rows loaded into each table before serving.
    #[arg(long, default_value_t = 1000)]
    table_size: u32,
    /// Workload: row changes per second.
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    /// Workload: how long to write (60s, 2m, 500ms); the DDL runs at half time.
    #[arg(long, default_value = "60s", value_parser = workload::parse_duration)]
    duration: std::time::Duration,
    /// PD listen address.
    #[arg(long, default_value = "127.0.0.1:0")]
    pd_addr: SocketAddr,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Workload {
    /// sysbench's OLTP tables and write transactions (update k, update c, delete, insert).
    Sysbench,
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
    let opts = SysbenchOptions {
        tables: args.tables,
        table_size: args.table_size,
        rate: args.rate,
        duration: args.duration,
        ..SysbenchOptions::default()
    };
    let scenario = match (&args.scenario, args.workload) {
        (_, Some(Workload::Sysbench)) => workload::scenario(&opts),
        (Some(path), None) => match Scenario::load(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        (None, None) => {
            eprintln!("error: --scenario or --workload is required");
            return ExitCode::from(2);
        }
    };
    let mut sysbench = match args.workload {
        Some(Workload::Sysbench) => match Sysbench::new(opts, &scenario) {
            Ok(w) => Some(w),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
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
    let stop_workload = std::sync::atomic::AtomicBool::new(false);
    let play = async {
        match sysbench.as_mut() {
            Some(w) => {
                let r = w.run(&mut emu, &mut runner, &stop_workload).await;
                println!("{}", w.counts().to_json());
                r.map_err(|e| e.to_string())
            }
            None => runner
                .play(&mut emu, &scenario)
                .await
                .map_err(|e| e.to_string()),
        }
    };
    let code = tokio::select! {
        r = play => match r {
            Ok(()) => {
                tracing::info!("scenario timeline or workload finished; serving until stopped");
                stop.as_mut().await;
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        },
        () = stop.as_mut() => {
            // Stopped while the workload wrote: its counts so far.
            if let Some(w) = &sysbench {
                println!("{}", w.counts().to_json());
            }
            ExitCode::SUCCESS
        }
    };
    emu.shutdown().await;
    code
}
