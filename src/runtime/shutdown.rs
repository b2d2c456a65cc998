//! One shutdown broadcast for the whole process. The first SIGTERM or SIGINT fires it and
//! every task drains; a second signal exits at once (systemd and Kubernetes may both send
//! one), without saving anything further: at-least-once delivery makes the resend safe.

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

/// Listens for SIGTERM and SIGINT: the first fires `trigger`, the second exits the process
/// with status 1.
pub fn spawn_signal_listener(trigger: ShutdownTrigger) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(
            signal = name,
            "graceful shutdown started; send the signal again to exit at once"
        );
        trigger.fire();
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::warn!(signal = name, "second signal: exiting now without draining");
        std::process::exit(1);
    });
    Ok(())
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
