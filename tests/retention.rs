//! Retention end to end, with the real binary: `pyk gc` against `pyk serve --retention`
//! on a directory store and on a bucket (SeaweedFS), and `pyk gc --retention FILE`
//! straight on a bucket. Six versions of an app under "keep the last 3": 1 to 3 are
//! published, then 4 to 6; 2 is rolled back to and superseded again meanwhile, so it
//! was promoted within the window and stays. A dry run lists 1 and 3 and changes
//! nothing; gc removes them and their own blobs, keeps every blob of the rest (the
//! runtime they share included), and a kept version still runs and pulls.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::repo::*;
use common::*;
use pyk_protocol::{Kind, PackageRef, Sha256};

const POLICY: &str = "blob_grace = \"0s\"\n[packages.\"run/app\"]\nkeep_last = 3\n";

/// Where `pyk` talks to (a server's URL or `s3://…`) and how the test looks inside.
struct Repo<'a> {
    url: &'a str,
    aws: &'a [(&'a str, String)],
    /// The retention file `pyk gc` is given (serverless), if any.
    retention: Option<&'a Path>,
}

impl Repo<'_> {
    fn machine(&self) -> Client {
        let client = Client {
            home: tempfile::tempdir().unwrap(),
            url: self.url.to_owned(),
            key: KEY.into(),
            write_key: None,
        };
        client.trust(&[&signing_key().public().to_string()]);
        client
    }

    fn pyk(&self, machine: &Client) -> Command {
        let mut cmd = machine.pyk();
        cmd.envs(self.aws.iter().cloned());
        cmd
    }

    /// The library client on the same repository: to read manifests and ask for blobs.
    fn client(&self) -> pyk_client::Client {
        let key = pyk_crypto::Key::from_config(KEY);
        match pyk_s3::Location::parse(self.url) {
            Some(location) => pyk_client::Client::serverless(
                pyk_s3::seaweedfs::shared().unwrap().bucket(),
                location.unwrap(),
                pyk_s3::repo::ModeSetting::Probe,
                &key,
                "test",
            ),
            None => pyk_client::Client::new(self.url, &key, &key, "test", Duration::from_secs(10)),
        }
    }

    fn gc(&self, machine: &Client, dry_run: bool) -> String {
        let mut cmd = self.pyk(machine);
        cmd.arg("gc");
        if dry_run {
            cmd.arg("--dry-run");
        }
        if let Some(file) = self.retention {
            cmd.arg("--retention").arg(file);
        }
        ok(&mut cmd)
    }
}

fn app_ref() -> PackageRef {
    PackageRef::new(Kind::Run, "app").unwrap()
}

/// The blobs each version's manifest names, by version.
fn blobs_of(client: &pyk_client::Client, version: &str) -> BTreeSet<Sha256> {
    let m = client.version(&app_ref(), version, None).unwrap().unwrap();
    m.blobs
        .iter()
        .chain(&m.api)
        .map(|b| b.sha256.parse().unwrap())
        .collect()
}

