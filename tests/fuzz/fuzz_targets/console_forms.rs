#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| platform::fuzzing::console_forms(data));
