//! Installing layers: hostile archives are refused, good ones land once, atomically.

use std::fs;
use std::path::PathBuf;

use pyk_artifact::extract::ExtractError;
use pyk_artifact::install::install;
use pyk_artifact::trailer::{Layer, Role, Span};
use pyk_cache::{Bucket, Cache, FillError, RootEnv};
use pyk_protocol::Sha256;
use tar::EntryType::{self, Directory, Link, Regular, Symlink};

/// A tar entry written with a raw name, so paths the tar crate's builder refuses can be made.
fn entry(tar: &mut tar::Builder<Vec<u8>>, name: &str, kind: EntryType, link: Option<&str>) {
    let data: &[u8] = if kind.is_file() { b"data" } else { b"" };
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

type Entries<'a> = [(&'a str, EntryType, Option<&'a str>)];

/// The layer (one zstd frame) and its trailer record, with generous caps.
fn layer(entries: &Entries) -> (Vec<u8>, Layer) {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, kind, link) in entries {
        entry(&mut tar, name, *kind, *link);
    }
    let bytes = zstd::encode_all(&tar.into_inner().unwrap()[..], 1).unwrap();
    let layer = Layer {
        role: Role::Runtime,
        span: Span {
            offset: 0,
            len: bytes.len() as u64,
        },
        sha256: Sha256::of(&bytes),
        size: 1000,
        files: 100,
        name: String::new(),
    };
    (bytes, layer)
}

fn cache() -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let env = RootEnv {
        pyk_cache_dir: Some(dir.path().join("cache").into()),
        ..RootEnv::default()
    };
    let cache = env.open().unwrap();
    (dir, cache)
}

fn left(cache: &Cache) -> Vec<String> {
    let mut v: Vec<_> = fs::read_dir(cache.bucket(Bucket::Runtimes))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn refused(entries: &Entries, why: &str) {
    let (dir, cache) = cache();
    let (bytes, layer) = layer(entries);
    match install(&cache, &layer, &bytes) {
        Err(FillError::Fill(ExtractError::Hostile { why: w, .. })) if w.contains(why) => {}
        other => panic!("{entries:?} was not refused for {why:?}: {other:?}"),
    }
    // Nothing landed: not the entry, not the escape target, no work directory.
    assert_eq!(left(&cache), [format!("{}.lock", layer.key())]);
    assert!(!dir.path().join("evil").exists());
    assert!(!dir.path().join("cache").join("evil").exists());
}

#[test]
fn refuses_entries_that_escape_or_do_not_belong() {
    refused(
        &[("bin/", Directory, None), ("../evil", Regular, None)],
        "leaves",
    );
    refused(&[("bin/../../evil", Regular, None)], "leaves");
    refused(&[("/tmp/pyk-test-absolute-evil", Regular, None)], "leaves");
    refused(&[("lib/etc", Symlink, Some("/etc"))], "leaves");
    refused(&[("lib/up", Symlink, Some("../../evil"))], "leaves");
    // Each link alone stays inside; followed through the first, the second climbs out.
    refused(
        &[
            ("a/up", Symlink, Some("..")),
            ("x", Symlink, Some("a/up/../..")),
        ],
        "leaves",
    );
    // The same in reverse order: `a/up`, made after x, changes what x means.
    refused(
        &[
            ("x", Symlink, Some("a/up/../..")),
            ("a/up", Symlink, Some("..")),
        ],
        "leaves",
    );
    // A file under a file.
    refused(
        &[("f", Regular, None), ("f/g", Regular, None)],
        "inside a file",
    );
    // A link made first and a file written through it.
    refused(
        &[
            ("a/up", Symlink, Some("..")),
            ("a/up/b", Symlink, Some("c")),
        ],
        "inside a symbolic link",
    );
    refused(&[("dev", EntryType::Char, None)], "not a file");
    refused(
        &[("f", Regular, None), ("g", Link, Some("f"))],
        "not a file",
    );
    refused(
        &[("f", Regular, None), ("f", Regular, None)],
        "second entry",
    );
}

#[test]
fn caps_what_a_layer_may_write() {
    let (_d, cache) = cache();
    let (bytes, mut layer) = layer(&[("a", Regular, None), ("b", Regular, None)]);
    layer.size = 7;
    let err = install(&cache, &layer, &bytes).unwrap_err();
    assert!(err.to_string().contains("more than the 7 bytes"), "{err}");
    layer.size = 8;
    layer.files = 1;
    let err = install(&cache, &layer, &bytes).unwrap_err();
    assert!(err.to_string().contains("more than the 1 entries"), "{err}");
    assert_eq!(left(&cache), [format!("{}.lock", layer.key())]);
}

#[test]
fn installs_good_layers_once_and_checks_the_hash() {
    let (_d, cache) = cache();
    let entries = [
        ("bin/", Directory, None),
        ("bin/python3.11", Regular, None),
        ("bin/python3", Symlink, Some("python3.11")),
    ];
    let (bytes, layer) = layer(&entries);
    drop(install(&cache, &layer, &bytes).unwrap());
    let dir: PathBuf = cache.entry(Bucket::Runtimes, &layer.key());
    assert_eq!(fs::read(dir.join("bin/python3")).unwrap(), b"data");
    // Already there: held as is, without looking at the bytes.
    drop(install(&cache, &layer, b"garbage").unwrap());

    let (_d, other) = self::cache();
    let mut wrong = layer.clone();
    wrong.sha256 = Sha256::from_bytes([0; 32]);
    match install(&other, &wrong, &bytes) {
        Err(FillError::Fill(ExtractError::Corrupt {
            expected, actual, ..
        })) => assert_eq!((expected, actual), (wrong.key(), layer.key())),
        r => panic!("{r:?}"),
    }
    assert!(!other.entry(Bucket::Runtimes, &wrong.key()).exists());
}
