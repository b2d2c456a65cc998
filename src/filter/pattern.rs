//! One name pattern of TiDB's table-filter syntax (the syntax of TiCDC's `[filter] rules`,
//! dispatcher matchers and column selectors), parsed to a matcher:
//!
//! * a literal name, or a wildcard pattern with `*` (any run), `?` (one character) and
//!   character classes `[a-z]`, `[!a-z]`; `\` escapes a following non-alphanumeric
//!   character; plain characters are letters, digits, `_`, `$` and any non-ASCII byte;
//! * a double-quoted (`"a.b"`, `""` for a quote) or back-quoted (`` `a.b` ``, doubled
//!   backquote) literal, in which every character stands for itself;
//! * a regular expression between slashes (`/^db_[0-9]+$/`), matched anywhere in the name
//!   unless anchored.
//!
//! Wildcard patterns match whole names. Case folding is the caller's choice: a pattern
//! built with `fold_case` matches case-insensitively.

use regex::{Regex, RegexBuilder};

/// A compiled pattern.
#[derive(Debug, Clone)]
pub enum Pattern {
    Literal(String),
    Regex(Regex),
}

impl Pattern {
    pub fn matches(&self, name: &str, fold_case: bool) -> bool {
        match self {
            Pattern::Literal(l) if fold_case => {
                l.eq_ignore_ascii_case(name) || l.to_lowercase() == name.to_lowercase()
            }
            Pattern::Literal(l) => l == name,
            Pattern::Regex(r) => r.is_match(name),
        }
    }
}

fn compile(re: &str, fold_case: bool) -> Result<Regex, String> {
    RegexBuilder::new(re)
        .case_insensitive(fold_case)
        .build()
        .map_err(|e| format!("invalid pattern: {e}"))
}

/// Parses one pattern at the start of `s`; returns it and the rest of `s`. With
/// `stop_at_dot`, an unquoted `.` ends the pattern (the schema/table separator).
pub fn parse_pattern(
    s: &str,
    stop_at_dot: bool,
    fold_case: bool,
) -> Result<(Pattern, &str), String> {
    let bytes = s.as_bytes();
    match bytes.first() {
        None => Err("syntax error: missing pattern".to_string()),
        Some(b'/') => {
            let mut i = 1;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'/' if i > 1 => {
                        let re = compile(&s[1..i], fold_case)?;
                        return Ok((Pattern::Regex(re), &s[i + 1..]));
                    }
                    _ => i += 1,
                }
            }
            Err("syntax error: incomplete regexp".to_string())
        }
        Some(&q @ (b'"' | b'`')) => {
            let mut out = String::new();
            let mut i = 1;
            while i < bytes.len() {
                if bytes[i] == q {
                    if bytes.get(i + 1) == Some(&q) {
                        out.push(q as char);
                        i += 2;
                        continue;
                    }
                    if out.is_empty() {
                        return Err("syntax error: empty quoted identifier".to_string());
                    }
                    return Ok((Pattern::Literal(out), &s[i + 1..]));
                }
                let ch = s[i..].chars().next().ok_or("syntax error: bad character")?;
                out.push(ch);
                i += ch.len_utf8();
            }
            Err("syntax error: incomplete quoted identifier".to_string())
        }
        Some(_) => parse_wildcard(s, stop_at_dot, fold_case),
    }
}

