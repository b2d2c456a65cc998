//! Human-readable units in the configuration: byte sizes ("10MiB", "512KB", or a plain
//! integer of bytes) and durations in Go's syntax ("500ms", "10s", "1m30s"), which is the
//! syntax TiCDC's own settings use, so ported values keep their meaning.
//!
//! Both types deserialize from a TOML string or integer and render back in the same syntax,
//! so `check` can print what it understood.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A number of bytes. Decimal (`KB`, `MB`, `GB`) and binary (`KiB`, `MiB`, `GiB`) suffixes
/// are accepted; an integer without a suffix is a count of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub const fn mib(n: u64) -> Self {
        ByteSize(n * 1024 * 1024)
    }

    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// Parses `"10MiB"`, `"1.5GB"`, `"4096"`, `"4096B"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        if num.is_empty() {
            return Err(format!(
                "invalid size {text:?}: expected a number followed by B, KB, KiB, MB, MiB, GB or GiB"
            ));
        }
        let factor: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" | "kB" => 1_000,
            "KiB" => 1 << 10,
            "MB" => 1_000_000,
            "MiB" => 1 << 20,
            "GB" => 1_000_000_000,
            "GiB" => 1 << 30,
            other => {
                return Err(format!(
                    "invalid size {text:?}: unknown unit {other:?}, expected one of B, KB, KiB, MB, MiB, GB, GiB"
                ));
            }
        };
        let value: f64 = num
            .parse()
            .map_err(|_| format!("invalid size {text:?}: {num:?} is not a number"))?;
        let bytes = value * factor as f64;
        if !bytes.is_finite() || bytes > u64::MAX as f64 || bytes.fract() != 0.0 {
            return Err(format!(
                "invalid size {text:?}: not a whole number of bytes"
            ));
        }
        Ok(ByteSize(bytes as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        for (unit, size) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
            if b >= size && b.is_multiple_of(size) {
                return write!(f, "{}{unit}", b / size);
            }
        }
        write!(f, "{b}B")
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size such as \"10MiB\" or an integer number of bytes")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("invalid size {v}: must not be negative")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A duration written as Go writes them: a sequence of decimal numbers each with a unit
/// (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), e.g. `"300ms"`, `"1.5s"`, `"2h45m"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn secs(n: u64) -> Self {
        HumanDuration(Duration::from_secs(n))
    }

    pub const fn millis(n: u64) -> Self {
        HumanDuration(Duration::from_millis(n))
    }

    pub fn get(self) -> Duration {
        self.0
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "invalid duration {text:?}: {why} (expected e.g. \"500ms\", \"10s\", \"1m30s\")"
            )
        };
        let t = text.trim();
        if t == "0" {
            return Ok(HumanDuration(Duration::ZERO));
        }
        if t.is_empty() {
            return Err(bad("empty"));
        }
        let mut rest = t;
        let mut total_ns: f64 = 0.0;
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(|| bad("missing unit"))?;
            if num_end == 0 {
                return Err(bad("expected a number"));
            }
            let value: f64 = rest[..num_end]
                .parse()
                .map_err(|_| bad("malformed number"))?;
            rest = &rest[num_end..];
            let unit_end = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let factor = match &rest[..unit_end] {
                "ns" => 1.0,
                "us" | "µs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                "" => return Err(bad("missing unit")),
                _ => return Err(bad("unknown unit")),
            };
            total_ns += value * factor;
            rest = &rest[unit_end..];
        }
        if !total_ns.is_finite() || total_ns > u64::MAX as f64 {
            return Err(bad("out of range"));
        }
        Ok(HumanDuration(Duration::from_nanos(total_ns.round() as u64)))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0s");
        }
        if d.subsec_nanos() == 0 {
            let s = d.as_secs();
            if s.is_multiple_of(3600) {
                return write!(f, "{}h", s / 3600);
            }
            if s.is_multiple_of(60) {
                return write!(f, "{}m", s / 60);
            }
            return write!(f, "{s}s");
        }
        if d.as_nanos().is_multiple_of(1_000_000) {
            return write!(f, "{}ms", d.as_millis());
        }
        write!(f, "{}ns", d.as_nanos())
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"500ms\" or \"10s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                HumanDuration::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(ByteSize::parse("10MiB"), Ok(ByteSize(10 << 20)));
        assert_eq!(ByteSize::parse("1KB"), Ok(ByteSize(1000)));
        assert_eq!(ByteSize::parse("1.5KiB"), Ok(ByteSize(1536)));
        assert_eq!(ByteSize::parse("4096"), Ok(ByteSize(4096)));
        assert!(ByteSize::parse("10 MiBs").is_err());
        assert!(ByteSize::parse("MiB").is_err());
        assert!(ByteSize::parse("0.3B").is_err());
        assert_eq!(ByteSize(10 << 20).to_string(), "10MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
    }

    #[test]
    fn durations() {
        assert_eq!(
            HumanDuration::parse("500ms"),
            Ok(HumanDuration::millis(500))
        );
        assert_eq!(HumanDuration::parse("1m30s"), Ok(HumanDuration::secs(90)));
        assert_eq!(
            HumanDuration::parse("1.5s"),
            Ok(HumanDuration::millis(1500))
        );
        assert_eq!(HumanDuration::parse("2h"), Ok(HumanDuration::secs(7200)));
        assert!(HumanDuration::parse("10").is_err());
        assert!(HumanDuration::parse("10 sec").is_err());
        assert!(HumanDuration::parse("s").is_err());
        assert_eq!(HumanDuration::secs(90).to_string(), "90s");
        assert_eq!(HumanDuration::millis(500).to_string(), "500ms");
    }
}
