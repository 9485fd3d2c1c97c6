//! Shared by the end-to-end tests: the `pyk` binary, a runtime imported once from the
//! machine's CPython, and small apps written into temp directories.
#![allow(dead_code)] // each test binary uses a different part

pub mod install;
pub mod mirror;
pub mod mitm;
pub mod repo;
pub mod tls;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The Debian CPython every machine of this kind has (`.ci/run` installs it otherwise).
pub const SYSTEM_PYTHON: &str = "/usr/bin/python3.11";
pub const PY: &str = "3.11";

/// Whether this test may make mounts of its own (`unshare -m`, which needs root); says
/// why not on stderr, for the test that then skips.
pub fn can_unshare() -> bool {
    let can = run(Command::new("unshare").args(["-m", "--fork", "true"]))
        .status
        .success();
    if !can {
        eprintln!("skipped: `unshare -m` is not permitted here (the test needs root)");
    }
    can
}

/// The build time every test build records, so builds are reproducible.
pub const SOURCE_DATE_EPOCH: &str = "1700000000";

pub fn pyk() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pyk"));
    cmd.env("PYK_CACHE_DIR", build_cache())
        .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
        // Dependency and app layers compressed fast: the tests build many.
        .env("PYK_ZSTD_LEVEL", "3")
        .env_remove("PYK_PYTHON")
        .env_remove("PYK_PYTHON_MIRROR");
    cmd
}

/// The cache the tests build with: one runtime layer imported from [`SYSTEM_PYTHON`],
/// shared by every test binary (imported under a lock by whichever starts first).
pub fn build_cache() -> &'static Path {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    CACHE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pyk-test-cache");
        fs::create_dir_all(&dir).unwrap();
        let lock = File::create(dir.join("import.lock")).unwrap();
        lock.lock().unwrap();
        if !dir.join("imported-layers-v2").exists() {
            let out = Command::new(env!("CARGO_BIN_EXE_pyk"))
                .env("PYK_CACHE_DIR", &dir)
                .args(["runtime", "import", SYSTEM_PYTHON])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "runtime import failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            fs::write(dir.join("imported-layers-v2"), b"").unwrap();
        }
        dir
    })
}

/// Runs a command, returning its output.
///
/// A file this test process just wrote can be briefly "busy" (ETXTBSY): another test
/// thread's fork may still hold the write descriptor until its exec. Retry then.
pub fn run(cmd: &mut Command) -> Output {
    for _ in 0..50 {
        match cmd.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            result => return result.unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}")),
        }
    }
    panic!("{cmd:?} stayed busy");
}

/// Runs a command that must succeed; returns its stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail; returns its stderr.
pub fn fails(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        !out.status.success(),
        "{cmd:?} should have failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "panic: {stderr}"
    );
    stderr
}

/// Writes `files` (path, contents) under a new temp dir.
pub fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

/// `pyk build` in `dir` with extra args; returns the artifact path (`dir/dist/NAME`).
pub fn build(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    ok(pyk()
        .current_dir(dir)
        .args(["build", "--python", PY])
        .args(args));
    let path = dir.join("dist").join(name);
    assert!(path.is_file(), "{} not built", path.display());
    path
}

pub const HELLO: &str = r#"import sys
if len(sys.argv) > 1 and sys.argv[1].startswith("exit="):
    sys.exit(int(sys.argv[1][5:]))
print("hello", *sys.argv[1:])
print("argv0", sys.argv[0])
"#;

/// The hello app, built once per test binary.
pub fn hello() -> &'static Path {
    static HELLO_APP: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = HELLO_APP.get_or_init(|| {
        let dir = project(&[
            ("pyk.toml", "name = \"hello\"\nrun = \"hello.py\"\n"),
            ("hello.py", HELLO),
        ]);
        let path = build(dir.path(), "hello", &[]);
        (dir, path)
    });
    path
}

