//! cargo-fuzz target `blob_reader`: the invariant, and why it matters, is in
//! `fuzz/checks/blob_reader.rs`, which `tests/fuzz_corpus.rs` also replays on every seed.
#![no_main]

#[path = "../checks/blob_reader.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
