//! Debezium end to end: emulated TiDB (every type family, NULLs, an added column, an update,
//! a delete) → the daemon → the real Kafka broker → Kafka Connect's `JsonConverter` and
//! Flink's `debezium-json` (tests/consumers/jvm), code nobody here wrote.

use std::time::Duration;

use serde_json::{Value as J, json};
use tidb_changefeed_emulator::runner::Runner;
use tidb_changefeed_emulator::scenario::Scenario;

use crate::consumers::consume_debezium;
use crate::e2e::{Daemon, emulator};
use crate::kafka_env::kafka;
use crate::support::unique;

const ALL_TYPES: &str = include_str!("../scenarios/fixtures/avro_all_types.toml");

/// The subset of the table Flink reads (dates as INT days: Flink's debezium-json reads only
/// ISO text into DATE, Debezium's `Date` is an int32).
const FLINK_COLUMNS: &str = "id:BIGINT NOT NULL,c_int:INT,c_varchar:STRING,c_date:INT";

fn field<'a>(record: &'a J, image: &str, column: &str) -> &'a J {
    &record["connect_value"]["value"][image]["value"][column]
}

#[tokio::test]
async fn every_type_reaches_kafka_connect_and_flink_as_debezium_json() {
    let s = Scenario::parse(ALL_TYPES, "debezium_e2e").expect("scenario");
    let mut emu = emulator(&s).await;
    let prefix = unique("dbz");
    let broker = &kafka().plaintext;
    let sink = format!(
        r#"[changefeed.sink]
protocol = "debezium"

[[changefeed.sink.dispatchers]]
matcher = ["*.*"]
topic = "{prefix}_{{schema}}_{{table}}"
partition = "index-value"

[changefeed.sink.kafka-config]
brokers = ["{broker}"]
topic = "{prefix}_ddl"
partition-num = 3
"#
    );
    let mut d = Daemon::start_sink(&format!("http://{}", emu.pd_addr()), "", &sink);
    Runner::new(&s)
        .expect("runner")
        .play(&mut emu, &s)
        .await
        .expect("scenario plays");
    let last = emu.cluster().lock().next_ts();
    d.wait_checkpoint(last, Duration::from_secs(60)).await;
    let st = d.terminate();
    assert!(st.success(), "exit {st}:\n{}", d.log());

    let topic = format!("{prefix}_test_all_types");
    // Inserts of 1, 2, 3; the update of 2; the delete of 3 (no tombstone, as TiCDC).
    let records = consume_debezium(broker, &topic, 5, FLINK_COLUMNS, true);
    assert_eq!(records.len(), 5, "{records:#?}");
    let of = |id: i64| -> Vec<&J> {
        records
            .iter()
            .filter(|r| r["connect_key"]["value"]["id"]["value"] == id)
            .collect()
    };

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
    let kinds = |id: i64| -> Vec<String> {
        of(id)
            .iter()
            .flat_map(|r| r["flink"].as_array().cloned().unwrap_or_default())
            .map(|row| row["kind"].as_str().unwrap_or_default().to_string())
            .collect()
    };
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
