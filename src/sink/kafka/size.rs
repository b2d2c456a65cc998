//! The message size rule, in one place: whether one message fits a topic's limit, checked the
//! way the broker checks it.
//!
//! The broker compares each *record batch as written on the wire* — compressed when the
//! producer compresses — with the topic's `max.message.bytes`. TiCDC instead compares the
//! uncompressed `len(key) + len(value) + 36` with `max-message-bytes`, so it rejects (or
//! reduces) messages that would fit once compressed (tiflow issue 12232). [`SizeLimit::fits`]
//! does both: the cheap uncompressed count first (TiCDC's, headers counted as Kafka counts
//! them), and only when that is over the limit and a compression is configured, the size of
//! the message as its own compressed record batch, measured with rskafka's record-batch
//! writer — the bytes the producer will send, since such a message always travels alone in
//! its batch. The limit itself is the effective one (`max-message-bytes` lowered to the
//! topic's or broker's limit minus 128, see [`super::Admin`]).
//!
//! Used by the large-message handling (`sink::large_message`) and by the producer's own
//! check before queueing, so both always agree.

use rskafka::client::partition::Compression;
use rskafka::record::Record as WireRecord;

/// Bytes a record batch (v2) adds around its records.
pub const RECORD_BATCH_OVERHEAD: u64 = 61;
/// Upper bound of the per-record framing (length, attributes, timestamp and offset deltas,
/// key and value lengths, header count), as TiCDC counts it (`len(key)+len(value)+36`).
pub const RECORD_OVERHEAD: u64 = 36;
/// Upper bound of one header's framing (key and value lengths).
const HEADER_OVERHEAD: u64 = 10;

/// The largest message a topic takes, and the compression its batches are written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeLimit {
    /// The effective limit in bytes.
    pub bytes: u64,
    pub compression: Compression,
}

/// A message over the limit: its uncompressed size, and its size as a compressed record
/// batch when a compression is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Oversize {
    pub size: u64,
    pub compressed: Option<u64>,
}

impl SizeLimit {
    pub fn new(bytes: u64, compression: Compression) -> Self {
        SizeLimit { bytes, compression }
    }

    /// A limit without compression (what TiCDC checks; the stdout output).
    pub fn uncompressed(bytes: u64) -> Self {
        SizeLimit::new(bytes, Compression::NoCompression)
    }

    /// Whether the encoded record fits: `Ok` or its sizes.
    pub fn fits(&self, r: &crate::codec::Record) -> Result<(), Oversize> {
        let headers = r.headers.iter().map(|(k, v)| (k.as_str(), v.as_slice()));
        let size = message_size(r.key.as_deref(), r.value.as_deref(), headers);
        self.check(size, || WireRecord {
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r.headers.iter().cloned().collect(),
            timestamp: rskafka::chrono::Utc::now(),
        })
    }

    /// [`SizeLimit::fits`] for a message of `size` bytes uncompressed, built as a wire
    /// record by `record` only when it has to be compressed to tell.
    pub fn check(&self, size: u64, record: impl FnOnce() -> WireRecord) -> Result<(), Oversize> {
        if size <= self.bytes {
            return Ok(());
        }
        let compressed = compressed_batch_size(&[record()], self.compression).map(|c| c as u64);
        match compressed {
            Some(c) if c <= self.bytes => Ok(()),
            _ => Err(Oversize { size, compressed }),
        }
    }
}

impl std::fmt::Display for Oversize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes", self.size)?;
        if let Some(c) = self.compressed {
            write!(f, " ({c} bytes as a compressed record batch)")?;
        }
        Ok(())
    }
}

/// A message's uncompressed size as the limit counts it: key + value + 36 (TiCDC's count),
/// plus each header's key, value and framing.
pub fn message_size<'a>(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl Iterator<Item = (&'a str, &'a [u8])>,
) -> u64 {
    let kv = key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
    let headers: u64 = headers
        .map(|(k, v)| (k.len() + v.len()) as u64 + HEADER_OVERHEAD)
        .sum();
    kv as u64 + RECORD_OVERHEAD + headers
}

