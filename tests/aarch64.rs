//! `pyk build --platform linux-aarch64` on an x86_64 machine: a runtime imported from an
//! aarch64 Debian root (`pyk runtime import --sysroot`), PyYAML's manylinux aarch64 wheel with
//! its C loader, and the artifact run under qemu-user (binfmt_misc), first run and warm.
//! setup.sh installs the cross launcher's toolchain, qemu-user-static and the root.

mod common;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{fails, ok, project, pyk};

/// The aarch64 Debian root setup.sh unpacks (python3.11 and the libraries it links).
const ROOT: &str = "/opt/pyk-tests/arm64-root";

/// Why this machine cannot run the test, if it cannot.
fn missing() -> Option<String> {
    if std::env::consts::ARCH != "x86_64" {
        return Some("builds for aarch64 are tested from x86_64".into());
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

/// A cache holding the aarch64 runtime, imported once per test binary under a lock.
fn arm_cache() -> &'static Path {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    CACHE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyk-aarch64-cache");
        fs::create_dir_all(&dir).unwrap();
        let lock = File::create(dir.join("import.lock")).unwrap();
        lock.lock().unwrap();
        if !dir.join("imported-aarch64").exists() {
            let out = ok(pyk().env("PYK_CACHE_DIR", &dir).args([
                "runtime",
                "import",
                "--sysroot",
                ROOT,
                &format!("{ROOT}/usr/bin/python3.11"),
            ]));
            assert!(out.contains("Python 3.11.2 aarch64"), "{out}");
            fs::write(dir.join("imported-aarch64"), b"").unwrap();
        }
        dir
    })
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

/// The ELF machine of a file: 0xb7 is aarch64.
fn machine(path: &Path) -> u16 {
    let bytes = fs::read(path).unwrap();
    u16::from_le_bytes([bytes[18], bytes[19]])
}

