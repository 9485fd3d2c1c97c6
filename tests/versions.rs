//! Versions end to end (tycho-station's workflow): immutable versions, `latest`,
//! promote and rollback, pins, pull, push of arbitrary files, yank, two keys.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::repo::*;
use common::*;

#[test]
fn rollback_pins_and_pull() {
    let (_dir, server) = server();
    let v1 = app("v1");
    publish(&server, v1.path());
    let built_v1 = fs::read(v1.path().join("dist/app")).unwrap();
    publish(&server, app("v2").path());
    let client = Client::new(&server);
    assert_eq!(ok(client.pyk().arg("app")), "v2 app 2\n");

    // Rollback: promote 1; every client's next run gets 1.
    ok(client.pyk().args(["promote", "app", "1"]));
    assert_eq!(ok(client.pyk().arg("app")), "v1 app 1\n");
    let listing = ok(client.pyk().args(["versions", "app"]));
    let latest: Vec<_> = listing.lines().filter(|l| l.starts_with('*')).collect();
    assert_eq!(latest.len(), 1, "{listing}");
    assert!(latest[0].starts_with("* 1 "), "{listing}");

    // Pinned: by @ and by the machine's config.
    assert_eq!(ok(client.pyk().arg("app@2")), "v2 app 2\n");
    let config = client.home.path().join("config/pyk");
    fs::create_dir_all(&config).unwrap();
    fs::write(config.join("config.toml"), "[pins]\napp = \"2\"\n").unwrap();
    assert_eq!(ok(client.pyk().arg("app")), "v2 app 2\n");
    fs::remove_file(config.join("config.toml")).unwrap();

    // Pull by version: byte for byte the file that was built.
    let out = client.home.path().join("out");
    fs::create_dir_all(&out).unwrap();
    ok(client
        .pyk()
        .args(["pull", "app", "--version", "1", "-o"])
        .arg(out.join("app1")));
    assert!(
        fs::read(out.join("app1")).unwrap() == built_v1,
        "pulled bytes differ"
    );
    // The pulled file runs on its own.
    let printed = ok(artifact(&out.join("app1"), &client.cache())
        .env("PYK_PACKAGE", "x")
        .env("PYK_VERSION", "y"));
    assert_eq!(printed, "v1 x y\n");
    let err = fails(
        client
            .pyk()
            .args(["pull", "app", "-o"])
            .arg(out.join("app1")),
    );
    assert!(err.contains("--force"), "{err}");
    ok(client
        .pyk()
        .args(["pull", "app", "--force", "-o"])
        .arg(out.join("app1")));

    // Several at once, under their local names.
    ok(client.pyk().args(["init", "app", "app.bin"]));
    let script = client.home.path().join("tool.sh");
    fs::write(&script, "#!/bin/sh\necho tool \"$@\" $PYK_VERSION\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    ok(client
        .pyk()
        .args(["push", "tool", "1.0", "--promote"])
        .arg(&script));
    let several = client.home.path().join("several");
    fs::create_dir_all(&several).unwrap();
    // A machine that trusts keys goes by the local name signed with the version (none
    // here): the package's, set by `pyk init`, is anyone's with the write key.
    ok(client
        .pyk()
        .args(["pull", "app", "tool", "-o"])
        .arg(&several)
        .current_dir(&several));
    assert!(several.join("app").is_file() && several.join("tool").is_file());
    // A machine that trusts no key checks app's signature all the same (it pins the key
    // on first use), so it goes by the signed name too; the unsigned file goes by the
    // package's.
    let open = Client::new(&server);
    open.trust(&[]);
    fs::remove_file(several.join("app")).unwrap();
    ok(open
        .pyk()
        .args(["pull", "app", "tool", "--force", "-o"])
        .arg(&several)
        .current_dir(&several));
    assert!(several.join("app").is_file() && !several.join("app.bin").exists());
    assert_eq!(
        fs::read(several.join("tool")).unwrap(),
        fs::read(&script).unwrap()
    );
}

#[test]
fn arbitrary_files_are_kept_byte_for_byte_and_run_when_executable() {
    let (_dir, server) = server();
    let client = Client::new(&server);
    let script = client.home.path().join("hello.sh");
    fs::write(&script, "#!/bin/sh\necho \"shell says $1\"\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    ok(client
        .pyk()
        .args(["push", "hello-sh", "1.0", "--promote"])
        .arg(&script));
    assert_eq!(ok(client.pyk().args(["hello-sh", "hi"])), "shell says hi\n");

    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 256) as u8).collect();
    let tarball = client.home.path().join("data.tar.gz");
    fs::write(&tarball, &data).unwrap();
    ok(client
        .pyk()
        .args(["push", "data", "2024.1", "--promote"])
        .arg(&tarball));
    let err = fails(client.pyk().arg("data"));
    assert!(err.contains("is a file, not a program"), "{err}");
    let other = Client::new(&server);
    ok(other
        .pyk()
        .args(["pull", "data", "-o"])
        .arg(other.home.path().join("got")));
    assert!(fs::read(other.home.path().join("got")).unwrap() == data);

    // Without --promote a push is stored but not latest.
    ok(client.pyk().args(["push", "data", "2024.2"]).arg(&script));
    let listing = ok(client.pyk().args(["versions", "data"]));
    assert!(
        listing.contains("* 2024.1") && listing.contains("  2024.2"),
        "{listing}"
    );
}

