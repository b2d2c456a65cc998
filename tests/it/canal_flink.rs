//! Canal-JSON as Apache Flink's own `canal-json` format reads it (flink-json 1.20.4's
//! `CanalJsonDeserializationSchema`, the class Flink SQL's `'format' = 'canal-json'` runs,
//! through tests/consumers/jvm): emulated TiDB → the daemon → the real broker → Flink. Each
//! claim of README "Consumer notes: Flink canal-json" is asserted here on the daemon's real
//! output:
//!
//! * with `enable-tidb-extension`, every `TIDB_WATERMARK` record is refused (Flink knows only
//!   INSERT, UPDATE, DELETE and CREATE: `Unknown "type" value "TIDB_WATERMARK"`);
//! * a row with a negative TIME value is refused (Flink's TIME is a time of day);
//! * of the DDL records only `CREATE` is skipped quietly; any other (here `ALTER`) is refused;
//! * a row reduced by `large-message-handle-option = "handle-key-only"` reaches Flink as a row
//!   whose non-key columns are NULL.
//!
//! Every refusal is wrapped by Flink as `IOException("Corrupt Canal JSON message '…'.")`
//! (`flink_error`, see tests/consumers/jvm/DebeziumConsume.java `--flink-errors-as-data`).

use std::time::Duration;

use serde_json::{Value as J, json};
use tidb_changefeed_emulator::runner::Runner;
use tidb_changefeed_emulator::scenario::Scenario;

use crate::consumers::{DebeziumReading, FlinkFormat, consume_debezium_with};
use crate::e2e::{Daemon, emulator, read_all};
use crate::kafka_env::kafka;
use crate::support::unique;

/// The table as Flink SQL declares it.
const FLINK_COLUMNS: &str = "id:BIGINT NOT NULL,name:STRING,c_time:TIME,age:INT";

/// `max-message-bytes` for the run: row 5's 4000-byte `name` does not fit, the others do.
const MAX_MESSAGE_BYTES: usize = 2048;

fn column(id: u32, name: &str, offset: u32, ty: &str) -> String {
    format!(
        r#"{{"id":{id},"name":{{"O":"{name}","L":"{name}"}},"offset":{offset},"state":5,"origin_default":null,"type":{ty}}}"#
    )
}

const BIGINT_PK: &str = r#"{"Tp":8,"Flag":515,"Flen":20,"Decimal":0,"Charset":"binary","Collate":"binary","Elems":null}"#;
const VARCHAR: &str = r#"{"Tp":15,"Flag":0,"Flen":4096,"Decimal":0,"Charset":"utf8mb4","Collate":"utf8mb4_bin","Elems":null}"#;
const TIME: &str = r#"{"Tp":11,"Flag":128,"Flen":10,"Decimal":0,"Charset":"binary","Collate":"binary","Elems":null}"#;
const INT: &str =
    r#"{"Tp":3,"Flag":0,"Flen":11,"Decimal":0,"Charset":"binary","Collate":"binary","Elems":null}"#;

/// `test.t` (id 104) with the columns given, as a TableInfo JSON.
fn table(id: u32, name: &str, cols: &[String]) -> String {
    format!(
        r#"{{"id":{id},"name":{{"O":"{name}","L":"{name}"}},"charset":"utf8mb4","collate":"utf8mb4_bin","cols":[{}],"index_info":[],"state":5,"pk_is_handle":true,"is_common_handle":false,"max_col_id":{},"version":5}}"#,
        cols.join(","),
        cols.len()
    )
}

