//! `tidb-changefeed import-ticdc` on TiCDC's own documentation examples, used verbatim (each
//! cited by repository, commit, file and line): the printed TOML is loaded with the real
//! configuration loader (in process, and by `check --offline` where a secret comes from the
//! environment) and carries the expected values; every TiCDC setting that is not carried
//! over is named with its reason on stderr and in the file's comments; a URI that is not a
//! Kafka sink exits 2.

use std::path::Path;
use std::process::{Command, Output};

use tidb_changefeed::config::{self, Compression, Config, Protocol, StartPosition};

use crate::support::{daemon, daemon_bin, write_file};

/// pingcap/docs-cn ae9ab0fd89873986fabc4c8873d77d46ba76f066, ticdc/ticdc-sink-to-kafka.md:17.
const DOCS_URI_THREE_BROKERS: &str = "kafka://127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094/topic-name?protocol=canal-json&kafka-version=2.4.0&partition-num=6&max-message-bytes=67108864&replication-factor=1";
/// Same file, line 66.
const DOCS_URI: &str = "kafka://127.0.0.1:9092/topic-name?protocol=canal-json&kafka-version=2.4.0&partition-num=6&max-message-bytes=67108864&replication-factor=1";
/// Same file, line 128 (SASL/PLAIN).
const DOCS_URI_SASL_PLAIN: &str = "kafka://127.0.0.1:9092/topic-name?kafka-version=2.4.0&sasl-user=alice-user&sasl-password=alice-secret&sasl-mechanism=plain";
/// Same file, line 140 (SASL/GSSAPI user authentication).
const DOCS_URI_GSSAPI: &str = "kafka://127.0.0.1:9092/topic-name?kafka-version=2.4.0&sasl-mechanism=gssapi&sasl-gssapi-auth-type=user&sasl-gssapi-kerberos-config-path=/etc/krb5.conf&sasl-gssapi-service-name=kafka&sasl-gssapi-user=alice/for-kafka&sasl-gssapi-password=alice-secret&sasl-gssapi-realm=example.com";
/// Same file, line 182 (Avro with Confluent Schema Registry), with its config at 185-190.
const DOCS_URI_AVRO: &str = "kafka://127.0.0.1:9092/topic-name?&protocol=avro&replication-factor=3";
const DOCS_AVRO_REGISTRY: &str = "http://127.0.0.1:8081";
const DOCS_AVRO_CONFIG: &str =
    "[sink]\ndispatchers = [\n {matcher = ['*.*'], topic = \"tidb_{schema}_{table}\"},\n]\n";
/// Same file, lines 202-210 (AWS Glue Schema Registry).
const DOCS_GLUE_CONFIG: &str = "[sink]\n[sink.kafka-config.glue-schema-registry-config]\nregion=\"us-west-1\"\nregistry-name=\"ticdc-test\"\naccess-key=\"xxxx\"\nsecret-access-key=\"xxxx\"\ntoken=\"xxxx\"\n";
/// Same file, lines 433-438 (handle-key-only).
const DOCS_HANDLE_KEY_ONLY: &str = "[sink.kafka-config.large-message-handle]\n# 该参数从 v7.3.0 开始引入\n# 默认为空，即消息超过大小限制后，同步任务失败\n# 设置为 \"handle-key-only\" 时，如果消息超过大小，data 字段内容只发送 handle key；如果依旧超过大小，同步任务失败\nlarge-message-handle-option = \"handle-key-only\"\n";
/// pingcap/docs-cn c6617be7c746e1d1d90ef5889fa33f0b59025e5e, ticdc/ticdc-changefeed-config.md:13
/// (a MySQL sink).
const DOCS_URI_MYSQL: &str = "mysql://root:123456@127.0.0.1:3306/";

fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/ticdc")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

struct Run {
    out: Output,
    stdout: String,
    stderr: String,
}

