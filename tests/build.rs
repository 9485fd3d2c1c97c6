//! `pyk build` end to end: real runtime (imported from the machine's CPython), real
//! artifacts, run as a user would run them.

mod common;

use std::fs;
use std::process::Command;

use common::*;

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
    // The dependency's code is in the payload, precompiled beside its source.
    let listing = ok(Command::new("unzip").arg("-l").arg(&path));
    assert!(
        listing.contains("click/core.pyc") && listing.contains("click/core.py"),
        "{listing}"
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
fn dependency_with_native_code_is_refused_by_name() {
    let dir = project(&[
        (
            "pyk.toml",
            "name = \"nat\"\nrun = \"nat.py\"\ndependencies = [\"markupsafe==2.1.5\"]\n",
        ),
        ("nat.py", "import markupsafe\n"),
    ]);
    let err = fails(
        pyk()
            .current_dir(dir.path())
            .args(["build", "--python", PY]),
    );
    assert!(
        err.contains("MarkupSafe") && err.contains("compiled extension"),
        "{err}"
    );
}

#[test]
fn library_imports_through_zipimport_in_a_plain_python() {
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
    let code = format!(
        "import sys; sys.path.insert(0, {:?}); import mylib; print(mylib.square(7), mylib.twice(4), type(mylib.__loader__).__name__)",
        path.display().to_string()
    );
    let out = ok(Command::new(SYSTEM_PYTHON).args(["-I", "-c", &code]));
    assert_eq!(out, "49 8 zipimporter\n");
    // Running a library package without __main__.py says what it is.
    let cache = tempfile::tempdir().unwrap();
    let err = fails(&mut artifact(&path, cache.path()));
    assert!(err.contains("mylib is a library"), "{err}");
}

#[test]
fn zip_tools_read_the_artifact_without_warnings() {
    let out = run(Command::new("unzip").arg("-t").arg(hello()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.contains("extra bytes") && !out.contains("warning"),
        "{out}"
    );
    let code = format!(
        "import zipfile; print(sorted(zipfile.ZipFile({:?}).namelist()))",
        hello().display().to_string()
    );
    let names = ok(Command::new(SYSTEM_PYTHON).args(["-c", &code]));
    assert_eq!(
        names,
        "['__main__.py', '__main__.pyc', 'hello.py', 'hello.pyc']\n"
    );
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

#[test]
fn dependencies_install_with_a_host_pip_too() {
    if !run(Command::new("python3").args(["-m", "pip", "--version"]))
        .status
        .success()
    {
        eprintln!("skipped: no python3 with pip on PATH");
        return;
    }
    let dir = project(&[
        ("pyk.toml", "name = \"pipdep\"\nrun = \"pipdep.py\"\ndependencies = [\"six==1.16.0\"]\n"),
        ("pipdep.py", "import six\nprint(six.__version__, six.__file__.endswith('pipdep/six.pyc') or six.__file__)\n"),
    ]);
    let out = run(pyk()
        .current_dir(dir.path())
        .env("PYK_INSTALLER", "pip")
        .args(["build", "--python", PY]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("with pip"));
    let cache = tempfile::tempdir().unwrap();
    let printed = ok(&mut artifact(&dir.path().join("dist/pipdep"), cache.path()));
    assert!(printed.starts_with("1.16.0 "), "{printed}");
}
