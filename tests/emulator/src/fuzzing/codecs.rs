//! The `codecs` and `open_frames` fuzz targets: the encoders' inputs.
//!
//! The encoders take typed rows, not bytes, so [`codecs`] builds from the fuzz bytes a table
//! (one to eight columns of any type TiDB stores, with NOT NULL, unsigned, binary charsets,
//! an integer handle, a non-clustered primary key or a unique key, names of any text), one row
//! change of it (insert, update or delete, NULLs, any in-domain value: zero and invalid
//! dates, extreme integers and decimals, any text, nested JSON), writes the row as TiDB does
//! (row format v2), decodes it as the pipeline does ([`RowEvent::decode`]), splits it as TiCDC
//! does when its handle key changed, and encodes it with every protocol under settings taken
//! from the bytes, plus a DDL and a watermark.
//!
//! Invariants checked:
//! * the decoder reads back exactly the values written;
//! * Canal-JSON, Debezium and Open protocol encode every decoded row (and its reduced,
//!   large-message forms), and what they write parses as JSON naming the schema, table, kind
//!   and commit ts; Open protocol framing reads back as one event per row, and batches;
//! * Avro's schemas parse as JSON records, and its records carry the Confluent envelope of
//!   their schema id, with a tombstone for deletes;
//! * DDL and watermark messages parse as JSON carrying the query and the ts.
//!
//! [`open_frames`] reads arbitrary bytes as an Open protocol record ([`message::events`]):
//! whatever it accepts re-frames ([`message::single`], [`message::append`]) to the same bytes.

use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use serde_json::Value as Json;
use tidb_changefeed::codec::avro::{AvroEncoder, AvroModes, AvroTable, Registry};
use tidb_changefeed::codec::canal_json::{CanalJsonConfig, CanalJsonEncoder};
use tidb_changefeed::codec::debezium::{DebeziumConfig, DebeziumEncoder};
use tidb_changefeed::codec::open::{OpenConfig, OpenEncoder, message};
use tidb_changefeed::codec::{Encoder, FixedClock, Record, Reduction, TableCodec, split};
use tidb_changefeed::config::{AvroBigintUnsignedMode, AvroDecimalMode};
use tidb_changefeed::event::{
    DdlEvent, KvChange, OpType, RowEvent, RowKind, TableMeta, TableName, default_flen_decimal,
};
use tidb_changefeed::model::{ActionType, TableInfo};
use tidb_changefeed::mount::key::{Handle, encode_record_key};
use tidb_changefeed::mount::value::bit_bytes;
use tidb_changefeed::mount::{
    Decimal, Duration, RowDecoder, Time, TimeType, TimeZone, Value, VectorFloat32,
};

use super::input::Input;
use crate::encode::{encode_row_v2, encode_v2_value};

/// Table id of the fuzzed tables.
const TABLE_ID: i64 = 120;

// MySQL type codes (TiDB `mysql.Type*`).
const TINY: u8 = 1;
const SHORT: u8 = 2;
const LONG: u8 = 3;
const FLOAT: u8 = 4;
const DOUBLE: u8 = 5;
const TIMESTAMP: u8 = 7;
const LONGLONG: u8 = 8;
const INT24: u8 = 9;
const DATE: u8 = 10;
const DURATION: u8 = 11;
const DATETIME: u8 = 12;
const YEAR: u8 = 13;
const VARCHAR: u8 = 15;
const BIT: u8 = 16;
const VECTOR: u8 = 225;
const JSON: u8 = 245;
const NEWDECIMAL: u8 = 246;
const ENUM: u8 = 247;
const SET: u8 = 248;
const BLOB: u8 = 252;
const STRING: u8 = 254;

const TYPES: &[u8] = &[
    TINY, SHORT, INT24, LONG, LONGLONG, YEAR, FLOAT, DOUBLE, NEWDECIMAL, VARCHAR, STRING, BLOB,
    DATETIME, TIMESTAMP, DATE, DURATION, ENUM, SET, BIT, JSON, VECTOR,
];

// TiDB `mysql.*Flag`.
const NOT_NULL: u32 = 1;
const PRI_KEY: u32 = 2;
const UNIQUE_KEY: u32 = 4;
const UNSIGNED: u32 = 32;
const ZEROFILL: u32 = 64;
const BINARY: u32 = 128;

/// One fuzzed column.
#[derive(Debug, Clone)]
struct Col {
    name: String,
    tp: u8,
    flag: u32,
    flen: i64,
    decimal: i32,
    elems: Vec<String>,
    binary: bool,
}

