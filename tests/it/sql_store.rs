//! The SQL checkpoint and lease store against the real MariaDB test server
//! (`scripts/mariadb.sh`): schema creation and version refusal, checkpoints, acquisition races,
//! fencing, overwrite, release, margins, membership, grants, TLS and timeouts. Each test works
//! on a table of its own.

use std::time::{Duration, Instant};

use tidb_changefeed::checkpoint::sql::{Lease, SqlStore, StoreError};

use super::mariadb_env::{drop_tables, exec, mariadb, state_config};

const TTL: Duration = Duration::from_secs(10);
const NO_MARGIN: Duration = Duration::ZERO;

/// A store on a fresh table `name`.
async fn fresh(name: &str) -> SqlStore {
    drop_tables(name).await;
    SqlStore::connect(&state_config(&mariadb().url, name))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

async fn acquire(s: &SqlStore, cf: &str, owner: &str) -> Lease {
    s.try_acquire(cf, owner, TTL, NO_MARGIN, "fp-1")
        .await
        .unwrap_or_else(|e| panic!("try_acquire: {e}"))
        .unwrap_or_else(|| panic!("{owner} could not acquire {cf}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_its_tables_and_refuses_a_newer_schema() {
    let t = "sqlstore_schema";
    let s = fresh(t).await;
    assert!(
        s.describe().starts_with("mysql://cdc@127.0.0.1:")
            && s.describe()
                .ends_with(&format!("/tidb_changefeed, table {t}")),
        "{}",
        s.describe()
    );
    assert!(!s.describe().contains(&mariadb().password));
    assert_eq!(s.leases().await.expect("leases"), vec![]);
    assert_eq!(s.members().await.expect("members"), vec![]);
    // Connecting again to existing tables is fine.
    SqlStore::connect(&state_config(&mariadb().url, t))
        .await
        .expect("reconnect");
    // A newer daemon's table is refused, and left as it is.
    exec(&format!(
        "UPDATE `{t}` SET schema_version = 3 WHERE changefeed = '' AND span = ''"
    ))
    .await;
    let e = SqlStore::connect(&state_config(&mariadb().url, t))
        .await
        .expect_err("newer schema");
    assert!(matches!(e, StoreError::Schema { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("newer") && text.contains("schema version 3") && text.contains(t),
        "{text}"
    );
    assert!(!e.is_retryable());
    // A foreign table of that name is refused too.
    let foreign = "sqlstore_foreign";
    drop_tables(foreign).await;
    exec(&format!("CREATE TABLE `{foreign}` (id INT PRIMARY KEY)")).await;
    let e = SqlStore::connect(&state_config(&mariadb().url, foreign))
        .await
        .expect_err("foreign table");
    assert!(
        matches!(e, StoreError::Schema { .. }) && e.to_string().contains("not a tidb-changefeed"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saves_and_loads_a_checkpoint_that_never_goes_back() {
    let s = fresh("sqlstore_load_save").await;
    assert_eq!(s.load("cf").await.expect("load"), None);
    let lease = acquire(&s, "cf", "daemon-a").await;
    assert_eq!(lease.epoch, 1);
    assert_eq!(lease.checkpoint_ts, None);
    assert_eq!(lease.previous_fingerprint, None);
    assert!(s.save(&lease, 100, TTL).await.expect("save"));
    assert_eq!(s.load("cf").await.expect("load"), Some(100));
    // Saving the same ts again still matches (CLIENT_FOUND_ROWS), and a lower one is ignored.
    assert!(s.save(&lease, 100, TTL).await.expect("save same"));
    assert!(s.save(&lease, 90, TTL).await.expect("save lower"));
    assert_eq!(s.load("cf").await.expect("load"), Some(100));
    assert!(s.renew(&lease, TTL).await.expect("renew"));
    assert!(s.renew(&lease, TTL).await.expect("renew twice"));
    let rows = s.leases().await.expect("leases");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(
        (
            r.changefeed.as_str(),
            r.owner.as_deref(),
            r.epoch,
            r.checkpoint_ts,
            r.fingerprint.as_deref()
        ),
        ("cf", Some("daemon-a"), 1, Some(100), Some("fp-1"))
    );
    assert!(
        r.lease_remaining_ms > 8_000 && r.lease_remaining_ms <= 10_000,
        "{r:?}"
    );
    // A second acquirer sees the stored checkpoint and fingerprint once it may take over.
    assert!(s.release(&lease).await.expect("release"));
    let next = s
        .try_acquire("cf", "daemon-b", TTL, NO_MARGIN, "fp-2")
        .await
        .expect("try_acquire")
        .expect("released: free");
    assert_eq!(next.epoch, 2);
    assert_eq!(next.checkpoint_ts, Some(100));
    assert_eq!(next.previous_fingerprint.as_deref(), Some("fp-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_concurrent_acquirers_exactly_one_wins() {
    let t = "sqlstore_race";
    fresh(t).await;
    // Several rounds, each on a changefeed whose row does not exist yet (the racier case)
    // and on one that exists but is released.
    for round in 0..5 {
        let cf = format!("cf-{round}");
        let mut tasks = Vec::new();
        for i in 0..4 {
            let cf = cf.clone();
            tasks.push(tokio::spawn(async move {
                // Separate pools: separate daemons.
                let s = SqlStore::connect(&state_config(&mariadb().url, t))
                    .await
                    .unwrap_or_else(|e| panic!("connect: {e}"));
                let owner = format!("daemon-{i}");
                s.try_acquire(&cf, &owner, TTL, NO_MARGIN, "fp")
                    .await
                    .unwrap_or_else(|e| panic!("{owner}: {e}"))
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            if let Some(lease) = task.await.expect("task") {
                winners.push(lease);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        assert_eq!(winners[0].epoch, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_owner_is_fenced_out() {
    let s = fresh("sqlstore_fenced").await;
    let short = Duration::from_millis(300);
    let old = s
        .try_acquire("cf", "old", short, NO_MARGIN, "fp")
        .await
        .expect("try_acquire")
        .expect("free");
    assert!(s.save(&old, 50, short).await.expect("save"));
    // While the lease runs, nobody else gets it.
    assert_eq!(
        s.try_acquire("cf", "new", TTL, NO_MARGIN, "fp")
            .await
            .expect("try_acquire"),
        None
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let new = acquire(&s, "cf", "new").await;
    assert_eq!(new.epoch, old.epoch + 1);
    assert_eq!(new.checkpoint_ts, Some(50));
    let before = s.leases().await.expect("leases");
    // The old owner's writes match nothing and change nothing.
    assert!(!s.save(&old, 999, TTL).await.expect("fenced save"));
    assert!(!s.renew(&old, TTL).await.expect("fenced renew"));
    assert!(!s.release(&old).await.expect("fenced release"));
    assert_eq!(s.load("cf").await.expect("load"), Some(50));
    let after = s.leases().await.expect("leases");
    assert_eq!(
        (
            after[0].owner.clone(),
            after[0].epoch,
            after[0].checkpoint_ts
        ),
        (
            before[0].owner.clone(),
            before[0].epoch,
            before[0].checkpoint_ts
        )
    );
    assert!(s.save(&new, 60, TTL).await.expect("owner saves"));
    assert_eq!(s.load("cf").await.expect("load"), Some(60));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrite_fences_the_running_owner() {
    let s = fresh("sqlstore_overwrite").await;
    let owner = acquire(&s, "cf", "daemon-a").await;
    assert!(s.save(&owner, 500, TTL).await.expect("save"));
    // The operator moves the checkpoint back.
    s.overwrite("cf", 200).await.expect("overwrite");
    assert_eq!(s.load("cf").await.expect("load"), Some(200));
    assert!(!s.renew(&owner, TTL).await.expect("renew after overwrite"));
    assert!(
        !s.save(&owner, 600, TTL)
            .await
            .expect("save after overwrite")
    );
    assert_eq!(s.load("cf").await.expect("load"), Some(200));
    // The old lease still blocks others until it ends (plus the margin).
    assert_eq!(
        s.try_acquire("cf", "daemon-b", TTL, NO_MARGIN, "fp")
            .await
            .expect("try_acquire"),
        None
    );
    // Overwrite also creates the row of a changefeed that has none.
    s.overwrite("fresh-cf", 77).await.expect("overwrite new");
    assert_eq!(s.load("fresh-cf").await.expect("load"), Some(77));
    let lease = acquire(&s, "fresh-cf", "daemon-b").await;
    assert_eq!(lease.checkpoint_ts, Some(77));
    assert_eq!(lease.epoch, 2, "overwrite bumped the epoch once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_lets_another_daemon_acquire_at_once() {
    let s = fresh("sqlstore_release").await;
    let a = acquire(&s, "cf", "daemon-a").await;
    assert_eq!(
        s.try_acquire("cf", "daemon-b", TTL, Duration::from_secs(60), "fp")
            .await
            .expect("try_acquire"),
        None,
        "held"
    );
    assert!(s.release(&a).await.expect("release"));
    // Released: free at once, whatever the margin.
    let b = s
        .try_acquire("cf", "daemon-b", TTL, Duration::from_secs(60), "fp")
        .await
        .expect("try_acquire")
        .expect("released lease is free");
    assert_eq!(b.epoch, a.epoch + 1);
    let rows = s.leases().await.expect("leases");
    assert_eq!(rows[0].owner.as_deref(), Some("daemon-b"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_margin_is_respected_on_the_database_clock() {
    let s = fresh("sqlstore_margin").await;
    let ttl = Duration::from_millis(200);
    let margin = Duration::from_millis(1500);
    let a = s
        .try_acquire("cf", "daemon-a", ttl, NO_MARGIN, "fp")
        .await
        .expect("try_acquire")
        .expect("free");
    let start = Instant::now();
    tokio::time::sleep(Duration::from_millis(600)).await;
    // The lease ended ~400 ms ago: not yet `margin` ago.
    assert_eq!(
        s.try_acquire("cf", "daemon-b", TTL, margin, "fp")
            .await
            .expect("try_acquire"),
        None
    );
    let rows = s.leases().await.expect("leases");
    assert!(rows[0].lease_remaining_ms < 0, "{rows:?}");
    // Poll until it is free; it must not be before ttl + margin.
    let b = loop {
        if let Some(l) = s
            .try_acquire("cf", "daemon-b", TTL, margin, "fp")
            .await
            .expect("try_acquire")
        {
            break l;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "never free");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        start.elapsed() >= ttl + margin - Duration::from_millis(250),
        "acquired after {:?}",
        start.elapsed()
    );
    assert_eq!(b.epoch, a.epoch + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_heartbeat_and_expire() {
    let s = fresh("sqlstore_members").await;
    s.heartbeat("daemon-a", "http://10.0.0.1:8300", TTL)
        .await
        .expect("heartbeat a");
    s.heartbeat(
        "daemon-b",
        "http://10.0.0.2:8300",
        Duration::from_millis(300),
    )
    .await
    .expect("heartbeat b");
    let m = s.members().await.expect("members");
    assert_eq!(
        m.iter()
            .map(|r| (r.id.as_str(), r.status_url.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("daemon-a", "http://10.0.0.1:8300"),
            ("daemon-b", "http://10.0.0.2:8300")
        ]
    );
    assert!(m[0].lease_remaining_ms > 8_000, "{m:?}");
    // A heartbeat refreshes the URL and the lease.
    s.heartbeat("daemon-a", "http://10.0.0.9:8300", TTL)
        .await
        .expect("heartbeat a again");
    // b stops heartbeating: gone after its TTL.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = s.members().await.expect("members");
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(
        (m[0].id.as_str(), m[0].status_url.as_str()),
        ("daemon-a", "http://10.0.0.9:8300")
    );
    s.leave("daemon-a").await.expect("leave");
    assert_eq!(s.members().await.expect("members"), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_are_proved_and_a_missing_one_is_named() {
    let t = "sqlstore_grants";
    let s = fresh(t).await;
    let proved = s.check_grants().await.expect("cdc has every privilege");
    for needle in [
        format!("SELECT on tidb_changefeed.{t}"),
        format!("INSERT on tidb_changefeed.{t}"),
        format!("UPDATE on tidb_changefeed.{t}"),
        format!("DELETE on tidb_changefeed.{t}_members"),
    ] {
        assert!(proved.contains(&needle), "{needle} not in {proved:?}");
    }
    // The probes were rolled back.
    assert_eq!(s.leases().await.expect("leases"), vec![]);
    assert_eq!(s.members().await.expect("members"), vec![]);

    // A read-only account reads, but is named the GRANT it lacks.
    let ro = SqlStore::connect(&state_config(&mariadb().readonly_url, t))
        .await
        .expect("readonly connects to existing tables");
    assert_eq!(ro.load("cf").await.expect("readonly load"), None);
    let e = ro.check_grants().await.expect_err("readonly");
    assert!(e.is_denied(), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            "GRANT INSERT, UPDATE ON tidb_changefeed.{t} TO 'cdc_readonly'@'%'"
        )),
        "{text}"
    );
    // Its writes are refused with the privilege named.
    let e = ro
        .try_acquire("cf", "ro", TTL, NO_MARGIN, "fp")
        .await
        .expect_err("readonly acquire");
    assert!(
        e.is_denied() && e.to_string().contains("GRANT INSERT ON"),
        "{e}"
    );
    // A read-only account cannot create missing tables, and is told CREATE.
    drop_tables("sqlstore_grants_absent").await;
    let e = SqlStore::connect(&state_config(
        &mariadb().readonly_url,
        "sqlstore_grants_absent",
    ))
    .await
    .expect_err("readonly cannot create");
    assert!(
        e.to_string().contains(
            "GRANT CREATE ON tidb_changefeed.sqlstore_grants_absent TO 'cdc_readonly'@'%'"
        ),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_verified_with_the_test_ca() {
    tidb_changefeed::runtime::install_crypto_provider();
    let t = "sqlstore_tls";
    drop_tables(t).await;
    let mut cfg = state_config(&mariadb().url, t);
    cfg.tls = Some(tidb_changefeed::config::UpstreamTls {
        ca: mariadb().ca.clone(),
        cert: None,
        key: None,
    });
    let s = SqlStore::connect(&cfg)
        .await
        .unwrap_or_else(|e| panic!("TLS connect: {e}"));
    let lease = acquire(&s, "cf", "tls").await;
    assert!(s.save(&lease, 5, TTL).await.expect("save over TLS"));
    // The session really is encrypted: the server says so.
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(mariadb().port)
        .user(Some("cdc"))
        .pass(Some(mariadb().password.clone()))
        .prefer_socket(false)
        .ssl_opts(Some(
            mysql_async::SslOpts::default()
                .with_root_certs(vec![mariadb().ca.clone().into()])
                .with_disable_built_in_roots(true),
        ));
    let mut conn = mysql_async::Conn::new(opts).await.expect("tls conn");
    use mysql_async::prelude::Queryable;
    let cipher: Option<(String, String)> = conn
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .await
        .expect("status");
    assert!(
        cipher.as_ref().is_some_and(|(_, c)| !c.is_empty()),
        "{cipher:?}"
    );
    let _ = conn.disconnect().await;

    // A CA that did not sign the server's certificate is refused, clearly.
    cfg.tls = Some(tidb_changefeed::config::UpstreamTls {
        ca: mariadb().wrong_ca.clone(),
        cert: None,
        key: None,
    });
    let e = SqlStore::connect(&cfg).await.expect_err("wrong CA");
    assert!(matches!(e, StoreError::Tls { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("TLS failed") && text.contains("ca"), "{text}");
    assert!(!text.contains(&mariadb().password), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_times_out_within_the_bound() {
    let own = super::own_mariadb::OwnMariadb::new("sigstop", 23326);
    let mut cfg = state_config(&own.url(), "sqlstore_timeout");
    cfg.query_timeout = tidb_changefeed::config::HumanDuration::parse("1s").expect("1s");
    cfg.connect_timeout = tidb_changefeed::config::HumanDuration::parse("1s").expect("1s");
    let s = SqlStore::connect(&cfg).await.expect("connect");
    let lease = acquire(&s, "cf", "daemon-a").await;
    own.signal("STOP");
    let bound = Duration::from_secs(2) + Duration::from_millis(500);
    for op in ["save", "renew", "acquire"] {
        let t0 = Instant::now();
        let r = match op {
            "save" => s.save(&lease, 10, TTL).await.map(|_| ()),
            "renew" => s.renew(&lease, TTL).await.map(|_| ()),
            _ => s
                .try_acquire("cf", "daemon-b", TTL, NO_MARGIN, "fp")
                .await
                .map(|_| ()),
        };
        let e = r.expect_err("a stopped server cannot answer");
        assert!(
            matches!(e, StoreError::Timeout { .. }) && e.is_retryable(),
            "{op}: {e:?}"
        );
        assert!(t0.elapsed() < bound, "{op} took {:?}", t0.elapsed());
    }
    // New connections time out too (the pool's connection may have been dropped).
    let t0 = Instant::now();
    let e = SqlStore::connect(&cfg)
        .await
        .expect_err("no connection to a stopped server");
    assert!(matches!(e, StoreError::Timeout { .. }), "{e:?}");
    assert!(t0.elapsed() < bound, "connect took {:?}", t0.elapsed());
    // Continued, it answers again and the lease is still ours.
    own.signal("CONT");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match s.renew(&lease, TTL).await {
            Ok(true) => break,
            Ok(false) => panic!("lease lost"),
            Err(e) if e.is_retryable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("after SIGCONT: {e}"),
        }
    }
}

#[test]
fn check_reports_the_sql_store() {
    use crate::support::write_file;
    let t = "sqlstore_check";
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let env = mariadb();
    rt.block_on(async {
        let s = fresh(t).await;
        let l = acquire(&s, "cf-sql", "daemon-x").await;
        assert!(s.save(&l, 4242, TTL).await.expect("save"));
    });
    let emu = rt.block_on(async {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/scenarios/plain_dml.toml");
        let s = tidb_changefeed_emulator::scenario::Scenario::load(&path).expect("scenario");
        tidb_changefeed_emulator::runner::start(&s, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("emulator")
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let config = |url: &str, tls: &str| {
        format!(
            r#"[upstream]
pd = ["{pd}"]
[state]
store = "mysql"
[state.mysql]
dsn = "{url}"
password = {{ env = "TIDB_CHANGEFEED_MYSQL_PASSWORD" }}
table = "{t}"
{tls}
[[changefeed]]
id = "cf-sql"
[changefeed.sink]
type = "stdout"
protocol = "canal-json"
"#,
            pd = emu.pd_addr()
        )
    };
    let run = |text: &str| {
        let path = write_file(dir.path(), "cf.toml", text);
        let out = std::process::Command::new(crate::support::daemon_bin())
            .args(["check", "--config", path.to_str().expect("utf-8 path")])
            .env("TIDB_CHANGEFEED_MYSQL_PASSWORD", &env.password)
            .output()
            .expect("run check");
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let tls = format!("[state.mysql.tls]\nca = \"{}\"", env.ca.display());
    let (code, out) = run(&config(&env.url, &tls));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("state: mysql mysql://cdc@"), "{out}");
    assert!(
        out.contains("!tidb_changefeed.*"),
        "the store's schema is filtered out: {out}"
    );
    assert!(
        out.contains("password *** (from env TIDB_CHANGEFEED_MYSQL_PASSWORD)"),
        "{out}"
    );
    assert!(!out.contains(&env.password), "{out}");
    assert!(
        out.contains("state store: connected to mysql://cdc@127.0.0.1:"),
        "{out}"
    );
    assert!(out.contains("TLS verified"), "{out}");
    assert!(
        out.contains(&format!("state store: UPDATE on tidb_changefeed.{t}")),
        "{out}"
    );
    assert!(
        out.contains("cf-sql: state store: checkpoint 4242, owned by daemon-x (lease ends in"),
        "{out}"
    );
    // The read-only account: named GRANT, exit status 1.
    let (code, out) = run(&config(&env.readonly_url, ""));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "state store: error: SQL store mysql://cdc_readonly@127.0.0.1:{}/tidb_changefeed, table {t}: INSERT, UPDATE denied on tidb_changefeed.{t}: grant it with `GRANT INSERT, UPDATE ON tidb_changefeed.{t} TO 'cdc_readonly'@'%'`",
            env.port
        )),
        "{out}"
    );
    // Nothing listens: unreachable, named.
    let (code, out) = run(&config("mysql://cdc@127.0.0.1:1/tidb_changefeed", ""));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("state store: error: SQL store mysql://cdc@127.0.0.1:1/tidb_changefeed")
            && out.contains("unreachable"),
        "{out}"
    );
    // The operator's overwrite goes to the table and fences the owner.
    let path = write_file(dir.path(), "cf.toml", &config(&env.url, ""));
    let out = std::process::Command::new(crate::support::daemon_bin())
        .args([
            "checkpoint",
            "--config",
            path.to_str().expect("utf-8 path"),
            "--changefeed",
            "cf-sql",
            "--overwrite-checkpoint-ts",
            "4000",
        ])
        .env("TIDB_CHANGEFEED_MYSQL_PASSWORD", &env.password)
        .output()
        .expect("run checkpoint");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("cf-sql: checkpoint set to 4000") && text.contains("was 4242"),
        "{text}"
    );
    rt.block_on(async {
        let s = SqlStore::connect(&state_config(&env.url, t))
            .await
            .expect("connect");
        assert_eq!(s.load("cf-sql").await.expect("load"), Some(4000));
        assert_eq!(s.leases().await.expect("leases")[0].epoch, 2);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_table_is_upgraded_in_place_and_keeps_its_rows() {
    let t = "sqlstore_upgrade_v1";
    drop_tables(t).await;
    // The table as version 1 made it, with a changefeed's checkpoint.
    exec(&format!(
        "CREATE TABLE `{t}` (
            changefeed VARCHAR(128) NOT NULL,
            span VARCHAR(255) NOT NULL DEFAULT '',
            schema_version INT UNSIGNED NOT NULL,
            checkpoint_ts BIGINT UNSIGNED NULL,
            fingerprint VARCHAR(255) NULL,
            owner VARCHAR(255) NULL,
            epoch BIGINT UNSIGNED NOT NULL DEFAULT 0,
            lease_until DATETIME(6) NOT NULL,
            updated_at DATETIME(6) NOT NULL,
            PRIMARY KEY (changefeed, span)
        )"
    ))
    .await;
    exec(&format!(
        "INSERT INTO `{t}` (changefeed, span, schema_version, checkpoint_ts, epoch, lease_until, updated_at)
         VALUES ('', '', 1, NULL, 0, NOW(6), NOW(6)), ('cf', '', 1, 449000000000000000, 3, NOW(6), NOW(6))"
    ))
    .await;
    // An account without ALTER is told which GRANT to run, and nothing changes.
    let e = SqlStore::connect(&state_config(&mariadb().readonly_url, t))
        .await
        .expect_err("no ALTER privilege");
    assert!(
        e.to_string().contains("ALTER") && e.to_string().contains("GRANT"),
        "{e}"
    );
    let s = SqlStore::connect(&state_config(&mariadb().url, t))
        .await
        .unwrap_or_else(|e| panic!("upgrade: {e}"));
    let v = s.admin_view("cf").await.expect("admin view");
    assert_eq!(v.admin, tidb_changefeed::checkpoint::AdminState::Normal);
    assert_eq!(v.checkpoint_ts, Some(449_000_000_000_000_000));
    let rows = s.leases().await.expect("leases");
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].epoch, rows[0].applied), (3, None));
    // Connecting again finds version 2.
    SqlStore::connect(&state_config(&mariadb().url, t))
        .await
        .expect("reconnect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_requests_leave_the_lease_alone_and_only_the_owner_records_them() {
    use tidb_changefeed::checkpoint::AdminState;
    let t = "sqlstore_admin";
    let s = fresh(t).await;
    let lease = acquire(&s, "cf", "a").await;
    assert!(s.save(&lease, 500, TTL).await.expect("save"));
    // Any daemon stores a request; it neither fences the owner nor moves the checkpoint.
    s.set_admin("cf", AdminState::Paused).await.expect("pause");
    let v = s.admin_view("cf").await.expect("view");
    assert_eq!(
        (v.admin, v.applied, v.checkpoint_ts),
        (AdminState::Paused, None, Some(500))
    );
    assert!(s.renew(&lease, TTL).await.expect("renew"), "still owned");
    assert!(
        s.set_applied(&lease, AdminState::Paused)
            .await
            .expect("applied")
    );
    let row = s.leases().await.expect("leases").remove(0);
    assert_eq!(
        (row.admin, row.applied),
        (AdminState::Paused, Some(AdminState::Paused))
    );
    // A deposed owner records nothing.
    let stale = Lease {
        epoch: lease.epoch - 1,
        ..lease.clone()
    };
    assert!(
        !s.set_applied(&stale, AdminState::Normal)
            .await
            .expect("fenced")
    );
    assert!(!s.clear_checkpoint(&stale).await.expect("fenced"));
    // The removal: the owner drops the checkpoint, the tombstone stays.
    s.set_admin("cf", AdminState::Removed)
        .await
        .expect("remove");
    assert!(s.clear_checkpoint(&lease).await.expect("clear"));
    let v = s.admin_view("cf").await.expect("view");
    assert_eq!(
        (v.admin, v.applied, v.checkpoint_ts),
        (AdminState::Removed, Some(AdminState::Removed), None)
    );
    // The operator's overwrite re-creates a removed changefeed.
    s.overwrite("cf", 700).await.expect("overwrite");
    let v = s.admin_view("cf").await.expect("view");
    assert_eq!((v.admin, v.checkpoint_ts), (AdminState::Normal, Some(700)));
    // A changefeed without a row reads as normal.
    let v = s.admin_view("nobody").await.expect("view");
    assert_eq!((v.admin, v.checkpoint_ts), (AdminState::Normal, None));
}
