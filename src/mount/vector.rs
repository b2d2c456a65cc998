//! TiDB `VECTOR(FLOAT32)` values (`types/vector.go`).
//!
//! Owns [`VectorFloat32`]: serialized as `u32` LE element count then each `f32` LE; rendered
//! like TiDB's `String()` (`[1,2.5]`: Go `AppendFloat(v, 'f', -1, 32)`, i.e. the shortest
//! round-trip digits without exponent). Guarantees: exact round trip; short input is an error.

use std::fmt;

use super::error::DecodeError;
use super::reader::Reader;

/// A vector of f32.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VectorFloat32(pub Vec<f32>);

impl VectorFloat32 {
    /// Reads `[count u32 LE][count × f32 LE]` and no more.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let n = r.read_u32_le("vector length")? as usize;
        let bytes = r.read_bytes(n.saturating_mul(4), "vector elements")?;
        Ok(VectorFloat32(
            bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ))
    }

    /// Appends the serialized form.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&(self.0.len() as u32).to_le_bytes());
        for v in &self.0 {
            buf.extend_from_slice(&v.to_le_bytes());
        }
    }
}

impl fmt::Display for VectorFloat32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            // Rust's f32 Display is the shortest round-trip form without exponent, as Go's
            // 'f' format with precision -1 and bitSize 32.
            write!(f, "{v}")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn layout_and_text() {
        let v = VectorFloat32(vec![1.0, 2.5, -0.1]);
        let mut b = Vec::new();
        v.encode(&mut b);
        assert_eq!(&b[..4], &[3, 0, 0, 0]);
        assert_eq!(&b[4..8], &1.0f32.to_le_bytes());
        assert_eq!(v.to_string(), "[1,2.5,-0.1]");
        assert_eq!(VectorFloat32::default().to_string(), "[]");
        assert!(VectorFloat32::decode(&mut Reader::new(&[2, 0, 0, 0, 1, 2, 3, 4])).is_err());
        assert!(VectorFloat32::decode(&mut Reader::new(&[0xff, 0xff, 0xff, 0xff])).is_err());
    }

    proptest! {
        #[test]
        fn roundtrip(v in proptest::collection::vec(proptest::num::f32::NORMAL, 0..20)) {
            let v = VectorFloat32(v);
            let mut b = Vec::new();
            v.encode(&mut b);
            prop_assert_eq!(VectorFloat32::decode(&mut Reader::new(&b)).unwrap(), v);
        }
    }
}
