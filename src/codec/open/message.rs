//! The Open protocol's event keys, DDL values and batch framing (tiflow v8.5.7
//! `pkg/sink/codec/internal/message_key.go`, `open/open_protocol_message.go` `messageDDL`,
//! `open/open_protocol_encoder.go`; docs `ticdc/ticdc-open-protocol.md` "Message format").
//!
//! Owns [`EventKey`], [`ddl_value`] and the framing ([`single`], [`append`], and [`events`]
//! to read it back, for tools and tests). Guarantees:
//! * an event key is Go `encoding/json` of TiCDC's `MessageKey`: `{"ts":…,"scm":…,"tbl":…,
//!   "rid":…,"ptn":…,"t":…,"ohk":true,"ccl":…}` in that order, `scm`/`tbl`/`ccl` left out when
//!   empty, `rid` when 0, `ptn` when the table is not partitioned, `ohk` when false;
//! * a DDL value is `{"q":<query>,"t":<TiDB action type>}`;
//! * a Kafka record's key is the 8-byte big-endian protocol version 1, then per event an
//!   8-byte big-endian length and the event key; its value is per event an 8-byte big-endian
//!   length and the event value (length 0 for a resolved event).

use std::io::Write as _;

use crate::codec::Record;
use crate::codec::go_json::write_std_json_string;

/// The batch format version (`codec.BatchVersion1`).
pub const BATCH_VERSION: u64 = 1;

/// TiCDC `model.MessageType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Row = 1,
    Ddl = 2,
    Resolved = 3,
}

/// One event's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventKey<'a> {
    pub ts: u64,
    pub schema: &'a str,
    pub table: &'a str,
    pub row_id: i64,
    pub partition: Option<i64>,
    pub kind: EventType,
    pub only_handle_key: bool,
    pub claim_check_location: &'a str,
}

impl<'a> EventKey<'a> {
    /// A key with only `ts` and `kind` set.
    pub fn new(ts: u64, kind: EventType) -> Self {
        EventKey {
            ts,
            schema: "",
            table: "",
            row_id: 0,
            partition: None,
            kind,
            only_handle_key: false,
            claim_check_location: "",
        }
    }

    /// The key's JSON text.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.schema.len() + self.table.len());
        let _ = write!(out, "{{\"ts\":{}", self.ts);
        if !self.schema.is_empty() {
            out.extend_from_slice(b",\"scm\":");
            write_std_json_string(&mut out, self.schema.as_bytes());
        }
        if !self.table.is_empty() {
            out.extend_from_slice(b",\"tbl\":");
            write_std_json_string(&mut out, self.table.as_bytes());
        }
        if self.row_id != 0 {
            let _ = write!(out, ",\"rid\":{}", self.row_id);
        }
        if let Some(p) = self.partition {
            let _ = write!(out, ",\"ptn\":{p}");
        }
        let _ = write!(out, ",\"t\":{}", self.kind as u8);
        if self.only_handle_key {
            out.extend_from_slice(b",\"ohk\":true");
        }
        if !self.claim_check_location.is_empty() {
            out.extend_from_slice(b",\"ccl\":");
            write_std_json_string(&mut out, self.claim_check_location.as_bytes());
        }
        out.push(b'}');
        out
    }
}

/// A DDL event's value.
pub fn ddl_value(query: &str, action: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + query.len());
    out.extend_from_slice(b"{\"q\":");
    write_std_json_string(&mut out, query.as_bytes());
    let _ = write!(out, ",\"t\":{action}}}");
    out
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&(len as u64).to_be_bytes());
}

/// A record holding one event.
pub fn single(key: &[u8], value: &[u8]) -> Record {
    let mut k = Vec::with_capacity(16 + key.len());
    k.extend_from_slice(&BATCH_VERSION.to_be_bytes());
    push_len(&mut k, key.len());
    k.extend_from_slice(key);
    let mut v = Vec::with_capacity(8 + value.len());
    push_len(&mut v, value.len());
    v.extend_from_slice(value);
    Record::new(Some(k), v)
}

