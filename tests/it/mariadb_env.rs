//! The real MariaDB test server that `scripts/mariadb.sh start` runs, found through the
//! variables `scripts/mariadb.sh env` exports (or its env file). A test that needs it and
//! cannot find or reach it fails with the command that starts it; it never skips.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use tidb_changefeed::config::{MysqlStateConfig, Secret};

const HOW: &str =
    "start it with `scripts/mariadb.sh start` (or run the whole suite with `scripts/test`)";

/// Where the test server is and how to log in.
#[derive(Debug, Clone)]
pub struct MariadbEnv {
    /// `mysql://cdc@127.0.0.1:PORT/tidb_changefeed` (ALL on the database).
    pub url: String,
    /// `mysql://cdc_readonly@…` (SELECT only).
    pub readonly_url: String,
    pub password: String,
    /// The test CA that signed the server's certificate, and one that signed nothing.
    pub ca: PathBuf,
    pub wrong_ca: PathBuf,
    pub port: u16,
    /// `scripts/mariadb.sh`, to start private instances.
    pub script: PathBuf,
}

fn read_env_file() -> HashMap<String, String> {
    crate::support::script_env_file("MARIADB_IT_DIR", "/tmp/tidb-changefeed-mariadb")
}

/// `scripts/mariadb.sh`, without checking the server (for clean-ups that must not panic).
pub fn script() -> Option<PathBuf> {
    std::env::var("MARIADB_SCRIPT")
        .ok()
        .or_else(|| read_env_file().get("MARIADB_SCRIPT").cloned())
        .map(PathBuf::from)
}

/// The server's settings; panics with instructions when they are not there or it does not
/// answer.
pub fn mariadb() -> &'static MariadbEnv {
    static ENV: OnceLock<MariadbEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let file = read_env_file();
        let get = |k: &str| -> String {
            std::env::var(k)
                .ok()
                .or_else(|| file.get(k).cloned())
                .unwrap_or_else(|| {
                    panic!("the MariaDB test server is not configured ({k} is unset): {HOW}")
                })
        };
        let port: u16 = get("MARIADB_PORT")
            .parse()
            .unwrap_or_else(|e| panic!("bad MARIADB_PORT: {e}"));
        let env = MariadbEnv {
            url: get("TIDB_CHANGEFEED_MYSQL_URL"),
            readonly_url: get("TIDB_CHANGEFEED_MYSQL_READONLY_URL"),
            password: get("TIDB_CHANGEFEED_MYSQL_PASSWORD"),
            ca: get("TIDB_CHANGEFEED_MYSQL_CA").into(),
            wrong_ca: get("TIDB_CHANGEFEED_MYSQL_WRONG_CA").into(),
            port,
            script: get("MARIADB_SCRIPT").into(),
        };
        if let Err(e) = std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(3),
        ) {
            panic!("the MariaDB test server on 127.0.0.1:{port} does not answer ({e}): {HOW}");
        }
        env
    })
}

/// A `[state.mysql]` for `url` with the test password and the table `table`.
pub fn state_config(url: &str, table: &str) -> MysqlStateConfig {
    let mut c = MysqlStateConfig::new(url);
    c.password = Some(Secret::inline(mariadb().password.clone()));
    c.table = table.to_string();
    c
}

/// Drops `table` and `table_members` as `cdc`, so a test starts from nothing.
pub async fn drop_tables(table: &str) {
    let env = mariadb();
    let opts = mysql_async::Opts::from_url(&env.url.replacen(
        "cdc@",
        &format!("cdc:{}@", env.password),
        1,
    ))
    .unwrap_or_else(|e| panic!("bad TIDB_CHANGEFEED_MYSQL_URL: {e}"));
    let mut conn = mysql_async::Conn::new(opts)
        .await
        .unwrap_or_else(|e| panic!("connect to the MariaDB test server: {e}; {HOW}"));
    use mysql_async::prelude::Queryable;
    conn.query_drop(format!("DROP TABLE IF EXISTS `{table}`, `{table}_members`"))
        .await
        .unwrap_or_else(|e| panic!("drop {table}: {e}"));
    let _ = conn.disconnect().await;
}

/// Runs `sql` as `cdc` on the test server (for tests that reach behind the store's back).
pub async fn exec(sql: &str) {
    let env = mariadb();
    let opts = mysql_async::Opts::from_url(&env.url.replacen(
        "cdc@",
        &format!("cdc:{}@", env.password),
        1,
    ))
    .unwrap_or_else(|e| panic!("bad TIDB_CHANGEFEED_MYSQL_URL: {e}"));
    let mut conn = mysql_async::Conn::new(opts)
        .await
        .unwrap_or_else(|e| panic!("connect to the MariaDB test server: {e}; {HOW}"));
    use mysql_async::prelude::Queryable;
    conn.query_drop(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = conn.disconnect().await;
}
