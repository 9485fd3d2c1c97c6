//! The installers for real: uv and pip against Debian's CPython 3.11, with a directory of
//! wheels downloaded from PyPI, and a real project built by its backend.

use std::path::Path;
use std::process::Command;

use pyk_protocol::Sha256;

use super::dists::ArchiveKind;
use super::*;
use crate::spec;

const PYTHON: &str = "/usr/bin/python3.11";
const V311: PyVersion = PyVersion {
    major: 3,
    minor: 11,
    patch: 2,
};

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
}

fn load(dir: &Path) -> Spec {
    spec::load(&spec::Args {
        path: dir,
        entry: None,
        script: None,
        name: None,
        requirements: &[],
    })
    .unwrap()
}

fn installers() -> Vec<Installer> {
    let mut found = Vec::new();
    match on_path("uv") {
        Some(uv) => found.push(Installer::Uv(uv)),
        None => eprintln!("uv variant skipped: no uv on PATH"),
    }
    let pip = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output();
    match pip {
        Ok(out) if out.status.success() => found.push(Installer::Pip("python3".into())),
        _ => eprintln!("pip variant skipped: no python3 with pip on PATH"),
    }
    found
}

#[test]
fn records_the_wheel_each_distribution_came_from() {
    if !Path::new(PYTHON).is_file() {
        eprintln!("skipped: no {PYTHON}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--only-binary=:all:",
        ])
        .args(["--disable-pip-version-check", "-d"])
        .arg(d.join("wheels"))
        .args(["six==1.16.0", "python-dateutil==2.9.0.post0"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    write(
        d,
        &[
            ("pyk.toml", "name = \"r\"\nrun = \"r.py\"\ndependencies = [\"python-dateutil\"]\n[install]\nno-index = true\nfind-links = [\"wheels\"]\n"),
            ("r.py", ""),
        ],
    );
    let spec = load(d);
    let mut hashes = std::collections::BTreeMap::new();
    for entry in fs::read_dir(d.join("wheels")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        hashes.insert(name, Sha256::of(&fs::read(&path).unwrap()).to_string());
    }
    for installer in installers() {
        let target = tempfile::tempdir().unwrap();
        let installed = installer
            .install(&Request {
                spec: &spec,
                python: Path::new(PYTHON),
                version: &V311,
                platform: crate::build::Platform::host(),
                glibc: None,
                deps_target: target.path(),
                app_target: target.path(),
                lock: None,
            })
            .unwrap();
        let name = installer.name();
        let mut got: Vec<(String, String)> = installed
            .dists
            .iter()
            .map(|d| (d.name.clone(), d.version.clone()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [
                ("python-dateutil".to_owned(), "2.9.0.post0".to_owned()),
                ("six".to_owned(), "1.16.0".to_owned())
            ],
            "{name}"
        );
        for dist in &installed.dists {
            let source = dist
                .source
                .as_ref()
                .unwrap_or_else(|| panic!("{name}: {dist:?}"));
            let file = source.url.rsplit('/').next().unwrap();
            assert_eq!(source.kind, ArchiveKind::Wheel, "{name}");
            assert!(source.url.starts_with("file://"), "{name}: {source:?}");
            assert_eq!(
                source.sha256.as_ref(),
                hashes.get(file),
                "{name}: {source:?}"
            );
        }
        assert!(
            installed.warnings.is_empty(),
            "{name}: {:?}",
            installed.warnings
        );
        assert!(!target.path().join(".lock").exists() && !target.path().join("bin").exists());
    }
}

#[test]
fn the_project_goes_to_the_app_target_and_its_dependencies_do_not() {
    if !Path::new(PYTHON).is_file() {
        eprintln!("skipped: no {PYTHON}");
        return;
    }
    let backend = "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n";
    let static_deps = format!("[project]\nname = \"my_tool\"\nversion = \"1.0\"\ndependencies = [\"six==1.16.0\"]\n[project.scripts]\nmy-tool = \"my_tool:main\"\n{backend}");
    let dynamic_deps = format!("[project]\nname = \"my_tool\"\nversion = \"1.0\"\ndynamic = [\"dependencies\"]\n[project.scripts]\nmy-tool = \"my_tool:main\"\n{backend}[tool.setuptools.dynamic]\ndependencies = {{ file = [\"requirements.txt\"] }}\n");
    for (case, pyproject) in [("static", &static_deps), ("dynamic", &dynamic_deps)] {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                ("pyproject.toml", pyproject),
                ("requirements.txt", "six==1.16.0\n"),
                ("src/my_tool/__init__.py", "def main():\n    pass\n"),
            ],
        );
        let spec = load(dir.path());
        assert_eq!(
            spec.project.as_ref().unwrap().dynamic_dependencies,
            case == "dynamic"
        );
        for installer in installers() {
            let (deps, app) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            let installed = installer
                .install(&Request {
                    spec: &spec,
                    python: Path::new(PYTHON),
                    version: &V311,
                    platform: crate::build::Platform::host(),
                    glibc: None,
                    deps_target: deps.path(),
                    app_target: app.path(),
                    lock: None,
                })
                .unwrap();
            let what = format!("{case} with {}", installer.name());
            let own: Vec<&str> = installed
                .dists
                .iter()
                .filter(|d| d.own)
                .map(|d| d.name.as_str())
                .collect();
            assert_eq!(own, ["my_tool"], "{what}");
            for dist in &installed.dists {
                let expected = if dist.own { app.path() } else { deps.path() };
                assert_eq!(dist.root(), expected, "{what}: {}", dist.name);
            }
            assert!(app.path().join("my_tool/__init__.py").is_file(), "{what}");
            assert!(!deps.path().join("my_tool").exists(), "{what}");
            assert!(
                deps.path().join("six.py").is_file() && !app.path().join("six.py").exists(),
                "{what}"
            );
        }
    }
}
