//! The spec module's own tests: every declaration form read from real files.

use super::*;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, text) in files {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
}

fn at(dir: &Path) -> Result<Spec> {
    load(&Args {
        path: dir,
        entry: None,
        script: None,
        name: None,
        requirements: &[],
    })
}

fn err(files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), files);
    let e = format!("{:#}", at(dir.path()).unwrap_err());
    assert!(!e.contains('\n'), "one line: {e}");
    e
}

#[test]
fn reads_the_original_keys() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("pyk.toml", "name = \"foo\"\nrun = \"foo.py\"\ndependencies = [\"click\"]\nextras = [\"README.md\"]\n"),
            ("foo.py", "print('hi')\n"),
            ("README.md", "x"),
        ],
    );
    let spec = at(dir.path()).unwrap();
    assert_eq!((spec.name.as_str(), spec.kind), ("foo", Kind::Run));
    assert_eq!(spec.entry_module(), "foo");
    assert_eq!(spec.dependencies, ["click"]);
    assert_eq!(
        spec.entry,
        Entry::Path(std::path::absolute(dir.path().join("foo.py")).unwrap())
    );
    assert_eq!(spec.base, std::path::absolute(dir.path()).unwrap());
}

#[test]
fn errors_name_the_key_and_line() {
    let foo = ("foo.py", "print('hi')\n");
    let e = err(&[
        (
            "pyk.toml",
            "name = \"foo\"\nrun = \"foo.py\"\nlibaries = []\n",
        ),
        foo,
    ]);
    assert!(e.contains("pyk.toml:3") && e.contains("libaries"), "{e}");
    let e = err(&[("pyk.toml", "name = \"foo\"\nrun = 3\n"), foo]);
    assert!(e.contains("pyk.toml:2"), "{e}");
    let e = err(&[("pyk.toml", "name = \"foo\"\n"), foo]);
    assert!(e.contains("`run`"), "{e}");
    let e = err(&[("pyk.toml", "name = \"foo\"\nrun = \"missing.py\"\n"), foo]);
    assert!(
        e.contains("pyk.toml:2") && e.contains("missing.py") && e.contains("does not exist"),
        "{e}"
    );
    let e = err(&[("pyk.toml", "name = \"../x\"\nrun = \"foo.py\"\n"), foo]);
    assert!(e.contains("invalid package name"), "{e}");
    let e = err(&[
        (
            "pyk.toml",
            "name = \"foo\"\nrun = \"foo.py\"\nlib = \"foo.py\"\n",
        ),
        foo,
    ]);
    assert!(e.contains("not `run` and `lib`"), "{e}");
    let e = err(&[
        (
            "pyk.toml",
            "name = \"foo\"\nrun = \"foo.py\"\ndependencies = [\n  \"ok\",\n  \"bad>=>1\",\n]\n",
        ),
        foo,
    ]);
    assert!(
        e.contains("pyk.toml:5: `dependencies` item \"bad>=>1\""),
        "{e}"
    );
    let e = err(&[
        (
            "pyk.toml",
            "name = \"foo\"\nrun = \"foo.py\"\nrequires-python = \"3.11+\"\n",
        ),
        foo,
    ]);
    assert!(e.contains("pyk.toml:3: `requires-python` \"3.11+\""), "{e}");
    let e = err(&[
        (
            "pyk.toml",
            "name = \"foo\"\nrun = \"foo.py\"\npython = \"2.7\"\n",
        ),
        foo,
    ]);
    assert!(e.contains("pyk.toml:3: `python`"), "{e}");
    let e = err(&[
        (
            "pyk.toml",
            "name = \"foo\"\nrun = \"foo.py\"\nrequirements = [\"nope.txt\"]\n",
        ),
        foo,
    ]);
    assert!(e.contains("pyk.toml:3") && e.contains("nope.txt"), "{e}");
}

#[test]
fn nothing_declared_says_what_to_write() {
    let e = err(&[]);
    assert!(
        e.contains("no pyk.toml or pyproject.toml") && e.contains("run ="),
        "{e}"
    );
    let e = err(&[("pyproject.toml", "[tool.black]\nline-length = 99\n")]);
    assert!(e.contains("neither [project] nor [tool.pyk]"), "{e}");
    let e = err(&[(
        "pyproject.toml",
        "[project]\nname = \"app\"\ndependencies = [\"click\"]\n",
    )]);
    assert!(
        e.contains("no [project.scripts]") && e.contains("run = \"FILE.py\""),
        "{e}"
    );
}

