//! A corpus of invalid configurations: each must make `check` exit 2 with one line that
//! names the file, the line and column, the key path and what was expected.

use crate::support::{daemon, write_file};

/// A valid base the cases below break in one place each.
const BASE: &str = r#"[upstream]
pd = ["http://127.0.0.1:2379"]

[[changefeed]]
id = "cf"

[changefeed.sink]
protocol = "canal-json"

[changefeed.sink.kafka-config]
brokers = ["127.0.0.1:9092"]
topic = "tidb-cdc"
"#;

struct Case {
    name: &'static str,
    /// Full file text.
    text: String,
    /// Expected `line:column`, key path and a fragment of the message.
    line: usize,
    column: usize,
    key: &'static str,
    message: &'static str,
}

fn with(extra: &str) -> String {
    format!("{BASE}{extra}\n")
}

/// A valid Avro changefeed, for the Avro cases.
const AVRO: &str = r#"[upstream]
pd = ["http://127.0.0.1:2379"]

[[changefeed]]
id = "cf"

[changefeed.sink]
protocol = "avro"
schema-registry = "http://127.0.0.1:18081/apis/ccompat/v7"

[[changefeed.sink.dispatchers]]
matcher = ["*.*"]
topic = "tidb_{schema}_{table}"

[changefeed.sink.kafka-config]
brokers = ["127.0.0.1:9092"]
topic = "tidb-cdc"
"#;

