//! TiCDC Open Protocol end to end: emulated TiDB → the daemon (`protocol = "open-protocol"`)
//! → the real Kafka broker → `consume.py --format open-protocol`, a decoder written from the
//! public documentation (ticdc-open-protocol.md) alone, which splits each record's batch into
//! events and refuses anything the documented framing and shapes do not allow.
//!
//! Expected values come from the documentation's "Column type code" table applied to the
//! scenario's literal values (the current forms: CHAR/VARCHAR text as plain strings, binary
//! strings as escaped text, the TEXT/BLOB family base64), its "Bit flags of columns" table
//! applied to the scenario's column definitions, and its "DDL Type Code" table.
//!
//! [`check_stream`] asserts the documentation's "Restrictions" over a decoded topic:
//!
//! - "On the same table, the Row Changed Events of each version which is first sent are
//!   incremented in the order of timestamps (TS) in the Event stream": per partition, the row
//!   events of one table have non-decreasing ts (no fault is injected here, so every event is
//!   a first sending).
//! - "Resolved Events are periodically broadcasted to each MQ Partition. The Resolved Event
//!   means that any Event with a TS earlier than Resolved Event TS has been sent to the
//!   downstream", and, under the examples, "in this Partition, any events smaller than the
//!   Resolved TS (including Row Changed Event and DDL Event) have been sent": every partition
//!   has a resolved event, and no row or DDL event after a resolved event at R on its
//!   partition has a ts below R. The converse (every event before it at or below R) is not
//!   promised: the documentation's own example sends resolved ts 415508881038376963 (log 13)
//!   after rows at 415508881418485761 (logs 9-12) on partition 0.
//! - "DDL Events are broadcasted to each MQ Partition": every DDL event is on every partition.
//! - "Multiple Row Changed Events of a row are sent to the same MQ Partition": the row events
//!   of one handle (the columns with `"h": true`) of one table are on one partition.
//!
//! The checker itself is tested on the documentation's example stream (logs 1-14), which it
//! accepts, and on that stream with each promise broken, which it refuses.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value as J, json};
use tidb_changefeed_emulator::runner::Runner;
use tidb_changefeed_emulator::scenario::Scenario;

use crate::consumers::consume_open;
use crate::e2e::{Daemon, emulator, table_topics_sink};
use crate::kafka_env::kafka;
use crate::support::unique;

const ALL_TYPES: &str = include_str!("../scenarios/fixtures/avro_all_types.toml");
const BATCHES: &str = include_str!("../scenarios/fixtures/open_batches.toml");

/// The event kinds of the key's `"t"`.
const ROW: u64 = 1;
const DDL: u64 = 2;
const RESOLVED: u64 = 3;

/// The column flag bits of the documentation's "Bit flags of columns".
const BINARY: u64 = 0x01;
const HANDLE_KEY: u64 = 0x02;
const PRIMARY_KEY: u64 = 0x08;
const NULLABLE: u64 = 0x40;
const UNSIGNED: u64 = 0x80;

/// `fixture` with a pause of `ms` before each transaction and DDL, so that resolved events
/// fall between them (the file's lines stay as they are; sleep steps are added).
fn with_pauses(fixture: &str, ms: u64) -> String {
    let mut text = fixture.to_string();
    for action in ["one_pc", "ddl"] {
        let step = format!("[[steps]]\naction = \"{action}\"");
        let paused = format!("[[steps]]\naction = \"sleep\"\nms = {ms}\n\n{step}");
        assert!(text.contains(&step), "no {action} step in the fixture");
        text = text.replace(&step, &paused);
    }
    text
}

/// Plays `fixture` through one daemon writing Open Protocol to the real broker
/// (`max-batch-size = 16`, `partition-num` partitions per created topic, every table in its
/// own topic dispatched by index value), and returns the topic of `table` in schema `test`
/// once the daemon has checkpointed everything and exited.
async fn replicate(fixture: &str, partitions: i32, table: &str) -> String {
    let s = Scenario::parse(fixture, "open_e2e").expect("scenario");
    let mut emu = emulator(&s).await;
    let prefix = unique("open");
    let sink = table_topics_sink(
        "protocol = \"open-protocol\"",
        &prefix,
        partitions,
        "[changefeed.sink.kafka-config.codec-config]\nmax-batch-size = 16",
    );
    let mut d = Daemon::start_sink(&format!("http://{}", emu.pd_addr()), "", &sink);
    Runner::new(&s)
        .expect("runner")
        .play(&mut emu, &s)
        .await
        .unwrap_or_else(|e| panic!("scenario plays: {e:?}\ndaemon log:\n{}", d.log()));
    let last = emu.cluster().lock().next_ts();
    d.wait_checkpoint(last, Duration::from_secs(60)).await;
    let st = d.terminate();
    assert!(st.success(), "exit {st}:\n{}", d.log());
    format!("{prefix}_test_{table}")
}

