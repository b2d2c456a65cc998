//! Arbitrary bytes read as an Open protocol record (message::events): what it accepts re-frames to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tidb_changefeed_emulator::fuzzing::open_frames(data);
});
