//! The TOML configuration through config::parse: rejections name file, line and key; accepted files start (router, settings, encoder).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tidb_changefeed_emulator::fuzzing::config(data);
});
