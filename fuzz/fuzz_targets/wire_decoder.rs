#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| axon::link::fuzzing::wire_decoder(d));