fn cases() -> Vec<Case> {
    let kc = "changefeed[0].sink.kafka-config";
    vec![
        Case { name: "syntax: unclosed table header", text: "[upstream\npd = []\n".into(), line: 1, column: 10, key: "", message: "invalid TOML: unclosed table" },
        Case { name: "syntax: bare value", text: "[upstream]\npd = http\n".into(), line: 2, column: 6, key: "", message: "invalid TOML" },
        Case { name: "syntax: duplicate key", text: with("topic = \"again\""), line: 13, column: 1, key: "", message: "duplicate key" },
        Case { name: "unknown top-level key", text: format!("pdd = 1\n{BASE}"), line: 1, column: 1, key: "pdd", message: "unknown key \"pdd\"" },
        Case { name: "unknown key in kafka-config", text: with("compresion = \"zstd\""), line: 13, column: 1, key: "changefeed[0].sink.kafka-config.compresion", message: "unknown key \"compresion\"" },
        Case { name: "unknown compression", text: with("compression = \"zst\""), line: 13, column: 15, key: "changefeed[0].sink.kafka-config.compression", message: "unknown value \"zst\", expected one of \"none\", \"gzip\", \"lz4\", \"snappy\", \"zstd\"" },
        Case { name: "stale-lock-threshold below a second", text: BASE.replace("pd = [\"http://127.0.0.1:2379\"]", "pd = [\"http://127.0.0.1:2379\"]\nstale-lock-threshold = \"500ms\""), line: 3, column: 24, key: "upstream.stale-lock-threshold", message: "must be at least 1s" },
        Case { name: "fault-report-after below a second", text: BASE.replace("pd = [\"http://127.0.0.1:2379\"]", "pd = [\"http://127.0.0.1:2379\"]\nfault-report-after = \"200ms\""), line: 3, column: 22, key: "upstream.fault-report-after", message: "must be at least 1s" },
        Case { name: "gc-ttl below five minutes", text: BASE.replace("pd = [\"http://127.0.0.1:2379\"]", "pd = [\"http://127.0.0.1:2379\"]\ngc-ttl = \"1m\""), line: 3, column: 10, key: "upstream.gc-ttl", message: "must be at least 5m" },
        Case { name: "wrong type: pd is a string", text: BASE.replace("pd = [\"http://127.0.0.1:2379\"]", "pd = \"127.0.0.1:2379\""), line: 2, column: 6, key: "upstream.pd", message: "expected a sequence" },
        Case { name: "wrong type: replication-factor string", text: with("replication-factor = \"three\""), line: 13, column: 22, key: "changefeed[0].sink.kafka-config.replication-factor", message: "invalid type" },
        Case { name: "bad size unit", text: with("max-message-bytes = \"10 parsecs\""), line: 13, column: 21, key: "changefeed[0].sink.kafka-config.max-message-bytes", message: "unknown unit \"parsecs\"" },
        Case { name: "bad duration", text: with("dial-timeout = \"10\""), line: 13, column: 16, key: "changefeed[0].sink.kafka-config.dial-timeout", message: "invalid duration \"10\"" },
        Case { name: "out of range: partition-num 0", text: with("partition-num = 0"), line: 13, column: 17, key: "changefeed[0].sink.kafka-config.partition-num", message: "must be greater than 0" },
        Case { name: "out of range: max-message-bytes too small", text: with("max-message-bytes = 10"), line: 13, column: 21, key: "changefeed[0].sink.kafka-config.max-message-bytes", message: "between 1KiB and 1GiB" },
        Case { name: "out of range: batch-size too small", text: with("batch-size = 100"), line: 13, column: 14, key: "changefeed[0].sink.kafka-config.batch-size", message: "must be between 1KiB and max-message-bytes (10MiB), got 100B" },
        Case { name: "out of range: batch-size above max-message-bytes", text: with("max-message-bytes = \"1MiB\"\nbatch-size = \"2MiB\""), line: 14, column: 14, key: "changefeed[0].sink.kafka-config.batch-size", message: "must be between 1KiB and max-message-bytes (1MiB), got 2MiB" },
        Case { name: "out of range: required-acks 2", text: with("required-acks = 2"), line: 13, column: 17, key: "changefeed[0].sink.kafka-config.required-acks", message: "expected -1, 0 or 1" },
        Case { name: "not supported: required-acks 1", text: with("required-acks = 1"), line: 13, column: 17, key: "changefeed[0].sink.kafka-config.required-acks", message: "not supported yet" },
        Case { name: "not supported: simple", text: BASE.replace("\"canal-json\"", "\"simple\""), line: 8, column: 12, key: "changefeed[0].sink.protocol", message: "protocol = \"simple\" (built: canal-json, avro, debezium, open-protocol) is not supported yet" },
        Case { name: "[sink.open] without open-protocol", text: BASE.replace("[changefeed.sink.kafka-config]", "[changefeed.sink.open]\noutput-old-value = false\n\n[changefeed.sink.kafka-config]"), line: 10, column: 1, key: "changefeed[0].sink.open", message: "applies to protocol open-protocol only" },
        Case { name: "debezium: handle-key-only", text: format!("{}[changefeed.sink.kafka-config.large-message-handle]\nlarge-message-handle-option = \"handle-key-only\"\n", BASE.replace("\"canal-json\"", "\"debezium\"")), line: 14, column: 31, key: "changefeed[0].sink.kafka-config.large-message-handle.large-message-handle-option", message: "protocol debezium has no handle-key-only or claim-check form" },
        Case { name: "[sink.debezium] without debezium", text: BASE.replace("[changefeed.sink.kafka-config]", "[changefeed.sink.debezium]\noutput-old-value = false\n\n[changefeed.sink.kafka-config]"), line: 10, column: 1, key: "changefeed[0].sink.debezium", message: "applies to protocol debezium only" },
        Case { name: "debezium-disable-schema without debezium", text: with("[changefeed.sink.kafka-config.codec-config]\ndebezium-disable-schema = true"), line: 14, column: 27, key: "changefeed[0].sink.kafka-config.codec-config.debezium-disable-schema", message: "applies to debezium only" },
        Case { name: "reserved cluster-id", text: BASE.replace("id = \"cf\"", "id = \"cf\"\ncluster-id = \"owner\""), line: 6, column: 14, key: "changefeed[0].cluster-id", message: "invalid cluster-id \"owner\"" },
        Case { name: "avro: no schema registry", text: AVRO.replace("schema-registry = \"http://127.0.0.1:18081/apis/ccompat/v7\"\n", ""), line: 7, column: 1, key: "changefeed[0].sink.schema-registry", message: "protocol avro needs a Confluent-compatible schema registry" },
        Case { name: "avro: registry URL without http(s)", text: AVRO.replace("http://127.0.0.1:18081", "127.0.0.1:18081"), line: 9, column: 19, key: "changefeed[0].sink.schema-registry", message: "invalid schema registry URL" },
        Case { name: "avro: force-replicate = true", text: AVRO.replace("id = \"cf\"", "id = \"cf\"\nforce-replicate = true"), line: 6, column: 19, key: "changefeed[0].force-replicate", message: "set force-replicate = false" },
        Case { name: "avro: no dispatcher (every table would share the default topic)", text: AVRO.replace("[[changefeed.sink.dispatchers]]\nmatcher = [\"*.*\"]\ntopic = \"tidb_{schema}_{table}\"\n", ""), line: 7, column: 1, key: "changefeed[0].sink.dispatchers", message: "needs one topic per table" },
        Case { name: "avro: a fixed topic", text: AVRO.replace("tidb_{schema}_{table}", "all_tables"), line: 13, column: 9, key: "changefeed[0].sink.dispatchers[0].topic", message: "needs one topic per table" },
        Case { name: "avro: topic without {table}", text: AVRO.replace("tidb_{schema}_{table}", "tidb_{schema}"), line: 13, column: 9, key: "changefeed[0].sink.dispatchers[0].topic", message: "must contain both {schema} and {table} with protocol avro" },
        Case { name: "avro: handle-key-only", text: format!("{AVRO}[changefeed.sink.kafka-config.large-message-handle]\nlarge-message-handle-option = \"handle-key-only\"\n"), line: 19, column: 31, key: "changefeed[0].sink.kafka-config.large-message-handle.large-message-handle-option", message: "protocol avro has no handle-key-only or claim-check form" },
        Case { name: "schema registry without avro", text: BASE.replace("protocol = \"canal-json\"", "protocol = \"canal-json\"\nschema-registry = \"http://r:8081\""), line: 9, column: 19, key: "changefeed[0].sink.schema-registry", message: "does not use a schema registry" },
        Case { name: "not supported: gssapi", text: with("sasl-mechanism = \"GSSAPI\"\nsasl-user = \"u\"\nsasl-password = \"p\""), line: 13, column: 18, key: "changefeed[0].sink.kafka-config.sasl-mechanism", message: "not supported yet" },
        Case { name: "unknown protocol", text: BASE.replace("\"canal-json\"", "\"canal-jsonn\""), line: 8, column: 12, key: "changefeed[0].sink.protocol", message: "unknown value \"canal-jsonn\"" },
        Case { name: "missing required key: sink", text: "[upstream]\npd = [\"x:1\"]\n[[changefeed]]\nid = \"a\"\n".into(), line: 3, column: 1, key: "changefeed[0]", message: "missing required key \"sink\"" },
        Case { name: "missing required key: topic", text: BASE.replace("topic = \"tidb-cdc\"\n", ""), line: 10, column: 1, key: kc, message: "missing required key \"topic\"" },
        Case { name: "missing kafka-config", text: BASE.split("[changefeed.sink.kafka-config]").next().unwrap_or_default().to_string(), line: 7, column: 1, key: "changefeed[0].sink.kafka-config", message: "needs [changefeed.sink.kafka-config]" },
        Case { name: "duplicate changefeed ids", text: format!("{BASE}\n[[changefeed]]\nid = \"cf\"\n[changefeed.sink]\nprotocol = \"canal-json\"\ntype = \"stdout\"\n"), line: 15, column: 6, key: "changefeed[1].id", message: "duplicate changefeed id \"cf\" (also used by changefeed[0])" },
        Case { name: "invalid changefeed id", text: BASE.replace("id = \"cf\"", "id = \"cf_1\""), line: 5, column: 6, key: "changefeed[0].id", message: "invalid changefeed id" },
        Case { name: "contradiction: sasl-user without mechanism", text: with("sasl-user = \"alice\""), line: 13, column: 13, key: "changefeed[0].sink.kafka-config.sasl-user", message: "sasl-mechanism is not" },
        Case { name: "contradiction: mechanism without password", text: with("sasl-mechanism = \"scram-sha-512\"\nsasl-user = \"alice\""), line: 10, column: 1, key: "changefeed[0].sink.kafka-config.sasl-password", message: "sasl-password is missing" },
        Case { name: "contradiction: skip-verify without TLS", text: with("insecure-skip-verify = true"), line: 13, column: 24, key: "changefeed[0].sink.kafka-config.insecure-skip-verify", message: "needs TLS" },
        Case { name: "contradiction: cert without key", text: with("cert = \"/etc/hostname\""), line: 10, column: 1, key: "changefeed[0].sink.kafka-config.key", message: "must be set together" },
        Case { name: "contradiction: handle-key-only without extension", text: with("[changefeed.sink.kafka-config.large-message-handle]\nlarge-message-handle-option = \"handle-key-only\""), line: 14, column: 31, key: "changefeed[0].sink.kafka-config.large-message-handle.large-message-handle-option", message: "enable-tidb-extension = true" },
        Case { name: "contradiction: dispatcher and partition both set", text: with("[[changefeed.sink.dispatchers]]\nmatcher = [\"*.*\"]\npartition = \"ts\"\ndispatcher = \"ts\""), line: 16, column: 14, key: "changefeed[0].sink.dispatchers[0].dispatcher", message: "deprecated name of `partition`" },
        Case { name: "columns dispatcher without columns", text: with("[[changefeed.sink.dispatchers]]\nmatcher = [\"*.*\"]\npartition = \"columns\""), line: 13, column: 1, key: "changefeed[0].sink.dispatchers[0].columns", message: "needs a non-empty `columns` list" },
        Case { name: "bad topic expression", text: with("[[changefeed.sink.dispatchers]]\nmatcher = [\"*.*\"]\ntopic = \"{table}_{schema}\""), line: 15, column: 9, key: "changefeed[0].sink.dispatchers[0].topic", message: "invalid topic expression" },
        Case { name: "bad topic name", text: BASE.replace("topic = \"tidb-cdc\"", "topic = \"tidb cdc\""), line: 12, column: 9, key: "changefeed[0].sink.kafka-config.topic", message: "invalid topic name" },
        Case { name: "bad broker address", text: BASE.replace("[\"127.0.0.1:9092\"]", "[\"kafka://127.0.0.1:9092\"]"), line: 11, column: 12, key: "changefeed[0].sink.kafka-config.brokers[0]", message: "without a scheme" },
        Case { name: "bad start-ts", text: BASE.replace("id = \"cf\"", "id = \"cf\"\nstart-ts = \"yesterday\""), line: 6, column: 12, key: "changefeed[0].start-ts", message: "invalid start-ts \"yesterday\"" },
        Case { name: "secret from a missing env var", text: with("sasl-mechanism = \"plain\"\nsasl-user = \"alice\"\nsasl-password = { env = \"TIDB_CHANGEFEED_TEST_UNSET_VAR\" }"), line: 15, column: 17, key: "changefeed[0].sink.kafka-config.sasl-password", message: "TIDB_CHANGEFEED_TEST_UNSET_VAR is not set" },
        Case { name: "no changefeed", text: "[upstream]\npd = [\"127.0.0.1:2379\"]\n".into(), line: 1, column: 1, key: "changefeed", message: "no [[changefeed]] is configured" },
        Case { name: "bad log level", text: format!("{BASE}[log]\nlevel = \"loud\"\n"), line: 14, column: 9, key: "log.level", message: "invalid log level" },
        Case { name: "bad listen address", text: format!("[server]\nlisten = \"localhost\"\n{BASE}"), line: 2, column: 10, key: "server.listen", message: "invalid socket address" },
        Case { name: "stdout sink with kafka-config", text: BASE.replace("protocol = \"canal-json\"", "protocol = \"canal-json\"\ntype = \"stdout\""), line: 11, column: 1, key: "changefeed[0].sink.kafka-config", message: "sink type is \"stdout\"" },
        Case { name: "unknown ignore-event kind", text: BASE.replace("[changefeed.sink]", "[[changefeed.filter.event-filters]]\nmatcher = [\"a.b\"]\nignore-event = [\"upsert\"]\n[changefeed.sink]"), line: 9, column: 17, key: "changefeed[0].filter.event-filters[0].ignore-event[0]", message: "unknown event kind \"upsert\"" },
        Case { name: "event-filter matcher with a bad character", text: BASE.replace("[changefeed.sink]", "[[changefeed.filter.event-filters]]\nmatcher = [\"test.audi|_*\"]\nignore-event = [\"delete\"]\n[changefeed.sink]"), line: 8, column: 12, key: "changefeed[0].filter.event-filters[0].matcher[0]", message: "invalid table-filter rule \"test.audi|_*\": unexpected special character '|'" },
        Case { name: "table-filter rule without a dot", text: BASE.replace("[changefeed.sink]", "[changefeed.filter]\nrules = [\"*.*\", \"shop\"]\n[changefeed.sink]"), line: 8, column: 17, key: "changefeed[0].filter.rules[1]", message: "invalid table-filter rule \"shop\": syntax error: missing '.'" },
        Case { name: "dispatcher matcher with a bad character", text: with("[[changefeed.sink.dispatchers]]\nmatcher = [\"shop.or-ders\"]\npartition = \"ts\""), line: 14, column: 12, key: "changefeed[0].sink.dispatchers[0].matcher[0]", message: "unexpected special character '-'" },
    ]
}

