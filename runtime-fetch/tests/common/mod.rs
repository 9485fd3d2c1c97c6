//! Helpers shared by the integration tests: unpack a layer the way the launcher does and run
//! the python inside.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use pyk_runtime_fetch::{Layer, LayerStore, Progress};

/// A store in a fresh temporary cache, compressing at level 3 to keep tests fast.
pub fn store() -> (tempfile::TempDir, LayerStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = LayerStore::open(dir.path()).with_zstd_level(3);
    (dir, store)
}

pub fn quiet() -> Progress {
    Progress::new(true)
}

/// Unpack a layer into `dest` (which must not exist) and return its canonical path.
pub fn unpack(layer: &Layer, dest: &Path) -> PathBuf {
    let file = std::fs::File::open(&layer.path).unwrap();
    let decoder = zstd::stream::read::Decoder::new(file).unwrap();
    let mut archive = tar::Archive::new(decoder);
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        assert!(
            path.is_relative() && !path.starts_with("python") && !path.starts_with("."),
            "layer entry {path:?} must be relative to the runtime root"
        );
    }
    std::fs::create_dir_all(dest).unwrap();
    let file = std::fs::File::open(&layer.path).unwrap();
    let decoder = zstd::stream::read::Decoder::new(file).unwrap();
    tar::Archive::new(decoder).unpack(dest).unwrap();
    dest.canonicalize().unwrap()
}

/// Run `bin/python3 -I -c code` in an unpacked runtime; returns stdout.
pub fn run_python(runtime: &Path, code: &str) -> String {
    let out = Command::new(runtime.join("bin/python3"))
        .args(["-I", "-c", code])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
