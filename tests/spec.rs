//! Every way a project declares what to pack, end to end: real uv and pip, real PyPI
//! packages, real runtimes (Debian's CPython 3.11, pyenv's 3.12), artifacts run as a user
//! would run them.

mod common;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::*;

/// The wheel of six 1.16.0 on PyPI; its sha256 is what a hashed requirements file pins.
const SIX_SHA256: &str = "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254";

/// A proxy nobody listens on: with it set, any network access of the installer fails.
const DEAD_PROXY: &str = "http://127.0.0.1:9";

/// A directory of wheels downloaded from PyPI once (with pip), for builds that use no index.
fn wheels() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("spec-wheels");
        let lock =
            File::create(Path::new(env!("CARGO_TARGET_TMPDIR")).join("spec-wheels.lock")).unwrap();
        lock.lock().unwrap();
        if !dir.join("done").exists() {
            ok(Command::new("python3")
                .args(["-m", "pip", "download", "--quiet", "--no-deps"])
                .args(["--only-binary=:all:", "--disable-pip-version-check", "-d"])
                .arg(&dir)
                .args(["six==1.16.0", "python-dateutil==2.9.0.post0"]));
            fs::write(dir.join("done"), "").unwrap();
        }
        dir
    })
}

fn listing(artifact: &Path) -> String {
    layer_listing(artifact)
}

/// The line with pyk's error (progress lines come before it).
fn error_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.starts_with("pyk: error: "))
        .unwrap_or_else(|| panic!("no error line: {stderr}"))
}

fn has_pip() -> bool {
    run(Command::new("python3").args(["-m", "pip", "--version"]))
        .status
        .success()
}

const CLI_PY: &str = "import sys\nimport click\n\n@click.command()\n@click.argument('who', default='world')\ndef main(who):\n    click.echo(f'hello {who} from {__name__}')\n\ndef other():\n    print('other', sys.argv[1:])\n";

fn pyproject(scripts: &str) -> String {
    format!(
        "[project]\nname = \"greeter\"\nversion = \"0.3.0\"\nrequires-python = \">=3.9\"\ndependencies = [\"click==8.1.7\"]\n\n[project.scripts]\n{scripts}\n[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n"
    )
}

#[test]
fn a_pyproject_project_with_one_console_script_builds_without_pyk_toml() {
    let dir = project(&[
        (
            "proj/pyproject.toml",
            &pyproject("greet = \"greeter.cli:main\"\n"),
        ),
        ("proj/src/greeter/__init__.py", ""),
        ("proj/src/greeter/cli.py", CLI_PY),
    ]);
    // From another directory: the artifact goes beside the project, not into ./dist.
    ok(pyk()
        .current_dir(dir.path())
        .args(["build", "--python", PY, "proj"]));
    assert!(!dir.path().join("dist").exists());
    let path = dir.path().join("proj/dist/greet");
    let cache = tempfile::tempdir().unwrap();
    let out = ok(Command::new("env")
        .arg("-i")
        .arg(format!("PYK_CACHE_DIR={}", cache.path().display()))
        .arg(&path)
        .arg("pyk"));
    assert_eq!(out, "hello pyk from greeter.cli\n");

    // The project is installed as a wheel into the app layer, its dependencies into the
    // deps layer; nothing of the installers' debris is packed (the bytecode is pyk's own,
    // compiled after the installers' was removed).
    let files = listing(&path);
    for packed in [
        "app greeter/__pycache__/cli.cpython-311.pyc",
        "app greeter-0.3.0.dist-info/METADATA",
        "deps click/__pycache__/core.cpython-311.pyc",
    ] {
        assert!(files.contains(packed), "{packed} missing:\n{files}");
    }
    for debris in [" .lock", " bin/", "uv_cache.json", "direct_url.json"] {
        assert!(!files.contains(debris), "{debris} packed:\n{files}");
    }
    // Reproducible, the built wheel included.
    ok(pyk()
        .current_dir(dir.path())
        .args(["build", "--python", PY, "proj", "-o", "again"]));
    assert!(
        fs::read(&path).unwrap() == fs::read(dir.path().join("again")).unwrap(),
        "two builds of the project differ"
    );
}