fn kind(e: &J) -> u64 {
    e["key"]["t"]
        .as_u64()
        .unwrap_or_else(|| panic!("no event type: {e}"))
}

fn ts(e: &J) -> u64 {
    e["key"]["ts"]
        .as_u64()
        .unwrap_or_else(|| panic!("no ts: {e}"))
}

fn partition(e: &J) -> i32 {
    e["partition"]
        .as_i64()
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or_else(|| panic!("no partition: {e}"))
}

/// Where the event sits: (partition, offset, index in the batch).
fn position(e: &J) -> (i64, i64, i64) {
    let n = |k: &str| e[k].as_i64().unwrap_or_else(|| panic!("no {k}: {e}"));
    (n("partition"), n("offset"), n("index"))
}

/// The table a row or DDL event names.
fn table_of(e: &J) -> (String, String) {
    let s = |k: &str| e["key"][k].as_str().unwrap_or_default().to_string();
    (s("scm"), s("tbl"))
}

/// The handle of a row event: its `"h": true` columns and values, from `"u"` (insert,
/// update) or `"d"` (delete).
fn handle_of(e: &J) -> String {
    let value = &e["value"];
    let image = value.get("u").or_else(|| value.get("d"));
    let columns = image
        .and_then(J::as_object)
        .unwrap_or_else(|| panic!("a row event without u or d: {e}"));
    let handle: BTreeMap<&String, &J> = columns
        .iter()
        .filter(|(_, c)| c["h"] == json!(true))
        .map(|(name, c)| (name, &c["v"]))
        .collect();
    assert!(
        !handle.is_empty(),
        "a row event without a handle column: {e}"
    );
    serde_json::to_string(&handle).unwrap_or_default()
}

/// Asserts the documentation's promises (see the module doc) over the decoded events of one
/// topic of `partitions` partitions, as [`consume_open`] returns them.
fn check_stream(events: &[J], partitions: i32) {
    let positions: Vec<_> = events.iter().map(position).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "events are not in (partition, offset, index) order"
    );
    for e in events {
        let p = partition(e);
        assert!(
            (0..partitions).contains(&p),
            "partition {p} of {partitions}: {e}"
        );
    }
    for p in 0..partitions {
        let on_p: Vec<&J> = events.iter().filter(|e| partition(e) == p).collect();
        check_partition(p, &on_p);
    }
    check_ddl_broadcast(events, partitions);
    check_row_partitions(events);
}

/// One partition's events in order: rows of a table in ts order; nothing after a resolved
/// event below its ts; at least one resolved event.
fn check_partition(p: i32, events: &[&J]) {
    let mut last_row_ts: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut resolved: Option<u64> = None;
    for e in events {
        let ts = ts(e);
        match kind(e) {
            RESOLVED => resolved = Some(resolved.map_or(ts, |r| r.max(ts))),
            k => {
                if let Some(r) = resolved {
                    assert!(
                        ts >= r,
                        "partition {p}: event at ts {ts} after resolved ts {r}: {e}"
                    );
                }
                if k == ROW {
                    let last = last_row_ts.entry(table_of(e)).or_insert(ts);
                    assert!(
                        ts >= *last,
                        "partition {p}: row at ts {ts} after a row of its table at {last}: {e}"
                    );
                    *last = ts;
                }
            }
        }
    }
    assert!(resolved.is_some(), "partition {p} has no resolved event");
}

/// Every DDL event (ts, schema, table, value) is on every partition.
fn check_ddl_broadcast(events: &[J], partitions: i32) {
    let mut ddls: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for e in events.iter().filter(|e| kind(e) == DDL) {
        let id = json!([ts(e), e["key"]["scm"], e["key"]["tbl"], e["value"]]).to_string();
        ddls.entry(id).or_default().insert(partition(e));
    }
    let all: BTreeSet<i32> = (0..partitions).collect();
    for (ddl, on) in ddls {
        assert_eq!(on, all, "DDL {ddl} is not on every partition");
    }
}

