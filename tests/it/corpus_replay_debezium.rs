//! Replays TiCDC's own Debezium test expectations, case by case, through our
//! [`DebeziumEncoder`]: `tests/corpus/vectors/debezium_messages.json` (kind
//! `debezium-messages`: the row messages of tiflow's and pingcap/ticdc's `codec_test.go`
//! and the all-types golden of `debezium_test.go`) and `debezium_values.json` (kind
//! `debezium-values`: each column of the all-types golden, value and Connect schema field,
//! and the schema-name prefix). The files are read at test time.
//!
//! Each case's table is built from the case's TiDB `FieldType`s (a field the case leaves out
//! takes Go's zero value, as in the tests that state it) and its row from the case's values,
//! converted to what TiDB stores for them ([`stored_value`]). Messages are compared as parsed
//! JSON with every number read as a float64, which is what testify's `JSONEq` and the
//! suite's `cmp.Diff` of `json.Unmarshal`ed maps compare ([`go_json`]); the only paths
//! masked are the ones a case says its test ignores.
//!
//! Every case of both kinds is accounted for: it is replayed here, or it is a schema-change,
//! watermark or DDL-column-parse case listed in [`LEAD_OWNED_MESSAGES`] /
//! [`LEAD_OWNED_VALUES`], which `src/codec/debezium` replays. A case in neither fails.

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use serde_json::Value as J;
use tidb_changefeed::codec::debezium::{DebeziumConfig, DebeziumEncoder, schema};
use tidb_changefeed::codec::{Encoder, FixedClock, TableCodec};
use tidb_changefeed::event::{RowEvent, RowKind, TableMeta};
use tidb_changefeed::model::{CIStr, ColumnInfo, FieldType, SchemaState, TableInfo, flag, tp};
use tidb_changefeed::mount::time::{parse_duration, parse_time};
use tidb_changefeed::mount::value::bit_bytes;
use tidb_changefeed::mount::{BinaryJson, Decimal, TimeType, TimeZone, Value};

/// `debezium-messages` cases replayed by src/codec/debezium (schema change / watermark), not
/// here: pingcap/ticdc's new-architecture `TestDDLEvent` and `TestCheckPointEvent`.
const LEAD_OWNED_MESSAGES: &[&str] = &[
    // replayed by src/codec/debezium (schema change / watermark), not here
    "newarch-ddl-unsupported-action",
    "newarch-ddl-rename-key",
    "newarch-ddl-rename-value",
    "newarch-ddl-create-key",
    "newarch-ddl-create-value",
    "newarch-ddl-drop-key",
    "newarch-ddl-drop-value",
    "newarch-watermark-key",
    "newarch-watermark-value",
];

/// `debezium-values` cases (op `ddl_parse_columns`, the schema-change encoder's parsing of
/// the DDL text) replayed by src/codec/debezium (schema change / watermark), not here.
const LEAD_OWNED_VALUES: &[&str] = &[
    // replayed by src/codec/debezium (schema change / watermark), not here
    "parse-columns-val1",
    "parse-columns-val2",
    "parse-columns-val3",
    "parse-columns-val4",
];

fn load(file: &str) -> Vec<J> {
    let path = format!("{}/tests/corpus/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: J = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    doc["cases"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{path}: no cases"))
}

fn id_of(c: &J) -> &str {
    c["id"].as_str().expect("every corpus case has an id")
}

/// `<id> (<source>)`, the name every assertion message gives a case by.
fn label(c: &J) -> String {
    format!(
        "{} ({})",
        id_of(c),
        c["source"].as_str().unwrap_or("no source")
    )
}

// ---------------------------------------------------------------------------------------------
// Comparison as TiCDC's tests compare

/// A JSON document as Go's `json.Unmarshal` into `interface{}` sees it: every number becomes
/// a float64 (so `1` and `1.0` are equal, and integers beyond 2^53 lose their low bits, in
/// both testify's `JSONEq` and the suite's `cmp.Diff`).
fn go_json(v: &J) -> J {
    match v {
        J::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(J::Null, J::Number),
        J::Array(a) => J::Array(a.iter().map(go_json).collect()),
        J::Object(o) => J::Object(o.iter().map(|(k, x)| (k.clone(), go_json(x))).collect()),
        other => other.clone(),
    }
}

