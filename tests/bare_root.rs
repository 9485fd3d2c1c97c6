//! Artifacts, and pyk itself, on machines that have little: a root filesystem built here from
//! the host's glibc files, and a Debian 11 root (glibc 2.31, as Ubuntu 20.04) that
//! `scripts/setup.sh` makes with debootstrap and keeps at [`BULLSEYE`]. Both are entered with
//! `unshare -m --fork` + `chroot` (root only, as CI runs), /proc mounted for the launcher's
//! `/proc/self/exe`. The app uses every stdlib module that needs a library beyond glibc.
mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::repo::*;
use common::*;
use pyk_artifact::trailer::Trailer;

/// The app: each import below loads a shared library that Debian's CPython takes from the host.
const APP: &str = r#"import bz2, ctypes, decimal, hashlib, lzma, sqlite3, ssl, sys, zlib
import xml.etree.ElementTree as ET
ssl.create_default_context()
db = sqlite3.connect(":memory:")
db.execute("create table t (x)")
db.execute("insert into t values (41)")
print("sqlite", db.execute("select x + 1 from t").fetchone()[0])
print("xml", ET.fromstring("<a><b>ok</b></a>").find("b").text)
print("ctypes", ctypes.CDLL(None).strlen(b"four"))
data = b"pyk" * 100
assert lzma.decompress(lzma.compress(data)) == data
assert bz2.decompress(bz2.compress(data)) == data
assert zlib.decompress(zlib.compress(data)) == data
print("sha256", hashlib.sha256(b"").hexdigest()[:8])
print("decimal", decimal.Decimal("1.1") + decimal.Decimal("2.2"))
print("prefix", sys.prefix)
"#;

/// glibc's libraries, the loader and libgcc_s, copied from the host to the same paths.
const GLIBC: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "librt.so.1",
    "libpthread.so.0",
    "libutil.so.1",
    "libresolv.so.2",
    "libgcc_s.so.1",
];
const LIB_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/lib64",
];
const LOADERS: &[&str] = &["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"];

fn copy_from_host(host: &Path, root: &Path) {
    let dest = root.join(host.strip_prefix("/").unwrap());
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    // fs::copy follows symlinks: the root gets the real file under the name the loader asks.
    fs::copy(host, &dest).unwrap_or_else(|e| panic!("copy {}: {e}", host.display()));
}

