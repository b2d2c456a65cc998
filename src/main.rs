//! The `tidb-changefeed` command line.
//!
//! Exit status: 0 success; 2 invalid configuration or usage, or a state file the operator
//! must repair (a damaged checkpoint; systemd's `RestartPreventExitStatus=2` keeps either
//! from restarting in a loop); 1 any runtime failure.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tidb_changefeed::{
    admin_cli, build_info, check, checkpoint_cli, config, decode, import_ticdc, runtime,
};

#[derive(Parser, Debug)]
#[command(
    name = "tidb-changefeed",
    version = build_info::VERSION,
    about = "Replicate a TiDB cluster's row changes into Apache Kafka, as TiCDC's Kafka sink writes them.",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run every [[changefeed]] of the configuration until SIGTERM or SIGINT.
    Run {
        /// The TOML configuration file.
        #[arg(short, long, env = "TIDB_CHANGEFEED_CONFIG", value_name = "FILE")]
        config: PathBuf,
    },
    /// Validate a configuration and print what it would run (secrets masked); exit 2 if
    /// it is invalid.
    Check {
        /// The TOML configuration file.
        #[arg(short, long, env = "TIDB_CHANGEFEED_CONFIG", value_name = "FILE")]
        config: PathBuf,
        /// Also print the effective configuration with every default filled in.
        #[arg(long)]
        print_config: bool,
        /// Only validate the file; do not contact Kafka (for ExecStartPre and CI).
        #[arg(long)]
        offline: bool,
    },
    /// Decode one TiKV row (key and optionally value, in hex) with a table's TiDB TableInfo
    /// JSON; prints the table id, handle and each column as Canal-JSON renders it.
    Decode {
        /// File with the table's TableInfo JSON (as TiDB stores it in its meta keys).
        #[arg(long, value_name = "FILE")]
        table_info: PathBuf,
        /// Time zone TIMESTAMP values are rendered in: UTC, +08:00, or a name such as Asia/Shanghai.
        #[arg(long, default_value = "UTC")]
        time_zone: String,
        /// The row key in hex, as TiKV stores it (`t{table id}_r{handle}`).
        #[arg(long)]
        key: String,
        /// The row value in hex; without it only the key is decoded.
        #[arg(long)]
        value: Option<String>,
    },
    /// Show a changefeed's saved checkpoint, or replace it (stop the daemon first) with
    /// --overwrite-checkpoint-ts, e.g. to repair a damaged checkpoint file.
    Checkpoint {
        /// The TOML configuration file.
        #[arg(short, long, env = "TIDB_CHANGEFEED_CONFIG", value_name = "FILE")]
        config: PathBuf,
        /// The changefeed's id.
        #[arg(long, value_name = "ID")]
        changefeed: String,
        /// Set the checkpoint to this ts: a TSO, an RFC 3339 time or "now" (asks PD), as
        /// TiCDC's `changefeed resume --overwrite-checkpoint-ts`. Rows committed after it are
        /// replicated when the daemon starts; rows at or before it are not.
        #[arg(long, value_name = "TS")]
        overwrite_checkpoint_ts: Option<String>,
    },
    /// Print this daemon's configuration for a TiCDC Kafka changefeed (the arguments of
    /// `cdc cli changefeed create`) on stdout; every TiCDC setting not carried over is named
    /// with the reason, on stderr and as comments. Exit 0: the output loads (secrets and files
    /// aside); 1: it was printed but does not load as it is (reasons on stderr); 2: the sink
    /// URI or the TiCDC file cannot be read.
    ImportTicdc(ImportTicdcArgs),
    /// Manage a running daemon's changefeeds over its HTTP API, with TiCDC's verbs:
    /// list, query, pause, resume, remove.
    Changefeed {
        #[command(subcommand)]
        command: admin_cli::ChangefeedCommand,
    },
    /// Print the version, git commit and build profile.
    Version,
}

#[derive(clap::Args, Debug)]
struct ImportTicdcArgs {
    /// The changefeed's sink URI, kafka://HOST:PORT[,HOST:PORT…]/TOPIC?protocol=…&…
    #[arg(long, value_name = "URI")]
    sink_uri: String,
    /// The TiCDC changefeed configuration file (`cdc cli changefeed create --config`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where to start: a TSO, "now", an RFC 3339 time, or "YYYY-MM-DD HH:MM:SS" (read as UTC).
    #[arg(long, value_name = "TS")]
    start_ts: Option<String>,
    /// The changefeed id (default "kafka-changefeed").
    #[arg(long, value_name = "ID")]
    changefeed_id: Option<String>,
    /// TiCDC's --schema-registry URL (Avro).
    #[arg(long, value_name = "URL")]
    schema_registry: Option<String>,
    /// PD addresses of the upstream cluster, comma-separated (TiCDC's --pd).
    #[arg(long, value_name = "ADDR,…")]
    pd: Vec<String>,
    /// Write secrets (SASL password, registry credentials) into the output as they are,
    /// instead of as { env = "…" } references.
    #[arg(long)]
    inline_secrets: bool,
}