/// Removes a dotted path (`payload.ts_ms`) if present.
fn remove_path(v: &mut J, dotted: &str) {
    let (parent, last) = dotted.rsplit_once('.').unwrap_or(("", dotted));
    let mut at = v;
    for part in parent.split('.').filter(|p| !p.is_empty()) {
        match at.get_mut(part) {
            Some(next) => at = next,
            None => return,
        }
    }
    if let Some(o) = at.as_object_mut() {
        o.remove(last);
    }
}

/// The paths where `got` and `want` differ, one line each.
fn json_diff(got: &J, want: &J, at: &str, out: &mut Vec<String>) {
    match (got, want) {
        (J::Object(g), J::Object(w)) => {
            let keys: BTreeSet<&String> = g.keys().chain(w.keys()).collect();
            for k in keys {
                let here = format!("{at}.{k}");
                match (g.get(k), w.get(k)) {
                    (Some(a), Some(b)) => json_diff(a, b, &here, out),
                    (Some(a), None) => out.push(format!("{here}: ours {a}, TiCDC has no such key")),
                    (None, Some(b)) => out.push(format!("{here}: missing in ours, TiCDC {b}")),
                    (None, None) => {}
                }
            }
        }
        (J::Array(g), J::Array(w)) if g.len() == w.len() => {
            for (i, (a, b)) in g.iter().zip(w).enumerate() {
                json_diff(a, b, &format!("{at}[{i}]"), out);
            }
        }
        _ if got != want => out.push(format!("{at}: ours {got}, TiCDC {want}")),
        _ => {}
    }
}

/// Runs one case's replay; a panic in it (a value we cannot build, a malformed case) becomes
/// a failure naming the case and its source, and the other cases still run.
fn guarded(c: &J, failures: &mut Vec<String>, replay: impl FnOnce(&mut Vec<String>)) {
    let mut found = Vec::new();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| replay(&mut found)));
    failures.extend(found);
    if let Err(p) = outcome {
        let why = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "panicked".to_owned());
        failures.push(format!("{}: {why}", label(c)));
    }
}

/// Compares after [`go_json`]; a difference is pushed to `failures` with the case's label.
fn compare(what: &str, got: &J, want: &J, failures: &mut Vec<String>) {
    let (got, want) = (go_json(got), go_json(want));
    if got != want {
        let mut diff = Vec::new();
        json_diff(&got, &want, "$", &mut diff);
        failures.push(format!("{what}:\n    {}", diff.join("\n    ")));
    }
}

// ---------------------------------------------------------------------------------------------
// Tables

/// A column from a case's spec: TiDB's `FieldType` JSON names, Go zero values for the fields
/// the spec leaves out (the encoder reads none of those for the types that leave them out).
fn column(spec: &J, offset: usize) -> ColumnInfo {
    let field_type: FieldType = serde_json::from_value(spec["type"].clone())
        .unwrap_or_else(|e| panic!("column {}: FieldType: {e}", spec["name"]));
    assert!(
        spec.get("default_value").is_none_or(J::is_null),
        "column {}: defaults are not in these cases",
        spec["name"]
    );
    ColumnInfo {
        id: offset as i64 + 1,
        name: CIStr::new(spec["name"].as_str().expect("column name")),
        offset: offset as i64,
        field_type,
        state: SchemaState::PUBLIC,
        ..ColumnInfo::default()
    }
}

fn is_integer(tp: u8) -> bool {
    matches!(
        tp,
        tp::TINY | tp::SHORT | tp::INT24 | tp::LONG | tp::LONGLONG
    )
}

/// TiDB's TableInfo: a single integer PRIMARY KEY column is the row handle (`PKIsHandle`).
fn table_info(name: &str, columns: Vec<ColumnInfo>) -> TableInfo {
    let pks: Vec<&ColumnInfo> = columns
        .iter()
        .filter(|c| c.field_type.has_flag(flag::PRI_KEY))
        .collect();
    let pk_is_handle = pks.len() == 1 && is_integer(pks[0].field_type.tp);
    TableInfo {
        id: 100,
        name: CIStr::new(name),
        columns,
        pk_is_handle,
        ..TableInfo::default()
    }
}

