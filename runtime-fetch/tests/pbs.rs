//! The python-build-standalone download path against a real local HTTP server
//! (`python3 -m http.server`) acting as a mirror with the `{tag}/{file}` layout.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use pyk_runtime_fetch::{fetch_pbs_release, FetchError, PythonRequest, PINNED_RELEASE};

const TRIPLE: &str = "x86_64-unknown-linux-gnu";

/// A `python3 -m http.server` child serving a directory; killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let mut child = Command::new("/usr/bin/python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                "0",
                "--directory",
            ])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
        let port = line
            .split_whitespace()
            .skip_while(|w| *w != "port")
            .nth(1)
            .unwrap_or_else(|| panic!("unexpected http.server output {line:?}"))
            .to_string();
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn asset_name(version: &str, tag: &str) -> String {
    format!("cpython-{version}+{tag}-{TRIPLE}-install_only_stripped.tar.gz")
}

#[test]
fn fetches_verifies_and_refuses_from_a_mirror() {
    if !common::have_debian() || std::env::consts::ARCH != "x86_64" {
        return;
    }
    let mirror = tempfile::tempdir().unwrap();
    let built = mirror.path().join("built.tar.gz");
    common::write_pbs_tar_gz(&built);
    let real_sha = common::sha256_file(&built);

    // A release whose SHA256SUMS is right, one whose SHA256SUMS lies, and the newest pinned
    // release, whose asset here is not the pinned one but whose SHA256SUMS agrees with it.
    for (tag, sha) in [
        ("29990101", real_sha.clone()),
        ("29990102", "0".repeat(64)),
        (PINNED_RELEASE, real_sha.clone()),
    ] {
        let dir = mirror.path().join(tag);
        std::fs::create_dir(&dir).unwrap();
        let version = if tag == PINNED_RELEASE {
            "3.14.7"
        } else {
            "3.11.2"
        };
        let name = asset_name(version, tag);
        std::fs::copy(&built, dir.join(&name)).unwrap();
        let sums = format!("{}  other-file.tar.gz\n{sha}  {name}\n", "1".repeat(64));
        std::fs::write(dir.join("SHA256SUMS"), sums).unwrap();
    }
    let server = Server::start(mirror.path());
    let req: PythonRequest = "3.11.2".parse().unwrap();

    // Good release: downloaded, verified against SHA256SUMS, imported, runs anywhere.
    let (_cache, store) = common::store();
    let layer = fetch_pbs_release(
        &store,
        &req,
        Some(&server.url),
        Some("29990101"),
        TRIPLE,
        &common::quiet(),
    )
    .unwrap();
    assert_eq!(layer.python.to_string(), "3.11.2");
    assert_eq!(
        layer.source,
        format!("python-build-standalone 29990101 cpython-3.11.2 {TRIPLE}")
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let runtime = common::unpack(&layer, &elsewhere.path().join("rt"));
    let out = common::run_python(
        &runtime,
        "import sys, json, ssl, sqlite3; print(sys.prefix)",
    );
    assert_eq!(out.trim(), runtime.to_str().unwrap());
    // Asking again reuses the layer.
    let again = fetch_pbs_release(
        &store,
        &req,
        Some(&format!("{}/", server.url)),
        Some("29990101"),
        TRIPLE,
        &common::quiet(),
    )
    .unwrap();
    assert_eq!(again, layer);

    // Lying SHA256SUMS: a mismatch naming the URL and both hashes, and nothing cached.
    let (cache, store) = common::store();
    let err = fetch_pbs_release(
        &store,
        &req,
        Some(&server.url),
        Some("29990102"),
        TRIPLE,
        &common::quiet(),
    )
    .unwrap_err();
    match &err {
        FetchError::ChecksumMismatch {
            url,
            expected,
            actual,
        } => {
            assert!(url.ends_with(&asset_name("3.11.2", "29990102").replace('+', "%2B")));
            assert_eq!(expected, &"0".repeat(64));
            assert_eq!(actual, &real_sha);
        }
        other => panic!("expected a checksum mismatch, got {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&real_sha) && msg.contains(&"0".repeat(64)),
        "{msg}"
    );
    assert!(store.list().unwrap().is_empty());
    let left: Vec<_> = std::fs::read_dir(cache.path().join("layers-v2"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "cache must stay empty, found {left:?}");

    // A version the release does not have: a 404 that names the file.
    let err = fetch_pbs_release(
        &store,
        &"3.11.9".parse().unwrap(),
        Some(&server.url),
        Some("29990101"),
        TRIPLE,
        &common::quiet(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, FetchError::NotFound { .. }), "{msg}");
    assert!(
        msg.contains("cpython-3.11.9") && msg.contains("404"),
        "{msg}"
    );

    // The pinned release does not have 3.11.2 at all: refused before any request.
    let err = fetch_pbs_release(
        &store,
        &req,
        Some(&server.url),
        None,
        TRIPLE,
        &common::quiet(),
    )
    .unwrap_err();
    assert!(matches!(err, FetchError::UnknownVersion { .. }), "{err}");

    // A pinned asset is checked against the pin, never against what the mirror says.
    let err = fetch_pbs_release(
        &store,
        &"3.14".parse().unwrap(),
        Some(&server.url),
        None,
        TRIPLE,
        &common::quiet(),
    )
    .unwrap_err();
    match &err {
        FetchError::ChecksumMismatch {
            expected, actual, ..
        } => {
            assert_eq!(
                expected,
                "cefba034445d2875408d1fd4d5700ae6731563aeb54dcb39fd8164ab5c457533"
            );
            assert_eq!(actual, &real_sha);
        }
        other => panic!("expected a checksum mismatch against the pin, got {other}"),
    }
    assert!(store.list().unwrap().is_empty());
}
