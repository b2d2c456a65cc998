//! The small table matcher dispatch rules use (a subset of TiDB's table-filter syntax).
//!
//! Owns [`TableMatcher`]. A matcher is a list of rules `schema.table`; each part is a pattern
//! with `*` (any run of characters, possibly empty), `?` (one character), `[a-z]` / `[!a-z]`
//! (character classes, `^` also negates), `\x` (literal `x`), and `` `quoted` `` or
//! `"quoted"` literal runs (a doubled quote inside stands for itself). A rule starting with
//! `!` excludes. As in TiDB's table filter, **the last rule that matches decides**, and a table
//! no rule matches is not matched. Matching is case-insensitive (patterns and names
//! lower-cased) unless built case-sensitive.
//!
//! Not supported here (an error, never a silent mismatch): `/regex/` parts and `@file`
//! imports; the full filter module owns those.

use super::DispatchError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    One,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    positive: bool,
    schema: Vec<Tok>,
    table: Vec<Tok>,
}

/// A compiled list of `schema.table` patterns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMatcher {
    rules: Vec<Rule>,
    case_sensitive: bool,
}

fn bad(rule: &str, reason: impl Into<String>) -> DispatchError {
    DispatchError::InvalidMatcher {
        rule: rule.to_owned(),
        reason: reason.into(),
    }
}

/// Parses one part (schema or table) from `chars`, stopping at an unquoted `.` or the end.
fn parse_part(
    rule: &str,
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    lower: bool,
) -> Result<Vec<Tok>, DispatchError> {
    let lit = |c: char| -> Vec<Tok> {
        if lower {
            c.to_lowercase().map(Tok::Lit).collect()
        } else {
            vec![Tok::Lit(c)]
        }
    };
    let mut out = Vec::new();
    while let Some(&c) = chars.peek() {
        match c {
            '.' => break,
            '*' => {
                chars.next();
                out.push(Tok::Star);
            }
            '?' => {
                chars.next();
                out.push(Tok::One);
            }
            '\\' => {
                chars.next();
                let e = chars.next().ok_or_else(|| bad(rule, "dangling escape"))?;
                out.extend(lit(e));
            }
            '`' | '"' => {
                chars.next();
                loop {
                    let Some(q) = chars.next() else {
                        return Err(bad(rule, "unterminated quoted name"));
                    };
                    if q == c {
                        if chars.peek() == Some(&c) {
                            chars.next();
                            out.extend(lit(c));
                            continue;
                        }
                        break;
                    }
                    out.extend(lit(q));
                }
            }
            '[' => {
                chars.next();
                let mut negated = false;
                if matches!(chars.peek(), Some('!') | Some('^')) {
                    negated = true;
                    chars.next();
                }
                let mut ranges = Vec::new();
                loop {
                    let Some(a) = chars.next() else {
                        return Err(bad(rule, "unterminated character class"));
                    };
                    if a == ']' && !ranges.is_empty() {
                        break;
                    }
                    let a = if a == '\\' {
                        chars.next().ok_or_else(|| bad(rule, "dangling escape"))?
                    } else {
                        a
                    };
                    let mut hi = a;
                    if chars.peek() == Some(&'-') {
                        chars.next();
                        match chars.next() {
                            Some(']') => {
                                ranges.push((a, a));
                                ranges.push(('-', '-'));
                                break;
                            }
                            Some(b) => hi = b,
                            None => return Err(bad(rule, "unterminated character class")),
                        }
                    }
                    if hi < a {
                        return Err(bad(rule, "character class range out of order"));
                    }
                    if lower {
                        let (la, lh) = (low(a), low(hi));
                        ranges.push((la.min(lh), la.max(lh)));
                    } else {
                        ranges.push((a, hi));
                    }
                }
                out.push(Tok::Class { negated, ranges });
            }
            '/' => {
                return Err(bad(
                    rule,
                    "/regex/ patterns are not supported by dispatch matchers",
                ));
            }
            '@' if out.is_empty() => return Err(bad(rule, "@file imports are not supported")),
            c if c.is_whitespace() => return Err(bad(rule, "unexpected whitespace")),
            _ => {
                chars.next();
                out.extend(lit(c));
            }
        }
    }
    if out.is_empty() {
        return Err(bad(rule, "empty schema or table pattern"));
    }
    Ok(out)
}