#[test]
fn several_console_scripts_are_listed_and_one_is_picked() {
    let dir = project(&[
        (
            "pyproject.toml",
            &pyproject("greet = \"greeter.cli:main\"\nother = \"greeter.cli:other\"\n"),
        ),
        ("src/greeter/__init__.py", ""),
        ("src/greeter/cli.py", CLI_PY),
    ]);
    let err = fails(
        pyk()
            .current_dir(dir.path())
            .args(["build", "--python", PY]),
    );
    assert!(
        err.contains("pyproject.toml:8")
            && err.contains("(greet, other)")
            && err.contains("--script NAME")
            && err.contains("script = \"NAME\""),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let err = fails(
        pyk()
            .current_dir(dir.path())
            .args(["build", "--python", PY, "--script", "nope"]),
    );
    assert!(err.contains("it has: greet, other"), "{err}");

    ok(pyk()
        .current_dir(dir.path())
        .args(["build", "--python", PY, "--script", "other"]));
    let cache = tempfile::tempdir().unwrap();
    let out = ok(artifact(&dir.path().join("dist/other"), cache.path()).args(["a", "-b"]));
    assert_eq!(out, "other ['a', '-b']\n");
}

#[test]
fn a_pep_723_script_given_with_entry() {
    let script = "# /// script\n# requires-python = \">=3.9\"\n# dependencies = [\"six==1.16.0\"]\n# ///\nimport six\nprint('six', six.__version__)\n";
    let dir = project(&[("tools/tool.py", script)]);
    ok(pyk()
        .current_dir(dir.path())
        .args(["build", "--python", PY, "--entry", "tools/tool.py"]));
    let cache = tempfile::tempdir().unwrap();
    // --entry builds land in the current directory, as pypack's did.
    let out = ok(&mut artifact(&dir.path().join("dist/tool"), cache.path()));
    assert_eq!(out, "six 1.16.0\n");

    // Its requires-python is honoured too: 3.11 does not satisfy it.
    fs::write(
        dir.path().join("tools/tool.py"),
        script.replace(">=3.9", ">=3.12"),
    )
    .unwrap();
    let err = fails(pyk().current_dir(dir.path()).args([
        "build",
        "--python",
        PY,
        "--entry",
        "tools/tool.py",
    ]));
    assert!(
        err.contains("does not satisfy requires-python >=3.12")
            && err.contains("tools/tool.py:2")
            && err.contains("--python 3.11"),
        "{err}"
    );
}

#[test]
fn requirements_with_hashes_are_checked() {
    let good = format!("six==1.16.0 \\\n    --hash=sha256:{SIX_SHA256}\n");
    let app = "import six\nprint(six.__version__)\n";
    let dir = project(&[("app.py", app), ("good.txt", &good)]);
    ok(pyk().current_dir(dir.path()).args([
        "build", "--python", PY, "--entry", "app.py", "-r", "good.txt",
    ]));
    let cache = tempfile::tempdir().unwrap();
    assert_eq!(
        ok(&mut artifact(&dir.path().join("dist/app"), cache.path())),
        "1.16.0\n"
    );

    // A wrong hash is refused, with a first line that says what happened.
    let bad = good.replace(SIX_SHA256, &"0".repeat(64));
    fs::write(dir.path().join("bad.txt"), bad).unwrap();
    let err = fails(pyk().current_dir(dir.path()).args([
        "build", "--python", PY, "--entry", "app.py", "-r", "bad.txt", "-o", "bad",
    ]));
    let first = error_line(&err);
    assert!(
        first.contains("does not match its --hash") && err.contains(SIX_SHA256),
        "{err}"
    );
    assert!(!dir.path().join("bad").exists());

    // Hash-checking mode holds for what the hashed requirement pulls in (six, here).
    fs::write(
        dir.path().join("partial.txt"),
        "python-dateutil==2.9.0.post0 --hash=sha256:a8b2bc7bffae282281c8140a97d3aa9c14da0b136dfe83f850eea9a5f7470427\n",
    )
    .unwrap();
    let err = fails(pyk().current_dir(dir.path()).args([
        "build",
        "--python",
        PY,
        "--entry",
        "app.py",
        "-r",
        "partial.txt",
        "-o",
        "partial",
    ]));
    assert!(err.contains("six"), "{err}");
}

#[test]
fn relative_paths_resolve_against_the_files_from_any_directory() {
    let dir = project(&[
        (
            "app/pyk.toml",
            "name = \"rel\"\nrun = \"src/main.py\"\nlibraries = [\"src/helper.py\"]\nrequirements = [\"reqs/base.txt\"]\n\n[install]\nno-index = true\nfind-links = [\"../vendor\"]\nconstraints = [\"reqs/constraints.txt\"]\n",
        ),
        ("app/src/main.py", "import helper, six\nprint(helper.X, six.__version__)\n"),
        ("app/src/helper.py", "X = 'helped'\n"),
        ("app/reqs/base.txt", "-r more.txt\n"),
        ("app/reqs/more.txt", "six\n"),
        ("app/reqs/constraints.txt", "six==1.16.0\n"),
    ]);
    copy_wheels(&dir.path().join("vendor"));
    let elsewhere = tempfile::tempdir().unwrap();
    ok(pyk()
        .current_dir(elsewhere.path())
        .env("HTTPS_PROXY", DEAD_PROXY)
        .env("HTTP_PROXY", DEAD_PROXY)
        .args(["build", "--python", PY])
        .arg(dir.path().join("app/pyk.toml")));
    let cache = tempfile::tempdir().unwrap();
    let out = ok(&mut artifact(
        &dir.path().join("app/dist/rel"),
        cache.path(),
    ));
    assert_eq!(out, "helped 1.16.0\n");
}

/// A PEP 503 simple index of [`wheels`]: `ROOT/NAME/index.html` linking each file with its
/// sha256, as an index server would serve it.
fn write_simple_index(root: &Path) {
    let mut projects = String::new();
    for (project, prefix) in [("six", "six-"), ("python-dateutil", "python_dateutil-")] {
        let dir = root.join(project);
        fs::create_dir_all(&dir).unwrap();
        let mut links = String::new();
        for entry in fs::read_dir(wheels()).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            if file.starts_with(prefix) && file.ends_with(".whl") {
                let bytes = fs::read(&path).unwrap();
                let sha = pyk_protocol::Sha256::of(&bytes);
                fs::write(dir.join(&file), bytes).unwrap();
                links.push_str(&format!("<a href=\"{file}#sha256={sha}\">{file}</a>\n"));
            }
        }
        fs::write(
            dir.join("index.html"),
            format!("<html><body>\n{links}</body></html>\n"),
        )
        .unwrap();
        projects.push_str(&format!("<a href=\"{project}/\">{project}</a>\n"));
    }
    fs::write(
        root.join("index.html"),
        format!("<html><body>\n{projects}</body></html>\n"),
    )
    .unwrap();
}

