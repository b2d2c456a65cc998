//! The bytes of one checkpoint file, and the strict reading of them.
//!
//! A file is one JSON object, `{"changefeed":"<id>","checkpoint_ts":<ts>,"crc32":<c>}`,
//! where `crc32` is CRC-32/IEEE of `"<id>\n<ts>"`: the layout of a changefeed in its normal
//! admin state, unchanged from earlier versions. A paused or removed changefeed's file adds
//! `"admin_state":"paused"|"removed"` (a removed one has no `checkpoint_ts`: the file is its
//! tombstone), and its `crc32` covers `"<id>\n<ts or empty>\n<state>"`. Guarantees:
//! [`decode`] accepts a text only when it is exactly such an object (no unknown or missing
//! field, nothing after it), its checksum matches, it names the changefeed asked for and its
//! ts is not zero — so a torn, truncated, bit-flipped or misplaced file is never read back as
//! a checkpoint. Files of earlier versions, `{"checkpoint_ts":<ts>}` and the layout without
//! `admin_state`, are still read (as the normal state): every proper prefix of a JSON object
//! is invalid JSON, so a truncated one is refused as well.

use serde::{Deserialize, Serialize};

use super::admin::AdminState;

/// What one file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// None only in a removed changefeed's tombstone.
    pub checkpoint_ts: Option<u64>,
    pub admin: AdminState,
}

/// The layout of a paused or removed changefeed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileV2 {
    changefeed: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checkpoint_ts: Option<u64>,
    admin_state: AdminState,
    crc32: u32,
}

/// The current layout.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileV1 {
    changefeed: String,
    checkpoint_ts: u64,
    crc32: u32,
}

/// The layout written before the checksum was added.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileV0 {
    checkpoint_ts: u64,
}

fn checksum(changefeed: &str, ts: u64) -> u32 {
    crc32fast::hash(format!("{changefeed}\n{ts}").as_bytes())
}

fn checksum_v2(changefeed: &str, ts: Option<u64>, admin: AdminState) -> u32 {
    let ts = ts.map(|t| t.to_string()).unwrap_or_default();
    crc32fast::hash(format!("{changefeed}\n{ts}\n{}", admin.as_str()).as_bytes())
}

/// The file body for `changefeed` at `ts` in the normal admin state.
pub fn encode(changefeed: &str, ts: u64) -> Vec<u8> {
    let f = FileV1 {
        changefeed: changefeed.to_string(),
        checkpoint_ts: ts,
        crc32: checksum(changefeed, ts),
    };
    // Serialising a struct of a string and two integers cannot fail.
    serde_json::to_vec(&f).unwrap_or_default()
}

/// The file body of `stored`: the earlier layout in the normal state (so a file an older
/// build wrote and one this build wrote for a running changefeed are the same bytes).
pub fn encode_stored(changefeed: &str, stored: Stored) -> Vec<u8> {
    match (stored.admin, stored.checkpoint_ts) {
        (AdminState::Normal, Some(ts)) => encode(changefeed, ts),
        (admin, ts) => {
            let f = FileV2 {
                changefeed: changefeed.to_string(),
                checkpoint_ts: ts,
                admin_state: admin,
                crc32: checksum_v2(changefeed, ts, admin),
            };
            serde_json::to_vec(&f).unwrap_or_default()
        }
    }
}

/// The checkpoint ts in `text`, or why it is not a checkpoint of `changefeed` (a tombstone
/// has none: an error here).
pub fn decode(changefeed: &str, text: &[u8]) -> Result<u64, String> {
    decode_stored(changefeed, text)?
        .checkpoint_ts
        .ok_or_else(|| "the changefeed was removed: the file holds no checkpoint".to_string())
}

