//! JSON string escaping exactly as TiCDC's Go JSON encoders with HTML escaping do it.
//!
//! Owns [`write_json_string`], [`write_std_json_string`] and [`write_latin1_json_string`].
//! TiCDC's canal-json writes DML messages with mailru/easyjson `jwriter.Writer.String` (HTML
//! escaping on) and DDL/watermark messages with goccy/go-json `Marshal` (HTML escaping on);
//! the Open protocol uses Go's `encoding/json` (Go 1.25, HTML escaping on). All escape
//! identically but for `\b` and `\f`, which `encoding/json` (since Go 1.22) writes as such
//! ([`write_std_json_string`]) and the others as `\u0008`/`\u000c`:
//! `"` → `\"`, `\` → `\\`, `\n` `\r` `\t` as such, every other byte below 0x20 and `<` `>` `&`
//! as `\u00XX` with lowercase hex, U+2028/U+2029 as `\u2028`/`\u2029`, each byte that does not
//! start a valid UTF-8 sequence (Go `utf8.DecodeRune` rules: no overlongs, no surrogates, at
//! most U+10FFFF) as `\ufffd`; everything else, including 0x7F, is copied.

use crate::codec::json_escape::write_ascii_escape;

#[inline]
const fn ascii_needs_escape(c: u8) -> bool {
    c < 0x20 || c == b'"' || c == b'\\' || c == b'<' || c == b'>' || c == b'&'
}

/// Bytes that are copied as they are: ASCII that needs no escape. Everything else (an
/// escape, or a byte ≥ 0x80 that starts a sequence to check) stops the fast scan.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x80 {
        t[c] = !ascii_needs_escape(c as u8);
        c += 1;
    }
    t
};

/// Decodes one UTF-8 sequence at the start of `b` (non-empty, first byte ≥ 0x80) with Go's
/// rules; `None` when Go would return `(RuneError, 1)`.
#[inline]
fn decode_multibyte(b: &[u8]) -> Option<(u32, usize)> {
    let b0 = b[0];
    let (len, min, init) = match b0 {
        0xC2..=0xDF => (2, 0x80, u32::from(b0 & 0x1F)),
        0xE0..=0xEF => (3, 0x800, u32::from(b0 & 0x0F)),
        0xF0..=0xF4 => (4, 0x1_0000, u32::from(b0 & 0x07)),
        _ => return None,
    };
    if b.len() < len {
        return None;
    }
    let mut cp = init;
    for &c in &b[1..len] {
        if c & 0xC0 != 0x80 {
            return None;
        }
        cp = (cp << 6) | u32::from(c & 0x3F);
    }
    if cp < min || cp > 0x10_FFFF || (0xD800..=0xDFFF).contains(&cp) {
        return None;
    }
    Some((cp, len))
}

/// Appends `s` (arbitrary bytes, meant as UTF-8) as a quoted, escaped JSON string
/// (easyjson, goccy/go-json).
pub fn write_json_string(out: &mut Vec<u8>, s: &[u8]) {
    write_escaped(out, s, false);
}

/// Appends `s` as Go's `encoding/json` writes a string (`\b`, `\f` short escapes).
pub fn write_std_json_string(out: &mut Vec<u8>, s: &[u8]) {
    write_escaped(out, s, true);
}

fn write_escaped(out: &mut Vec<u8>, s: &[u8], short_bf: bool) {
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        // Fast scan over the bytes copied as they are (most of any row's text).
        while i < s.len() && PLAIN[usize::from(s[i])] {
            i += 1;
        }
        if i == s.len() {
            break;
        }
        let c = s[i];
        if c < 0x80 {
            if ascii_needs_escape(c) {
                out.extend_from_slice(&s[start..i]);
                match c {
                    0x08 if short_bf => out.extend_from_slice(b"\\b"),
                    0x0c if short_bf => out.extend_from_slice(b"\\f"),
                    _ => write_ascii_escape(out, c),
                }
                start = i + 1;
            }
            i += 1;
            continue;
        }
        match decode_multibyte(&s[i..]) {
            None => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(b"\\ufffd");
                i += 1;
                start = i;
            }
            Some((0x2028, n)) | Some((0x2029, n)) => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(if s[i + 2] == 0xA8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += n;
                start = i;
            }
            Some((_, n)) => i += n,
        }
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// Appends the ISO-8859-1 decoding of `bytes` (byte b → U+00b) as an escaped JSON string:
/// what TiCDC does with values of `binary`-charset columns.
pub fn write_latin1_json_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &b in bytes {
        if b < 0x80 {
            if ascii_needs_escape(b) {
                write_ascii_escape(out, b);
            } else {
                out.push(b);
            }
        } else {
            out.push(0xC0 | (b >> 6));
            out.push(0x80 | (b & 0x3F));
        }
    }
    out.push(b'"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn esc(s: &[u8]) -> String {
        let mut v = Vec::new();
        write_json_string(&mut v, s);
        String::from_utf8(v).unwrap()
    }

    /// Expectations derived from mailru/easyjson `jwriter/writer.go` `String` (HTML escaping
    /// on) and goccy/go-json `internal/encoder/string.go` `AppendString`.
    /// Go 1.25 `encoding/json` `appendString`: `\b` and `\f` short, the rest as easyjson.
    #[test]
    fn encoding_json_escaping() {
        let mut v = Vec::new();
        write_std_json_string(&mut v, b"\x08\x0c\x01<\xff");
        assert_eq!(String::from_utf8(v).unwrap(), r#""\b\f\u0001\u003c\ufffd""#);
    }

    #[test]
    fn easyjson_escaping() {
        assert_eq!(esc(b"plain"), r#""plain""#);
        assert_eq!(esc(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(esc(b"\n\r\t"), r#""\n\r\t""#);
        assert_eq!(esc(b"\x00\x08\x0c\x1f"), r#""\u0000\u0008\u000c\u001f""#);
        assert_eq!(
            esc(b"<a href='x'>&</a>"),
            r#""\u003ca href='x'\u003e\u0026\u003c/a\u003e""#
        );
        assert_eq!(esc(b"\x7f/"), "\"\x7f/\"");
        assert_eq!(esc("中文é".as_bytes()), "\"中文é\"");
        assert_eq!(esc("a\u{2028}b\u{2029}".as_bytes()), r#""a\u2028b\u2029""#);
        assert_eq!(esc("😀".as_bytes()), "\"😀\"");
        // Invalid UTF-8: one \ufffd per offending byte (Go DecodeRune returns width 1).
        assert_eq!(esc(b"a\xffb"), r#""a\ufffdb""#);
        assert_eq!(esc(b"\xe4\xb8"), r#""\ufffd\ufffd""#);
        assert_eq!(esc(b"\xc0\x80"), r#""\ufffd\ufffd""#); // overlong
        assert_eq!(esc(b"\xed\xa0\x80"), r#""\ufffd\ufffd\ufffd""#); // surrogate
        assert_eq!(esc(b"\xf4\x90\x80\x80"), r#""\ufffd\ufffd\ufffd\ufffd""#); // > U+10FFFF
    }

    #[test]
    fn latin1() {
        let mut v = Vec::new();
        write_latin1_json_string(&mut v, &[0x41, 0x00, 0x22, 0xe9, 0xff, 0x3c]);
        assert_eq!(String::from_utf8(v).unwrap(), "\"A\\u0000\\\"éÿ\\u003c\"");
    }
}
