//! Golden tests of the new-architecture schema-change and watermark messages, replayed from
//! `tests/corpus/vectors/debezium_messages.json` (TiCDC's own expectations, pingcap/ticdc
//! v8.5.7-release.1 `pkg/sink/codec/debezium/codec_test.go` `TestDDLEvent`,
//! `TestCheckPointEvent`) and `debezium_values.json` (`helper_test.go` `TestGetColumns`), plus
//! the encoder's gating by `newarch` and `enable-tidb-extension`. TiCDC's tests compare with
//! `JSONEq`, so these compare parsed JSON; key order is the encoder's (TiCDC's writer order).

use std::sync::Arc;

use serde_json::{Value as J, json};

use super::ddl_columns::column_defs;
use super::schema_change::{ddl_key, ddl_value, watermark_key, watermark_value};
use super::{DebeziumConfig, DebeziumEncoder};
use crate::codec::{Encoder, FixedClock};
use crate::config::Placement;
use crate::event::{DdlEvent, TableName};
use crate::model::{
    ActionType, CIStr, ColumnInfo, FieldType, IndexColumn, IndexInfo, SchemaState, TableInfo, flag,
};

const MESSAGES: &str = include_str!("../../../tests/corpus/vectors/debezium_messages.json");
const VALUES: &str = include_str!("../../../tests/corpus/vectors/debezium_values.json");

fn cases(text: &str) -> Vec<J> {
    let doc: J = serde_json::from_str(text).expect("corpus file is JSON");
    doc["cases"].as_array().expect("cases").clone()
}

fn s(v: &J) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// The table a case's `table_info` describes (TiDB's defaults where it is silent).
fn table_info(t: &J, name: &str) -> TableInfo {
    let mut columns = Vec::new();
    for (i, c) in t["columns"].as_array().into_iter().flatten().enumerate() {
        let ty = &c["type"];
        let num = |k: &str| ty[k].as_i64().unwrap_or(0);
        columns.push(ColumnInfo {
            id: i64::try_from(i).expect("index") + 1,
            name: CIStr::new(&s(&c["name"])),
            offset: i64::try_from(i).expect("index"),
            field_type: FieldType {
                tp: u8::try_from(num("Tp")).expect("type code"),
                flag: u32::try_from(num("Flag")).expect("flag"),
                flen: num("Flen"),
                decimal: i32::try_from(num("Decimal")).expect("decimal"),
                charset: s(&ty["Charset"]),
                ..FieldType::default()
            },
            default: c.get("default_value").cloned().filter(|v| !v.is_null()),
            state: SchemaState::PUBLIC,
            ..ColumnInfo::default()
        });
    }
    let pk: Vec<String> = t["primary_key"]
        .as_array()
        .into_iter()
        .flatten()
        .map(s)
        .collect();
    let int_handle = pk.len() == 1
        && columns
            .iter()
            .any(|c| c.name.o == pk[0] && c.field_type.has_flag(flag::PRI_KEY));
    let indices = if pk.is_empty() || int_handle {
        Vec::new()
    } else {
        vec![IndexInfo {
            id: 1,
            name: CIStr::new("PRIMARY"),
            columns: pk
                .iter()
                .map(|n| IndexColumn {
                    name: CIStr::new(n),
                    offset: columns
                        .iter()
                        .position(|c| &c.name.o == n)
                        .and_then(|p| i64::try_from(p).ok())
                        .unwrap_or(0),
                    length: -1,
                })
                .collect(),
            state: SchemaState::PUBLIC,
            unique: true,
            primary: true,
            ..IndexInfo::default()
        }]
    };
    TableInfo {
        id: 100,
        name: CIStr::new(name),
        charset: s(&t["charset"]),
        columns,
        indices,
        pk_is_handle: int_handle,
        state: SchemaState::PUBLIC,
        ..TableInfo::default()
    }
}

fn ddl_event(e: &J) -> DdlEvent {
    let table = s(&e["table"]);
    DdlEvent {
        query: s(&e["query"]),
        action: ActionType(u8::try_from(e["action_type"].as_u64().unwrap_or(0)).expect("action")),
        table: TableName {
            schema: s(&e["schema"]),
            table: table.clone(),
        },
        pre_table: e.get("extra_table").map(|t| TableName {
            schema: s(&e["extra_schema"]),
            table: s(t),
        }),
        meta: None,
        table_info: e.get("table_info").map(|t| Arc::new(table_info(t, &table))),
        start_ts: 0,
        commit_ts: e["finished_ts"].as_u64().unwrap_or(0),
    }
}

fn clock_ms(case: &J) -> i64 {
    case["clock_unix_s"].as_i64().unwrap_or(0) * 1000
}