/// Appends the events of `next` (a record [`single`] or this function made) to `batch`.
pub fn append(batch: &mut Record, next: &Record) {
    if let (Some(bk), Some(nk)) = (batch.key.as_mut(), next.key.as_ref()) {
        bk.extend_from_slice(nk.get(8..).unwrap_or_default());
    }
    if let (Some(bv), Some(nv)) = (batch.value.as_mut(), next.value.as_ref()) {
        bv.extend_from_slice(nv);
    }
}

/// The (key, value) of every event in a record this module framed; `None` when the record is
/// not such a record (no version 1 header, a length past the end, uneven counts).
pub fn events(record: &Record) -> Option<Vec<(&[u8], &[u8])>> {
    fn split(mut rest: &[u8]) -> Option<Vec<&[u8]>> {
        let mut out = Vec::new();
        while !rest.is_empty() {
            let n = usize::try_from(u64::from_be_bytes(rest.get(..8)?.try_into().ok()?)).ok()?;
            out.push(rest.get(8..8usize.checked_add(n)?)?);
            rest = &rest[8 + n..];
        }
        Some(out)
    }
    let key = record.key.as_deref()?;
    if key.get(..8)? != BATCH_VERSION.to_be_bytes() {
        return None;
    }
    let keys = split(&key[8..])?;
    let values = split(record.value.as_deref()?)?;
    (keys.len() == values.len()).then(|| keys.into_iter().zip(values).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(b: &[u8]) -> &str {
        std::str::from_utf8(b).unwrap_or_default()
    }

    /// docs `ticdc-open-protocol.md` "Examples of the Event stream output", logs 1 and 2.
    #[test]
    fn doc_example_ddl_and_resolved_keys() {
        let ddl = EventKey {
            schema: "test",
            table: "t1",
            ..EventKey::new(415_508_856_908_021_766, EventType::Ddl)
        };
        assert_eq!(
            text(&ddl.encode()),
            r#"{"ts":415508856908021766,"scm":"test","tbl":"t1","t":2}"#
        );
        assert_eq!(
            text(&ddl_value(
                "CREATE TABLE test.t1(id int primary key, val varchar(16))",
                3
            )),
            r#"{"q":"CREATE TABLE test.t1(id int primary key, val varchar(16))","t":3}"#
        );
        assert_eq!(
            text(&EventKey::new(415_508_856_908_021_766, EventType::Resolved).encode()),
            r#"{"ts":415508856908021766,"t":3}"#
        );
    }

    /// Every optional member, in `MessageKey`'s field order, Go's HTML escaping.
    #[test]
    fn key_members_in_order() {
        let k = EventKey {
            schema: "d<b>",
            table: "t&1",
            row_id: -7,
            partition: Some(112),
            only_handle_key: true,
            claim_check_location: "file:///cc/x.json",
            ..EventKey::new(5, EventType::Row)
        };
        assert_eq!(
            text(&k.encode()),
            r#"{"ts":5,"scm":"d\u003cb\u003e","tbl":"t\u00261","rid":-7,"ptn":112,"t":1,"ohk":true,"ccl":"file:///cc/x.json"}"#
        );
    }

    #[test]
    fn framing_and_batches() {
        let mut r = single(b"{\"k\":1}", b"{\"v\":1}");
        let key = r.key.clone().unwrap_or_default();
        assert_eq!(&key[..8], &[0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(&key[8..16], &[0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(&key[16..], b"{\"k\":1}");
        append(&mut r, &single(b"{\"k\":22}", b""));
        let key = r.key.clone().unwrap_or_default();
        let value = r.value.clone().unwrap_or_default();
        assert_eq!(key.len(), 8 + 8 + 7 + 8 + 8);
        assert_eq!(&key[23..31], &[0, 0, 0, 0, 0, 0, 0, 8]);
        assert_eq!(value.len(), 8 + 7 + 8);
        assert_eq!(&value[15..], &[0; 8]);
        let back = events(&r).unwrap_or_default();
        assert_eq!(
            back,
            [
                (&b"{\"k\":1}"[..], &b"{\"v\":1}"[..]),
                (&b"{\"k\":22}"[..], &b""[..])
            ]
        );
        assert!(events(&Record::new(Some(vec![0; 8]), Vec::new())).is_none());
    }
}
