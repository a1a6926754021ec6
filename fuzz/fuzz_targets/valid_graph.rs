//! Specs valid by construction: the definitions must validate and marshal deterministically.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aishell_fuzz::valid_graph(data));
