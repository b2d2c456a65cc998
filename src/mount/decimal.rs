//! MySQL binary decimal as TiDB stores it (`types/mydecimal.go` `FromBin`/`WriteBin`,
//! `util/codec/decimal.go`).
//!
//! Owns [`Decimal`]: an exact decimal kept as digits with the precision and frac it was
//! stored with, rendered exactly like TiDB's `MyDecimal.String()` (no leading zeros, exactly
//! `frac` fraction digits, `-` kept on a negative zero with a fraction, as TiDB does).
//! Guarantees: `from_bin(to_bin(d)) == d`; bad bytes are errors, never panics.

use std::fmt;

use super::error::{DecodeError, EncodeError, does_not_fit, enc_invalid};
use super::reader::Reader;

const DIGITS_PER_WORD: usize = 9;
const WORD_SIZE: usize = 4;
const DIG2BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
const MAX_WORDS: usize = 9;
const POW10: [u32; 10] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
];

/// An exact decimal with the precision and scale (frac) it was encoded with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal {
    negative: bool,
    /// Integer digits without leading zeros ("" for zero).
    int_digits: String,
    /// Exactly `frac` fraction digits.
    frac_digits: String,
    precision: u8,
    frac: u8,
}

/// Size in bytes of the binary form for `(precision, frac)`, `None` if not a valid pair.
pub fn bin_size(precision: u8, frac: u8) -> Option<usize> {
    if frac > precision || precision == 0 {
        return None;
    }
    let intg = usize::from(precision - frac);
    let frac = usize::from(frac);
    let words = intg.div_ceil(DIGITS_PER_WORD) + frac.div_ceil(DIGITS_PER_WORD);
    if words > MAX_WORDS {
        return None;
    }
    Some(
        intg / DIGITS_PER_WORD * WORD_SIZE
            + DIG2BYTES[intg % DIGITS_PER_WORD]
            + frac / DIGITS_PER_WORD * WORD_SIZE
            + DIG2BYTES[frac % DIGITS_PER_WORD],
    )
}

impl Decimal {
    /// The zero decimal as TiDB's `new(MyDecimal)` renders it (`0`), precision 1, frac 0.
    pub fn zero() -> Self {
        Self::from_digits(false, "", String::new(), 1, 0)
    }

    /// Precision the value was stored with.
    pub fn precision(&self) -> u8 {
        self.precision
    }

    /// Number of fraction digits the value was stored with.
    pub fn frac(&self) -> u8 {
        self.frac
    }

