//! The Open protocol's row event value (tiflow v8.5.7 `pkg/sink/codec/open/
//! open_protocol_message.go` `messageRow`, `rowChangeToMsg`, `rowChangeColumns2CodecColumns`;
//! `internal/column.go` `Column`, `FromRowChangeColumn`; values as `cdc/entry/mounter.go`
//! `formatColVal` leaves them), written as Go's `encoding/json` marshals it.
//!
//! Owns [`row_value`]. Guarantees:
//! * `{"u":{…}}` for an insert, `{"u":{…},"p":{…}}` for an update (`p` left out with
//!   `output-old-value = false`; with `only-output-updated-columns`, `p` keeps only the
//!   columns whose value changed), `{"d":{…}}` for a delete (only the handle-key columns with
//!   `delete-only-output-handle-key-columns`); a map left empty is left out;
//! * each map holds the emitted columns (a column selector's dropped columns are not) as
//!   `name: {"t":<type code>,"h":true,"f":<TiCDC column flags>,"v":<value>}` (`h` only on
//!   handle-key columns), names in byte order (Go sorts map keys);
//! * values: NULL `null`; integers, YEAR, ENUM/SET (their integer), BIT (as an unsigned
//!   integer) as JSON numbers; FLOAT/DOUBLE as [`super::go_text::write_float`] at their
//!   width; DECIMAL, DATE/DATETIME/TIMESTAMP, TIME, JSON and VECTOR as their TiCDC text in a
//!   string; CHAR/VARCHAR as a string of their bytes (a binary one `strconv.Quote`d first);
//!   TEXT/BLOB types as base64 of their bytes;
//! * with only the handle key (large-message handling), every map holds only handle-key
//!   columns, and a row without one is an error, as in TiCDC.

use std::io::Write as _;

use base64::Engine as _;

use super::go_text::{quote_inner, write_float};
use crate::codec::CodecError;
use crate::codec::go_json::write_std_json_string;
use crate::event::value_text::{value_string, values_equal};
use crate::event::{ColumnMeta, RowEvent, RowKind, TableMeta};
use crate::model::tp;
use crate::mount::Value;

/// The options that shape a row value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowOptions {
    /// `[sink.open] output-old-value`.
    pub output_old_value: bool,
    /// `only-output-updated-columns`.
    pub only_updated_columns: bool,
    /// `delete-only-output-handle-key-columns`.
    pub delete_only_handle_key: bool,
}

/// The positions of a table version's emitted columns in name order (Go writes a map's keys
/// sorted): computed once per table version.
pub fn column_order(meta: &TableMeta) -> Vec<usize> {
    let cols = &meta.columns;
    let mut order: Vec<usize> = (0..cols.len()).filter(|&i| cols[i].selected).collect();
    order.sort_by(|&a, &b| cols[a].name.as_bytes().cmp(cols[b].name.as_bytes()));
    order
}

/// The value of row event `ev`, its columns in `order` ([`column_order`] of its table
/// version); `only_handle_key` for a large message's reduced form.
pub fn row_value(
    ev: &RowEvent,
    order: &[usize],
    opts: RowOptions,
    only_handle_key: bool,
) -> Result<Vec<u8>, CodecError> {
    if order.iter().any(|&i| i >= ev.meta.columns.len()) {
        return Err(CodecError::ColumnMismatch {
            table: ev.table.to_string(),
            reason: "the column order belongs to another table version".to_string(),
        });
    }
    let missing = |what: &str| CodecError::ColumnMismatch {
        table: ev.table.to_string(),
        reason: format!("no handle key columns for the {what} event (open-protocol needs one)"),
    };
    let mut out = Vec::with_capacity(64 + 48 * order.len());
    out.push(b'{');
    match (ev.kind, &ev.new, &ev.old) {
        (RowKind::Insert, Some(new), _) => {
            if !write_map(&mut out, "u", ev, order, new, only_handle_key, None)? && only_handle_key
            {
                return Err(missing("insert"));
            }
        }
        (RowKind::Update, Some(new), Some(old)) => {
            let wrote_u = write_map(&mut out, "u", ev, order, new, only_handle_key, None)?;
            if opts.output_old_value {
                let same = opts.only_updated_columns.then_some(new.as_slice());
                write_map(&mut out, "p", ev, order, old, only_handle_key, same)?;
            }
            // TiCDC checks the old image before dropping unchanged columns from it.
            let p_has_key = !opts.output_old_value || has_handle_key(ev, order);
            if only_handle_key && (!wrote_u || !p_has_key) {
                return Err(missing("update"));
            }
        }
        (RowKind::Delete, _, Some(old)) => {
            let key_only = opts.delete_only_handle_key || only_handle_key;
            if !write_map(&mut out, "d", ev, order, old, key_only, None)? && key_only {
                return Err(missing("delete"));
            }
        }
        _ => {
            return Err(CodecError::ColumnMismatch {
                table: ev.table.to_string(),
                reason: format!("{:?} event without the row image it needs", ev.kind),
            });
        }
    }
    out.push(b'}');
    Ok(out)
}