fn low(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

fn matches(p: &[Tok], s: &[char]) -> bool {
    // Iterative glob matching with single-star backtracking (linear in practice).
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(Tok::Star) => {
                star = Some((pi, si));
                pi += 1;
                continue;
            }
            Some(Tok::One) => {
                pi += 1;
                si += 1;
                continue;
            }
            Some(Tok::Lit(c)) if *c == s[si] => {
                pi += 1;
                si += 1;
                continue;
            }
            Some(Tok::Class { negated, ranges })
                if ranges.iter().any(|(a, b)| (*a..=*b).contains(&s[si])) != *negated =>
            {
                pi += 1;
                si += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, ss)) => {
                pi = sp + 1;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|t| *t == Tok::Star)
}

impl TableMatcher {
    /// Compiles `rules` (TiCDC `matcher = [...]`).
    pub fn parse<S: AsRef<str>>(rules: &[S], case_sensitive: bool) -> Result<Self, DispatchError> {
        let mut out = Vec::with_capacity(rules.len());
        for r in rules {
            let raw = r.as_ref();
            let text = raw.trim();
            let (positive, body) = match text.strip_prefix('!') {
                Some(rest) => (false, rest),
                None => (true, text),
            };
            let mut chars = body.chars().peekable();
            let schema = parse_part(raw, &mut chars, !case_sensitive)?;
            if chars.next() != Some('.') {
                return Err(bad(raw, "expected `schema.table`"));
            }
            let table = parse_part(raw, &mut chars, !case_sensitive)?;
            if chars.next().is_some() {
                return Err(bad(raw, "unexpected `.` after the table pattern"));
            }
            out.push(Rule {
                positive,
                schema,
                table,
            });
        }
        Ok(TableMatcher {
            rules: out,
            case_sensitive,
        })
    }

    /// Whether the table is matched (last matching rule decides).
    pub fn matches(&self, schema: &str, table: &str) -> bool {
        let prep = |s: &str| -> Vec<char> {
            if self.case_sensitive {
                s.chars().collect()
            } else {
                s.chars().flat_map(char::to_lowercase).collect()
            }
        };
        let (s, t) = (prep(schema), prep(table));
        self.rules
            .iter()
            .rev()
            .find(|r| matches(&r.schema, &s) && matches(&r.table, &t))
            .is_some_and(|r| r.positive)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn m(rules: &[&str]) -> TableMatcher {
        TableMatcher::parse(rules, false).unwrap()
    }

    /// Behaviour as documented for TiDB table filters (docs `table-filter.md`) and exercised
    /// by tiflow `event_router_test.go` (`test_default1.*`, `abc.*`, `*.*`).
    #[test]
    fn wildcards_classes_quotes_negation() {
        assert!(m(&["*.*"]).matches("any", "thing"));
        assert!(m(&["db.*"]).matches("DB", "T"));
        assert!(!m(&["db.*"]).matches("db2", "t"));
        assert!(m(&["db?.t*"]).matches("db1", "t"));
        assert!(!m(&["db?.t*"]).matches("db", "t"));
        assert!(m(&["db.[a-c]x"]).matches("db", "bx"));
        assert!(!m(&["db.[!a-c]x"]).matches("db", "bx"));
        assert!(m(&["db.[!a-c]x"]).matches("db", "dx"));
        assert!(m(&["`my.db`.`t``1`"]).matches("my.db", "t`1"));
        assert!(m(&["\"a\".b\\*"]).matches("a", "b*"));
        assert!(!m(&["\"a\".b\\*"]).matches("a", "bc"));
        assert!(m(&["*.*", "!db.secret"]).matches("db", "public"));
        assert!(!m(&["*.*", "!db.secret"]).matches("db", "secret"));
        // Last matching rule decides.
        assert!(m(&["!db.secret", "*.*"]).matches("db", "secret"));
        assert!(!m(&[] as &[&str]).matches("a", "b"));
        assert!(m(&["a*b*c.*"]).matches("axxbyyc", "t"));
        assert!(!m(&["a*b*c.*"]).matches("axxbyy", "t"));
    }

    #[test]
    fn case_sensitivity() {
        let cs = TableMatcher::parse(&["DB.T"], true).unwrap();
        assert!(cs.matches("DB", "T"));
        assert!(!cs.matches("db", "t"));
        assert!(m(&["DB.T"]).matches("db", "t"));
    }

    #[test]
    fn rejects_unsupported_or_malformed() {
        for r in [
            "db", "/re/.t", "db.t.x", "db.[a-", "`db.t", "db.", ".t", "db.t u",
        ] {
            assert!(TableMatcher::parse(&[r], false).is_err(), "{r}");
        }
    }
}