fn copy_wheels(to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(wheels()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "whl") {
            fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn installer_options_reach_uv_and_pip_alike() {
    let dir = project(&[
        (
            "pyk.toml",
            "name = \"offline\"\nrun = \"offline.py\"\ndependencies = [\"python-dateutil\"]\n\n[install]\nno-index = true\nfind-links = [\"wheels\"]\nonly-binary = [\":all:\"]\n",
        ),
        (
            "offline.py",
            "import dateutil, six\nprint(dateutil.__version__, six.__version__)\n",
        ),
    ]);
    copy_wheels(&dir.path().join("wheels"));
    let mut installers = vec!["uv"];
    if has_pip() {
        installers.push("pip");
    } else {
        eprintln!("pip variant skipped: no python3 with pip on PATH");
    }
    for installer in installers {
        let out = format!("dist/{installer}");
        ok(pyk()
            .current_dir(dir.path())
            .env("PYK_INSTALLER", installer)
            .env("HTTPS_PROXY", DEAD_PROXY)
            .env("HTTP_PROXY", DEAD_PROXY)
            .args(["build", "--python", PY, "-o", &out]));
        let cache = tempfile::tempdir().unwrap();
        let printed = ok(&mut artifact(&dir.path().join(&out), cache.path()));
        assert_eq!(printed, "2.9.0.post0 1.16.0\n", "{installer}");
    }
    // A local directory laid out as a simple index (PEP 503) serves as index-url.
    write_simple_index(&dir.path().join("simple"));
    fs::write(
        dir.path().join("pyk.toml"),
        "name = \"offline\"\nrun = \"offline.py\"\ndependencies = [\"python-dateutil\"]\n\n[install]\nindex-url = \"simple\"\n",
    )
    .unwrap();
    for installer in ["uv", "pip"]
        .into_iter()
        .take(if has_pip() { 2 } else { 1 })
    {
        let out = format!("dist/index-{installer}");
        ok(pyk()
            .current_dir(dir.path())
            .env("PYK_INSTALLER", installer)
            .env("HTTPS_PROXY", DEAD_PROXY)
            .env("HTTP_PROXY", DEAD_PROXY)
            .args(["build", "--python", PY, "-o", &out]));
        let cache = tempfile::tempdir().unwrap();
        let printed = ok(&mut artifact(&dir.path().join(&out), cache.path()));
        assert_eq!(printed, "2.9.0.post0 1.16.0\n", "index with {installer}");
    }
    fs::write(
        dir.path().join("pyk.toml"),
        "name = \"offline\"\nrun = \"offline.py\"\ndependencies = [\"python-dateutil\"]\n\n[install]\nno-index = true\nfind-links = [\"wheels\"]\n",
    )
    .unwrap();

    // The options are really passed: without the wheels there is nothing to install.
    fs::remove_dir_all(dir.path().join("wheels")).unwrap();
    fs::create_dir(dir.path().join("wheels")).unwrap();
    let err = fails(
        pyk()
            .current_dir(dir.path())
            .env("PYK_INSTALLER", "uv")
            .args(["build", "--python", PY]),
    );
    assert!(err.contains("python-dateutil"), "{err}");
    // A relative find-links that does not exist is named with its line.
    fs::remove_dir(dir.path().join("wheels")).unwrap();
    let err = fails(
        pyk()
            .current_dir(dir.path())
            .args(["build", "--python", PY]),
    );
    assert!(
        err.contains("pyk.toml:7") && err.contains("install.find-links"),
        "{err}"
    );
}

#[test]
fn every_refused_distribution_is_named_in_one_message() {
    // Two sdists that cannot build (each fails on purpose in its setup.py).
    let dir = project(&[
        (
            "pyk.toml",
            "name = \"x\"\nrun = \"x.py\"\ndependencies = [\"sklearn==0.0.post12\", \"tensorflow-gpu==2.12.0\", \"six\"]\n",
        ),
        ("x.py", ""),
    ]);
    let err = fails(
        pyk()
            .current_dir(dir.path())
            .env("PYK_INSTALLER", "uv")
            .args(["build", "--python", PY]),
    );
    let first = error_line(&err);
    assert!(
        first.contains("2 distributions have no wheel for Python 3.11")
            && first.contains("sklearn==0.0.post12")
            && first.contains("tensorflow-gpu==2.12.0")
            && first.contains("only-binary"),
        "{err}"
    );

    // Compiled extension modules are packed, and load.
    let dir = project(&[
        (
            "pyk.toml",
            "name = \"nat\"\nrun = \"nat.py\"\ndependencies = [\"markupsafe==2.1.5\", \"pyyaml==6.0.2\", \"six\"]\n",
        ),
        (
            "nat.py",
            "import markupsafe._speedups, yaml\nprint(yaml.__with_libyaml__)\n",
        ),
    ]);
    let path = build(dir.path(), "nat", &[]);
    let cache = tempfile::tempdir().unwrap();
    assert_eq!(ok(&mut artifact(&path, cache.path())), "True\n");
}