fn newarch(case: &J, tidb_extension: bool) -> DebeziumEncoder {
    let cfg = &case["config"];
    DebeziumEncoder::with_clock(
        DebeziumConfig {
            cluster_id: s(&cfg["cluster_id"]),
            disable_schema: cfg["debezium-disable-schema"].as_bool().unwrap_or(false),
            enable_tidb_extension: tidb_extension,
            newarch: true,
            ..DebeziumConfig::default()
        },
        Arc::new(FixedClock(clock_ms(case))),
    )
}

fn parsed(bytes: &[u8], id: &str) -> J {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("{id}: our output is not JSON: {e}"))
}

#[test]
fn ticdc_new_architecture_ddl_and_watermark_cases() {
    let mut replayed = 0;
    for case in cases(MESSAGES) {
        let id = s(&case["id"]);
        let kind = s(&case["event"]["kind"]);
        if kind != "ddl" && kind != "watermark" {
            continue;
        }
        let source = s(&case["source"]);
        let with_schema = !case["config"]["debezium-disable-schema"]
            .as_bool()
            .unwrap_or(false);
        let cluster = s(&case["config"]["cluster_id"]);
        let ours: Option<Vec<u8>> = match (kind.as_str(), s(&case["message"]).as_str()) {
            ("ddl", "key") => Some(ddl_key(&ddl_event(&case["event"]), with_schema)),
            ("ddl", "value") => ddl_value(
                &ddl_event(&case["event"]),
                &cluster,
                clock_ms(&case),
                with_schema,
            ),
            ("ddl", "none") => {
                let record = newarch(&case, false)
                    .encode_ddl(&ddl_event(&case["event"]))
                    .expect("a DDL of an unknown kind is not an error");
                assert!(record.is_none(), "{id} ({source}): TiCDC sends nothing");
                replayed += 1;
                continue;
            }
            ("watermark", "key") => Some(watermark_key(&cluster, with_schema)),
            ("watermark", "value") => Some(watermark_value(
                &cluster,
                case["event"]["checkpoint_ts"]
                    .as_u64()
                    .expect("checkpoint_ts"),
                clock_ms(&case),
                with_schema,
            )),
            other => panic!("{id}: unexpected case shape {other:?}"),
        };
        let ours = ours.unwrap_or_else(|| panic!("{id} ({source}): no message"));
        assert_eq!(
            parsed(&ours, &id),
            case["expect"]["json"],
            "{id} ({source}):\n{}",
            String::from_utf8_lossy(&ours)
        );
        replayed += 1;
    }
    assert_eq!(replayed, 9, "every DDL and watermark case of the corpus");
}

/// The encoder sends these only when configured as TiCDC's new architecture.
#[test]
fn gated_by_newarch_and_tidb_extension() {
    let case = cases(MESSAGES)
        .into_iter()
        .find(|c| c["id"] == "newarch-ddl-create-value")
        .expect("create case");
    let ev = ddl_event(&case["event"]);
    let classic = DebeziumEncoder::with_clock(DebeziumConfig::default(), Arc::new(FixedClock(0)));
    assert!(classic.encode_ddl(&ev).expect("classic").is_none());
    assert!(classic.encode_watermark(5).expect("classic").is_none());
    assert_eq!(classic.caps().ddl, Placement::Nowhere);

    let plain = newarch(&case, false);
    let record = plain.encode_ddl(&ev).expect("ddl").expect("a message");
    assert_eq!(
        parsed(record.value.as_deref().expect("value"), "create"),
        case["expect"]["json"]
    );
    assert_eq!(
        parsed(record.key.as_deref().expect("key"), "create key"),
        json!({"payload": {"databaseName": "test"}})
    );
    assert_eq!(plain.caps().ddl, Placement::AllPartitions);
    assert_eq!(plain.caps().watermark, Placement::Nowhere);
    assert!(plain.encode_watermark(5).expect("watermark").is_none());

    let extended = newarch(&case, true);
    assert_eq!(extended.caps().watermark, Placement::AllPartitions);
    let w = extended
        .encode_watermark(5 << 18)
        .expect("watermark")
        .expect("a message");
    let v = parsed(w.value.as_deref().expect("value"), "watermark");
    assert_eq!(v["payload"]["op"], json!("m"));
    assert_eq!(v["payload"]["source"]["commit_ts"], json!(5u64 << 18));
    assert_eq!(v["payload"]["source"]["ts_ms"], json!(5));
}

/// `helper_test.go` `TestGetColumns`, case by case from the corpus.
#[test]
fn ticdc_parse_columns_cases() {
    let mut replayed = 0;
    for case in cases(VALUES) {
        if case["op"] != "ddl_parse_columns" {
            continue;
        }
        let id = s(&case["id"]);
        let name = s(&case["column_before"]["name"]);
        let defs = column_defs(&s(&case["query"]));
        let def = defs
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{id}: no definition of {name}"));
        let expect = &case["expect"];
        assert_eq!(
            def.default.as_deref(),
            expect["default_value"].as_str(),
            "{id}: default"
        );
        if let Some(d) = expect.get("Decimal") {
            assert!(def.is_temporal() && def.type_name != "YEAR", "{id}");
            assert_eq!(def.length, d.as_i64(), "{id}: decimal");
        }
        if let Some(f) = expect.get("Flen") {
            assert_eq!(def.type_name, "YEAR", "{id}");
            assert_eq!(def.length, f.as_i64(), "{id}: flen");
        }
        replayed += 1;
    }
    assert_eq!(replayed, 4);
}

