//! Real apps from PyPI, compiled extensions included, packed once per test binary and
//! each run under `env -i` with its output checked; plus the first-run guarantees on the
//! largest of them: twenty simultaneous first runs extract once, and a first run killed
//! mid-extraction leaves nothing a later run trusts.

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use pyk_artifact::trailer::{Role, Trailer};

/// `(name, dependencies, script)`.
const APPS: &[(&str, &str, &str)] = &[
    (
        "np",
        r#"["numpy>=2"]"#,
        "import numpy as np\na = np.arange(6).reshape(2, 3)\nprint((a @ a.T).tolist(), np.__file__.startswith(np.__path__[0]))\n",
    ),
    (
        "pyd",
        r#"["pydantic>=2,<3"]"#,
        r#"import pydantic_core
from pydantic import BaseModel, ValidationError

class User(BaseModel):
    id: int
    name: str

try:
    User(id="not a number", name="x")
except ValidationError as e:
    err = e.errors()[0]
    print(e.error_count(), err["type"], err["loc"], pydantic_core._pydantic_core.__file__.endswith(".so"))
"#,
    ),
    (
        "yml",
        r#"["PyYAML>=6"]"#,
        "import yaml\nprint(yaml.__with_libyaml__, yaml.load('a: [1, 2]\\nb: {c: d}\\n', Loader=yaml.CSafeLoader))\n",
    ),
    (
        "fernet",
        r#"["cryptography>=42"]"#,
        "from cryptography.fernet import Fernet\nf = Fernet(Fernet.generate_key())\nprint(f.decrypt(f.encrypt(b'secret payload')).decode())\n",
    ),
    (
        "tmpl",
        r#"["jinja2>=3", "markupsafe>=2.1"]"#,
        "import jinja2, markupsafe\nt = jinja2.Template('Hello {{ name }}!', autoescape=True)\nprint(t.render(name='<b>pyk</b>'), markupsafe._escape_inner.__module__)\n",
    ),
    (
        "req",
        r#"["requests>=2.31"]"#,
        r#"import os, ssl
import charset_normalizer.md as md
import requests
s = requests.Session()
ctx = ssl.create_default_context()
print(type(s).__name__, ctx.verify_mode == ssl.CERT_REQUIRED, md.__file__.endswith(".so"), os.path.isfile(requests.certs.where()))
"#,
    ),
    (
        "fmt",
        r#"["black>=24"]"#,
        "import sys, black\nprint(black.format_str(sys.stdin.read(), mode=black.Mode()), end='')\n",
    ),
    (
        "dates",
        r#"["babel>=2.12"]"#,
        "from datetime import date\nfrom babel.dates import format_date\nprint(format_date(date(2024, 3, 1), format='long', locale='de_DE'))\n",
    ),
];

/// Every app, built once per test binary (in one directory kept for the binary's life).
fn built(name: &str) -> &'static Path {
    static BUILT: OnceLock<(tempfile::TempDir, HashMap<&'static str, PathBuf>)> = OnceLock::new();
    let (_, apps) = BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut apps = HashMap::new();
        for (name, deps, script) in APPS {
            let app = dir.path().join(name);
            fs::create_dir_all(&app).unwrap();
            fs::write(
                app.join("pyk.toml"),
                format!("name = \"{name}\"\nrun = \"{name}_app.py\"\ndependencies = {deps}\n"),
            )
            .unwrap();
            fs::write(app.join(format!("{name}_app.py")), script).unwrap();
            apps.insert(*name, build(&app, name, &[]));
        }
        (dir, apps)
    });
    &apps[name]
}

/// Runs an app with nothing in its environment but a fresh cache; returns its stdout.
fn run_clean(name: &str, stdin: &str) -> String {
    let cache = tempfile::tempdir().unwrap();
    let mut child = Command::new("env")
        .arg("-i")
        .arg(format!("PYK_CACHE_DIR={}", cache.path().display()))
        .arg(built(name))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn numpy_multiplies_matrices() {
    assert_eq!(run_clean("np", ""), "[[5, 14], [14, 50]] True\n");
}

#[test]
fn pydantic_reports_a_validation_error() {
    assert_eq!(run_clean("pyd", ""), "1 int_parsing ('id',) True\n");
}

#[test]
fn pyyaml_loads_with_libyaml() {
    assert_eq!(
        run_clean("yml", ""),
        "True {'a': [1, 2], 'b': {'c': 'd'}}\n"
    );
}

#[test]
fn cryptography_round_trips_a_fernet_token() {
    assert_eq!(run_clean("fernet", ""), "secret payload\n");
}

#[test]
fn jinja2_escapes_with_markupsafe_speedups() {
    assert_eq!(
        run_clean("tmpl", ""),
        "Hello &lt;b&gt;pyk&lt;/b&gt;! markupsafe._speedups\n"
    );
}

#[test]
fn requests_with_compiled_charset_normalizer() {
    assert_eq!(run_clean("req", ""), "Session True True True\n");
}

#[test]
fn black_formats_stdin() {
    assert_eq!(
        run_clean("fmt", "x = {  'a':37,'b':42,\n'c':927}\n"),
        "x = {\"a\": 37, \"b\": 42, \"c\": 927}\n"
    );
}

#[test]
fn babel_formats_a_date_from_its_locale_data() {
    assert_eq!(run_clean("dates", ""), "1. März 2024\n");
}

/// The names in one bucket of a cache, sorted.
fn bucket(cache: &Path, name: &str) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(cache.join(name))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

const BUCKETS: [&str; 4] = ["runtimes-v2", "units-v1", "views-v1", "apps-v1"];

/// The entry a work directory `.<key>.<pid>.tmp` fills.
fn work_key(name: &str) -> &str {
    name.trim_start_matches('.')
        .split('.')
        .next()
        .unwrap_or_default()
}

/// The entries an artifact's first run leaves in each bucket: one per layer (a unit each)
/// and the view of its units.
fn entries_of(t: &Trailer) -> HashMap<&'static str, Vec<String>> {
    let key = |role| t.layer(role).unwrap().key();
    let units = t.units().map(|u| u.key()).collect();
    HashMap::from([
        ("runtimes-v2", vec![key(Role::Runtime)]),
        ("units-v1", units),
        ("views-v1", vec![t.view_key().unwrap()]),
        ("apps-v1", vec![key(Role::App)]),
    ])
}