/// The row events of one handle of one table are on one partition.
fn check_row_partitions(events: &[J]) {
    let mut seen: BTreeMap<((String, String), String), i32> = BTreeMap::new();
    for e in events.iter().filter(|e| kind(e) == ROW) {
        let p = partition(e);
        let first = *seen.entry((table_of(e), handle_of(e))).or_insert(p);
        assert_eq!(
            first, p,
            "a row's events on partitions {first} and {p}: {e}"
        );
    }
}

/// The row event's kind from its shape: insert `{"u"}`, update `{"u","p"}`, delete `{"d"}`.
fn row_kind(e: &J) -> &'static str {
    let has = |k: &str| e["value"].get(k).is_some();
    match (has("u"), has("p"), has("d")) {
        (true, false, false) => "insert",
        (true, true, false) => "update",
        (false, false, true) => "delete",
        _ => panic!("not a row value: {e}"),
    }
}

/// The row events of the row whose `id` column is `id`, in stream order.
fn of_id(rows: &[&J], id: i64) -> Vec<J> {
    rows.iter()
        .filter(|e| {
            let v = &e["value"];
            let image = v.get("u").or_else(|| v.get("d"));
            image.is_some_and(|i| i["id"]["v"] == json!(id))
        })
        .map(|e| (*e).clone())
        .collect()
}

/// Row 1's columns as the documentation's tables give them for the scenario's values: type
/// code, value, the flag bits that follow from the column definition, and which bits of the
/// flags those are (BinaryFlag only where the documentation says it means something:
/// BLOB/TEXT and CHAR).
fn row_one() -> Vec<(&'static str, u64, J, u64, u64)> {
    let base = HANDLE_KEY | PRIMARY_KEY | NULLABLE | UNSIGNED;
    let text = base | BINARY;
    vec![
        ("id", 8, json!(1), HANDLE_KEY | PRIMARY_KEY, base),
        ("c_tiny", 1, json!(-8), NULLABLE, base),
        ("c_small", 2, json!(-300), NULLABLE, base),
        ("c_medium", 9, json!(70000), NULLABLE, base),
        ("c_int", 3, json!(-2_147_483_648i64), NULLABLE, base),
        (
            "c_uint",
            3,
            json!(4_294_967_295u64),
            NULLABLE | UNSIGNED,
            base,
        ),
        (
            "c_ubig",
            8,
            json!(18_446_744_073_709_551_615u64),
            NULLABLE | UNSIGNED,
            base,
        ),
        ("c_float", 4, json!(1.5), NULLABLE, base),
        ("c_double", 5, json!(-2.25), NULLABLE, base),
        ("c_decimal", 246, json!("-12345678.91"), NULLABLE, base),
        ("c_varchar", 15, json!("héllo <&>"), NULLABLE, base),
        // CHAR NOT NULL.
        ("c_char", 254, json!("ab"), 0, text),
        // base64("long text") and base64("\x01\x02bin").
        ("c_text", 252, json!("bG9uZyB0ZXh0"), NULLABLE, text),
        ("c_blob", 252, json!("AQJiaW4="), NULLABLE | BINARY, text),
        // A VARBINARY of printable bytes: nothing to escape.
        ("c_varbinary", 15, json!("vb"), NULLABLE, base),
        ("c_date", 10, json!("2024-02-29"), NULLABLE, base),
        (
            "c_datetime",
            12,
            json!("2024-02-29 23:59:58.123"),
            NULLABLE,
            base,
        ),
        // The changefeed's time-zone is UTC.
        (
            "c_timestamp",
            7,
            json!("2024-03-01 00:00:01"),
            NULLABLE,
            base,
        ),
        ("c_time", 11, json!("-12:34:56"), NULLABLE, base),
        ("c_year", 13, json!(2024), NULLABLE | UNSIGNED, base),
        ("c_json", 245, json!("{\"k\": [1, 2]}"), NULLABLE, base),
        // ENUM 'b' of ('a','b','c') is 2; SET 'x,z' of ('x','y','z') is 0b101.
        ("c_enum", 247, json!(2), NULLABLE, base),
        ("c_set", 248, json!(5), NULLABLE, base),
        ("c_bit", 16, json!(165), NULLABLE | UNSIGNED, base),
    ]
}

