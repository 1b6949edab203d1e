#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ardei_lab_fuzz::decode_datagram(data));
