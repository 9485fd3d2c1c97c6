//! What tools read (issue 23): every `--json` output parses, with `format` and the keys
//! docs/formats.md documents; and the documented exit codes, against a real server: 2
//! for usage, 77 for a refusal of who asks (wrong key, read key writing, untrusted
//! signer), 69 when the server is down and nothing is cached, the program's own code
//! passed through, 1 for the rest.

mod common;

use std::process::Command;

use common::repo::*;
use common::*;
use serde_json::Value;

/// Runs `cmd`, which must succeed, and parses its stdout as one JSON object with
/// `format` 1 and every key of `keys`.
fn object(cmd: &mut Command, keys: &[&str]) -> Value {
    let out = ok(cmd);
    let value: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    assert_eq!(value["format"], 1, "{out}");
    has(&value, keys);
    value
}

fn has(value: &Value, keys: &[&str]) {
    for key in keys {
        assert!(value.get(key).is_some(), "no {key:?} in {value}");
    }
}

fn code(cmd: &mut Command) -> Option<i32> {
    let out = run(cmd);
    assert!(!out.status.success());
    out.status.code()
}

#[test]
fn every_json_output_parses_with_its_documented_keys() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    let client = Client::new(&server);
    ok(client.pyk().arg("app"));

    let list = object(
        client.pyk().args(["list", "--json"]),
        &["server", "packages"],
    );
    let packages = list["packages"].as_array().unwrap();
    assert_eq!(packages.len(), 1, "{list}");
    has(
        &packages[0],
        &["kind", "name", "latest", "size", "published"],
    );
    assert_eq!(packages[0]["name"], "app");
    assert_eq!(packages[0]["latest"], "1");

    let versions = object(
        client.pyk().args(["versions", "app", "--json"]),
        &["kind", "name", "localname", "latest", "versions"],
    );
    let v = &versions["versions"][0];
    has(
        v,
        &[
            "version",
            "latest",
            "published",
            "publisher",
            "size",
            "yanked",
            "artifact_sha256",
            "content",
            "signed_by",
            "promoted",
        ],
    );
    assert_eq!(v["latest"], true);
    assert!(v["promoted"].as_u64().unwrap() > 0, "{v}");
    assert!(v["signed_by"].as_str().unwrap().starts_with("pyk-ed25519:"));

    let inspect = object(
        client.pyk().args(["inspect", "app", "--json"]),
        &[
            "file", "kind", "name", "size", "entry", "built", "python", "runtime", "glibc",
            "layers", "lock", "ok",
        ],
    );
    assert_eq!(inspect["ok"], true);
    assert_eq!(inspect["name"], "app");
    for layer in inspect["layers"].as_array().unwrap() {
        has(
            layer,
            &["role", "sha256", "offset", "len", "size", "files", "status"],
        );
        assert_eq!(layer["status"], "ok");
    }
    // A tampered file: the object still prints, says which layer, and the exit fails.
    let file = project(&[]);
    let artifact = file.path().join("app");
    ok(client.pyk().args(["pull", "app", "-o"]).arg(&artifact));
    let mut bytes = std::fs::read(&artifact).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&artifact, &bytes).unwrap();
    let out = run(client.pyk().arg("inspect").arg(&artifact).arg("--json"));
    assert_eq!(out.status.code(), Some(1));
    let damaged: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(damaged["ok"], false);
    assert!(damaged["layers"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["status"] == "damaged"));

    let info = object(
        client.pyk().args(["info", "app", "--json"]),
        &["python", "modules"],
    );
    has(&info["modules"][0], &["name", "file"]);
    object(
        client.pyk().args(["info", "app", "app", "--json"]),
        &["python", "modules"],
    );

    let cache = object(client.pyk().args(["cache", "list", "--json"]), &["caches"]);
    let root = &cache["caches"][0];
    has(root, &["root", "entries"]);
    let entries = root["entries"].as_array().unwrap();
    assert!(!entries.is_empty(), "{cache}");
    for entry in entries {
        has(
            entry,
            &["bucket", "key", "size", "files", "last_use", "in_use"],
        );
    }

    let runtimes = object(
        client.pyk().args(["runtime", "list", "--json"]),
        &["layers_dir", "layers", "unpacked_dir", "unpacked"],
    );
    let unpacked = runtimes["unpacked"].as_array().unwrap();
    assert_eq!(unpacked.len(), 1, "{runtimes}");
    has(
        &unpacked[0],
        &["sha256", "python", "size", "last_use", "in_use"],
    );
    let layers = object(
        pyk().args(["runtime", "list", "--json"]),
        &["layers", "unpacked"],
    );
    has(
        &layers["layers"][0],
        &[
            "sha256", "python", "arch", "glibc", "source", "size", "created",
        ],
    );
}

#[test]
fn exit_codes_say_what_kind_of_failure() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());

    // Usage: clap's own.
    let client = Client::new(&server);
    assert_eq!(code(client.pyk().args(["list", "--no-such-flag"])), Some(2));
    // The program's own code, passed through (`app fail` exits 3).
    assert_eq!(code(client.pyk().args(["app", "fail"])), Some(3));
    // A repository's refusal is an ordinary failure.
    assert_eq!(code(client.pyk().args(["versions", "nosuch"])), Some(1));

    // Refused for who asks: a wrong key; a read key writing; an untrusted signer.
    let mut wrong = Client::new(&server);
    wrong.key = "not the key".into();
    assert_eq!(code(wrong.pyk().arg("list")), Some(77));
    assert_eq!(code(wrong.pyk().arg("app")), Some(77));
    let (_dir2, locked) = {
        let dir = tempfile::tempdir().unwrap();
        let s = Server::start_with_keys(&dir.path().join("pyk.db"), 0, KEY, Some("write"));
        (dir, s)
    };
    let reader = Client::new(&locked);
    assert_eq!(
        code(reader.pyk().args(["push", "f", "1", "/etc/hostname"])),
        Some(77)
    );
    let doubter = Client::new(&server);
    let stranger = pyk_crypto::sign::SigningKey::generate().unwrap();
    doubter.trust(&[&stranger.public().to_string()]);
    assert_eq!(code(doubter.pyk().arg("app")), Some(77));

    // The server down: nothing cached is 69; something cached runs (0) with a warning.
    let fresh = Client::new(&server);
    ok(client.pyk().arg("app"));
    drop(server);
    assert_eq!(code(fresh.pyk().arg("app")), Some(69));
    assert_eq!(code(fresh.pyk().arg("list")), Some(69));
    assert_eq!(code(fresh.pyk().args(["versions", "app"])), Some(69));
    assert_eq!(ok(client.pyk().arg("app")), "v1 app 1\n");
}
