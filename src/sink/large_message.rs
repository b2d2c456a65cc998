//! Messages larger than the topic takes, handled as TiCDC's `large-message-handle-option`
//! says (`pkg/sink/codec/canal/canal_json_row_event_encoder.go`, `pkg/sink/codec/common`):
//!
//! * `none`: the row cannot be sent; the changefeed stops before it with an error naming the
//!   table, the handle key, the size and the limit;
//! * `handle-key-only`: the row is re-encoded with its handle-key columns only, marked as
//!   TiCDC marks it (Canal-JSON `"_tidb":{…,"onlyHandleKey":true}`); still too large → error;
//! * `claim-check`: the full message is stored first (durably) as
//!   `<claim-check-storage-uri>/<uuid v4>.json` holding `{"key":<base64|null>,"value":<base64>}`
//!   (or the raw value with `claim-check-raw-value`), then a handle-key-only message
//!   carrying the location is sent. Stored objects are never deleted, as in TiCDC.
//!
//! Whether a message fits is decided by [`SizeLimit::fits`], the rule the producer applies
//! too: TiCDC's count (key + value + 36 bytes) first, and when that is over the limit and a
//! compression is configured, the message's size as its own compressed record batch — the
//! way the broker checks `max.message.bytes`. Unlike TiCDC (tiflow issue 12232), a message
//! that fits once compressed is sent whole; the handling above applies to what still does
//! not fit.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::codec::{Encoder, Record, Reduction, TableCodec};
use crate::config::{LargeMessageHandle, LargeMessageOption};
use crate::event::RowEvent;
use crate::sink::kafka::{Oversize, SizeLimit};

/// What to do with a message above the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LargeMessagePolicy {
    Fail,
    HandleKeyOnly,
    ClaimCheck {
        /// The `file://` URI as configured (the location prefix in messages).
        uri: String,
        dir: PathBuf,
        raw_value: bool,
    },
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
    #[error(
        "claim-check: cannot store {path}: {source}; check claim-check-storage-uri and the directory's permissions"
    )]
    Store {
        path: String,
        #[source]
        source: std::io::Error,
    },
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
    /// The policy of a sink's `large-message-handle` settings (validated by the config).
    pub fn from_config(h: &LargeMessageHandle) -> Result<Self, String> {
        Ok(match h.large_message_handle_option {
            LargeMessageOption::None => LargeMessagePolicy::Fail,
            LargeMessageOption::HandleKeyOnly => LargeMessagePolicy::HandleKeyOnly,
            LargeMessageOption::ClaimCheck => {
                let uri = h
                    .claim_check_storage_uri
                    .clone()
                    .ok_or("claim-check needs claim-check-storage-uri")?;
                let dir = uri
                    .strip_prefix("file://")
                    .filter(|p| p.starts_with('/'))
                    .map(PathBuf::from)
                    .ok_or_else(|| format!("claim-check storage {uri:?} is not a file:/// URI"))?;
                LargeMessagePolicy::ClaimCheck {
                    uri: uri.trim_end_matches('/').to_string(),
                    dir,
                    raw_value: h.claim_check_raw_value,
                }
            }
        })
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
    ) -> Result<Record, LargeMessageError> {
        let Err(over) = limit.fits(&msg) else {
            return Ok(msg);
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
            LargeMessagePolicy::HandleKeyOnly => reduced(Reduction::HandleKeyOnly),
            LargeMessagePolicy::ClaimCheck {
                uri,
                dir,
                raw_value,
            } => {
                let name = format!("{}.json", uuid::Uuid::new_v4());
                let body = if *raw_value {
                    msg.value.clone().unwrap_or_default()
                } else {
                    claim_check_json(&msg)
                };
                store(dir, &name, &body)?;
                let location = format!("{uri}/{name}");
                reduced(Reduction::ClaimCheck {
                    location: &location,
                })
            }
        }
    }
}

/// `{"key":<base64|null>,"value":<base64>}`, as Go's encoding/json writes `[]byte` fields.
fn claim_check_json(msg: &Record) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = match &msg.key {
        Some(k) => format!("\"{}\"", b64.encode(k)),
        None => "null".to_string(),
    };
    let value = msg.value.as_deref().unwrap_or_default();
    format!("{{\"key\":{key},\"value\":\"{}\"}}", b64.encode(value)).into_bytes()
}

/// Writes `dir/name` durably: a temporary file, fsync, rename, fsync of the directory.
fn store(dir: &Path, name: &str, body: &[u8]) -> Result<(), LargeMessageError> {
    let path = dir.join(name);
    let err = |source| LargeMessageError::Store {
        path: path.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(body).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, &path).map_err(err)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(err)?;
    Ok(())
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