fn parse_wildcard(s: &str, stop_at_dot: bool, fold_case: bool) -> Result<(Pattern, &str), String> {
    let bytes = s.as_bytes();
    let mut literal = String::new();
    let mut re = String::from("(?s)^");
    let mut is_literal = true;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\\' => {
                let Some(&esc) = bytes.get(i + 1) else {
                    return Err("syntax error: cannot place \\ at end of line".to_string());
                };
                if esc.is_ascii_alphanumeric() {
                    return Err(format!(
                        "cannot escape a letter or number (\\{}), it is reserved for future extension",
                        esc as char
                    ));
                }
                let ch = s[i + 1..]
                    .chars()
                    .next()
                    .ok_or("syntax error: bad escape")?;
                literal.push(ch);
                re.push_str(&regex::escape(&ch.to_string()));
                i += 1 + ch.len_utf8();
            }
            b'.' if stop_at_dot => break,
            b'*' => {
                is_literal = false;
                re.push_str(".*");
                i += 1;
            }
            b'?' => {
                is_literal = false;
                re.push('.');
                i += 1;
            }
            b'[' => {
                is_literal = false;
                let end = class_end(&bytes[i..])
                    .ok_or("syntax error: failed to parse character class")?;
                let body = &s[i + 1..i + end - 1];
                re.push('[');
                if let Some(neg) = body.strip_prefix('!') {
                    re.push('^');
                    re.push_str(neg);
                } else if let Some(rest) = body.strip_prefix('^') {
                    re.push_str("\\^");
                    re.push_str(rest);
                } else {
                    re.push_str(body);
                }
                re.push(']');
                i += end;
            }
            c if c == b'$' || c == b'_' || c.is_ascii_alphanumeric() || c >= 0x80 => {
                let ch = s[i..].chars().next().ok_or("syntax error: bad character")?;
                literal.push(ch);
                re.push_str(&regex::escape(&ch.to_string()));
                i += ch.len_utf8();
            }
            other => return Err(format!("unexpected special character '{}'", other as char)),
        }
    }
    if i == 0 {
        return Err("syntax error: missing pattern".to_string());
    }
    let rest = &s[i..];
    if is_literal {
        return Ok((Pattern::Literal(literal), rest));
    }
    re.push('$');
    Ok((Pattern::Regex(compile(&re, fold_case)?), rest))
}

/// Length of a character class `[...]` at the start of `b` (TiDB: `[!?(\\[^0-9a-zA-Z]|[^\\\]])+]`).
fn class_end(b: &[u8]) -> Option<usize> {
    let mut i = 1;
    if b.get(i) == Some(&b'!') {
        i += 1;
    }
    let start = i;
    while i < b.len() {
        match b[i] {
            b']' if i > start => return Some(i + 1),
            b']' => return None,
            b'\\' => {
                let next = *b.get(i + 1)?;
                if next.is_ascii_alphanumeric() {
                    return None;
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(p: &str) -> Pattern {
        let (pat, rest) = parse_pattern(p, false, false).expect("parses");
        assert_eq!(rest, "");
        pat
    }

    #[test]
    fn wildcards_and_classes() {
        assert!(one("db*").matches("db_1", false));
        assert!(!one("db*").matches("xdb", false));
        assert!(one("t?").matches("t1", false));
        assert!(!one("t?").matches("t12", false));
        assert!(one("t[0-9]").matches("t5", false));
        assert!(!one("t[!0-9]").matches("t5", false));
        assert!(one("t[!0-9]").matches("tx", false));
        assert!(one("a\\*b").matches("a*b", false));
        assert!(!one("a\\*b").matches("axb", false));
    }

    #[test]
    fn quoted_and_regex() {
        let (p, rest) = parse_pattern("`a.b`.c", true, false).expect("parses");
        assert_eq!(rest, ".c");
        assert!(p.matches("a.b", false));
        let (p, _) = parse_pattern("\"x\"\"y\"", false, false).expect("parses");
        assert!(p.matches("x\"y", false));
        let (p, rest) = parse_pattern("/^db_[0-9]+$/.t", true, false).expect("parses");
        assert_eq!(rest, ".t");
        assert!(p.matches("db_12", false));
        assert!(!p.matches("db_x", false));
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(
            parse_pattern("a\\b", false, false)
                .expect_err("must fail")
                .contains("cannot escape a letter")
        );
        assert!(
            parse_pattern("a-b", false, false)
                .expect_err("must fail")
                .contains("unexpected special character '-'")
        );
        assert!(
            parse_pattern("t[0-9", false, false)
                .expect_err("must fail")
                .contains("character class")
        );
        assert!(
            parse_pattern("/abc", false, false)
                .expect_err("must fail")
                .contains("incomplete regexp")
        );
    }
}
