//! The column definitions written in a DDL query, as TiCDC's new-architecture Debezium
//! encoder re-reads them (pingcap/ticdc v8.5.7-release.1 `pkg/sink/codec/debezium/helper.go`
//! `parseColumns`, `parseType`, `parseOptions`, `extractValue`).
//!
//! Owns [`column_defs`]. TiCDC parses the DDL text again with TiDB's parser and, for every
//! column definition in it, takes over into the table's column: its comment is cleared; for a
//! DATETIME, TIME or TIMESTAMP column the fractional-seconds precision *as written* (unwritten
//! = −1, where the table definition holds 0), for a YEAR column the written display width
//! (unwritten = −1); and for those four types the `DEFAULT` as written: a literal's text
//! (`NULL` as Go prints a nil, `<nil>`), or a function's name, with `NOW`, `LOCALTIME`,
//! `LOCALTIMESTAMP` and `CURRENT_TIMESTAMP` all read as `CURRENT_TIMESTAMP` (TiDB's grammar
//! does that); a signed number or an expression leaves the table's default as it is.
//!
//! Only the definitions matter here, so this is a tokenizer plus the three places a column
//! definition can stand — `CREATE TABLE … ( <defs> )`, `ALTER TABLE … ADD [COLUMN] <def>` /
//! `ADD [COLUMN] ( <defs> )`, `MODIFY [COLUMN] <def>`, `CHANGE [COLUMN] <old> <def>` — rather
//! than a SQL grammar: a general SQL parser does not know TiDB's dialect (`AUTO_RANDOM`,
//! `CLUSTERED`, placement and TTL options) and would refuse whole statements that TiDB
//! accepted. Comments (`-- `, `#`, `/* */`, including TiDB's and MySQL's executable
//! `/*T! */` / `/*! */` ones, which hold table and column options only) are skipped. A query
//! this reader does not recognise yields no definitions: the table's own values stand.

/// One column definition of a DDL query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    /// The name as written (backquotes removed).
    pub name: String,
    /// The type keyword, upper-case (`DATETIME`, `INT`, …).
    pub type_name: String,
    /// The first number in the type's parentheses, when written (`DATETIME(3)` → 3).
    pub length: Option<i64>,
    /// The `DEFAULT` as TiCDC's `extractValue` renders it, when it renders one.
    pub default: Option<String>,
}

