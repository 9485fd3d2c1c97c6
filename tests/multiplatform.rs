//! One version for two platforms (issue 19), end to end against a real `pyk serve`: `pyk
//! publish --platform linux-x86_64 --platform linux-aarch64` of an app with a compiled
//! dependency (PyYAML's C loader), an x86_64 client and an aarch64 client (the aarch64
//! `pyk` under qemu-user, with its own cache) each running their own build, the server's
//! request log saying which blobs each fetched; a client on a platform a version lacks; a
//! swapped per-platform artifact refused, signed or not; a pure-Python library published
//! once, for any platform. Needs what scripts/setup.sh installs (qemu-user with
//! binfmt_misc, the aarch64 Debian root, pyk built with the aarch64 launcher); skips with
//! the reason otherwise.
//!
//! The aarch64 `pyk` is looked for at `$PYK_TEST_AARCH64_PYK`, then beside this build
//! (`cargo build --target aarch64-unknown-linux-gnu` into the same target directory, see
//! build.rs for the toolchain), then in the release build setup.sh made
//! (`/opt/pyk-tests/release/pyk-linux-aarch64`). Without one, the aarch64 artifact `pyk pull --platform`
//! writes is run directly instead, and the test says so.

mod common;

use std::collections::HashSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use common::mitm;
use common::repo::*;
use common::*;
use pyk_artifact::trailer::{Trailer, PART_SBOM};
use pyk_protocol::Sha256;

/// The aarch64 Debian root setup.sh unpacks (python3.11 and the libraries it links).
const ROOT: &str = "/opt/pyk-tests/arm64-root";

/// Why this machine cannot run the tests, if it cannot.
fn missing() -> Option<String> {
    if std::env::consts::ARCH != "x86_64" {
        return Some("two-platform publishes are tested from x86_64".into());
    }
    if !Path::new(ROOT).join("usr/bin/python3.11").is_file() {
        return Some(format!(
            "no aarch64 Debian root at {ROOT} (scripts/setup.sh makes it)"
        ));
    }
    let registered = fs::read_to_string("/proc/sys/fs/binfmt_misc/qemu-aarch64")
        .is_ok_and(|s| s.starts_with("enabled"));
    if !registered {
        return Some(
            "qemu-user is not registered for aarch64 with binfmt_misc (scripts/setup.sh does it)"
                .into(),
        );
    }
    None
}

fn skip() -> bool {
    match missing() {
        Some(why) => {
            eprintln!("skipped: {why}");
            true
        }
        None => false,
    }
}

/// A build cache holding both runtimes (this machine's python3.11 and the root's aarch64
/// one), imported once per test binary under a lock.
fn both_cache() -> &'static Path {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    CACHE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyk-multi-cache");
        fs::create_dir_all(&dir).unwrap();
        let lock = File::create(dir.join("import.lock")).unwrap();
        lock.lock().unwrap();
        if !dir.join("imported-both").exists() {
            ok(pyk()
                .env("PYK_CACHE_DIR", &dir)
                .args(["runtime", "import", SYSTEM_PYTHON]));
            ok(pyk().env("PYK_CACHE_DIR", &dir).args([
                "runtime",
                "import",
                "--sysroot",
                ROOT,
                &format!("{ROOT}/usr/bin/python3.11"),
            ]));
            fs::write(dir.join("imported-both"), b"").unwrap();
        }
        dir
    })
}

/// `pyk publish ARGS…` in `dir` from a publisher with both runtimes; `None` when this pyk
/// has no aarch64 launcher (said on stderr).
fn publish_both(server: &Server, dir: &Path, args: &[&str]) -> Option<String> {
    let publisher = Client::new(server);
    let out = run(publisher
        .pyk()
        .env("PYK_CACHE_DIR", both_cache())
        .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
        .env("PYK_ZSTD_LEVEL", "3")
        .current_dir(dir)
        .args(["publish", "--python", PY])
        .args(args));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if stderr.contains("has no launcher for linux-aarch64") {
        eprintln!("skipped: this pyk was built without the aarch64 launcher");
        return None;
    }
    assert!(out.status.success(), "publish failed: {stderr}");
    Some(stderr)
}

