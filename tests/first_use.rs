//! Signed by default, trusted on first use, end to end with a real `pyk serve`: a
//! publisher that configures no key signs with its own (made on first publish, or by
//! `pyk keygen --signing`), a machine that trusts no key pins the first signer's key and
//! refuses another in one line until `pyk trust` accepts it, and the only warning left,
//! for an unsigned package, comes once per package and never before another error.

mod common;

use std::fs;
use std::path::Path;

use common::repo::*;
use common::*;

/// A publisher machine with no `signing_key`: it signs with its own key.
fn own_key_publisher(server: &Server) -> Client {
    Client::new(server)
}

fn publish_own(publisher: &Client, dir: &Path) -> String {
    let out = run(publisher
        .pyk()
        .env_remove("PYK_SIGNING_KEY")
        .env("PYK_CACHE_DIR", build_cache())
        .current_dir(dir)
        .args(["publish", "--python", PY]));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "publish failed: {err}");
    err
}

/// A machine that trusts no key: what a newcomer has.
fn fresh(server: &Server) -> Client {
    let client = Client::new(server);
    client.trust(&[]);
    client
}

#[test]
fn the_first_signed_version_pins_its_key_and_another_is_refused_until_trusted() {
    let (_dir, server) = server();
    let publisher = own_key_publisher(&server);
    let made = ok(publisher
        .pyk()
        .env_remove("PYK_SIGNING_KEY")
        .args(["keygen", "--signing"]));
    let ours = made.trim().to_owned();
    assert!(ours.starts_with("pyk-ed25519:"), "{made}");
    let key_file = publisher.home.path().join("config/pyk/signing.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let printed = publish_own(&publisher, app("v1").path());
    assert!(!printed.contains("warning"), "{printed}");

    // A fresh machine runs it with no warning, and pins the key.
    let client = fresh(&server);
    for _ in 0..2 {
        let out = run(client.pyk().arg("app"));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "v1 app 1\n");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no warning");
    }
    let pin = client.cache().join("trust-v1/pins/run/app");
    assert_eq!(fs::read_to_string(&pin).unwrap().trim(), ours);

    // A second publisher, with its own key made on its first publish (printed once).
    let other = own_key_publisher(&server);
    let printed = publish_own(&other, app("v2").path());
    // "… public key pyk-ed25519:KEY: machines pin it …"
    let theirs = printed
        .split("public key ")
        .nth(1)
        .and_then(|rest| rest.split(':').nth(1))
        .map(|key| format!("pyk-ed25519:{key}"))
        .unwrap_or_else(|| panic!("no fingerprint printed: {printed}"));
    assert!(
        theirs.starts_with("pyk-ed25519:") && theirs != ours,
        "{printed}"
    );
    let again = publish_own(&other, app("v3").path());
    assert!(!again.contains(&theirs), "printed once: {again}");

    // Refused, in one line naming both keys and the command that accepts the new one
    // (the cached version 1 runs meanwhile).
    let out = run(client.pyk().arg("app"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(&ours)
            && err.contains(&theirs)
            && err.contains(&format!("pyk trust app {theirs}")),
        "{err}"
    );
    ok(client.pyk().args(["trust", "app", &theirs]));
    let out = run(client.pyk().arg("app"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "v3 app 3\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no warning");

    // Configured keys override pins: a machine that lists the first key refuses v3.
    let listed = Client::new(&server);
    listed.trust(&[&ours]);
    assert!(fails(listed.pyk().arg("app")).contains("does not trust"));

    // `pyk trust reset` forgets the pin: the next signed version pins anew.
    ok(client.pyk().args(["trust", "reset", "app"]));
    assert!(!pin.exists());
    assert_eq!(ok(client.pyk().arg("app")), "v3 app 3\n");
    assert_eq!(fs::read_to_string(&pin).unwrap().trim(), theirs);
}

#[test]
fn an_unsigned_package_warns_once_per_machine_and_never_before_another_error() {
    let (_dir, server) = server();
    let publisher = Client::new(&server);
    let out = run(publisher
        .pyk()
        .env("PYK_SIGNING_KEY", "none")
        .env("PYK_CACHE_DIR", build_cache())
        .current_dir(app("v1").path())
        .args(["publish", "--python", PY]));
    assert!(out.status.success());

    let client = fresh(&server);
    let mut warnings = 0;
    for _ in 0..3 {
        let out = run(client.pyk().arg("app"));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "v1 app 1\n");
        let err = String::from_utf8_lossy(&out.stderr);
        warnings += err.matches("warning").count();
        if !err.is_empty() {
            assert!(err.contains("run app is not signed"), "{err}");
        }
    }
    assert_eq!(warnings, 1, "one warning across three runs");

    // No such package: the error alone.
    let err = fails(fresh(&server).pyk().arg("nosuchapp"));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(!err.contains("warning"), "{err}");
}