/// A command running `artifact` with its runtime cache in `cache`.
pub fn artifact(artifact: &Path, cache: &Path) -> Command {
    let mut cmd = Command::new(artifact);
    cmd.env("PYK_CACHE_DIR", cache);
    cmd
}

/// Every entry of an artifact's dependency and app layers, one a line as `ROLE PATH`
/// (directories end in `/`), units listed as `deps`: the site-packages tree they make
/// (a directory several units hold is listed once for each).
pub fn layer_listing(artifact: &Path) -> String {
    let bytes = fs::read(artifact).unwrap();
    let trailer = pyk_artifact::trailer::Trailer::read(&File::open(artifact).unwrap()).unwrap();
    let mut out = String::new();
    for layer in trailer.layers.iter().skip(1) {
        let span = &bytes[layer.span.offset as usize..layer.span.end() as usize];
        let tar = zstd::decode_all(span).unwrap();
        for entry in tar::Archive::new(&tar[..]).entries().unwrap() {
            let entry = entry.unwrap();
            let slash = if entry.header().entry_type().is_dir() {
                "/"
            } else {
                ""
            };
            let role = match layer.role {
                pyk_artifact::trailer::Role::Unit => "deps",
                role => role.as_str(),
            };
            out.push_str(&format!(
                "{role} {}{slash}\n",
                entry.path().unwrap().display()
            ));
        }
    }
    out
}

/// Where `scripts/setup.sh` has `scripts/release.sh` put the release build (a `pyk` and its
/// wheel, for glibc ≥ 2.17).
pub const RELEASE: &str = "/opt/pyk-tests/release";

/// [`RELEASE`], when its `pyk` was built from this checkout (the same `--version` line);
/// otherwise `None`, with the reason on stderr, and the calling test skips.
pub fn release_build() -> Option<&'static Path> {
    let dir = Path::new(RELEASE);
    let built = dir.join("pyk");
    if !built.is_file() {
        eprintln!(
            "skipped: no release build in {RELEASE} (scripts/setup.sh runs scripts/release.sh {RELEASE})"
        );
        return None;
    }
    let first = |out: String| out.lines().next().unwrap_or_default().to_owned();
    let (release, this) = (
        first(ok(Command::new(&built).arg("--version"))),
        first(ok(pyk().arg("--version"))),
    );
    if release != this {
        eprintln!(
            "skipped: {} is {release:?}, this checkout {this:?} (run scripts/release.sh {RELEASE})",
            built.display()
        );
        return None;
    }
    Some(dir)
}

/// `argv` run inside `root` in a mount namespace of its own, with /proc mounted and an empty
/// environment. With `work`, the root is read-only (a cached root stays as setup made it) and
/// `work` is bound at `/mnt`, writable.
pub fn in_root(root: &Path, work: Option<&Path>, argv: &[&str]) -> Command {
    let mut script = String::from("set -e\n");
    if let Some(work) = work {
        script += &format!(
            "mount --bind '{0}' '{0}'\nmount -o remount,bind,ro '{0}'\nmount --bind '{1}' '{0}/mnt'\n",
            root.display(),
            work.display()
        );
    }
    script += &format!(
        "mount -t proc proc '{0}/proc'\nexec chroot '{0}' \"$@\"",
        root.display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--fork", "sh", "-c", &script, "sh"])
        .args(argv)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    cmd
}

/// Makes `python/` from Debian's CPython (python-build-standalone's layout) in `dir` and
/// packs it as `name`.
pub fn pbs_style_archive(dir: &Path, name: &str) -> PathBuf {
    let script = format!(
        "set -e; mkdir -p python/bin python/lib; cp {SYSTEM_PYTHON} python/bin/python3.11; ln -sf python3.11 python/bin/python3; \
         cp -r /usr/lib/python3.11 python/lib/; rm python/lib/python3.11/sitecustomize.py; tar czf {name} python; rm -r python"
    );
    ok(Command::new("sh").args(["-c", &script]).current_dir(dir));
    dir.join(name)
}
