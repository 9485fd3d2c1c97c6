//! Every seed of every fuzz target, through the target's own invariant, in a plain
//! `cargo test` on stable: what a fuzz target once caught (the seeds include the inputs
//! that crashed it) stays caught on a machine without nightly or cargo-fuzz. The fuzzing
//! itself, which looks for new inputs, is `scripts/fuzz.sh` (nightly).

use std::path::Path;

#[path = "../fuzz/checks/blob_reader.rs"]
mod blob_reader;
#[path = "../fuzz/checks/layer_unpack.rs"]
mod layer_unpack;
#[path = "../fuzz/checks/token.rs"]
mod token;
#[path = "../fuzz/checks/trailer.rs"]
mod trailer;

/// Runs `check` on every file of `fuzz/corpus/TARGET`, naming the seeds that break it.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut seeds: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    seeds.sort();
    assert!(!seeds.is_empty(), "{} has no seeds", dir.display());
    let broken: Vec<String> = seeds
        .iter()
        .filter(|seed| {
            let data = std::fs::read(seed).unwrap();
            std::panic::catch_unwind(|| check(&data)).is_err()
        })
        .map(|seed| seed.display().to_string())
        .collect();
    assert!(broken.is_empty(), "{target} breaks on {broken:?}");
}

#[test]
fn layer_unpack_seeds() {
    replay("layer_unpack", layer_unpack::check);
}

#[test]
fn trailer_seeds() {
    replay("trailer", trailer::check);
}

#[test]
fn blob_reader_seeds() {
    replay("blob_reader", blob_reader::check);
}

#[test]
fn token_seeds() {
    replay("token", token::check);
}