impl Col {
    fn unsigned(&self) -> bool {
        self.flag & UNSIGNED != 0
    }

    fn not_null(&self) -> bool {
        self.flag & NOT_NULL != 0
    }

    /// Types an index can hold without a prefix length.
    fn indexable(&self) -> bool {
        !matches!(self.tp, BLOB | JSON | VECTOR)
    }

    fn json(&self, offset: usize) -> Json {
        let charset = if self.binary { "binary" } else { "utf8mb4" };
        serde_json::json!({
            "id": offset + 1,
            "name": {"O": self.name, "L": self.name.to_lowercase()},
            "offset": offset, "state": 5,
            "type": {"Tp": self.tp, "Flag": self.flag, "Flen": self.flen, "Decimal": self.decimal,
                     "Charset": charset,
                     "Collate": if self.binary { "binary" } else { "utf8mb4_bin" },
                     "Elems": self.elems},
        })
    }
}

fn column(inp: &mut Input<'_>, i: usize) -> Col {
    let tp = TYPES[inp.below(TYPES.len())];
    let (mut flen, mut decimal) = default_flen_decimal(tp);
    let mut flag = if inp.flag() { NOT_NULL } else { 0 };
    let mut elems = Vec::new();
    let mut binary = false;
    match tp {
        TINY | SHORT | INT24 | LONG | LONGLONG if inp.flag() => flag |= UNSIGNED,
        YEAR => flag |= UNSIGNED | ZEROFILL,
        NEWDECIMAL => {
            let prec = inp.range(1, 65);
            flen = prec;
            decimal = i32::try_from(inp.range(0, prec.min(30))).unwrap_or(0);
        }
        VARCHAR | STRING => {
            binary = inp.flag();
            flen = inp.range(1, 64);
        }
        BLOB => binary = inp.flag(),
        DATETIME | TIMESTAMP | DURATION => decimal = i32::try_from(inp.range(0, 6)).unwrap_or(0),
        ENUM | SET => {
            for k in 0..inp.range(1, 4) {
                let e: String = inp.text(4).chars().filter(|c| *c != ',').collect();
                elems.push(format!("{e}{k}"));
            }
        }
        BIT => flen = inp.range(1, 64),
        JSON => binary = true,
        VECTOR => flen = -1,
        _ => {}
    }
    if binary {
        flag |= BINARY;
    }
    Col {
        name: format!("{}_{i}", inp.text(6)),
        tp,
        flag,
        flen,
        decimal,
        elems,
        binary,
    }
}

/// The key of the fuzzed table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyMode {
    /// `_tidb_rowid` handle, no key.
    None,
    /// Column 0 is an integer primary key and the handle.
    IntHandle,
    /// A non-clustered primary key on one column.
    Primary(usize),
    /// A NOT NULL unique key on one column.
    Unique(usize),
}

fn table(inp: &mut Input<'_>) -> (Vec<Col>, KeyMode, TableInfo) {
    let n = inp.range(1, 8) as usize;
    let mut cols: Vec<Col> = (0..n).map(|i| column(inp, i)).collect();
    let mut mode = match inp.below(4) {
        1 => KeyMode::IntHandle,
        2 => KeyMode::Primary(inp.below(n)),
        3 => KeyMode::Unique(inp.below(n)),
        _ => KeyMode::None,
    };
    match mode {
        KeyMode::IntHandle => {
            let c = &mut cols[0];
            c.tp = LONGLONG;
            (c.flen, c.decimal) = default_flen_decimal(LONGLONG);
            c.flag = NOT_NULL | PRI_KEY | (c.flag & UNSIGNED);
            c.binary = false;
            c.elems.clear();
        }
        KeyMode::Primary(k) | KeyMode::Unique(k) if !cols[k].indexable() => mode = KeyMode::None,
        KeyMode::Primary(k) => cols[k].flag |= NOT_NULL | PRI_KEY,
        KeyMode::Unique(k) => cols[k].flag |= NOT_NULL | UNIQUE_KEY,
        KeyMode::None => {}
    }
    let indices: Vec<Json> = match mode {
        KeyMode::Primary(k) | KeyMode::Unique(k) => {
            let primary = matches!(mode, KeyMode::Primary(_));
            let name = if primary { "PRIMARY" } else { "uk" };
            vec![serde_json::json!({
                "id": 1, "idx_name": {"O": name, "L": name.to_lowercase()},
                "idx_cols": [{"name": {"O": cols[k].name, "L": cols[k].name.to_lowercase()},
                              "offset": k, "length": -1}],
                "state": 5, "is_unique": true, "is_primary": primary,
            })]
        }
        _ => Vec::new(),
    };
    let name = non_empty(inp.text(8), "t");
    let info = serde_json::json!({
        "id": TABLE_ID, "name": {"O": name, "L": name.to_lowercase()},
        "cols": cols.iter().enumerate().map(|(i, c)| c.json(i)).collect::<Vec<_>>(),
        "index_info": indices, "state": 5, "pk_is_handle": mode == KeyMode::IntHandle,
    });
    // Built above from valid parts; a failure is a bug of this function or of the model.
    let info = match TableInfo::from_json(info.to_string().as_bytes()) {
        Ok(i) => i,
        Err(e) => panic!("the fuzzed TableInfo must parse: {e}: {info}"),
    };
    (cols, mode, info)
}

