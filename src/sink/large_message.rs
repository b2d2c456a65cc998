//! Messages larger than the topic takes, handled as TiCDC's `large-message-handle-option`
//! says (`pkg/sink/codec/canal/canal_json_row_event_encoder.go`, `pkg/sink/codec/common`):
//!
//! * `none`: the row cannot be sent; the changefeed stops before it with an error naming the
//!   table, the handle key, the size and the limit;
//! * `handle-key-only`: the row is re-encoded with its handle-key columns only, marked as
//!   TiCDC marks it (Canal-JSON `"_tidb":{…,"onlyHandleKey":true}`); still too large → error;
//! * `claim-check`: the full message is handed to the changefeed's [`ClaimCheckWriter`] as
//!   `<storage location>/<uuid v4>.json` holding `{"key":<base64|null>,"value":<base64>}`
//!   (or the raw value with `claim-check-raw-value`), and a handle-key-only message carrying
//!   the location is returned with the [`PendingPut`] the emitter awaits before sending it.
//!   The stored `key` is TiCDC's `common.ClaimCheckMessage.Key` (tiflow
//!   `pkg/sink/codec/common/message.go` 158-162, written by `claimcheck.WriteMessage`,
//!   `pkg/sink/kafka/claimcheck/claim_check.go` 85-92): the encoder's message key, which
//!   Canal-JSON leaves nil (`canal_json_row_event_encoder.go` 393-395, passed as `m.Key` at
//!   447), so Go writes `"key":null` — not `""`, although the Kafka record itself carries a
//!   zero-length key — while Open protocol stores its one-event batch key. Stored objects
//!   are never deleted, as in TiCDC.
//!
//! Whether a message fits is decided by [`SizeLimit::fits`], the rule the producer applies
//! too: TiCDC's count (key + value + 36 bytes) first, and when that is over the limit and a
//! compression is configured, the message's size as its own compressed record batch — the
//! way the broker checks `max.message.bytes`. Unlike TiCDC (tiflow issue 12232), a message
//! that fits once compressed is sent whole; the handling above applies to what still does
//! not fit.

use base64::Engine as _;

use crate::codec::{Encoder, Record, Reduction, TableCodec};
use crate::config::{LargeMessageHandle, LargeMessageOption};
use crate::event::RowEvent;
use crate::shutdown::Shutdown;
use crate::sink::claim_check::{ClaimCheckWriter, ClaimStore, PendingPut};
use crate::sink::kafka::{Oversize, SizeLimit};

/// What to do with a message above the limit.
#[derive(Debug, Clone)]
pub enum LargeMessagePolicy {
    Fail,
    HandleKeyOnly,
    ClaimCheck {
        writer: ClaimCheckWriter,
        raw_value: bool,
    },
}

/// A message that fits, and the claim-check object it names, still being stored.
#[derive(Debug)]
pub struct Fitted {
    pub record: Record,
    /// Await before sending `record` (claim-check only).
    pub stored: Option<PendingPut>,
}

