//! The `changefeed` subcommand: TiCDC's `cdc cli changefeed list|query|pause|resume|remove`
//! as a thin HTTP client of a running daemon's lifecycle API (`/api/v1/changefeeds`).
//!
//! Guarantees: nothing is decided here — the daemon checks, stores and carries the request
//! out; `pause`, `resume` and `remove` wait (unless `--no-wait`) until the daemon shows the
//! changefeed in the requested state, at most `--wait-timeout`, polling every 200 ms; the
//! token (`--token-file`, or `TIDB_CHANGEFEED_TOKEN_FILE`) is sent only as a bearer header
//! and never printed. Errors carry the daemon's message; a refusal (4xx) is a usage error
//! (exit status 2), an unreachable daemon or a timeout a runtime error (1).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::config::HumanDuration;

/// `tidb-changefeed changefeed …`.
#[derive(Subcommand, Debug)]
pub enum ChangefeedCommand {
    /// List the changefeeds: id, state, admin state, checkpoint ts and time.
    List {
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Print one changefeed's detail (JSON).
    Query {
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        id: IdArg,
    },
    /// Pause: drain, save the checkpoint, stop pulling and producing; the GC safepoint is
    /// kept.
    Pause {
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        id: IdArg,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Resume a paused changefeed from its checkpoint (refused if GC passed it).
    Resume {
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        id: IdArg,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Remove: stop for good, drop the GC safepoint and the checkpoint (kept removed across
    /// restarts).
    Remove {
        #[command(flatten)]
        api: ApiArgs,
        #[command(flatten)]
        id: IdArg,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

/// Where the daemon is and how to authenticate.
#[derive(Args, Debug)]
pub struct ApiArgs {
    /// The daemon's HTTP address ([server] listen), as TiCDC's `--server`.
    #[arg(
        long,
        env = "TIDB_CHANGEFEED_SERVER",
        default_value = "http://127.0.0.1:8300"
    )]
    pub server: String,
    /// A file holding the bearer token ([server] admin-token-file on the daemon).
    #[arg(long, env = "TIDB_CHANGEFEED_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// The changefeed, positional or as TiCDC's `-c/--changefeed-id`.
#[derive(Args, Debug)]
pub struct IdArg {
    /// The changefeed's id.
    #[arg(value_name = "ID", required_unless_present = "changefeed_id")]
    pub id: Option<String>,
    /// The changefeed's id (TiCDC's flag).
    #[arg(short = 'c', long, value_name = "ID", conflicts_with = "id")]
    pub changefeed_id: Option<String>,
}

impl IdArg {
    fn get(&self) -> &str {
        self.id
            .as_deref()
            .or(self.changefeed_id.as_deref())
            .unwrap_or_default()
    }
}

/// Whether and how long to wait for the daemon to carry the request out.
#[derive(Args, Debug)]
pub struct WaitArgs {
    /// Return once the daemon stored the request, without waiting for the changefeed.
    #[arg(long)]
    pub no_wait: bool,
    /// The longest wait for the changefeed to reach the requested state.
    #[arg(long, default_value = "60s", value_parser = HumanDuration::parse)]
    pub wait_timeout: HumanDuration,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminCliError {
    /// The daemon refused the request (4xx): its message.
    #[error("{0}")]
    Refused(String),
    /// Bad arguments (a token file that cannot be read, a bad URL).
    #[error("{0}")]
    Usage(String),
    /// The daemon cannot be reached, failed (5xx), or did not carry the request out in time.
    #[error("{0}")]
    Runtime(String),
}

impl AdminCliError {
    /// Exit status 2 for refusals and usage errors, else 1.
    pub fn is_usage(&self) -> bool {
        matches!(self, AdminCliError::Refused(_) | AdminCliError::Usage(_))
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    fn new(api: &ApiArgs) -> Result<Client, AdminCliError> {
        let base = api.server.trim_end_matches('/').to_string();
        let base = if base.contains("://") {
            base
        } else {
            format!("http://{base}")
        };
        let token = match &api.token_file {
            None => None,
            Some(p) => {
                let t = std::fs::read_to_string(p).map_err(|e| {
                    AdminCliError::Usage(format!("cannot read the token file {}: {e}", p.display()))
                })?;
                Some(t.trim().to_string())
            }
        };
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5));
        if base.starts_with("https://") {
            let tls = crate::tls::client_config(&crate::tls::TlsOptions {
                ca: None,
                cert: None,
                key: None,
                insecure_skip_verify: false,
            })
            .map_err(|e| AdminCliError::Usage(format!("TLS: {e}")))?;
            builder = builder.tls_backend_preconfigured((*tls).clone());
        }
        let http = builder
            .build()
            .map_err(|e| AdminCliError::Usage(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client { http, base, token })
    }

    /// Sends the request; the JSON body of a 2xx answer, else the daemon's message.
    async fn call(&self, method: reqwest::Method, path: &str) -> Result<Value, AdminCliError> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| {
            AdminCliError::Runtime(format!(
                "cannot reach the daemon at {}: {e}; check --server",
                self.base
            ))
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| {
            AdminCliError::Runtime(format!("{method} {url}: cannot read the answer: {e}"))
        })?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
        if status.is_success() {
            return Ok(body);
        }
        let msg = body["error_msg"]
            .as_str()
            .map_or_else(|| text.trim().to_string(), String::from);
        let msg = format!("{method} {url}: {status}: {msg}");
        if status.is_client_error() {
            Err(AdminCliError::Refused(msg))
        } else {
            Err(AdminCliError::Runtime(msg))
        }
    }
}

/// Runs `cmd` against the daemon; returns what to print.
pub async fn run(cmd: &ChangefeedCommand) -> Result<String, AdminCliError> {
    match cmd {
        ChangefeedCommand::List { api } => {
            let c = Client::new(api)?;
            let list = c.call(reqwest::Method::GET, "/api/v1/changefeeds").await?;
            Ok(table(&list))
        }
        ChangefeedCommand::Query { api, id } => {
            let c = Client::new(api)?;
            let v = c
                .call(
                    reqwest::Method::GET,
                    &format!("/api/v1/changefeeds/{}", id.get()),
                )
                .await?;
            Ok(format!(
                "{}\n",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            ))
        }
        ChangefeedCommand::Pause { api, id, wait } => {
            change(
                api,
                id.get(),
                wait,
                reqwest::Method::POST,
                "pause",
                "paused",
            )
            .await
        }
        ChangefeedCommand::Resume { api, id, wait } => {
            change(
                api,
                id.get(),
                wait,
                reqwest::Method::POST,
                "resume",
                "resumed",
            )
            .await
        }
        ChangefeedCommand::Remove { api, id, wait } => {
            change(api, id.get(), wait, reqwest::Method::DELETE, "", "removed").await
        }
    }
}

/// Whether the shown `state` carries out the request `done` names.
fn reached(done: &str, state: &str) -> bool {
    match done {
        "paused" => state == "paused",
        "removed" => state == "removed",
        _ => state != "paused" && state != "removed",
    }
}

async fn change(
    api: &ApiArgs,
    id: &str,
    wait: &WaitArgs,
    method: reqwest::Method,
    action: &str,
    done: &str,
) -> Result<String, AdminCliError> {
    let c = Client::new(api)?;
    let path = if action.is_empty() {
        format!("/api/v1/changefeeds/{id}")
    } else {
        format!("/api/v1/changefeeds/{id}/{action}")
    };
    let answer = c.call(method, &path).await?;
    let state = answer["state"].as_str().unwrap_or_default().to_string();
    if wait.no_wait || (reached(done, &state) && answer["pending"] != Value::Bool(true)) {
        return Ok(format!(
            "changefeed {id}: {} stored (now {state}{})\n",
            done,
            if answer["pending"] == Value::Bool(true) {
                ", pending"
            } else {
                ""
            }
        ));
    }
    let deadline = Instant::now() + wait.wait_timeout.get();
    let detail = format!("/api/v1/changefeeds/{id}");
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let v = c.call(reqwest::Method::GET, &detail).await?;
        let state = v["state"].as_str().unwrap_or_default();
        if reached(done, state) {
            let mut out = format!("changefeed {id}: {done} (state {state}");
            if let Some(ts) = v["checkpoint_ts"].as_u64() {
                let _ = write!(out, ", checkpoint ts {ts}");
            }
            if let Some(t) = v["checkpoint_time"].as_str() {
                let _ = write!(out, " at {t}");
            }
            out.push_str(")\n");
            if let Some(w) = v["warning"].as_str() {
                let _ = writeln!(out, "warning: {w}");
            }
            return Ok(out);
        }
        if Instant::now() >= deadline {
            return Err(AdminCliError::Runtime(format!(
                "changefeed {id}: the request is stored but the changefeed is still {state} after {:?} (reason: {}); it is carried out when its owner acts, check `tidb-changefeed changefeed query {id}`",
                wait.wait_timeout.get(),
                v["reason"].as_str().unwrap_or("none given")
            )));
        }
    }
}

/// The list as a table, like `cdc cli changefeed list`'s summary.
fn table(list: &Value) -> String {
    let mut rows = vec![[
        "ID".to_string(),
        "STATE".to_string(),
        "ADMIN".to_string(),
        "CHECKPOINT TS".to_string(),
        "CHECKPOINT TIME".to_string(),
    ]];
    for c in list["items"].as_array().into_iter().flatten() {
        let s = |k: &str| c[k].as_str().unwrap_or("-").to_string();
        rows.push([
            s("id"),
            s("state"),
            s("admin_state"),
            c["checkpoint_ts"]
                .as_u64()
                .map_or_else(|| "-".to_string(), |t| t.to_string()),
            s("checkpoint_time"),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_a_table() {
        let v: Value = serde_json::from_str(
            r#"{"total":2,"items":[{"id":"orders","state":"running","admin_state":"normal","checkpoint_ts":449000000000000000,"checkpoint_time":"2024-03-01T00:00:00.000Z"},{"id":"b","state":"paused","admin_state":"paused","checkpoint_ts":null,"checkpoint_time":null}]}"#,
        )
        .expect("json");
        let t = table(&v);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "ID      STATE    ADMIN   CHECKPOINT TS       CHECKPOINT TIME"
        );
        assert_eq!(
            lines[1],
            "orders  running  normal  449000000000000000  2024-03-01T00:00:00.000Z"
        );
        assert_eq!(lines[2], "b       paused   paused  -                   -");
    }

    #[test]
    fn a_state_is_reached_as_the_daemon_shows_it() {
        assert!(reached("paused", "paused"));
        assert!(!reached("paused", "running"));
        assert!(reached("resumed", "running") && reached("resumed", "standby"));
        assert!(!reached("resumed", "paused"));
        assert!(reached("removed", "removed") && !reached("removed", "stopping"));
    }
}