/// Rows 1 (a time of day), 2 (a negative TIME), `create table t2`, `alter table t add column
/// age`, 3 (with age), 4 (with age), 5 (too large: reduced to its key), then the update of 1
/// and the delete of 2 in one transaction.
fn scenario() -> String {
    let t_before = table(
        104,
        "t",
        &[
            column(1, "id", 0, BIGINT_PK),
            column(2, "name", 1, VARCHAR),
            column(3, "c_time", 2, TIME),
        ],
    );
    let t_after = table(
        104,
        "t",
        &[
            column(1, "id", 0, BIGINT_PK),
            column(2, "name", 1, VARCHAR),
            column(3, "c_time", 2, TIME),
            column(4, "age", 3, INT),
        ],
    );
    let t2 = table(105, "t2", &[column(1, "id", 0, BIGINT_PK)]);
    let big = "x".repeat(4000);
    format!(
        r#"
description = "Flink canal-json: TIME values, DDLs, a reduced large row"

[cluster]
cluster_id = 7000000000000000001
tick_interval_ms = 300

[[stores]]
id = 1

[[regions]]
id = 2
peers = [1]

[[databases]]
id = 2
name = "test"

[[tables]]
db = 2
info = '''{t_before}'''

[[steps]]
action = "wait_subscriptions"
count = 1

[[steps]]
action = "one_pc"
rows = [{{ table = 104, values = {{ id = 1, name = "alice", c_time = "12:34:56" }} }}]

[[steps]]
action = "one_pc"
rows = [{{ table = 104, values = {{ id = 2, name = "bob", c_time = "-01:02:03" }} }}]

[[steps]]
action = "ddl"
job_id = 6
db = 2
type = 3
query = "create table t2 (id bigint primary key)"
table = '''{t2}'''

[[steps]]
action = "ddl"
job_id = 7
db = 2
type = 5
query = "alter table t add column age int"
table = '''{t_after}'''

[[steps]]
action = "one_pc"
rows = [{{ table = 104, values = {{ id = 3, name = "carol", c_time = "00:00:01", age = 30 }} }}]

[[steps]]
action = "one_pc"
rows = [{{ table = 104, values = {{ id = 4, name = "dave", c_time = "23:59:59", age = 40 }} }}]

[[steps]]
action = "one_pc"
rows = [{{ table = 104, values = {{ id = 5, name = "{big}", c_time = "08:00:00", age = 50 }} }}]

[[steps]]
action = "begin"
txn = "u"
[[steps]]
action = "prewrite"
txn = "u"
rows = [{{ table = 104, values = {{ id = 1, name = "alice", c_time = "12:34:56", age = 41 }} }}, {{ table = 104, values = {{ id = 2 }}, delete = true }}]
[[steps]]
action = "commit"
txn = "u"
"#
    )
}

/// The Canal-JSON `type` of a record as it was on the wire.
fn wire_type(record: &J) -> &str {
    record["connect_value"]["value"]["type"]
        .as_str()
        .unwrap_or_default()
}

/// The `data` row of a DML record on the wire whose `id` is `id`.
fn is_row(record: &J, id: i64) -> bool {
    record["connect_value"]["value"]["data"][0]["id"] == json!(id.to_string())
}

fn flink_rows(record: &J) -> Vec<(String, J)> {
    record["flink"]
        .as_array()
        .unwrap_or_else(|| panic!("Flink read no rows from {record}"))
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or_default().to_string(),
                r["fields"].clone(),
            )
        })
        .collect()
}

fn refusal(record: &J) -> &str {
    record["flink_error"]
        .as_str()
        .unwrap_or_else(|| panic!("Flink accepted {record}"))
}

