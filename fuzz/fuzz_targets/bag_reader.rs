#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| axon_bag::fuzzing::bag_reader(d));
