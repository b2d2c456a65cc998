//! Debezium end to end: emulated TiDB (every type family, NULLs, an added column, an update,
//! a delete) → the daemon → the real Kafka broker → Kafka Connect's `JsonConverter` and
//! Flink's `debezium-json` (tests/consumers/jvm), code nobody here wrote. One daemon run per
//! configuration: TiCDC's default (Connect schemas, old values), `debezium-disable-schema`
//! (payload only: Connect reads it with `schemas.enable=false`, Flink only with
//! `schema-include=true`), and `output-old-value = false` (Flink refuses the UPDATE).
//!
//! Flink's refusals asserted here are those of flink-json 1.20.4's
//! `DebeziumJsonDeserializationSchema` (the version tests/consumers/jvm/pom.xml pins): every
//! failure is wrapped as `IOException("Corrupt Debezium JSON message '<value>'.")`; an UPDATE
//! whose `before` is null throws `IllegalStateException` naming the `"before"` field; with
//! `schema-include=false` a value wrapped in `"payload"` has no top-level `op`, which fails
//! with a `NullPointerException`.

use std::time::Duration;

use serde_json::{Value as J, json};
use tidb_changefeed_emulator::runner::Runner;
use tidb_changefeed_emulator::scenario::Scenario;

use crate::consumers::{DebeziumReading, FlinkFormat, consume_debezium, consume_debezium_with};
use crate::e2e::{Daemon, emulator, table_topics_sink};
use crate::kafka_env::{KcatAuth, KcatMessage, kafka, kcat_consume};
use crate::support::unique;

const ALL_TYPES: &str = include_str!("../scenarios/fixtures/avro_all_types.toml");

/// The subset of the table Flink reads (dates as INT days: Flink's debezium-json reads only
/// ISO text into DATE, Debezium's `Date` is an int32).
const FLINK_COLUMNS: &str = "id:BIGINT NOT NULL,c_int:INT,c_varchar:STRING,c_date:INT";

/// Records in the table's topic: inserts of 1, 2, 3; the update of 2; the delete of 3 (no
/// tombstone, as TiCDC).
const RECORDS: usize = 5;

/// What flink-json 1.20.4 wraps every refused record in (`value` is the record as text).
fn flink_corrupt(value: &str) -> String {
    format!("java.io.IOException: Corrupt Debezium JSON message '{value}'.")
}

fn field<'a>(record: &'a J, image: &str, column: &str) -> &'a J {
    &record["connect_value"]["value"][image]["value"][column]
}

/// Plays the scenario through one daemon writing Debezium to the real broker, `tail` after
/// the kafka-config table (a codec-config or a `[changefeed.sink.debezium]` table), and
/// returns the table's topic once the daemon has checkpointed everything and exited.
async fn replicate(tail: &str) -> String {
    let s = Scenario::parse(ALL_TYPES, "debezium_e2e").expect("scenario");
    let mut emu = emulator(&s).await;
    let prefix = unique("dbz");
    let sink = table_topics_sink("protocol = \"debezium\"", &prefix, 3, tail);
    let mut d = Daemon::start_sink(&format!("http://{}", emu.pd_addr()), "", &sink);
    Runner::new(&s)
        .expect("runner")
        .play(&mut emu, &s)
        .await
        .expect("scenario plays");
    let last = emu.cluster().lock().next_ts();
    d.wait_checkpoint(last, Duration::from_secs(60)).await;
    // Every stage's busy time reached /metrics.
    let metrics = d.get("/metrics").1;
    for stage in ["sort", "decode", "encode", "send"] {
        let count = metrics
            .lines()
            .find(|l| {
                l.starts_with("tidb_changefeed_stage_busy_seconds_count")
                    && l.contains(&format!("stage=\"{stage}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {stage} busy time in /metrics:\n{metrics}"));
        assert!(count >= 1.0, "{stage}: {count}");
    }
    let st = d.terminate();
    assert!(st.success(), "exit {st}:\n{}", d.log());
    format!("{prefix}_test_all_types")
}

/// The topic's records as bytes on the wire (kcat), in (partition, offset) order, with key
/// and value parsed as JSON.
fn raw_records(topic: &str) -> Vec<(KcatMessage, J, J)> {
    let mut msgs = kcat_consume(&kafka().plaintext, &KcatAuth::Plain, topic, RECORDS);
    msgs.sort_by_key(|m| (m.partition, m.offset));
    msgs.into_iter()
        .map(|m| {
            let key = serde_json::from_str(m.key.as_deref().expect("every record has a key"))
                .expect("the key is JSON");
            let value = serde_json::from_str(m.payload.as_deref().expect("no tombstone"))
                .expect("the value is JSON");
            (m, key, value)
        })
        .collect()
}

/// The raw value of the record the consumer printed as `record` (same partition and offset).
fn raw_value<'a>(raw: &'a [(KcatMessage, J, J)], record: &J) -> &'a str {
    raw.iter()
        .find(|(m, _, _)| {
            record["partition"] == json!(m.partition) && record["offset"] == json!(m.offset)
        })
        .and_then(|(m, _, _)| m.payload.as_deref())
        .unwrap_or_else(|| panic!("no raw record at {record}"))
}