/// What the query's own definitions change in the table description, and the column rules
/// beyond TiCDC's single-INT cases (derived from `helper.go`, not from TiCDC test data).
#[test]
fn table_description_takes_over_the_query() {
    let info = table_info(
        &json!({
            "charset": "utf8mb4",
            "primary_key": ["id"],
            "columns": [
                {"name": "id", "type": {"Tp": 8, "Flag": 515, "Flen": 20, "Decimal": 0, "Charset": "binary"}},
                {"name": "t", "type": {"Tp": 12, "Flag": 0, "Flen": 19, "Decimal": 0, "Charset": "binary"},
                 "default_value": "2020-01-01 00:00:00"},
                {"name": "u", "type": {"Tp": 7, "Flag": 8192, "Flen": 23, "Decimal": 3, "Charset": "binary"},
                 "default_value": "CURRENT_TIMESTAMP(3)"},
                {"name": "name", "type": {"Tp": 15, "Flag": 0, "Flen": 32, "Decimal": 0, "Charset": "utf8mb4"}},
                {"name": "amount", "type": {"Tp": 246, "Flag": 32, "Flen": 10, "Decimal": 2, "Charset": "binary"}}
            ]
        }),
        "t1",
    );
    let mut info = info;
    info.columns[3].comment = "kept".into();
    info.columns[4].comment = "cleared".into();
    let ev = DdlEvent {
        query: "ALTER TABLE t1 ADD COLUMN amount decimal(10,2) unsigned COMMENT 'cleared', MODIFY t datetime DEFAULT CURRENT_TIMESTAMP".into(),
        action: ActionType::ADD_COLUMN,
        table: TableName {
            schema: "d".into(),
            table: "t1".into(),
        },
        pre_table: None,
        meta: None,
        table_info: Some(Arc::new(info)),
        start_ts: 0,
        commit_ts: 7 << 18,
    };
    let v = parsed(&ddl_value(&ev, "c", 0, false).expect("ALTER"), "alter");
    let change = &v["payload"]["tableChanges"][0];
    assert_eq!(change["type"], json!("ALTER"));
    assert_eq!(change["id"], json!("\"d\".\"t1\""));
    let cols = change["table"]["columns"].as_array().expect("columns");
    let col = |n: &str| cols.iter().find(|c| c["name"] == n).expect("column");
    // BIGINT AUTO_INCREMENT PRIMARY KEY
    assert_eq!(col("id")["jdbcType"], json!(-5));
    assert_eq!(col("id")["autoIncremented"], json!(true));
    assert_eq!(col("id")["length"], json!(null));
    assert_eq!(col("id")["optional"], json!(false));
    // DATETIME rewritten by the query: fsp unwritten (-1 → null), its default as written.
    assert_eq!(col("t")["length"], json!(null));
    assert_eq!(
        col("t")["defaultValueExpression"],
        json!("1970-01-01 00:00:00")
    );
    assert_eq!(col("t")["typeName"], json!("DATETIME"));
    assert_eq!(col("t")["jdbcType"], json!(93));
    // TIMESTAMP ON UPDATE CURRENT_TIMESTAMP not in the query: the table's own values.
    assert_eq!(col("u")["length"], json!(3));
    assert_eq!(col("u")["jdbcType"], json!(2014));
    assert_eq!(col("u")["generated"], json!(true));
    assert_eq!(
        col("u")["defaultValueExpression"],
        json!("CURRENT_TIMESTAMP(3)")
    );
    assert_eq!(col("name")["comment"], json!("kept"));
    assert_eq!(col("name")["charsetName"], json!("utf8mb4"));
    assert_eq!(col("name")["length"], json!(32));
    assert_eq!(col("amount")["comment"], json!(null));
    assert_eq!(col("amount")["typeName"], json!("DECIMAL"));
    assert_eq!(col("amount")["scale"], json!(2));
    assert_eq!(col("amount")["position"], json!(5));
    assert_eq!(change["table"]["primaryKeyColumnNames"], json!(["id"]));

    // Schema-level DDL and TRUNCATE: no table change.
    for (action, table) in [
        (ActionType::CREATE_SCHEMA, ""),
        (ActionType::TRUNCATE_TABLE, "t1"),
    ] {
        let ev = DdlEvent {
            action,
            table: TableName {
                schema: "d".into(),
                table: table.into(),
            },
            ..ev.clone()
        };
        let v = parsed(&ddl_value(&ev, "c", 0, false).expect("described"), "empty");
        assert_eq!(v["payload"]["tableChanges"], json!([]), "{action:?}");
    }
}