fn import(args: &[&str], config: Option<(&Path, &str)>) -> Run {
    let mut all: Vec<String> = vec!["import-ticdc".into()];
    all.extend(args.iter().map(|s| s.to_string()));
    if let Some((dir, text)) = config {
        let p = write_file(dir, "ticdc-changefeed.toml", text);
        all.push("--config".into());
        all.push(p.display().to_string());
    }
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = daemon(&refs);
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        out,
    }
}

/// Loads the printed TOML with the configuration loader, from a file next to nothing else.
fn load(dir: &Path, text: &str) -> Config {
    let p = write_file(dir, "imported.toml", text);
    match config::load(&p) {
        Ok(l) => l.config,
        Err(e) => panic!("the imported file does not load: {e}\n{text}"),
    }
}

#[test]
fn import_ticdc_carries_the_documented_kafka_uri_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = import(
        &[
            "--sink-uri",
            DOCS_URI_THREE_BROKERS,
            "--changefeed-id",
            "simple-replication-task",
            "--pd",
            "http://10.0.10.25:2379,http://10.0.10.26:2379",
            "--start-ts",
            "415241823337054209",
        ],
        None,
    );
    assert_eq!(r.out.status.code(), Some(0), "{}\n{}", r.stderr, r.stdout);
    let cfg = load(dir.path(), &r.stdout);
    assert_eq!(
        cfg.upstream.pd,
        vec!["http://10.0.10.25:2379", "http://10.0.10.26:2379"]
    );
    let cf = &cfg.changefeeds[0];
    assert_eq!(cf.id, "simple-replication-task");
    assert_eq!(cf.start_ts, StartPosition::Tso(415241823337054209));
    assert_eq!(cf.sink.protocol, Protocol::CanalJson);
    assert_eq!(cf.force_replicate, Some(false), "TiCDC's default");
    let k = cf.kafka_sink().expect("a kafka sink");
    assert_eq!(
        k.brokers,
        vec!["127.0.0.1:9092", "127.0.0.1:9093", "127.0.0.1:9094"]
    );
    assert_eq!(k.topic, "topic-name");
    assert_eq!(k.partition_num, Some(6));
    assert_eq!(k.max_message_bytes.as_u64(), 67108864);
    assert_eq!(k.replication_factor, 1);
    assert_eq!(k.kafka_version.as_deref(), Some("2.4.0"));
    assert_eq!(k.compression, Compression::None);
    assert!(r.stdout.starts_with("# Imported from a TiCDC changefeed"));
    assert!(
        !r.stderr.contains(": not supported")
            && !r.stderr.contains(": ignored")
            && !r.stderr.contains("unknown")
            && !r.stderr.contains("does not load"),
        "nothing left out: {}",
        r.stderr
    );
}

#[test]
fn import_ticdc_keeps_sasl_secrets_out_of_the_file_unless_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The documented SASL/PLAIN URI names no protocol; TiCDC takes it from the file then.
    let file = "[sink]\nprotocol = \"canal-json\"\n";
    let r = import(
        &[
            "--sink-uri",
            DOCS_URI_SASL_PLAIN,
            "--changefeed-id",
            "sasl-cf",
        ],
        Some((dir.path(), file)),
    );
    // The variable is not set here: a note, not a failure.
    assert_eq!(r.out.status.code(), Some(0), "{}\n{}", r.stderr, r.stdout);
    assert!(!r.stdout.contains("alice-secret"), "{}", r.stdout);
    assert!(
        r.stdout.contains("TIDB_CHANGEFEED_SASL_CF_SASL_PASSWORD"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("TIDB_CHANGEFEED_SASL_CF_SASL_PASSWORD"),
        "{}",
        r.stderr
    );
    // The real loader, in the binary, with the variable set.
    let p = write_file(dir.path(), "imported.toml", &r.stdout);
    let check = Command::new(daemon_bin())
        .args(["check", "--offline", "--print-config", "--config"])
        .arg(&p)
        .env("TIDB_CHANGEFEED_SASL_CF_SASL_PASSWORD", "alice-secret")
        .output()
        .expect("check runs");
    let shown = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{shown}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(shown.contains("sasl-user = \"alice-user\""), "{shown}");
    assert!(!shown.contains("alice-secret"), "{shown}");

    let r = import(
        &["--sink-uri", DOCS_URI_SASL_PLAIN, "--inline-secrets"],
        Some((dir.path(), file)),
    );
    assert_eq!(r.out.status.code(), Some(0), "{}", r.stderr);
    let cfg = load(dir.path(), &r.stdout);
    let k = cfg.changefeeds[0].kafka_sink().expect("kafka");
    assert_eq!(k.sasl_user.as_deref(), Some("alice-user"));
    assert_eq!(
        k.sasl_password.as_ref().map(|s| s.expose()),
        Some("alice-secret")
    );
    assert_eq!(k.sasl_mechanism.map(|m| m.name()), Some("PLAIN"));
}

