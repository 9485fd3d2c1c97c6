//! `pyk build` end to end: real runtime (imported from the machine's CPython), real
//! artifacts, run as a user would run them.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;
use pyk_artifact::trailer::{Role, Trailer};

fn trailer(path: &Path) -> Trailer {
    Trailer::read(&fs::File::open(path).unwrap()).unwrap()
}

#[test]
fn hello_passes_arguments_and_exit_codes() {
    let cache = tempfile::tempdir().unwrap();
    let out = ok(artifact(hello(), cache.path()).args(["a b", "c"]));
    assert!(out.starts_with("hello a b c\n"), "{out}");
    // sys.argv[0] is the artifact's own path.
    assert!(
        out.contains(&format!(
            "argv0 {}",
            hello().canonicalize().unwrap().display()
        )),
        "{out}"
    );
    let status = run(artifact(hello(), cache.path()).arg("exit=7")).status;
    assert_eq!(status.code(), Some(7));
}

#[test]
fn runs_with_an_empty_environment() {
    let cache = tempfile::tempdir().unwrap();
    // env -i: no PATH, no HOME; the cache comes from PYK_CACHE_DIR alone.
    let out = ok(Command::new("env")
        .arg("-i")
        .arg(format!("PYK_CACHE_DIR={}", cache.path().display()))
        .arg("PATH=")
        .arg(hello())
        .arg("x"));
    assert!(out.starts_with("hello x\n"), "{out}");
    // And with no cache variable at all: HOME is unset, so a private temp dir is used.
    let out = ok(Command::new("env").arg("-i").arg(hello()).arg("y"));
    assert!(out.starts_with("hello y\n"), "{out}");
}

#[test]
fn package_with_main_via_entry_and_requirements_style() {
    let dir = project(&[
        ("app/__init__.py", "GREETING = 'hi from app'\n"),
        ("app/__main__.py", "import sys\nfrom . import GREETING\nfrom .util import shout\nprint(shout(GREETING), sys.argv[1:])\nprint(__name__)\n"),
        ("app/util.py", "def shout(s):\n    return s.upper()\n"),
    ]);
    ok(pyk()
        .current_dir(dir.path())
        .args(["build", "--python", PY, "--entry", "app", "-o", "dist/app"]));
    let cache = tempfile::tempdir().unwrap();
    let out = ok(artifact(&dir.path().join("dist/app"), cache.path()).arg("--flag"));
    assert_eq!(out, "HI FROM APP ['--flag']\n__main__\n");
}

#[test]
fn child_interpreters_see_the_app() {
    let dir = project(&[
        (
            "pyk.toml",
            "name = \"kids\"\nrun = \"kids.py\"\nlibraries = [\"helper.py\", \"pkg\"]\n",
        ),
        (
            "kids.py",
            "import multiprocessing as mp, subprocess, sys\nfrom helper import square\n\nif __name__ == '__main__':\n    out = subprocess.run([sys.executable, '-m', 'pkg.child', 'x'], capture_output=True, text=True)\n    print(out.stdout.strip() or out.stderr)\n    for method in ('spawn', 'forkserver'):\n        with mp.get_context(method).Pool(2) as pool:\n            print(method, pool.map(square, [1, 2, 3]))\n",
        ),
        ("helper.py", "def square(x):\n    return x * x\n"),
        ("pkg/__init__.py", ""),
        (
            "pkg/child.py",
            "import sys\nprint('child', __name__, sys.argv[1:])\n",
        ),
    ]);
    let path = build(dir.path(), "kids", &[]);
    let cache = tempfile::tempdir().unwrap();
    let out = ok(Command::new("env")
        .arg("-i")
        .arg(format!("PYK_CACHE_DIR={}", cache.path().display()))
        .arg(&path));
    assert_eq!(
        out,
        "child __main__ ['x']\nspawn [1, 4, 9]\nforkserver [1, 4, 9]\n"
    );
}

