//! The daemon as the demo runs it: its configuration, its process (in a process group of
//! its own, so the terminal's Ctrl-C reaches only the demo, which then drains it in order),
//! and what its HTTP API says (status and `/metrics`, read over a plain TCP connection).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Where the daemon sends the changes.
#[derive(Debug, Clone)]
pub enum Sink {
    /// The stdout sink, redirected into this file.
    File(PathBuf),
    /// A Kafka cluster (bootstrap) and the topic.
    Kafka { bootstrap: String, topic: String },
}

/// The configuration file text.
pub fn config(pd: &str, http_port: u16, state: &Path, sink: &Sink) -> String {
    let sink = match sink {
        Sink::File(_) => "type = \"stdout\"\nprotocol = \"canal-json\"\n".to_string(),
        Sink::Kafka { bootstrap, topic } => format!(
            "type = \"kafka\"\nprotocol = \"canal-json\"\n\n[changefeed.sink.kafka-config]\nbrokers = [\"{bootstrap}\"]\ntopic = \"{topic}\"\npartition-num = 3\nreplication-factor = 1\n"
        ),
    };
    format!(
        "# Written by the demo.\n[log]\nformat = \"text\"\n\n[upstream]\npd = [\"{pd}\"]\n\n[server]\nlisten = \"127.0.0.1:{http_port}\"\n\n[state]\ndir = \"{}\"\n\n[[changefeed]]\nid = \"demo\"\n\n[changefeed.sink]\n{sink}",
        state.display()
    )
}

/// Starts `bin run --config config`; stdout into `stdout` (the stdout sink's messages),
/// stderr (text logs) into `log`.
pub fn spawn(bin: &Path, config: &Path, stdout: &Path, log: &Path) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let out = std::fs::File::create(stdout)?;
    let err = std::fs::File::create(log)?;
    Command::new(bin)
        .arg("run")
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
}

/// Sends SIGTERM (the daemon drains: flush, acknowledgements, checkpoint).
pub fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
}

/// GET `path` on 127.0.0.1:`port`: the body when the answer is 200.
pub fn get(port: u16, path: &str) -> Option<String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.lines()
        .next()
        .is_some_and(|l| l.contains(" 200 "))
        .then(|| body.to_string())
}

/// The changefeed's progress as the status API and `/metrics` show it.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    pub state: String,
    pub checkpoint_ts: u64,
    pub checkpoint_time: String,
    pub rows_per_second: f64,
    /// Rows the daemon handed to the sink (`tidb_changefeed_rows_sent_total`).
    pub rows_sent: u64,
    /// Kafka messages acknowledged (`tidb_changefeed_kafka_messages_total`).
    pub kafka_messages: u64,
}

impl Progress {
    /// Seconds between now and the checkpoint.
    pub fn lag(&self) -> Option<f64> {
        (self.checkpoint_ts > 0).then(|| {
            let ms = (self.checkpoint_ts >> 18) as i64;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            (now - ms).max(0) as f64 / 1000.0
        })
    }
}

/// Reads the status API and `/metrics`; `None` while the daemon does not answer.
pub fn progress(port: u16) -> Option<Progress> {
    let status: serde_json::Value = serde_json::from_str(&get(port, "/api/v1/status")?).ok()?;
    let cf = status["changefeeds"].get(0)?;
    let metrics = get(port, "/metrics").unwrap_or_default();
    Some(Progress {
        state: cf["state"].as_str().unwrap_or_default().to_string(),
        checkpoint_ts: cf["checkpoint_ts"].as_u64().unwrap_or(0),
        checkpoint_time: cf["checkpoint_time"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        rows_per_second: cf["rows_per_second"].as_f64().unwrap_or(0.0),
        rows_sent: metric_sum(&metrics, "tidb_changefeed_rows_sent_total"),
        kafka_messages: metric_sum(&metrics, "tidb_changefeed_kafka_messages_total"),
    })
}

/// The sum of every series of counter `name` in a Prometheus text page.
fn metric_sum(page: &str, name: &str) -> u64 {
    page.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}