/// The table's metadata, checked against the handle key the case states.
fn meta_checked(info: &TableInfo, handle_key: &J, who: &str) -> Arc<TableMeta> {
    let meta = TableMeta::new(info);
    let ours: Vec<&str> = meta
        .columns
        .iter()
        .filter(|c| c.flags.is_handle_key())
        .map(|c| c.name.as_str())
        .collect();
    let stated: Vec<&str> = handle_key
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| n.as_str().expect("handle key name"))
        .collect();
    assert_eq!(ours, stated, "{who}: handle key");
    Arc::new(meta)
}

// ---------------------------------------------------------------------------------------------
// Values as TiDB stores them

/// The session a row was written in (what decides how TiDB converts its literals).
#[derive(Debug, Clone)]
struct Session {
    time_zone: TimeZone,
    /// `STRICT_TRANS_TABLES` / `STRICT_ALL_TABLES` in `sql_mode` (TiDB's default has it).
    strict: bool,
}

impl Default for Session {
    fn default() -> Self {
        Session {
            time_zone: TimeZone::Utc,
            strict: true,
        }
    }
}

fn strict_mode(sql_mode: &str) -> bool {
    sql_mode.to_uppercase().contains("STRICT_")
}

/// A session stated as `{"time_zone": …, "sql_mode": …}`.
fn session_of(s: &J) -> Session {
    let mut out = Session::default();
    if let Some(tz) = s["time_zone"].as_str() {
        out.time_zone = tz.parse().unwrap_or_else(|e| panic!("time zone {tz}: {e}"));
    }
    if let Some(m) = s["sql_mode"].as_str() {
        out.strict = strict_mode(m);
    }
    out
}

/// A session stated as the statements the test runs before its DML.
fn session_of_statements(stmts: &J) -> Session {
    let mut out = Session::default();
    for s in stmts.as_array().into_iter().flatten() {
        let s = s.as_str().expect("session statement");
        let lower = s.to_lowercase();
        let quoted = || {
            let (_, rest) = s.split_once('\'').unwrap_or_else(|| panic!("{s}"));
            rest.trim_end_matches('\'').to_owned()
        };
        if lower.starts_with("set sql_mode") {
            out.strict = strict_mode(&quoted());
        } else if lower.starts_with("set time_zone") {
            out.time_zone = quoted().parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        } else if !(lower.starts_with("use ") || lower.starts_with("set @@tidb_enable_clustered")) {
            // Anything else might change how values are stored: fail rather than guess.
            panic!("session statement not understood: {s}");
        }
    }
    out
}

/// A value as written: SQL NULL, a numeric literal, or a string literal (unquoted).
#[derive(Debug, Clone)]
enum Literal {
    Null,
    Number(String),
    Str(String),
}

/// One SQL literal of a VALUES list (`1`, `-12.5`, `'foo'`, `NULL`).
fn sql_literal(text: &str) -> Literal {
    let t = text.trim();
    if t.eq_ignore_ascii_case("null") {
        return Literal::Null;
    }
    if let Some(inner) = t.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        assert!(
            !inner.contains('\\') && !inner.contains('\''),
            "escapes in {t} are not converted here"
        );
        return Literal::Str(inner.to_owned());
    }
    assert!(t.parse::<f64>().is_ok(), "literal {t} not understood");
    Literal::Number(t.to_owned())
}

/// A value a Go test states directly (`int64(1)` given as the JSON number `1`).
fn json_literal(v: &J) -> Literal {
    match v {
        J::Null => Literal::Null,
        J::Number(n) => Literal::Number(n.to_string()),
        J::String(s) => Literal::Str(s.clone()),
        other => panic!("value {other} not understood"),
    }
}

fn fsp(ft: &FieldType) -> u8 {
    u8::try_from(ft.decimal.clamp(0, 6)).expect("0..=6")
}

