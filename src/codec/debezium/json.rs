//! JSON text exactly as TiCDC's Debezium encoder writes it: `util.JSONWriter` over a
//! json-iterator stream configured with `EscapeHTML: false` (jsoniter v1.1.12), compact.
//!
//! Owns [`Json`], a small writer with the same shape (objects, arrays, fields, commas) and
//! these guarantees:
//! * strings: `"` and `\` escaped with a backslash, `\n` `\r` `\t` as such, every other byte
//!   below 0x20 as `\u00XX` (lowercase hex); every other byte — `<`, `>`, `&`, 0x7F and all
//!   bytes ≥ 0x80, valid UTF-8 or not — is copied (jsoniter's `WriteString` without HTML
//!   escaping does not look at UTF-8);
//! * floats: `strconv.AppendFloat(v, 'f', -1, bits)`, or `'e'` when |v| < 1e-6 or ≥ 1e21
//!   (exponent with a sign and at least two digits, `1e+21`, `1e-07`); float32 values
//!   compare against the thresholds as float32, as jsoniter does;
//! * binary: standard padded base64 between quotes.

use std::io::Write as _;

use base64::Engine as _;

use crate::codec::json_escape::write_ascii_escape;

/// A compact JSON writer tracking where commas go.
#[derive(Debug, Default)]
pub struct Json {
    pub out: Vec<u8>,
    /// Whether the next member of the innermost object/array needs a leading comma.
    comma: bool,
}

impl Json {
    /// An empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Json {
            out: Vec::with_capacity(capacity),
            comma: false,
        }
    }

    /// The text written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    fn sep(&mut self) {
        if self.comma {
            self.out.push(b',');
        } else {
            self.comma = true;
        }
    }

    fn key(&mut self, name: &str) {
        self.sep();
        write_string(&mut self.out, name.as_bytes());
        self.out.push(b':');
    }

    /// `{…}` as a value (top level or after a key).
    pub fn object(&mut self, body: impl FnOnce(&mut Self)) {
        let outer = self.comma;
        self.comma = false;
        self.out.push(b'{');
        body(self);
        self.out.push(b'}');
        self.comma = outer;
    }

    /// `[…]` as a value.
    fn array(&mut self, body: impl FnOnce(&mut Self)) {
        let outer = self.comma;
        self.comma = false;
        self.out.push(b'[');
        body(self);
        self.out.push(b']');
        self.comma = outer;
    }

    /// `"name":{…}`.
    pub fn object_field(&mut self, name: &str, body: impl FnOnce(&mut Self)) {
        self.key(name);
        self.object(body);
    }

    /// `"name":[…]`.
    pub fn array_field(&mut self, name: &str, body: impl FnOnce(&mut Self)) {
        self.key(name);
        self.array(body);
    }

    /// `{…}` as an array element.
    pub fn object_element(&mut self, body: impl FnOnce(&mut Self)) {
        self.sep();
        self.object(body);
    }

    /// Text that is already JSON (array members written by another writer).
    pub fn raw(&mut self, text: &[u8]) {
        self.out.extend_from_slice(text);
    }

    /// Already-written members (`"name":value`, e.g. from another writer's
    /// [`Json::object_field`]) as the next member of the current object.
    pub fn raw_field_text(&mut self, members: &[u8]) {
        self.sep();
        self.out.extend_from_slice(members);
    }

    /// A string as an array element.
    pub fn string_element(&mut self, value: &[u8]) {
        self.sep();
        write_string(&mut self.out, value);
    }

    /// `"name":<text>` where `text` is already JSON.
    pub fn raw_field(&mut self, name: &str, text: &[u8]) {
        self.key(name);
        self.out.extend_from_slice(text);
    }

    pub fn string_field(&mut self, name: &str, value: &[u8]) {
        self.key(name);
        write_string(&mut self.out, value);
    }

    pub fn bool_field(&mut self, name: &str, value: bool) {
        self.key(name);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    pub fn int_field(&mut self, name: &str, value: i64) {
        self.key(name);
        let _ = write!(self.out, "{value}");
    }

    pub fn uint_field(&mut self, name: &str, value: u64) {
        self.key(name);
        let _ = write!(self.out, "{value}");
    }

    pub fn null_field(&mut self, name: &str) {
        self.key(name);
        self.out.extend_from_slice(b"null");
    }

    /// jsoniter `WriteFloat64`; a NaN or infinity (which jsoniter cannot write) is `0`.
    pub fn f64_field(&mut self, name: &str, value: f64) {
        self.key(name);
        write_f64(&mut self.out, value);
    }

    /// jsoniter `WriteFloat32`; a NaN or infinity is `0`.
    pub fn f32_field(&mut self, name: &str, value: f32) {
        self.key(name);
        write_f32(&mut self.out, value);
    }

    /// `"name":"<base64>"`.
    pub fn base64_field(&mut self, name: &str, value: &[u8]) {
        self.key(name);
        self.out.push(b'"');
        let text = base64::engine::general_purpose::STANDARD.encode(value);
        self.out.extend_from_slice(text.as_bytes());
        self.out.push(b'"');
    }
}