fn non_empty(s: String, or: &str) -> String {
    if s.is_empty() { or.to_owned() } else { s }
}

/// A value of `c`'s type as TiDB can store it (NULL only for nullable columns).
fn value(inp: &mut Input<'_>, c: &Col) -> Value {
    if !c.not_null() && inp.below(5) == 0 {
        return Value::Null;
    }
    let int = |inp: &mut Input<'_>, bits: u32| -> Value {
        if c.unsigned() {
            Value::Uint(inp.u64() >> (64 - bits))
        } else {
            Value::Int(inp.i64() >> (64 - bits))
        }
    };
    match c.tp {
        TINY => int(inp, 8),
        SHORT => int(inp, 16),
        INT24 => int(inp, 24),
        LONG => int(inp, 32),
        LONGLONG => int(inp, 64),
        YEAR => Value::Int(if inp.flag() { 0 } else { inp.range(1901, 2155) }),
        FLOAT => {
            let f = f32::from_bits(u32::from_le_bytes([
                inp.byte(),
                inp.byte(),
                inp.byte(),
                inp.byte(),
            ]));
            Value::Float32(if f.is_finite() { f } else { 0.0 })
        }
        DOUBLE => {
            let f = f64::from_bits(inp.u64());
            Value::Float64(if f.is_finite() { f } else { 0.0 })
        }
        NEWDECIMAL => decimal(inp, c),
        VARCHAR | STRING | BLOB => {
            let max = usize::try_from(c.flen.clamp(0, 48)).unwrap_or(0);
            if c.binary {
                let mut b = inp.bytes(max).to_vec();
                if c.tp == STRING {
                    // BINARY(n) is stored padded to n bytes.
                    b.resize(usize::try_from(c.flen).unwrap_or(0), 0);
                }
                Value::Bytes(b)
            } else {
                let s: String = inp.text(max * 4).chars().take(max).collect();
                Value::Bytes(s.into_bytes())
            }
        }
        DATETIME | TIMESTAMP | DATE => Value::Time(time(inp, c)),
        DURATION => {
            let fsp = u8::try_from(c.decimal).unwrap_or(0);
            let max = (838 * 3600 + 59 * 60 + 59) * 1_000_000_000 + 999_999_000;
            let unit = 10i64.pow(9 - u32::from(fsp));
            let nanos = inp.range(-max, max);
            Value::Duration(Duration {
                nanos: nanos - nanos % unit,
                fsp,
            })
        }
        ENUM => {
            let index = inp.below(c.elems.len() + 1);
            Value::Enum {
                index: index as u64,
                name: index
                    .checked_sub(1)
                    .and_then(|i| c.elems.get(i))
                    .cloned()
                    .unwrap_or_default(),
            }
        }
        SET => {
            let bits = inp.u64() & ((1u64 << c.elems.len()) - 1);
            let names: Vec<&str> = c
                .elems
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, e)| e.as_str())
                .collect();
            Value::Set {
                bits,
                names: names.join(","),
            }
        }
        BIT => {
            let v = inp.u64();
            let v = if c.flen >= 64 {
                v
            } else {
                v & ((1u64 << c.flen) - 1)
            };
            Value::Bit(bit_bytes(v, c.flen))
        }
        JSON => Value::Json(json_value(inp, 3).to_string()),
        VECTOR => {
            let dims = inp.below(5);
            let v = (0..dims)
                .map(|_| {
                    let f = f32::from(i16::from_le_bytes([inp.byte(), inp.byte()])) / 8.0;
                    if inp.flag() { -f } else { f }
                })
                .collect();
            Value::Vector(VectorFloat32(v))
        }
        _ => Value::Null,
    }
}

