//! The changefeed lifecycle API, in the shape of TiCDC's open API (tiflow `cdc/api/v2/api.go`:
//! `GET /changefeeds`, `GET /changefeeds/{id}`, `POST /changefeeds/{id}/pause`,
//! `POST /changefeeds/{id}/resume`, `DELETE /changefeeds/{id}`), under `/api/v1`:
//!
//! - `GET /api/v1/changefeeds` → `{"total": n, "items": [...]}` (TiCDC's list shape), each
//!   item the changefeed's id, state, admin state and checkpoint;
//! - `GET /api/v1/changefeeds/{id}` → the changefeed's status (as in `/api/v1/status`) with
//!   its admin state read from the state store;
//! - `POST …/pause`, `POST …/resume`, `DELETE …/{id}` → the admin state is written to the
//!   state store and the call returns: `202` with `"pending": true` while the changefeed's
//!   task (with the SQL store: its owner, at its next tick) has not carried it out yet, `200`
//!   when it already is in that state.
//!
//! Errors are JSON, `{"error_msg": "...", "error_code": "..."}` as TiCDC's `HTTPError`:
//! an unknown id is 404 (`CDC:ErrChangeFeedNotExists`); a request the state forbids is 409
//! (pause or resume a removed changefeed; resume a changefeed whose checkpoint GC has
//! passed, with TiCDC's `ErrStartTsBeforeGC` message); a missing or wrong token is 401 and
//! a mutating request without a token on a non-loopback listener 403 ([`super::auth`]); the
//! store or PD failing is 503. Mutating requests are counted in
//! `tidb_changefeed_admin_requests_total` by verb and outcome.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::auth::AdminAuth;
use crate::checkpoint::{AdminState, AdminStore};
use crate::config::{Config, UpstreamConfig};
use crate::metrics as m;
use crate::status::{ChangefeedState, ChangefeedStatus};
use crate::upstream::pd::{ConnectOptions, PdClient};

/// What the lifecycle handlers need from the process.
#[derive(Debug, Clone)]
pub struct Admin {
    store: AdminStore,
    ids: BTreeSet<String>,
    upstream: UpstreamConfig,
    auth: AdminAuth,
}

impl Admin {
    /// The API over `store` for `cfg`'s changefeeds.
    pub fn new(cfg: &Config, store: AdminStore) -> Admin {
        Admin {
            store,
            ids: cfg.changefeeds.iter().map(|c| c.id.clone()).collect(),
            upstream: cfg.upstream.clone(),
            auth: AdminAuth::new(
                cfg.server.admin_token.as_ref().map(|t| t.expose()),
                cfg.server.listen,
            ),
        }
    }
}

/// TiCDC's error body.
#[derive(Debug, Serialize)]
struct ApiError {
    error_msg: String,
    error_code: &'static str,
}

fn error(status: StatusCode, code: &'static str, msg: impl Into<String>) -> Response {
    (
        status,
        Json(ApiError {
            error_msg: msg.into(),
            error_code: code,
        }),
    )
        .into_response()
}

fn not_found(id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "CDC:ErrChangeFeedNotExists",
        format!("changefeed {id} does not exist (it is not in this daemon's configuration)"),
    )
}

/// One item of the list.
#[derive(Debug, Serialize)]
struct Item {
    id: String,
    state: ChangefeedState,
    admin_state: AdminState,
    checkpoint_ts: Option<u64>,
    checkpoint_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

#[derive(Debug, Serialize)]
struct List {
    total: usize,
    items: Vec<Item>,
}

/// `GET /api/v1/changefeeds`.
pub async fn list(State(s): State<AppState>) -> Response {
    let items: Vec<Item> = s
        .status
        .snapshot()
        .into_iter()
        .map(|c| Item {
            id: c.id,
            state: c.state,
            admin_state: c.admin_state,
            checkpoint_ts: c.checkpoint_ts,
            checkpoint_time: c.checkpoint_time,
            error: c.last_error.filter(|_| c.state == ChangefeedState::Failed),
            warning: c.warning,
        })
        .collect();
    Json(List {
        total: items.len(),
        items,
    })
    .into_response()
}

/// `GET /api/v1/changefeeds/{id}`.
pub async fn query(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(mut shown) = s.status.get(&id) else {
        return not_found(&id);
    };
    if let Some(admin) = s.admin.get() {
        match admin.store.get(&id).await {
            Ok(v) => {
                shown.admin_state = v.admin;
                if shown.checkpoint_ts.is_none() {
                    shown.checkpoint_ts = v.checkpoint_ts;
                }
            }
            Err(e) => {
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "TIDB_CHANGEFEED:ErrStateStore",
                    format!("cannot read changefeed {id}'s admin state: {e}"),
                );
            }
        }
    }
    Json(shown).into_response()
}

/// What a mutating request answers.
#[derive(Debug, Serialize)]
struct Changed {
    id: String,
    /// The admin state now stored.
    admin_state: AdminState,
    /// The state the changefeed shows now.
    state: ChangefeedState,
    /// Whether the changefeed has yet to carry the admin state out.
    pending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Pause,
    Resume,
    Remove,
}

impl Verb {
    fn name(self) -> &'static str {
        match self {
            Verb::Pause => "pause",
            Verb::Resume => "resume",
            Verb::Remove => "remove",
        }
    }

    fn target(self) -> AdminState {
        match self {
            Verb::Pause => AdminState::Paused,
            Verb::Resume => AdminState::Normal,
            Verb::Remove => AdminState::Removed,
        }
    }
}