    /// Whether the value is rendered with a minus sign.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    fn from_digits(negative: bool, int: &str, frac: String, precision: u8, frac_n: u8) -> Self {
        let int = int.trim_start_matches('0').to_owned();
        // TiDB resets a decimal whose integer words are all zero and that has no fraction
        // digits to the (positive) zero decimal.
        let negative = negative && !(int.is_empty() && frac.is_empty());
        Decimal {
            negative,
            int_digits: int,
            frac_digits: frac,
            precision,
            frac: frac_n,
        }
    }

    /// Reads the binary form (without the `[precision][frac]` prefix).
    pub fn from_bin(r: &mut Reader<'_>, precision: u8, frac: u8) -> Result<Self, DecodeError> {
        let at = r.pos();
        let size = bin_size(precision, frac).ok_or_else(|| {
            DecodeError::invalid("decimal", at, format!("precision {precision} frac {frac}"))
        })?;
        let raw = r.read_bytes(size, "decimal")?;
        let mut b = [0u8; MAX_WORDS * WORD_SIZE];
        let b = &mut b[..size];
        b.copy_from_slice(raw);
        let negative = b[0] & 0x80 == 0;
        b[0] ^= 0x80;
        if negative {
            b.iter_mut().for_each(|x| *x = !*x);
        }
        let intg = usize::from(precision - frac);
        let f = usize::from(frac);
        let (lead, int_words) = (intg % DIGITS_PER_WORD, intg / DIGITS_PER_WORD);
        let (trail, frac_words) = (f % DIGITS_PER_WORD, f / DIGITS_PER_WORD);
        let mut pos = 0usize;
        let mut word = |len: usize, digits: usize| -> Result<u32, DecodeError> {
            let v = b[pos..pos + len]
                .iter()
                .fold(0u32, |acc, &x| (acc << 8) | u32::from(x));
            let off = at + pos;
            pos += len;
            if v >= POW10[digits] {
                return Err(DecodeError::invalid(
                    "decimal",
                    off,
                    format!("word {v} has more than {digits} digits"),
                ));
            }
            Ok(v)
        };
        let mut int = String::with_capacity(intg);
        if lead > 0 {
            let v = word(DIG2BYTES[lead], lead)?;
            int.push_str(&format!("{v:0lead$}"));
        }
        for _ in 0..int_words {
            let v = word(WORD_SIZE, DIGITS_PER_WORD)?;
            int.push_str(&format!("{v:09}"));
        }
        let mut fr = String::with_capacity(f);
        for _ in 0..frac_words {
            let v = word(WORD_SIZE, DIGITS_PER_WORD)?;
            fr.push_str(&format!("{v:09}"));
        }
        if trail > 0 {
            let v = word(DIG2BYTES[trail], trail)?;
            fr.push_str(&format!("{v:0trail$}"));
        }
        Ok(Self::from_digits(negative, &int, fr, precision, frac))
    }

    /// Reads the datum form `[precision][frac][bin]` (TiDB `codec.DecodeDecimal`).
    pub fn decode_datum(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let precision = r.read_u8("decimal precision")?;
        let frac = r.read_u8("decimal frac")?;
        Self::from_bin(r, precision, frac)
    }

    /// Appends the binary form for this value's precision and frac.
    pub fn to_bin(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        let size = bin_size(self.precision, self.frac).ok_or_else(|| {
            does_not_fit(
                "decimal",
                format!("precision {} frac {}", self.precision, self.frac),
            )
        })?;
        let intg = usize::from(self.precision - self.frac);
        let f = usize::from(self.frac);
        if self.int_digits.len() > intg {
            return Err(does_not_fit(
                "decimal",
                format!("{self} has more than {intg} integer digits"),
            ));
        }
        let mut digits = String::with_capacity(intg + f);
        digits.extend(std::iter::repeat_n('0', intg - self.int_digits.len()));
        digits.push_str(&self.int_digits);
        digits.push_str(&self.frac_digits);
        digits.extend(std::iter::repeat_n(
            '0',
            f.saturating_sub(self.frac_digits.len()),
        ));
        let d = digits.as_bytes();
        let start = buf.len();
        let mut put = |s: &[u8], len: usize| {
            let v = s.iter().fold(0u32, |a, &c| a * 10 + u32::from(c - b'0'));
            buf.extend_from_slice(&v.to_be_bytes()[WORD_SIZE - len..]);
        };
        let lead = intg % DIGITS_PER_WORD;
        let mut i = 0;
        if lead > 0 {
            put(&d[..lead], DIG2BYTES[lead]);
            i = lead;
        }
        while i < intg {
            put(&d[i..i + DIGITS_PER_WORD], WORD_SIZE);
            i += DIGITS_PER_WORD;
        }
        let fend = intg + f;
        while i + DIGITS_PER_WORD <= fend {
            put(&d[i..i + DIGITS_PER_WORD], WORD_SIZE);
            i += DIGITS_PER_WORD;
        }
        if i < fend {
            put(&d[i..fend], DIG2BYTES[fend - i]);
        }
        debug_assert_eq!(buf.len() - start, size);
        let out = &mut buf[start..];
        if self.negative {
            out.iter_mut().for_each(|x| *x = !*x);
        }
        if let Some(first) = out.first_mut() {
            *first ^= 0x80;
        }
        Ok(())
    }

    /// Appends the datum form `[precision][frac][bin]` (TiDB `codec.EncodeDecimal`).
    pub fn encode_datum(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        buf.push(self.precision);
        buf.push(self.frac);
        self.to_bin(buf)
    }

    /// Parses decimal text (`[-+]digits[.digits]`) into a value of the given precision and
    /// frac, rounding extra fraction digits half away from zero (as MySQL does).
    pub fn parse(text: &str, precision: u8, frac: u8) -> Result<Self, EncodeError> {
        let (neg, int, fr) = split_decimal_text(text)?;
        let intg = usize::from(precision.saturating_sub(frac));
        let f = usize::from(frac);
        let mut int = int.trim_start_matches('0').as_bytes().to_vec();
        let mut fr = fr.as_bytes().to_vec();
        let round_up = fr.len() > f && fr[f] >= b'5';
        fr.truncate(f);
        fr.resize(f, b'0');
        if round_up {
            let mut all = int.clone();
            all.extend_from_slice(&fr);
            let mut i = all.len();
            loop {
                if i == 0 {
                    all.insert(0, b'1');
                    break;
                }
                i -= 1;
                if all[i] == b'9' {
                    all[i] = b'0';
                } else {
                    all[i] += 1;
                    break;
                }
            }
            let split = all.len() - f;
            fr = all[split..].to_vec();
            int = all[..split].to_vec();
        }
        if bin_size(precision, frac).is_none() {
            return Err(does_not_fit(
                "decimal",
                format!("precision {precision} frac {frac}"),
            ));
        }
        let int = String::from_utf8(int).map_err(|e| enc_invalid("decimal", e.to_string()))?;
        if int.trim_start_matches('0').len() > intg {
            return Err(does_not_fit(
                "decimal",
                format!("{text} exceeds DECIMAL({precision},{frac})"),
            ));
        }
        let fr = String::from_utf8(fr).map_err(|e| enc_invalid("decimal", e.to_string()))?;
        Ok(Self::from_digits(neg, &int, fr, precision, frac))
    }

    /// Parses decimal text keeping its own digits: precision and frac are derived like
    /// TiDB's `PrecisionAndFrac` (frac = fraction digits, precision = significant integer
    /// digits + frac, at least 1).
    pub fn parse_natural(text: &str) -> Result<Self, EncodeError> {
        let (_, int, fr) = split_decimal_text(text)?;
        let int_len = int.trim_start_matches('0').len();
        let frac = u8::try_from(fr.len()).map_err(|_| does_not_fit("decimal", text))?;
        let precision =
            u8::try_from((int_len + fr.len()).max(1)).map_err(|_| does_not_fit("decimal", text))?;
        Self::parse(text, precision, frac)
    }
}