/// What TiDB stores for `lit` written into a column of type `ft` in `session`, as the row
/// reaches the encoder (TIMESTAMP in the changefeed's zone `tz`), following TiDB's INSERT
/// conversion (`types.Datum.ConvertTo`) for the literals the corpus holds; any other literal
/// fails loudly.
fn stored_value(ft: &FieldType, lit: &Literal, session: &Session, tz: &TimeZone) -> Value {
    let text = match lit {
        Literal::Null => return Value::Null,
        Literal::Number(t) | Literal::Str(t) => t.as_str(),
    };
    let bad = |why: &str| -> ! { panic!("{text:?} into type {}: {why}", ft.tp) };
    match ft.tp {
        t if is_integer(t) && ft.is_unsigned() => Value::Uint(
            text.parse()
                .unwrap_or_else(|_| bad("not an unsigned integer")),
        ),
        t if is_integer(t) => Value::Int(text.parse().unwrap_or_else(|_| bad("not an integer"))),
        tp::YEAR => {
            let y: i64 = text.parse().unwrap_or_else(|_| bad("not a year"));
            // Two-digit years (70 → 1970, …) are not in the corpus.
            assert!(y == 0 || (1901..=2155).contains(&y), "YEAR {y}");
            Value::Int(y)
        }
        // TiDB reads the literal as a double and rounds it to float32 for a FLOAT column.
        tp::FLOAT => {
            Value::Float32(text.parse::<f64>().unwrap_or_else(|_| bad("not a number")) as f32)
        }
        tp::DOUBLE => Value::Float64(text.parse().unwrap_or_else(|_| bad("not a number"))),
        tp::NEWDECIMAL => {
            let p = u8::try_from(ft.flen).unwrap_or_else(|_| bad("precision"));
            let f = u8::try_from(ft.decimal).unwrap_or_else(|_| bad("scale"));
            Value::Decimal(Decimal::parse(text, p, f).unwrap_or_else(|e| bad(&e.to_string())))
        }
        tp::DATE | tp::DATETIME | tp::TIMESTAMP => {
            assert!(
                matches!(lit, Literal::Str(_)),
                "numeric time literals are not converted here"
            );
            let tt = match ft.tp {
                tp::DATE => TimeType::Date,
                tp::DATETIME => TimeType::Datetime,
                _ => TimeType::Timestamp,
            };
            // The fraction is rounded to the column's fsp; zero dates are kept (sql_mode '').
            let t = parse_time(text, tt, fsp(ft)).unwrap_or_else(|e| bad(&e));
            if tt == TimeType::Timestamp {
                // Written in the session's zone, stored in UTC, mounted in the changefeed's.
                let utc = t
                    .zone_to_utc(&session.time_zone)
                    .unwrap_or_else(|e| bad(&e));
                Value::Time(utc.utc_to_zone(tz).unwrap_or_else(|e| bad(&e)))
            } else {
                Value::Time(t)
            }
        }
        tp::DURATION => Value::Duration(parse_duration(text, fsp(ft)).unwrap_or_else(|e| bad(&e))),
        tp::BIT => {
            let v = match lit {
                Literal::Number(t) => t.parse::<u64>().unwrap_or_else(|_| bad("not a bit value")),
                // A string is the binary literal of its bytes.
                _ => {
                    assert!(text.len() <= 8, "BIT literal longer than 8 bytes");
                    text.bytes().fold(0u64, |a, b| (a << 8) | u64::from(b))
                }
            };
            Value::Bit(bit_bytes(v, ft.flen))
        }
        tp::VARCHAR
        | tp::VAR_STRING
        | tp::STRING
        | tp::TINY_BLOB
        | tp::MEDIUM_BLOB
        | tp::LONG_BLOB
        | tp::BLOB => {
            let mut b = text.as_bytes().to_vec();
            // BINARY(n) is padded with zero bytes to n.
            if ft.tp == tp::STRING && ft.charset == "binary" {
                let n = usize::try_from(ft.flen).unwrap_or_else(|_| bad("length"));
                assert!(b.len() <= n, "longer than BINARY({n})");
                b.resize(n, 0);
            }
            Value::Bytes(b)
        }
        tp::ENUM => enum_stored(ft, lit, text, session),
        tp::SET => set_stored(ft, text, session),
        tp::JSON => {
            let j = BinaryJson::parse(text).unwrap_or_else(|e| bad(&e.to_string()));
            Value::Json(j.to_text().unwrap_or_else(|e| bad(&e.to_string())))
        }
        _ => bad("type not converted here"),
    }
}

/// ENUM: an element name or a 1-based index; outside the elements, a non-strict session
/// stores the empty value (index 0) with a "Data truncated" warning, a strict one refuses.
fn enum_stored(ft: &FieldType, lit: &Literal, text: &str, session: &Session) -> Value {
    let index = match lit {
        Literal::Number(n) => n
            .parse::<usize>()
            .ok()
            .filter(|i| (1..=ft.elems.len()).contains(i)),
        _ => ft.elems.iter().position(|e| e == text).map(|i| i + 1),
    };
    match index {
        Some(i) => Value::Enum {
            index: i as u64,
            name: ft.elems[i - 1].clone(),
        },
        None => {
            assert!(
                !session.strict,
                "{text:?} is no ENUM element: a strict session refuses it"
            );
            Value::Enum {
                index: 0,
                name: String::new(),
            }
        }
    }
}