/// Whether the shown state has carried `target` out.
fn carried_out(shown: &ChangefeedStatus, target: AdminState) -> bool {
    match target {
        AdminState::Paused => shown.state == ChangefeedState::Paused,
        AdminState::Removed => shown.state == ChangefeedState::Removed,
        AdminState::Normal => !matches!(
            shown.state,
            ChangefeedState::Paused | ChangefeedState::Removed
        ),
    }
}

/// `POST /api/v1/changefeeds/{id}/pause`.
pub async fn pause(s: State<AppState>, id: Path<String>, headers: HeaderMap) -> Response {
    change(s, id, headers, Verb::Pause).await
}

/// `POST /api/v1/changefeeds/{id}/resume`.
pub async fn resume(s: State<AppState>, id: Path<String>, headers: HeaderMap) -> Response {
    change(s, id, headers, Verb::Resume).await
}

/// `DELETE /api/v1/changefeeds/{id}`.
pub async fn remove(s: State<AppState>, id: Path<String>, headers: HeaderMap) -> Response {
    change(s, id, headers, Verb::Remove).await
}

async fn change(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    verb: Verb,
) -> Response {
    let (outcome, resp) = decide(&s, &id, &headers, verb).await;
    ::metrics::counter!(m::ADMIN_REQUESTS_TOTAL, "verb" => verb.name(), "outcome" => outcome)
        .increment(1);
    if matches!(outcome, "accepted") {
        tracing::info!(changefeed = %id, verb = verb.name(), "admin request stored");
    } else if !matches!(outcome, "unchanged") {
        tracing::warn!(changefeed = %id, verb = verb.name(), outcome, "admin request not carried out");
    }
    resp
}

async fn decide(
    s: &AppState,
    id: &str,
    headers: &HeaderMap,
    verb: Verb,
) -> (&'static str, Response) {
    let Some(admin) = s.admin.get() else {
        return (
            "error",
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "TIDB_CHANGEFEED:ErrStateStore",
                "the state store is not connected yet; retry",
            ),
        );
    };
    if let Err(d) = admin.auth.check(headers) {
        let outcome = if d.status == StatusCode::FORBIDDEN {
            "forbidden"
        } else {
            "unauthorized"
        };
        return (
            outcome,
            error(d.status, "TIDB_CHANGEFEED:ErrUnauthorized", d.message),
        );
    }
    if !admin.ids.contains(id) {
        return ("not_found", not_found(id));
    }
    let view = match admin.store.get(id).await {
        Ok(v) => v,
        Err(e) => {
            return (
                "error",
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "TIDB_CHANGEFEED:ErrStateStore",
                    format!("cannot read changefeed {id}'s admin state: {e}"),
                ),
            );
        }
    };
    let target = verb.target();
    if view.admin == AdminState::Removed && verb != Verb::Remove {
        return (
            "refused",
            error(
                StatusCode::CONFLICT,
                "TIDB_CHANGEFEED:ErrChangefeedRemoved",
                format!(
                    "changefeed {id} is removed and cannot be {}d: to replicate again, use a new changefeed id, or stop the daemon and run `tidb-changefeed checkpoint --changefeed {id} --overwrite-checkpoint-ts <TS>`",
                    verb.name()
                ),
            ),
        );
    }
    if verb == Verb::Pause && view.admin == AdminState::Normal && view.checkpoint_ts.is_none() {
        return (
            "refused",
            error(
                StatusCode::CONFLICT,
                "TIDB_CHANGEFEED:ErrNoCheckpoint",
                format!(
                    "changefeed {id} has not saved a checkpoint yet (it is starting): retry in a moment"
                ),
            ),
        );
    }
    if verb == Verb::Resume
        && view.admin == AdminState::Paused
        && let Some(cp) = view.checkpoint_ts
        && let Err(resp) = check_gc(&admin.upstream, id, cp).await
    {
        return ("refused", resp);
    }
    let unchanged = view.admin == target;
    if !unchanged && let Err(e) = admin.store.set(id, target).await {
        return (
            "error",
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "TIDB_CHANGEFEED:ErrStateStore",
                format!("cannot store changefeed {id}'s admin state: {e}"),
            ),
        );
    }
    s.status.set_admin(id, target);
    let shown = s.status.get(id);
    let pending = !shown.as_ref().is_some_and(|c| carried_out(c, target));
    let body = Changed {
        id: id.to_string(),
        admin_state: target,
        state: shown.map_or(ChangefeedState::Starting, |c| c.state),
        pending,
    };
    let status = if pending {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    (
        if unchanged { "unchanged" } else { "accepted" },
        (status, Json(body)).into_response(),
    )
}

/// Refuses a resume whose checkpoint the cluster's GC has passed (TiCDC refuses it with
/// `ErrStartTsBeforeGC`, tiflow `pkg/errors/cdc_errors.go`).
async fn check_gc(up: &UpstreamConfig, id: &str, cp: u64) -> Result<(), Response> {
    let unavailable = |e: String| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "TIDB_CHANGEFEED:ErrUpstream",
            format!(
                "cannot check changefeed {id}'s checkpoint against PD's GC safepoint: {e}; retry when PD answers"
            ),
        )
    };
    let conn = ConnectOptions::new(up.tls.as_ref(), up.connect_timeout.get())
        .map_err(|e| unavailable(e.to_string()))?;
    let pd = PdClient::connect_with(&up.pd, conn)
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let gc = pd
        .get_gc_safe_point()
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    if cp < gc {
        return Err(error(
            StatusCode::CONFLICT,
            "CDC:ErrStartTsBeforeGC",
            format!(
                "fail to create or maintain changefeed because start-ts {cp} is earlier than or equal to GC safepoint at {gc}: changefeed {id}'s checkpoint is behind the cluster's GC, rows after it may be gone; remove it and create it anew"
            ),
        ));
    }
    Ok(())
}