impl ColumnDef {
    /// DATETIME, TIME, TIMESTAMP or YEAR: the types whose precision and default TiCDC takes
    /// from the query.
    pub fn is_temporal(&self) -> bool {
        matches!(
            self.type_name.as_str(),
            "DATETIME" | "TIME" | "TIMESTAMP" | "YEAR"
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// An unquoted word (keyword or identifier), as written.
    Word(String),
    /// A backquoted identifier.
    Ident(String),
    /// A quoted string literal, unescaped.
    Str(String),
    Num(String),
    Punct(char),
}

/// The column definitions of `query` (none for a statement that has none or that this reader
/// does not recognise).
pub fn column_defs(query: &str) -> Vec<ColumnDef> {
    let toks = tokenize(query);
    let word = |i: usize| match toks.get(i) {
        Some(Tok::Word(w)) => w.to_ascii_uppercase(),
        _ => String::new(),
    };
    if word(0) == "CREATE" {
        let Some(table_at) = (1..toks.len().min(6)).find(|&i| word(i) == "TABLE") else {
            return Vec::new();
        };
        let Some(open) = (table_at + 1..toks.len()).find(|&i| toks[i] == Tok::Punct('(')) else {
            return Vec::new();
        };
        return items(&toks[open + 1..], 1)
            .into_iter()
            .filter_map(column_def)
            .collect();
    }
    if word(0) == "ALTER" && (1..toks.len().min(4)).any(|i| word(i) == "TABLE") {
        let Some(table_at) = (1..toks.len()).find(|&i| word(i) == "TABLE") else {
            return Vec::new();
        };
        return items(&toks[table_at + 1..], 0)
            .into_iter()
            .flat_map(alter_spec)
            .collect();
    }
    Vec::new()
}

/// The comma-separated items at nesting `depth` (0: top level; 1: inside the opening
/// parenthesis already consumed), up to the closing parenthesis of that level.
fn items(toks: &[Tok], depth: usize) -> Vec<&[Tok]> {
    let mut out = Vec::new();
    let mut level = depth;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match t {
            Tok::Punct('(') => level += 1,
            Tok::Punct(')') => {
                if level == depth {
                    out.push(&toks[start..i]);
                    return out;
                }
                level -= 1;
            }
            Tok::Punct(',') if level == depth => {
                out.push(&toks[start..i]);
                start = i + 1;
            }
            Tok::Punct(';') if level == depth => {
                out.push(&toks[start..i]);
                return out;
            }
            _ => {}
        }
    }
    out.push(&toks[start..]);
    out
}

fn upper(t: Option<&Tok>) -> String {
    match t {
        Some(Tok::Word(w)) => w.to_ascii_uppercase(),
        _ => String::new(),
    }
}

/// One `ALTER TABLE` specification: the definitions it writes.
fn alter_spec(spec: &[Tok]) -> Vec<ColumnDef> {
    // The first specification still carries the table name before it.
    let start = spec
        .iter()
        .position(|t| matches!(upper(Some(t)).as_str(), "ADD" | "MODIFY" | "CHANGE"))
        .unwrap_or(spec.len());
    let spec = &spec[start..];
    let verb = upper(spec.first());
    let mut rest = &spec[spec.len().min(1)..];
    if upper(rest.first()) == "COLUMN" {
        rest = &rest[1..];
    } else if verb == "ADD"
        && !matches!(rest.first(), Some(Tok::Punct('(')))
        && matches!(
            upper(rest.first()).as_str(),
            "INDEX"
                | "KEY"
                | "UNIQUE"
                | "PRIMARY"
                | "CONSTRAINT"
                | "FOREIGN"
                | "FULLTEXT"
                | "SPATIAL"
                | "PARTITION"
                | "CHECK"
                | "STATS_EXTENDED"
                | "VECTOR"
                | "COLUMNAR"
        )
    {
        return Vec::new();
    }
    // `IF [NOT] EXISTS`
    if upper(rest.first()) == "IF" {
        let skip = if upper(rest.get(1)) == "NOT" { 3 } else { 2 };
        rest = &rest[rest.len().min(skip)..];
    }
    match verb.as_str() {
        "ADD" if matches!(rest.first(), Some(Tok::Punct('('))) => items(&rest[1..], 1)
            .into_iter()
            .filter_map(column_def)
            .collect(),
        "ADD" | "MODIFY" => column_def(rest).into_iter().collect(),
        "CHANGE" => column_def(&rest[rest.len().min(1)..]).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// A definition `name type[(n[,m])] options…`, or `None` for an index or constraint item.
fn column_def(item: &[Tok]) -> Option<ColumnDef> {
    let name = match item.first()? {
        Tok::Ident(n) => n.clone(),
        Tok::Word(w)
            if !matches!(
                w.to_ascii_uppercase().as_str(),
                "PRIMARY"
                    | "KEY"
                    | "INDEX"
                    | "UNIQUE"
                    | "CONSTRAINT"
                    | "FOREIGN"
                    | "FULLTEXT"
                    | "SPATIAL"
                    | "CHECK"
                    | "VECTOR"
                    | "COLUMNAR"
            ) =>
        {
            w.clone()
        }
        _ => return None,
    };
    let type_name = upper(item.get(1));
    if type_name.is_empty() {
        return None;
    }
    let mut at = 2;
    let mut length = None;
    if item.get(at) == Some(&Tok::Punct('(')) {
        if let Some(Tok::Num(n)) = item.get(at + 1) {
            length = n.parse().ok();
        }
        while at < item.len() && item[at] != Tok::Punct(')') {
            at += 1;
        }
        at += 1;
    }
    let default = item
        .iter()
        .enumerate()
        .skip(at)
        .find(|(_, t)| upper(Some(t)) == "DEFAULT")
        .and_then(|(i, _)| default_text(&item[i + 1..]));
    Some(ColumnDef {
        name,
        type_name,
        length,
        default,
    })
}

/// TiCDC `extractValue` of the expression after `DEFAULT`.
fn default_text(expr: &[Tok]) -> Option<String> {
    match expr.first()? {
        Tok::Str(s) => Some(s.clone()),
        Tok::Num(n) => Some(number_text(n)),
        Tok::Word(w) => {
            let u = w.to_ascii_uppercase();
            match u.as_str() {
                "NULL" => Some("<nil>".to_owned()),
                "TRUE" => Some("1".to_owned()),
                "FALSE" => Some("0".to_owned()),
                "NOW" | "CURRENT_TIMESTAMP" | "LOCALTIME" | "LOCALTIMESTAMP" => {
                    Some("CURRENT_TIMESTAMP".to_owned())
                }
                // A charset introducer before a string literal (`_utf8mb4'x'`).
                _ if u.starts_with('_') => match expr.get(1) {
                    Some(Tok::Str(s)) => Some(s.clone()),
                    _ => None,
                },
                _ if expr.get(1) == Some(&Tok::Punct('(')) => Some(w.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Go's `%v` of the number TiDB's parser makes of a literal: integers lose leading zeros;
/// decimals and floats keep their text.
fn number_text(n: &str) -> String {
    match n.parse::<u64>() {
        Ok(v) if n.bytes().all(|b| b.is_ascii_digit()) => v.to_string(),
        _ => n.to_owned(),
    }
}

fn tokenize(q: &str) -> Vec<Tok> {
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'#' || (c == b'-' && b.get(i + 1) == Some(&b'-')) {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i += 2;
        } else if c == b'`' {
            let (s, next) = quoted(b, i, b'`', false);
            out.push(Tok::Ident(s));
            i = next;
        } else if c == b'\'' || c == b'"' {
            let (s, next) = quoted(b, i, c, true);
            out.push(Tok::Str(s));
            i = next;
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
            out.push(Tok::Num(q[start..i].to_owned()));
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c >= 0x80 {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
            {
                i += 1;
            }
            out.push(Tok::Word(q[start..i].to_owned()));
        } else {
            out.push(Tok::Punct(char::from(c)));
            i += 1;
        }
    }
    out
}

/// The text between quotes starting at `b[at]`, unescaped (a doubled quote is one quote;
/// in string literals a backslash escapes the next byte), and the index after the closing
/// quote.
fn quoted(b: &[u8], at: usize, quote: u8, backslash: bool) -> (String, usize) {
    let mut s = Vec::new();
    let mut i = at + 1;
    while i < b.len() {
        let c = b[i];
        if backslash && c == b'\\' && i + 1 < b.len() {
            s.push(match b[i + 1] {
                b'n' => b'\n',
                b't' => b'\t',
                b'r' => b'\r',
                b'0' => 0,
                b'Z' => 0x1a,
                other => other,
            });
            i += 2;
        } else if c == quote {
            if b.get(i + 1) == Some(&quote) {
                s.push(quote);
                i += 2;
            } else {
                return (String::from_utf8_lossy(&s).into_owned(), i + 1);
            }
        } else {
            s.push(c);
            i += 1;
        }
    }
    (String::from_utf8_lossy(&s).into_owned(), i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(name: &str, ty: &str, length: Option<i64>, default: Option<&str>) -> ColumnDef {
        ColumnDef {
            name: name.into(),
            type_name: ty.into(),
            length,
            default: default.map(str::to_owned),
        }
    }

    /// pingcap/ticdc v8.5.7-release.1 `pkg/sink/codec/debezium/helper_test.go:26`
    /// (`TestGetColumns`): the query and what TiCDC takes from it.
    #[test]
    fn ticdc_get_columns_query() {
        let q = "CREATE TABLE test (id INT PRIMARY KEY, val1 datetime default current_timestamp, val2 time(2) default 0,  val3 timestamp(3) default now(), val4 YEAR(4) default 1970 comment 'first');";
        assert_eq!(
            column_defs(q),
            vec![
                def("id", "INT", None, None),
                def("val1", "DATETIME", None, Some("CURRENT_TIMESTAMP")),
                def("val2", "TIME", Some(2), Some("0")),
                def("val3", "TIMESTAMP", Some(3), Some("CURRENT_TIMESTAMP")),
                def("val4", "YEAR", Some(4), Some("1970")),
            ]
        );
    }

    #[test]
    fn create_table_skips_keys_comments_and_options() {
        let q = "/* lead */ CREATE TABLE IF NOT EXISTS `d`.`t` (\n  `a` bigint(20) NOT NULL /*T![auto_rand] AUTO_RANDOM(5) */,\n  b varchar(10) DEFAULT 'x,(y)' COMMENT 'it''s',\n  -- a line comment\n  c decimal(10,2) DEFAULT -1.5,\n  d datetime(6) DEFAULT NULL,\n  PRIMARY KEY (`a`) /*T![clustered_index] CLUSTERED */,\n  UNIQUE KEY `u` (b, c),\n  KEY k ((lower(b)))\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 /*!40101 COLLATE=utf8mb4_bin */";
        assert_eq!(
            column_defs(q),
            vec![
                def("a", "BIGINT", Some(20), None),
                def("b", "VARCHAR", Some(10), Some("x,(y)")),
                def("c", "DECIMAL", Some(10), None),
                def("d", "DATETIME", Some(6), Some("<nil>")),
            ]
        );
    }

    #[test]
    fn alter_table_add_modify_change() {
        let q = "ALTER TABLE t ADD COLUMN c1 timestamp DEFAULT '2020-01-01 00:00:00', ADD INDEX i (c1), MODIFY c2 time(3), CHANGE COLUMN old c3 year DEFAULT LOCALTIME(), ADD (c4 int DEFAULT 007, c5 datetime DEFAULT _utf8mb4'2021-02-03'), DROP COLUMN c6";
        assert_eq!(
            column_defs(q),
            vec![
                def("c1", "TIMESTAMP", None, Some("2020-01-01 00:00:00")),
                def("c2", "TIME", Some(3), None),
                def("c3", "YEAR", None, Some("CURRENT_TIMESTAMP")),
                def("c4", "INT", None, Some("7")),
                def("c5", "DATETIME", None, Some("2021-02-03")),
            ]
        );
    }

    #[test]
    fn statements_without_definitions() {
        for q in [
            "DROP TABLE t",
            "RENAME TABLE a TO b",
            "ALTER TABLE t DROP COLUMN c",
            "ALTER TABLE t ADD PRIMARY KEY (a)",
            "CREATE TABLE t LIKE s",
            "TRUNCATE TABLE t",
            "",
        ] {
            assert_eq!(column_defs(q), Vec::<ColumnDef>::new(), "{q}");
        }
    }
}
