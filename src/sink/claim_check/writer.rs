//! The claim-check writer of one changefeed: takes an object from a pipeline worker (which
//! never waits for storage), stores it on a task of its own, retrying with a bounded
//! exponential backoff for as long as the changefeed runs, and hands back a [`PendingPut`]
//! the emitter awaits before the row's Kafka message is produced.
//!
//! Guarantees:
//! * a [`PendingPut`] resolves `Ok` only once the object is stored, so the message naming it
//!   (and with it the row's ticket, and so the checkpoint) never goes out before its object;
//! * a failing storage stalls the changefeed, it never drops a row: every failure is counted
//!   (`tidb_changefeed_claim_check_write_errors_total`), logged with the location, attempt
//!   and next wait (backoff 200 ms doubling to 10 s), and retried; it ends only at shutdown,
//!   with an error (the rows after the checkpoint are sent again after a restart);
//! * [`ClaimCheckWriter::stall`] tells how long the oldest object has been waiting and the
//!   last error, for the checkpoint tick's `claim-check` fault (`/readyz` false);
//! * the URI's secrets never reach a log line, an error or the status: only the location
//!   (`scheme://bucket/prefix/name`) and the masked URI are shown.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

use crate::shutdown::Shutdown;

use super::store::ClaimStore;

/// The first wait after a failed attempt; doubled after each failure up to [`MAX_BACKOFF`].
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Why an object was not stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error(
        "claim-check object {location} not stored: the changefeed is stopping (last error: {last_error}); its row is sent again after a restart"
    )]
    Stopped {
        location: String,
        last_error: String,
    },
    #[error("the claim-check writer task for {location} failed: {reason}")]
    Task { location: String, reason: String },
    #[error("claim-check writes need the async runtime: {0}")]
    NoRuntime(String),
}

/// How long the storage has kept the oldest object waiting.
#[derive(Debug, Clone, PartialEq)]
pub struct Stall {
    pub waiting: Duration,
    /// The last failed attempt's error, if an attempt failed (a request may also just hang).
    pub last_error: Option<String>,
    /// The masked storage URI.
    pub storage: String,
}

/// An object on its way to the storage.
#[derive(Debug)]
pub struct PendingPut {
    location: String,
    task: JoinHandle<Result<(), WriteError>>,
}

impl PendingPut {
    /// Where the object goes (as written in the message).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Waits until the object is stored (or the changefeed stops).
    pub async fn wait(self) -> Result<(), WriteError> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(WriteError::Task {
                location: self.location,
                reason: e.to_string(),
            }),
        }
    }
}

/// Stores claim-check objects of one changefeed; cloning shares it.
#[derive(Debug, Clone)]
pub struct ClaimCheckWriter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: ClaimStore,
    runtime: tokio::runtime::Handle,
    shutdown: Option<Shutdown>,
    next: AtomicU64,
    health: Mutex<Health>,
    writes: ::metrics::Counter,
    errors: ::metrics::Counter,
    bytes: ::metrics::Counter,
    duration: ::metrics::Histogram,
}

#[derive(Debug, Default)]
struct Health {
    /// Objects not yet stored, by submission number, with when they were submitted.
    pending: BTreeMap<u64, Instant>,
    last_error: Option<String>,
}

