#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| platform::fuzzing::push_channel(data));
