//! Fuzzing entry points: one function per cargo-fuzz target in `fuzz/`, called by the target
//! (nightly, libFuzzer) and by the stable regression test that replays every checked-in corpus
//! and crash input (`tests/it/fuzz_corpus.rs`), so both run exactly the same code.
//!
//! Owns the targets' bodies and the invariants they check; the daemon's crate carries none of
//! it. Each entry point takes arbitrary bytes and panics only when an invariant of the code
//! under test is broken (a panic inside that code, or an output that contradicts its
//! contract); an input the code rightly rejects with an error is a pass.
//!
//! Targets: [`row_v2`], [`row_v1`], [`decimal`], [`json`] (TiKV's bytes, [`decoders`]);
//! [`config`] (the TOML configuration, [`mod@config`]); [`codecs`] (typed rows built from the
//! bytes, decoded as the pipeline decodes them and encoded by every protocol, [`mod@codecs`]);
//! [`open_frames`] (the Open protocol's batch framing read back, [`mod@codecs`]); [`scenario`]
//! (the emulator's scenario files, [`mod@scenario`]). [`TARGETS`] lists them by name.

pub mod codecs;
pub mod config;
pub mod decoders;
pub mod input;
pub mod scenario;

pub use codecs::{codecs, open_frames};
pub use config::config;
pub use decoders::{
    TABLE_ID, TABLE_NAME, decimal, fuzz_key, fuzz_table, json, row_v1, row_v2, sample_rows,
};
pub use scenario::scenario;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target by its cargo-fuzz name (`fuzz/fuzz_targets/<name>.rs`, `fuzz/corpus/<name>/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("row_v2", row_v2),
    ("row_v1", row_v1),
    ("decimal", decimal),
    ("json", json),
    ("config", config),
    ("codecs", codecs),
    ("open_frames", open_frames),
    ("scenario", scenario),
];
