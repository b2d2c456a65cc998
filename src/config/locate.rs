//! Maps a key path such as `changefeed[0].sink.kafka-config.compression` back to the line
//! and column where it is written, so every configuration error can point at the file.
//! A path that is not in the file (a missing key) resolves to its nearest written ancestor.

use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path into the configuration document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// This path extended by a key.
    pub fn key(&self, k: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_string()));
        p
    }

    /// The path one step up (the root stays the root).
    pub fn parent(&self) -> Self {
        let mut p = self.clone();
        p.0.pop();
        p
    }

    /// This path extended by an array index.
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }

    /// Converts the path that `serde_path_to_error` recorded.
    pub fn from_serde(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment;
        KeyPath(
            path.iter()
                .filter_map(|s| match s {
                    Segment::Seq { index } => Some(Seg::Index(*index)),
                    Segment::Map { key } => Some(Seg::Key(key.clone())),
                    Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
                    Segment::Unknown => None,
                })
                .collect(),
        )
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Byte span of the value at `path` in `root`, or of its nearest ancestor that is written.
pub fn span_of(root: &toml::Spanned<DeTable<'_>>, path: &KeyPath) -> Range<usize> {
    let mut best = root.span();
    let mut current: Option<&DeValue<'_>> = None;
    for (i, seg) in path.0.iter().enumerate() {
        let next = match (i, seg, current) {
            (0, Seg::Key(k), _) => root.get_ref().get(k.as_str()),
            (_, Seg::Key(k), Some(v)) => v.get(k.as_str()),
            (_, Seg::Index(n), Some(v)) => v.get(*n),
            _ => None,
        };
        match next {
            Some(v) => {
                best = v.span();
                current = Some(v.get_ref());
            }
            None => break,
        }
    }
    best
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_values() {
        let text = "a = 1\n[[cf]]\nid = \"x\"\n[[cf]]\nid = \"y\"\n[cf.sink]\nkind = \"k\"\n";
        let doc = DeTable::parse(text).expect("parses");
        let p = KeyPath::root().key("cf").index(1).key("sink").key("kind");
        let span = span_of(&doc, &p);
        assert_eq!(line_col(text, span.start), (7, 8));
        assert_eq!(p.to_string(), "cf[1].sink.kind");
        // A missing key resolves to its parent table.
        let missing = KeyPath::root().key("cf").index(0).key("nope");
        let span = span_of(&doc, &missing);
        assert!(line_col(text, span.start).0 <= 3);
    }
}