#[test]
fn import_ticdc_names_gssapi_and_a_missing_protocol() {
    let r = import(&["--sink-uri", DOCS_URI_GSSAPI], None);
    // No protocol in the URI and no file: the output cannot load (exit 1), and says why.
    assert_eq!(r.out.status.code(), Some(1), "{}\n{}", r.stderr, r.stdout);
    assert!(r.stderr.contains("protocol"), "{}", r.stderr);
    for param in [
        "sasl-mechanism=gssapi: not supported: SASL/GSSAPI",
        "sasl-gssapi-auth-type=user: not supported",
        "sasl-gssapi-kerberos-config-path=/etc/krb5.conf: not supported",
        "sasl-gssapi-service-name=kafka: not supported",
        "sasl-gssapi-user=alice/for-kafka: not supported",
        "sasl-gssapi-password=***: not supported",
        "sasl-gssapi-realm=example.com: not supported",
    ] {
        assert!(r.stderr.contains(param), "{param} not named:\n{}", r.stderr);
        assert!(
            r.stdout.contains(param),
            "{param} not in the comments:\n{}",
            r.stdout
        );
    }
    assert!(!r.stdout.contains("alice-secret") && !r.stderr.contains("alice-secret"));
}

#[test]
fn import_ticdc_carries_the_documented_avro_changefeed_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = import(
        &[
            "--sink-uri",
            DOCS_URI_AVRO,
            "--schema-registry",
            DOCS_AVRO_REGISTRY,
            "--start-ts",
            "2026-01-02 03:04:05",
        ],
        Some((dir.path(), DOCS_AVRO_CONFIG)),
    );
    assert_eq!(r.out.status.code(), Some(0), "{}\n{}", r.stderr, r.stdout);
    let cfg = load(dir.path(), &r.stdout);
    let cf = &cfg.changefeeds[0];
    assert_eq!(cf.sink.protocol, Protocol::Avro);
    assert_eq!(
        cf.sink.schema_registry.as_ref().map(|s| s.expose()),
        Some(DOCS_AVRO_REGISTRY)
    );
    assert_eq!(cf.sink.dispatchers.len(), 1);
    assert_eq!(cf.sink.dispatchers[0].matcher, vec!["*.*"]);
    assert_eq!(
        cf.sink.dispatchers[0].topic.as_deref(),
        Some("tidb_{schema}_{table}")
    );
    assert_eq!(cf.kafka_sink().expect("kafka").replication_factor, 3);
    // "YYYY-MM-DD HH:MM:SS" without a zone is read as UTC, in PD's TSO layout.
    assert_eq!(cf.start_ts.fixed_tso(), Some(1_767_323_045_000u64 << 18));
    assert!(r.stderr.contains("read as UTC"), "{}", r.stderr);
}

