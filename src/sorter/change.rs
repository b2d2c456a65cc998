//! A committed row change as the upstream client delivers it (raw TiKV key and values),
//! and its compact binary form for spill files.

/// The KV operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Put,
    Delete,
}

/// One committed change of one row key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawChange {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub old_value: Option<Vec<u8>>,
    pub op: Op,
    pub start_ts: u64,
    pub commit_ts: u64,
}

impl RawChange {
    /// Bytes this change holds (what the memory quota counts).
    pub fn size(&self) -> usize {
        self.key.len() + self.value.len() + self.old_value.as_ref().map_or(0, Vec::len) + 48
    }

    /// The order of release: commit ts, then start ts, then key.
    pub fn order_key(&self) -> (u64, u64, Vec<u8>) {
        (self.commit_ts, self.start_ts, self.key.clone())
    }

    /// `commit_ts, start_ts, op, key, value, old value` with u32 lengths (old value length
    /// u32::MAX when absent), little-endian.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.commit_ts.to_le_bytes());
        out.extend_from_slice(&self.start_ts.to_le_bytes());
        out.push(match self.op {
            Op::Put => 0,
            Op::Delete => 1,
        });
        for part in [&self.key, &self.value] {
            out.extend_from_slice(&(part.len() as u32).to_le_bytes());
            out.extend_from_slice(part);
        }
        match &self.old_value {
            Some(v) => {
                out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                out.extend_from_slice(v);
            }
            None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
        }
    }

    /// Inverse of [`RawChange::encode`]; `None` when the bytes are not one whole change.
    pub fn decode(b: &[u8]) -> Option<RawChange> {
        let u64_at = |i: usize| {
            b.get(i..i + 8)
                .and_then(|s| s.try_into().ok())
                .map(u64::from_le_bytes)
        };
        let u32_at = |i: usize| {
            b.get(i..i + 4)
                .and_then(|s| s.try_into().ok())
                .map(u32::from_le_bytes)
        };
        let commit_ts = u64_at(0)?;
        let start_ts = u64_at(8)?;
        let op = match b.get(16)? {
            0 => Op::Put,
            1 => Op::Delete,
            _ => return None,
        };
        let mut i = 17;
        let take = |i: &mut usize| -> Option<Option<Vec<u8>>> {
            let n = u32_at(*i)?;
            *i += 4;
            if n == u32::MAX {
                return Some(None);
            }
            let n = n as usize;
            let v = b.get(*i..*i + n)?.to_vec();
            *i += n;
            Some(Some(v))
        };
        let key = take(&mut i)??;
        let value = take(&mut i)??;
        let old_value = take(&mut i)?;
        (i == b.len()).then_some(RawChange {
            key,
            value,
            old_value,
            op,
            start_ts,
            commit_ts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips() {
        for old in [None, Some(vec![]), Some(b"old".to_vec())] {
            let c = RawChange {
                key: b"t\x80k".to_vec(),
                value: vec![1, 2, 3],
                old_value: old,
                op: Op::Delete,
                start_ts: 7,
                commit_ts: 9,
            };
            let mut b = Vec::new();
            c.encode(&mut b);
            assert_eq!(RawChange::decode(&b), Some(c));
            assert_eq!(RawChange::decode(&b[..b.len() - 1]), None);
        }
    }
}