/// Asserts row 1's insert, column by column.
fn assert_row_one(e: &J) {
    assert_eq!(row_kind(e), "insert", "{e:#}");
    assert_eq!(e["key"]["scm"], json!("test"), "{e:#}");
    assert_eq!(e["key"]["tbl"], json!("all_types"), "{e:#}");
    let u = e["value"]["u"].as_object().expect("the new row");
    let want = row_one();
    let names: BTreeSet<&str> = want.iter().map(|(n, ..)| *n).collect();
    assert_eq!(
        u.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        names,
        "row 1 has every column of the table before the DDL: {e:#}"
    );
    for (name, code, value, flags, mask) in want {
        let c = &u[name];
        assert_eq!(c["t"], json!(code), "type code of {name}: {c}");
        assert_eq!(c["v"], value, "value of {name}: {c}");
        let f = c["f"]
            .as_u64()
            .unwrap_or_else(|| panic!("{name} has no flags: {c}"));
        assert_eq!(
            f & mask,
            flags,
            "flags of {name} ({f:#x} under {mask:#x}): {c}"
        );
        let h = if name == "id" { json!(true) } else { J::Null };
        assert_eq!(
            c.get("h").cloned().unwrap_or(J::Null),
            h,
            "handle of {name}: {c}"
        );
    }
}

/// The column `name` of the row image `image` ("u", "p", "d") of `e`.
fn col<'a>(e: &'a J, image: &str, name: &str) -> &'a J {
    &e["value"][image][name]
}

/// Rows 2 and 3: NULLs, the update with its old row, the column added by the DDL, the delete.
fn assert_rows_two_and_three(two: &[J], three: &[J]) {
    let kinds = |es: &[J]| es.iter().map(row_kind).collect::<Vec<_>>();
    assert_eq!(kinds(two), ["insert", "update"], "{two:#?}");
    assert_eq!(kinds(three), ["insert", "delete"], "{three:#?}");

    let insert = &two[0];
    for name in ["c_tiny", "c_decimal", "c_json", "c_set", "c_bit", "c_blob"] {
        assert_eq!(
            col(insert, "u", name)["v"],
            J::Null,
            "{name} of row 2: {insert:#}"
        );
    }
    assert_eq!(col(insert, "u", "c_char")["v"], json!("cc"));
    assert_eq!(
        col(insert, "u", "c_note"),
        &J::Null,
        "row 2 predates the DDL"
    );

    let update = &two[1];
    assert!(ts(update) > ts(insert), "{two:#?}");
    for (image, name, value) in [
        ("u", "id", json!(2)),
        ("u", "c_char", json!("ee")),
        ("u", "c_int", json!(7)),
        ("u", "c_note", json!("upd")),
        ("p", "id", json!(2)),
        ("p", "c_char", json!("cc")),
        ("p", "c_int", J::Null),
    ] {
        assert_eq!(
            col(update, image, name)["v"],
            value,
            "{image}.{name}: {update:#}"
        );
    }
    assert_eq!(col(update, "p", "id")["h"], json!(true), "{update:#}");

    assert_eq!(col(&three[0], "u", "c_char")["v"], json!("dd"));
    assert_eq!(col(&three[0], "u", "c_note")["v"], json!("noted"));
    let delete = &three[1];
    assert_eq!(col(delete, "d", "id")["v"], json!(3), "{delete:#}");
    assert_eq!(col(delete, "d", "id")["h"], json!(true), "{delete:#}");
}

/// The ALTER TABLE: one DDL event per partition with the query and Add Column's type code,
/// after every row committed before it and before every row committed after it.
fn assert_ddl(events: &[J], rows: &[&J], partitions: i32) {
    let ddls: Vec<&J> = events.iter().filter(|e| kind(e) == DDL).collect();
    let on: Vec<i32> = ddls.iter().map(|e| partition(e)).collect();
    assert_eq!(on, (0..partitions).collect::<Vec<_>>(), "{ddls:#?}");
    for d in &ddls {
        assert_eq!(
            d["value"],
            json!({"q": "alter table all_types add column c_note varchar(20) default 'n/a'",
                   "t": 5}),
            "{d:#}"
        );
        assert_eq!(d["key"]["scm"], json!("test"), "{d:#}");
        assert_eq!(d["key"]["tbl"], json!("all_types"), "{d:#}");
        for r in rows.iter().filter(|r| partition(r) == partition(d)) {
            assert_eq!(
                ts(r) < ts(d),
                position(r) < position(d),
                "row at ts {} vs DDL at ts {}: {r}",
                ts(r),
                ts(d)
            );
        }
    }
}