#[test]
fn yanked_versions_are_never_latest() {
    let (_dir, server) = server();
    for marker in ["v1", "v2"] {
        publish(&server, app(marker).path());
    }
    let client = Client::new(&server);
    ok(client.pyk().args(["yank", "app", "2"]));
    assert_eq!(ok(client.pyk().arg("app")), "v1 app 1\n");
    // A later upload without promotion leaves latest alone; promoting a yanked one fails.
    publish_with(&server, app("v3").path(), &["--no-promote"]);
    assert_eq!(ok(client.pyk().arg("app")), "v1 app 1\n");
    let err = fails(client.pyk().args(["promote", "app", "2"]));
    assert!(err.contains("yanked"), "{err}");
    // Pinned machines keep the yanked version.
    assert_eq!(ok(client.pyk().arg("app@2")), "v2 app 2\n");
    // Removing the version latest points at needs --force.
    let err = fails(client.pyk().args(["remove", "app", "--version", "1"]));
    assert!(err.contains("force") || err.contains("latest"), "{err}");
    ok(client.pyk().args(["promote", "app", "3"]));
    ok(client.pyk().args(["remove", "app", "--version", "1"]));
    let listing = ok(client.pyk().args(["versions", "app"]));
    assert!(
        !listing.contains("\n  1 ") && listing.contains("* 3"),
        "{listing}"
    );
}

#[test]
fn version_strings_are_checked_and_never_reused() {
    let (_dir, server) = server();
    let said = publish_with(&server, app("a").path(), &["--version", "1.4.0"]);
    assert!(said.contains("version 1.4.0"), "{said}");
    let publisher = Client::new(&server);
    let out = run(publisher
        .pyk()
        .env("PYK_CACHE_DIR", build_cache())
        .current_dir(app("b").path())
        .args(["publish", "--python", PY, "--version", "1.4.0"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("1.4.0") && err.contains("exists"),
        "{err}"
    );
    for bad in ["1 0", "../1", "latest", "-1"] {
        let out = run(publisher
            .pyk()
            .env("PYK_CACHE_DIR", build_cache())
            .current_dir(app("c").path())
            .args(["publish", "--python", PY])
            .arg(format!("--version={bad}")));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("invalid version"),
            "{bad}: {err}"
        );
    }
    let err = fails(publisher.pyk().arg("app@../x"));
    assert!(err.contains("invalid version"), "{err}");
    let err = fails(publisher.pyk().arg("app@9.9"));
    assert!(err.contains("9.9"), "{err}");
}

#[test]
fn a_read_key_cannot_publish() {
    let dir = tempfile::tempdir().unwrap();
    let server =
        Server::start_with_keys(&dir.path().join("pyk.db"), 0, KEY, Some("the write secret"));
    let reader = Client::new(&server);
    let out = run(reader
        .pyk()
        .env("PYK_CACHE_DIR", build_cache())
        .current_dir(app("v1").path())
        .args(["publish", "--python", PY]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("may read but not publish"),
        "{err}"
    );
    let mut writer = Client::new(&server);
    writer.write_key = Some("the write secret".into());
    ok(writer
        .pyk()
        .env("PYK_CACHE_DIR", build_cache())
        .current_dir(app("v1").path())
        .args(["publish", "--python", PY]));
    // The reader runs what the writer published, and still cannot promote.
    assert_eq!(ok(reader.pyk().arg("app")), "v1 app 1\n");
    let err = fails(reader.pyk().args(["promote", "app", "1"]));
    assert!(err.contains("may read but not publish"), "{err}");
}

#[test]
fn concurrent_promotes_and_publishes_keep_latest_consistent() {
    let (_dir, server) = server();
    for marker in ["v1", "v2"] {
        publish(&server, app(marker).path());
    }
    let promoters: Vec<_> = (0..8)
        .map(|i| {
            let client = Client::new(&server);
            std::thread::spawn(move || {
                for j in 0..4 {
                    let version = ["1", "2"][(i + j) % 2];
                    let out = run(client.pyk().args(["promote", "app", version]));
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            })
        })
        .collect();
    for marker in ["v3", "v4"] {
        publish(&server, app(marker).path());
    }
    for p in promoters {
        p.join().unwrap();
    }
    let client = Client::new(&server);
    let listing = ok(client.pyk().args(["versions", "app"]));
    let latest: Vec<_> = listing.lines().filter(|l| l.starts_with('*')).collect();
    assert_eq!(latest.len(), 1, "{listing}");
    assert_eq!(listing.lines().count(), 4, "{listing}");
    let version = latest[0].split_whitespace().nth(1).unwrap();
    assert_eq!(
        ok(client.pyk().arg("app")),
        format!("v{version} app {version}\n")
    );
}
