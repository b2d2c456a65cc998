//! The JSON string escapes Go's encoders share for ASCII: `\"`, `\\`, `\n`, `\r`, `\t`, and
//! `\u00XX` (lower-case hex) for any other byte the caller decided to escape. Which bytes need
//! escaping (HTML-safe or not, `\b`/`\f`) is each protocol's writer's choice.

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the escape of the ASCII byte `c`.
#[inline]
pub(crate) fn write_ascii_escape(out: &mut Vec<u8>, c: u8) {
    match c {
        b'"' => out.extend_from_slice(b"\\\""),
        b'\\' => out.extend_from_slice(b"\\\\"),
        b'\n' => out.extend_from_slice(b"\\n"),
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        _ => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(c >> 4)],
            HEX[usize::from(c & 0xf)],
        ]),
    }
}
