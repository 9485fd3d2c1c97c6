//! Installing runtime layers: hostile archives are refused, good ones land atomically.

use std::fs;
use std::path::Path;

use pyk_artifact::trailer::hex;
use pyk_artifact::unpack::{install, UnpackError};
use ruzstd::encoding::{compress_to_vec, CompressionLevel};
use sha2::{Digest, Sha256};

/// A tar entry written with a raw name, so paths the tar crate's builder refuses can be made.
fn entry(
    tar: &mut tar::Builder<Vec<u8>>,
    name: &str,
    kind: tar::EntryType,
    link: Option<&str>,
    data: &[u8],
) {
    let mut header = tar::Header::new_old();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(link) = link {
        header.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_entry_type(kind);
    header.set_mode(0o755);
    header.set_size(data.len() as u64);
    header.set_cksum();
    tar.append(&header, data).unwrap();
}

fn layer(entries: &[(&str, tar::EntryType, Option<&str>)]) -> (Vec<u8>, String) {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, kind, link) in entries {
        entry(
            &mut tar,
            name,
            *kind,
            *link,
            if kind.is_file() { b"data" } else { b"" },
        );
    }
    let bytes = compress_to_vec(&tar.into_inner().unwrap()[..], CompressionLevel::Fastest);
    let sha = hex(&Sha256::digest(&bytes));
    (bytes, sha)
}

use tar::EntryType::{Directory, Regular, Symlink};

fn refused(entries: &[(&str, tar::EntryType, Option<&str>)]) {
    let root = tempfile::tempdir().unwrap();
    let (bytes, sha) = layer(entries);
    match install(root.path(), &sha, &bytes) {
        Err(UnpackError::Hostile { .. }) => {}
        other => panic!("{entries:?} was not refused: {other:?}"),
    }
    // Nothing landed: not the runtime, not the escape target, no work directory.
    let left: Vec<_> = fs::read_dir(root.path().join("runtimes"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, [std::ffi::OsString::from(format!("{sha}.lock"))]);
    assert!(!root.path().join("evil").exists());
}

#[test]
fn refuses_entries_that_escape() {
    refused(&[("bin/", Directory, None), ("../evil", Regular, None)]);
    refused(&[("bin/../../evil", Regular, None)]);
    refused(&[("/tmp/pyk-test-absolute-evil", Regular, None)]);
    refused(&[
        ("lib/", Directory, None),
        ("lib/etc", Symlink, Some("/etc")),
    ]);
    refused(&[
        ("lib/", Directory, None),
        ("lib/up", Symlink, Some("../../evil")),
    ]);
    refused(&[("dev", tar::EntryType::Char, None)]);
}

#[test]
fn installs_good_layers_once_and_checks_the_hash() {
    let root = tempfile::tempdir().unwrap();
    let entries = [
        ("bin/", Directory, None),
        ("bin/python3.11", Regular, None),
        ("bin/python3", Symlink, Some("python3.11")),
    ];
    let (bytes, sha) = layer(&entries);
    let dir = install(root.path(), &sha, &bytes).unwrap();
    assert_eq!(fs::read(dir.join("bin/python3")).unwrap(), b"data");
    assert_eq!(dir, root.path().join("runtimes").join(&sha));
    // Already there: returned as is, without looking at the bytes.
    assert_eq!(install(root.path(), &sha, b"garbage").unwrap(), dir);

    let other = tempfile::tempdir().unwrap();
    let wrong = "0".repeat(64);
    match install(other.path(), &wrong, &bytes) {
        Err(UnpackError::Corrupt { expected, actual }) => {
            assert_eq!((expected, actual), (wrong.clone(), sha))
        }
        r => panic!("{r:?}"),
    }
    assert!(!Path::new(&other.path().join("runtimes").join(&wrong)).exists());
}