fn last_three_of_six(repo: &Repo) {
    let publish = |v: u32| {
        let publisher = repo.machine();
        let out = run(repo
            .pyk(&publisher)
            .env("PYK_CACHE_DIR", build_cache())
            .current_dir(app(&format!("v{v}")).path())
            .args(["publish", "--python", PY, "--version", &v.to_string()]));
        assert!(
            out.status.success(),
            "publish failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for v in 1..=3 {
        publish(v);
    }
    // Promotions are recorded to the second: 1 to 3 were latest strictly before 4
    // was published, when the window of "the last 3" opens.
    std::thread::sleep(Duration::from_millis(1100));
    for v in 4..=6 {
        publish(v);
    }
    let admin = repo.machine();
    ok(repo.pyk(&admin).args(["promote", "app", "2"]));
    ok(repo.pyk(&admin).args(["promote", "app", "6"]));

    let client = repo.client();
    let versions = |c: &pyk_client::Client| -> Vec<String> {
        let list = c.versions(&app_ref()).unwrap();
        list.versions.into_iter().map(|v| v.version).collect()
    };
    let blobs: Vec<BTreeSet<Sha256>> = (1..=6).map(|v| blobs_of(&client, &v.to_string())).collect();
    let kept: BTreeSet<Sha256> = [1, 3, 4, 5]
        .iter()
        .flat_map(|&i| blobs[i].clone())
        .collect();
    let gone: BTreeSet<Sha256> = blobs[0]
        .union(&blobs[2])
        .filter(|sha| !kept.contains(sha))
        .cloned()
        .collect();
    assert!(
        !gone.is_empty(),
        "versions 1 and 3 have no blob of their own"
    );
    assert!(
        blobs[0]
            .intersection(&blobs[2])
            .any(|sha| kept.contains(sha)),
        "the versions share no blob (the runtime): the test would not see one kept"
    );

    let dry = repo.gc(&admin, true);
    let planned: Vec<&str> = dry.lines().filter(|l| l.contains("would remove")).collect();
    assert_eq!(planned.len(), 2, "{dry}");
    assert!(
        planned[0].ends_with("run app version 1") && planned[1].ends_with("run app version 3"),
        "{dry}"
    );
    assert_eq!(
        versions(&client),
        ["1", "2", "3", "4", "5", "6"],
        "a dry run removed a version"
    );
    for sha in blobs.iter().flatten() {
        assert!(
            client.has_blob(sha).unwrap(),
            "a dry run removed blob {sha}"
        );
    }

    let done = repo.gc(&admin, false);
    let removed: Vec<&str> = done.lines().filter(|l| l.contains("removed run")).collect();
    assert_eq!(removed.len(), 2, "{done}");
    assert!(
        removed[0].ends_with("run app version 1") && removed[1].ends_with("run app version 3"),
        "{done}"
    );
    assert!(
        done.contains(&format!("collected {} unreferenced blob(s)", gone.len())),
        "{done}"
    );
    assert_eq!(versions(&client), ["2", "4", "5", "6"]);
    for sha in &gone {
        assert!(
            !client.has_blob(sha).unwrap(),
            "blob {sha} of a removed version survived"
        );
    }
    for sha in &kept {
        assert!(
            client.has_blob(sha).unwrap(),
            "blob {sha} of a kept version is gone"
        );
    }

    // A fresh machine runs the kept rollback target and pulls a kept version; a removed
    // one is gone.
    let fresh = repo.machine();
    assert_eq!(ok(repo.pyk(&fresh).args(["app@2", "x"])), "v2 app 2 x\n");
    assert_eq!(ok(repo.pyk(&fresh).arg("app")), "v6 app 6\n");
    let pulled = fresh.home.path().join("app-4");
    ok(repo
        .pyk(&fresh)
        .args(["pull", "app", "--version", "4", "-o"])
        .arg(&pulled));
    assert!(pulled.metadata().unwrap().len() > 0);
    fails(
        repo.pyk(&fresh)
            .args(["pull", "app", "--version", "3", "-o"])
            .arg(&pulled),
    );

    // Applied again, nothing more goes.
    let again = repo.gc(&admin, false);
    assert!(
        again.contains("keeps every version") && again.contains("collected 0"),
        "{again}"
    );
}

fn policy_file(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("retention.toml");
    std::fs::write(&file, POLICY).unwrap();
    file
}

fn bucket_url(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "s3://{}/retention-cli/{test}-{nanos}",
        pyk_s3::seaweedfs::BUCKET
    )
}

#[test]
fn a_server_on_a_directory_store() {
    let dir = tempfile::tempdir().unwrap();
    let file = policy_file(dir.path());
    let server = Server::start_with_args(
        &dir.path().join("store"),
        0,
        KEY,
        None,
        &["--retention", file.to_str().unwrap()],
    );
    last_three_of_six(&Repo {
        url: &server.url,
        aws: &[],
        retention: None,
    });
}

#[test]
fn a_server_on_a_bucket() {
    let Some(aws) = aws() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = policy_file(dir.path());
    let server = S3Server::start_with_args(
        &bucket_url("server"),
        &aws,
        &["--retention", file.to_str().unwrap()],
    );
    last_three_of_six(&Repo {
        url: &server.url,
        aws: &aws,
        retention: None,
    });
}

#[test]
fn serverless_on_a_bucket() {
    let Some(aws) = aws() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = policy_file(dir.path());
    let url = bucket_url("serverless");
    last_three_of_six(&Repo {
        url: &url,
        aws: &aws,
        retention: Some(&file),
    });
}

/// Each wrong use is one line: a bad retention file (for `pyk gc` and for
/// `pyk serve`), no policy for a bucket, a policy given to a server.
#[test]
fn wrong_uses_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let one_line = |said: String, wants: &str| {
        assert_eq!(said.lines().count(), 1, "{said}");
        assert!(said.contains(wants), "{said}");
    };
    let (_store, server) = server();
    let repo = Repo {
        url: &server.url,
        aws: &[],
        retention: None,
    };
    let machine = repo.machine();
    for (text, wants) in [
        ("keep_last = [3", "line 1"),
        ("keep_last = 0", "keep_last must be at least 1"),
        ("keep_newer_than = \"soon\"", "not an age"),
        ("keep = 3", "unknown field"),
    ] {
        std::fs::write(&bad, text).unwrap();
        let said = fails(
            repo.pyk(&machine)
                .args(["serve", "--port", "0", "--retention"])
                .arg(&bad)
                .arg(dir.path().join("store")),
        );
        one_line(said, wants);
        if let Some(aws) = aws() {
            let bucket = Repo {
                url: &bucket_url("bad"),
                aws: &aws,
                retention: None,
            };
            let said = fails(
                bucket
                    .pyk(&bucket.machine())
                    .args(["gc", "--retention"])
                    .arg(&bad),
            );
            one_line(said, wants);
        }
    }
    let said = fails(
        repo.pyk(&machine)
            .args(["gc", "--retention"])
            .arg(policy_file(dir.path())),
    );
    one_line(said, "applies its own retention policy");
    if let Some(aws) = aws() {
        let url = bucket_url("none");
        let bucket = Repo {
            url: &url,
            aws: &aws,
            retention: None,
        };
        let said = fails(bucket.pyk(&bucket.machine()).arg("gc"));
        one_line(said, "--retention FILE");
    }
}
