//! Typed rows built from the bytes, written as TiDB writes them, decoded, split and encoded by Canal-JSON, Open protocol, Debezium and Avro, plus a DDL and a watermark; outputs must parse as JSON carrying the row's names, kind and ts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tidb_changefeed_emulator::fuzzing::codecs(data);
});
