//! The `config` fuzz target: bytes → TOML text → [`tidb_changefeed::config::parse`].
//!
//! Invariants checked (the loader's contract, `src/config/mod.rs`):
//! * a rejected file gives [`ConfigError::Invalid`] with at least one problem, each naming
//!   this file, a line and column inside the text, and a message;
//! * an accepted file starts: every changefeed's router, sequencer settings and encoder build
//!   from it without a configuration error (what validation promised), and parsing is
//!   deterministic (the same text gives the same configuration).
//!
//! The path is a directory that does not exist, so relative secret and certificate files in
//! the input resolve nowhere; absolute ones are only read.

use std::path::Path;

use tidb_changefeed::config::{ConfigError, parse};
use tidb_changefeed::pipeline;

/// Where the fuzzed file claims to live.
const PATH: &str = "/nonexistent-fuzz-dir/changefeed.toml";

/// One configuration text: bytes that are not UTF-8 are read lossily (the loader refuses
/// them before parsing, so they add nothing).
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = Path::new(PATH);
    match parse(path, &text) {
        Err(ConfigError::Invalid(problems)) => {
            assert!(
                !problems.is_empty(),
                "a rejection names at least one problem"
            );
            let lines = text.split('\n').count();
            for p in &problems {
                assert_eq!(p.file, path, "problem names the file: {p}");
                assert!(
                    p.line >= 1 && p.line <= lines,
                    "line {} of {lines}: {p}",
                    p.line
                );
                assert!(p.column >= 1, "column: {p}");
                assert!(!p.message.trim().is_empty(), "problem has a message: {p}");
                assert!(p.to_string().starts_with(PATH), "{p}");
            }
        }
        Err(other @ ConfigError::Read { .. }) => panic!("parse does no reading: {other}"),
        Ok(cfg) => {
            for cf in &cfg.changefeeds {
                let id = &cf.id;
                if let Err(e) = pipeline::router(cf) {
                    panic!("changefeed {id}: accepted config, router fails: {e}");
                }
                let settings = match pipeline::settings(cf, &cfg.state, 0) {
                    Ok(s) => s,
                    Err(e) => panic!("changefeed {id}: accepted config, settings fail: {e}"),
                };
                if let Err(e) = tidb_changefeed::codec::build(cf, settings.time_zone) {
                    panic!("changefeed {id}: accepted config, encoder fails: {e}");
                }
            }
            match parse(path, &text) {
                Ok(again) => assert_eq!(
                    format!("{again:?}"),
                    format!("{cfg:?}"),
                    "parsing is deterministic"
                ),
                Err(e) => panic!("accepted once, rejected the second time: {e}"),
            }
        }
    }
}