fn decimal(inp: &mut Input<'_>, c: &Col) -> Value {
    let frac = usize::try_from(c.decimal).unwrap_or(0);
    let int_max = usize::try_from(c.flen).unwrap_or(1).saturating_sub(frac);
    let mut text = String::new();
    if inp.flag() {
        text.push('-');
    }
    let digit = |inp: &mut Input<'_>| char::from(b'0' + inp.byte() % 10);
    let int_digits = inp.below(int_max + 1);
    for _ in 0..int_digits {
        text.push(digit(inp));
    }
    if int_digits == 0 {
        text.push('0');
    }
    if frac > 0 {
        text.push('.');
        for _ in 0..inp.below(frac + 1).max(1) {
            text.push(digit(inp));
        }
    }
    let (p, f) = (
        u8::try_from(c.flen).unwrap_or(65),
        u8::try_from(c.decimal).unwrap_or(0),
    );
    match Decimal::parse(&text, p, f) {
        Ok(d) => Value::Decimal(d),
        Err(e) => panic!("DECIMAL({p},{f}) refuses {text}: {e}"),
    }
}

fn time(inp: &mut Input<'_>, c: &Col) -> Time {
    let fsp = u8::try_from(c.decimal.clamp(0, 6)).unwrap_or(0);
    let tp = match c.tp {
        DATE => TimeType::Date,
        TIMESTAMP => TimeType::Timestamp,
        _ => TimeType::Datetime,
    };
    let zero = Time {
        year: 0,
        month: 0,
        day: 0,
        hour: 0,
        minute: 0,
        second: 0,
        microsecond: 0,
        tp,
        fsp,
    };
    if inp.below(8) == 0 {
        return zero;
    }
    let unit = 10u32.pow(6 - u32::from(fsp));
    let micro = u32::try_from(inp.range(0, 999_999)).unwrap_or(0);
    let mut t = Time {
        year: u16::try_from(inp.range(0, 9999)).unwrap_or(0),
        // Invalid dates (February 31, month 0) are storable under ALLOW_INVALID_DATES.
        month: u8::try_from(inp.range(0, 12)).unwrap_or(0),
        day: u8::try_from(inp.range(0, 31)).unwrap_or(0),
        hour: u8::try_from(inp.range(0, 23)).unwrap_or(0),
        minute: u8::try_from(inp.range(0, 59)).unwrap_or(0),
        second: u8::try_from(inp.range(0, 59)).unwrap_or(0),
        microsecond: micro - micro % unit,
        tp,
        fsp,
    };
    if tp == TimeType::Timestamp {
        // TIMESTAMP holds 1970-01-01 .. 2038-01-19 and valid dates only.
        t.year = u16::try_from(inp.range(1971, 2037)).unwrap_or(2000);
        t.month = t.month.clamp(1, 12);
        t.day = t.day.clamp(1, 28);
    }
    if tp == TimeType::Date {
        (t.hour, t.minute, t.second, t.microsecond) = (0, 0, 0, 0);
    }
    t
}

fn json_value(inp: &mut Input<'_>, depth: u8) -> Json {
    match inp.below(if depth == 0 { 6 } else { 8 }) {
        0 => Json::Null,
        1 => Json::Bool(inp.flag()),
        2 => Json::from(inp.i64()),
        3 => Json::from(inp.u64()),
        // Dyadic fractions: their decimal text is exact, so reading the document back (with
        // serde_json's fast float parser) gives the same number.
        4 => Json::from(
            f64::from(i32::from_le_bytes([
                inp.byte(),
                inp.byte(),
                inp.byte(),
                inp.byte(),
            ])) / 64.0,
        ),
        5 => Json::String(inp.text(12)),
        6 => Json::Array(
            (0..inp.below(4))
                .map(|_| json_value(inp, depth - 1))
                .collect(),
        ),
        _ => Json::Object(
            (0..inp.below(4))
                .map(|_| (inp.text(6), json_value(inp, depth - 1)))
                .collect(),
        ),
    }
}

/// One row image of `cols`, as values and as the row format v2 value TiDB writes (the
/// integer handle column is in the key, not the value); `None` when a value has no
/// stored form (a TIMESTAMP in a time zone's gap).
fn row(
    inp: &mut Input<'_>,
    cols: &[Col],
    mode: KeyMode,
    tz: &TimeZone,
    like: Option<&[Value]>,
) -> Option<(Vec<Value>, Vec<u8>)> {
    let mut values = Vec::with_capacity(cols.len());
    for (i, c) in cols.iter().enumerate() {
        let keep = like
            .and_then(|l| l.get(i))
            .filter(|_| i == 0 && mode == KeyMode::IntHandle);
        let keep = keep.or_else(|| like.and_then(|l| l.get(i)).filter(|_| inp.flag()));
        values.push(match keep {
            Some(v) => v.clone(),
            None => value(inp, c),
        });
    }
    let mut stored: Vec<(i64, Option<Vec<u8>>)> = Vec::new();
    for (i, v) in values.iter().enumerate() {
        if i == 0 && mode == KeyMode::IntHandle {
            continue;
        }
        let id = i as i64 + 1;
        stored.push(match v {
            Value::Null => (id, None),
            v => (id, Some(encode_v2_value(v, tz).ok()?)),
        });
    }
    let refs: Vec<(i64, Option<&[u8]>)> = stored.iter().map(|(i, b)| (*i, b.as_deref())).collect();
    Some((values, encode_row_v2(&refs)))
}