fn split_decimal_text(text: &str) -> Result<(bool, &str, &str), EncodeError> {
    let t = text.trim();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (int, fr) = t.split_once('.').unwrap_or((t, ""));
    if (int.is_empty() && fr.is_empty())
        || !int.bytes().all(|c| c.is_ascii_digit())
        || !fr.bytes().all(|c| c.is_ascii_digit())
    {
        return Err(enc_invalid("decimal text", text));
    }
    Ok((neg, int, fr))
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        if self.int_digits.is_empty() {
            f.write_str("0")?;
        } else {
            f.write_str(&self.int_digits)?;
        }
        if !self.frac_digits.is_empty() {
            f.write_str(".")?;
            f.write_str(&self.frac_digits)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::mount::unhex;

    fn dec(hex: &str) -> Result<Decimal, DecodeError> {
        Decimal::decode_datum(&mut Reader::new(&unhex(hex)))
    }

    /// V11: the MySQL example quoted in TIDB pkg/types/mydecimal.go (`ToBin` doc comment:
    /// "81 0D FB 38 D2 04 D2" and "7E F2 04 C7 2D FB 2D" for DECIMAL(14,4)).
    #[test]
    fn mysql_doc_example() {
        let d = Decimal::from_bin(&mut Reader::new(&unhex("810dfb38d204d2")), 14, 4).unwrap();
        assert_eq!(d.to_string(), "1234567890.1234");
        let n = Decimal::from_bin(&mut Reader::new(&unhex("7ef204c72dfb2d")), 14, 4).unwrap();
        assert_eq!(n.to_string(), "-1234567890.1234");
        let mut b = Vec::new();
        Decimal::parse("-1234567890.1234", 14, 4)
            .unwrap()
            .to_bin(&mut b)
            .unwrap();
        assert_eq!(b, unhex("7ef204c72dfb2d"));
    }

    /// Derived datum vectors of upstream.md §3.9, and V4 column 14 (`010081` = 1).
    #[test]
    fn derived_datum_vectors() {
        for (hex, text) in [
            ("010081", "1"),
            ("040275c8", "-10.55"),
            ("0a038000007b01c2", "123.450"),
            ("06048b26ac", "11.9900"),
        ] {
            let d = dec(hex).unwrap();
            assert_eq!(d.to_string(), text, "{hex}");
            let mut b = Vec::new();
            d.encode_datum(&mut b).unwrap();
            assert_eq!(b, unhex(hex));
        }
    }

    /// The exact (non-truncating) cases of TIKV
    /// components/tidb_query_datatype/src/codec/mysql/decimal.rs:3096 `test_codec`:
    /// write with (precision, frac), read back, render.
    #[test]
    fn tikv_codec_cases() {
        for (text, p, f, want) in [
            ("-10.55", 4, 2, "-10.55"),
            (
                "0.0123456789012345678912345",
                30,
                25,
                "0.0123456789012345678912345",
            ),
            ("12345", 5, 0, "12345"),
            ("12345", 10, 3, "12345.000"),
            ("123.45", 10, 3, "123.450"),
            ("-123.45", 20, 10, "-123.4500000000"),
            (".00012345000098765", 22, 20, "0.00012345000098765000"),
            (".12345000098765", 30, 20, "0.12345000098765000000"),
            ("1234500009876.5", 30, 5, "1234500009876.50000"),
            ("000000000.01", 7, 3, "0.010"),
            ("123.4", 10, 2, "123.40"),
            ("10000000000000000000.23", 23, 2, "10000000000000000000.23"),
        ] {
            let mut b = Vec::new();
            Decimal::parse(text, p, f)
                .unwrap()
                .encode_datum(&mut b)
                .unwrap();
            let d = Decimal::decode_datum(&mut Reader::new(&b)).unwrap();
            assert_eq!(d.to_string(), want, "{text}");
        }
        // overflow cases of the same test are refused
        assert!(Decimal::parse("111111111.11", 10, 2).is_err());
        assert!(Decimal::parse("1000", 3, 0).is_err());
    }

    #[test]
    fn zero_and_negative_zero_render_like_tidb() {
        let z = Decimal::parse("-0", 1, 0).unwrap();
        assert_eq!(z.to_string(), "0");
        let z = Decimal::parse("-0.00", 3, 2).unwrap();
        assert_eq!(z.to_string(), "-0.00");
        assert_eq!(Decimal::parse("0.5", 3, 2).unwrap().to_string(), "0.50");
        assert_eq!(Decimal::parse("1.005", 5, 2).unwrap().to_string(), "1.01");
        assert_eq!(
            Decimal::parse("-9.995", 5, 2).unwrap().to_string(),
            "-10.00"
        );
        assert!(Decimal::parse("123", 3, 1).is_err());
        assert!(Decimal::parse("1e3", 5, 0).is_err());
        assert_eq!(Decimal::parse_natural("00120.50").unwrap().precision(), 5);
    }

    #[test]
    fn bad_bytes_are_errors() {
        assert!(dec("").is_err());
        assert!(dec("01").is_err());
        assert!(dec("0100").is_err()); // 1 digit, byte 00 decodes to word 127
        assert!(dec("0201").is_err()); // frac > precision
        assert!(dec("00008000").is_err()); // precision 0
        assert!(dec("0a03ffffffff").is_err()); // truncated
        assert!(dec("0900ffffffff").is_err()); // word > 999999999
        assert!(dec("ff00").is_err()); // too many words
    }

    fn decimal_strategy() -> impl Strategy<Value = (String, u8, u8)> {
        (1u8..=65).prop_flat_map(|p| {
            (0u8..=p.min(30)).prop_flat_map(move |f| {
                let intg = usize::from(p - f);
                (
                    proptest::bool::ANY,
                    proptest::collection::vec(0u8..10, intg),
                    proptest::collection::vec(0u8..10, usize::from(f)),
                )
                    .prop_map(move |(neg, i, fr)| {
                        let i: String = i.iter().map(|d| char::from(b'0' + d)).collect();
                        let fr: String = fr.iter().map(|d| char::from(b'0' + d)).collect();
                        let mut s = if neg { "-".to_owned() } else { String::new() };
                        s.push_str(if i.is_empty() { "0" } else { &i });
                        if !fr.is_empty() {
                            s.push('.');
                            s.push_str(&fr);
                        }
                        (s, p, f)
                    })
            })
        })
    }

    proptest! {
        #[test]
        fn roundtrip((text, p, f) in decimal_strategy()) {
            let d = Decimal::parse(&text, p, f).unwrap();
            let mut b = Vec::new();
            d.encode_datum(&mut b).unwrap();
            let back = Decimal::decode_datum(&mut Reader::new(&b)).unwrap();
            prop_assert_eq!(&back, &d);
            // Rendering equals the normalised input text.
            let (neg, i, fr) = split_decimal_text(&text).unwrap();
            let i = i.trim_start_matches('0');
            let mut want = String::new();
            if neg && !(i.is_empty() && fr.is_empty()) { want.push('-'); }
            want.push_str(if i.is_empty() { "0" } else { i });
            if !fr.is_empty() { want.push('.'); want.push_str(fr); }
            prop_assert_eq!(back.to_string(), want);
        }

        #[test]
        fn garbage_never_panics(data: Vec<u8>) {
            let _ = Decimal::decode_datum(&mut Reader::new(&data));
        }
    }
}
