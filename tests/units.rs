//! Dependencies as units, end to end with real PyPI packages, a real `pyk serve` and real
//! binaries: each installed distribution is its own layer (a `unit`), published as its own
//! blob, unpacked once per machine into `units-v1`, and a program's site-packages is a view
//! in `views-v1` assembled from its units by hard links (copies across filesystems).
//!
//! What is checked, and why it matters:
//! - two apps sharing numpy (one also with pandas) on one client machine: numpy's blob is
//!   downloaded once and unpacked once, and the second app's view links the very files the
//!   first one's does (same inodes), so the second app costs only what numpy lacks;
//! - a dependency bump (requests 2.32.3 to 2.32.4 beside numpy, the app's code unchanged):
//!   the client fetches the new requests unit and the new trailer, and nothing else (not
//!   numpy, not the runtime, not the app layer, which is the same blob as before);
//! - twenty simultaneous first runs of two apps sharing units: every unit and every view is
//!   filled by exactly one process (the `cache: filling` debug lines say which);
//! - an administrator's shared cache on another filesystem (tmpfs in /dev/shm): a user's
//!   program finds numpy there, so the user's cache gets no numpy unit, and its view holds
//!   copies of numpy's files, since a hard link cannot cross filesystems. The user is the
//!   administrator's own uid here, so a failed link can only be the filesystem's doing.
//!
//! Versions are pinned so the results stay the same; the apps are built and published once
//! per test binary ([`published`]), and each test serves a copy of that repository.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Barrier, OnceLock};

use common::repo::*;
use common::*;
use pyk_artifact::trailer::{Layer, Role, Trailer};
use pyk_protocol::Sha256;

const NUMPY: &str = "numpy==2.1.3";
/// pandas and everything it installs, pinned.
const PANDAS: &[&str] = &[
    "pandas==2.2.3",
    "python-dateutil==2.9.0.post0",
    "pytz==2024.2",
    "tzdata==2024.2",
    "six==1.16.0",
];
/// requests' own dependencies, pinned (requests itself is what the bump changes).
const REQUESTS_DEPS: &[&str] = &[
    "certifi==2024.8.30",
    "charset-normalizer==3.4.0",
    "idna==3.10",
    "urllib3==2.2.3",
];

const NP_SCRIPT: &str = "import numpy as np\na = np.arange(6).reshape(2, 3)\nprint('np', (a @ a.T).tolist(), np.__version__)\n";
const NP_OUT: &str = "np [[5, 14], [14, 50]] 2.1.3\n";
const PD_SCRIPT: &str = "import numpy as np, pandas as pd
df = pd.DataFrame({'a': np.arange(4), 'b': list('wxyz')})
t = pd.Timestamp('2024-07-01 12:00', tz='Europe/Berlin').tz_convert('UTC')
print('pd', int(df.a.sum()), df.b.iloc[-1], t.hour, pd.__version__, np.__version__)
";
const PD_OUT: &str = "pd 6 z 10 2.2.3 2.1.3\n";
const NPREQ_SCRIPT: &str = "import numpy, requests\nprint('npreq', requests.__version__, numpy.__version__, requests.Session().__class__.__name__)\n";

/// Writes a project `name` (entry `NAME_app.py` running `script`) depending on `deps` into
/// `dir`.
fn write_project(dir: &Path, name: &str, deps: &[&str], script: &str) {
    fs::create_dir_all(dir).unwrap();
    fs::write(
        dir.join("pyk.toml"),
        format!("name = \"{name}\"\nrun = \"{name}_app.py\"\ndependencies = {deps:?}\n"),
    )
    .unwrap();
    fs::write(dir.join(format!("{name}_app.py")), script).unwrap();
}

/// `pyk publish` of the project in `dir` from a publisher machine sharing the build cache,
/// built as the tests build (fixed time, fast compression); returns the artifact the
/// publish built and uploaded (`dir/dist/NAME`), the exact bytes the server holds.
fn publish_app(server: &Server, dir: &Path, name: &str) -> PathBuf {
    let publisher = Client::new(server);
    ok(publisher
        .pyk()
        .env("PYK_CACHE_DIR", build_cache())
        .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
        .env("PYK_ZSTD_LEVEL", "3")
        .current_dir(dir)
        .args(["publish", "--python", PY]));
    let path = dir.join("dist").join(name);
    assert!(path.is_file(), "{} not built", path.display());
    path
}