const EXIT_RUNTIME: u8 = 1;
const EXIT_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Decode {
            table_info,
            time_zone,
            key,
            value,
        } => {
            let json = match std::fs::read(&table_info) {
                Ok(j) => j,
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", table_info.display());
                    return ExitCode::from(EXIT_CONFIG);
                }
            };
            match decode::decode(&json, &time_zone, &key, value.as_deref()) {
                Ok(out) => {
                    println!("{out}");
                    ExitCode::SUCCESS
                }
                Err(e @ decode::DecodeCliError::Input(_)) => {
                    eprintln!("error: {e}");
                    ExitCode::from(EXIT_CONFIG)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(EXIT_RUNTIME)
                }
            }
        }
        Command::Checkpoint {
            config,
            changefeed,
            overwrite_checkpoint_ts,
        } => {
            let loaded = match config::load(&config) {
                Ok(l) => l,
                Err(e) => return config_failure(&e),
            };
            let rt = match runtime_for_cli() {
                Ok(rt) => rt,
                Err(code) => return code,
            };
            runtime::install_crypto_provider();
            match rt.block_on(checkpoint_cli::run(
                &loaded.config,
                &changefeed,
                overwrite_checkpoint_ts.as_deref(),
            )) {
                Ok(out) => {
                    print!("{out}");
                    ExitCode::SUCCESS
                }
                Err(e @ checkpoint_cli::CheckpointCliError::Usage(_)) => {
                    eprintln!("error: {e}");
                    ExitCode::from(EXIT_CONFIG)
                }
                Err(checkpoint_cli::CheckpointCliError::Store(e)) if e.is_corrupt() => {
                    eprintln!("error: {e}");
                    ExitCode::from(EXIT_CONFIG)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(EXIT_RUNTIME)
                }
            }
        }
        Command::ImportTicdc(args) => import_ticdc_cli(args),
        Command::Changefeed { command } => {
            let rt = match runtime_for_cli() {
                Ok(rt) => rt,
                Err(code) => return code,
            };
            runtime::install_crypto_provider();
            match rt.block_on(admin_cli::run(&command)) {
                Ok(out) => {
                    print!("{out}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(if e.is_usage() {
                        EXIT_CONFIG
                    } else {
                        EXIT_RUNTIME
                    })
                }
            }
        }
        Command::Version => {
            println!("{}", build_info::describe());
            ExitCode::SUCCESS
        }
        Command::Check {
            config,
            print_config,
            offline,
        } => match config::load(&config) {
            Ok(loaded) => {
                print!("{}", check::summary(&loaded));
                if print_config {
                    println!("\n# effective configuration");
                    print!("{}", check::effective_toml(&loaded.config));
                }
                if offline {
                    return ExitCode::SUCCESS;
                }
                let rt = match runtime_for_cli() {
                    Ok(rt) => rt,
                    Err(code) => return code,
                };
                runtime::install_crypto_provider();
                let (upstream, upstream_ok) = rt.block_on(check::probe_upstream(&loaded.config));
                print!("{upstream}");
                let (state, state_ok) = rt.block_on(check::probe_state(&loaded.config));
                print!("{state}");
                let (report, ok) = rt.block_on(check::probe_sinks(&loaded.config));
                print!("{report}");
                if ok && upstream_ok && state_ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(EXIT_RUNTIME)
                }
            }
            Err(e) => config_failure(&e),
        },
        Command::Run { config } => {
            let loaded = match config::load(&config) {
                Ok(l) => l,
                Err(e) => return config_failure(&e),
            };
            let rt = match runtime_for_cli() {
                Ok(rt) => rt,
                Err(code) => return code,
            };
            match rt.block_on(runtime::run(loaded)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "tidb-changefeed stopped with an error");
                    eprintln!("error: {e}");
                    ExitCode::from(if e.needs_operator() {
                        EXIT_CONFIG
                    } else {
                        EXIT_RUNTIME
                    })
                }
            }
        }
    }
}

fn import_ticdc_cli(args: ImportTicdcArgs) -> ExitCode {
    let config = match &args.config {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some((path.display().to_string(), text)),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                return ExitCode::from(EXIT_CONFIG);
            }
        },
        None => None,
    };
    let opts = import_ticdc::ImportOptions {
        sink_uri: args.sink_uri,
        config,
        start_ts: args.start_ts,
        changefeed_id: args.changefeed_id,
        schema_registry: args.schema_registry,
        pd: args.pd,
        inline_secrets: args.inline_secrets,
    };
    let imported = match import_ticdc::import(&opts) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    print!("{}", imported.toml);
    for d in &imported.dropped {
        eprintln!("import-ticdc: {d}");
    }
    for n in &imported.notes {
        eprintln!("import-ticdc: note: {n}");
    }
    for p in &imported.problems {
        eprintln!("import-ticdc: the output does not load: {p}");
    }
    if imported.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_RUNTIME)
    }
}

fn runtime_for_cli() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("tidb-changefeed")
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(EXIT_RUNTIME)
        })
}

fn config_failure(e: &config::ConfigError) -> ExitCode {
    eprintln!("{e}");
    match e {
        config::ConfigError::Invalid(p) if p.len() > 1 => {
            eprintln!("{} problems found", p.len());
        }
        _ => {}
    }
    ExitCode::from(EXIT_CONFIG)
}
