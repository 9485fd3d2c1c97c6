//! A damaged stored blob is never reported as present, and uploading the right bytes
//! again replaces it.

mod common;

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::FileExt;

use common::*;
use pyk_crypto::blob::BlobReader;

#[test]
fn a_damaged_blob_is_repaired_by_uploading_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let client = server.client();
    let plain = data(3, 200_000);
    let (sha, encrypted) = encrypt(&key(), &plain);
    assert_eq!(client.put_blob(&sha, &encrypted).status, 201);
    let path = format!("/v1/blobs/{sha}");
    assert_eq!(client.send("HEAD", &path, &[], ()).status, 200);

    // One byte changes on disk: the length stays, and so does the mtime.
    let file = dir.path().join("blobs").join(&sha[..2]).join(&sha);
    let mtime = fs::metadata(&file).unwrap().modified().unwrap();
    let f = File::options().write(true).open(&file).unwrap();
    f.write_all_at(b"\xff", 100_000).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    // HEAD now says "not here", so a publisher uploads it again.
    assert_eq!(client.send("HEAD", &path, &[], ()).status, 404);
    assert_eq!(client.put_blob(&sha, &encrypted).status, 200);
    assert_eq!(client.send("HEAD", &path, &[], ()).status, 200);
    let r = client.get(&path);
    let mut back = Vec::new();
    BlobReader::new(&key(), &r.body[..])
        .read_to_end(&mut back)
        .unwrap();
    assert!(back == plain);
    assert!(server.log().contains("is damaged"), "{}", server.log());

    // A blob the server has not verified since it started is re-read once, then known.
    drop(server);
    let server = Server::start(dir.path(), &[]);
    let client = server.client();
    assert_eq!(client.send("HEAD", &path, &[], ()).status, 200);
}
