//! Go's text forms the Open protocol's `encoding/json` output is made of: numbers as
//! `encoding/json` writes `float32`/`float64`, and `strconv.Quote` of binary strings.
//!
//! Owns [`write_float`] and [`quote_inner`]. Guarantees (Go 1.25, which builds TiCDC v8.5.7):
//! * floats: the shortest text that reads back as the same value at the value's own width,
//!   positional (`'f'`), or with an exponent (`'e'`) when |v| < 1e-6 or ≥ 1e21 compared at that
//!   width; the exponent has a sign and no leading zero (`1e-7`, `1.5e+21`); NaN and ±Inf,
//!   which TiCDC's mounter already turns into 0, are written as `0`;
//! * `strconv.Quote` without its quotes: `"` and `\` backslash-escaped; printable runes
//!   (Unicode letters, marks, numbers, punctuation, symbols and the ASCII space) as they are;
//!   `\a \b \f \n \r \t \v`; other bytes below 0x20, 0x7F and every byte that does not start
//!   a valid UTF-8 sequence as `\xNN`; other runes as `\uNNNN` / `\UNNNNNNNN` (lower-case hex).
//!   Printability comes from the `unicode-general-category` crate's tables (Unicode 16, where
//!   Go 1.25 has 15: runes assigned in between differ).

use std::io::Write as _;

use unicode_general_category::{GeneralCategory as G, get_general_category};

/// Appends Go `encoding/json`'s text of a float of `bits` (32 or 64) width.
pub fn write_float(out: &mut Vec<u8>, v: f64, bits: u8) {
    if !v.is_finite() {
        out.push(b'0');
        return;
    }
    let abs = v.abs();
    let exponent = abs != 0.0
        && if bits == 32 {
            // The value is a float32 widened: compare it as float32, as Go does.
            let a = abs as f32;
            !(1e-6..1e21).contains(&a)
        } else {
            !(1e-6..1e21).contains(&abs)
        };
    // Writes into a Vec cannot fail.
    let _ = match (exponent, bits) {
        (false, 32) => write!(out, "{}", v as f32),
        (false, _) => write!(out, "{v}"),
        (true, _) => {
            let text = if bits == 32 {
                format!("{:e}", v as f32)
            } else {
                format!("{v:e}")
            };
            match text.split_once('e') {
                Some((mantissa, exp)) if !exp.starts_with('-') => {
                    write!(out, "{mantissa}e+{exp}")
                }
                _ => write!(out, "{text}"),
            }
        }
    };
}

/// Go `unicode.IsPrint`.
fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    !matches!(
        get_general_category(c),
        G::Control
            | G::Format
            | G::Surrogate
            | G::PrivateUse
            | G::Unassigned
            | G::SpaceSeparator
            | G::LineSeparator
            | G::ParagraphSeparator
    )
}

/// Appends `strconv.Quote(string(bytes))` without the surrounding quotes.
pub fn quote_inner(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut rest = bytes;
    while !rest.is_empty() {
        let (c, width) = match decode_rune(rest) {
            Some(r) => r,
            None => {
                let _ = write!(out, "\\x{:02x}", rest[0]);
                rest = &rest[1..];
                continue;
            }
        };
        rest = &rest[width..];
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            _ if is_print(c) => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            '\u{7}' => out.extend_from_slice(b"\\a"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{b}' => out.extend_from_slice(b"\\v"),
            _ if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            _ if (c as u32) < 0x1_0000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            _ => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
}

/// One rune at the start of `b` with Go's `utf8.DecodeRune` rules (`None` = an invalid byte,
/// width 1).
fn decode_rune(b: &[u8]) -> Option<(char, usize)> {
    let b0 = *b.first()?;
    if b0 < 0x80 {
        return Some((char::from(b0), 1));
    }
    let len = match b0 {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return None,
    };
    let s = std::str::from_utf8(b.get(..len)?).ok()?;
    s.chars().next().map(|c| (c, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(v: f64, bits: u8) -> String {
        let mut out = Vec::new();
        write_float(&mut out, v, bits);
        String::from_utf8(out).unwrap_or_default()
    }

    fn quoted(b: &[u8]) -> String {
        let mut out = Vec::new();
        quote_inner(&mut out, b);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Go 1.25: `json.Marshal(float64(x))`, `json.Marshal(float32(x))`.
    #[test]
    fn floats_as_encoding_json() {
        assert_eq!(float(153.123, 64), "153.123");
        assert_eq!(float(f64::from(153.123f32), 32), "153.123");
        assert_eq!(float(0.1, 64), "0.1");
        assert_eq!(float(-0.0, 64), "-0");
        assert_eq!(float(1e20, 64), "100000000000000000000");
        assert_eq!(float(1e21, 64), "1e+21");
        assert_eq!(float(1.5e-7, 64), "1.5e-7");
        assert_eq!(float(1e-10, 64), "1e-10");
        assert_eq!(float(0.000001, 64), "0.000001");
        assert_eq!(float(f64::from(3.4e38f32), 32), "3.4e+38");
        assert_eq!(float(f64::NAN, 64), "0");
    }

    /// `strconv.Quote` of TiCDC's VARBINARY example (`open_protocol_message_test.go`
    /// `TestVarBinaryCol`, docs' column type table: `\x89PNG\r\n\x1a\n`).
    #[test]
    fn go_quote() {
        assert_eq!(
            quoted(&[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]),
            r"\x89PNG\r\n\x1a\n"
        );
        assert_eq!(quoted(b"a\"b\\c\x07\x0b\x7f"), r#"a\"b\\c\a\v\x7f"#);
        assert_eq!(quoted("测é 😀".as_bytes()), "测é 😀");
        assert_eq!(
            quoted("\u{a0}\u{200b}\u{feff}".as_bytes()),
            r"\u00a0\u200b\ufeff"
        );
        assert_eq!(quoted("\u{e0001}".as_bytes()), r"\U000e0001");
        assert_eq!(quoted(b"\xe6\xb5"), r"\xe6\xb5");
    }
}