/// jsoniter `WriteString` without HTML escaping.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut start = 0;
    for (i, &c) in s.iter().enumerate() {
        if c >= 0x20 && c != b'"' && c != b'\\' {
            continue;
        }
        out.extend_from_slice(&s[start..i]);
        write_ascii_escape(out, c);
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// Rewrites Rust's `{:e}` exponent (`1e-7`, `1.5e21`) in Go's spelling (`1e-07`, `1.5e+21`).
fn go_exponent(out: &mut Vec<u8>, rust: &str) {
    let (mantissa, exp) = rust.split_once('e').unwrap_or((rust, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    let _ = write!(out, "{mantissa}e{sign}{:02}", exp.unsigned_abs());
}

/// jsoniter `WriteFloat64`.
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    let v = if v.is_finite() { v } else { 0.0 };
    let abs = v.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        go_exponent(out, &format!("{v:e}"));
    } else {
        // Rust's Display is the shortest round-trip decimal without an exponent.
        let _ = write!(out, "{v}");
    }
}

/// jsoniter `WriteFloat32`.
pub fn write_f32(out: &mut Vec<u8>, v: f32) {
    let v = if v.is_finite() { v } else { 0.0 };
    let abs = v.abs();
    if abs != 0.0 && !(1e-6f32..1e21f32).contains(&abs) {
        go_exponent(out, &format!("{v:e}"));
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn s(b: &[u8]) -> String {
        let mut o = Vec::new();
        write_string(&mut o, b);
        String::from_utf8_lossy(&o).into_owned()
    }

    #[test]
    fn strings_without_html_escaping() {
        assert_eq!(s(b"a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s(b"<&>"), r#""<&>""#);
        assert_eq!(
            s(b"\n\r\t\x08\x0c\x01\x1f"),
            r#""\n\r\t\u0008\u000c\u0001\u001f""#
        );
        assert_eq!(s("中\u{2028}".as_bytes()), "\"中\u{2028}\"");
        let mut o = Vec::new();
        write_string(&mut o, b"\xff\x7f");
        assert_eq!(o, b"\"\xff\x7f\"");
    }

    #[test]
    fn floats_as_jsoniter() {
        let f = |v: f64| {
            let mut o = Vec::new();
            write_f64(&mut o, v);
            String::from_utf8(o).unwrap()
        };
        let g = |v: f32| {
            let mut o = Vec::new();
            write_f32(&mut o, v);
            String::from_utf8(o).unwrap()
        };
        assert_eq!(f(0.0), "0");
        assert_eq!(f(12345.12345), "12345.12345");
        assert_eq!(f(-2.5), "-2.5");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(1e20), "100000000000000000000");
        assert_eq!(f(1e-7), "1e-07");
        // Go prints the shortest digits, then zeros.
        assert_eq!(f(1.8446744073709552e19), "18446744073709552000");
        assert_eq!(g(12345.123), "12345.123");
        assert_eq!(g(3.4e38), "3.4e+38");
        assert_eq!(g(1e-7), "1e-07");
        assert_eq!(g(0.1), "0.1");
    }
}