impl ClaimCheckWriter {
    /// A writer of `changefeed` into `store`, running its puts on the current Tokio runtime;
    /// retries stop when `shutdown` fires.
    pub fn new(
        store: ClaimStore,
        changefeed: &str,
        shutdown: Option<Shutdown>,
    ) -> Result<Self, WriteError> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| WriteError::NoRuntime(e.to_string()))?;
        let label = changefeed.to_string();
        use crate::metrics as m;
        Ok(ClaimCheckWriter {
            inner: Arc::new(Inner {
                store,
                runtime,
                shutdown,
                next: AtomicU64::new(0),
                health: Mutex::new(Health::default()),
                writes: ::metrics::counter!(m::CLAIM_CHECK_WRITES_TOTAL, "changefeed" => label.clone()),
                errors: ::metrics::counter!(m::CLAIM_CHECK_WRITE_ERRORS_TOTAL, "changefeed" => label.clone()),
                bytes: ::metrics::counter!(m::CLAIM_CHECK_WRITTEN_BYTES_TOTAL, "changefeed" => label.clone()),
                duration: ::metrics::histogram!(m::CLAIM_CHECK_WRITE_DURATION_SECONDS, "changefeed" => label),
            }),
        })
    }

    /// The storage this writer writes to.
    pub fn store(&self) -> &ClaimStore {
        &self.inner.store
    }

    /// Starts storing `body` as `name`; callable from any thread (the pipeline workers run
    /// on the blocking pool). The returned handle resolves once it is stored.
    pub fn submit(&self, name: &str, body: Vec<u8>) -> PendingPut {
        let location = self.inner.store.location_of(name);
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        self.health(|h| {
            h.pending.insert(id, Instant::now());
        });
        let inner = Arc::clone(&self.inner);
        let name = name.to_string();
        let task = self
            .inner
            .runtime
            .spawn(async move { inner.put_until_stored(id, &name, Arc::new(body)).await });
        PendingPut { location, task }
    }

    /// How long the oldest object not yet stored has waited, once it has waited at all.
    pub fn stall(&self) -> Option<Stall> {
        let h = self
            .inner
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let oldest = h.pending.values().next()?;
        Some(Stall {
            waiting: oldest.elapsed(),
            last_error: h.last_error.clone(),
            storage: self.inner.store.display().to_string(),
        })
    }

    fn health(&self, f: impl FnOnce(&mut Health)) {
        self.inner.health(f);
    }
}

impl Inner {
    fn health(&self, f: impl FnOnce(&mut Health)) {
        let mut h = self
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut h);
    }

    /// Waits for `shutdown` (never, without one).
    async fn stopping(&self) {
        match &self.shutdown {
            Some(s) => s.clone().wait().await,
            None => std::future::pending().await,
        }
    }

    async fn put_until_stored(
        &self,
        id: u64,
        name: &str,
        body: Arc<Vec<u8>>,
    ) -> Result<(), WriteError> {
        let location = self.store.location_of(name);
        let mut backoff = INITIAL_BACKOFF;
        let mut attempt: u64 = 0;
        let mut last_error = String::from("none");
        loop {
            attempt += 1;
            let started = Instant::now();
            let result = tokio::select! {
                r = self.store.put(name, Arc::clone(&body)) => r,
                () = self.stopping() => {
                    self.health(|h| { h.pending.remove(&id); });
                    return Err(WriteError::Stopped { location, last_error });
                }
            };
            match result {
                Ok(()) => {
                    self.writes.increment(1);
                    self.bytes.increment(body.len() as u64);
                    self.duration.record(started.elapsed().as_secs_f64());
                    self.health(|h| {
                        h.pending.remove(&id);
                        if h.pending.is_empty() {
                            h.last_error = None;
                        }
                    });
                    if attempt > 1 {
                        tracing::info!(%location, attempts = attempt, "claim-check object stored after retries");
                    }
                    return Ok(());
                }
                Err(e) => {
                    self.errors.increment(1);
                    last_error = e.to_string();
                    let hint = if e.is_permission() {
                        "; the credentials lack the permission to write objects there (S3: s3:PutObject; GCS: storage.objects.create; Azure: Storage Blob Data Contributor)"
                    } else {
                        ""
                    };
                    tracing::warn!(
                        %location,
                        storage = %self.store.display(),
                        attempt,
                        retry_in = ?backoff,
                        error = %e,
                        "claim-check object not stored; retrying (the changefeed waits, nothing is dropped){hint}"
                    );
                    let shown = format!("{e}{hint}");
                    self.health(|h| h.last_error = Some(shown));
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = self.stopping() => {
                            self.health(|h| { h.pending.remove(&id); });
                            return Err(WriteError::Stopped { location, last_error });
                        }
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}
