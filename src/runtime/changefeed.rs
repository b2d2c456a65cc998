//! One changefeed's life in this process: verify its Kafka sink, run its pipeline, and
//! restart the pipeline from the saved checkpoint after retryable errors (bounded
//! exponential back-off) until it is told to stop, fails for good, or — when it runs under
//! a lease — its fence closes.
//!
//! Guarantees: an operator error stops the changefeed with its state `failed` and the
//! error; a closed fence (the lease may have passed to another daemon) ends it at once
//! without another attempt, reported as [`Ended::Fenced`] so the caller can stand it down;
//! a stop request drains it (the pipeline flushes, waits for Kafka's acknowledgements and
//! saves its checkpoint) before it returns [`Ended::Stopped`].

use std::time::{Duration, Instant};

use crate::config::ChangefeedConfig;
use crate::metrics;
use crate::pipeline;
use crate::shutdown;
use crate::sink::kafka::ErrorKind;
use crate::status::{ChangefeedState, StatusBoard};

/// How a changefeed's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Stopped as asked (drained when it was running).
    Stopped,
    /// Failed on an error the operator must fix.
    Failed(String),
    /// Its lease's fence closed: it wrote nothing more.
    Fenced(String),
    /// Removed by the operator: its GC safepoint and checkpoint are gone (see
    /// [`super::lifecycle`]).
    Removed,
}

/// Runs changefeed `ctx` until `stop` fires, it fails for good, or its fence closes. The
/// caller sets the final state shown (`stopped`, `standby`…) except for `failed`.
pub async fn run(ctx: pipeline::Context, stop: shutdown::Shutdown) -> Ended {
    let cf = &ctx.changefeed;
    let status = &ctx.status;
    let fence = ctx.store.fence();
    match probe_sink(cf, status, &stop).await {
        Probe::Ready => {}
        Probe::Stopped => return Ended::Stopped,
        Probe::Failed(e) => return Ended::Failed(e),
    }
    let source = pipeline::schema_source::TikvSchemaSource::default();
    let mut backoff = Duration::from_secs(1);
    while !stop.is_fired() {
        if let Err(f) = fence.check() {
            return Ended::Fenced(f.to_string());
        }
        let started = Instant::now();
        let result = pipeline::run(&ctx, &source, stop.clone()).await;
        let e = match result {
            Ok(()) => break,
            Err(e) => e,
        };
        if e.is_fenced() || fence.check().is_err() {
            tracing::warn!(error = %e, "the changefeed stopped writing: its lease may belong to another daemon now");
            return Ended::Fenced(e.to_string());
        }
        let kind = e.kind();
        ::metrics::counter!(metrics::CHANGEFEED_ERRORS_TOTAL, "changefeed" => cf.id.clone(), "kind" => kind.label()).increment(1);
        status.set_error(&cf.id, e.to_string());
        if kind == pipeline::ErrorKind::Operator {
            tracing::error!(error = %e, "the changefeed stopped; fix the cause and restart the daemon");
            status.set_state(&cf.id, ChangefeedState::Failed, Some(e.to_string()));
            return Ended::Failed(e.to_string());
        }
        if started.elapsed() > Duration::from_secs(120) {
            backoff = Duration::from_secs(1);
        }
        tracing::warn!(error = %e, retry_in = ?backoff, "the changefeed is restarting from its checkpoint");
        status.set_state(&cf.id, ChangefeedState::Retrying, Some(e.to_string()));
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.clone().wait() => break,
            f = fence.closed() => return Ended::Fenced(f.to_string()),
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
    Ended::Stopped
}

enum Probe {
    Ready,
    Stopped,
    Failed(String),
}

/// Verifies a Kafka sink (login, limits, default topic, ACLs) before the pipeline starts,
/// retrying while Kafka is unreachable.
async fn probe_sink(
    cf: &ChangefeedConfig,
    status: &StatusBoard,
    stop: &shutdown::Shutdown,
) -> Probe {
    let Some(k) = cf.kafka_sink() else {
        return Probe::Ready;
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        let attempt = tokio::select! {
            r = crate::sink::kafka::probe(&cf.id, k) => r,
            _ = stop.clone().wait() => return Probe::Stopped,
        };
        match attempt {
            Ok(lines) => {
                for l in lines {
                    tracing::info!("{l}");
                }
                return Probe::Ready;
            }
            Err(e) if e.kind() == ErrorKind::Operator => {
                tracing::error!(error = %e, "the Kafka sink cannot be used; fix it and restart");
                ::metrics::counter!(metrics::CHANGEFEED_ERRORS_TOTAL, "changefeed" => cf.id.clone(), "kind" => "operator").increment(1);
                status.set_error(&cf.id, e.to_string());
                status.set_state(&cf.id, ChangefeedState::Failed, Some(e.to_string()));
                return Probe::Failed(e.to_string());
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "Kafka is not reachable yet");
                ::metrics::counter!(metrics::CHANGEFEED_ERRORS_TOTAL, "changefeed" => cf.id.clone(), "kind" => "retryable").increment(1);
                status.set_error(&cf.id, e.to_string());
                status.set_state(&cf.id, ChangefeedState::Retrying, Some(e.to_string()));
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.clone().wait() => return Probe::Stopped,
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}
