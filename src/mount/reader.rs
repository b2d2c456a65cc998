//! Bounds-checked cursor over input bytes.
//!
//! Owns [`Reader`]: every read checks the remaining length and reports a
//! [`DecodeError::Truncated`] with the offset, so decoders never index out of bounds.

use super::error::DecodeError;

/// A cursor over a byte slice that knows its offset.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading `data` at offset 0.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// Current offset from the start of the input.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }

    /// Number of bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Reads `n` bytes.
    pub fn read_bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let rest = self.rest();
        if rest.len() < n {
            return Err(DecodeError::Truncated {
                what,
                offset: self.pos,
                needed: n,
                available: rest.len(),
            });
        }
        self.pos += n;
        Ok(&rest[..n])
    }

    /// Reads one byte.
    pub fn read_u8(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.read_bytes(1, what)?[0])
    }

    /// Reads `N` bytes into an array.
    pub fn read_array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let b = self.read_bytes(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// Reads a little-endian u16.
    pub fn read_u16_le(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.read_array(what)?))
    }

    /// Reads a little-endian u32.
    pub fn read_u32_le(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.read_array(what)?))
    }

    /// Reads a little-endian u64.
    pub fn read_u64_le(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.read_array(what)?))
    }

    /// An error about `what` at the current offset.
    pub fn invalid(&self, what: &'static str, reason: impl Into<String>) -> DecodeError {
        DecodeError::invalid(what, self.pos, reason)
    }
}