/// The blobs an artifact file is published as, by what they hold.
struct Blobs {
    stub: String,
    layers: Vec<String>,
    trailer: String,
}

/// The SBOM part of an artifact, its hash checked against the trailer's.
fn sbom_of(artifact: &Path) -> Vec<u8> {
    let file = File::open(artifact).unwrap();
    let trailer = Trailer::read(&file).unwrap();
    trailer.read_part(&file, PART_SBOM).unwrap().unwrap()
}

impl Blobs {
    fn of(path: &Path) -> Blobs {
        let bytes = fs::read(path).unwrap();
        let trailer = Trailer::read(&File::open(path).unwrap()).unwrap();
        let end = trailer.layers.last().unwrap().span.end() as usize;
        Blobs {
            stub: Sha256::of(&bytes[..trailer.head_len() as usize]).to_string(),
            layers: trailer.layers.iter().map(|l| l.key()).collect(),
            trailer: Sha256::of(&bytes[end..]).to_string(),
        }
    }

    fn all(&self) -> HashSet<String> {
        let mut all: HashSet<String> = self.layers.iter().cloned().collect();
        all.insert(self.stub.clone());
        all.insert(self.trailer.clone());
        all
    }
}

/// The blobs fetched from the server's log line `from` on.
fn fetched(server: &Server, from: usize) -> Vec<String> {
    blobs_fetched(&server.log_since(from))
}

/// How many times the server's log shows `blob` uploaded (`PUT /v1/blobs/<sha>`).
fn uploads(server: &Server, blob: &str) -> usize {
    let put = format!("PUT /v1/blobs/{blob}");
    let log = server.log.lock().unwrap();
    log.iter().filter(|line| line.contains(&put)).count()
}

/// The aarch64 `pyk`, if one was built (see the module's doc).
fn aarch64_pyk() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PYK_TEST_AARCH64_PYK") {
        return Some(PathBuf::from(path));
    }
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent()?;
    ["debug", "release"]
        .iter()
        .map(|p| target.join("aarch64-unknown-linux-gnu").join(p).join("pyk"))
        .chain([Path::new(common::RELEASE).join("pyk-linux-aarch64")])
        .find(|p| p.is_file())
}

fn one_line(err: &str) -> &str {
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    err.trim_end()
}

const YAML_APP: &str = "import platform, yaml\nprint(platform.machine(), yaml.__with_libyaml__, yaml.load('a: [1, 2]', Loader=yaml.CSafeLoader))\n";