#[test]
fn import_ticdc_names_every_setting_of_the_documented_changefeed_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = import(
        &["--sink-uri", DOCS_URI],
        Some((dir.path(), &fixture("docs-cn-changefeed-config.toml"))),
    );
    assert_eq!(r.out.status.code(), Some(0), "{}\n{}", r.stderr, r.stdout);
    let cfg = load(dir.path(), &r.stdout);
    let cf = &cfg.changefeeds[0];
    assert!(!cf.case_sensitive);
    assert_eq!(cf.filter.rules, vec!["*.*", "!test.*"]);
    assert!(!cf.sink.delete_only_output_handle_key_columns);
    assert_eq!(cf.sink.protocol, Protocol::CanalJson);
    let k = cf.kafka_sink().expect("kafka");
    assert_eq!(k.sasl_mechanism, None, "OAUTHBEARER is left out");
    assert!(!k.output_raw_change_event);
    for named in [
        "sink.kafka-config.sasl-mechanism=OAUTHBEARER: not supported: SASL/OAUTHBEARER",
        "sink.kafka-config.sasl-oauth-client-id=producer-kafka: not supported",
        "sink.kafka-config.sasl-oauth-client-secret=***: not supported",
        "sink.kafka-config.sasl-oauth-token-url=http://127.0.0.1:4444/oauth2/token: not supported",
        "sink.kafka-config.sasl-oauth-scopes=",
        "sink.kafka-config.sasl-oauth-grant-type=client_credentials: not supported",
        "sink.kafka-config.sasl-oauth-audience=kafka: not supported",
        "changefeed-error-stuck-duration=30m: ignored",
        "scheduler.enable-table-across-nodes=false: ignored",
        "sink.date-separator=day: ignored: a cloud-storage-sink setting",
        "sink.enable-partition-separator=true: ignored",
        "consistent.level=none: ignored: the redo log serves MySQL sinks",
        "consistent.flush-concurrency=1: ignored",
        "integrity.integrity-check-level=none: ignored",
        "integrity.corruption-handle-level=warn: ignored",
        "sink.pulsar-config.authentication-token=***: ignored: a Pulsar-sink setting",
        "sink.pulsar-config.basic-password=***: ignored",
        "sink.pulsar-config.oauth2.oauth2-issuer-url=https://xxxx.auth0.com: ignored",
        "sink.pulsar-config.send-timeout=30: ignored",
        "sink.cloud-storage-config.worker-count=16: ignored",
        "sink.cloud-storage-config.output-raw-change-event=false: ignored",
    ] {
        assert!(r.stderr.contains(named), "{named} not named:\n{}", r.stderr);
    }
    // Every key of the file is either carried over or named, nothing else.
    assert!(!r.stderr.contains("unknown TiCDC setting"), "{}", r.stderr);
    assert!(!r.stdout.contains("xxxxxxxxxxxxx") && !r.stdout.contains("cHJvZHVjZXIta2Fma2E="));
}

#[test]
fn import_ticdc_carries_tiflows_example_changefeed_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The documented URI without its query: its protocol=canal-json would override the
    // file's open-protocol (URI values win, as in TiCDC).
    let r = import(
        &["--sink-uri", DOCS_URI.split('?').next().expect("uri")],
        Some((dir.path(), &fixture("tiflow-changefeed.toml"))),
    );
    assert_eq!(r.out.status.code(), Some(0), "{}\n{}", r.stderr, r.stdout);
    let cfg = load(dir.path(), &r.stdout);
    let cf = &cfg.changefeeds[0];
    assert!(cf.case_sensitive);
    assert_eq!(cf.filter.rules, vec!["*.*", "!test.*"]);
    assert_eq!(cf.filter.ignore_txn_start_ts, vec![1, 2]);
    assert_eq!(cf.sink.protocol, Protocol::OpenProtocol);
    let d = &cf.sink.dispatchers;
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].matcher, vec!["test1.*", "test2.*"]);
    assert_eq!(d[0].partition.as_deref(), Some("ts"));
    assert_eq!(d[0].topic.as_deref(), Some("hello_{schema}"));
    assert_eq!(d[1].dispatcher.as_deref(), Some("rowid"));
    assert_eq!(d[1].topic.as_deref(), Some("{schema}_world"));
    let s = &cf.sink.column_selectors;
    assert_eq!(s.len(), 2);
    assert_eq!(s[1].columns, vec!["!a", "column3"]);
    for named in [
        "mounter.worker-num=16: ignored",
        "consistent.level=none: ignored",
        "consistent.storage=s3://logbucket/test-changefeed?endpoint=http://$S3_ENDPOINT/: ignored",
    ] {
        assert!(r.stderr.contains(named), "{named} not named:\n{}", r.stderr);
    }
}

