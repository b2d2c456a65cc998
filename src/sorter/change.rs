//! The compact binary form of a [`KvChange`] in spill files, and the order the sorter releases
//! changes in.

use crate::event::{KvChange, OpType};

/// The order of release: commit ts, then start ts, then key. The key is moved out of `c`
/// (no copy per change); [`restore_key`] puts it back.
pub fn take_order_key(c: &mut KvChange) -> (u64, u64, Vec<u8>) {
    (c.commit_ts, c.start_ts, std::mem::take(&mut c.key))
}

/// Gives `c` back the key [`take_order_key`] moved out.
pub fn restore_key(c: &mut KvChange, order_key: (u64, u64, Vec<u8>)) {
    c.key = order_key.2;
}

/// `commit_ts, start_ts, op, key, value, old value` with u32 lengths (old value length
/// u32::MAX when absent), little-endian.
pub fn encode(c: &KvChange, out: &mut Vec<u8>) {
    out.extend_from_slice(&c.commit_ts.to_le_bytes());
    out.extend_from_slice(&c.start_ts.to_le_bytes());
    out.push(match c.op {
        OpType::Put => 0,
        OpType::Delete => 1,
    });
    for part in [&c.key, &c.value] {
        out.extend_from_slice(&(part.len() as u32).to_le_bytes());
        out.extend_from_slice(part);
    }
    match &c.old_value {
        Some(v) => {
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v);
        }
        None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
}

/// Inverse of [`encode`]; `None` when the bytes are not one whole change.
pub fn decode(b: &[u8]) -> Option<KvChange> {
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
        0 => OpType::Put,
        1 => OpType::Delete,
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
    (i == b.len()).then_some(KvChange {
        key,
        value,
        old_value,
        op,
        start_ts,
        commit_ts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips() {
        for old in [None, Some(vec![]), Some(b"old".to_vec())] {
            let c = KvChange {
                key: b"t\x80k".to_vec(),
                value: vec![1, 2, 3],
                old_value: old,
                op: OpType::Delete,
                start_ts: 7,
                commit_ts: 9,
            };
            let mut b = Vec::new();
            encode(&c, &mut b);
            assert_eq!(decode(&b), Some(c));
            assert_eq!(decode(&b[..b.len() - 1]), None);
        }
    }
}
