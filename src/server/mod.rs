//! The HTTP server: `/metrics` (Prometheus text), `/healthz` (the process is alive),
//! `/readyz` (every changefeed is running; otherwise 503 and why not) and `/api/v1/status`
//! (JSON status of every changefeed), and the changefeed lifecycle API under
//! `/api/v1/changefeeds` ([`admin`]: list, query, pause, resume, remove; the mutating
//! requests guarded by [`auth`]). It stops accepting connections when the shutdown signal
//! fires and finishes the requests in flight.

pub mod admin;
pub mod auth;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::build_info;
use crate::metrics::{self as m, ProcessMetrics};
use crate::shutdown::Shutdown;
use crate::status::{ChangefeedStatus, StatusBoard};

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub prometheus: PrometheusHandle,
    pub process: Arc<ProcessMetrics>,
    pub status: StatusBoard,
    /// The lifecycle API's store and rules, set once the state store is reachable.
    pub admin: Arc<OnceLock<admin::Admin>>,
}

/// Errors of the HTTP server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}; set [server] listen to a free address")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/v1/status", get(status))
        .route("/api/v1/changefeeds", get(admin::list))
        .route(
            "/api/v1/changefeeds/{id}",
            get(admin::query).delete(admin::remove),
        )
        .route("/api/v1/changefeeds/{id}/pause", post(admin::pause))
        .route("/api/v1/changefeeds/{id}/resume", post(admin::resume))
        .layer(middleware::from_fn(count_requests))
        .with_state(state)
}

/// Binds the listen address (so a taken port fails at startup, before anything runs).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

/// Serves until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
        .map_err(ServerError::Serve)
}

async fn count_requests(req: Request, next: Next) -> Response {
    let path: &'static str = match req.uri().path() {
        "/metrics" => "/metrics",
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/api/v1/status" => "/api/v1/status",
        "/api/v1/changefeeds" => "/api/v1/changefeeds",
        p if p.starts_with("/api/v1/changefeeds/") => "/api/v1/changefeeds/{id}",
        _ => "other",
    };
    let resp = next.run(req).await;
    ::metrics::counter!(m::HTTP_REQUESTS_TOTAL, "path" => path, "status" => resp.status().as_u16().to_string())
        .increment(1);
    resp
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    s.process.collect();
    refresh_lag(&s.status);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.prometheus.render(),
    )
}

/// Lag gauges are computed at scrape time, so they grow while a changefeed is stuck.
fn refresh_lag(status: &StatusBoard) {
    let now_ms = chrono::Utc::now().timestamp_millis();
    for cf in status.snapshot() {
        for (ts, at, lag) in [
            (
                cf.checkpoint_ts,
                m::CHECKPOINT_TIMESTAMP_SECONDS,
                m::CHECKPOINT_LAG_SECONDS,
            ),
            (
                cf.resolved_ts,
                m::RESOLVED_TIMESTAMP_SECONDS,
                m::RESOLVED_LAG_SECONDS,
            ),
        ] {
            if let Some(ts) = ts {
                let physical_ms = (ts >> 18) as i64;
                ::metrics::gauge!(at, "changefeed" => cf.id.clone())
                    .set(physical_ms as f64 / 1000.0);
                ::metrics::gauge!(lag, "changefeed" => cf.id.clone())
                    .set((now_ms - physical_ms) as f64 / 1000.0);
            }
        }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<AppState>) -> Response {
    match s.status.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(reasons) => {
            let mut body = String::from("not ready\n");
            for r in reasons {
                body.push_str(&r);
                body.push('\n');
            }
            (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
        }
    }
}

#[derive(Serialize)]
struct StatusBody {
    version: &'static str,
    git_commit: &'static str,
    ready: bool,
    changefeeds: Vec<ChangefeedStatus>,
    /// With the SQL state store: the daemons sharing it.
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<crate::status::ClusterView>,
}

async fn status(State(s): State<AppState>) -> impl IntoResponse {
    axum::Json(StatusBody {
        version: build_info::VERSION,
        git_commit: build_info::GIT_COMMIT,
        ready: s.status.readiness().is_ok(),
        changefeeds: s.status.snapshot(),
        cluster: s.status.cluster(),
    })
}