#[test]
fn a_pyproject_project_with_one_script_needs_no_pyk_toml() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "pyproject.toml",
            "[project]\nname = \"My_App\"\nversion = \"1.0\"\nrequires-python = \">=3.10\"\ndependencies = [\"click>=8\"]\n\n[project.scripts]\nmyapp = \"my_app.cli:main\"\n",
        )],
    );
    let spec = at(dir.path()).unwrap();
    assert_eq!(spec.name, "myapp");
    assert_eq!(spec.dependencies, ["click>=8"]);
    assert_eq!(
        spec.entry,
        Entry::Function {
            script: "myapp".into(),
            module: "my_app.cli".into(),
            function: "main".into()
        }
    );
    let project = spec.project.as_ref().unwrap();
    assert!(project.owns("my-app") && project.owns("my.app") && !project.owns("click"));
    assert_eq!(spec.python.requires.len(), 1);
    assert!(spec.python.requires[0].at.ends_with("pyproject.toml:4"));
    assert!(spec.installs());
}

#[test]
fn several_scripts_are_picked_by_flag_or_key() {
    let dir = tempfile::tempdir().unwrap();
    let pyproject = "[project]\nname = \"h\"\n[project.scripts]\nhttp = \"h.core:main\"\nhttps = \"h.core:main_s\"\n";
    write(dir.path(), &[("pyproject.toml", pyproject)]);
    let e = format!("{:#}", at(dir.path()).unwrap_err());
    assert!(
        e.contains("(http, https)") && e.contains("--script NAME"),
        "{e}"
    );
    let spec = load(&Args {
        path: dir.path(),
        entry: None,
        script: Some("https"),
        name: None,
        requirements: &[],
    })
    .unwrap();
    assert_eq!(spec.name, "https");
    // [tool.pyk] in the same file, or a pyk.toml beside it.
    write(
        dir.path(),
        &[(
            "pyproject.toml",
            &format!("{pyproject}[tool.pyk]\nscript = \"http\"\nname = \"web\"\n"),
        )],
    );
    let spec = at(dir.path()).unwrap();
    assert_eq!(
        (spec.name.as_str(), spec.entry_module().as_str()),
        ("web", "h.core")
    );
    write(dir.path(), &[("pyk.toml", "script = \"http\"\n")]);
    let e = format!("{:#}", at(dir.path()).unwrap_err());
    assert!(e.contains("keep one"), "{e}");
    write(dir.path(), &[("pyproject.toml", pyproject)]);
    assert_eq!(at(dir.path()).unwrap().name, "http");
    write(dir.path(), &[("pyk.toml", "script = \"htp\"\n")]);
    let e = format!("{:#}", at(dir.path()).unwrap_err());
    assert!(
        e.contains("pyk.toml:1: `script` names script \"htp\"")
            && e.contains("it has: http, https"),
        "{e}"
    );
}

#[test]
fn pyk_toml_beside_a_pyproject_takes_its_dependencies_and_requires_python() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("pyproject.toml", "[project]\nname = \"tool\"\nrequires-python = \"~=3.11\"\ndependencies = [\"rich\"]\n"),
            ("pyk.toml", "run = \"main.py\"\ndependencies = [\"click\"]\nrequires-python = \"<3.13\"\n"),
            ("main.py", ""),
        ],
    );
    let spec = at(dir.path()).unwrap();
    assert_eq!(spec.name, "tool");
    assert_eq!(spec.dependencies, ["rich", "click"]);
    assert!(
        spec.project.is_none(),
        "a `run` app is packed from its files"
    );
    assert_eq!(spec.python.requires.len(), 2);
    // Dynamic dependencies cannot be read without the build backend: said, not ignored.
    write(
        dir.path(),
        &[(
            "pyproject.toml",
            "[project]\nname = \"tool\"\ndynamic = [\"dependencies\"]\n",
        )],
    );
    let spec = at(dir.path()).unwrap();
    assert_eq!(spec.dependencies, ["click"]);
    assert!(spec.warnings[0].contains("dynamic"), "{:?}", spec.warnings);
}

