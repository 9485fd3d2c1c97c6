//! The server as a process: killed mid-upload, stopped gracefully, slow clients.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use ureq::SendBody;

/// An encrypted blob sent slowly: `fast` bytes at once, then a trickle.
struct Slow {
    data: Vec<u8>,
    pos: usize,
    fast: usize,
    pause: Duration,
}

impl Read for Slow {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.fast {
            std::thread::sleep(self.pause);
        }
        let n = buf
            .len()
            .min(self.data.len() - self.pos)
            .min(if self.pos < self.fast {
                self.fast
            } else {
                4096
            });
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn tmp_bytes(store: &std::path::Path) -> u64 {
    std::fs::read_dir(store.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigkill_mid_upload_leaves_the_old_version_intact() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]);
    let v1 = server
        .client()
        .publish_parts("run", "app", &[b"runtime", b"app v1"]);

    // A new version's blob, cut off by a SIGKILL while the server holds part of it.
    let (sha, encrypted) = encrypt(&key(), &data(7, 1_000_000));
    let base = server.base.clone();
    let uploader = std::thread::spawn(move || {
        let client = Client::new(&base, key());
        let body = Slow {
            data: encrypted,
            pos: 0,
            fast: 300_000,
            pause: Duration::from_millis(50),
        };
        let path = format!("/v1/blobs/{sha}");
        let auth =
            pyk_crypto::token::authorization(&key(), "PUT", &path, sha.parse().ok().as_ref());
        client
            .try_send(
                "PUT",
                &path,
                Some(&auth),
                &[],
                SendBody::from_owned_reader(body),
            )
            .ok()
            .map(|r| r.status)
    });
    wait_for("a partial upload in tmp/", || {
        tmp_bytes(dir.path()) >= 200_000
    });
    server.sigkill();
    assert_eq!(
        uploader.join().unwrap(),
        None,
        "the upload cannot have succeeded"
    );
    assert!(tmp_bytes(dir.path()) > 0, "debris is left behind");

    let server = Server::start(dir.path(), &[]);
    let client = server.client();
    assert_eq!(client.manifest("run", "app").unwrap(), v1.manifest);
    for blob in &v1.manifest.blobs {
        assert_eq!(
            client.get(&format!("/v1/blobs/{}", blob.sha256)).status,
            200
        );
    }
    let (sha, _) = encrypt(&key(), &data(7, 1_000_000));
    assert_eq!(
        client
            .send("HEAD", &format!("/v1/blobs/{sha}"), &[], ())
            .status,
        404
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0,
        "debris cleared at start"
    );
    assert_eq!(
        client
            .publish_parts("run", "app", &[b"runtime", b"app v2"])
            .version,
        "2"
    );
}

#[test]
fn sigterm_finishes_requests_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]);
    server.client().publish_parts("run", "app", &[b"v1"]);

    let plain = data(8, 400_000);
    let (sha, encrypted) = encrypt(&key(), &plain);
    let base = server.base.clone();
    let uploader = std::thread::spawn(move || {
        let client = Client::new(&base, key());
        let body = Slow {
            data: encrypted,
            pos: 0,
            fast: 100_000,
            pause: Duration::from_millis(10),
        };
        let path = format!("/v1/blobs/{sha}");
        let auth =
            pyk_crypto::token::authorization(&key(), "PUT", &path, sha.parse().ok().as_ref());
        client
            .send_raw(
                "PUT",
                &path,
                Some(&auth),
                &[],
                SendBody::from_owned_reader(body),
            )
            .status
    });
    let base = server.base.clone();
    let watcher = std::thread::spawn(move || {
        let start = Instant::now();
        let status = Client::new(&base, key())
            .get("/v1/packages/run/app/watch?after=1&timeout=60")
            .status;
        (status, start.elapsed())
    });
    wait_for("the upload to start", || tmp_bytes(dir.path()) >= 50_000);
    server.signal("TERM");
    // The watcher is told to come back, at once; the upload completes.
    let (status, waited) = watcher.join().unwrap();
    assert_eq!(status, 304);
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert_eq!(uploader.join().unwrap(), 201);
    let exit = server
        .wait_exit(Duration::from_secs(20))
        .expect("server did not stop");
    assert!(exit.success(), "{exit:?}");
    assert!(server.log().contains("pyk: stopped"));

    let server = Server::start(dir.path(), &[]);
    let r = server
        .client()
        .get(&format!("/v1/blobs/{}", sha256_hex(&plain)));
    assert_eq!(r.status, 200);
}

#[test]
fn slow_headers_are_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let start = Instant::now();
    stream
        .write_all(b"GET /v1/packages HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut buf = [0u8; 256];
    // The server closes (perhaps after a 408) without ever seeing the end of the head.
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(20),
        "{took:?}"
    );
    // Meanwhile others were served.
    assert_eq!(server.client().get("/v1/packages").status, 200);
}
