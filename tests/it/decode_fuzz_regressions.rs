//! Stable-Rust guard for the decoders the cargo-fuzz targets in `fuzz/` exercise: random bytes
//! and mutations of valid TiDB encodings (rows v2 and v1, decimals, binary JSON) go through the
//! same entry points ([`tidb_changefeed_emulator::fuzzing`]), which panic if a decoder panics or a
//! row error does not name the table and key. Deterministic (fixed seeds), so a failure here
//! reproduces. The checked-in corpora and crash inputs are replayed by `fuzz_corpus.rs`, which
//! also writes the seeds below.

use tidb_changefeed::mount::Decimal;
use tidb_changefeed::mount::json::BinaryJson;
use tidb_changefeed_emulator::fuzzing::{decimal, json, row_v1, row_v2, sample_rows};

/// xorshift64*: small, deterministic, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One libFuzzer-style mutation: flip, set to an interesting value, insert, delete, truncate,
/// or splice random bytes.
fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let at = rng.below(b.len());
        match rng.below(7) {
            0 if !b.is_empty() => b[at] ^= 1 << rng.below(8),
            1 if !b.is_empty() => {
                b[at] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff][rng.below(6)];
            }
            2 => b.insert(at.min(b.len()), rng.next() as u8),
            3 if !b.is_empty() => {
                b.remove(at);
            }
            4 => b.truncate(at),
            5 if b.len() >= 4 => {
                // A little-endian length or offset field set to a huge value.
                let i = rng.below(b.len() - 3);
                b[i..i + 4].copy_from_slice(&u32::MAX.to_le_bytes()[..]);
            }
            _ => {
                let extra = rng.bytes(8);
                let at = at.min(b.len());
                b.splice(at..at, extra);
            }
        }
    }
    b
}

/// Seed inputs of one target.
pub(crate) type Seeds = Vec<Vec<u8>>;

/// Valid encodings of each target's input: (handle byte + row value) for rows, `[p][f][bin]`
/// for decimals, `[type][body]` for JSON.
pub(crate) fn seeds() -> (Seeds, Seeds, Seeds) {
    let rows: Vec<Vec<u8>> = sample_rows()
        .into_iter()
        .map(|r| {
            let mut v = vec![129u8];
            v.extend_from_slice(&r);
            v
        })
        .collect();
    let mut decimals = Vec::new();
    for (text, p, f) in [
        ("-1234567890.1234", 14, 4),
        ("0.000000001", 10, 9),
        (
            "99999999999999999999999999999999999.999999999999999999999999999999",
            65,
            30,
        ),
        ("-0.5", 1, 1),
        ("12345", 5, 0),
    ] {
        let d = Decimal::parse(text, p, f).expect("seed decimal");
        let mut b = Vec::new();
        d.encode_datum(&mut b).expect("encodes");
        decimals.push(b);
    }
    let mut jsons = Vec::new();
    for text in [
        r#"{"a": [1, "2", {"aa": "bb"}, 4.0, null], "c": null, "b": true}"#,
        r#"[18446744073709551615, -9223372036854775808, 1e300, "\u00e9\n"]"#,
        r#""plain""#,
        "3",
        "null",
        r#"{"nested": {"deeper": [[[[1]]]]}}"#,
    ] {
        let j = BinaryJson::parse(text).expect("seed JSON");
        let mut b = vec![j.type_code];
        b.extend_from_slice(&j.body);
        jsons.push(b);
    }
    (rows, decimals, jsons)
}

const ROUNDS: usize = 3000;

#[test]
fn decoders_survive_random_and_mutated_inputs() {
    let (rows, decimals, jsons) = seeds();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    for s in &rows {
        row_v2(&s[..]);
        row_v1(&s[..]);
    }
    for _ in 0..ROUNDS {
        let seed = &rows[rng.below(rows.len())];
        let m = mutate(&mut rng, seed);
        row_v2(&m);
        row_v1(&m);
        let r = rng.bytes(64);
        row_v2(&r);
        row_v1(&r);

        let seed = &decimals[rng.below(decimals.len())];
        decimal(&mutate(&mut rng, seed));
        decimal(&rng.bytes(40));

        let seed = &jsons[rng.below(jsons.len())];
        json(&mutate(&mut rng, seed));
        json(&rng.bytes(64));
    }
}

/// The encoder target over deterministic random choices (the corpus replay covers the rest).
#[test]
fn encoders_survive_random_rows() {
    let mut rng = Rng(0x0dd_c0de_5eed_7777);
    for _ in 0..ROUNDS {
        let n = 16 + rng.below(400);
        let input: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        tidb_changefeed_emulator::fuzzing::codecs(&input);
        tidb_changefeed_emulator::fuzzing::open_frames(&input);
    }
}

/// The configuration and scenario targets over mutations of their checked-in seeds.
#[test]
fn parsers_survive_mutated_files() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut rng = Rng(0x0007_06d1_f11e_5eed);
    for (target, run) in [
        (
            "config",
            tidb_changefeed_emulator::fuzzing::config as fn(&[u8]),
        ),
        ("scenario", tidb_changefeed_emulator::fuzzing::scenario),
    ] {
        let seeds: Vec<Vec<u8>> = std::fs::read_dir(dir.join(target))
            .expect("checked-in corpus")
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read(e.path()).ok())
            .collect();
        assert!(!seeds.is_empty(), "fuzz/corpus/{target} is empty");
        for _ in 0..300 {
            let seed = &seeds[rng.below(seeds.len())];
            run(&mutate(&mut rng, seed));
        }
    }
}
