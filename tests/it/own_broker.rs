//! A Kafka broker of a test's own: its own listener ports and run dir, started by the same
//! `scripts/kafka.sh` as the shared one and stopped when dropped. For tests that kill, stop
//! or restart the broker, so the shared broker stays up for every other test.

use std::path::PathBuf;
use std::process::Command;

/// The listener port variables of `scripts/kafka.sh`, in the order of their offsets from a
/// broker's base port.
const PORT_VARS: [&str; 7] = [
    "KAFKA_PLAINTEXT_PORT",
    "KAFKA_CONTROLLER_PORT",
    "KAFKA_SASL_PLAINTEXT_PORT",
    "KAFKA_SSL_PORT",
    "KAFKA_SASL_SSL_PORT",
    "KAFKA_DELAYED_PORT",
    "KAFKA_DELAYED_PROXY_PORT",
];

/// A second broker, stopped when dropped.
pub struct OwnBroker {
    pub dir: PathBuf,
    /// Its PLAINTEXT port; the other listeners take the next six.
    pub base_port: u16,
}

impl OwnBroker {
    /// A broker named `name` (its run dir) on `base_port` and the six ports after it;
    /// not started yet.
    pub fn new(name: &str, base_port: u16) -> OwnBroker {
        OwnBroker {
            dir: std::env::temp_dir().join(format!(
                "tidb-changefeed-kafka-{name}-{}",
                std::process::id()
            )),
            base_port,
        }
    }

    /// Its PLAINTEXT listener, `host:port`.
    pub fn plaintext(&self) -> String {
        format!("127.0.0.1:{}", self.base_port)
    }

    /// Runs `scripts/kafka.sh <cmd>` for this broker; panics with the script's output when it
    /// fails. `keep_data` keeps the log dirs over a restart.
    pub fn run(&self, cmd: &str, keep_data: bool) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka.sh");
        let mut c = Command::new("bash");
        c.arg(script).arg(cmd).env("KAFKA_IT_DIR", &self.dir);
        for (offset, var) in (0u16..).zip(PORT_VARS) {
            c.env(var, (self.base_port + offset).to_string());
        }
        if keep_data {
            c.env("KAFKA_KEEP_DATA", "1");
        }
        let out = c.output().expect("kafka.sh runs");
        assert!(
            out.status.success(),
            "kafka.sh {cmd} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Sends `signal` (`STOP`, `CONT`, `KILL`) to the broker's JVM.
    pub fn signal(&self, signal: &str) {
        let pid = std::fs::read_to_string(self.dir.join("kafka.pid"))
            .unwrap_or_else(|e| panic!("no pid file in {}: {e}", self.dir.display()));
        let st = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.trim())
            .status()
            .expect("kill runs");
        assert!(st.success(), "kill -{signal} {} failed", pid.trim());
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        // A stopped JVM ignores SIGTERM until continued.
        let _ = std::fs::read_to_string(self.dir.join("kafka.pid"))
            .map(|pid| Command::new("kill").args(["-CONT", pid.trim()]).status());
        self.run("stop", false);
    }
}
