//! Batch and single-event parsing, validation and record layout.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| clickgate::fuzzing::event_parsing(data));
