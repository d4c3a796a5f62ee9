#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| axon::fuzzing::queue_image(d));
