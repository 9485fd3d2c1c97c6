//! Tokens and blob frames are standard Fernet: Python's `cryptography.fernet` reads what
//! pyk writes and pyk reads what it writes. Skipped (with a note) where the package is
//! not installed.

use std::io::{Read, Write};
use std::process::Command;

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use pyk_crypto::blob::{BlobReader, BlobWriter, MAGIC};
use pyk_crypto::{token, Key};

fn python(code: &str, args: &[&str]) -> Option<String> {
    let probe = Command::new("python3")
        .args(["-c", "import cryptography.fernet"])
        .output()
        .ok()?;
    if !probe.status.success() {
        eprintln!("skipped: python3 has no `cryptography` package");
        return None;
    }
    let out = Command::new("python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap().trim().to_owned())
}

#[test]
fn python_and_pyk_read_each_others_tokens() {
    let key = Key::from_config("a shared passphrase");
    // Python derives the same key from the passphrase and makes a request token.
    let Some(made_by_python) = python(
        "import base64, hashlib, sys; from cryptography.fernet import Fernet\n\
         k = base64.urlsafe_b64encode(hashlib.sha256(sys.argv[1].encode()).digest())\n\
         print(k.decode()); print(Fernet(k).encrypt(b'GET /v1/packages').decode())",
        &["a shared passphrase"],
    ) else {
        return;
    };
    let mut lines = made_by_python.lines();
    assert_eq!(lines.next(), Some(key.as_str()));
    let header = format!("Pyk {}", lines.next().unwrap());
    assert!(token::verify(&key, &header, "GET", "/v1/packages"));

    // An expired token (made 10 minutes ago) and one for another path are refused.
    let old = python(
        "import sys, time; from cryptography.fernet import Fernet\n\
         print(Fernet(sys.argv[1]).encrypt_at_time(b'GET /v1/packages', int(time.time()) - 600).decode())",
        &[key.as_str()],
    )
    .unwrap();
    assert!(!token::verify(
        &key,
        &format!("Pyk {old}"),
        "GET",
        "/v1/packages"
    ));
    assert!(!token::verify(&key, &header, "GET", "/v1/blobs/x"));

    // Python decrypts a token pyk made.
    let ours = token::authorization(&key, "PUT", "/v1/blobs/abc");
    let plain = python(
        "import sys; from cryptography.fernet import Fernet\n\
         print(Fernet(sys.argv[1]).decrypt(sys.argv[2].encode(), ttl=60).decode())",
        &[key.as_str(), ours.strip_prefix("Pyk ").unwrap()],
    )
    .unwrap();
    assert_eq!(plain, "PUT /v1/blobs/abc");
}

#[test]
fn blob_frames_are_fernet_tokens() {
    let key = Key::generate();
    let mut w = BlobWriter::new(&key, Vec::new()).unwrap();
    w.write_all(b"hello from pyk").unwrap();
    let (blob, _) = w.finish().unwrap();
    // The first frame, base64url-encoded, is a Fernet token holding b"D" + the data.
    let len = u32::from_be_bytes(blob[8..12].try_into().unwrap()) as usize;
    let frame = URL_SAFE.encode(&blob[12..12 + len]);
    let Some(plain) = python(
        "import sys; from cryptography.fernet import Fernet\n\
         print(Fernet(sys.argv[1]).decrypt(sys.argv[2].encode()).decode())",
        &[key.as_str(), &frame],
    ) else {
        return;
    };
    assert_eq!(plain, "Dhello from pyk");

    // And a blob whose frames Python encrypted reads back in pyk.
    let frames = python(
        "import base64, hashlib, struct, sys; from cryptography.fernet import Fernet\n\
         f = Fernet(sys.argv[1]); data = b'made by python'\n\
         end = b'E' + struct.pack('>Q', len(data)) + hashlib.sha256(data).digest()\n\
         out = b''\n\
         for p in (b'D' + data, end):\n    t = base64.urlsafe_b64decode(f.encrypt(p)); out += struct.pack('>I', len(t)) + t\n\
         print(base64.b64encode(out).decode())",
        &[key.as_str()],
    )
    .unwrap();
    let mut blob = MAGIC.to_vec();
    blob.extend(
        base64::engine::general_purpose::STANDARD
            .decode(frames)
            .unwrap(),
    );
    let mut out = String::new();
    BlobReader::new(&key, &blob[..])
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, "made by python");
}
