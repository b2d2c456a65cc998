//! The copy of a produce batch kept for its retries.
//!
//! rskafka's `produce` takes its records by value, so a batch that may have to be sent
//! again needs a copy. Cloning every record costs an allocation and a free per message on
//! the hot path; this keeps the batch's keys and values in one buffer instead, and makes
//! records from it only when an attempt failed.
//!
//! Guarantees: [`RetryCopy::records`] gives back records equal to those the copy was made
//! of (keys, values, headers, in order), each stamped with the timestamp given.

use std::collections::BTreeMap;

use rskafka::chrono::{DateTime, Utc};
use rskafka::record::Record;

/// A byte range of the buffer, or an absent key/value.
type Part = Option<(usize, usize)>;

/// The keys, values and headers of a batch, for another attempt.
#[derive(Debug, Default)]
pub(super) struct RetryCopy {
    bytes: Vec<u8>,
    records: Vec<(Part, Part, BTreeMap<String, Vec<u8>>)>,
}

impl RetryCopy {
    /// Copies `records` (`bytes` is a capacity hint: their keys and values together).
    pub fn of(records: &[Record], bytes: usize) -> Self {
        let mut copy = RetryCopy {
            bytes: Vec::with_capacity(bytes),
            records: Vec::with_capacity(records.len()),
        };
        for r in records {
            let key = copy.push(r.key.as_deref());
            let value = copy.push(r.value.as_deref());
            copy.records.push((key, value, r.headers.clone()));
        }
        copy
    }

    fn push(&mut self, part: Option<&[u8]>) -> Part {
        let p = part?;
        let start = self.bytes.len();
        self.bytes.extend_from_slice(p);
        Some((start, self.bytes.len()))
    }

    /// The records again, stamped `timestamp`.
    pub fn records(&self, timestamp: DateTime<Utc>) -> Vec<Record> {
        let part = |p: &Part| p.map(|(s, e)| self.bytes[s..e].to_vec());
        self.records
            .iter()
            .map(|(k, v, h)| Record {
                key: part(k),
                value: part(v),
                headers: h.clone(),
                timestamp,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_back_the_same_records() {
        let now = Utc::now();
        let mut headers = BTreeMap::new();
        headers.insert("h".to_string(), b"x".to_vec());
        let original = vec![
            Record {
                key: Some(b"k1".to_vec()),
                value: Some(b"value one".to_vec()),
                headers: BTreeMap::new(),
                timestamp: now,
            },
            Record {
                key: None,
                value: Some(Vec::new()),
                headers,
                timestamp: now,
            },
            Record {
                key: Some(Vec::new()),
                value: None,
                headers: BTreeMap::new(),
                timestamp: now,
            },
        ];
        let copy = RetryCopy::of(&original, 16);
        assert_eq!(copy.records(now), original);
    }
}