#[test]
fn one_version_for_two_platforms_each_client_runs_its_own() {
    if skip() {
        return;
    }
    let (_dir, server) = server();
    let project = project(&[
        (
            "pyk.toml",
            "name = \"yam\"\nrun = \"app.py\"\ndependencies = [\"PyYAML==6.0.2\"]\n",
        ),
        ("app.py", YAML_APP),
    ]);
    let Some(said) = publish_both(
        &server,
        project.path(),
        &["--platform", "linux-x86_64", "--platform", "linux-aarch64"],
    ) else {
        return;
    };
    assert!(
        said.contains("version 1 for linux-x86_64, linux-aarch64"),
        "{said}"
    );
    let x86 = Blobs::of(&project.path().join("dist/yam-linux-x86_64"));
    let arm = Blobs::of(&project.path().join("dist/yam-linux-aarch64"));
    // The pure-Python app layer is the same bytes on both (the SBOM, which names each
    // platform's runtime and wheels, is a part of its own outside the layers): one blob,
    // uploaded once.
    let app = x86.layers.last().unwrap();
    assert_eq!(arm.layers.last().unwrap(), app);
    let x86_sbom = sbom_of(&project.path().join("dist/yam-linux-x86_64"));
    let arm_sbom = sbom_of(&project.path().join("dist/yam-linux-aarch64"));
    assert_ne!(x86_sbom, arm_sbom);
    assert_eq!(uploads(&server, app), 1);
    let x86_only: HashSet<String> = x86.all().difference(&arm.all()).cloned().collect();
    let arm_only: HashSet<String> = arm.all().difference(&x86.all()).cloned().collect();
    assert!(x86_only.contains(&x86.layers[0]) && arm_only.contains(&arm.layers[0]));
    assert!(!x86_only.contains(app) && !arm_only.contains(app));

    let machine = Client::new(&server);
    let listing = ok(machine.pyk().args(["versions", "yam"]));
    assert!(listing.contains("linux-x86_64, linux-aarch64"), "{listing}");

    // The x86_64 client: its runtime, dependencies and trailer, and the shared app layer
    // once; nothing of aarch64's.
    let from = server.mark();
    assert_eq!(ok(machine.pyk().arg("yam")), "x86_64 True {'a': [1, 2]}\n");
    let got = fetched(&server, from);
    assert_eq!(got.iter().filter(|b| *b == app).count(), 1, "{got:?}");
    assert!(got.iter().all(|b| !arm_only.contains(b)), "{got:?}");
    for blob in x86.layers.iter().chain([&x86.trailer]) {
        assert!(got.contains(blob), "{blob} not fetched: {got:?}");
    }
    // Warm: nothing fetched.
    let from = server.mark();
    assert_eq!(ok(machine.pyk().arg("yam")), "x86_64 True {'a': [1, 2]}\n");
    assert!(fetched(&server, from).is_empty());

    // The aarch64 client, with its own cache, under emulation.
    let pi = Client::new(&server);
    let from = server.mark();
    match aarch64_pyk() {
        Some(arm_pyk) => {
            let mut cmd = Command::new(&arm_pyk);
            pi.env(&mut cmd);
            let out = ok(cmd.env("QEMU_LD_PREFIX", ROOT).arg("yam"));
            assert_eq!(out, "aarch64 True {'a': [1, 2]}\n");
            let got = fetched(&server, from);
            assert_eq!(got.iter().filter(|b| *b == app).count(), 1, "{got:?}");
            assert!(got.iter().all(|b| !x86_only.contains(b)), "{got:?}");
            for blob in arm.layers.iter().chain([&arm.trailer]) {
                assert!(got.contains(blob), "{blob} not fetched: {got:?}");
            }
        }
        None => {
            eprintln!(
                "no aarch64 pyk (PYK_TEST_AARCH64_PYK, or `cargo build --target \
                 aarch64-unknown-linux-gnu` into this target directory): running the aarch64 \
                 artifact `pyk pull --platform linux-aarch64` writes instead"
            );
            let file = pi.home.path().join("yam-arm");
            ok(pi
                .pyk()
                .args(["pull", "--platform", "linux-aarch64", "yam", "-o"])
                .arg(&file));
            let got: HashSet<String> = fetched(&server, from).into_iter().collect();
            assert!(got.is_disjoint(&x86_only), "{got:?}");
            let out = ok(artifact(&file, &pi.cache()).env("QEMU_LD_PREFIX", ROOT));
            assert_eq!(out, "aarch64 True {'a': [1, 2]}\n");
        }
    }

    // `pyk pull --platform` writes each platform's file byte for byte.
    for platform in ["linux-x86_64", "linux-aarch64"] {
        let file = machine.home.path().join(platform);
        ok(machine
            .pyk()
            .args(["-q", "pull", "--platform", platform, "yam", "-o"])
            .arg(&file));
        let built = project.path().join(format!("dist/yam-{platform}"));
        assert!(
            fs::read(&file).unwrap() == fs::read(&built).unwrap(),
            "{platform}"
        );
    }
    let err = fails(
        machine
            .pyk()
            .args(["pull", "--platform", "linux-riscv64", "yam"]),
    );
    assert!(
        one_line(&err)
            .ends_with("is built for linux-x86_64, linux-aarch64 only, not for linux-riscv64"),
        "{err}"
    );

    // A launcher that is not the one its trailer names says so.
    let swapped = machine.home.path().join("swapped");
    let x86_file = project.path().join("dist/yam-linux-x86_64");
    let mut trailer = Trailer::read(&File::open(&x86_file).unwrap()).unwrap();
    let bytes = fs::read(&x86_file).unwrap();
    let old_len = trailer.encode().unwrap().len();
    trailer.platform = Some("linux-aarch64".into());
    let mut out = bytes[..bytes.len() - old_len].to_vec();
    out.extend(trailer.encode().unwrap());
    fs::write(&swapped, out).unwrap();
    make_executable(&swapped);
    let err = fails(&mut artifact(&swapped, &machine.cache()));
    assert_eq!(
        one_line(&err),
        "swapped: this artifact is built for linux-aarch64, not for this machine (linux-x86_64)"
    );

    swapped_artifacts_are_refused(&server);
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A man in the middle rewrites the manifest of `yam`: the platforms' names swapped (the
/// aarch64 bytes listed as x86_64's), or, with `substitute`, the x86_64 artifact's runtime
/// blob replaced by aarch64's (sizes and the version's blob list made to fit, as a careful
/// forger would); `unsigned` strips the signatures too.
fn tampered(server: &Server, substitute: bool, unsigned: bool) -> String {
    mitm::proxy(
        &server.url,
        Arc::new(|_| {}),
        Arc::new(move |request, _head, body| {
            let manifest = request.starts_with("GET /v1/packages/run/yam ")
                || request.starts_with("GET /v1/packages/run/yam/versions/1 ");
            if !manifest {
                return;
            }
            let mut m: serde_json::Value = serde_json::from_slice(body).unwrap();
            let size_of = |m: &serde_json::Value, sha: &serde_json::Value| {
                let blobs = m["blobs"].as_array().unwrap();
                let blob = blobs.iter().find(|b| b["sha256"] == *sha).unwrap();
                blob["size"].as_i64().unwrap()
            };
            let (x86_runtime, arm_runtime) = (
                m["platforms"][0]["blobs"][1].clone(),
                m["platforms"][1]["blobs"][1].clone(),
            );
            let (x86_size, arm_size) = (size_of(&m, &x86_runtime), size_of(&m, &arm_runtime));
            if substitute {
                let platforms = m["platforms"].as_array_mut().unwrap();
                platforms[0]["blobs"][1] = arm_runtime;
                let size = platforms[0]["size"].as_i64().unwrap() - x86_size + arm_size;
                platforms[0]["size"] = size.into();
                m["blobs"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|b| b["sha256"] != x86_runtime);
                m["size"] = (m["size"].as_i64().unwrap() - x86_size).into();
            } else {
                let platforms = m["platforms"].as_array_mut().unwrap();
                let first = platforms[0]["platform"].clone();
                platforms[0]["platform"] = platforms[1]["platform"].clone();
                platforms[1]["platform"] = first;
            }
            if unsigned {
                let m = m.as_object_mut().unwrap();
                m.remove("signature");
                m.remove("latest");
            }
            *body = serde_json::to_vec(&m).unwrap();
        }),
    )
}

fn swapped_artifacts_are_refused(server: &Server) {
    // Signed: the signature covers which blobs make which platform's artifact.
    for substitute in [false, true] {
        let through = tampered(server, substitute, false);
        let fresh = Client::new(server);
        let err = fails(fresh.pyk().env("PYK_SERVER", &through).arg("yam"));
        assert!(
            one_line(&err).contains("does not match its signature"),
            "{err}"
        );
    }
    // Unsigned, on a machine that trusts no key: the trailer names its platform, and the
    // blobs must be the layers it lists, at the offsets it gives.
    for (substitute, why) in [
        (
            false,
            "its artifact listed for linux-x86_64 is built for linux-aarch64",
        ),
        (true, "refusing run yam version 1 from http://127.0.0.1:"),
    ] {
        let through = tampered(server, substitute, true);
        let fresh = Client::new(server);
        fresh.trust(&[]);
        let out = run(fresh.pyk().env("PYK_SERVER", &through).arg("yam"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && out.stdout.is_empty(), "{err}");
        assert!(err.contains(why), "{err}");
        assert!(
            !fresh.cache().join("runtimes-v2").exists() || {
                // Nothing of the listed artifact was unpacked.
                fs::read_dir(fresh.cache().join("runtimes-v2"))
                    .unwrap()
                    .flatten()
                    .all(|e| e.file_name().to_string_lossy().starts_with('.'))
            }
        );
    }
}

#[test]
fn a_version_without_this_machines_platform_is_one_line() {
    if skip() {
        return;
    }
    let (_dir, server) = server();
    // `platforms` in pyk.toml: aarch64 only.
    let project = project(&[
        (
            "pyk.toml",
            "name = \"armonly\"\nrun = \"app.py\"\nplatforms = [\"linux-aarch64\"]\n",
        ),
        ("app.py", "import platform\nprint(platform.machine())\n"),
    ]);
    let Some(said) = publish_both(&server, project.path(), &[]) else {
        return;
    };
    assert!(said.contains("Published run armonly version 1"), "{said}");
    let machine = Client::new(&server);
    let listing = ok(machine.pyk().args(["versions", "armonly"]));
    assert!(listing.trim_end().ends_with("linux-aarch64"), "{listing}");
    let err = fails(machine.pyk().arg("armonly"));
    assert_eq!(
        one_line(&err),
        "pyk: error: run armonly version 1 is built for linux-aarch64 only, not for \
         linux-x86_64 (this machine)"
    );
    let info = ok(machine.pyk().args(["info", "armonly"]));
    assert!(
        info.starts_with("run armonly 1 (Python 3.11; linux-aarch64)"),
        "{info}"
    );
}

#[test]
fn a_pure_library_is_published_once_for_any_platform() {
    if skip() {
        return;
    }
    let (_dir, server) = server();
    let project = project(&[
        ("pyk.toml", "name = \"purelib\"\nlib = \"purelib.py\"\n"),
        (
            "purelib.py",
            "def where():\n    import platform\n    return platform.machine()\n",
        ),
    ]);
    let Some(said) = publish_both(
        &server,
        project.path(),
        &["--platform", "linux-x86_64", "--platform", "linux-aarch64"],
    ) else {
        return;
    };
    assert!(said.contains("no native code: one artifact"), "{said}");
    let machine = Client::new(&server);
    let listing = ok(machine.pyk().args(["versions", "--lib", "purelib"]));
    assert!(listing.trim_end().ends_with("  any"), "{listing}");
    // This machine imports it through the hook.
    ok(machine
        .pyk()
        .args(["python-setup", "--python", SYSTEM_PYTHON]));
    let out = ok(machine
        .python()
        .args(["-c", "from pyk import purelib; print(purelib.where())"]));
    assert_eq!(out, "x86_64\n");
    let out = ok(machine.pyk().args([
        "exec",
        "--lib",
        "purelib",
        "-c",
        "import purelib; print(purelib.where())",
    ]));
    assert_eq!(out, "x86_64\n");
    // An aarch64 Python imports the same directories (what the hook gets from `pyk resolve`).
    let pi = Client::new(&server);
    let dirs = match aarch64_pyk() {
        Some(arm_pyk) => {
            // Its artifact's interpreter is this machine's (x86_64): the aarch64 pyk says
            // how the library is used there rather than exec it.
            let mut cmd = Command::new(&arm_pyk);
            pi.env(&mut cmd);
            let err = fails(
                cmd.env("QEMU_LD_PREFIX", ROOT)
                    .args(["exec", "--lib", "purelib", "-c", "pass"]),
            );
            assert!(
                one_line(&err).contains(
                    "its interpreter is built for linux-x86_64, not for this one (linux-aarch64)"
                ),
                "{err}"
            );
            let mut cmd = Command::new(arm_pyk);
            pi.env(&mut cmd);
            ok(cmd
                .env("QEMU_LD_PREFIX", ROOT)
                .args(["resolve", "lib", "purelib"]))
        }
        None => {
            eprintln!("no aarch64 pyk: the x86_64 pyk resolves the library for the aarch64 Python");
            ok(machine.pyk().args(["resolve", "lib", "purelib"]))
        }
    };
    let path = dirs.lines().collect::<Vec<_>>().join(":");
    let out = ok(Command::new(format!("{ROOT}/usr/bin/python3.11"))
        .env("QEMU_LD_PREFIX", ROOT)
        .env("PYTHONPATH", path)
        .args(["-c", "import purelib; print(purelib.where())"]));
    assert_eq!(out, "aarch64\n");
}