#[test]
fn app_with_a_pypi_dependency() {
    let dir = project(&[
        ("pyk.toml", "name = \"greet\"\nrun = \"greet.py\"\ndependencies = [\"click==8.1.7\"]\n"),
        (
            "greet.py",
            "import click\n\n@click.command()\n@click.option('--name', default='world')\ndef main(name):\n    click.echo(f'Hello, {name}!')\n\nif __name__ == '__main__':\n    main()\n",
        ),
    ]);
    let path = build(dir.path(), "greet", &[]);
    let cache = tempfile::tempdir().unwrap();
    assert_eq!(
        ok(artifact(&path, cache.path()).args(["--name", "pyk"])),
        "Hello, pyk!\n"
    );
    // The dependency is a unit: its files, sources with their precompiled __pycache__,
    // unpacked into the cache on the first run, and the app's site-packages a view of it.
    let t = trailer(&path);
    let unit = t.units().find(|u| u.name == "click-8.1.7").unwrap();
    let unpacked = cache.path().join("units-v1").join(unit.key());
    assert!(unpacked
        .join("click/__pycache__/core.cpython-311.pyc")
        .is_file());
    let deps = cache.path().join("views-v1").join(t.view_key().unwrap());
    assert!(deps.join("click/core.py").is_file());
    assert!(deps
        .join("click/__pycache__/core.cpython-311.pyc")
        .is_file());
    assert!(deps.join("click-8.1.7.dist-info/METADATA").is_file());
    // What was resolved is recorded, with the wheel's hash.
    let shown = ok(pyk().arg("inspect").arg(&path));
    assert!(
        shown.contains("click") && shown.contains("8.1.7") && shown.contains("All hashes match"),
        "{shown}"
    );
    // Reproducible with dependencies too.
    ok(pyk()
        .current_dir(dir.path())
        .args(["build", "--python", PY, "-o", "dist/again"]));
    let again = fs::read(dir.path().join("dist/again")).unwrap();
    assert!(
        fs::read(&path).unwrap() == again,
        "two builds with click differ"
    );
}

#[test]
fn a_library_runs_its_main_block_and_unpacks_as_an_importable_tree() {
    let dir = project(&[
        (
            "pyk.toml",
            "name = \"mylib\"\nlib = \"mylib\"\nlibraries = [\"helper.py\"]\n",
        ),
        (
            "mylib/__init__.py",
            "from helper import twice\ndef square(x):\n    return x * x\n",
        ),
        ("helper.py", "def twice(x):\n    return 2 * x\n"),
    ]);
    let path = build(dir.path(), "mylib", &[]);
    // Running a library package without __main__.py says what it is…
    let cache = tempfile::tempdir().unwrap();
    let err = fails(&mut artifact(&path, cache.path()));
    assert!(err.contains("mylib is a library"), "{err}");
    // …and its app layer, now unpacked, is a tree any Python of the same version imports
    // from its precompiled code (what `from pyk import mylib` puts on sys.path).
    let app = cache
        .path()
        .join("apps-v1")
        .join(trailer(&path).layer(Role::App).unwrap().key());
    let code = format!(
        "import sys; sys.path.insert(0, {:?}); import mylib; print(mylib.square(7), mylib.twice(4), mylib.__cached__.endswith('.cpython-311.pyc'))",
        app.display().to_string()
    );
    let out = ok(Command::new(SYSTEM_PYTHON).args(["-I", "-B", "-c", &code]));
    assert_eq!(out, "49 8 True\n");
}