/// The changefeed settings taken from the bytes.
#[derive(Debug, Clone)]
struct Settings {
    canal: CanalJsonConfig,
    open: OpenConfig,
    debezium: DebeziumConfig,
    avro: AvroModes,
}

fn settings(inp: &mut Input<'_>, tz: TimeZone) -> Settings {
    let b = inp.byte();
    let bit = |n: u8| b & (1 << n) != 0;
    let c = inp.byte();
    Settings {
        canal: CanalJsonConfig {
            enable_tidb_extension: bit(0),
            only_output_updated_columns: bit(1),
            content_compatible: bit(2),
            delete_only_output_handle_key_columns: bit(3),
        },
        open: OpenConfig {
            output_old_value: bit(4),
            only_output_updated_columns: bit(1),
            delete_only_output_handle_key_columns: bit(3),
            max_batch_size: 1 + usize::from(c % 4),
        },
        debezium: DebeziumConfig {
            cluster_id: "default".into(),
            disable_schema: bit(5),
            output_old_value: bit(4),
            time_zone: tz,
            enable_tidb_extension: bit(0),
            newarch: bit(6),
        },
        avro: AvroModes {
            enable_tidb_extension: bit(0),
            decimal: if bit(7) {
                AvroDecimalMode::String
            } else {
                AvroDecimalMode::Precise
            },
            bigint_unsigned: if c & 0x10 != 0 {
                AvroBigintUnsignedMode::String
            } else {
                AvroBigintUnsignedMode::Long
            },
        },
    }
}

const CLOCK_MS: i64 = 1_700_000_000_000;

/// Typed rows built from the bytes, through decoding and every encoder (see the module doc).
pub fn codecs(data: &[u8]) {
    let mut inp = Input::new(data);
    let tz = match inp.below(3) {
        0 => TimeZone::Utc,
        1 => TimeZone::from_str("+08:00").unwrap_or(TimeZone::Utc),
        _ => TimeZone::from_str("America/New_York").unwrap_or(TimeZone::Utc),
    };
    let settings = settings(&mut inp, tz);
    let (cols, mode, info) = table(&mut inp);
    let schema = non_empty(inp.text(8), "s");
    let kind = match inp.below(3) {
        0 => RowKind::Insert,
        1 => RowKind::Update,
        _ => RowKind::Delete,
    };
    let commit_ts = inp.u64() >> 1;
    let Some((first, first_bytes)) = row(&mut inp, &cols, mode, &tz, None) else {
        return;
    };
    let second = if kind == RowKind::Update {
        match row(&mut inp, &cols, mode, &tz, Some(&first)) {
            Some(r) => Some(r),
            None => return,
        }
    } else {
        None
    };
    let handle = match (mode, first.first()) {
        (KeyMode::IntHandle, Some(Value::Int(h))) => *h,
        (KeyMode::IntHandle, Some(Value::Uint(h))) => i64::from_le_bytes(h.to_le_bytes()),
        _ => inp.i64(),
    };
    let key = match encode_record_key(TABLE_ID, &Handle::Int(handle)) {
        Ok(k) => k,
        Err(e) => panic!("an int handle always encodes: {e}"),
    };
    // Insert: new = first. Update: old = first, new = second. Delete: old = first.
    let (op, value, old_value, new_vals, old_vals) = match (kind, second) {
        (RowKind::Update, Some((n, nb))) => (
            OpType::Put,
            nb,
            Some(first_bytes),
            Some(n),
            Some(first.clone()),
        ),
        (RowKind::Delete, _) => (
            OpType::Delete,
            Vec::new(),
            Some(first_bytes),
            None,
            Some(first.clone()),
        ),
        _ => (OpType::Put, first_bytes, None, Some(first.clone()), None),
    };
    let change = KvChange {
        key,
        value,
        old_value,
        op,
        start_ts: commit_ts.saturating_sub(1),
        commit_ts,
    };
    let decoder = RowDecoder::new(&info, tz);
    let meta = Arc::new(TableMeta::new(&info));
    let ev = match RowEvent::decode(
        &change,
        &decoder,
        schema.as_str().into(),
        info.name.o.as_str().into(),
        Arc::clone(&meta),
        None,
    ) {
        Ok(Some(ev)) => ev,
        Ok(None) => panic!("a row with an image decodes to an event"),
        Err(e) => panic!("the decoder refuses the row TiDB's encoding wrote: {e}"),
    };
    assert_eq!(ev.kind, kind, "row kind");
    assert_eq!(same(&ev.new), same(&new_vals), "new image reads back");
    assert_eq!(same(&ev.old), same(&old_vals), "old image reads back");

    let mut events = vec![ev.clone()];
    if split::should_split(&ev) {
        let (d, i) = split::split_update(ev);
        assert_eq!((d.kind, i.kind), (RowKind::Delete, RowKind::Insert));
        events.extend([d, i]);
    }
    let canal = CanalJsonEncoder::with_clock(settings.canal, Arc::new(FixedClock(CLOCK_MS)));
    let open = OpenEncoder::new(settings.open);
    let debezium =
        DebeziumEncoder::with_clock(settings.debezium.clone(), Arc::new(FixedClock(CLOCK_MS)));
    let avro = AvroEncoder::new(settings.avro, registry());
    for ev in &events {
        check_canal(&canal, &settings.canal, ev);
        check_open(&open, ev);
        check_debezium(&debezium, ev);
        // Avro keys records by the handle key; the pipeline skips tables without one.
        if ev.meta.is_eligible() {
            check_avro(&avro, ev);
        }
    }

    let ddl = DdlEvent {
        query: inp.text(40),
        action: ActionType(inp.byte()),
        table: TableName {
            schema: schema.clone(),
            table: info.name.o.clone(),
        },
        pre_table: None,
        meta: Some(Arc::clone(&meta)),
        table_info: Some(Arc::new(info.clone())),
        start_ts: commit_ts.saturating_sub(1),
        commit_ts,
    };
    check_ddl_and_watermark(&canal, &open, &debezium, &ddl);
}