/// SET: comma-separated element names; a value none of whose names is an element is stored
/// empty by a non-strict session (a partly valid one is not in the corpus).
fn set_stored(ft: &FieldType, text: &str, session: &Session) -> Value {
    let names: Vec<&str> = text.split(',').filter(|n| !n.is_empty()).collect();
    let found: Vec<Option<usize>> = names
        .iter()
        .map(|n| ft.elems.iter().position(|e| e == n))
        .collect();
    if found.iter().all(Option::is_none) && !names.is_empty() {
        assert!(
            !session.strict,
            "{text:?} is no SET value: a strict session refuses it"
        );
        return Value::Set {
            bits: 0,
            names: String::new(),
        };
    }
    let bits = found
        .iter()
        .map(|i| {
            i.unwrap_or_else(|| panic!("{text:?}: partly valid SET values are not converted here"))
        })
        .fold(0u64, |b, i| b | 1 << i);
    let names: Vec<&str> = ft
        .elems
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & 1 << i != 0)
        .map(|(_, e)| e.as_str())
        .collect();
    Value::Set {
        bits,
        names: names.join(","),
    }
}

// ---------------------------------------------------------------------------------------------
// Encoders from a case's config

fn time_zone(config: &J) -> TimeZone {
    match config["time-zone"].as_str() {
        Some(tz) => tz.parse().unwrap_or_else(|e| panic!("time-zone {tz}: {e}")),
        // The Go test leaves the zone unset; its tables have no TIMESTAMP column, so the zone
        // is never read.
        None => TimeZone::Utc,
    }
}

/// `debezium-disable-schema`: one setting, or the list of settings the test runs with.
fn disable_schema_runs(config: &J) -> Vec<bool> {
    match &config["debezium-disable-schema"] {
        J::Bool(b) => vec![*b],
        J::Array(a) => a.iter().map(|b| b.as_bool().expect("bool")).collect(),
        other => panic!("debezium-disable-schema {other}"),
    }
}

/// The encoder a case's config states, as TiCDC's new architecture (`newarch`) when the
/// case comes from pingcap/ticdc (rows are the same in both generations; this proves it).
fn encoder(config: &J, disable_schema: bool, clock_ms: i64, newarch: bool) -> DebeziumEncoder {
    DebeziumEncoder::with_clock(
        DebeziumConfig {
            cluster_id: config["cluster_id"]
                .as_str()
                .unwrap_or("default")
                .to_owned(),
            disable_schema,
            output_old_value: config["debezium-output-old-value"]
                .as_bool()
                .unwrap_or(true),
            time_zone: time_zone(config),
            enable_tidb_extension: config["enable-tidb-extension"].as_bool().unwrap_or(false),
            newarch,
        },
        Arc::new(FixedClock(clock_ms)),
    )
}

// ---------------------------------------------------------------------------------------------
// debezium-messages

