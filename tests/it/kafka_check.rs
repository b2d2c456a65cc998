//! `check` and `run` against the real broker: `check` reports the login, limits and default
//! topic of each Kafka sink, and names the missing ACL or topic with exit status 1; `run`
//! shows the same error on `/api/v1/status` and `/readyz`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::kafka_env::kafka;
use crate::support::{daemon, daemon_bin, free_port, unique, write_file};

fn config(user: &str, password: &str, topic: &str, extra: &str, listen: u16) -> String {
    config_with_pd("127.0.0.1:2379", user, password, topic, extra, listen)
}

fn config_with_pd(
    pd: &str,
    user: &str,
    password: &str,
    topic: &str,
    extra: &str,
    listen: u16,
) -> String {
    let env = kafka();
    format!(
        r#"[upstream]
pd = ["{pd}"]
[server]
listen = "127.0.0.1:{listen}"
[log]
format = "json"
[[changefeed]]
id = "cf-check"
[changefeed.sink]
protocol = "canal-json"
[changefeed.sink.kafka-config]
brokers = ["{broker}"]
topic = "{topic}"
sasl-mechanism = "scram-sha-512"
sasl-user = "{user}"
sasl-password = "{password}"
{extra}
"#,
        broker = env.sasl_plaintext
    )
}

fn check(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_file(dir.path(), "cf.toml", text);
    let out = daemon(&["check", "--config", path.to_str().expect("utf-8 path")]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// An emulated upstream holding `test.t` (a key) and `test.nokey` (none).
async fn upstream() -> tidb_changefeed_emulator::Emulator {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/plain_dml.toml");
    let mut s = tidb_changefeed_emulator::scenario::Scenario::load(&path).expect("scenario");
    let nokey = s.tables[0]
        .info
        .replace("\"id\":104", "\"id\":105")
        .replace(
            "{\"O\":\"t\",\"L\":\"t\"}",
            "{\"O\":\"nokey\",\"L\":\"nokey\"}",
        )
        .replace("\"Flag\":515", "\"Flag\":0")
        .replace("\"pk_is_handle\":true", "\"pk_is_handle\":false");
    s.tables
        .push(tidb_changefeed_emulator::scenario::TableSpec {
            db: s.tables[0].db,
            info: nokey,
        });
    tidb_changefeed_emulator::runner::start(&s, "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("emulator")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_the_upstream_and_the_sink() {
    let env = kafka();
    let emu = upstream().await;
    let topic = unique("it_check_new");
    let (code, out) = check(&config_with_pd(
        &emu.pd_addr().to_string(),
        &env.admin_user,
        &env.admin_password,
        &topic,
        "",
        8300,
    ));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("upstream: PD leader "), "{out}");
    assert!(out.contains("3 TiKV store(s), GC safepoint"), "{out}");
    assert!(
        out.contains("cf-check: 2 table(s) selected now: `test`.`nokey`, `test`.`t`"),
        "{out}"
    );
    assert!(
        out.contains("cf-check: without a primary key or NOT NULL unique key, replicated with a warning (set force-replicate = false to skip them): `test`.`nokey`"),
        "{out}"
    );
    assert!(
        out.contains("cf-check: kafka login: ok as User:admin"),
        "{out}"
    );
    assert!(out.contains("message.max.bytes = 1048588"), "{out}");
    assert!(
        out.contains(&format!("cf-check: kafka topic {topic}: missing; will be created with 3 partitions, replication factor 1")),
        "{out}"
    );
    assert!(
        out.contains("cf-check: kafka max message size: 1048460 bytes"),
        "{out}"
    );
}

#[test]
fn check_names_an_unreachable_upstream() {
    let env = kafka();
    let (code, out) = check(&config(
        &env.admin_user,
        &env.admin_password,
        &unique("it_check_nopd"),
        "",
        8300,
    ));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("upstream: error: "), "{out}");
    assert!(out.contains("127.0.0.1:2379"), "{out}");
    // The sink is still probed and reported.
    assert!(
        out.contains("cf-check: kafka login: ok as User:admin"),
        "{out}"
    );
}

#[test]
fn check_names_a_missing_acl_and_a_missing_topic() {
    let env = kafka();
    // bob has no ACL at all.
    let (code, out) = check(&config(
        "bob",
        "bob-secret",
        &unique("it_check_bob"),
        "",
        8300,
    ));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("cf-check: error: Kafka denied DescribeConfigs on the cluster for User:bob: grant DescribeConfigs on the Cluster"),
        "{out}"
    );

    let topic = unique("it_check_absent");
    let (code, out) = check(&config(
        &env.admin_user,
        &env.admin_password,
        &topic,
        "auto-create-topic = false",
        8300,
    ));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "cf-check: error: topic {topic} does not exist and auto-create-topic = false"
        )),
        "{out}"
    );

    let (code, out) = check(&config(
        &env.admin_user,
        "wrong",
        &unique("it_check_pw"),
        "",
        8300,
    ));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("Kafka rejected the SASL SCRAM-SHA-512 login of user \"admin\""),
        "{out}"
    );
}

#[test]
fn run_shows_a_denied_sink_on_status_and_readyz() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_file(
        dir.path(),
        "cf.toml",
        &config("bob", "bob-secret", &unique("it_run_bob"), "", port),
    );
    let mut child = Command::new(daemon_bin())
        .args(["run", "--config", path.to_str().expect("utf-8 path")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        let body = crate::cli::http_get(port, "/api/v1/status")
            .ok()
            .map(|(_, b)| b);
        if let Some(b) = body {
            let v: serde_json::Value = serde_json::from_str(&b).expect("JSON status");
            if v["changefeeds"][0]["state"] == "failed" {
                break v;
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the changefeed never reported the denial");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let err = status["changefeeds"][0]["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        err.starts_with("Kafka denied DescribeConfigs on the cluster for User:bob"),
        "{err}"
    );
    let (code, body) = crate::cli::http_get(port, "/readyz").expect("readyz");
    assert_eq!(code, 503);
    assert!(
        body.contains("changefeed cf-check: failed: Kafka denied DescribeConfigs"),
        "{body}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let code = child.wait().expect("wait").code();
    assert_eq!(code, Some(0));
}
