//! SIGTERM and SIGINT: the first fires the process's [`Shutdown`](crate::shutdown::Shutdown)
//! broadcast and every task drains; a second signal exits at once (systemd and Kubernetes may
//! both send one), without saving anything further: at-least-once delivery makes the resend
//! safe.

use crate::shutdown::ShutdownTrigger;

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