#[tokio::test]
async fn every_type_reaches_the_open_protocol_decoder() {
    let topic = replicate(&with_pauses(ALL_TYPES, 1500), 3, "all_types").await;
    let events = consume_open(&kafka().plaintext, &topic, None);
    check_stream(&events, 3);
    // The pauses put resolved events between the rows, so the resolved-ts check bit.
    let mid_stream = events.windows(2).any(|w| {
        kind(&w[0]) == RESOLVED && kind(&w[1]) != RESOLVED && partition(&w[0]) == partition(&w[1])
    });
    assert!(
        mid_stream,
        "no resolved event followed by a row or DDL: {events:#?}"
    );

    let rows: Vec<&J> = events.iter().filter(|e| kind(e) == ROW).collect();
    // Inserts of 1, 2, 3; the update of 2; the delete of 3: each exactly once.
    assert_eq!(rows.len(), 5, "{events:#?}");
    let one = of_id(&rows, 1);
    assert_eq!(one.len(), 1, "{events:#?}");
    assert_row_one(&one[0]);
    assert_rows_two_and_three(&of_id(&rows, 2), &of_id(&rows, 3));
    assert_ddl(&events, &rows, 3);
}

#[tokio::test]
async fn forty_rows_of_one_transaction_are_batched_sixteen_to_a_record() {
    let topic = replicate(BATCHES, 1, "batched").await;
    let events = consume_open(&kafka().plaintext, &topic, None);
    check_stream(&events, 1);

    let rows: Vec<&J> = events.iter().filter(|e| kind(e) == ROW).collect();
    let mut ids: Vec<i64> = rows
        .iter()
        .map(|e| col(e, "u", "id")["v"].as_i64().expect("id"))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=40).collect::<Vec<_>>(), "{events:#?}");
    assert!(rows.iter().all(|e| row_kind(e) == "insert"));
    assert_eq!(
        rows.iter().map(|e| ts(e)).collect::<BTreeSet<_>>().len(),
        1,
        "one transaction, one commit ts"
    );

    // The records that hold the rows: 16, 16 and 8 events, rows only.
    let mut records: BTreeMap<i64, Vec<&J>> = BTreeMap::new();
    for e in &events {
        records.entry(position(e).1).or_default().push(e);
    }
    let with_rows: Vec<&Vec<&J>> = records
        .values()
        .filter(|r| r.iter().any(|e| kind(e) == ROW))
        .collect();
    let sizes: Vec<usize> = with_rows.iter().map(|r| r.len()).collect();
    assert_eq!(sizes, [16, 16, 8], "{events:#?}");
    for r in with_rows {
        assert!(r.iter().all(|e| kind(e) == ROW), "{r:#?}");
        for (i, e) in r.iter().enumerate() {
            assert_eq!(e["index"], json!(i), "{e}");
            assert_eq!(e["batch_size"], json!(r.len()), "{e}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The checker on hand-made streams: the documentation's own example passes, and each broken
// promise is caught.

/// One decoded event alone in its record, as [`consume_open`] prints it.
fn event(p: i32, offset: i64, key: J, value: J) -> J {
    json!({"partition": p, "offset": offset, "index": 0, "batch_size": 1, "key": key, "value": value})
}

fn row_key(ts: u64) -> J {
    json!({"ts": ts, "scm": "test", "tbl": "t1", "t": 1})
}

fn resolved(ts: u64) -> J {
    json!({"ts": ts, "t": 3})
}

fn insert(id: i64, val: &str) -> J {
    json!({"u": {"id": {"t": 3, "h": true, "v": id}, "val": {"t": 15, "v": val}}})
}

fn delete(id: i64) -> J {
    json!({"d": {"id": {"t": 3, "h": true, "v": id}}})
}

/// The documentation's "Examples of the Event stream output", logs 1-14 (two partitions),
/// in (partition, offset) order.
fn documented_stream() -> Vec<J> {
    let ddl_key = json!({"ts": 415508856908021766u64, "scm": "test", "tbl": "t1", "t": 2});
    let ddl = json!({"q": "CREATE TABLE test.t1(id int primary key, val varchar(16))", "t": 3});
    let (t1, t2, r1, r2) = (
        415508878783938562,
        415508881418485761,
        415508856908021766,
        415508881038376963,
    );
    let p0 = [
        (ddl_key.clone(), ddl.clone()),   // 1
        (resolved(r1), J::Null),          // 2
        (row_key(t1), insert(1, "YWE=")), // 5
        (row_key(t1), insert(3, "Y2M=")), // 7
        (row_key(t1), insert(3, "Y2M=")), // 8, a repeat of 7
        (row_key(t2), delete(1)),         // 9
        (row_key(t2), insert(3, "ZGQ=")), // 11
        (row_key(t2), insert(4, "ZWU=")), // 12
        (resolved(r2), J::Null),          // 13
    ];
    let p1 = [
        (ddl_key, ddl),                   // 3
        (resolved(r1), J::Null),          // 4
        (row_key(t1), insert(2, "YmI=")), // 6
        (row_key(t2), delete(2)),         // 10
        (resolved(r2), J::Null),          // 14
    ];
    let on = |p: i32, events: &[(J, J)]| -> Vec<J> {
        (0..)
            .zip(events)
            .map(|(o, (k, v))| event(p, o, k.clone(), v.clone()))
            .collect()
    };
    [on(0, &p0), on(1, &p1)].concat()
}

#[test]
fn the_checker_accepts_the_documented_example_stream() {
    // Log 13 (resolved at 415508881038376963) comes after rows at 415508881418485761: the
    // documentation allows events above the resolved ts before it.
    check_stream(&documented_stream(), 2);
}

/// The documented stream with event `i` replaced (or removed, for `None`).
fn altered(i: usize, with: Option<J>) -> Vec<J> {
    let mut s = documented_stream();
    match with {
        Some(e) => s[i] = e,
        None => {
            s.remove(i);
        }
    }
    s
}

#[test]
#[should_panic(expected = "after resolved ts")]
fn the_checker_refuses_an_event_below_an_earlier_resolved_ts() {
    // Partition 1's row (log 6) at a ts below the resolved event before it (log 4).
    check_stream(
        &altered(11, Some(event(1, 2, row_key(1), insert(2, "YmI=")))),
        2,
    );
}

#[test]
#[should_panic(expected = "after a row of its table")]
fn the_checker_refuses_rows_of_a_table_out_of_ts_order() {
    // Log 11 at a ts below log 9's, above the resolved ts before them.
    let ts = 415508878783938563;
    check_stream(
        &altered(6, Some(event(0, 6, row_key(ts), insert(3, "ZGQ=")))),
        2,
    );
}

#[test]
#[should_panic(expected = "is not on every partition")]
fn the_checker_refuses_a_ddl_missing_from_a_partition() {
    // Without log 3, partition 1's copy of the CREATE TABLE; offsets shift, order stays.
    let mut s = altered(9, None);
    for (o, e) in s.iter_mut().filter(|e| partition(e) == 1).enumerate() {
        e["offset"] = json!(o);
    }
    check_stream(&s, 2);
}

#[test]
#[should_panic(expected = "partition 1 has no resolved event")]
fn the_checker_refuses_a_partition_without_resolved_events() {
    let s: Vec<J> = documented_stream()
        .into_iter()
        .filter(|e| !(partition(e) == 1 && kind(e) == RESOLVED))
        .collect();
    check_stream(&s, 2);
}

#[test]
#[should_panic(expected = "a row's events on partitions 0 and 1")]
fn the_checker_refuses_a_row_on_two_partitions() {
    // Log 10 deletes id 1 (on partition 0) instead of id 2.
    check_stream(
        &altered(
            12,
            Some(event(1, 3, row_key(415508881418485761), delete(1))),
        ),
        2,
    );
}

#[test]
#[should_panic(expected = "partition 2 of 2")]
fn the_checker_refuses_a_partition_past_the_topic() {
    let mut s = documented_stream();
    s.push(event(2, 0, resolved(1), J::Null));
    check_stream(&s, 2);
}
