//! Tokens and blob frames are standard Fernet: Python's `cryptography.fernet` reads what
//! pyk writes and pyk reads what it writes. Skipped (with a note) where the package is
//! not installed.

use std::io::{Read, Write};
use std::process::Command;

use base64::engine::general_purpose::URL_SAFE;
use base64::Engine;
use pyk_crypto::blob::{BlobReader, BlobWriter, MAGIC};
use pyk_crypto::{token, Key};
use pyk_protocol::Sha256;

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

/// The token a Python client makes: the canonical string of `pyk_protocol::request`,
/// encrypted with `cryptography.fernet`.
const PYTHON_TOKEN: &str =
    "import base64, hashlib, sys, time; from cryptography.fernet import Fernet\n\
    k = base64.urlsafe_b64encode(hashlib.sha256(sys.argv[1].encode()).digest())\n\
    body = sys.argv[4].encode()\n\
    field = hashlib.sha256(body).hexdigest() if body else '-'\n\
    plain = 'pyk-req-v2\\n%s\\n%s\\n%s' % (sys.argv[2], sys.argv[3], field)\n\
    at = int(time.time()) + int(sys.argv[5])\n\
    print(k.decode()); print(Fernet(k).encrypt_at_time(plain.encode(), at).decode())";

fn python_token(method: &str, target: &str, body: &str, offset: i64) -> Option<(String, String)> {
    let out = python(
        PYTHON_TOKEN,
        &[
            "a shared passphrase",
            method,
            target,
            body,
            &offset.to_string(),
        ],
    )?;
    let mut lines = out.lines();
    let key = lines.next().unwrap().to_owned();
    Some((key, format!("Pyk {}", lines.next().unwrap())))
}

#[test]
fn python_and_pyk_read_each_others_tokens() {
    let key = Key::from_config("a shared passphrase");
    // Python derives the same key from the passphrase and makes a request token.
    let Some((python_key, header)) = python_token("GET", "/v1/packages?x=1", "", 0) else {
        return;
    };
    assert_eq!(python_key, key.as_str());
    let made = token::parse(&header).unwrap();
    assert_eq!(
        made.open(&key),
        Some(token::Claims {
            method: "GET".into(),
            target: "/v1/packages?x=1".into(),
            body: None,
        })
    );
    assert_eq!(token::check_time(made.timestamp, now()), Ok(()));

    // With a body: the field is the body's sha256.
    let body = r#"{"version":"2"}"#;
    let (_, header) = python_token("POST", "/v1/packages/run/foo/promote", body, 0).unwrap();
    let claims = token::parse(&header).unwrap().open(&key).unwrap();
    assert_eq!(claims.body, Some(Sha256::of(body.as_bytes())));

    // A token made 10 minutes ago authenticates, and its time says how far off it is.
    let (_, old) = python_token("GET", "/v1/packages", "", -600).unwrap();
    let old = token::parse(&old).unwrap();
    assert!(old.open(&key).is_some());
    let skew = token::check_time(old.timestamp, now()).unwrap_err();
    assert!((-602..=-598).contains(&skew.0), "{skew:?}");

    // Python decrypts a token pyk made, to the documented string.
    let blob = Sha256::of(b"abc");
    let target = format!("/v1/blobs/{blob}");
    let ours = token::authorization(&key, "PUT", &target, Some(&blob));
    let plain = python(
        "import sys; from cryptography.fernet import Fernet\n\
         print(repr(Fernet(sys.argv[1]).decrypt(sys.argv[2].encode(), ttl=60).decode()))",
        &[key.as_str(), ours.strip_prefix("Pyk ").unwrap()],
    )
    .unwrap();
    assert_eq!(plain, format!("'pyk-req-v2\\nPUT\\n{target}\\n{blob}'"));
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
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
