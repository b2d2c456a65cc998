//! A MariaDB server of a test's own: its own port and run dir (data dir, socket), started by
//! the same `scripts/mariadb.sh` as the shared one (same users, same test CA) and stopped when
//! dropped. For tests that stop, SIGSTOP or kill the database, so the shared server stays up.

use std::path::PathBuf;
use std::process::Command;

use super::mariadb_env::mariadb;

/// A private server, started by [`OwnMariadb::new`] and stopped (its dir removed) when dropped.
pub struct OwnMariadb {
    pub dir: PathBuf,
    pub port: u16,
}

impl OwnMariadb {
    /// Starts a server named `name` (its run dir) on `port`; panics with the script's output
    /// when it does not start.
    pub fn new(name: &str, port: u16) -> OwnMariadb {
        let own = OwnMariadb {
            dir: std::env::temp_dir().join(format!(
                "tidb-changefeed-mariadb-{name}-{}",
                std::process::id()
            )),
            port,
        };
        let _ = std::fs::remove_dir_all(&own.dir);
        own.run("start");
        own
    }

    /// `mysql://cdc@127.0.0.1:PORT/tidb_changefeed` (password as the shared server's).
    pub fn url(&self) -> String {
        format!("mysql://cdc@127.0.0.1:{}/tidb_changefeed", self.port)
    }

    /// Runs `scripts/mariadb.sh <cmd>` for this server; panics with its output when it fails.
    pub fn run(&self, cmd: &str) {
        let out = Command::new("bash")
            .arg(&mariadb().script)
            .arg(cmd)
            .env("MARIADB_IT_DIR", &self.dir)
            .env("MARIADB_PORT", self.port.to_string())
            .output()
            .expect("mariadb.sh runs");
        assert!(
            out.status.success(),
            "mariadb.sh {cmd} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Sends `signal` (`STOP`, `CONT`, `KILL`) to the server process.
    pub fn signal(&self, signal: &str) {
        let pid = std::fs::read_to_string(self.dir.join("mariadb.pid"))
            .unwrap_or_else(|e| panic!("no pid file in {}: {e}", self.dir.display()));
        let st = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.trim())
            .status()
            .expect("kill runs");
        assert!(st.success(), "kill -{signal} {} failed", pid.trim());
    }
}

impl Drop for OwnMariadb {
    fn drop(&mut self) {
        // `stop` continues a stopped server before SIGTERM. Never panics: a drop during a
        // test's unwinding must not abort the whole test binary.
        if let Some(script) = super::mariadb_env::script() {
            let _ = Command::new("bash")
                .arg(script)
                .arg("stop")
                .env("MARIADB_IT_DIR", &self.dir)
                .env("MARIADB_PORT", self.port.to_string())
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_server_starts_and_answers() {
    let own = OwnMariadb::new("answers", 23316);
    let cfg = super::mariadb_env::state_config(&own.url(), "own_answers");
    let store = tidb_changefeed::checkpoint::sql::SqlStore::connect(&cfg)
        .await
        .unwrap_or_else(|e| panic!("connect to the private server: {e}"));
    assert_eq!(store.load("cf").await.expect("load"), None);
    assert!(store.describe().contains(":23316/"), "{}", store.describe());
}