fn has_handle_key(ev: &RowEvent, order: &[usize]) -> bool {
    order
        .iter()
        .any(|&i| ev.meta.columns[i].flags.is_handle_key())
}

/// Writes `"<field>":{…}` (after a comma when something precedes it) unless it would be empty;
/// `unchanged_in` drops the columns whose value equals that image's. Returns whether it wrote.
fn write_map(
    out: &mut Vec<u8>,
    field: &str,
    ev: &RowEvent,
    order: &[usize],
    image: &[Value],
    only_handle_key: bool,
    unchanged_in: Option<&[Value]>,
) -> Result<bool, CodecError> {
    let cols = &ev.meta.columns;
    if image.len() != cols.len() {
        return Err(CodecError::ColumnMismatch {
            table: ev.table.to_string(),
            reason: format!("{} values for {} columns", image.len(), cols.len()),
        });
    }
    let start = out.len();
    let mut first = true;
    for &i in order {
        let c = &cols[i];
        if only_handle_key && !c.flags.is_handle_key() {
            continue;
        }
        if let Some(other) = unchanged_in
            && values_equal(&other[i], &image[i])
        {
            continue;
        }
        if first {
            if out.len() > 1 {
                out.push(b',');
            }
            let _ = write!(out, "\"{field}\":{{");
            first = false;
        } else {
            out.push(b',');
        }
        write_std_json_string(out, c.name.as_bytes());
        out.push(b':');
        write_column(out, c, &image[i]);
    }
    if first {
        out.truncate(start);
        return Ok(false);
    }
    out.push(b'}');
    Ok(true)
}

/// `{"t":…,"h":true,"f":…,"v":…}`.
fn write_column(out: &mut Vec<u8>, c: &ColumnMeta, v: &Value) {
    let _ = write!(out, "{{\"t\":{}", c.field_type.tp);
    if c.flags.is_handle_key() {
        out.extend_from_slice(b",\"h\":true");
    }
    let _ = write!(out, ",\"f\":{},\"v\":", c.flags.0);
    write_value(out, c, v);
    out.push(b'}');
}

fn write_value(out: &mut Vec<u8>, c: &ColumnMeta, v: &Value) {
    let _ = match v {
        Value::Null => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        Value::Int(i) => write!(out, "{i}"),
        Value::Uint(u) => write!(out, "{u}"),
        Value::Float32(f) => {
            write_float(out, f64::from(*f), 32);
            Ok(())
        }
        Value::Float64(f) => {
            write_float(out, *f, 64);
            Ok(())
        }
        Value::Enum { index, .. } => write!(out, "{index}"),
        Value::Set { bits, .. } => write!(out, "{bits}"),
        Value::Bit(_) => write!(out, "{}", v.bit_as_u64().unwrap_or(0)),
        Value::Bytes(b) => {
            match c.field_type.tp {
                tp::STRING | tp::VAR_STRING | tp::VARCHAR if c.flags.is_binary() => {
                    let mut quoted = Vec::with_capacity(b.len() + 8);
                    quote_inner(&mut quoted, b);
                    write_std_json_string(out, &quoted);
                }
                tp::STRING | tp::VAR_STRING | tp::VARCHAR => write_std_json_string(out, b),
                _ => {
                    out.push(b'"');
                    out.extend_from_slice(
                        base64::engine::general_purpose::STANDARD
                            .encode(b)
                            .as_bytes(),
                    );
                    out.push(b'"');
                }
            }
            Ok(())
        }
        Value::Decimal(_)
        | Value::Time(_)
        | Value::Duration(_)
        | Value::Json(_)
        | Value::Vector(_) => {
            write_std_json_string(out, &value_string(v));
            Ok(())
        }
    };
}
