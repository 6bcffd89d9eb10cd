//! Body decoding (plain and gzip, content-type and encoding checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clickgate::fuzzing::body_decoding(data));