/// The columns of the all-types table, which the message case keeps in the values file
/// (`table.columns_in`), checked against the case's DDL.
fn datatype_columns(values: &[J], ddl: &str) -> Vec<ColumnInfo> {
    let specs: Vec<&J> = values
        .iter()
        .filter(|c| c["op"] == "column_value")
        .collect();
    let body = &ddl[ddl.find('(').expect("(") + 1..ddl.rfind(')').expect(")")];
    let ddl_names: Vec<&str> = body
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let names: Vec<&str> = specs
        .iter()
        .map(|c| c["column"]["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names, ddl_names,
        "the values file's columns, in the DDL's order"
    );
    specs
        .iter()
        .enumerate()
        .map(|(i, c)| column(&c["column"], i))
        .collect()
}

/// Splits a VALUES list on commas outside quotes and parentheses.
fn split_values(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quoted) = (Vec::new(), String::new(), 0i32, false);
    for ch in s.chars() {
        match ch {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(std::mem::take(&mut cur).trim().to_owned());
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    out.push(cur.trim().to_owned());
    out
}

/// The literals of a single-row `INSERT INTO t VALUES (…)`.
fn insert_literals(dml: &str) -> Vec<Literal> {
    let at = dml.to_uppercase().find("VALUES").expect("VALUES") + "VALUES".len();
    let rest = dml[at..].trim();
    let inner = &rest[rest.find('(').expect("(") + 1..rest.rfind(')').expect(")")];
    split_values(inner).iter().map(|l| sql_literal(l)).collect()
}

/// One row image: from `{column: {value}}` (the Go test's values) or from the DML.
fn image(
    meta: &TableMeta,
    cols: &J,
    literals: Option<&[Literal]>,
    session: &Session,
    tz: &TimeZone,
) -> Vec<Value> {
    let lits: Vec<Literal> = match literals {
        Some(l) => l.to_vec(),
        None => meta
            .columns
            .iter()
            .map(|c| {
                let v = cols
                    .get(&c.name)
                    .unwrap_or_else(|| panic!("no value for column {}", c.name));
                json_literal(&v["value"])
            })
            .collect(),
    };
    assert_eq!(lits.len(), meta.columns.len(), "one value per column");
    meta.columns
        .iter()
        .zip(&lits)
        .map(|(c, l)| stored_value(&c.field_type, l, session, tz))
        .collect()
}

/// The row event a message case describes.
fn message_event(c: &J, values: &[J]) -> RowEvent {
    let t = &c["table"];
    let ev = &c["event"];
    let columns: Vec<ColumnInfo> = match t["columns"].as_array() {
        Some(specs) => specs
            .iter()
            .enumerate()
            .map(|(i, s)| column(s, i))
            .collect(),
        None => datatype_columns(values, t["ddl"].as_str().expect("ddl")),
    };
    let table = t["table"].as_str().expect("table");
    let meta = meta_checked(&table_info(table, columns), &t["handle_key"], &label(c));
    let session = if ev["session"].is_null() {
        Session::default()
    } else {
        session_of_statements(&ev["session"])
    };
    // The all-types row is the test's INSERT; the codec tests state their values directly
    // (the new-architecture ones list the DML that produced them too).
    let dml_row = ev["dml"].as_str().map(insert_literals);
    let tz = time_zone(&c["config"]);
    let img = |key: &str| -> Option<Vec<Value>> {
        if dml_row.is_some() && key == "columns" {
            return Some(image(&meta, &J::Null, dml_row.as_deref(), &session, &tz));
        }
        ev.get(key)
            .filter(|v| v.is_object())
            .map(|cols| image(&meta, cols, None, &session, &tz))
    };
    let (kind, new, old) = match ev["kind"].as_str() {
        Some("insert") => (RowKind::Insert, img("columns"), None),
        Some("update") => (RowKind::Update, img("columns"), img("pre_columns")),
        Some("delete") => (RowKind::Delete, None, img("pre_columns")),
        other => panic!("{}: event kind {other:?}", label(c)),
    };
    RowEvent {
        schema: Arc::from(t["schema"].as_str().expect("schema")),
        table: Arc::from(table),
        meta,
        commit_ts: commit_ts(c),
        physical_id: 0,
        row_id: 0,
        kind,
        new,
        old,
    }
}

/// The paths the case's test does not compare (for a given `debezium-disable-schema`).
fn ignored(c: &J, disable_schema: bool) -> Vec<String> {
    let list = |k: &str| -> Vec<String> {
        c["expect"][k]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| p.as_str().expect("path").to_owned())
            .collect()
    };
    let mut out = list("ignore");
    if disable_schema {
        out.extend(list("ignore_when_debezium-disable-schema"));
    }
    out
}

fn commit_ts(c: &J) -> u64 {
    match &c["event"]["commit_ts"] {
        J::Number(n) => n.as_u64().expect("commit ts"),
        // The all-types golden's commit ts comes from a mock store (tiflow: start ts + 1,
        // ticdc: 1) and lands only in payload.source, which that test ignores (the
        // expectation is a real Debezium connector's, whose source block differs).
        _ => {
            assert!(
                ignored(c, false).iter().any(|p| p == "payload.source"),
                "{}: a commit ts not stated must be masked",
                label(c)
            );
            1
        }
    }
}

/// The fixed clock of the case (ms); without one, `payload.ts_ms` must be ignored (the
/// all-types golden stamps the wall clock of the Debezium connector that produced it).
fn clock_ms(c: &J) -> i64 {
    match c["clock_unix_s"].as_i64() {
        Some(s) => s * 1000,
        None => {
            assert!(
                ignored(c, false).iter().any(|p| p == "payload.ts_ms"),
                "{}: no clock and payload.ts_ms compared",
                label(c)
            );
            0
        }
    }
}

/// Encodes one message case for every `debezium-disable-schema` it runs with.
fn replay_message(c: &J, values: &[J], failures: &mut Vec<String>) {
    let event = message_event(c, values);
    for disable_schema in disable_schema_runs(&c["config"]) {
        let newarch = c["stack"] == "new-architecture";
        let enc = encoder(&c["config"], disable_schema, clock_ms(c), newarch);
        let what = format!("{} [debezium-disable-schema = {disable_schema}]", label(c));
        let record = match enc.encode_row(&TableCodec::NONE, &event) {
            Ok(Some(r)) => r,
            Ok(None) => {
                failures.push(format!("{what}: no record"));
                continue;
            }
            Err(e) => {
                failures.push(format!("{what}: {e}"));
                continue;
            }
        };
        let bytes = match c["message"].as_str() {
            Some("key") => record.key.expect("a row record has a key"),
            Some("value") => record.value.expect("a row record has a value"),
            other => panic!("{what}: message {other:?}"),
        };
        let mut got: J = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{what}: our message is not JSON: {e}"));
        let mut want = c["expect"]["json"].clone();
        assert!(want.is_object(), "{what}: no expect.json");
        // Only the all-types golden masks anything, exactly what debezium_test.go ignores:
        // `payload.source` and `payload.ts_ms` (the golden is a real Debezium 2.4 MySQL
        // connector's output: its source block and wall clock are not TiCDC's), and `schema`
        // when the schema is disabled (the golden file carries one, TiCDC's message has none).
        // The codec_test.go cases mask nothing: their clock and commit ts are fixed.
        for p in ignored(c, disable_schema) {
            remove_path(&mut got, &p);
            remove_path(&mut want, &p);
        }
        compare(&what, &got, &want, failures);
    }
}

#[test]
fn debezium_message_vectors_replay() {
    let cases = load("debezium_messages.json");
    let values = load("debezium_values.json");
    let mut replayed = BTreeSet::new();
    let mut lead_owned = BTreeSet::new();
    let mut failures = Vec::new();
    for c in &cases {
        let id = id_of(c);
        match c["event"]["kind"].as_str() {
            Some("ddl" | "watermark") => {
                assert!(
                    LEAD_OWNED_MESSAGES.contains(&id),
                    "{}: a schema-change / watermark case missing from LEAD_OWNED_MESSAGES",
                    label(c)
                );
                lead_owned.insert(id);
            }
            Some("insert" | "update" | "delete") => {
                assert!(
                    !LEAD_OWNED_MESSAGES.contains(&id),
                    "{}: a row case may not be skipped",
                    label(c)
                );
                guarded(c, &mut failures, |f| replay_message(c, &values, f));
                replayed.insert(id);
            }
            other => panic!("{}: event kind {other:?} is not accounted for", label(c)),
        }
    }
    account(
        "debezium-messages",
        &cases,
        &replayed,
        &lead_owned,
        LEAD_OWNED_MESSAGES,
    );
    assert!(
        failures.is_empty(),
        "{} Debezium message case run(s) differ from TiCDC:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every case is replayed or lead-owned, every lead-owned id exists, and something ran.
fn account(
    kind: &str,
    cases: &[J],
    replayed: &BTreeSet<&str>,
    lead_owned: &BTreeSet<&str>,
    listed: &[&str],
) {
    let all: BTreeSet<&str> = cases.iter().map(id_of).collect();
    let unaccounted: Vec<&&str> = all
        .iter()
        .filter(|id| !replayed.contains(*id) && !lead_owned.contains(*id))
        .collect();
    assert!(
        unaccounted.is_empty(),
        "{kind}: cases neither replayed nor lead-owned: {unaccounted:?}"
    );
    let stale: Vec<&&str> = listed
        .iter()
        .filter(|id| !lead_owned.contains(*id))
        .collect();
    assert!(
        stale.is_empty(),
        "{kind}: lead-owned ids that are not such cases: {stale:?}"
    );
    assert!(!replayed.is_empty(), "{kind}: nothing replayed");
    assert_eq!(
        replayed.len() + lead_owned.len(),
        all.len(),
        "{kind}: every case once"
    );
    eprintln!(
        "{kind}: {} case(s) replayed, {} left to src/codec/debezium",
        replayed.len(),
        lead_owned.len()
    );
}

// ---------------------------------------------------------------------------------------------
// debezium-values

/// One column of the all-types golden: its value in `payload.after` and its field in the
/// envelope's `after` struct, each compared with the golden's text parsed.
fn replay_column_value(c: &J, failures: &mut Vec<String>) {
    let what = label(c);
    let col = column(&c["column"], 0);
    let name = col.name.o.clone();
    let config = &c["config"];
    let session = session_of(&c["input"]["session"]);
    let lit = sql_literal(c["input"]["sql_literal"].as_str().expect("sql_literal"));
    let value = stored_value(&col.field_type, &lit, &session, &time_zone(config));
    let info = table_info("t", vec![col]);
    let meta = Arc::new(TableMeta::new(&info));
    let event = RowEvent {
        schema: Arc::from("test"),
        table: Arc::from("t"),
        meta,
        commit_ts: 1,
        physical_id: 0,
        row_id: 0,
        kind: RowKind::Insert,
        new: Some(vec![value]),
        old: None,
    };
    let enc = encoder(config, false, 0, false);
    let msg: J = match enc.value(&event) {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{what}: not JSON: {e}")),
        Err(e) => {
            failures.push(format!("{what}: {e}"));
            return;
        }
    };
    let expect = &c["expect"];
    let parse = |k: &str| -> J {
        let text = expect[k]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no {k}"));
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: {k}: {e}"))
    };
    let want_value = parse("value_text");
    assert_eq!(
        go_json(&want_value),
        go_json(&expect["value"]),
        "{what}: the corpus's value and value_text disagree"
    );
    let got_value = msg["payload"]["after"].get(&name).cloned();
    match got_value {
        Some(v) => compare(&format!("{what}: value"), &v, &want_value, failures),
        None => failures.push(format!("{what}: payload.after has no {name}")),
    }
    let after_fields = msg["schema"]["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["field"] == "after"))
        .map(|f| f["fields"].clone())
        .unwrap_or(J::Null);
    match after_fields
        .as_array()
        .and_then(|f| f.iter().find(|f| f["field"] == name.as_str()))
    {
        Some(field) => compare(
            &format!("{what}: schema field"),
            field,
            &parse("schema_field_text"),
            failures,
        ),
        None => failures.push(format!(
            "{what}: the envelope's after struct has no field {name}"
        )),
    }
}

fn replay_schema_name(c: &J, failures: &mut Vec<String>) {
    let i = &c["input"];
    let s = |k: &str| {
        i[k].as_str()
            .unwrap_or_else(|| panic!("{}: no {k}", label(c)))
    };
    let got = schema::schema_name(s("cluster_id"), s("schema"), s("table"));
    let want = c["expect"].as_str().expect("expect");
    if got != want {
        failures.push(format!("{}: ours {got:?}, TiCDC {want:?}", label(c)));
    }
}

#[test]
fn debezium_value_vectors_replay() {
    let cases = load("debezium_values.json");
    let mut replayed = BTreeSet::new();
    let mut lead_owned = BTreeSet::new();
    let mut failures = Vec::new();
    for c in &cases {
        let id = id_of(c);
        let op = c["op"].as_str();
        if op != Some("ddl_parse_columns") {
            assert!(
                !LEAD_OWNED_VALUES.contains(&id),
                "{}: only DDL-column-parse cases may be skipped",
                label(c)
            );
        }
        match op {
            Some("column_value") => guarded(c, &mut failures, |f| replay_column_value(c, f)),
            Some("schema_name_prefix") => guarded(c, &mut failures, |f| replay_schema_name(c, f)),
            Some("ddl_parse_columns") => {
                assert!(
                    LEAD_OWNED_VALUES.contains(&id),
                    "{}: a DDL-column-parse case missing from LEAD_OWNED_VALUES",
                    label(c)
                );
                lead_owned.insert(id);
                continue;
            }
            other => panic!("{}: op {other:?} is not accounted for", label(c)),
        }
        replayed.insert(id);
    }
    account(
        "debezium-values",
        &cases,
        &replayed,
        &lead_owned,
        LEAD_OWNED_VALUES,
    );
    assert!(
        failures.is_empty(),
        "{} Debezium value case(s) differ from TiCDC:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
