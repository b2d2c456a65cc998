//! TiDB binary JSON: [type code][body], rendered as TiDB renders it, raw, as a datum and as a row column.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tidb_changefeed_emulator::fuzzing::json(data);
});