/// The size of `records` as one compressed record batch on the wire, measured by encoding
/// it with rskafka's own record-batch writer (rskafka 0.6 does not report what it sent);
/// `None` without compression.
pub fn compressed_batch_size(records: &[WireRecord], compression: Compression) -> Option<usize> {
    use rskafka::protocol::record::{
        ControlBatchOrRecords, Record as BatchRecord, RecordBatch, RecordBatchCompression,
        RecordBatchTimestampType, RecordHeader,
    };
    use rskafka::protocol::traits::WriteType;
    let codec = match compression {
        Compression::NoCompression => return None,
        Compression::Gzip => RecordBatchCompression::Gzip,
        Compression::Lz4 => RecordBatchCompression::Lz4,
        Compression::Snappy => RecordBatchCompression::Snappy,
        Compression::Zstd => RecordBatchCompression::Zstd,
    };
    let wire: Vec<BatchRecord> = records
        .iter()
        .enumerate()
        .map(|(i, r)| BatchRecord {
            timestamp_delta: 0,
            offset_delta: i32::try_from(i).unwrap_or(i32::MAX),
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| RecordHeader {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
        })
        .collect();
    let batch = RecordBatch {
        base_offset: 0,
        partition_leader_epoch: 0,
        last_offset_delta: i32::try_from(records.len().saturating_sub(1)).unwrap_or(i32::MAX),
        first_timestamp: 0,
        max_timestamp: 0,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records: ControlBatchOrRecords::Records(wire),
        compression: codec,
        is_transactional: false,
        timestamp_type: RecordBatchTimestampType::CreateTime,
    };
    let mut out = Vec::new();
    batch.write(&mut out).ok()?;
    Some(out.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Record;

    const CODECS: [Compression; 4] = [
        Compression::Gzip,
        Compression::Lz4,
        Compression::Snappy,
        Compression::Zstd,
    ];

    /// A JSON-shaped value of `n` bytes that compresses well.
    fn compressible(n: usize) -> Vec<u8> {
        let mut v = b"{\"body\":\"".to_vec();
        v.resize(n - 2, b'x');
        v.extend_from_slice(b"\"}");
        v
    }

    /// `n` bytes no codec shrinks (xorshift output).
    fn incompressible(n: usize) -> Vec<u8> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn the_uncompressed_count_is_ticdcs_plus_headers() {
        let r = Record::new(Some(b"key".to_vec()), b"value".to_vec());
        assert_eq!(r.length() as u64, 3 + 5 + 36);
        let limit = SizeLimit::uncompressed(3 + 5 + 36);
        assert_eq!(limit.fits(&r), Ok(()));
        let over = SizeLimit::uncompressed(3 + 5 + 35).fits(&r);
        assert_eq!(
            over,
            Err(Oversize {
                size: 44,
                compressed: None
            })
        );
        let mut with_header = r.clone();
        with_header.headers.push(("h".to_string(), b"vv".to_vec()));
        assert_eq!(
            limit.fits(&with_header),
            Err(Oversize {
                size: 44 + 1 + 2 + 10,
                compressed: None
            })
        );
    }

    #[test]
    fn a_compressible_message_over_the_limit_fits_once_compressed() {
        let r = Record::new(Some(Vec::new()), compressible(100_000));
        for c in CODECS {
            assert!(
                SizeLimit::uncompressed(10_000).fits(&r).is_err(),
                "over uncompressed"
            );
            assert_eq!(SizeLimit::new(10_000, c).fits(&r), Ok(()), "{c:?}");
        }
    }

    #[test]
    fn the_compressed_size_is_the_whole_batch_on_the_wire() {
        let r = Record::new(None, compressible(50_000));
        for c in CODECS {
            let wire = compressed_batch_size(
                &[WireRecord {
                    key: None,
                    value: r.value.clone(),
                    headers: Default::default(),
                    timestamp: rskafka::chrono::Utc::now(),
                }],
                c,
            )
            .expect("measured") as u64;
            assert!(wire > RECORD_BATCH_OVERHEAD, "{c:?}: {wire}");
            // Exactly at the measured size it fits; one byte less and it does not.
            assert_eq!(SizeLimit::new(wire, c).fits(&r), Ok(()), "{c:?}");
            assert_eq!(
                SizeLimit::new(wire - 1, c).fits(&r),
                Err(Oversize {
                    size: 50_000 + 36,
                    compressed: Some(wire)
                }),
                "{c:?}"
            );
        }
    }

    #[test]
    fn an_incompressible_message_over_the_limit_stays_over() {
        let r = Record::new(None, incompressible(30_000));
        for c in CODECS {
            let over = SizeLimit::new(20_000, c).fits(&r).expect_err("over");
            assert_eq!(over.size, 30_036);
            let compressed = over.compressed.expect("measured");
            assert!(compressed > 29_000, "{c:?}: {compressed}");
            assert_eq!(
                over.to_string(),
                format!("30036 bytes ({compressed} bytes as a compressed record batch)")
            );
        }
    }

    #[test]
    fn nothing_is_compressed_while_the_cheap_count_fits() {
        let r = Record::new(None, incompressible(1_000));
        let limit = SizeLimit::new(2_000, Compression::Zstd);
        assert_eq!(
            limit.check(1_036, || panic!("must not be measured")),
            Ok(())
        );
        assert_eq!(limit.fits(&r), Ok(()));
    }

    #[test]
    fn compressed_size_is_measured_for_every_codec() {
        let records: Vec<WireRecord> = (0..100)
            .map(|i| WireRecord {
                key: Some(format!("k{i}").into_bytes()),
                value: Some(
                    format!("{{\"id\":\"{i}\",\"pad\":\"{}\"}}", "x".repeat(200)).into_bytes(),
                ),
                headers: Default::default(),
                timestamp: rskafka::chrono::Utc::now(),
            })
            .collect();
        let raw: usize = records
            .iter()
            .map(|r| r.value.as_ref().map_or(0, Vec::len))
            .sum();
        assert_eq!(
            compressed_batch_size(&records, Compression::NoCompression),
            None
        );
        for c in CODECS {
            let wire = compressed_batch_size(&records, c).expect("measured");
            assert!(wire > 61 && wire < raw / 4, "{c:?}: {wire} bytes for {raw}");
        }
    }
}