#[test]
fn import_ticdc_reports_what_the_loader_refuses() {
    let dir = tempfile::tempdir().expect("tempdir");
    // handle-key-only under canal-json needs the TiDB extension, which this URI leaves off.
    let r = import(
        &["--sink-uri", DOCS_URI],
        Some((dir.path(), DOCS_HANDLE_KEY_ONLY)),
    );
    assert_eq!(r.out.status.code(), Some(1), "{}\n{}", r.stderr, r.stdout);
    assert!(
        r.stderr.contains("the output does not load")
            && r.stderr.contains("large-message-handle-option")
            && r.stderr.contains("enable-tidb-extension"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.contains("handle-key-only"),
        "the file is still printed"
    );

    let r = import(
        &[
            "--sink-uri",
            DOCS_URI_AVRO,
            "--schema-registry",
            DOCS_AVRO_REGISTRY,
        ],
        Some((
            dir.path(),
            &format!("{DOCS_AVRO_CONFIG}{}", &DOCS_GLUE_CONFIG[7..]),
        )),
    );
    for key in [
        "region",
        "registry-name",
        "access-key",
        "secret-access-key",
        "token",
    ] {
        let named = format!("sink.kafka-config.glue-schema-registry-config.{key}=");
        assert!(r.stderr.contains(&named), "{named}:\n{}", r.stderr);
    }
    assert!(r.stderr.contains("AWS Glue Schema Registry is not built"));
    let body: Vec<&str> = r.stdout.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(
        !body
            .iter()
            .any(|l| l.contains("glue") || l.contains("us-west-1")),
        "{}",
        r.stdout
    );
}

#[test]
fn import_ticdc_exits_2_on_a_uri_that_is_not_a_kafka_sink() {
    for (uri, why) in [
        (DOCS_URI_MYSQL, "not a Kafka sink"),
        ("kafka://127.0.0.1:9092?protocol=canal-json", "no topic"),
        ("kafka//127.0.0.1:9092/t", "no scheme"),
    ] {
        let r = import(&["--sink-uri", uri], None);
        assert_eq!(r.out.status.code(), Some(2), "{uri}: {}", r.stderr);
        assert!(r.stderr.contains(why), "{uri}: {}", r.stderr);
        assert!(r.stdout.is_empty());
    }
    let r = import(&["--sink-uri", DOCS_URI, "--start-ts", "yesterday"], None);
    assert_eq!(r.out.status.code(), Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("--start-ts"), "{}", r.stderr);
}

#[test]
fn the_readme_lists_every_ticdc_setting_as_the_code_maps_it() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README");
    let begin = readme
        .find("<!-- ticdc-keys:begin")
        .and_then(|i| readme[i..].find('\n').map(|j| i + j + 1))
        .expect("begin marker");
    let end = readme.find("<!-- ticdc-keys:end -->").expect("end marker");
    let want = tidb_changefeed::config::ticdc::keys::markdown_table();
    if readme[begin..end] != want {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme-ticdc-table.md");
        std::fs::write(&out, &want).expect("write");
        panic!(
            "README's \"Coming from TiCDC\" table differs from src/config/ticdc/keys.rs; put {} between its markers",
            out.display()
        );
    }
}