/// A repository holding `np` (numpy) and `pd` (numpy and pandas), published once per test
/// binary; the server is stopped, its store kept for [`serve_copy`].
struct Published {
    _dir: tempfile::TempDir,
    store: PathBuf,
    np: PathBuf,
    pd: PathBuf,
}

fn published() -> &'static Published {
    static PUBLISHED: OnceLock<Published> = OnceLock::new();
    PUBLISHED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("server").join("pyk.db");
        fs::create_dir_all(store.parent().unwrap()).unwrap();
        let server = Server::start(&store, 0);
        write_project(&dir.path().join("np"), "np", &[NUMPY], NP_SCRIPT);
        let pd_deps: Vec<&str> = [NUMPY].iter().chain(PANDAS).copied().collect();
        write_project(&dir.path().join("pd"), "pd", &pd_deps, PD_SCRIPT);
        let np = publish_app(&server, &dir.path().join("np"), "np");
        let pd = publish_app(&server, &dir.path().join("pd"), "pd");
        drop(server);
        Published {
            _dir: dir,
            store,
            np,
            pd,
        }
    })
}

/// A new server on a copy of [`published`]'s store, with a request log of its own.
fn serve_copy(published: &Published) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("pyk.db");
    ok(Command::new("cp")
        .arg("-a")
        .arg(&published.store)
        .arg(&store));
    let server = Server::start(&store, 0);
    (dir, server)
}

/// The trailer of the artifact at `path`.
fn trailer(path: &Path) -> Trailer {
    Trailer::read(&File::open(path).unwrap()).unwrap()
}

/// The unit of `t` whose name starts with `prefix` (`numpy-`).
fn unit<'a>(t: &'a Trailer, prefix: &str) -> &'a Layer {
    t.units()
        .find(|u| u.name.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix}… unit in {}", t.name))
}

/// The keys (sha256) of `t`'s units.
fn unit_keys(t: &Trailer) -> BTreeSet<String> {
    t.units().map(Layer::key).collect()
}

/// The blob an artifact's `pylock.toml` and trailer are published as: its bytes after the
/// last layer.
fn trailer_blob(path: &Path) -> String {
    let bytes = fs::read(path).unwrap();
    let end = trailer(path).layers.last().unwrap().span.end() as usize;
    Sha256::of(&bytes[end..]).to_string()
}

/// The entries of a cache bucket (no lock files, no work directories).
fn entries(bucket: &Path) -> BTreeSet<String> {
    let Ok(dir) = fs::read_dir(bucket) else {
        return BTreeSet::new();
    };
    dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && !n.ends_with(".lock"))
        .collect()
}

