//! The write fence of a leased changefeed (a shared leaf: the runtime extends it, the Kafka
//! writers and the checkpoint store consult it).
//!
//! With the SQL state store a changefeed is owned through a lease that the owner renews.
//! The owner must stop writing **before** another daemon could take the lease over, so
//! every produce request and every checkpoint save first asks the fence. The runtime
//! extends the fence after each successful renewal to `sent + ttl / 2` (`sent` is when the
//! renewal was *sent*, on this process's monotonic clock, so a slow answer never extends
//! it further than the store's lease can reach), and revokes it for good when the lease is
//! lost or released.
//!
//! Guarantees: [`Fence::check`] answers from one atomic load, without a lock; once
//! revoked a fence never opens again (a new lease gets a new fence); a fence only moves
//! its deadline forward; the monotonic clock keeps running while the process is stopped
//! (SIGSTOP), so a process resumed after its lease ended finds its fence closed before it
//! sends anything. A changefeed without a lease (the file store) has an unbounded fence
//! that always allows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Deadline value of a revoked fence.
const REVOKED: u64 = u64::MAX;

/// Why a write was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fenced {
    #[error(
        "the lease of changefeed {changefeed} (epoch {epoch}) was not renewed in time: writes stopped {late_ms} ms ago so another daemon can take it over safely"
    )]
    Expired {
        changefeed: String,
        epoch: u64,
        late_ms: u64,
    },
    #[error("changefeed {changefeed} (epoch {epoch}) is no longer owned by this daemon: {why}")]
    Revoked {
        changefeed: String,
        epoch: u64,
        why: String,
    },
}

#[derive(Debug)]
struct Inner {
    changefeed: String,
    epoch: u64,
    anchor: Instant,
    /// Microseconds after `anchor` until which writes are allowed; `REVOKED` when revoked.
    deadline_us: AtomicU64,
    why: std::sync::Mutex<String>,
}

/// A cheap, shareable write permission. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct Fence {
    inner: Option<Arc<Inner>>,
}

impl Fence {
    /// A fence that always allows (no lease: the file store).
    pub fn unbounded() -> Self {
        Fence { inner: None }
    }

    /// A closed fence for lease `epoch` of `changefeed`; [`Fence::extend_until`] opens it.
    pub fn leased(changefeed: &str, epoch: u64) -> Self {
        Fence {
            inner: Some(Arc::new(Inner {
                changefeed: changefeed.to_string(),
                epoch,
                anchor: Instant::now(),
                deadline_us: AtomicU64::new(0),
                why: std::sync::Mutex::new(String::new()),
            })),
        }
    }

    /// Whether this fence belongs to a lease.
    pub fn is_leased(&self) -> bool {
        self.inner.is_some()
    }

    /// Allows writes until `until` (never moves the deadline back; no effect once revoked).
    pub fn extend_until(&self, until: Instant) {
        let Some(i) = &self.inner else { return };
        let us = micros(until.saturating_duration_since(i.anchor));
        let _ = i
            .deadline_us
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur != REVOKED && us > cur).then_some(us)
            });
    }

    /// Closes the fence for good.
    pub fn revoke(&self, why: &str) {
        let Some(i) = &self.inner else { return };
        if let Ok(mut w) = i.why.lock()
            && w.is_empty()
        {
            *w = why.to_string();
        }
        i.deadline_us.store(REVOKED, Ordering::Release);
    }

    /// Whether a write may start now.
    pub fn check(&self) -> Result<(), Fenced> {
        let Some(i) = &self.inner else { return Ok(()) };
        let deadline = i.deadline_us.load(Ordering::Acquire);
        if deadline == REVOKED {
            let why = i.why.lock().map(|w| w.clone()).unwrap_or_default();
            return Err(Fenced::Revoked {
                changefeed: i.changefeed.clone(),
                epoch: i.epoch,
                why,
            });
        }
        let now = micros(i.anchor.elapsed());
        if now < deadline {
            Ok(())
        } else {
            Err(Fenced::Expired {
                changefeed: i.changefeed.clone(),
                epoch: i.epoch,
                late_ms: (now - deadline) / 1000,
            })
        }
    }

    /// How long writes stay allowed without another extension (`None`: unbounded; zero when
    /// closed).
    pub fn remaining(&self) -> Option<Duration> {
        let i = self.inner.as_ref()?;
        let deadline = i.deadline_us.load(Ordering::Acquire);
        if deadline == REVOKED {
            return Some(Duration::ZERO);
        }
        let now = micros(i.anchor.elapsed());
        Some(Duration::from_micros(deadline.saturating_sub(now)))
    }
}

impl Fence {
    /// Resolves once the fence is closed (never for an unbounded one), with why.
    pub async fn closed(&self) -> Fenced {
        if self.inner.is_none() {
            return std::future::pending().await;
        }
        loop {
            if let Err(f) = self.check() {
                return f;
            }
            let wait = self
                .remaining()
                .unwrap_or(Duration::from_secs(1))
                .clamp(Duration::from_millis(1), Duration::from_millis(100));
            tokio::time::sleep(wait).await;
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(REVOKED - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unbounded_always_allows() {
        let f = Fence::unbounded();
        f.revoke("ignored");
        assert!(f.check().is_ok());
        assert_eq!(f.remaining(), None);
    }

    #[test]
    fn leased_opens_on_extension_and_closes_at_its_deadline() {
        let f = Fence::leased("cf", 3);
        assert!(
            matches!(f.check(), Err(Fenced::Expired { epoch: 3, .. })),
            "closed until extended"
        );
        f.extend_until(Instant::now() + Duration::from_secs(60));
        assert!(f.check().is_ok());
        // Never backwards.
        f.extend_until(Instant::now());
        assert!(f.check().is_ok());
        let g = Fence::leased("cf", 4);
        g.extend_until(Instant::now() + Duration::from_millis(20));
        std::thread::sleep(Duration::from_millis(40));
        let e = g.check().expect_err("deadline passed");
        assert!(e.to_string().contains("not renewed in time"), "{e}");
    }

    #[test]
    fn revoked_stays_closed() {
        let f = Fence::leased("cf", 1);
        let clone = f.clone();
        f.extend_until(Instant::now() + Duration::from_secs(60));
        f.revoke("another daemon took it over (epoch 2)");
        f.extend_until(Instant::now() + Duration::from_secs(120));
        let e = clone.check().expect_err("revoked");
        assert!(e.to_string().contains("epoch 2"), "{e}");
        assert_eq!(clone.remaining(), Some(Duration::ZERO));
    }
}