#[test]
fn twenty_simultaneous_first_runs_extract_once() {
    let path = built("np");
    let t = Trailer::read(&fs::File::open(path).unwrap()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    // Every work directory that ever appears, by bucket: one extraction each.
    let seen = std::sync::Mutex::new(HashMap::<&str, std::collections::BTreeSet<String>>::new());
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                for b in BUCKETS {
                    for n in bucket(cache.path(), b)
                        .into_iter()
                        .filter(|n| n.ends_with(".tmp"))
                    {
                        seen.lock().unwrap().entry(b).or_default().insert(n);
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let children: Vec<_> = (0..20)
            .map(|_| {
                Command::new(path)
                    .env("PYK_CACHE_DIR", cache.path())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (i, child) in children.into_iter().enumerate() {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "run {i}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                "[[5, 14], [14, 50]] True\n"
            );
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let seen = seen.into_inner().unwrap();
    for (b, dirs) in &seen {
        let mut keys: Vec<&str> = dirs.iter().map(|d| work_key(d)).collect();
        keys.dedup();
        assert_eq!(
            keys.len(),
            dirs.len(),
            "{b}: an entry was filled more than once: {dirs:?}"
        );
    }
    // numpy's unit, the largest, takes long enough to be seen being unpacked: once.
    let numpy = t
        .units()
        .find(|u| u.name.starts_with("numpy-"))
        .unwrap()
        .key();
    let numpy_work = seen["units-v1"]
        .iter()
        .filter(|d| work_key(d) == numpy)
        .count();
    assert_eq!(numpy_work, 1, "{seen:?}");
    // One entry and its lock per layer and per view, nothing else.
    for (b, keys) in entries_of(&t) {
        let mut want: Vec<String> = keys
            .iter()
            .flat_map(|k| [k.clone(), format!("{k}.lock")])
            .collect();
        want.sort();
        assert_eq!(bucket(cache.path(), b), want, "{b}");
    }
}

/// Starts the artifact at `path` on an empty cache and kills it while a work directory is
/// in `bucket`: mid-extraction of a unit, or mid-assembly of the view.
fn kill_while_filling(path: &Path, cache: &Path, bucket_name: &str) {
    let mut child = Command::new(path)
        .env("PYK_CACHE_DIR", cache)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !bucket(cache, bucket_name)
        .iter()
        .any(|n| n.ends_with(".tmp"))
    {
        assert!(
            Instant::now() < deadline,
            "no work directory appeared in {bucket_name}"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        bucket(cache, bucket_name)
            .iter()
            .any(|n| n.ends_with(".tmp")),
        "the fill of {bucket_name} finished before the kill"
    );
}

#[test]
fn a_first_run_killed_mid_extraction_or_mid_view_leaves_nothing_trusted() {
    let path = built("np");
    let t = Trailer::read(&fs::File::open(path).unwrap()).unwrap();
    let view = t.view_key().unwrap();
    for b in ["units-v1", "views-v1"] {
        let cache = tempfile::tempdir().unwrap();
        kill_while_filling(path, cache.path(), b);
        let half = bucket(cache.path(), b);
        let placed = |n: &String| !n.ends_with(".tmp") && !n.ends_with(".lock");
        let kept: Vec<&String> = half.iter().filter(|n| placed(n)).collect();
        match b {
            // Units unpacked before the kill stay (each whole); the one cut is not in place.
            "units-v1" => {
                let cut: Vec<&str> = half
                    .iter()
                    .filter(|n| n.ends_with(".tmp"))
                    .map(|n| work_key(n))
                    .collect();
                assert!(cut.iter().all(|k| !kept.iter().any(|n| n == k)), "{half:?}");
            }
            _ => assert!(
                kept.is_empty(),
                "a killed assembly left a view in place: {half:?}"
            ),
        }
        assert!(!cache.path().join("views-v1").join(&view).exists());
        let out = ok(Command::new(path).env("PYK_CACHE_DIR", cache.path()));
        assert_eq!(out, "[[5, 14], [14, 50]] True\n");
        for b in BUCKETS {
            assert!(
                bucket(cache.path(), b).iter().all(|n| !n.ends_with(".tmp")),
                "debris left in {b}"
            );
        }
        for (b, keys) in entries_of(&t) {
            for k in keys {
                assert!(
                    cache.path().join(b).join(&k).is_dir(),
                    "{b}/{k} missing after the rerun"
                );
            }
        }
    }
}
