//! Request tokens against a real server process: each opens one request, once, with the
//! body it was made for, within a minute of the server's clock. The attacks of issue 9,
//! replayed by someone who only listens.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use pyk_crypto::token;
use pyk_protocol::api::{ErrorBody, CODE_BODY, CODE_CLOCK, CODE_REPLAYED};
use pyk_protocol::Sha256;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token for `method target` carrying `body`, as a client makes it.
fn auth(method: &str, target: &str, body: &[u8]) -> String {
    let field = pyk_protocol::request::body_field(method, target, body);
    token::authorization(&key(), method, target, field.as_ref())
}

fn latest(client: &Client) -> String {
    client.manifest("run", "app").unwrap().version
}

#[test]
fn a_captured_token_opens_nothing_a_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let client = server.client();
    for n in 1..=3u64 {
        client.publish_parts("run", "app", &[&data(n, 100)]);
    }
    assert_eq!(latest(&client), "3");

    // A read, then the same token again.
    let get = auth("GET", "/v1/packages", b"");
    let first = client.send_raw("GET", "/v1/packages", Some(&get), &[], ());
    assert_eq!(first.status, 200);
    let again = client.send_raw("GET", "/v1/packages", Some(&get), &[], ());
    assert_eq!(again.status, 401);
    assert_eq!(
        again.json::<ErrorBody>().code.as_deref(),
        Some(CODE_REPLAYED)
    );

    // A promote replayed later (the rollback of issue 9) changes nothing.
    let body = br#"{"version":"1"}"#;
    let promote = auth("POST", "/v1/packages/run/app/promote", body);
    let r = client.send_raw(
        "POST",
        "/v1/packages/run/app/promote",
        Some(&promote),
        &[],
        &body[..],
    );
    assert_eq!(r.status, 200, "{}", r.error());
    let body2 = br#"{"version":"3"}"#;
    let r = client.send("POST", "/v1/packages/run/app/promote", &[], &body2[..]);
    assert_eq!(r.status, 200);
    let r = client.send_raw(
        "POST",
        "/v1/packages/run/app/promote",
        Some(&promote),
        &[],
        &body[..],
    );
    assert_eq!(
        (r.status, r.json::<ErrorBody>().code.as_deref()),
        (401, Some(CODE_REPLAYED))
    );
    assert_eq!(latest(&client), "3");

    // A DELETE replayed after the package is published again.
    let delete = auth("DELETE", "/v1/packages/run/app", b"");
    let r = client.send_raw("DELETE", "/v1/packages/run/app", Some(&delete), &[], ());
    assert_eq!(r.status, 200);
    client.publish_parts("run", "app", &[&data(9, 100)]);
    let r = client.send_raw("DELETE", "/v1/packages/run/app", Some(&delete), &[], ());
    assert_eq!(r.status, 401);
    assert_eq!(latest(&client), "4");
}

#[test]
fn a_token_opens_only_the_body_it_was_made_for() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let client = server.client();
    for n in 1..=2u64 {
        client.publish_parts("run", "app", &[&data(n, 100)]);
    }
    // A promote to 2, sent with a body that promotes 1.
    let made_for = br#"{"version":"2"}"#;
    let promote = auth("POST", "/v1/packages/run/app/promote", made_for);
    let swapped = br#"{"version":"1"}"#;
    let r = client.send_raw(
        "POST",
        "/v1/packages/run/app/promote",
        Some(&promote),
        &[],
        &swapped[..],
    );
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json::<ErrorBody>().code.as_deref(), Some(CODE_BODY));
    assert_eq!(latest(&client), "2");

    // An unyank turned into a yank.
    let unyank = br#"{"yanked":false}"#;
    let t = auth("POST", "/v1/packages/run/app/versions/2/yank", unyank);
    let r = client.send_raw(
        "POST",
        "/v1/packages/run/app/versions/2/yank",
        Some(&t),
        &[],
        &br#"{"yanked":true}"#[..],
    );
    assert_eq!(r.status, 401);
    assert_eq!(latest(&client), "2");

    // A publish token with a forged body.
    let forged = serde_json::to_vec(&client.upload_parts(&[&data(7, 100)])).unwrap();
    let t = auth("POST", "/v1/packages/run/app", b"{\"something\":\"else\"}");
    let r = client.send_raw("POST", "/v1/packages/run/app", Some(&t), &[], forged);
    assert_eq!(r.status, 401);
    assert_eq!(latest(&client), "2");

    // A token for no body does not carry one; a blob upload is bound by its id.
    let t = auth("DELETE", "/v1/packages/run/app/versions/1", b"");
    let r = client.send_raw(
        "DELETE",
        "/v1/packages/run/app/versions/1",
        Some(&t),
        &[],
        &b"{}"[..],
    );
    assert_eq!(r.status, 200, "a DELETE's body is never read");
    let (sha, encrypted) = encrypt(&key(), b"blob");
    let other = Sha256::of(b"other").to_string();
    let t = token::authorization(
        &key(),
        "PUT",
        &format!("/v1/blobs/{sha}"),
        other.parse().ok().as_ref(),
    );
    let r = client.send_raw(
        "PUT",
        &format!("/v1/blobs/{sha}"),
        Some(&t),
        &[],
        &encrypted[..],
    );
    assert_eq!(r.status, 401);
}

#[test]
fn a_token_from_another_time_says_how_far_off_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let client = server.client();
    for offset in [-3600i64, -120, 120, 3600] {
        let at = now().checked_add_signed(offset).unwrap();
        let t = token::authorization_at(&key(), "GET", "/v1/packages", None, at);
        let r = client.send_raw("GET", "/v1/packages", Some(&t), &[], ());
        assert_eq!(r.status, 401, "{offset}");
        let e: ErrorBody = r.json();
        assert_eq!(e.code.as_deref(), Some(CODE_CLOCK));
        let skew = e.skew.unwrap();
        assert!((skew - offset).abs() <= 2, "{offset}: {skew}");
        assert!(
            e.error.contains(&format!("{} s", skew.abs())),
            "{}",
            e.error
        );
    }
    // Within the minute either way, accepted.
    for offset in [-50i64, 50] {
        let at = now().checked_add_signed(offset).unwrap();
        let t = token::authorization_at(&key(), "GET", "/v1/packages", None, at);
        assert_eq!(
            client
                .send_raw("GET", "/v1/packages", Some(&t), &[], ())
                .status,
            200
        );
    }
    // A wrong key learns nothing about the clock.
    let stranger = pyk_crypto::Key::generate();
    let t = token::authorization_at(&stranger, "GET", "/v1/packages", None, now() + 3600);
    let r = client.send_raw("GET", "/v1/packages", Some(&t), &[], ());
    assert_eq!((r.status, r.json::<ErrorBody>().code), (401, None));
}
