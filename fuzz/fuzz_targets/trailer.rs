//! cargo-fuzz target `trailer`: the invariant, and why it matters, is in
//! `fuzz/checks/trailer.rs`, which `tests/fuzz_corpus.rs` also replays on every seed.
#![no_main]

#[path = "../checks/trailer.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
