//! Helpers shared by the integration tests: unpack a layer the way the launcher does and run
//! the python inside.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use pyk_runtime_fetch::{Layer, LayerStore, Quiet};

/// A store in a fresh temporary cache, compressing at level 3 to keep tests fast.
pub fn store() -> (tempfile::TempDir, LayerStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = LayerStore::open(dir.path()).with_zstd_level(3);
    (dir, store)
}

pub fn quiet() -> Quiet {
    Quiet
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
    // Unpack with the launcher's own code, within the caps the store recorded.
    std::fs::create_dir_all(dest).unwrap();
    let bytes = std::fs::read(&layer.path).unwrap();
    let unpacked = layer
        .unpacked
        .expect("the store records what a layer unpacks to");
    let limits = pyk_artifact::extract::Limits {
        size: unpacked.size,
        files: unpacked.files,
    };
    assert_eq!(
        pyk_artifact::extract::extract(&bytes, dest, limits).unwrap(),
        unpacked
    );
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

pub const DEBIAN: &str = "/usr/bin/python3.11";
pub const DEBIAN_STDLIB: &str = "/usr/lib/python3.11";

/// Whether the Debian python these tests build archives from is present.
pub fn have_debian() -> bool {
    let ok = Path::new(DEBIAN).exists() && Path::new(DEBIAN_STDLIB).is_dir();
    if !ok {
        eprintln!("note: {DEBIAN} absent, skipping");
    }
    ok
}

/// Write a PBS `install_only`-style tar (`python/bin/python3`, `python/lib/python3.11/`) of
/// Debian's python3.11 into `out`. Symlinks are followed, so Debian's /etc links become files.
pub fn write_pbs_tar<W: std::io::Write>(out: W) -> W {
    let mut tar = tar::Builder::new(out);
    tar.append_path_with_name(DEBIAN, "python/bin/python3.11")
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    tar.append_link(&mut h, "python/bin/python3", "python3.11")
        .unwrap();
    tar.append_dir_all("python/lib/python3.11", DEBIAN_STDLIB)
        .unwrap();
    tar.into_inner().unwrap()
}

/// A PBS-style .tar.gz of Debian's python3.11 at `path`, with `python` as the interpreter's
/// bytes and `extra` (path under `python/`, bytes) added.
pub fn write_pbs_tar_gz_with(path: &Path, python: &[u8], extra: &[(&str, &[u8])]) {
    let file = std::fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let add = |tar: &mut tar::Builder<_>, name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o755);
        tar.append_data(&mut h, name, data).unwrap();
    };
    add(&mut tar, "python/bin/python3.11", python);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    tar.append_link(&mut h, "python/bin/python3", "python3.11")
        .unwrap();
    tar.append_dir_all("python/lib/python3.11", DEBIAN_STDLIB)
        .unwrap();
    for (name, data) in extra {
        add(&mut tar, &format!("python/{name}"), data);
    }
    tar.into_inner().unwrap().finish().unwrap();
}

/// The PBS-style archive as .tar.gz at `path`.
pub fn write_pbs_tar_gz(path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    write_pbs_tar(gz).finish().unwrap();
}

/// Hex sha256 of a file.
pub fn sha256_file(path: &Path) -> String {
    pyk_protocol::Sha256::of(&std::fs::read(path).unwrap()).to_string()
}

/// Files under `dir` (recursively) whose names end with `suffix`.
pub fn files_under(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            out.extend(files_under(&path, suffix));
        } else if path.to_string_lossy().ends_with(suffix) {
            out.push(path);
        }
    }
    out
}

/// The highest GLIBC_x.y version that `readelf -V` reports for the ELF files under `root`,
/// or None where binutils is not installed: an independent check of the recorded floor.
pub fn glibc_floor_by_readelf(root: &Path) -> Option<String> {
    let mut best: Option<(u32, u32)> = None;
    let mut files = files_under(root, ".so");
    files.extend(files_under(root, ".so.0"));
    for entry in std::fs::read_dir(root.join("lib")).unwrap().flatten() {
        files.push(entry.path());
    }
    files.push(root.join("bin/python3"));
    for file in files {
        if !file.is_file() {
            continue;
        }
        let out = Command::new("readelf").arg("-V").arg(&file).output().ok()?;
        for word in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Some(v) = word.strip_prefix("GLIBC_") {
                let mut parts = v.split('.').map(|p| p.parse::<u32>());
                if let (Some(Ok(a)), Some(Ok(b))) = (parts.next(), parts.next()) {
                    best = best.max(Some((a, b)));
                }
            }
        }
    }
    best.map(|(a, b)| format!("{a}.{b}"))
}
