#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| axon_view::fuzzing::tls_pem(d));
