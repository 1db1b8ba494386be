#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| platform::fuzzing::welcome_form(data));
