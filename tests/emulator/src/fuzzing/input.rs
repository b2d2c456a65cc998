//! [`Input`]: a cursor that turns fuzz bytes into choices and values.
//!
//! Guarantees: every read succeeds; once the bytes run out, reads return zeros (so a short
//! input still builds a complete, small structure), and no read allocates more than the
//! bound it is given.

/// Fuzz bytes read front to back.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A cursor over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, 0 past the end.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    /// A flag from one byte's low bit.
    pub fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    /// A number in `0..n` (0 when `n` is 0) from one byte, or two when `n` > 256.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let raw = if n > 256 {
            usize::from(u16::from_le_bytes([self.byte(), self.byte()]))
        } else {
            usize::from(self.byte())
        };
        raw % n
    }

    /// A number in `lo..=hi` (`lo` when `hi < lo`).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = hi.abs_diff(lo).saturating_add(1);
        lo.saturating_add_unsigned(self.u64() % span)
    }

    /// Eight bytes, little-endian (zero-padded past the end).
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        u64::from_le_bytes(b)
    }

    /// Eight bytes as a signed integer.
    pub fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.u64().to_le_bytes())
    }

    /// Up to `max` bytes: a length byte, then that many bytes (fewer past the end).
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let want = self.below(max.saturating_add(1));
        let n = want.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    /// Up to `max` bytes as text (invalid UTF-8 replaced, as a lossy reader would).
    pub fn text(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.bytes(max)).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_zero_and_bounded() {
        let mut i = Input::new(&[5, b'a', b'b', 7]);
        assert_eq!(i.bytes(10), b"ab\x07");
        assert!(i.is_empty());
        assert_eq!(i.byte(), 0);
        assert_eq!(i.u64(), 0);
        assert_eq!(i.bytes(10), b"");
        let mut i = Input::new(&[255, 255]);
        assert_eq!(i.below(3), 0);
        assert_eq!(i.range(-2, 2), -2 + (0xff % 5) as i64);
        assert_eq!(i.range(4, 4), 4);
    }
}