#[test]
fn inspect_shows_the_layers_and_names_a_damaged_part() {
    let shown = ok(pyk().arg("inspect").arg(hello()));
    for part in [
        "kind run",
        "Python 3.11.",
        "imported from /usr/bin/python3.11",
        "runtime ",
        "app ",
        "hello.py",
        "2023-11-14T22:13:20Z",
        "Dependencies: none",
        "this pyk's",
        "All hashes match",
    ] {
        assert!(shown.contains(part), "{part:?} missing from:\n{shown}");
    }
    // One byte of the app layer flipped: inspect names the app layer and fails.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("hello");
    let mut bytes = fs::read(hello()).unwrap();
    let span = trailer(hello()).layer(Role::App).unwrap().span;
    bytes[(span.offset + span.len / 2) as usize] ^= 1;
    fs::write(&copy, bytes).unwrap();
    let err = fails(pyk().arg("inspect").arg(&copy));
    assert!(
        err.contains("the app layer") && err.contains("damaged"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn builds_are_byte_identical() {
    let files = [
        (
            "pyk.toml",
            "name = \"same\"\nrun = \"same.py\"\nlibraries = [\"pkg\"]\n",
        ),
        ("same.py", HELLO),
        (
            "pkg/__init__.py",
            "X = 1 in {\"alpha\", \"beta\", \"gamma\", \"delta\", \"epsilon\"}\n",
        ),
    ];
    let a = project(&files);
    let b = project(&files);
    let pa = build(a.path(), "same", &[]);
    let pb = build(b.path(), "same", &[]);
    assert!(
        fs::read(&pa).unwrap() == fs::read(pb).unwrap(),
        "two builds differ"
    );
    // A third build in the same place replaces the file with the same bytes.
    let before = fs::read(&pa).unwrap();
    build(a.path(), "same", &[]);
    assert!(fs::read(&pa).unwrap() == before);
}

#[test]
fn clear_errors_for_bad_input() {
    let dir = project(&[
        (
            "pyk.toml",
            "name = \"x\"\nrun = \"x.py\"\ndepndencies = []\n",
        ),
        ("x.py", ""),
    ]);
    let err = fails(pyk().current_dir(dir.path()).arg("build"));
    assert!(
        err.contains("pyk.toml:3") && err.contains("depndencies"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let dir = project(&[("pyk.toml", "name = \"x\"\nrun = \"nope.py\"\n")]);
    let err = fails(pyk().current_dir(dir.path()).arg("build"));
    assert!(
        err.contains("nope.py") && err.contains("does not exist"),
        "{err}"
    );

    let dir = project(&[]);
    let err = fails(pyk().current_dir(dir.path()).arg("build"));
    assert!(err.contains("pyk.toml"), "{err}");
    let err = fails(
        pyk()
            .current_dir(dir.path())
            .args(["build", "--entry", "missing.py"]),
    );
    assert!(
        err.contains("missing.py") && err.contains("does not exist"),
        "{err}"
    );

    let dir = project(&[("x.py", "")]);
    for bad in ["2.7", "3.99", "banana"] {
        let err = fails(
            pyk()
                .current_dir(dir.path())
                .args(["build", "--entry", "x.py", "--python", bad]),
        );
        assert!(err.contains(bad), "{bad}: {err}");
    }

    let dir = project(&[
        ("pyk.toml", "name = \"x\"\nrun = \"x.py\"\n"),
        ("x.py", "def broken(:\n"),
    ]);
    let err = fails(
        pyk()
            .current_dir(dir.path())
            .args(["build", "--python", PY]),
    );
    assert!(
        err.contains("x.py") && err.contains("does not compile"),
        "{err}"
    );

    let dir = project(&[
        (
            "pyk.toml",
            "name = \"x\"\nrun = \"x.py\"\ndependencies = [\"pyk-no-such-package-xyz\"]\n",
        ),
        ("x.py", ""),
    ]);
    let err = fails(
        pyk()
            .current_dir(dir.path())
            .args(["build", "--python", PY]),
    );
    assert!(
        err.contains("could not install") && err.contains("pyk-no-such-package-xyz"),
        "{err}"
    );
}

/// Builds the project of `files` with the host pip as the installer (`PYK_INSTALLER=pip`);
/// `None` (skipped, said on stderr) where python3 has no pip.
fn build_with_pip(files: &[(&str, &str)]) -> Option<(tempfile::TempDir, std::process::Output)> {
    if !run(Command::new("python3").args(["-m", "pip", "--version"]))
        .status
        .success()
    {
        eprintln!("skipped: no python3 with pip on PATH");
        return None;
    }
    let dir = project(files);
    let out = run(pyk()
        .current_dir(dir.path())
        .env("PYK_INSTALLER", "pip")
        .args(["build", "--python", PY]));
    Some((dir, out))
}

#[test]
fn dependencies_install_with_a_host_pip_too() {
    let Some((dir, out)) = build_with_pip(&[
        (
            "pyk.toml",
            "name = \"pipdep\"\nrun = \"pipdep.py\"\ndependencies = [\"six==1.16.0\"]\n",
        ),
        (
            "pipdep.py",
            "import six\nprint(six.__version__, '/views-v1/' in six.__file__ or six.__file__)\n",
        ),
    ]) else {
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("with pip"));
    let cache = tempfile::tempdir().unwrap();
    let printed = ok(&mut artifact(&dir.path().join("dist/pipdep"), cache.path()));
    assert_eq!(printed, "1.16.0 True\n");
    // pip's report becomes the recorded lock.
    let shown = ok(pyk().arg("inspect").arg(dir.path().join("dist/pipdep")));
    assert!(shown.contains("six") && shown.contains("1.16.0"), "{shown}");
}

/// The pip fallback asks for every manylinux tag down from the runtime's glibc floor (2.36
/// for Debian's 3.11): shiboken6 6.7 to 6.9 have only `manylinux_2_28` Linux wheels (checked
/// on PyPI), so with only `manylinux2014` pip finds none of them.
#[test]
fn the_pip_fallback_installs_a_manylinux_2_28_only_release() {
    let Some((dir, out)) = build_with_pip(&[
        (
            "pyk.toml",
            "name = \"tags\"\nrun = \"tags.py\"\ndependencies = [\"shiboken6>=6.7,<6.10\"]\n",
        ),
        (
            "tags.py",
            "import importlib.metadata, shiboken6\nprint(importlib.metadata.version('shiboken6'))\n",
        ),
    ]) else {
        return;
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let arch = std::env::consts::ARCH;
    assert!(
        err.contains(&format!(
            "with pip, wheels for cp311 on manylinux_2_36_{arch} … linux_{arch}"
        )),
        "{err}"
    );
    let cache = tempfile::tempdir().unwrap();
    let printed = ok(&mut artifact(&dir.path().join("dist/tags"), cache.path()));
    // The newest release the pin allows (6.9.3 when this was written).
    assert!(printed.starts_with("6.9."), "{printed}");
}

#[test]
fn info_escapes_docstrings_and_renders_a_huge_default_alone() {
    // A default nested 2,000 deep (it compiles; `ast.unparse` at Python's default
    // recursion limit gave up on it, and the whole tree was lost), in a module and in a
    // class, and a docstring that would retitle the terminal and move its cursor.
    let deep = vec!["1"; 2_000].join("+");
    let source = format!(
        "def ok(a=1):\n    \"\"\"Fine.\"\"\"\n\n\
         def deep(a={deep}, b=2):\n    pass\n\n\
         class C:\n    def m(self, a={deep}):\n        pass\n\n    def n(self):\n        \"\"\"Fine too.\"\"\"\n\n\
         def loud():\n    \"\"\"\x1b]0;owned\x07\x1b[2J\u{9b}31mred\"\"\"\n"
    );
    let dir = project(&[
        ("pyk.toml", "name = \"odd\"\nlib = \"odd\"\n"),
        ("odd/__init__.py", &source),
    ]);
    let lib = build(dir.path(), "odd", &[]);
    let shown = ok(pyk().arg("info").arg(&lib));
    for part in [
        "def ok(a=1)",
        "Fine.",
        "def deep(a=..., b=2)",
        "def m(self, a=...)",
        "def n(self)",
        "Fine too.",
        "def loud()",
        "\\u001b]0;owned\\u0007\\u001b[2J\\u009b31mred",
    ] {
        assert!(shown.contains(part), "{part:?} missing from:\n{shown}");
    }
    assert!(
        !shown.contains(['\x1b', '\x07', '\u{9b}']),
        "control characters reached the output:\n{shown:?}"
    );
    let json = ok(pyk().arg("info").arg(&lib).arg("--json"));
    assert!(!json.contains(['\x1b', '\x07', '\u{9b}']), "{json:?}");
    let tree: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(tree["modules"][0]["functions"].as_array().unwrap().len(), 3);
}
