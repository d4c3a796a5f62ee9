#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| axon_ros2::fuzzing::rmw_attachment(d));