#[test]
fn aarch64_artifact_with_a_compiled_wheel_runs_under_emulation() {
    if skip() {
        return;
    }
    let dir = project(&[
        (
            "pyk.toml",
            "name = \"yamlarm\"\nrun = \"app.py\"\ndependencies = [\"PyYAML==6.0.2\"]\n",
        ),
        (
            "app.py",
            "import platform, yaml\nprint(platform.machine(), yaml.__with_libyaml__, yaml.load('a: [1, 2]', Loader=yaml.CSafeLoader))\n",
        ),
    ]);
    let out = pyk()
        .env("PYK_CACHE_DIR", arm_cache())
        .current_dir(dir.path())
        .args(["build", "--python", "3.11", "--platform", "linux-aarch64"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("has no launcher for linux-aarch64") {
        eprintln!("skipped: this pyk was built without the aarch64 launcher (no aarch64 Rust standard library at hand)");
        return;
    }
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("linux-aarch64"), "{stderr}");
    let artifact = dir.path().join("dist/yamlarm");
    assert_eq!(machine(&artifact), 0xb7, "the launcher is not aarch64");
    // The C loader's extension module in the deps layer is aarch64 too.
    let listing = common::layer_listing(&artifact);
    assert!(
        listing.contains("_yaml.cpython-311-aarch64-linux-gnu.so"),
        "{listing}"
    );
    // A fresh cache: the first run unpacks every layer under emulation, the second reuses them.
    let cache = tempfile::tempdir().unwrap();
    for run in ["first", "warm"] {
        let out = ok(common::artifact(&artifact, cache.path()).env("QEMU_LD_PREFIX", ROOT));
        assert_eq!(out, "aarch64 True {'a': [1, 2]}\n", "{run} run");
    }
}

#[test]
fn an_sdist_for_another_machine_is_refused_in_one_line() {
    if skip() {
        return;
    }
    // docopt 0.6.2 is published as an sdist only.
    let dir = project(&[
        (
            "pyk.toml",
            "name = \"sdarm\"\nrun = \"app.py\"\ndependencies = [\"docopt==0.6.2\"]\n",
        ),
        ("app.py", "import docopt\n"),
    ]);
    let err = fails(
        pyk()
            .env("PYK_CACHE_DIR", arm_cache())
            .current_dir(dir.path())
            .args(["build", "--python", "3.11", "--platform", "linux-aarch64"]),
    );
    if err.contains("has no launcher for linux-aarch64") {
        eprintln!("skipped: this pyk was built without the aarch64 launcher");
        return;
    }
    let line = err.lines().last().unwrap();
    assert!(
        line.starts_with("pyk: error: docopt==0.6.2 has no wheel for Python 3.11 on linux-aarch64"),
        "{err}"
    );
}

#[test]
fn unknown_platforms_and_missing_runtimes_are_one_line() {
    let dir = project(&[
        ("pyk.toml", "name = \"p\"\nrun = \"app.py\"\n"),
        ("app.py", ""),
    ]);
    let err = fails(
        pyk()
            .current_dir(dir.path())
            .args(["build", "--platform", "linux-riscv64"]),
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("linux-x86_64 and linux-aarch64"), "{err}");
    // The shared test cache holds only x86_64 runtimes: none is taken for aarch64, and a
    // mirror nothing answers at stands in for a machine with no route to GitHub.
    let err = fails(
        pyk()
            .current_dir(dir.path())
            .env("PYK_PYTHON_MIRROR", "http://127.0.0.1:9")
            .args([
                "-q",
                "build",
                "--python",
                "3.11",
                "--platform",
                "linux-aarch64",
            ]),
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("none could be downloaded for linux-aarch64")
            || err.contains("has no launcher"),
        "{err}"
    );
}

/// A python-build-standalone-shaped aarch64 archive (`install_only`: everything under
/// `python/`, the interpreter finding its libraries through `$ORIGIN/../lib`) made from the
/// runtime imported from the aarch64 root: the layer unpacked and packed again as `.tar.gz`.
fn pbs_aarch64_archive(dir: &Path) -> PathBuf {
    let store = pyk_runtime_fetch::LayerStore::open(arm_cache());
    let layer = store
        .list()
        .unwrap()
        .into_iter()
        .find(|l| l.arch == "aarch64")
        .expect("the aarch64 runtime is imported");
    let unpacked = layer
        .unpacked
        .expect("the store records what a layer unpacks to");
    let tree = dir.join("tree");
    fs::create_dir_all(tree.join("python")).unwrap();
    let limits = pyk_artifact::extract::Limits {
        size: unpacked.size,
        files: unpacked.files,
    };
    pyk_artifact::extract::extract(
        &fs::read(&layer.path).unwrap(),
        &tree.join("python"),
        limits,
    )
    .unwrap();
    let archive = dir.join("archive.tar.gz");
    ok(std::process::Command::new("tar")
        .arg("-C")
        .arg(&tree)
        .arg("-czf")
        .arg(&archive)
        .arg("python"));
    archive
}

/// `pyk build --platform linux-aarch64` with no aarch64 runtime cached downloads
/// python-build-standalone's aarch64 build from a mirror (`PYK_PYTHON_MIRROR`, a real HTTP
/// server): the asset named for aarch64, checked against its sha256 before it is unpacked.
/// A pinned asset whose bytes are not the pinned ones is refused, and nothing is cached.
#[test]
fn aarch64_runtime_downloaded_from_a_pbs_mirror() {
    if skip() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let archive = pbs_aarch64_archive(work.path());
    let sha = common::install::sha256_of(&archive);
    let mirror_dir = work.path().join("mirror");
    let asset = |version: &str, release: &str| {
        format!(
            "cpython-{version}+{release}-aarch64-unknown-linux-gnu-install_only_stripped.tar.gz"
        )
    };
    common::mirror::publish(
        &mirror_dir,
        "29990101",
        &asset("3.11.2", "29990101"),
        &archive,
        &sha,
    );
    // The newest pinned release, serving these bytes for its 3.14 aarch64 build.
    let pinned = pyk_runtime_fetch::PINNED_RELEASE;
    common::mirror::publish(
        &mirror_dir,
        pinned,
        &asset("3.14.7", pinned),
        &archive,
        &sha,
    );
    let mirror = common::mirror::Mirror::serve(&mirror_dir);

    let cache = tempfile::tempdir().unwrap();
    let dir = project(&[
        ("pyk.toml", "name = \"pbsarm\"\nrun = \"app.py\"\n"),
        (
            "app.py",
            "import platform, sys\nprint(platform.machine(), sys.version_info[:3])\n",
        ),
    ]);
    let build = |python: &str, release: Option<&str>| {
        let mut cmd = pyk();
        cmd.env("PYK_CACHE_DIR", cache.path())
            .env("PYK_PYTHON_MIRROR", &mirror.url)
            .current_dir(dir.path())
            .args(["build", "--python", python, "--platform", "linux-aarch64"]);
        if let Some(release) = release {
            cmd.env("PYK_PBS_RELEASE", release);
        }
        cmd
    };

    // The pinned 3.14.7 aarch64 asset is fetched and checked against its pin, not the
    // mirror's SHA256SUMS.
    let err = fails(&mut build("3.14", None));
    if err.contains("has no launcher for linux-aarch64") {
        eprintln!("skipped: this pyk was built without the aarch64 launcher");
        return;
    }
    let err = err.lines().last().unwrap();
    assert!(err.starts_with("pyk: error: "), "{err}");
    assert!(
        err.contains(&format!(
            "/{pinned}/{}",
            asset("3.14.7", pinned).replace('+', "%2B")
        )) && err.contains("86dfb106b303fa6a1991f7da42ced3e11576f777be299b3162e06617b6d22542")
            && err.contains(&sha),
        "{err}"
    );
    let store = pyk_runtime_fetch::LayerStore::open(cache.path());
    assert!(
        store.list().unwrap().is_empty(),
        "nothing refused is cached"
    );

    // A release outside the table: checked against its SHA256SUMS, unpacked, made a layer.
    let out = build("3.11.2", Some("29990101")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let layers = store.list().unwrap();
    assert_eq!(layers.len(), 1, "{layers:?}");
    assert_eq!(layers[0].arch, "aarch64");
    assert_eq!(
        layers[0].source,
        "python-build-standalone 29990101 cpython-3.11.2 aarch64-unknown-linux-gnu"
    );
    let artifact = dir.path().join("dist/pbsarm");
    assert_eq!(machine(&artifact), 0xb7, "the launcher is not aarch64");
    let run_cache = tempfile::tempdir().unwrap();
    assert_eq!(
        ok(&mut common::artifact(&artifact, run_cache.path())),
        "aarch64 (3, 11, 2)\n"
    );
}

/// A Raspberry Pi's first pyk: in the aarch64 root (busybox's sh, wget and sha256sum, under
/// qemu-user), `wget -qO- SERVER/install.sh | sh` against a real `pyk serve --clients DIR`.
/// Without an aarch64 client the installer says so in one line; with the release build's
/// (`scripts/release.sh` writes `pyk-linux-aarch64`) it installs that one, which runs; and
/// that pyk's `self update` fetches the aarch64 client the server has next.
#[test]
fn install_sh_and_self_update_on_aarch64() {
    if skip() {
        return;
    }
    let root = Path::new(ROOT);
    if !root.join("bin/busybox").is_file() || !root.join("dev/null").exists() {
        eprintln!("skipped: no busybox in {ROOT} (scripts/setup.sh adds it)");
        return;
    }
    let arm_pyk = Path::new(common::RELEASE).join("pyk-linux-aarch64");
    if !arm_pyk.is_file() {
        eprintln!(
            "skipped: no aarch64 release build at {} (scripts/release.sh makes it where the cross toolchain is)",
            arm_pyk.display()
        );
        return;
    }
    if !common::can_unshare() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let clients = store.path().join("clients");
    fs::create_dir_all(&clients).unwrap();
    fs::copy(env!("CARGO_BIN_EXE_pyk"), clients.join("pyk-linux-x86_64")).unwrap();
    let server = common::repo::Server::start_with_args(
        &store.path().join("store"),
        0,
        common::repo::KEY,
        None,
        &["--clients", clients.to_str().unwrap()],
    );
    let work = tempfile::tempdir().unwrap();
    for dir in ["home", "tmp"] {
        fs::create_dir_all(work.path().join(dir)).unwrap();
    }
    let pi = |script: &str| {
        let mut cmd = common::in_root(root, Some(work.path()), &["/bin/sh", "-c", script]);
        // The same PATH finds chroot outside the root, and ~/.local/bin inside it.
        cmd.env("PATH", "/mnt/home/.local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("HOME", "/mnt/home")
            .env("TMPDIR", "/mnt/tmp")
            .env("PYK_CACHE_DIR", "/mnt/cache");
        cmd
    };
    let install = format!("wget -qO- {}/install.sh | sh", server.url);

    let err = fails(&mut pi(&install));
    assert_eq!(
        err,
        format!(
            "pyk install: unsupported platform linux-aarch64: {} has pyk for linux-x86_64 \n",
            server.url
        )
    );

    fs::copy(&arm_pyk, clients.join("pyk-linux-aarch64")).unwrap();
    let out = ok(&mut pi(&install));
    assert!(out.contains("linux-aarch64"), "{out}");
    let installed = work.path().join("home/.local/bin/pyk");
    assert_eq!(machine(&installed), 0xb7, "{out}");
    assert_eq!(fs::read(&installed).unwrap(), fs::read(&arm_pyk).unwrap());
    let version = ok(&mut pi("pyk --version"));
    assert!(version.starts_with("pyk "), "{version}");

    // A newer aarch64 client on the server (the same program, bytes appended): the
    // installed pyk asks for its own platform's and replaces itself with it.
    let mut newer = fs::read(&arm_pyk).unwrap();
    newer.extend_from_slice(b"\0a newer build");
    fs::write(clients.join("pyk-linux-aarch64"), &newer).unwrap();
    ok(&mut pi("pyk self update"));
    assert_eq!(fs::read(&installed).unwrap(), newer);
    ok(&mut pi("pyk --version"));
    let again = String::from_utf8(common::run(&mut pi("pyk self update")).stderr).unwrap();
    assert!(again.contains("already the repository's pyk"), "{again}");
}

/// `--runtime` repeated with several `--platform`: each platform's artifact takes the
/// archive whose Python is built for it, whatever the order; a platform no archive is for
/// is one line saying what each holds.
#[test]
fn one_runtime_archive_for_each_platform() {
    if skip() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let arm = pbs_aarch64_archive(work.path());
    let x86 = common::pbs_style_archive(work.path(), "x86.tar.gz");
    let cache = tempfile::tempdir().unwrap();
    let dir = project(&[
        ("pyk.toml", "name = \"twort\"\nrun = \"app.py\"\n"),
        ("app.py", "import platform\nprint(platform.machine())\n"),
    ]);
    let build = |archives: &[&Path]| {
        let mut cmd = pyk();
        cmd.env("PYK_CACHE_DIR", cache.path())
            .env("PYK_ZSTD_LEVEL", "3")
            .current_dir(dir.path())
            .args(["build", "--platform", "linux-x86_64"])
            .args(["--platform", "linux-aarch64"]);
        for archive in archives {
            cmd.arg("--runtime").arg(archive);
        }
        cmd
    };
    let err = fails(&mut build(&[&x86]));
    if err.contains("has no launcher for linux-aarch64") {
        eprintln!("skipped: this pyk was built without the aarch64 launcher");
        return;
    }
    let line = err.lines().last().unwrap();
    assert!(
        line.starts_with("pyk: error: no --runtime archive holds a Python for linux-aarch64 (")
            && line.ends_with("x86.tar.gz holds x86_64)"),
        "{err}"
    );
    ok(&mut build(&[&arm, &x86]));
    let run_cache = tempfile::tempdir().unwrap();
    for (platform, archive, arch) in [
        ("linux-x86_64", "x86.tar.gz", "x86_64"),
        ("linux-aarch64", "archive.tar.gz", "aarch64"),
    ] {
        let artifact = dir.path().join(format!("dist/twort-{platform}"));
        let trailer =
            pyk_artifact::trailer::Trailer::read(&File::open(&artifact).unwrap()).unwrap();
        assert!(
            trailer
                .runtime_source
                .starts_with(&format!("archive {archive} ")),
            "{platform}: {}",
            trailer.runtime_source
        );
        assert_eq!(
            ok(&mut common::artifact(&artifact, run_cache.path())),
            format!("{arch}\n")
        );
    }
}
