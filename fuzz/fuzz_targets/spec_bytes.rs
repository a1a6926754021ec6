//! Arbitrary bytes as a spec: parse, resolve for linux/amd64 and linux/arm64, convert.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| aishell_fuzz::spec_bytes(data));