#[tokio::test]
async fn flink_canal_json_reads_rows_and_refuses_watermarks_negative_time_and_non_create_ddl() {
    let text = scenario();
    let s = Scenario::parse(&text, "canal_flink").expect("scenario");
    let mut emu = emulator(&s).await;
    let topic = unique("flink_canal");
    let sink = format!(
        r#"[changefeed.sink]
protocol = "canal-json"

[changefeed.sink.kafka-config]
brokers = ["{broker}"]
topic = "{topic}"
partition-num = 1
max-message-bytes = {MAX_MESSAGE_BYTES}

[changefeed.sink.kafka-config.large-message-handle]
large-message-handle-option = "handle-key-only"

[changefeed.sink.kafka-config.codec-config]
enable-tidb-extension = true
"#,
        broker = kafka().plaintext
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

    let on_wire = read_all(&topic).len();
    let records = consume_debezium_with(
        &kafka().plaintext,
        &topic,
        on_wire,
        DebeziumReading {
            flink_columns: Some(FLINK_COLUMNS),
            connect_schemas: false,
            flink_schema_include: false,
            flink_errors_as_data: true,
            flink_format: FlinkFormat::CanalJson,
        },
    );
    assert_eq!(records.len(), on_wire);

    // Watermarks: present (the extension is on) and every one refused.
    let watermarks: Vec<&J> = records
        .iter()
        .filter(|r| wire_type(r) == "TIDB_WATERMARK")
        .collect();
    assert!(!watermarks.is_empty(), "no watermark in {records:#?}");
    for w in &watermarks {
        let e = refusal(w);
        assert!(
            e.starts_with("java.io.IOException: Corrupt Canal JSON message '"),
            "{e}"
        );
        assert!(
            e.contains(r#"Unknown "type" value "TIDB_WATERMARK""#),
            "{e}"
        );
    }

    // DDLs: CREATE skipped without a row, ALTER refused.
    let ddl = |kind: &str| -> &J {
        records
            .iter()
            .find(|r| wire_type(r) == kind && r["connect_value"]["value"]["isDdl"] == json!(true))
            .unwrap_or_else(|| panic!("no {kind} DDL in {records:#?}"))
    };
    let create = ddl("CREATE");
    assert_eq!(create["flink"], json!([]), "{create}");
    assert!(create.get("flink_error").is_none_or(J::is_null), "{create}");
    let alter = ddl("ALTER");
    assert!(
        refusal(alter).contains(r#"Unknown "type" value "ALTER""#),
        "{alter}"
    );

    let inserts = |id: i64| -> Vec<&J> {
        records
            .iter()
            .filter(|r| wire_type(r) == "INSERT" && is_row(r, id))
            .collect()
    };
    let one = |id: i64| -> &J {
        let found = inserts(id);
        assert_eq!(found.len(), 1, "insert of {id}: {found:#?}");
        found[0]
    };

    // A time of day is read; a negative TIME is refused.
    assert_eq!(
        flink_rows(one(1)),
        [("+I".to_string(), json!([1, "alice", "12:34:56", null]))]
    );
    let negative = one(2);
    assert_eq!(
        negative["connect_value"]["value"]["data"][0]["c_time"],
        json!("-01:02:03")
    );
    let e = refusal(negative);
    assert!(e.contains("Corrupt Canal JSON message"), "{e}");
    assert!(e.contains("c_time") || e.contains("-01:02:03"), "{e}");

    assert_eq!(
        flink_rows(one(3)),
        [("+I".to_string(), json!([3, "carol", "00:00:01", 30]))]
    );

    // The reduced row: only the key on the wire, NULL non-key columns in Flink.
    let reduced = one(5);
    assert_eq!(
        reduced["connect_value"]["value"]["_tidb"]["onlyHandleKey"],
        json!(true),
        "{reduced}"
    );
    assert_eq!(
        flink_rows(reduced),
        [("+I".to_string(), json!([5, null, null, null]))]
    );

    // The update and the delete of the last transaction.
    let update = records
        .iter()
        .find(|r| wire_type(r) == "UPDATE")
        .expect("the update of 1");
    assert_eq!(
        flink_rows(update),
        [
            ("-U".to_string(), json!([1, "alice", "12:34:56", null])),
            ("+U".to_string(), json!([1, "alice", "12:34:56", 41])),
        ]
    );
    let delete = records
        .iter()
        .find(|r| wire_type(r) == "DELETE")
        .expect("the delete of 2");
    // Row 2's stored TIME is negative: Flink refuses the delete as it refused the insert.
    assert!(
        refusal(delete).contains("Corrupt Canal JSON message"),
        "{delete}"
    );
}
