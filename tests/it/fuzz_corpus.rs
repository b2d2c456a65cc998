//! Replays every checked-in fuzz input on stable Rust: each file of `fuzz/corpus/<target>/`
//! (the minimized corpora) and of `fuzz/regressions/<target>/` (inputs that once crashed a
//! target) goes through the same entry point the cargo-fuzz target calls
//! ([`tidb_changefeed_emulator::fuzzing::TARGETS`]), which panics when an invariant breaks.
//!
//! Also holds the checked-in layout together: every target has a corpus, a fuzz target file
//! and a `[[bin]]` in `fuzz/Cargo.toml`, and every corpus or regressions folder names a target,
//! so a renamed or new target cannot go unreplayed. `write_fuzz_seeds` (ignored; run by hand)
//! writes the starting seeds that `scripts/fuzz.sh` grows and selects the corpora from.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use tidb_changefeed_emulator::fuzzing::TARGETS;

/// The most inputs a checked-in corpus may hold (`scripts/fuzz.sh` keeps 40 by default):
/// the corpora are replayed on every test run, the grown ones stay out of the repository.
const MAX_CORPUS: usize = 64;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files of `dir`, sorted; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

fn subdirs(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_fuzz_corpus_and_crash_input_replays() {
    let root = fuzz_dir();
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("fuzz/Cargo.toml");
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    for sub in ["corpus", "regressions"] {
        for d in subdirs(&root.join(sub)) {
            assert!(
                names.contains(&d.as_str()),
                "fuzz/{sub}/{d} belongs to no target"
            );
        }
    }
    let mut failures = Vec::new();
    let mut replayed = 0;
    for (name, target) in TARGETS {
        assert!(
            root.join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "fuzz/fuzz_targets/{name}.rs is missing"
        );
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
        let corpus = files(&root.join("corpus").join(name));
        assert!(
            corpus.len() >= 5,
            "fuzz/corpus/{name} has {} inputs; its minimized corpus must be checked in",
            corpus.len()
        );
        assert!(
            corpus.len() <= MAX_CORPUS,
            "fuzz/corpus/{name} has {} inputs, more than {MAX_CORPUS}: check in what \
             scripts/fuzz.sh selects (FUZZ_CORPUS_MAX), not the grown corpus",
            corpus.len()
        );
        let crashes = files(&root.join("regressions").join(name));
        for file in corpus.iter().chain(&crashes) {
            let bytes = std::fs::read(file).expect("corpus file");
            replayed += 1;
            if catch_unwind(AssertUnwindSafe(|| target(&bytes))).is_err() {
                failures.push(file.display().to_string());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {replayed} fuzz inputs break an invariant (replay one with \
         `cd fuzz && cargo +nightly fuzz run <target> <file>`):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Writes the starting seeds of every target into `fuzz/corpus/<target>/` (files named
/// `seed-*`): `cargo test --test it write_fuzz_seeds -- --ignored`. `scripts/fuzz.sh` grows
/// `fuzz/grown/<target>/` from them and rewrites the corpora as the inputs covering most.
#[test]
#[ignore = "writes files for the fuzzers; run by hand"]
fn write_fuzz_seeds() {
    let (rows, decimals, jsons) = crate::decode_fuzz_regressions::seeds();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));

    // Configuration files: the shipped ones, and the minimal one under every protocol and
    // with the sections users add.
    let minimal = String::from_utf8(text(&repo.join("config/minimal.toml"))).expect("UTF-8");
    let mut configs = vec![
        minimal.clone().into_bytes(),
        text(&repo.join("config/changefeed.example.toml")),
    ];
    for extra in [
        "[changefeed.filter]\nrules = ['test.*', '!test.tmp_*']\n[[changefeed.filter.event-filters]]\nmatcher = ['test.t']\nignore-event = ['delete']\nignore-sql = ['^DROP']\n",
        "[[changefeed.sink.dispatchers]]\nmatcher = ['test.*']\npartition = 'index-value'\ntopic = 'tidb_{schema}_{table}'\n[[changefeed.sink.column-selectors]]\nmatcher = ['test.t']\ncolumns = ['*', '!secret']\n",
        "[changefeed.sink.kafka-config.codec-config]\nenable-tidb-extension = true\n",
        "[changefeed.sink.kafka-config.large-message-handle]\nlarge-message-handle-option = 'handle-key-only'\n",
        "[server]\nlisten = '127.0.0.1:8300'\n[state]\ndir = 'state'\n[log]\nlevel = 'debug'\n",
    ] {
        configs.push(format!("{minimal}{extra}\n").into_bytes());
    }
    for proto in ["open-protocol", "debezium", "avro"] {
        let mut c = minimal.replace("\"canal-json\"", &format!("\"{proto}\""));
        if proto == "avro" {
            c = c.replace(
                "protocol = \"avro\"",
                "protocol = \"avro\"\nschema-registry = \"http://127.0.0.1:8081\"",
            );
        }
        configs.push(c.into_bytes());
    }
    configs.push(b"[upstream]\npd = []\n[[changefeed]]\nid = ''\n".to_vec());

    // Scenario files: every scenario and fixture the tests play.
    let mut scenarios = Vec::new();
    for dir in ["tests/scenarios", "tests/scenarios/fixtures"] {
        for f in files(&repo.join(dir)) {
            if f.extension().is_some_and(|e| e == "toml") {
                scenarios.push(text(&f));
            }
        }
    }

    // Codec inputs are choices, not a format: spread pseudo-random bytes of several lengths.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut codecs = Vec::new();
    for len in [8usize, 24, 48, 64, 96, 128, 192, 256, 384, 512] {
        let mut b = Vec::with_capacity(len);
        for _ in 0..len {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b.push(state as u8);
        }
        codecs.push(b);
    }

    // Open protocol records: a row event, a batch of two, a resolved event.
    use tidb_changefeed::codec::open::message::{EventKey, EventType, append, single};
    let frame = |r: &tidb_changefeed::codec::Record| {
        let key = r.key.as_deref().unwrap_or_default();
        let k = &key[8..];
        assert!(k.len() < 128, "seed key fits the cut byte");
        let mut out = vec![0x80 | k.len() as u8];
        out.extend_from_slice(k);
        out.extend_from_slice(r.value.as_deref().unwrap_or_default());
        out
    };
    let key = EventKey {
        schema: "test",
        table: "t",
        ..EventKey::new(415_508_856_908_021_766, EventType::Row)
    }
    .encode();
    let row = single(&key, br#"{"u":{"id":{"t":3,"h":true,"f":11,"v":1}}}"#);
    let mut two = row.clone();
    append(
        &mut two,
        &single(&EventKey::new(5, EventType::Row).encode(), b"{}"),
    );
    let resolved = single(&EventKey::new(7, EventType::Resolved).encode(), b"");
    let frames = vec![
        frame(&row),
        frame(&two),
        frame(&resolved),
        vec![0x80],
        b"\x05abcde".to_vec(),
    ];

    let dir = fuzz_dir().join("corpus");
    for (target, inputs) in [
        ("row_v2", &rows),
        ("row_v1", &rows),
        ("decimal", &decimals),
        ("json", &jsons),
        ("config", &configs),
        ("scenario", &scenarios),
        ("codecs", &codecs),
        ("open_frames", &frames),
    ] {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).expect("corpus dir");
        for (i, input) in inputs.iter().enumerate() {
            std::fs::write(d.join(format!("seed-{i}")), input).expect("seed");
        }
    }
}