/// The checkpoint and admin state in `text`, or why it is not a file of `changefeed`.
pub fn decode_stored(changefeed: &str, text: &[u8]) -> Result<Stored, String> {
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(format!("the file is empty ({} bytes)", text.len()));
    }
    if let Ok(f) = serde_json::from_slice::<FileV2>(text) {
        if f.changefeed != changefeed {
            return Err(format!(
                "it belongs to changefeed {:?}, not {changefeed:?}",
                f.changefeed
            ));
        }
        let want = checksum_v2(&f.changefeed, f.checkpoint_ts, f.admin_state);
        if f.crc32 != want {
            return Err(format!(
                "checksum mismatch: stored {}, computed {want}",
                f.crc32
            ));
        }
        return match (f.admin_state, f.checkpoint_ts) {
            (_, Some(0)) => Err("checkpoint ts 0".to_string()),
            (AdminState::Removed, _) | (_, Some(_)) => Ok(Stored {
                checkpoint_ts: f.checkpoint_ts,
                admin: f.admin_state,
            }),
            (state, None) => Err(format!(
                "a {} changefeed's file without a checkpoint_ts",
                state.as_str()
            )),
        };
    }
    let ts = match serde_json::from_slice::<FileV1>(text) {
        Ok(f) => {
            if f.changefeed != changefeed {
                return Err(format!(
                    "it belongs to changefeed {:?}, not {changefeed:?}",
                    f.changefeed
                ));
            }
            let want = checksum(&f.changefeed, f.checkpoint_ts);
            if f.crc32 != want {
                return Err(format!(
                    "checksum mismatch: stored {}, computed {want}",
                    f.crc32
                ));
            }
            f.checkpoint_ts
        }
        Err(v1) => match serde_json::from_slice::<FileV0>(text) {
            Ok(f) => f.checkpoint_ts,
            Err(_) => return Err(format!("not a checkpoint: {v1}")),
        },
    };
    if ts == 0 {
        return Err("checkpoint ts 0".to_string());
    }
    Ok(Stored {
        checkpoint_ts: Some(ts),
        admin: AdminState::Normal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let b = encode("cf-1", 449_000_000_000_000_001);
        assert_eq!(decode("cf-1", &b), Ok(449_000_000_000_000_001));
        assert_eq!(
            std::str::from_utf8(&b).expect("utf8"),
            format!(
                "{{\"changefeed\":\"cf-1\",\"checkpoint_ts\":449000000000000001,\"crc32\":{}}}",
                crc32fast::hash(b"cf-1\n449000000000000001")
            )
        );
    }

    #[test]
    fn every_truncation_is_refused() {
        let b = encode("cf", 449_000_000_000_000_001);
        for n in 0..b.len() {
            assert!(decode("cf", &b[..n]).is_err(), "prefix of {n} bytes");
        }
        let old = br#"{"checkpoint_ts":449000000000000001}"#;
        assert_eq!(decode("cf", old), Ok(449_000_000_000_000_001));
        for n in 0..old.len() {
            assert!(decode("cf", &old[..n]).is_err(), "old prefix of {n} bytes");
        }
    }

    #[test]
    fn admin_states_round_trip_and_old_files_load_as_normal() {
        let paused = Stored {
            checkpoint_ts: Some(449_000_000_000_000_001),
            admin: AdminState::Paused,
        };
        let b = encode_stored("cf", paused);
        let text = std::str::from_utf8(&b).expect("utf8");
        assert!(text.contains("\"admin_state\":\"paused\""), "{text}");
        assert_eq!(decode_stored("cf", &b), Ok(paused));
        assert_eq!(decode("cf", &b), Ok(449_000_000_000_000_001));
        let tomb = Stored {
            checkpoint_ts: None,
            admin: AdminState::Removed,
        };
        let b = encode_stored("cf", tomb);
        assert_eq!(decode_stored("cf", &b), Ok(tomb));
        assert!(decode("cf", &b).is_err(), "a tombstone holds no checkpoint");
        for n in 0..b.len() {
            assert!(decode_stored("cf", &b[..n]).is_err(), "prefix of {n} bytes");
        }
        // The normal state keeps the earlier layout, byte for byte.
        let normal = Stored {
            checkpoint_ts: Some(7),
            admin: AdminState::Normal,
        };
        assert_eq!(encode_stored("cf", normal), encode("cf", 7));
        assert_eq!(decode_stored("cf", &encode("cf", 7)), Ok(normal));
        assert_eq!(
            decode_stored("cf", br#"{"checkpoint_ts":7}"#),
            Ok(normal),
            "the oldest layout"
        );
        // A flipped state is caught by the checksum; a paused file needs its ts.
        let flipped = String::from_utf8(encode_stored("cf", paused))
            .expect("utf8")
            .replace("paused", "removed");
        assert!(
            decode_stored("cf", flipped.as_bytes())
                .expect_err("flipped")
                .contains("checksum")
        );
        let no_ts = format!(
            "{{\"changefeed\":\"cf\",\"admin_state\":\"paused\",\"crc32\":{}}}",
            checksum_v2("cf", None, AdminState::Paused)
        );
        assert!(decode_stored("cf", no_ts.as_bytes()).is_err());
    }

    #[test]
    fn a_changed_digit_or_another_changefeed_is_refused() {
        let text = String::from_utf8(encode("cf", 449_000_000_000_000_001)).expect("utf8");
        let flipped = text.replacen("4490", "4491", 1);
        let e = decode("cf", flipped.as_bytes()).expect_err("bit flip");
        assert!(e.contains("checksum mismatch"), "{e}");
        let e = decode("other", text.as_bytes()).expect_err("misplaced");
        assert!(e.contains("belongs to changefeed \"cf\""), "{e}");
        assert!(
            decode("cf", format!("{text}x").as_bytes()).is_err(),
            "trailing bytes"
        );
        assert!(decode("cf", b"\0\0\0\0").is_err(), "zeroed blocks");
        assert!(decode("cf", br#"{"checkpoint_ts":0}"#).is_err(), "ts 0");
        assert!(
            decode("cf", br#"{"checkpoint_ts":5,"x":1}"#).is_err(),
            "unknown field"
        );
    }
}
