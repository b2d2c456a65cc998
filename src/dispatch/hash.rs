//! TiCDC's partition hash.
//!
//! Owns [`PositionInertia`] (tiflow `pkg/hash/position_inertia.go`): the accumulator starts
//! at 0; each [`PositionInertia::write`] computes CRC-32/IEEE over the concatenation of its
//! parts and XORs it in. Guarantees bit-identical sums to TiCDC; the order of `write` calls
//! does not matter and identical calls cancel out (as in TiCDC).

/// XOR of CRC-32/IEEE sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PositionInertia {
    value: u32,
}

impl PositionInertia {
    /// A fresh accumulator (0).
    pub fn new() -> Self {
        Self::default()
    }

    /// XORs in the CRC-32 of the concatenated `parts`.
    pub fn write(&mut self, parts: &[&[u8]]) {
        let mut h = crc32fast::Hasher::new();
        for p in parts {
            h.update(p);
        }
        self.value ^= h.finalize();
    }

    /// The accumulated sum.
    pub fn sum32(&self) -> u32 {
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRC-32/IEEE check value (`123456789` → 0xCBF43926) and XOR behaviour.
    #[test]
    fn crc32_ieee_and_xor() {
        let mut h = PositionInertia::new();
        h.write(&[b"1234", b"56789"]);
        assert_eq!(h.sum32(), 0xCBF4_3926);
        h.write(&[b"123456789"]);
        assert_eq!(h.sum32(), 0);
        let mut a = PositionInertia::new();
        a.write(&[b"test", b"t1"]);
        a.write(&[b"a", b"11"]);
        let mut b = PositionInertia::new();
        b.write(&[b"a11"]);
        b.write(&[b"testt1"]);
        assert_eq!(a, b);
        // zlib.crc32(b"testt1") = 1079797119
        let mut t = PositionInertia::new();
        t.write(&[b"test", b"t1"]);
        assert_eq!(t.sum32(), 1_079_797_119);
    }
}