/// A row image comparable across TiDB's normalizations: JSON as the document it denotes
/// (TiDB renders it with its own spacing and key order), every other value as is.
fn same(image: &Option<Vec<Value>>) -> Option<Vec<Result<Json, Value>>> {
    image.as_ref().map(|vals| {
        vals.iter()
            .map(|v| match v {
                Value::Json(text) => Ok(parse("a JSON column", text.as_bytes())),
                other => Err(other.clone()),
            })
            .collect()
    })
}

fn parse(what: &str, bytes: &[u8]) -> Json {
    match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => panic!(
            "{what} is not JSON ({e}): {}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

fn kind_name(k: RowKind) -> &'static str {
    match k {
        RowKind::Insert => "INSERT",
        RowKind::Update => "UPDATE",
        RowKind::Delete => "DELETE",
    }
}

fn check_canal(enc: &CanalJsonEncoder, cfg: &CanalJsonConfig, ev: &RowEvent) {
    let reduced = [
        None,
        Some(Reduction::HandleKeyOnly),
        Some(Reduction::ClaimCheck {
            location: "s3://bucket/cc/0.json",
        }),
    ];
    // Large-message reduction keeps the handle key: only tables that have one.
    let forms = if ev.meta.is_eligible() { 3 } else { 1 };
    for why in reduced.into_iter().take(forms) {
        let rec = match why {
            None => enc.encode_row(&TableCodec::NONE, ev),
            Some(w) => enc.encode_row_reduced(&TableCodec::NONE, ev, w),
        };
        let rec = match rec {
            Ok(Some(r)) => r,
            Ok(None) => panic!("canal-json emits every row"),
            Err(e) => panic!("canal-json refuses a decoded row ({why:?}): {e}"),
        };
        let v = parse("canal-json row", rec.value.as_deref().unwrap_or_default());
        assert_eq!(v["database"].as_str(), Some(&*ev.schema), "database: {v}");
        assert_eq!(v["table"].as_str(), Some(&*ev.table), "table: {v}");
        assert_eq!(v["isDdl"], Json::Bool(false), "{v}");
        assert_eq!(v["type"].as_str(), Some(kind_name(ev.kind)), "type: {v}");
        let data = v["data"].as_array().map(Vec::len);
        assert_eq!(data, Some(1), "one row in data: {v}");
        let names: Vec<&str> = ev.meta.columns.iter().map(|c| c.name.as_str()).collect();
        if let Some(row) = v["data"][0].as_object() {
            for k in row.keys() {
                assert!(names.contains(&k.as_str()), "data names column {k}: {v}");
            }
        }
        if cfg.enable_tidb_extension {
            // TiCDC's `commitTs` is `omitempty`: absent for 0.
            assert_eq!(
                v["_tidb"]["commitTs"].as_u64().unwrap_or(0),
                ev.commit_ts,
                "{v}"
            );
        }
    }
}

fn check_open(enc: &OpenEncoder, ev: &RowEvent) {
    let rec = match enc.encode_row(&TableCodec::NONE, ev) {
        Ok(Some(r)) => r,
        Ok(None) => panic!("open protocol emits every row"),
        // A keyless table (replicated only with force-replicate) has no handle key to reduce
        // a delete to under delete-only-output-handle-key-columns: an error naming the table.
        Err(e) if !ev.meta.is_eligible() && e.to_string().contains("handle key") => return,
        Err(e) => panic!("open protocol refuses a decoded row: {e}"),
    };
    let evs = open_events(&rec, 1);
    let (k, val) = &evs[0];
    assert_eq!(k["ts"].as_u64(), Some(ev.commit_ts), "{k}");
    assert_eq!(k["t"].as_u64(), Some(1), "{k}");
    assert_eq!(
        k["scm"].as_str(),
        Some(&*ev.schema).filter(|s| !s.is_empty()),
        "{k}"
    );
    assert_eq!(k["tbl"].as_str(), Some(&*ev.table), "{k}");
    assert!(val.is_object(), "{val}");
    let mut batch = rec.clone();
    if enc.append_to_batch(&mut batch, 1, &rec, u64::MAX) {
        open_events(&batch, 2);
    }
    if !ev.meta.is_eligible() {
        return;
    }
    match enc.encode_row_reduced(&TableCodec::NONE, ev, Reduction::HandleKeyOnly) {
        Ok(Some(r)) => {
            let evs = open_events(&r, 1);
            assert_eq!(evs[0].0["ohk"], Json::Bool(true), "{}", evs[0].0);
        }
        Ok(None) => panic!("open protocol emits every reduced row"),
        Err(e) => panic!("open protocol refuses a reduced row: {e}"),
    }
}

/// The events of an Open protocol record, keys and non-empty values parsed as JSON.
fn open_events(rec: &Record, n: usize) -> Vec<(Json, Json)> {
    let Some(evs) = message::events(rec) else {
        panic!("open protocol record does not read back: {rec:?}");
    };
    assert_eq!(evs.len(), n, "events in the record");
    evs.iter()
        .map(|(k, v)| {
            let v = if v.is_empty() {
                Json::Null
            } else {
                parse("open protocol value", v)
            };
            (parse("open protocol key", k), v)
        })
        .collect()
}

fn check_debezium(enc: &DebeziumEncoder, ev: &RowEvent) {
    let rec = match enc.encode_row(&TableCodec::NONE, ev) {
        Ok(Some(r)) => r,
        Ok(None) => panic!("debezium emits every row"),
        Err(e) => panic!("debezium refuses a decoded row: {e}"),
    };
    if let Some(k) = rec.key.as_deref().filter(|k| !k.is_empty()) {
        parse("debezium key", k);
    }
    let v = parse("debezium value", rec.value.as_deref().unwrap_or_default());
    let payload = if v.get("payload").is_some() {
        &v["payload"]
    } else {
        &v
    };
    let want = match ev.kind {
        RowKind::Insert => "c",
        RowKind::Update => "u",
        RowKind::Delete => "d",
    };
    assert_eq!(payload["op"].as_str(), Some(want), "op: {v}");
}

fn check_avro(enc: &AvroEncoder, ev: &RowEvent) {
    let (key, value) = match enc.plans(&ev.schema, &ev.table, &ev.meta) {
        Ok(p) => p,
        Err(e) => panic!("avro has no schema for a table TiDB can create: {e}"),
    };
    for plan in key.iter().chain([&value]) {
        let s = parse("avro schema", plan.schema.as_bytes());
        assert_eq!(s["type"].as_str(), Some("record"), "{s}");
    }
    let has_key = key.is_some();
    let table = TableCodec::new(AvroTable {
        key: key.map(|k| (k, 1)),
        value: (value, 2),
        name: format!("`{}`.`{}`", ev.schema, ev.table),
    });
    let rec = match enc.encode_row(&table, ev) {
        Ok(Some(r)) => r,
        Ok(None) => panic!("avro emits every row"),
        Err(e) => panic!("avro refuses a decoded row: {e}"),
    };
    if has_key {
        let k = rec.key.as_deref().unwrap_or_default();
        assert_eq!(k.get(..5), Some(&[0, 0, 0, 0, 1][..]), "key envelope");
    }
    match (ev.kind, rec.value.as_deref()) {
        (RowKind::Delete, None) => {}
        (RowKind::Delete, Some(_)) => panic!("an avro delete is a tombstone"),
        (_, Some(v)) => assert_eq!(v.get(..5), Some(&[0, 0, 0, 0, 2][..]), "value envelope"),
        (_, None) => panic!("an avro insert or update has a value"),
    }
}

fn check_ddl_and_watermark(
    canal: &CanalJsonEncoder,
    open: &OpenEncoder,
    debezium: &DebeziumEncoder,
    ddl: &DdlEvent,
) {
    match canal.encode_ddl(ddl) {
        Ok(Some(r)) => {
            let v = parse("canal-json DDL", r.value.as_deref().unwrap_or_default());
            assert_eq!(v["sql"].as_str(), Some(ddl.query.as_str()), "{v}");
            assert_eq!(v["isDdl"], Json::Bool(true), "{v}");
        }
        other => panic!("canal-json DDL: {other:?}"),
    }
    match open.encode_ddl(ddl) {
        Ok(Some(r)) => {
            let evs = open_events(&r, 1);
            assert_eq!(evs[0].0["t"].as_u64(), Some(2), "{}", evs[0].0);
            assert_eq!(
                evs[0].1["q"].as_str(),
                Some(ddl.query.as_str()),
                "{}",
                evs[0].1
            );
        }
        other => panic!("open protocol DDL: {other:?}"),
    }
    if let Ok(Some(r)) = debezium.encode_ddl(ddl) {
        for part in [r.key.as_deref(), r.value.as_deref()].into_iter().flatten() {
            if !part.is_empty() {
                parse("debezium DDL", part);
            }
        }
    }
    let ts = ddl.commit_ts;
    if let Ok(Some(r)) = canal.encode_watermark(ts) {
        let v = parse(
            "canal-json watermark",
            r.value.as_deref().unwrap_or_default(),
        );
        // `watermarkTs` is `omitempty`, as `commitTs`.
        assert_eq!(v["_tidb"]["watermarkTs"].as_u64().unwrap_or(0), ts, "{v}");
    }
    match open.encode_watermark(ts) {
        Ok(Some(r)) => {
            let evs = open_events(&r, 1);
            assert_eq!(evs[0].0["ts"].as_u64(), Some(ts), "{}", evs[0].0);
            assert_eq!(evs[0].0["t"].as_u64(), Some(3), "{}", evs[0].0);
        }
        other => panic!("open protocol watermark: {other:?}"),
    }
    if let Ok(Some(r)) = debezium.encode_watermark(ts) {
        parse("debezium watermark", r.value.as_deref().unwrap_or_default());
    }
}

/// A registry client that is never called: encoding with prepared tables does no I/O.
fn registry() -> Arc<Registry> {
    static R: OnceLock<Arc<Registry>> = OnceLock::new();
    Arc::clone(
        R.get_or_init(|| match Registry::new("http://127.0.0.1:9", None) {
            Ok(r) => Arc::new(r),
            Err(e) => panic!("a registry client for a loopback URL builds: {e}"),
        }),
    )
}

/// Arbitrary bytes as an Open protocol record: the first byte picks where the key ends and
/// whether the batch version header is prepended; whatever [`message::events`] accepts
/// re-frames to the same bytes.
pub fn open_frames(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let cut = usize::from(head & 0x7f).min(rest.len());
    let (k, v) = rest.split_at(cut);
    let mut key = Vec::new();
    if head & 0x80 != 0 {
        key.extend_from_slice(&message::BATCH_VERSION.to_be_bytes());
    }
    key.extend_from_slice(k);
    let rec = Record::new(Some(key), v.to_vec());
    let Some(evs) = message::events(&rec) else {
        return;
    };
    let Some(((k0, v0), more)) = evs.split_first() else {
        assert_eq!(
            rec.key.as_deref().map(<[u8]>::len),
            Some(8),
            "no events: header only"
        );
        assert_eq!(
            rec.value.as_deref(),
            Some(&[][..]),
            "no events: empty value"
        );
        return;
    };
    let mut again = message::single(k0, v0);
    for (k, v) in more {
        message::append(&mut again, &message::single(k, v));
    }
    assert_eq!(again, rec, "events re-frame to the same record");
}
