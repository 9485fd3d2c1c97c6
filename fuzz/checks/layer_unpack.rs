//! The layer unpacker: a layer (zstd-compressed tar) comes from a server or a file, and
//! is unpacked into the cache. Any input must unpack or be refused without a panic;
//! nothing may land outside the destination (`..`, absolute paths, hard links), and no
//! symbolic link left inside it may point outside it (a later write through it would).
//!
//! Shared by the cargo-fuzz target of the same name and by `tests/fuzz_corpus.rs`, which
//! replays every seed on stable in `cargo test`.

use std::path::{Component, Path, PathBuf};

use pyk_artifact::extract::{extract, Limits};

/// Panics if `data` breaks the invariant above.
pub fn check(data: &[u8]) {
    let outer = tempfile::tempdir().unwrap();
    let dest = outer.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let limits = Limits {
        size: 1 << 20,
        files: 4096,
    };
    let _ = extract(data, &dest, limits);
    let entries: Vec<_> = std::fs::read_dir(outer.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        entries,
        [Path::new("dest").as_os_str()],
        "something landed outside"
    );
    let dest = dest.canonicalize().unwrap();
    check_links(&dest, &dest);
}

/// Every link under `dir` resolves inside `root`, whether its target exists or not.
fn check_links(root: &Path, dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap();
            let resolved = match path.canonicalize() {
                Ok(real) => real,
                // Dangling: where it would point, following the links on the way.
                Err(_) => lexical(&dir.canonicalize().unwrap().join(target)),
            };
            assert!(
                resolved.starts_with(root),
                "link {} points outside the layer, at {}",
                path.display(),
                resolved.display()
            );
        } else if meta.is_dir() {
            check_links(root, &path);
        }
    }
}

fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