#[derive(Debug, thiserror::Error)]
pub enum LargeMessageError {
    #[error(
        "the row of {table} with key {key} is {size} bytes encoded{}, above the limit of {limit} bytes ({what}); {remedy}",
        compressed_note(*.compressed)
    )]
    TooLarge {
        table: String,
        key: String,
        /// Before compression.
        size: u64,
        /// As its own compressed record batch, when compression is on.
        compressed: Option<u64>,
        limit: u64,
        what: &'static str,
        remedy: &'static str,
    },
    #[error(transparent)]
    Store(#[from] crate::sink::claim_check::WriteError),
    #[error("encoding the reduced message failed: {0}")]
    Encode(#[from] crate::codec::CodecError),
}

/// ` (N bytes as a compressed record batch)` when a compressed size was measured.
fn compressed_note(compressed: Option<u64>) -> String {
    compressed.map_or_else(String::new, |c| {
        format!(" ({c} bytes as a compressed record batch)")
    })
}

impl LargeMessagePolicy {
    /// The policy of a sink's `large-message-handle` settings (validated by the config) for
    /// `changefeed`; claim-check objects are written on the current Tokio runtime and their
    /// retries end when `shutdown` fires.
    pub fn from_config(
        h: &LargeMessageHandle,
        changefeed: &str,
        shutdown: Option<Shutdown>,
    ) -> Result<Self, String> {
        Ok(match h.large_message_handle_option {
            LargeMessageOption::None => LargeMessagePolicy::Fail,
            LargeMessageOption::HandleKeyOnly => LargeMessagePolicy::HandleKeyOnly,
            LargeMessageOption::ClaimCheck => {
                let spec = h
                    .claim_check_storage()
                    .map_err(|e| e.to_string())?
                    .ok_or("claim-check needs claim-check-storage-uri")?;
                let store = ClaimStore::open(&spec, h.claim_check_storage_request_timeout.get())
                    .map_err(|e| e.to_string())?;
                tracing::info!(storage = %spec.display, location = %spec.location, "claim-check storage opened");
                LargeMessagePolicy::ClaimCheck {
                    writer: ClaimCheckWriter::new(store, changefeed, shutdown)
                        .map_err(|e| e.to_string())?,
                    raw_value: h.claim_check_raw_value,
                }
            }
        })
    }

    /// The claim-check writer, under `claim-check`.
    pub fn claim_check(&self) -> Option<&ClaimCheckWriter> {
        match self {
            LargeMessagePolicy::ClaimCheck { writer, .. } => Some(writer),
            _ => None,
        }
    }

    /// Returns `msg` (the full encoding of `event`) if it fits `limit` (compressed, when the
    /// limit has a compression), else what the policy makes of it.
    pub fn fit(
        &self,
        encoder: &dyn Encoder,
        table: &TableCodec,
        event: &RowEvent,
        msg: Record,
        limit: SizeLimit,
    ) -> Result<Fitted, LargeMessageError> {
        let Err(over) = limit.fits(&msg) else {
            return Ok(Fitted {
                record: msg,
                stored: None,
            });
        };
        let too_large = |over: Oversize, what, remedy| LargeMessageError::TooLarge {
            table: format!("`{}`.`{}`", event.schema, event.table),
            key: handle_key_text(event),
            size: over.size,
            compressed: over.compressed,
            limit: limit.bytes,
            what,
            remedy,
        };
        let reduced = |why: Reduction<'_>| -> Result<Record, LargeMessageError> {
            let m = encoder
                .encode_row_reduced(table, event, why)?
                .ok_or_else(|| {
                    too_large(
                        over,
                        "the protocol has no reduced form",
                        "raise the topic's max.message.bytes",
                    )
                })?;
            if let Err(still) = limit.fits(&m) {
                return Err(too_large(
                    still,
                    "even with only the handle-key columns",
                    "raise the topic's max.message.bytes and max-message-bytes",
                ));
            }
            Ok(m)
        };
        match self {
            LargeMessagePolicy::Fail => Err(too_large(
                over,
                "max-message-bytes, lowered to the topic's or broker's limit",
                "set large-message-handle-option to \"handle-key-only\" or \"claim-check\", or raise max.message.bytes",
            )),
            LargeMessagePolicy::HandleKeyOnly => Ok(Fitted {
                record: reduced(Reduction::HandleKeyOnly)?,
                stored: None,
            }),
            LargeMessagePolicy::ClaimCheck { writer, raw_value } => {
                let name = format!("{}.json", uuid::Uuid::new_v4());
                let location = writer.store().location_of(&name);
                // Reduce first: a message still too large stops here, before anything is
                // stored.
                let record = reduced(Reduction::ClaimCheck {
                    location: &location,
                })?;
                let body = if *raw_value {
                    msg.value.unwrap_or_default()
                } else {
                    claim_check_json(&msg)
                };
                Ok(Fitted {
                    record,
                    stored: Some(writer.submit(&name, body)),
                })
            }
        }
    }
}

/// `{"key":<base64|null>,"value":<base64>}`, as Go's encoding/json writes TiCDC's
/// `ClaimCheckMessage` `[]byte` fields: the key is `null` when the encoder's message has
/// none — our records carry that as no key or a zero-length one (Canal-JSON), the zero-length
/// key being what TiCDC's producer sends for a nil key.
pub fn claim_check_json(msg: &Record) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = match &msg.key {
        Some(k) if !k.is_empty() => format!("\"{}\"", b64.encode(k)),
        _ => "null".to_string(),
    };
    let value = msg.value.as_deref().unwrap_or_default();
    format!("{{\"key\":{key},\"value\":\"{}\"}}", b64.encode(value)).into_bytes()
}

/// `name=value` of the handle-key columns, for error messages.
fn handle_key_text(event: &RowEvent) -> String {
    let values = event.key_image();
    let parts: Vec<String> = event
        .meta
        .columns
        .iter()
        .zip(values)
        .filter(|(c, _)| c.flags.is_handle_key())
        .map(|(c, v)| {
            format!(
                "{}={}",
                c.name,
                String::from_utf8_lossy(&crate::event::value_text::value_string(v))
            )
        })
        .collect();
    if parts.is_empty() {
        "(no handle key)".to_string()
    } else {
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TiCDC's `ClaimCheckMessage{Key, Value}` through Go's encoding/json: a nil key (what
    /// Canal-JSON's encoder leaves, sent to Kafka as a zero-length key) is `null`; a key is
    /// base64 (Open protocol's one-event batch key).
    #[test]
    fn stored_claim_check_json_matches_ticdc() {
        let canal = Record::new(Some(Vec::new()), b"{\"id\":1}".to_vec());
        assert_eq!(
            String::from_utf8(claim_check_json(&canal)).expect("utf-8"),
            r#"{"key":null,"value":"eyJpZCI6MX0="}"#
        );
        let none = Record::new(None, b"v".to_vec());
        assert_eq!(
            String::from_utf8(claim_check_json(&none)).expect("utf-8"),
            r#"{"key":null,"value":"dg=="}"#
        );
        let open = Record::new(Some(b"k1".to_vec()), Vec::new());
        assert_eq!(
            String::from_utf8(claim_check_json(&open)).expect("utf-8"),
            r#"{"key":"azE=","value":""}"#
        );
    }
}
