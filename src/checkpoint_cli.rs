//! The `checkpoint` subcommand: shows a changefeed's saved checkpoint, or replaces it with
//! the operator's `--overwrite-checkpoint-ts` (TiCDC's `cdc cli changefeed resume
//! --overwrite-checkpoint-ts`), which is how a damaged checkpoint file is repaired.
//!
//! Guarantees: nothing is written without `--overwrite-checkpoint-ts`; the new file is
//! written as every save is (atomic, checksummed); a damaged file is reported, never read
//! as absent. `now` asks PD for its current TSO; a TSO or an RFC 3339 time needs nothing.
//! With `[state] store = "mysql"` the checkpoint is read from and written to the SQL store
//! ([`SqlStore::overwrite`]), which also bumps the changefeed's epoch: a running owner is
//! fenced out and the changefeed resumes from the new checkpoint once its lease has ended.

use std::fmt::Write as _;

use crate::checkpoint::sql::{SqlStore, StoreError};
use crate::checkpoint::{CheckpointError, FileStore};
use crate::config::{CheckpointStore, Config, StartPosition};
use crate::upstream::UpstreamError;
use crate::upstream::pd::{ConnectOptions, PdClient};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointCliError {
    /// Wrong changefeed id or ts text (exit status 2).
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] CheckpointError),
    #[error(transparent)]
    Sql(#[from] StoreError),
    #[error("asking PD for the current ts: {0}")]
    Upstream(#[from] UpstreamError),
}

/// Shows (or, with `overwrite`, replaces) the checkpoint of `changefeed`; returns what to
/// print.
pub async fn run(
    cfg: &Config,
    changefeed: &str,
    overwrite: Option<&str>,
) -> Result<String, CheckpointCliError> {
    let Some(cf) = cfg.changefeeds.iter().find(|c| c.id == changefeed) else {
        let ids: Vec<&str> = cfg.changefeeds.iter().map(|c| c.id.as_str()).collect();
        return Err(CheckpointCliError::Usage(format!(
            "no changefeed {changefeed:?} in the configuration (it has: {})",
            ids.join(", ")
        )));
    };
    let sql = match (&cfg.state.store, &cfg.state.mysql) {
        (CheckpointStore::Mysql, Some(m)) => Some(SqlStore::connect(m).await?),
        (CheckpointStore::Mysql, None) => {
            return Err(CheckpointCliError::Usage(
                "[state] store = \"mysql\" needs [state.mysql]".to_string(),
            ));
        }
        (CheckpointStore::File, _) => None,
    };
    let store = FileStore::new(&cfg.state.dir);
    let path = store.path(changefeed);
    let mut out = String::new();
    if overwrite.is_none()
        && let Some(sql) = &sql
    {
        match sql.load(changefeed).await? {
            Some(ts) => {
                let _ = writeln!(
                    out,
                    "{changefeed}: checkpoint {ts} ({}) in {}",
                    ts_time(ts),
                    sql.describe()
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "{changefeed}: no checkpoint in {}; it starts from start-ts = {}",
                    sql.describe(),
                    cf.start_ts
                );
            }
        }
        return Ok(out);
    }
    let Some(text) = overwrite else {
        match store.load(changefeed)? {
            Some(c) => {
                let _ = writeln!(
                    out,
                    "{changefeed}: checkpoint {} ({}) in {}",
                    c.checkpoint_ts,
                    ts_time(c.checkpoint_ts),
                    path.display()
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "{changefeed}: no checkpoint in {}; it starts from start-ts = {}",
                    path.display(),
                    cf.start_ts
                );
            }
        }
        return Ok(out);
    };
    let zone = crate::mount::time::resolve_time_zone(&cf.time_zone)
        .map_err(|e| CheckpointCliError::Usage(format!("time-zone of {changefeed}: {e}")))?;
    let ts = match StartPosition::parse(text)
        .and_then(|p| p.in_zone(zone))
        .map_err(|e| CheckpointCliError::Usage(format!("--overwrite-checkpoint-ts: {e}")))?
    {
        StartPosition::Now => {
            let conn = ConnectOptions::new(
                cfg.upstream.tls.as_ref(),
                cfg.upstream.connect_timeout.get(),
            )?;
            PdClient::connect_with(&cfg.upstream.pd, conn)
                .await?
                .get_ts()
                .await?
        }
        fixed => fixed.fixed_tso().unwrap_or(0),
    };
    if ts == 0 {
        return Err(CheckpointCliError::Usage(
            "--overwrite-checkpoint-ts: 0 is not a checkpoint".to_string(),
        ));
    }
    if let Some(sql) = &sql {
        let before = sql
            .load(changefeed)
            .await?
            .map_or_else(|| "none".to_string(), |t| t.to_string());
        sql.overwrite(changefeed, ts).await?;
        let _ = writeln!(
            out,
            "{changefeed}: checkpoint set to {ts} ({}) in {} (was {before}); its epoch was bumped, so a running owner stops at its next renewal and the changefeed resumes after the new checkpoint once that lease has ended: rows committed after it are sent (again), rows at or before it are not",
            ts_time(ts),
            sql.describe()
        );
        return Ok(out);
    }
    let before = match store.load(changefeed) {
        Ok(Some(c)) => c.checkpoint_ts.to_string(),
        Ok(None) => "none".to_string(),
        Err(e) if e.is_corrupt() => "a damaged file".to_string(),
        Err(e) => return Err(e.into()),
    };
    let blocking = store.clone();
    let id = changefeed.to_string();
    tokio::task::spawn_blocking(move || blocking.overwrite(&id, ts))
        .await
        .map_err(|e| CheckpointCliError::Usage(format!("the write did not finish: {e}")))??;
    let _ = writeln!(
        out,
        "{changefeed}: checkpoint set to {ts} ({}) in {} (was {before}); the daemon resumes after it: rows committed after it are sent (again), rows at or before it are not",
        ts_time(ts),
        path.display()
    );
    Ok(out)
}

fn ts_time(ts: u64) -> String {
    i64::try_from(ts >> 18)
        .ok()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(
            || "?".to_string(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )
}
