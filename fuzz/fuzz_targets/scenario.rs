//! The emulator's scenario files through Scenario::parse and build_cluster: rejections name the file, accepted ones build.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tidb_changefeed_emulator::fuzzing::scenario(data);
});
