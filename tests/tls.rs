//! A repository behind HTTPS whose certificate comes from a CA that exists only in a
//! bundle this test generates: refused by default, with one line naming the host and
//! the roots tried; accepted when the CA is given by `SSL_CERT_FILE`, `SSL_CERT_DIR` or
//! the config's `ca_bundle`.

mod common;

use std::fs;

use common::repo::{app, publish, server, Client};
use common::tls::{Terminator, TestCa};
use common::*;

/// A machine reaching the repository at `url`, with nothing of the environment's own
/// certificate settings (this machine may set both variables).
fn machine(server: &common::repo::Server, url: &str) -> Client {
    let mut client = Client::new(server);
    client.url = url.to_owned();
    client
}

fn pyk_at(client: &Client) -> std::process::Command {
    let mut cmd = client.pyk();
    cmd.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
    cmd
}

#[test]
fn https_repository_with_a_private_ca() {
    let (_dir, server) = server();
    publish(&server, app("tls-ok").path());
    let certs = tempfile::tempdir().unwrap();
    let ca = TestCa::new(certs.path());
    let tls = Terminator::start(&ca, &server.url);
    let host_port = tls.url.trim_start_matches("https://");

    // Refused by default: one line, naming the host and the store that was used.
    let client = machine(&server, &tls.url);
    let err = fails(pyk_at(&client).arg("app"));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("https://{host_port} is unreachable"))
            && err.contains("the certificate of 127.0.0.1 is not trusted")
            && err.contains("the system store"),
        "{err}"
    );
    // …and the mirror-image mistake: another store named by SSL_CERT_FILE.
    let err = fails(
        pyk_at(&client)
            .env("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")
            .args(["versions", "app"]),
    );
    assert!(
        err.contains("not trusted") && err.contains("SSL_CERT_FILE=/etc/ssl/certs/"),
        "{err}"
    );

    // SSL_CERT_FILE: a whole first run (manifest and every layer) over TLS.
    let client = machine(&server, &tls.url);
    let out = ok(pyk_at(&client)
        .env("SSL_CERT_FILE", &ca.ca)
        .args(["app", "x"]));
    assert_eq!(out, "tls-ok app 1 x\n");

    // SSL_CERT_DIR: a directory holding the CA.
    let only_ca = tempfile::tempdir().unwrap();
    fs::copy(&ca.ca, only_ca.path().join("private-ca.pem")).unwrap();
    let client = machine(&server, &tls.url);
    let out = ok(pyk_at(&client)
        .env("SSL_CERT_DIR", only_ca.path())
        .args(["versions", "app"]));
    assert!(out.contains('1'), "{out}");

    // The config's `ca_bundle`, relative to the config file, besides the system store.
    let client = machine(&server, &tls.url);
    let config_dir = client.home.path().join("config/pyk");
    fs::create_dir_all(&config_dir).unwrap();
    fs::copy(&ca.ca, config_dir.join("company-ca.pem")).unwrap();
    fs::write(
        config_dir.join("config.toml"),
        "ca_bundle = \"company-ca.pem\"\n",
    )
    .unwrap();
    let out = ok(pyk_at(&client).args(["versions", "app"]));
    assert!(out.contains('1'), "{out}");

    // A `ca_bundle` that is missing, or not a bundle, is one line naming the key.
    fs::write(config_dir.join("config.toml"), "ca_bundle = \"nope.pem\"\n").unwrap();
    let err = fails(pyk_at(&client).args(["versions", "app"]));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("config.toml:1: `ca_bundle`")
            && err.contains("cannot read the CA bundle")
            && err.contains("nope.pem"),
        "{err}"
    );
    fs::write(
        config_dir.join("config.toml"),
        "ca_bundle = \"server.key\"\n",
    )
    .unwrap();
    fs::copy(&ca.key, config_dir.join("server.key")).unwrap();
    let err = fails(pyk_at(&client).args(["versions", "app"]));
    assert!(err.contains("holds no PEM certificate"), "{err}");
}