/// The records whose key, at the JSON `pointer` into `connect_key`, is `id`.
fn with_id<'a>(records: &'a [J], pointer: &str, id: i64) -> Vec<&'a J> {
    records
        .iter()
        .filter(|r| r["connect_key"].pointer(pointer) == Some(&json!(id)))
        .collect()
}

/// The kinds of the rows Flink emitted for `records`, in order.
fn flink_kinds(records: &[&J]) -> Vec<String> {
    records
        .iter()
        .flat_map(|r| r["flink"].as_array().cloned().unwrap_or_default())
        .map(|row| row["kind"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The member names of a JSON object, in order.
fn members(v: &J) -> Vec<&str> {
    v.as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_type_reaches_kafka_connect_and_flink_as_debezium_json() {
    let topic = replicate("").await;
    let broker = &kafka().plaintext;
    let records = consume_debezium(broker, &topic, RECORDS, FLINK_COLUMNS, true);
    assert_eq!(records.len(), RECORDS, "{records:#?}");
    let of = |id: i64| with_id(&records, "/value/id/value", id);

    // Connect: the logical types Debezium consumers rely on, and their values.
    let one = of(1);
    assert_eq!(one.len(), 1, "{records:#?}");
    let r = one[0];
    assert_eq!(
        r["connect_value"]["name"],
        json!("default.test.all_types.Envelope")
    );
    for (column, name, value) in [
        ("c_date", "io.debezium.time.Date", json!(19782)),
        (
            "c_datetime",
            "io.debezium.time.Timestamp",
            json!(1_709_251_198_123i64),
        ),
        (
            "c_timestamp",
            "io.debezium.time.ZonedTimestamp",
            json!("2024-03-01T00:00:01Z"),
        ),
        (
            "c_time",
            "io.debezium.time.MicroTime",
            json!(-45_296_000_000i64),
        ),
        ("c_year", "io.debezium.time.Year", json!(2024)),
        ("c_enum", "io.debezium.data.Enum", json!("b")),
        ("c_set", "io.debezium.data.EnumSet", json!("x,z")),
        ("c_json", "io.debezium.data.Json", json!("{\"k\": [1, 2]}")),
    ] {
        let f = field(r, "after", column);
        assert_eq!(f["name"], json!(name), "{column}: {f:#}");
        // Debezium's logical names are not Connect's own Date/Timestamp: Connect keeps
        // the int32/int64/string the name describes.
        assert_eq!(f["value"], value, "{column}: {f:#}");
    }
    assert_eq!(
        field(r, "after", "c_int")["value"],
        json!(-2_147_483_648i64)
    );
    assert_eq!(field(r, "after", "c_varchar")["value"], json!("héllo <&>"));
    assert_eq!(
        field(r, "after", "c_bit")["name"],
        json!("io.debezium.data.Bits")
    );
    assert_eq!(r["connect_value"]["value"]["op"]["value"], json!("c"));

    // Flink: +I, then -U/+U for the update, -D for the delete.
    let kinds = |id: i64| flink_kinds(&of(id));
    assert_eq!(kinds(1), ["+I"], "{records:#?}");
    assert_eq!(kinds(2), ["+I", "-U", "+U"], "{records:#?}");
    assert_eq!(kinds(3), ["+I", "-D"], "{records:#?}");
    let first = &of(1)[0]["flink"][0]["fields"];
    assert_eq!(
        first,
        &json!([1, -2_147_483_648i64, "héllo <&>", 19782]),
        "{first}"
    );
    // The row written after `add column c_note`: Connect sees the new column.
    let three = of(3);
    assert_eq!(field(three[0], "after", "c_note")["value"], json!("noted"));
}

#[tokio::test]
async fn schemaless_debezium_is_read_by_connect_without_schemas_and_by_flink_with_schema_include() {
    let topic =
        replicate("[changefeed.sink.kafka-config.codec-config]\ndebezium-disable-schema = true\n")
            .await;
    let broker = &kafka().plaintext;

    // On the wire: TiCDC keeps the "payload" wrapper and drops only "schema", in key and value.
    let raw = raw_records(&topic);
    assert_eq!(raw.len(), RECORDS, "{raw:#?}");
    for (m, key, value) in &raw {
        assert_eq!(members(key), ["payload"], "{m:?}");
        assert_eq!(members(value), ["payload"], "{m:?}");
    }

    // Connect with schemas.enable=false: plain maps, the wrapper included; Flink with
    // schema-include=true reads the row under "payload".
    let records = consume_debezium_with(
        broker,
        &topic,
        RECORDS,
        DebeziumReading {
            flink_columns: Some(FLINK_COLUMNS),
            connect_schemas: false,
            flink_schema_include: true,
            flink_errors_as_data: false,
            flink_format: FlinkFormat::DebeziumJson,
        },
    );
    assert_eq!(records.len(), RECORDS, "{records:#?}");
    let of = |id: i64| with_id(&records, "/value/payload/id", id);
    for r in &records {
        for side in ["connect_key", "connect_value"] {
            assert_eq!(r[side]["type"], J::Null, "{side}: {r:#}");
            assert_eq!(
                r[side]["class"],
                json!("java.util.HashMap"),
                "{side}: {r:#}"
            );
            assert_eq!(members(&r[side]["value"]), ["payload"], "{side}: {r:#}");
        }
    }
    let payload = |r: &J| r["connect_value"]["value"]["payload"].clone();

    let one = of(1);
    assert_eq!(one.len(), 1, "{records:#?}");
    assert_eq!(
        one[0]["connect_key"]["value"],
        json!({"payload": {"id": 1}})
    );
    let p = payload(one[0]);
    assert_eq!(p["op"], json!("c"), "{p:#}");
    assert_eq!(p["before"], J::Null, "{p:#}");
    for (column, value) in [
        ("c_int", json!(-2_147_483_648i64)),
        ("c_varchar", json!("héllo <&>")),
        ("c_date", json!(19782)),
        ("c_datetime", json!(1_709_251_198_123i64)),
        ("c_timestamp", json!("2024-03-01T00:00:01Z")),
        ("c_time", json!(-45_296_000_000i64)),
        ("c_year", json!(2024)),
        ("c_enum", json!("b")),
        ("c_set", json!("x,z")),
        ("c_json", json!("{\"k\": [1, 2]}")),
    ] {
        assert_eq!(p["after"][column], value, "{column}: {p:#}");
    }

    let two = of(2);
    assert_eq!(two.len(), 2, "{records:#?}");
    let update = payload(two[1]);
    assert_eq!(update["op"], json!("u"), "{update:#}");
    assert_eq!(update["before"]["c_char"], json!("cc"), "{update:#}");
    assert_eq!(update["before"]["c_int"], J::Null, "{update:#}");
    assert_eq!(update["after"]["c_char"], json!("ee"), "{update:#}");
    assert_eq!(update["after"]["c_int"], json!(7), "{update:#}");
    assert_eq!(update["after"]["c_note"], json!("upd"), "{update:#}");

    let three = of(3);
    assert_eq!(three.len(), 2, "{records:#?}");
    assert_eq!(payload(three[0])["after"]["c_note"], json!("noted"));
    let delete = payload(three[1]);
    assert_eq!(delete["op"], json!("d"), "{delete:#}");
    assert_eq!(delete["after"], J::Null, "{delete:#}");
    assert_eq!(delete["before"]["c_note"], json!("noted"), "{delete:#}");

    // Flink gives the same rows and kinds as over the output with the schema.
    assert_eq!(flink_kinds(&of(1)), ["+I"], "{records:#?}");
    assert_eq!(flink_kinds(&of(2)), ["+I", "-U", "+U"], "{records:#?}");
    assert_eq!(flink_kinds(&of(3)), ["+I", "-D"], "{records:#?}");
    assert_eq!(
        one[0]["flink"],
        json!([{"kind": "+I", "fields": [1, -2_147_483_648i64, "héllo <&>", 19782]}])
    );
    assert_eq!(
        two[1]["flink"],
        json!([{"kind": "-U", "fields": [2, null, null, null]},
               {"kind": "+U", "fields": [2, 7, null, null]}])
    );

    // Flink with schema-include=false looks for before/after/op at the top level, finds
    // none, and refuses every record (no row, no null row).
    let top_level = consume_debezium_with(
        broker,
        &topic,
        RECORDS,
        DebeziumReading {
            flink_columns: Some(FLINK_COLUMNS),
            connect_schemas: false,
            flink_schema_include: false,
            flink_errors_as_data: true,
            flink_format: FlinkFormat::DebeziumJson,
        },
    );
    assert_eq!(top_level.len(), RECORDS, "{top_level:#?}");
    for r in &top_level {
        assert_eq!(r["flink"], J::Null, "{r:#}");
        let error = r["flink_error"].as_str().unwrap_or_default();
        let want = format!(
            "{}; caused by java.lang.NullPointerException",
            flink_corrupt(raw_value(&raw, r))
        );
        assert!(error.starts_with(&want), "{error}\nwanted {want}…");
    }
}

#[tokio::test]
async fn without_old_values_the_update_has_no_before_and_flink_refuses_it() {
    let topic = replicate("[changefeed.sink.debezium]\noutput-old-value = false\n").await;
    let broker = &kafka().plaintext;

    // On the wire: only the UPDATE loses "before"; an insert keeps "before": null and a
    // delete its old row.
    let raw = raw_records(&topic);
    assert_eq!(raw.len(), RECORDS, "{raw:#?}");
    let ops: Vec<&str> = raw
        .iter()
        .map(|(_, _, v)| v["payload"]["op"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ops.iter().filter(|op| **op == "u").count(), 1, "{ops:?}");
    for (m, _, value) in &raw {
        let p = &value["payload"];
        let has_before = p.as_object().is_some_and(|o| o.contains_key("before"));
        assert_eq!(has_before, p["op"] != json!("u"), "{m:?}");
        assert!(!p["after"].is_null() || p["op"] == json!("d"), "{m:?}");
    }

    // Connect (schemas on) reads every record; Flink reads the inserts and the delete and
    // refuses the update.
    let records = consume_debezium_with(
        broker,
        &topic,
        RECORDS,
        DebeziumReading {
            flink_columns: Some(FLINK_COLUMNS),
            connect_schemas: true,
            flink_schema_include: true,
            flink_errors_as_data: true,
            flink_format: FlinkFormat::DebeziumJson,
        },
    );
    assert_eq!(records.len(), RECORDS, "{records:#?}");
    let of = |id: i64| with_id(&records, "/value/id/value", id);

    let two = of(2);
    assert_eq!(two.len(), 2, "{records:#?}");
    let update = two[1];
    assert_eq!(update["connect_value"]["value"]["op"]["value"], json!("u"));
    assert_eq!(update["connect_value"]["value"]["before"]["value"], J::Null);
    assert_eq!(field(update, "after", "c_int")["value"], json!(7));
    assert_eq!(field(update, "after", "c_note")["value"], json!("upd"));
    assert_eq!(update["flink"], J::Null, "{update:#}");
    assert_eq!(
        update["flink_error"],
        json!(format!(
            "{}; caused by java.lang.IllegalStateException: The \"before\" field of UPDATE \
             message is null, if you are using Debezium Postgres Connector, please check the \
             Postgres table has been set REPLICA IDENTITY to FULL level.",
            flink_corrupt(raw_value(&raw, update))
        )),
    );

    for r in records.iter().filter(|r| *r != update) {
        assert_eq!(r.get("flink_error"), None, "{r:#}");
    }
    assert_eq!(flink_kinds(&of(1)), ["+I"], "{records:#?}");
    assert_eq!(flink_kinds(&two), ["+I"], "{records:#?}");
    assert_eq!(flink_kinds(&of(3)), ["+I", "-D"], "{records:#?}");
    assert_eq!(
        of(3)[1]["flink"],
        json!([{"kind": "-D", "fields": [3, null, null, null]}])
    );
}

/// `[sink.debezium] newarch = true` with the TiDB extension: TiCDC's new architecture. The
/// scenario's `ALTER TABLE … ADD COLUMN` arrives on every partition of the table's topic as a
/// `SchemaChangeValue` between the rows committed before and after it; checkpoints arrive as
/// watermark messages (`op` `m`) that follow every row they cover; column schemas start with
/// `tidb_type`; Kafka Connect's `JsonConverter` reads every record, schema changes included.
#[tokio::test]
async fn new_architecture_sends_schema_changes_and_watermarks() {
    let topic = replicate(
        "[changefeed.sink.debezium]\nnewarch = true\n\n\
         [changefeed.sink.kafka-config.codec-config]\nenable-tidb-extension = true\n",
    )
    .await;
    let broker = &kafka().plaintext;
    let mut raw = kcat_consume(broker, &KcatAuth::Plain, &topic, 10_000);
    raw.sort_by_key(|m| (m.partition, m.offset));
    let parsed: Vec<(&KcatMessage, J)> = raw
        .iter()
        .map(|m| {
            let v = serde_json::from_str(m.payload.as_deref().expect("no tombstone"))
                .expect("the value is JSON");
            (m, v)
        })
        .collect();
    let is_ddl = |v: &J| v["payload"].get("ddl").is_some();
    let is_watermark = |v: &J| v["payload"]["op"] == json!("m");
    let rows: Vec<&(&KcatMessage, J)> = parsed
        .iter()
        .filter(|(_, v)| !is_ddl(v) && !is_watermark(v))
        .collect();
    assert_eq!(rows.len(), RECORDS, "{raw:#?}");

    // The schema change: once per partition, the query and the table after it.
    let query = "alter table all_types add column c_note varchar(20) default 'n/a'";
    let ddls: Vec<&(&KcatMessage, J)> = parsed.iter().filter(|(_, v)| is_ddl(v)).collect();
    let mut partitions: Vec<i32> = ddls.iter().map(|(m, _)| m.partition).collect();
    partitions.sort_unstable();
    assert_eq!(partitions, [0, 1, 2], "{raw:#?}");
    for (m, v) in &ddls {
        let key: J = serde_json::from_str(m.key.as_deref().expect("key")).expect("key JSON");
        assert_eq!(key["payload"], json!({"databaseName": "test"}));
        assert_eq!(
            key["schema"]["name"],
            json!("io.debezium.connector.mysql.SchemaChangeKey")
        );
        let p = &v["payload"];
        assert_eq!(p["ddl"], json!(query));
        assert_eq!(p["databaseName"], json!("test"));
        assert_eq!(p["source"]["table"], json!("all_types"));
        let change = &p["tableChanges"][0];
        assert_eq!(change["type"], json!("ALTER"));
        assert_eq!(change["id"], json!("\"test\".\"all_types\""));
        assert_eq!(change["table"]["primaryKeyColumnNames"], json!(["id"]));
        assert_eq!(change["table"]["defaultCharsetName"], json!("utf8mb4"));
        let columns = change["table"]["columns"].as_array().expect("columns");
        assert_eq!(columns.len(), 25);
        assert_eq!(
            columns[24],
            json!({"name": "c_note", "jdbcType": 12, "nativeType": null, "comment": null,
                   "defaultValueExpression": "n/a", "enumValues": null, "typeName": "VARCHAR",
                   "typeExpression": "VARCHAR", "charsetName": "utf8mb4", "length": 20,
                   "scale": null, "position": 25, "optional": true, "autoIncremented": false,
                   "generated": false})
        );
        assert_eq!(
            columns[0]["autoIncremented"],
            json!(true),
            "id is AUTO_INCREMENT"
        );
        assert_eq!(columns[21]["enumValues"], json!(["'a'", "'b'", "'c'"]));
        assert_eq!(
            v["schema"]["name"],
            json!("io.debezium.connector.mysql.SchemaChangeValue")
        );
        // On its partition, the DDL follows every row committed before it and precedes the rest.
        let ddl_ts = p["source"]["commit_ts"].as_u64().expect("commit_ts");
        for (r, rv) in &rows {
            if r.partition != m.partition {
                continue;
            }
            let ts = rv["payload"]["source"]["commit_ts"]
                .as_u64()
                .expect("commit_ts");
            assert_eq!(ts < ddl_ts, r.offset < m.offset, "row {ts} vs DDL {ddl_ts}");
        }
    }

    // Watermarks: non-decreasing per partition, each after every row it covers.
    let watermarks: Vec<&(&KcatMessage, J)> =
        parsed.iter().filter(|(_, v)| is_watermark(v)).collect();
    assert!(!watermarks.is_empty(), "no watermark in {raw:#?}");
    for p in 0..3 {
        let mut last = 0;
        for (m, v) in watermarks.iter().filter(|(m, _)| m.partition == p) {
            let ts = v["payload"]["source"]["commit_ts"]
                .as_u64()
                .expect("commit_ts");
            assert!(ts >= last, "watermarks go back on partition {p}");
            last = ts;
            assert_eq!(v["payload"]["source"]["db"], json!(""));
            assert_eq!(v["schema"]["name"], json!("default.watermark.Envelope"));
            for (r, rv) in rows.iter().filter(|(r, _)| r.partition == p) {
                let row_ts = rv["payload"]["source"]["commit_ts"].as_u64().expect("ts");
                if row_ts <= ts {
                    assert!(r.offset < m.offset, "row {row_ts} after watermark {ts}");
                }
            }
        }
    }

    // TiDB's type names lead every column schema of the rows.
    let (_, first) = rows[0];
    let text = first["schema"].to_string();
    assert!(text.contains(r#""tidb_type":"bigint""#), "{text}");
    assert!(text.contains(r#""tidb_type":"int unsigned""#), "{text}");

    // Kafka Connect reads every record: rows, schema changes and watermarks.
    let records = consume_debezium_with(
        broker,
        &topic,
        raw.len(),
        DebeziumReading {
            flink_columns: None,
            connect_schemas: true,
            flink_schema_include: true,
            flink_errors_as_data: false,
            flink_format: FlinkFormat::DebeziumJson,
        },
    );
    assert_eq!(records.len(), raw.len());
    let names = |n: &str| {
        records
            .iter()
            .filter(|r| r["connect_value"]["name"] == json!(n))
            .count()
    };
    assert_eq!(names("io.debezium.connector.mysql.SchemaChangeValue"), 3);
    assert_eq!(names("default.watermark.Envelope"), watermarks.len());
    assert_eq!(names("default.test.all_types.Envelope"), RECORDS);
    let ddl = records
        .iter()
        .find(|r| {
            r["connect_value"]["name"] == json!("io.debezium.connector.mysql.SchemaChangeValue")
        })
        .expect("a schema change");
    assert_eq!(ddl["connect_value"]["value"]["ddl"]["value"], json!(query));
    let changes = &ddl["connect_value"]["value"]["tableChanges"]["value"];
    assert_eq!(changes[0]["type"]["value"], json!("ALTER"));
    let cols = &changes[0]["table"]["value"]["columns"]["value"];
    assert_eq!(cols[24]["name"]["value"], json!("c_note"));
    assert_eq!(cols[24]["length"]["value"], json!(20));
}
