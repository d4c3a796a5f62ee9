#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| axon_cli::fuzzing::value_parser(d));