/// A root holding glibc and nothing else; `None` where this is not root or unshare is missing.
fn glibc_root(dir: &Path) -> Option<PathBuf> {
    if !can_unshare() {
        return None;
    }
    let root = dir.join("root");
    for name in GLIBC {
        let host = LIB_DIRS
            .iter()
            .map(|d| Path::new(d).join(name))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{name} not found on this machine"));
        copy_from_host(&host, &root);
    }
    let loader = LOADERS
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .expect("no dynamic loader found");
    copy_from_host(loader, &root);
    for d in ["proc", "tmp", "app", "cache"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    Some(root)
}

/// Runs `/app/NAME` inside `root`, with its runtime cache in `/cache`; returns stdout.
fn run_in_root(root: &Path, name: &str) -> String {
    ok(in_root(root, None, &[&format!("/app/{name}")])
        .env("PYK_CACHE_DIR", "/cache")
        .env("HOME", "/"))
}

/// What the app prints when every import worked.
const EXPECTED: &[&str] = &[
    "sqlite 42",
    "xml ok",
    "ctypes 4",
    "sha256 e3b0c442",
    "decimal 3.3",
    "prefix /cache/",
];

/// Builds `bare.py` with `pyk_toml` and runs it in a glibc-only root (or, where no such root
/// can be made, with an empty cache on this machine); returns its output.
fn run_app(cache: &Path, python: &str, pyk_toml: &str, app: &str, args: &[&str]) -> String {
    let dir = project(&[("pyk.toml", pyk_toml), ("bare.py", app)]);
    ok(pyk()
        .env("PYK_CACHE_DIR", cache)
        .current_dir(dir.path())
        .args(["build", "--python", python])
        .args(args));
    let work = tempfile::tempdir().unwrap();
    let Some(root) = glibc_root(work.path()) else {
        return ok(&mut artifact(
            &dir.path().join("dist/bare"),
            &work.path().join("cache"),
        ));
    };
    // Nothing but glibc: a host binary needing anything else cannot start there.
    assert!(!run(Command::new("chroot").arg(&root).arg("/bin/sh"))
        .status
        .success());
    fs::copy(dir.path().join("dist/bare"), root.join("app/bare")).unwrap();
    run_in_root(&root, "bare")
}

fn check_app_in_bare_root(cache: &Path, python: &str) {
    let out = run_app(
        cache,
        python,
        "name = \"bare\"\nrun = \"bare.py\"\n",
        APP,
        &[],
    );
    for line in EXPECTED {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
}

/// The same app and asyncio, json and sqlite3, on a runtime shaken down to what it imports
/// (issue 8). A module imported by a computed name is there when `keep` lists it; one that
/// is not listed fails to import with an error that says why and what to do.
#[test]
fn stripped_stdlib_runs_what_the_app_imports() {
    let app = format!(
        r#"{APP}
import asyncio, importlib, json
async def main():
    await asyncio.sleep(0)
    return json.dumps({{"asyncio": "ok"}})
print(asyncio.run(main()))
print("kept", importlib.import_module("".join(["colo", "rsys"])).__name__)
try:
    importlib.import_module("".join(["wa", "ve"]))
except ImportError as e:
    print("left out:", e)
"#
    );
    let toml = "name = \"bare\"\nrun = \"bare.py\"\nstrip_stdlib = true\nkeep = [\"colorsys\"]\n";
    let out = run_app(build_cache(), PY, toml, &app, &[]);
    for line in EXPECTED.iter().chain(&[
        "{\"asyncio\": \"ok\"}",
        "kept colorsys",
        "left out: No module named 'wave': pyk build --strip-stdlib left it out",
        "keep = [...]",
    ]) {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    // Without `keep` the computed import fails too, and the flag does what the key does.
    let out = run_app(
        build_cache(),
        PY,
        "name = \"bare\"\nrun = \"bare.py\"\n",
        "import importlib\ntry:\n    importlib.import_module(''.join(['colo', 'rsys']))\nexcept ImportError as e:\n    print(e)\n",
        &["--strip-stdlib"],
    );
    assert!(
        out.contains("No module named 'colorsys': pyk build --strip-stdlib"),
        "{out}"
    );
}

#[test]
fn debian_runtime_artifact_runs_on_a_glibc_only_root() {
    check_app_in_bare_root(build_cache(), PY);
}

#[test]
fn pyenv_runtime_artifact_runs_on_a_glibc_only_root() {
    let Some(home) = std::env::var_os("HOME") else {
        return;
    };
    let python = Path::new(&home).join(".pyenv/versions/3.12.1/bin/python3.12");
    if !python.exists() {
        eprintln!(
            "skipped: {} is absent (a pyenv 3.12.1 build is what this test adopts)",
            python.display()
        );
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    ok(pyk()
        .env("PYK_CACHE_DIR", cache.path())
        .env("PYK_ZSTD_LEVEL", "3")
        .args(["-q", "runtime", "import"])
        .arg(&python));
    check_app_in_bare_root(cache.path(), "3.12");
}

/// The Debian 11 root `scripts/setup.sh` makes: `debootstrap --variant=minbase bullseye`, then
/// `python3` (3.9) from its own apt.
const BULLSEYE: &str = "/opt/pyk-tests/bullseye";

/// The Debian 11 root, or `None` (said on stderr) where setup has not made it or this is not
/// root.
fn bullseye() -> Option<&'static Path> {
    let root = Path::new(BULLSEYE);
    if !root.join("usr/bin/python3.9").is_file() {
        eprintln!("skipped: no Debian 11 root at {BULLSEYE} (scripts/setup.sh makes it)");
        return None;
    }
    can_unshare().then_some(root)
}

/// A machine in the Debian 11 root: a work dir bound at `/mnt` holding the release `pyk`
/// (the glibc 2.17 build), with HOME and the cache under it.
struct OldMachine {
    root: &'static Path,
    work: tempfile::TempDir,
}

impl OldMachine {
    /// `None` (said on stderr) without the root or the release build.
    fn new() -> Option<OldMachine> {
        let (root, release) = (bullseye()?, release_build()?);
        let work = tempfile::tempdir().unwrap();
        fs::copy(release.join("pyk"), work.path().join("pyk")).unwrap();
        for dir in ["home", "tmp"] {
            fs::create_dir_all(work.path().join(dir)).unwrap();
        }
        Some(OldMachine { root, work })
    }

    /// `argv` inside the root, `/mnt/pyk`'s environment set: cache in `/mnt/cache`, temporary
    /// files in `/mnt/tmp`.
    fn cmd(&self, argv: &[&str]) -> Command {
        let mut cmd = in_root(self.root, Some(self.work.path()), argv);
        // The root is read-only: its /tmp too.
        cmd.env("HOME", "/mnt/home")
            .env("TMPDIR", "/mnt/tmp")
            .env("PYK_CACHE_DIR", "/mnt/cache")
            .env("PYK_ZSTD_LEVEL", "3")
            .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH);
        cmd
    }

    /// `pyk ARGS…` run in `/mnt/DIR` inside the root.
    fn pyk_in(&self, dir: &str, args: &[&str]) -> Command {
        let mut argv = vec!["/bin/sh", "-c", "cd \"$0\" && exec /mnt/pyk \"$@\""];
        argv.push(dir);
        argv.extend(args);
        self.cmd(&argv)
    }

    /// Bullseye's own python3.9 adopted inside the root (`pyk runtime import`, the way a
    /// user of that machine would), into `/mnt/cache`.
    fn import_python(&self) {
        ok(&mut self.pyk_in("/", &["-q", "runtime", "import", "/usr/bin/python3"]));
    }

    fn path(&self, inside: &str) -> PathBuf {
        self.work.path().join(inside.trim_start_matches("/mnt/"))
    }
}

/// A user of Debian 11 adopts its python3 and builds the app with the release `pyk`: the
/// artifact runs there, its libraries (libssl1.1, libffi7, … of Debian 11) bundled.
#[test]
fn debian_11_python_artifact_runs_on_debian_11() {
    let Some(machine) = OldMachine::new() else {
        return;
    };
    machine.import_python();
    let proj = machine.path("/mnt/proj");
    fs::create_dir_all(&proj).unwrap();
    fs::write(
        proj.join("pyk.toml"),
        "name = \"bare\"\nrun = \"bare.py\"\n",
    )
    .unwrap();
    fs::write(proj.join("bare.py"), APP).unwrap();
    ok(&mut machine.pyk_in("/mnt/proj", &["-q", "build", "--python", "3.9"]));
    let info = ok(pyk().arg("info").arg(proj.join("dist/bare")));
    assert!(info.contains("Python 3.9"), "{info}");
    let out = ok(machine
        .cmd(&["/mnt/proj/dist/bare"])
        .env("PYK_CACHE_DIR", "/mnt/run-cache"));
    for line in EXPECTED
        .iter()
        .map(|l| l.replace("/cache/", "/mnt/run-cache/"))
    {
        assert!(out.contains(&line), "missing {line:?} in:\n{out}");
    }
}

/// The release `pyk` on Debian 11 against a repository served from this machine (the root
/// shares the network namespace): the first run fetches, the warm run uses the cache, and a
/// newer version published meanwhile is found by the next run's update check.
#[test]
fn release_pyk_runs_programs_on_debian_11_from_a_repository() {
    let Some(machine) = OldMachine::new() else {
        return;
    };
    // Published from this machine with Debian 11's runtime (imported there, into a cache
    // the publisher shares): what runs on the old machine is built on a new one.
    machine.import_python();
    let (_dir, server) = server();
    let publish = |marker: &str| {
        let publisher = Client::new(&server);
        ok(publisher
            .pyk()
            .env("PYK_CACHE_DIR", machine.path("/mnt/cache"))
            .env("PYK_ZSTD_LEVEL", "3")
            .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
            .current_dir(app(marker).path())
            .args(["-q", "publish", "--python", "3.9"]));
    };
    publish("v1");
    let client = Client::new(&server);
    fs::copy(
        client.home.path().join("trust.toml"),
        machine.path("/mnt/trust.toml"),
    )
    .unwrap();
    let pyk = |args: &[&str]| {
        let mut cmd = machine.pyk_in("/", args);
        cmd.env("PYK_SERVER", &server.url)
            .env("PYK_KEY", KEY)
            .env("PYK_CONFIG", "/mnt/trust.toml")
            .env("PYK_CACHE_DIR", "/mnt/client-cache")
            .env("PYK_TIMEOUT", "5");
        ok(&mut cmd)
    };
    assert_eq!(pyk(&["app", "first"]), "v1 app 1 first\n");
    assert_eq!(pyk(&["app", "warm"]), "v1 app 1 warm\n");
    publish("v2");
    assert_eq!(pyk(&["app", "updated"]), "v2 app 2 updated\n");
}

/// An artifact whose runtime needs a newer glibc (Debian 12's python3.11: 2.35) says so in
/// the launcher's one line on Debian 11, instead of the dynamic loader's three.
#[test]
fn a_newer_runtime_is_refused_on_debian_11_in_one_line() {
    let Some(root) = bullseye() else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    fs::copy(hello(), work.path().join("hello")).unwrap();
    let trailer = Trailer::read(&fs::File::open(hello()).unwrap()).unwrap();
    let (major, minor) = trailer.glibc.expect("the runtime records a glibc floor");
    assert!((major, minor) > (2, 31), "{major}.{minor}");
    let err =
        fails(in_root(root, Some(work.path()), &["/mnt/hello"]).env("PYK_CACHE_DIR", "/mnt/cache"));
    assert_eq!(
        err,
        format!("hello: needs glibc ≥ {major}.{minor}; this machine has 2.31\n")
    );
    assert!(!work.path().join("cache").exists(), "nothing is unpacked");
}

/// From nothing to `pyk foo` on Debian 11 in two commands, against a repository served from
/// this machine that hands out the release `pyk` (`pyk serve --clients DIR`): `curl … |
/// sh` installs it with the server in the config, and `pyk app` runs with only the key
/// given (the installer never writes one).
#[test]
fn install_sh_then_pyk_foo_on_debian_11() {
    let Some(machine) = OldMachine::new() else {
        return;
    };
    if !machine.root.join("usr/bin/curl").is_file() {
        eprintln!("skipped: no curl in {BULLSEYE} (scripts/setup.sh installs it)");
        return;
    }
    machine.import_python();
    let store = tempfile::tempdir().unwrap();
    let clients = store.path().join("clients");
    fs::create_dir_all(&clients).unwrap();
    fs::copy(machine.path("/mnt/pyk"), clients.join("pyk-linux-x86_64")).unwrap();
    let server = Server::start_with_args(
        &store.path().join("store"),
        0,
        KEY,
        None,
        &["--clients", clients.to_str().unwrap()],
    );
    ok(Client::new(&server)
        .pyk()
        .env("PYK_CACHE_DIR", machine.path("/mnt/cache"))
        .env("PYK_ZSTD_LEVEL", "3")
        .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
        .current_dir(app("v1").path())
        .args(["-q", "publish", "--python", "3.9"]));
    let user = |script: &str| {
        let mut cmd = machine.cmd(&["/bin/sh", "-c", script]);
        // The same PATH finds chroot outside the root, and ~/.local/bin inside it.
        cmd.env("PATH", "/mnt/home/.local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .env("PYK_CACHE_DIR", "/mnt/user-cache");
        cmd
    };
    let installed = ok(&mut user(&format!(
        "curl -fsSL {}/install.sh | sh",
        server.url
    )));
    assert!(
        machine.path("/mnt/home/.local/bin/pyk").is_file(),
        "{installed}"
    );
    let config = fs::read_to_string(machine.path("/mnt/home/.config/pyk/config.toml")).unwrap();
    assert!(config.contains(&server.url), "{config}");
    assert!(!config.contains(KEY), "{config}");
    let out = ok(user("pyk app first").env("PYK_KEY", KEY));
    assert_eq!(out, "v1 app 1 first\n");
}
