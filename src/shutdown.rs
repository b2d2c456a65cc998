//! One shutdown broadcast for the whole process (a shared leaf: any task may hold a
//! [`Shutdown`], only the runtime fires it).
//!
//! Owns the broadcast; guarantees that every holder, including one subscribed after the
//! fact, sees it fire, and that it never un-fires. Who fires it and when (the first SIGTERM or
//! SIGINT) is the runtime's business (`runtime::signals`).

use tokio::sync::watch;

/// A handle every task holds to learn that shutdown has begun.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// Fires the shutdown broadcast.
#[derive(Debug, Clone)]
pub struct ShutdownTrigger {
    tx: watch::Sender<bool>,
}

/// A new broadcast: the trigger and the first receiver.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger { tx }, Shutdown { rx })
}

impl ShutdownTrigger {
    pub fn fire(&self) {
        self.tx.send_replace(true);
    }

    pub fn subscribe(&self) -> Shutdown {
        Shutdown {
            rx: self.tx.subscribe(),
        }
    }
}

impl Shutdown {
    /// Whether shutdown has begun.
    pub fn is_fired(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once shutdown has begun (at once if it already has).
    pub async fn wait(mut self) {
        // An error means every trigger is gone, which only happens when the process ends.
        let _ = self.rx.wait_for(|fired| *fired).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_holder_sees_the_broadcast() {
        let (trigger, a) = channel();
        let b = trigger.subscribe();
        assert!(!a.is_fired());
        let waiter = tokio::spawn(b.wait());
        trigger.fire();
        waiter.await.expect("waiter finished");
        assert!(a.is_fired());
        // A handle taken after the fact resolves at once.
        trigger.subscribe().wait().await;
    }
}
