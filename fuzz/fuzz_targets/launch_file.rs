#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| axon_launch::fuzzing::launch_file(d));
