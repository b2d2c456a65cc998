//! systemd's service notification protocol (`sd_notify(3)`), written here instead of
//! linking libsystemd: one datagram of `KEY=VALUE` lines sent to the unix socket named by
//! `$NOTIFY_SOCKET` — a path, or an abstract socket name when it starts with `@` (Linux) —
//! and the watchdog period of `$WATCHDOG_USEC`, honoured only when `$WATCHDOG_PID` is unset
//! or names this process (systemd's `sd_watchdog_enabled(3)` rule).
//!
//! Owns the socket and the parsing of those variables. Guarantees: without `$NOTIFY_SOCKET`
//! nothing is ever sent; a send never blocks (a full socket buffer drops the message, as
//! libsystemd's non-blocking send does) and never fails the daemon: errors are returned for
//! the caller to log.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Why the notification socket cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET={0:?} is neither an absolute path nor an abstract name (@…)")]
    Address(String),
    #[error("NOTIFY_SOCKET={addr:?}: {source}")]
    Socket {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot notify systemd through {addr:?}: {source}")]
    Send {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// The service manager's notification socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
    name: String,
}

impl Notifier {
    /// The notifier of `$NOTIFY_SOCKET`, `None` when it is unset or empty (not run by
    /// systemd with `Type=notify`).
    pub fn from_env() -> Result<Option<Notifier>, NotifyError> {
        match std::env::var("NOTIFY_SOCKET") {
            Ok(v) if !v.is_empty() => Notifier::new(&v).map(Some),
            _ => Ok(None),
        }
    }

    /// A notifier sending to `name` (a path, or `@abstract`).
    pub fn new(name: &str) -> Result<Notifier, NotifyError> {
        let addr = socket_addr(name)?;
        let socket = UnixDatagram::unbound()
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(|source| NotifyError::Socket {
                addr: name.to_string(),
                source,
            })?;
        Ok(Notifier {
            socket,
            addr,
            name: name.to_string(),
        })
    }

    /// Sends `message` (newline-separated `KEY=VALUE` assignments) as one datagram.
    pub fn send(&self, message: &str) -> Result<(), NotifyError> {
        self.socket
            .send_to_addr(message.as_bytes(), &self.addr)
            .map(|_| ())
            .map_err(|source| NotifyError::Send {
                addr: self.name.clone(),
                source,
            })
    }
}

/// The address of a `$NOTIFY_SOCKET` value: `/path`, or `@name` for the abstract
/// namespace (the `@` stands for the leading NUL byte).
pub fn socket_addr(name: &str) -> Result<SocketAddr, NotifyError> {
    if let Some(abstract_name) = name.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        return SocketAddr::from_abstract_name(abstract_name.as_bytes()).map_err(|source| {
            NotifyError::Socket {
                addr: name.to_string(),
                source,
            }
        });
    }
    if !name.starts_with('/') {
        return Err(NotifyError::Address(name.to_string()));
    }
    SocketAddr::from_pathname(name).map_err(|source| NotifyError::Socket {
        addr: name.to_string(),
        source,
    })
}

/// The watchdog timeout systemd enforces (`WatchdogSec=`), from `$WATCHDOG_USEC` and
/// `$WATCHDOG_PID`.
pub fn watchdog_from_env() -> Option<Duration> {
    watchdog_timeout(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

/// The watchdog timeout of `usec` when it is a positive integer and `pid` is unset or
/// `my_pid` (the variables may be inherited by a child that must not answer for its parent).
pub fn watchdog_timeout(usec: Option<&str>, pid: Option<&str>, my_pid: u32) -> Option<Duration> {
    if let Some(p) = pid.filter(|p| !p.is_empty())
        && p.trim().parse::<u32>().ok() != Some(my_pid)
    {
        return None;
    }
    let us: u64 = usec?.trim().parse().ok()?;
    (us > 0).then(|| Duration::from_micros(us))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_needs_a_positive_period_and_our_pid() {
        let s = Some;
        assert_eq!(
            watchdog_timeout(s("30000000"), None, 7),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            watchdog_timeout(s("30000000"), s("7"), 7),
            Some(Duration::from_secs(30))
        );
        assert_eq!(watchdog_timeout(s("30000000"), s("8"), 7), None);
        assert_eq!(watchdog_timeout(s("0"), None, 7), None);
        assert_eq!(watchdog_timeout(s("x"), None, 7), None);
        assert_eq!(watchdog_timeout(None, s("7"), 7), None);
    }

    #[test]
    fn path_and_abstract_sockets_receive_datagrams() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("notify");
        let rx = UnixDatagram::bind(&path).expect("bind");
        let n = Notifier::new(path.to_str().expect("utf-8")).expect("notifier");
        n.send("READY=1\nSTATUS=up").expect("send");
        let mut buf = [0u8; 64];
        let got = rx.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..got], b"READY=1\nSTATUS=up");

        use std::os::linux::net::SocketAddrExt;
        let name = format!("tidb-changefeed-test-{}", std::process::id());
        let rx = UnixDatagram::bind_addr(
            &SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract"),
        )
        .expect("bind abstract");
        Notifier::new(&format!("@{name}"))
            .expect("notifier")
            .send("WATCHDOG=1")
            .expect("send");
        let got = rx.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..got], b"WATCHDOG=1");
    }

    #[test]
    fn relative_names_are_refused() {
        assert!(matches!(
            socket_addr("run/notify"),
            Err(NotifyError::Address(_))
        ));
    }
}