#[test]
fn relative_paths_resolve_against_the_file_that_names_them() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("app/pyk.toml", "name = \"a\"\nrun = \"src/a.py\"\nrequirements = [\"reqs/base.txt\"]\n[install]\nfind-links = [\"../wheels\"]\nconstraints = [\"reqs/c.txt\"]\n"),
            ("app/src/a.py", ""),
            ("app/reqs/base.txt", "six\n"),
            ("app/reqs/c.txt", "six<2\n"),
            ("wheels/.keep", ""),
            ("other/r.txt", "click\n"),
        ],
    );
    // Built from another directory, with the pyk.toml given as a file.
    let spec = load(&Args {
        path: &dir.path().join("app/pyk.toml"),
        entry: None,
        script: None,
        name: None,
        requirements: &[dir.path().join("other/r.txt")],
    })
    .unwrap();
    let abs = |p: &str| std::path::absolute(dir.path().join(p)).unwrap();
    assert_eq!(spec.entry, Entry::Path(abs("app/src/a.py")));
    assert_eq!(
        spec.requirement_files,
        [abs("app/reqs/base.txt"), abs("other/r.txt")]
    );
    assert_eq!(spec.install.constraints, [abs("app/reqs/c.txt")]);
    assert_eq!(
        spec.install.find_links,
        [abs("app/../wheels").display().to_string()]
    );
    assert_eq!(spec.base, abs("app"));
}

#[test]
fn scripts_read_both_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("tool.py");
    fs::write(&script, "#!/usr/bin/env python3\n# /// pyk\n# name = \"t\"\n# ///\n\n# /// script\n# requires-python = \">=3.11\"\n# dependencies = [\"rich\"]\n# ///\nprint(1)\n").unwrap();
    let args = |entry: bool| Args {
        path: if entry { Path::new(".") } else { &script },
        entry: entry.then_some(script.as_path()),
        script: None,
        name: None,
        requirements: &[],
    };
    for entry in [false, true] {
        let spec = load(&args(entry)).unwrap();
        assert_eq!(
            (spec.name.as_str(), spec.kind, spec.entry_module().as_str()),
            ("t", Kind::Run, "tool")
        );
        assert_eq!(spec.dependencies, ["rich"]);
        assert!(
            spec.python.requires[0].at.ends_with("tool.py:7"),
            "{}",
            spec.python.requires[0].at
        );
    }
    fs::write(&script, "# /// pyk\n# name = \"t\"\n# bogus = 1\n# ///\n").unwrap();
    let e = format!("{:#}", load(&args(true)).unwrap_err());
    assert!(
        e.contains("tool.py:3") && e.contains("bogus") && e.contains("`# /// pyk` block"),
        "{e}"
    );
    fs::write(
        &script,
        "# /// script\n# dependencies = [\"ok\", \"no good\"]\n# ///\n",
    )
    .unwrap();
    let e = format!("{:#}", load(&args(false)).unwrap_err());
    assert!(e.contains("tool.py:2") && e.contains("\"no good\""), "{e}");
    fs::write(&script, "print(1)\n").unwrap();
    assert_eq!(load(&args(false)).unwrap().name, "tool");
}

#[test]
fn strip_stdlib_and_keep() {
    let foo = ("foo.py", "print('hi')\n");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "pyk.toml",
                "name = \"foo\"\nrun = \"foo.py\"\nstrip_stdlib = true\nkeep = [\"json\", \"xml.dom.minidom\"]\n",
            ),
            foo,
        ],
    );
    let spec = at(dir.path()).unwrap();
    assert!(spec.strip_stdlib);
    assert_eq!(spec.keep, ["json", "xml.dom.minidom"]);

    // [tool.pyk] takes the same keys, in either spelling.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "pyproject.toml",
                "[tool.pyk]\nname = \"foo\"\nrun = \"foo.py\"\nstrip-stdlib = true\n",
            ),
            foo,
        ],
    );
    let spec = at(dir.path()).unwrap();
    assert!(spec.strip_stdlib && spec.keep.is_empty());

    let e = err(&[
        (
            "pyk.toml",
            "name = \"foo\"\nrun = \"foo.py\"\nkeep = [\"json\", \"os/path\"]\n",
        ),
        foo,
    ]);
    assert!(
        e.contains("pyk.toml:3") && e.contains("`keep`") && e.contains("os/path"),
        "{e}"
    );
}

#[test]
fn platforms_in_pyk_toml_and_tool_pyk() {
    let foo = ("foo.py", "print('hi')\n");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "pyproject.toml",
                "[tool.pyk]\nname = \"foo\"\nrun = \"foo.py\"\nplatforms = [\"linux-x86_64\", \"linux-aarch64\"]\n",
            ),
            foo,
        ],
    );
    let spec = at(dir.path()).unwrap();
    assert_eq!(spec.platforms, [Platform::X86_64, Platform::Aarch64]);
    let e = err(&[
        (
            "pyk.toml",
            "name = \"foo\"\nrun = \"foo.py\"\nplatforms = [\"linux-riscv64\"]\n",
        ),
        foo,
    ]);
    assert!(
        e.contains("pyk.toml:3") && e.contains("`platforms` names \"linux-riscv64\""),
        "{e}"
    );
}