#[test]
fn every_bad_configuration_exits_2_with_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    let all = cases();
    assert!(all.len() >= 20, "the corpus must hold at least 20 cases");
    for (i, case) in all.iter().enumerate() {
        let path = write_file(dir.path(), &format!("bad{i}.toml"), &case.text);
        let out = daemon(&["check", "--config", path.to_str().expect("utf-8 path")]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().next().unwrap_or_default().to_string();
        let key = if case.key.is_empty() {
            String::new()
        } else {
            format!("{}: ", case.key)
        };
        let prefix = format!("{}:{}:{}: {key}", path.display(), case.line, case.column);
        let ok = out.status.code() == Some(2)
            && first.starts_with(&prefix)
            && first.contains(case.message)
            && out.stdout.is_empty();
        if !ok {
            failures.push(format!(
                "{}: exit {:?}\n  expected prefix {prefix:?} containing {:?}\n  got {first:?}",
                case.name,
                out.status.code(),
                case.message
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn secrets_are_masked_by_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_file(dir.path(), "pw.txt", "from-a-file\n");
    let text = with(
        "sasl-mechanism = \"scram-sha-512\"\nsasl-user = \"alice\"\nsasl-password = { file = \"pw.txt\" }",
    );
    let path = write_file(dir.path(), "ok.toml", &text);
    let out = daemon(&[
        "check",
        "--offline",
        "--print-config",
        "--config",
        path.to_str().expect("utf-8 path"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("SASL SCRAM-SHA-512 user alice password ***"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("from-a-file"),
        "the secret leaked: {stdout}"
    );

    let inline = with(
        "sasl-mechanism = \"plain\"\nsasl-user = \"alice\"\nsasl-password = \"inline-secret\"",
    );
    let path = write_file(dir.path(), "inline.toml", &inline);
    let out = daemon(&[
        "check",
        "--offline",
        "--print-config",
        "--config",
        path.to_str().expect("utf-8 path"),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !stdout.contains("inline-secret"),
        "the secret leaked: {stdout}"
    );
}

#[test]
fn shipped_configurations_are_valid() {
    let root = env!("CARGO_MANIFEST_DIR");
    for file in ["config/changefeed.example.toml", "config/minimal.toml"] {
        let out = daemon(&["check", "--offline", "--config", &format!("{root}/{file}")]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("is valid"), "{stdout}");
    }
}
