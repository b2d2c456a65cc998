//! Row format v2 through RowDecoder::decode_row / mount over a table of every type, and the raw v2 layout parser: first byte = handle, rest = row value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tidb_changefeed_emulator::fuzzing::row_v2(data);
});
