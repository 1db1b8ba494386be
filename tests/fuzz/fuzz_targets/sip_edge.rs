#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| voice::fuzzing::sip_edge(data));
