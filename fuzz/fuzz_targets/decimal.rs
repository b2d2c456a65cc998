//! MySQL binary decimal: [precision][frac][binary], through Decimal::from_bin and the datum form.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tidb_changefeed_emulator::fuzzing::decimal(data);
});
