//! Hand-made hostile app layers in a real artifact: symbolic links that climb out of the
//! layer only when taken together (in reverse order, and deep enough to reach `/`), and a
//! frame that declares 6 GiB. The launcher refuses the links and `pyk inspect` names
//! them; whatever a frame or the trailer claims, memory stays bounded.

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use pyk_artifact::trailer::{Role, Trailer};
use pyk_protocol::Sha256;

/// A copy of hello, in `dir`, whose app layer is `layer`, declaring `size` bytes and
/// `files` entries.
fn with_app_layer(dir: &Path, layer: &[u8], size: u64, files: u64) -> PathBuf {
    let original = fs::read(hello()).unwrap();
    let mut trailer = Trailer::read(&fs::File::open(hello()).unwrap()).unwrap();
    let app = trailer.layer(Role::App).unwrap().span;
    let mut bytes = original[..app.offset as usize].to_vec();
    bytes.extend_from_slice(layer);
    if let Some(lock) = &mut trailer.lock {
        bytes.extend_from_slice(&original[lock.span.offset as usize..lock.span.end() as usize]);
        lock.span.offset = app.offset + layer.len() as u64;
    }
    let entry = trailer
        .layers
        .iter_mut()
        .find(|l| l.role == Role::App)
        .unwrap();
    entry.span.len = layer.len() as u64;
    entry.sha256 = Sha256::of(layer);
    entry.size = size;
    entry.files = files;
    bytes.extend(trailer.encode().unwrap());
    let path = dir.join("hello");
    fs::write(&path, bytes).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A layer of `(path, link target)` symbolic links (and a `hello.py`), in this order.
fn links_layer(links: &[(&str, &str)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(2);
    tar.append_data(&mut header, "hello.py", &b"#\n"[..])
        .unwrap();
    for (path, target) in links {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_mode(0o777);
        header.set_size(0);
        tar.append_link(&mut header, path, target).unwrap();
    }
    zstd::encode_all(&tar.into_inner().unwrap()[..], 3).unwrap()
}

/// Runs `cmd` to its end: its exit status, stderr and peak resident memory in bytes.
// The child is reaped by `wait4`, which std's `wait` cannot replace: it alone gives the
// child's own resource usage.
#[allow(clippy::zombie_processes)]
fn run_measured(cmd: &mut Command) -> (std::process::ExitStatus, String, u64) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for the child this test owns.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as i32);
    let status = std::os::unix::process::ExitStatusExt::from_raw(status);
    (status, stderr, usage.ru_maxrss as u64 * 1024)
}

#[test]
fn symlink_chains_that_leave_together_are_refused() {
    let deep = "a/b/c/d/e/f/g/h";
    let x = format!("{deep}/u/{}", "../".repeat(9));
    let u = format!("{deep}/u");
    let chains: [&[(&str, &str)]; 2] = [
        // Each alone stays inside; `a/up`, made after, turns x into the cache's root.
        &[("x", "a/up/../.."), ("a/up", "..")],
        // u is the layer's root, so x climbs nine levels above it: `/` from any cache.
        &[("x", &x), (&u, "../../../../../../../..")],
    ];
    for chain in chains {
        let dir = tempfile::tempdir().unwrap();
        let hostile = with_app_layer(dir.path(), &links_layer(chain), 2, 20);
        let cache = dir.path().join("cache");
        let out = run(&mut artifact(&hostile, &cache));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{chain:?} ran");
        assert!(
            err.contains("\"x\": link target leaves the layer") && err.trim().lines().count() == 1,
            "{chain:?}: {err}"
        );
        // Nothing of the app layer was trusted.
        let apps: Vec<_> = fs::read_dir(cache.join("apps-v1"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(
            apps.iter().all(|n| n.to_string_lossy().ends_with(".lock")),
            "{apps:?}"
        );

        let err = fails(pyk().arg("inspect").arg(&hostile));
        assert!(
            err.contains("the app layer would be refused")
                && err.contains("\"x\": link target leaves the layer"),
            "{chain:?}: {err}"
        );
    }
}

/// A zstd frame whose header declares `declared` bytes: `head` as a raw block, then
/// `zeros` zero bytes as RLE blocks (four bytes per 128 KiB), then the end.
fn frame(declared: u64, head: &[u8], zeros: u64) -> Vec<u8> {
    let block = |last: bool, kind: u32, size: u32| {
        let h = u32::from(last) | (kind << 1) | (size << 3);
        h.to_le_bytes()[..3].to_vec()
    };
    let mut f = vec![0x28, 0xb5, 0x2f, 0xfd];
    // An 8-byte content size, a window of 2^(10+7) = 128 KiB.
    f.push(0xc0);
    f.push(7 << 3);
    f.extend(declared.to_le_bytes());
    let mut left = zeros;
    f.extend(block(left == 0, 0, head.len() as u32));
    f.extend(head);
    while left > 0 {
        let n = left.min(128 << 10);
        left -= n;
        f.extend(block(left == 0, 1, n as u32));
        f.push(0);
    }
    f
}

#[test]
fn a_frame_declaring_6_gib_takes_bounded_memory() {
    const GIB: u64 = 1 << 30;
    // One file of 6 GiB as the tar header and the frame header say; the frame holds 256
    // MiB of it (to keep the test fast), which the old decoder put in memory whole.
    let mut header = tar::Header::new_gnu();
    header.set_path("big").unwrap();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(6 * GIB);
    header.set_cksum();
    let layer = frame(6 * GIB + 512 + 1024, header.as_bytes(), 256 << 20);
    assert!(layer.len() < 16 << 10);
    let dir = tempfile::tempdir().unwrap();
    let hostile = with_app_layer(dir.path(), &layer, 6 * GIB, 10);
    let bound = 64 << 20;

    let (status, err, rss) = run_measured(&mut artifact(&hostile, &dir.path().join("cache")));
    assert!(
        !status.success() && err.trim().lines().count() == 1,
        "{err}"
    );
    assert!(
        rss < bound,
        "the launcher peaked at {} MiB: {err}",
        rss >> 20
    );

    let (status, err, rss) = run_measured(pyk().arg("inspect").arg(&hostile));
    assert!(!status.success() && err.contains("app layer"), "{err}");
    assert!(
        rss < bound,
        "pyk inspect peaked at {} MiB: {err}",
        rss >> 20
    );

    let (status, err, rss) = run_measured(pyk().arg("info").arg(&hostile));
    assert!(!status.success(), "{err}");
    assert!(rss < bound, "pyk info peaked at {} MiB: {err}", rss >> 20);
}
