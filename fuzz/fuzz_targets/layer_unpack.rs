//! cargo-fuzz target `layer_unpack`: the invariant, and why it matters, is in
//! `fuzz/checks/layer_unpack.rs`, which `tests/fuzz_corpus.rs` also replays on every seed.
#![no_main]

#[path = "../checks/layer_unpack.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
