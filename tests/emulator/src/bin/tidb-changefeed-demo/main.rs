//! `tidb-changefeed-demo` (run by `scripts/demo`): an emulated TiDB upstream under a
//! sysbench-like workload, the daemon replicating it (stdout sink into a file, or Kafka with
//! `--kafka`), one live progress line on the terminal, and at the end a summary that checks
//! every row change the workload committed was delivered.
//!
//! Exit status: 0 when every row is accounted for, 1 when rows are missing or something
//! failed, 2 for bad arguments.

mod daemon;
mod tally;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use tidb_changefeed_emulator::runner::{self, Runner};
use tidb_changefeed_emulator::workload::{self, Counts, Sysbench, SysbenchOptions};

use daemon::Sink;

/// Replicate a sysbench-like workload on an emulated TiDB with tidb-changefeed, showing
/// progress, then check every row arrived.
#[derive(Debug, Parser)]
#[command(name = "tidb-changefeed-demo", version, args_override_self = true)]
struct Args {
    /// How long the workload writes (60s, 2m, …); Ctrl-C ends it early.
    #[arg(long, default_value = "60s", value_parser = workload::parse_duration)]
    duration: Duration,
    /// Tables sbtest1..N.
    #[arg(long, default_value_t = 4)]
    tables: u32,
    /// Rows per table before the workload starts.
    #[arg(long, default_value_t = 1000)]
    table_size: u32,
    /// Row changes per second.
    #[arg(long, default_value_t = 2000)]
    rate: u32,
    /// Send to this Kafka (bootstrap host:port) instead of the stdout sink.
    #[arg(long, value_name = "BOOTSTRAP")]
    kafka: Option<String>,
    /// The Kafka topic (default: tidb-changefeed-demo-<unix time>).
    #[arg(long)]
    topic: Option<String>,
    /// Directory for the configuration, state, daemon log and the stdout sink's file.
    #[arg(long, default_value = "target/demo")]
    dir: PathBuf,
    /// The tidb-changefeed binary (default: next to this one).
    #[arg(long)]
    daemon: Option<PathBuf>,
    /// Port of the daemon's HTTP API (0: a free one).
    #[arg(long, default_value_t = 0)]
    http_port: u16,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("demo: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    match rt.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::from(1)
        }
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

async fn run(args: Args) -> Result<bool, String> {
    let bin = match &args.daemon {
        Some(b) => b.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("tidb-changefeed"),
    };
    if !bin.is_file() {
        return Err(format!(
            "the daemon binary {} is missing (cargo build --release --workspace --bins)",
            bin.display()
        ));
    }
    let dir = &args.dir;
    let _ = std::fs::remove_dir_all(dir.join("state"));
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let out = dir.join("changefeed.jsonl");
    let log = dir.join("daemon.log");
    let sink = match &args.kafka {
        Some(b) => Sink::Kafka {
            bootstrap: b.clone(),
            topic: args
                .topic
                .clone()
                .unwrap_or_else(|| format!("tidb-changefeed-demo-{}", chrono_free_unix_secs())),
        },
        None => Sink::File(out.clone()),
    };

    // The upstream: tables loaded, served on loopback.
    let opts = SysbenchOptions {
        tables: args.tables,
        table_size: args.table_size,
        rate: args.rate,
        duration: args.duration,
        ..SysbenchOptions::default()
    };
    let scenario = workload::scenario(&opts);
    let mut runner = Runner::new(&scenario).map_err(|e| e.to_string())?;
    let mut work = Sysbench::new(opts, &scenario)?;
    let mut emu = runner::start(&scenario, "127.0.0.1:0".parse().map_err(|_| "address")?)
        .await
        .map_err(|e| e.to_string())?;
    let pd = emu.pd_addr().to_string();

    let port = if args.http_port == 0 {
        free_port()?
    } else {
        args.http_port
    };
    let config = dir.join("demo.toml");
    std::fs::write(
        &config,
        daemon::config(&pd, port, &dir.join("state"), &sink),
    )
    .map_err(|e| format!("{}: {e}", config.display()))?;
    println!(
        "demo: {} tables sbtest1..{} ({} rows each) on an emulated TiDB (PD {pd}), {} row changes/s for {:?}",
        args.tables, args.tables, args.table_size, args.rate, args.duration
    );
    match &sink {
        Sink::File(p) => println!("demo: messages (Canal-JSON, one a line) -> {}", p.display()),
        Sink::Kafka { bootstrap, topic } => {
            println!("demo: messages (Canal-JSON) -> Kafka {bootstrap}, topic {topic}")
        }
    }
    println!(
        "demo: daemon log -> {}; config {}; status http://127.0.0.1:{port}/api/v1/status",
        log.display(),
        config.display()
    );
    let mut child = daemon::spawn(&bin, &config, &out, &log)
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;

    // Ctrl-C ends the workload early; the daemon (in its own process group) is drained after.
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::SeqCst);
            }
        });
    }

    // The changefeed takes its start ts before the workload starts, so every row is after it.
    let started = Instant::now();
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Err(format!(
                "the daemon exited ({st}) before it was ready; see {}",
                log.display()
            ));
        }
        if daemon::progress(port).is_some_and(|p| p.state == "running" && p.checkpoint_ts > 0) {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) || stop.load(Ordering::SeqCst) {
            daemon::terminate(&child);
            let _ = child.wait();
            return Err(format!(
                "the daemon was not running within 60 s; see {}",
                log.display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let counts = work.counts();
    let tty = std::io::stdout().is_terminal();
    let line = ProgressLine::new(Arc::clone(&counts), port, tty, args.duration);
    let done = Arc::new(AtomicBool::new(false));
    let shown = {
        let (done, mut line) = (Arc::clone(&done), line);
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                line.show();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            line
        })
    };
    let wrote = work.run(&mut emu, &mut runner, &stop).await;
    let written_in = started.elapsed();
    let last = counts.last_commit_ts.load(Ordering::SeqCst);
    // Wait for the checkpoint to pass the last commit (the daemon delivered everything).
    let caught_up = Instant::now();
    let mut reached = false;
    while caught_up.elapsed() < Duration::from_secs(60) {
        if daemon::progress(port).is_some_and(|p| p.checkpoint_ts >= last) {
            reached = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    done.store(true, Ordering::SeqCst);
    let mut line = shown.await.map_err(|e| e.to_string())?;
    line.show();
    if tty {
        println!();
    }
    let before_stop = daemon::progress(port).unwrap_or_default();
    daemon::terminate(&child);
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    emu.shutdown().await;
    wrote?;

    let got = match &sink {
        Sink::File(p) => tally::file(p).map_err(|e| format!("{}: {e}", p.display()))?,
        Sink::Kafka { bootstrap, topic } => tally::kafka(bootstrap, topic).await?,
    };
    Ok(summary(
        &counts,
        &got,
        &line,
        &before_stop,
        written_in,
        reached,
        exit.success(),
        &sink,
    ))
}

fn chrono_free_unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The live line: written rows and rate, delivered rows, checkpoint and lag.
#[derive(Debug)]
struct ProgressLine {
    counts: Arc<Counts>,
    port: u16,
    tty: bool,
    duration: Duration,
    started: Instant,
    max_lag: f64,
    last_printed: Option<Instant>,
}

impl ProgressLine {
    fn new(counts: Arc<Counts>, port: u16, tty: bool, duration: Duration) -> Self {
        ProgressLine {
            counts,
            port,
            tty,
            duration,
            started: Instant::now(),
            max_lag: 0.0,
            last_printed: None,
        }
    }

    fn show(&mut self) {
        let p = daemon::progress(self.port).unwrap_or_default();
        let lag = p.lag();
        if let Some(l) = lag {
            self.max_lag = self.max_lag.max(l);
        }
        let secs = self.started.elapsed().as_secs_f64();
        let written = self.counts.rows();
        let delivered = if p.kafka_messages > 0 {
            format!("{} msgs acked by Kafka", p.kafka_messages)
        } else {
            format!("{} rows delivered", p.rows_sent)
        };
        let cp_time = p
            .checkpoint_time
            .split('T')
            .nth(1)
            .unwrap_or("-")
            .trim_end_matches('Z')
            .to_string();
        let text = format!(
            "{:>5.1}s/{:.0}s  written {written} rows ({:.0}/s)  {delivered} ({:.0}/s)  checkpoint {cp_time}  lag {}  [{}]",
            secs,
            self.duration.as_secs_f64(),
            written as f64 / secs.max(0.001),
            p.rows_per_second,
            lag.map_or("-".to_string(), |l| format!("{l:.1}s")),
            if p.state.is_empty() {
                "no answer"
            } else {
                &p.state
            },
        );
        let mut out = std::io::stdout();
        if self.tty {
            let _ = write!(out, "\r\x1b[2K{text}");
            let _ = out.flush();
        } else if self
            .last_printed
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(5))
        {
            let _ = writeln!(out, "{text}");
            self.last_printed = Some(Instant::now());
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn summary(
    c: &Counts,
    got: &tally::Tally,
    line: &ProgressLine,
    daemon: &daemon::Progress,
    written_in: Duration,
    caught_up: bool,
    clean_exit: bool,
    sink: &Sink,
) -> bool {
    let g = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::SeqCst);
    let (ins, upd, del, ddls) = (g(&c.inserts), g(&c.updates), g(&c.deletes), g(&c.ddls));
    let secs = written_in.as_secs_f64().max(0.001);
    println!("demo summary");
    println!(
        "  workload   {} row changes in {} transactions over {:.1}s ({} inserts, {} updates, {} deletes), {} DDL",
        c.rows(),
        g(&c.transactions),
        secs,
        ins,
        upd,
        del,
        ddls
    );
    let place = match sink {
        Sink::File(p) => p.display().to_string(),
        Sink::Kafka { bootstrap, topic } => format!("Kafka {bootstrap} topic {topic}"),
    };
    println!(
        "  delivered  {} row messages ({} inserts, {} updates, {} deletes) and {} DDL messages, read back from {place}",
        got.rows(),
        got.inserts,
        got.updates,
        got.deletes,
        got.ddls
    );
    println!(
        "  rate       {:.0} rows/s written on average; the daemon reported {} rows sent",
        c.rows() as f64 / secs,
        daemon.rows_sent
    );
    println!("  max lag    {:.1}s (checkpoint behind now)", line.max_lag);
    let mut problems = Vec::new();
    for (what, want, have) in [
        ("inserts", ins, got.inserts),
        ("updates", upd, got.updates),
        ("deletes", del, got.deletes),
    ] {
        if have < want {
            problems.push(format!("{} of {want} {what} missing", want - have));
        }
    }
    if ddls > 0 && got.ddls == 0 {
        problems.push("the DDL message is missing".into());
    }
    if ddls > 0 && got.with_extra == 0 {
        problems.push("no row carries the column the DDL added".into());
    }
    if got.other > 0 {
        problems.push(format!(
            "{} messages are not Canal-JSON rows or DDLs",
            got.other
        ));
    }
    if !caught_up {
        problems.push("the checkpoint did not reach the last commit within 60 s".into());
    }
    if !clean_exit {
        problems.push("the daemon did not exit cleanly".into());
    }
    if problems.is_empty() {
        let dup = got.rows() - c.rows();
        println!(
            "  check      OK: every row accounted for ({} of {} row changes{}); {} rows written after the DDL carry `extra`",
            c.rows(),
            c.rows(),
            if dup > 0 {
                format!(", plus {dup} delivered twice (at-least-once)")
            } else {
                String::new()
            },
            got.with_extra
        );
        true
    } else {
        println!("  check      FAILED: {}", problems.join("; "));
        false
    }
}
