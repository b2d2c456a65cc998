//! JSON text exactly as Go's `encoding/json.Marshal` writes it, for the schema texts TiCDC
//! registers (its schemas are Go structs and maps marshalled with the standard library).
//!
//! Guarantees: strings are escaped as Go 1.22+ escapes them (`\"`, `\\`, `\n`, `\r`, `\t`,
//! `\b`, `\f`, other control characters as `\u00XX`, and — HTML-safe by default — `<`, `>`,
//! `&`, U+2028 and U+2029 as `\u003c`, `\u003e`, `\u0026`, `\u2028`, `\u2029`); floats use Go's
//! shortest round-trip form (`strconv.AppendFloat(f, 'f' or 'e', -1, 64)` with Go's exponent
//! rule); byte slices are standard base64 strings.

use std::fmt::Write as _;

use base64::Engine as _;

/// Appends `s` as a Go JSON string literal.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends bytes as Go marshals a `[]byte`: a base64 (standard, padded) string.
pub fn bytes(out: &mut String, b: &[u8]) {
    out.push('"');
    out.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
    out.push('"');
}

/// Appends a float64 as Go's `encoding/json` does: the shortest representation that round
/// trips, in `%f` form unless the exponent is below -6 or at least 21, then `%e` form with
/// a two-digit minimum exponent (`1e+21`, `1e-07`).
pub fn float64(out: &mut String, f: f64) {
    if f == 0.0 {
        out.push('0');
        return;
    }
    let abs = f.abs();
    if (1e-6..1e21).contains(&abs) {
        // Rust's Display is the shortest round-trip decimal without an exponent.
        let _ = write!(out, "{f}");
        return;
    }
    // Shortest digits in exponent form, then Go's exponent spelling.
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    let _ = write!(out, "{mantissa}e{sign}{:02}", exp.abs());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        let mut o = String::new();
        string(&mut o, x);
        o
    }

    fn f(x: f64) -> String {
        let mut o = String::new();
        float64(&mut o, x);
        o
    }

    #[test]
    fn strings_are_escaped_as_go_marshals_them() {
        assert_eq!(s("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(s("<a&b>"), r#""\u003ca\u0026b\u003e""#);
        assert_eq!(s("\n\r\t\u{8}\u{c}\u{1}"), r#""\n\r\t\b\f\u0001""#);
        assert_eq!(s("\u{2028}名"), "\"\\u2028名\"");
    }

    #[test]
    fn floats_take_go_s_shortest_form() {
        assert_eq!(f(0.0), "0");
        assert_eq!(f(6.25), "6.25");
        assert_eq!(f(f64::from(1.1f32)), "1.100000023841858");
        assert_eq!(f(-2.5), "-2.5");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(1e20), "100000000000000000000");
        assert_eq!(f(1e-7), "1e-07");
        assert_eq!(f(0.000001), "0.000001");
        assert_eq!(f(123456789.125), "123456789.125");
    }

    #[test]
    fn bytes_are_base64() {
        let mut o = String::new();
        bytes(&mut o, &[1]);
        assert_eq!(o, "\"AQ==\"");
    }
}
