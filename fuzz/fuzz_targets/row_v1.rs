//! Row format v1 (flag-prefixed datums) through RowDecoder::decode_row / mount, and the raw datum decoders: first byte = handle, rest = row value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tidb_changefeed_emulator::fuzzing::row_v1(data);
});