/// Every regular file under `dir`, by path relative to it, with its inode, size and
/// modification time (what unpacking it again or writing into it would change).
fn files(dir: &Path) -> BTreeMap<PathBuf, (u64, u64, i64, i64)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (u64, u64, i64, i64)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                walk(root, &path, out);
            } else if meta.is_file() {
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                out.insert(
                    rel,
                    (meta.ino(), meta.len(), meta.mtime(), meta.mtime_nsec()),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// How many times the server sent `blob` so far.
fn downloads(server: &Server, blob: &str) -> usize {
    blobs_fetched(&server.log_since(0))
        .iter()
        .filter(|b| *b == blob)
        .count()
}

/// `pyk ARGS…` on `client`'s machine under `env -i`: nothing in the environment but PATH
/// and the client's own variables (cache, config, server, key).
fn bare(client: &Client, args: &[&str]) -> Command {
    let mut probe = Command::new("true");
    client.env(&mut probe);
    let mut cmd = Command::new("env");
    cmd.args(["-i", "PATH=/usr/bin:/bin"]);
    for (name, value) in probe.get_envs() {
        if let Some(value) = value {
            let mut pair = OsString::from(name);
            pair.push("=");
            pair.push(value);
            cmd.arg(pair);
        }
    }
    cmd.arg(env!("CARGO_BIN_EXE_pyk")).args(args);
    cmd
}

#[test]
fn two_apps_sharing_numpy_fetch_and_unpack_it_once_and_link_the_same_files() {
    let published = published();
    let (np, pd) = (trailer(&published.np), trailer(&published.pd));
    let numpy = unit(&np, "numpy-").key();
    assert_eq!(
        unit(&pd, "numpy-").key(),
        numpy,
        "the two builds' numpy units differ: nothing would be shared"
    );
    let (_dir, server) = serve_copy(published);
    let client = Client::new(&server);
    let cache = client.cache();
    let units = cache.join("units-v1");

    assert_eq!(ok(client.pyk().arg("np")), NP_OUT);
    let after_np = entries(&units);
    assert_eq!(after_np, unit_keys(&np), "units-v1 after np's first run");
    let numpy_files = files(&units.join(&numpy));
    assert!(
        numpy_files.len() > 1000,
        "numpy's unit holds only {} files",
        numpy_files.len()
    );

    assert_eq!(ok(client.pyk().arg("pd")), PD_OUT);
    assert_eq!(
        downloads(&server, &numpy),
        1,
        "numpy's unit blob {numpy} was not downloaded exactly once"
    );
    let after_pd = entries(&units);
    let added: BTreeSet<String> = after_pd.difference(&after_np).cloned().collect();
    let missing: BTreeSet<String> = unit_keys(&pd).difference(&after_np).cloned().collect();
    assert!(after_pd.is_superset(&after_np), "{after_np:?} {after_pd:?}");
    assert_eq!(
        added, missing,
        "pd's first run added other units than those np lacks"
    );
    let numpy_entries: Vec<&String> = after_pd
        .iter()
        .filter(|k| units.join(k).join("numpy").is_dir())
        .collect();
    assert_eq!(
        numpy_entries,
        [&numpy],
        "the units-v1 entries holding numpy"
    );
    assert_eq!(
        files(&units.join(&numpy)),
        numpy_files,
        "numpy's unit was written again by pd's first run"
    );

    // Both views link numpy's files: the unit's inodes, not copies.
    let views = cache.join("views-v1");
    let np_view = views.join(np.view_key().unwrap());
    let pd_view = views.join(pd.view_key().unwrap());
    assert_ne!(np_view, pd_view);
    for (rel, (ino, ..)) in &numpy_files {
        for view in [&np_view, &pd_view] {
            let meta = fs::symlink_metadata(view.join(rel))
                .unwrap_or_else(|e| panic!("{}: {e}", view.join(rel).display()));
            assert_eq!(
                meta.ino(),
                *ino,
                "{} is not numpy's unit file",
                view.join(rel).display()
            );
        }
    }

    // Warm runs under `env -i`: right output, not a blob fetched.
    let from = server.mark();
    assert_eq!(ok(&mut bare(&client, &["np"])), NP_OUT);
    assert_eq!(ok(&mut bare(&client, &["pd"])), PD_OUT);
    let warm = blobs_fetched(&server.log_since(from));
    assert!(warm.is_empty(), "warm runs fetched {warm:?}");
    assert_eq!(files(&units.join(&numpy)), numpy_files);
}

/// A project `npreq` depending on numpy and `requests` (`requests==…`).
fn npreq(requests: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let deps: Vec<&str> = [NUMPY, requests]
        .iter()
        .chain(REQUESTS_DEPS)
        .copied()
        .collect();
    write_project(dir.path(), "npreq", &deps, NPREQ_SCRIPT);
    dir
}

#[test]
fn a_dependency_bump_fetches_the_new_unit_and_the_trailer_only() {
    let (_dir, server) = server();
    let client = Client::new(&server);
    let v1 = npreq("requests==2.32.3");
    let a1 = publish_app(&server, v1.path(), "npreq");
    assert_eq!(
        ok(client.pyk().arg("npreq")),
        "npreq 2.32.3 2.1.3 Session\n"
    );

    let v2 = npreq("requests==2.32.4");
    let a2 = publish_app(&server, v2.path(), "npreq");
    let (t1, t2) = (trailer(&a1), trailer(&a2));
    let requests = unit(&t2, "requests-");
    assert_eq!(requests.name, "requests-2.32.4");
    // The bump changed one unit: requests'.
    let new_units: Vec<String> = unit_keys(&t2)
        .difference(&unit_keys(&t1))
        .cloned()
        .collect();
    assert_eq!(new_units, [requests.key()], "units new in version 2");
    // The app's code did not change, so neither did its layer (content-addressed): it is
    // unpacked already and not fetched again.
    let app = t2.layer(Role::App).unwrap().key();
    assert_eq!(
        app,
        t1.layer(Role::App).unwrap().key(),
        "the app layer of an unchanged app"
    );

    let from = server.mark();
    assert_eq!(
        ok(client.pyk().arg("npreq")),
        "npreq 2.32.4 2.1.3 Session\n"
    );
    let lines = server.log_since(from);
    let mut got = blobs_fetched(&lines);
    got.sort();
    let mut want = vec![requests.key(), trailer_blob(&a2)];
    want.sort();
    assert_eq!(
        got, want,
        "the blobs the bumped version's first run fetched (requests' unit, the trailer): {lines:#?}"
    );
    // Besides those blobs, the one manifest request.
    let others: Vec<&String> = lines
        .iter()
        .filter(|l| !l.contains("GET /v1/blobs/"))
        .collect();
    assert!(
        others.len() == 1 && others[0].contains("GET /v1/packages/run/npreq "),
        "requests other than blobs: {others:#?}"
    );
}

/// The paths a `cache: filling PATH` debug line names in `stderr`, with how many times.
fn fills(stderr: &str, into: &mut BTreeMap<PathBuf, usize>) {
    for line in stderr.lines() {
        if let Some((_, path)) = line.split_once("cache: filling ") {
            *into.entry(PathBuf::from(path.trim())).or_default() += 1;
        }
    }
}

#[test]
fn twenty_simultaneous_first_runs_of_two_apps_fill_each_unit_and_view_once() {
    let published = published();
    let (np, pd) = (trailer(&published.np), trailer(&published.pd));
    let numpy = unit(&np, "numpy-").key();
    let (_dir, server) = serve_copy(published);
    let client = Client::new(&server);
    let start = Barrier::new(20);
    let runs: Vec<(&str, Output)> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..20)
            .map(|i| {
                let name = if i % 2 == 0 { "np" } else { "pd" };
                let (client, start) = (&client, &start);
                s.spawn(move || {
                    let mut cmd = client.pyk();
                    cmd.env("PYK_LOG", "debug")
                        .arg(name)
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped());
                    start.wait();
                    (name, run(&mut cmd))
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let mut filled = BTreeMap::new();
    for (i, (name, out)) in runs.iter().enumerate() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "run {i} of {name} failed: {stderr}");
        let want = if *name == "np" { NP_OUT } else { PD_OUT };
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "run {i}");
        fills(&stderr, &mut filled);
    }
    let cache = client.cache();
    let (units, views) = (cache.join("units-v1"), cache.join("views-v1"));
    let twice: Vec<_> = filled
        .iter()
        .filter(|(path, n)| **n > 1 && (path.starts_with(&units) || path.starts_with(&views)))
        .collect();
    assert!(twice.is_empty(), "filled more than once: {twice:#?}");
    assert_eq!(filled.get(&units.join(&numpy)), Some(&1), "{filled:#?}");
    // Every unit of either app and both views were filled, by one run each.
    let keys_under = |bucket: &Path| -> BTreeSet<String> {
        filled
            .keys()
            .filter_map(|p| p.strip_prefix(bucket).ok())
            .map(|k| k.to_string_lossy().into_owned())
            .collect()
    };
    let all_units: BTreeSet<String> = unit_keys(&np).union(&unit_keys(&pd)).cloned().collect();
    assert_eq!(keys_under(&units), all_units);
    assert_eq!(
        keys_under(&views),
        BTreeSet::from([np.view_key().unwrap(), pd.view_key().unwrap()])
    );
    assert_eq!(
        downloads(&server, &numpy),
        1,
        "numpy's blob was downloaded more than once"
    );
}

#[test]
fn a_shared_cache_on_another_filesystem_gives_a_view_of_copies() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        eprintln!("skipped: no /dev/shm");
        return;
    }
    let admin = tempfile::tempdir_in(shm).unwrap();
    let user = tempfile::tempdir().unwrap();
    let dev = |p: &Path| fs::metadata(p).unwrap().dev();
    if dev(admin.path()) == dev(user.path()) {
        eprintln!(
            "skipped: {} and {} are on one filesystem",
            admin.path().display(),
            user.path().display()
        );
        return;
    }
    let published = published();
    let (np, pd) = (trailer(&published.np), trailer(&published.pd));
    let numpy = unit(&np, "numpy-").key();

    // The administrator seeds the shared cache with np's artifact.
    let shared = admin.path().join("pyk");
    let said = ok(pyk()
        .env("PYK_CACHE_DIR", admin.path().join("own"))
        .args(["cache", "seed"])
        .arg(&shared)
        .arg(&published.np));
    assert!(said.contains("seeded"), "{said}");
    let shared_unit = shared.join("units-v1").join(&numpy);
    let numpy_files = files(&shared_unit);
    assert!(numpy_files.len() > 1000, "{}", shared_unit.display());

    // The user runs pd's artifact (the launcher) with the shared cache and a cache of
    // their own on the disk.
    let own = user.path().join("cache");
    let out = ok(Command::new(&published.pd)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("PYK_SHARED_CACHE", &shared)
        .env("PYK_CACHE_DIR", &own));
    assert_eq!(out, PD_OUT);
    let mine = entries(&own.join("units-v1"));
    assert!(
        !mine.contains(&numpy),
        "numpy was unpacked into the user's cache"
    );
    let lacking: BTreeSet<String> = unit_keys(&pd)
        .difference(&unit_keys(&np))
        .cloned()
        .collect();
    assert_eq!(mine, lacking, "the units the user's cache got");

    // The view is the user's, numpy's files in it copies of the shared unit's.
    let view = own.join("views-v1").join(pd.view_key().unwrap());
    assert!(view.is_dir(), "{} missing", view.display());
    let shared_dev = dev(&shared_unit);
    for rel in numpy_files.keys() {
        let copy = fs::symlink_metadata(view.join(rel))
            .unwrap_or_else(|e| panic!("{}: {e}", view.join(rel).display()));
        let original = fs::metadata(shared_unit.join(rel)).unwrap();
        assert!(
            copy.is_file()
                && copy.nlink() == 1
                && copy.dev() != shared_dev
                && copy.len() == original.len(),
            "{}: nlink {} dev {} len {}, the shared unit's file: dev {shared_dev} len {}",
            view.join(rel).display(),
            copy.nlink(),
            copy.dev(),
            copy.len(),
            original.len()
        );
    }
}

/// A first run that unpacks units where no second thread can start (a process limit): the
/// launcher unpacks them and assembles the view on its own thread instead of aborting. The
/// run is nobody's with one process allowed (root is exempt from the limit).
#[test]
fn a_first_run_where_no_thread_can_start_still_runs() {
    let published = published();
    let dir = tempfile::tempdir().unwrap();
    let pd = dir.path().join("pd");
    fs::copy(&published.pd, &pd).unwrap();
    ok(Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(dir.path()));
    let out = run(Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "prlimit",
        ])
        .arg("--nproc=1")
        .arg(&pd)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.path())
        .env("PYK_CACHE_DIR", dir.path().join("cache"))
        // numpy's OpenBLAS starts threads of its own unless told not to.
        .env("OPENBLAS_NUM_THREADS", "1"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        PD_OUT,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let views = entries(&dir.path().join("cache/views-v1"));
    assert_eq!(views.len(), 1, "{views:?}");
}
