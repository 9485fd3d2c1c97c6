//! Local runtime archives (`--runtime PATH`): both compressions, concurrent imports into one
//! store, and hostile archives.

mod common;

use std::path::Path;

use pyk_runtime_fetch::{import_archive, FetchError};

#[test]
fn tar_zst_archive_imports_and_concurrent_imports_agree() {
    if !common::have_debian() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("python.tar.zst");
    let file = std::fs::File::create(&archive).unwrap();
    common::write_pbs_tar(zstd::stream::write::Encoder::new(file, 1).unwrap())
        .finish()
        .unwrap();

    // Two importers racing on one store both succeed and agree.
    let (_cache, store) = common::store();
    let layers: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| s.spawn(|| import_archive(&store, &archive, &common::quiet())))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    assert_eq!(layers[0].sha256, layers[1].sha256);
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 1);
    // Named by the archive's bytes, so the next import of it reuses the layer.
    assert!(
        listed[0]
            .source
            .starts_with("archive python.tar.zst (sha256 "),
        "{}",
        listed[0].source
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let runtime = common::unpack(&listed[0], &elsewhere.path().join("rt"));
    let out = common::run_python(&runtime, "import sys; print(sys.prefix)");
    assert_eq!(out.trim(), runtime.to_str().unwrap());
}

/// A raw tar entry: name, type, link target.
type RawEntry<'a> = (&'a [u8], tar::EntryType, &'a [u8]);

/// A .tar.gz with raw entries, bypassing the tar crate's own path checks.
fn hostile(path: &Path, entries: &[RawEntry]) {
    let file = std::fs::File::create(path).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, kind, link) in entries {
        let mut h = tar::Header::new_gnu();
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name);
        gnu.linkname[..link.len()].copy_from_slice(link);
        h.set_entry_type(*kind);
        h.set_mode(0o755);
        let data: &[u8] = if *kind == tar::EntryType::Regular {
            b"#!/bin/sh\necho pwned\n"
        } else {
            b""
        };
        h.set_size(data.len() as u64);
        h.set_cksum();
        tar.append(&h, data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

#[test]
fn hostile_archives_are_refused() {
    use tar::EntryType::{Directory, Link, Regular, Symlink};
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &[RawEntry], &str)] = &[
        (
            "dotdot",
            &[
                (b"python/", Directory, b""),
                (b"python/../evil", Regular, b""),
            ],
            "..",
        ),
        ("absolute", &[(b"/tmp/pyk-evil", Regular, b"")], "absolute"),
        (
            "outside",
            &[(b"other/bin/python3", Regular, b"")],
            "python/",
        ),
        (
            "symlink-abs",
            &[(b"python/lib", Symlink, b"/etc")],
            "outside the runtime",
        ),
        (
            "symlink-up",
            &[(b"python/bin/python3", Symlink, b"../../../../bin/sh")],
            "outside the runtime",
        ),
        (
            "hardlink",
            &[(b"python/passwd", Link, b"/etc/passwd")],
            "hard link",
        ),
        (
            "through-symlink",
            &[
                (b"python/x", Symlink, b"."),
                (b"python/x/bin/python3", Regular, b""),
            ],
            "through a symlink",
        ),
    ];
    for (name, entries, needle) in cases {
        let archive = dir.path().join(format!("{name}.tar.gz"));
        hostile(&archive, entries);
        let (cache, store) = common::store();
        let err = import_archive(&store, &archive, &common::quiet()).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, FetchError::UnsafeArchive { .. }),
            "{name}: {msg}"
        );
        assert!(msg.contains(needle), "{name}: {msg}");
        assert!(msg.contains(archive.to_str().unwrap()), "{name}: {msg}");
        assert!(store.list().unwrap().is_empty());
        assert!(!cache.path().join("evil").exists());
        assert!(!cache.path().join("layers-v2/evil").exists());
    }
    assert!(!Path::new("/tmp/pyk-evil").exists());

    let junk = dir.path().join("junk.tar.gz");
    std::fs::write(&junk, b"definitely not an archive").unwrap();
    let (_cache, store) = common::store();
    let err = import_archive(&store, &junk, &common::quiet()).unwrap_err();
    assert!(matches!(err, FetchError::BadArchive { .. }), "{err}");
}

/// `data` (an ELF file) with one more DT_NEEDED entry.
fn add_needed(data: &[u8], soname: &str) -> Vec<u8> {
    let mut rewriter = object_rewrite::Rewriter::read(data).unwrap();
    rewriter
        .elf_add_needed(&[soname.as_bytes().to_vec()])
        .unwrap();
    let mut out = Vec::new();
    rewriter.write(&mut out).unwrap();
    out
}

#[test]
fn a_missing_library_fails_the_interpreter_but_not_an_extension_module() {
    if !common::have_debian() || std::env::consts::ARCH != "x86_64" {
        return;
    }
    const ABSENT: &str = "libpyk-absent.so.7";
    let dir = tempfile::tempdir().unwrap();
    let python = std::fs::read(common::DEBIAN).unwrap();
    let module =
        std::fs::read("/usr/lib/python3.11/lib-dynload/_bz2.cpython-311-x86_64-linux-gnu.so")
            .unwrap();
    let odd = "lib/python3.11/lib-dynload/_pykodd.cpython-311-x86_64-linux-gnu.so";

    // An extension module needing it: imported, noted, the module kept, nothing bundled.
    let archive = dir.path().join("module.tar.gz");
    common::write_pbs_tar_gz_with(&archive, &python, &[(odd, &add_needed(&module, ABSENT))]);
    let (_cache, store) = common::store();
    let layer = import_archive(&store, &archive, &common::quiet()).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let runtime = common::unpack(&layer, &elsewhere.path().join("rt"));
    assert!(runtime.join(odd).is_file());
    assert!(!runtime.join("lib").join(ABSENT).exists());
    common::run_python(&runtime, "import bz2, ssl");

    // The interpreter needing it (it cannot even start here): refused, in one line naming
    // the library and the interpreter.
    let archive = dir.path().join("python.tar.gz");
    common::write_pbs_tar_gz_with(&archive, &add_needed(&python, ABSENT), &[]);
    let (_cache, store) = common::store();
    let err = import_archive(&store, &archive, &common::quiet()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(ABSENT) && msg.contains("bin/python3"), "{msg}");
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(store.list().unwrap().is_empty());
}
