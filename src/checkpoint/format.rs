//! The bytes of one checkpoint file, and the strict reading of them.
//!
//! A file is one JSON object, `{"changefeed":"<id>","checkpoint_ts":<ts>,"crc32":<c>}`,
//! where `crc32` is CRC-32/IEEE of `"<id>\n<ts>"`. Guarantees: [`decode`] accepts a text only
//! when it is exactly such an object (no unknown or missing field, nothing after it), its
//! checksum matches, it names the changefeed asked for and its ts is not zero — so a torn,
//! truncated, bit-flipped or misplaced file is never read back as a checkpoint. Files of
//! earlier versions, `{"checkpoint_ts":<ts>}`, are still read: every proper prefix of a JSON
//! object is invalid JSON, so a truncated one is refused as well.

use serde::{Deserialize, Serialize};

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

/// The file body for `changefeed` at `ts`.
pub fn encode(changefeed: &str, ts: u64) -> Vec<u8> {
    let f = FileV1 {
        changefeed: changefeed.to_string(),
        checkpoint_ts: ts,
        crc32: checksum(changefeed, ts),
    };
    // Serialising a struct of a string and two integers cannot fail.
    serde_json::to_vec(&f).unwrap_or_default()
}

/// The checkpoint ts in `text`, or why it is not a checkpoint of `changefeed`.
pub fn decode(changefeed: &str, text: &[u8]) -> Result<u64, String> {
    if text.iter().all(u8::is_ascii_whitespace) {
        return Err(format!("the file is empty ({} bytes)", text.len()));
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
    Ok(ts)
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
