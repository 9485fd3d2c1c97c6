//! The command line on one machine, no repository (issue 11): version, completions, man
//! page, help, `-q`, a program's name and traceback when run directly, and errors that
//! say what to do when no runtime can be had or a pyenv shim is named.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::*;

#[test]
fn version_names_the_commit_date_and_glibc_floors() {
    let out = ok(pyk().arg("--version"));
    let (line, floors) = out.trim_end().split_once('\n').unwrap();
    // Read from the ELF files: 2.17 where zig built them, this machine's glibc otherwise.
    assert!(
        floors.starts_with("runs on glibc ≥ 2.") && floors.contains("launcher on glibc ≥ 2."),
        "{floors}"
    );
    let rest = line
        .strip_prefix(&format!("pyk {} ", env!("CARGO_PKG_VERSION")))
        .unwrap_or_else(|| panic!("{line}"));
    // `(abc123def 2026-11-23)` in a git checkout, which this is.
    let inner = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')'));
    let (commit, date) = inner.and_then(|i| i.split_once(' ')).unwrap();
    assert!(
        commit.len() >= 7 && commit.bytes().all(|b| b.is_ascii_hexdigit()),
        "{line}"
    );
    assert!(
        date.len() == 10 && date.as_bytes()[4] == b'-' && date.as_bytes()[7] == b'-',
        "{line}"
    );
    assert_eq!(ok(pyk().arg("-V")), out);
}

#[test]
fn completions_and_man_page_come_from_the_definitions() {
    let bash = ok(pyk().args(["completions", "bash"]));
    assert!(bash.contains("complete -F _pyk") && bash.contains("python-setup"));
    let zsh = ok(pyk().args(["completions", "zsh"]));
    assert!(zsh.starts_with("#compdef pyk") && zsh.contains("python-setup"));
    let fish = ok(pyk().args(["completions", "fish"]));
    assert!(fish.contains("complete -c pyk") && fish.contains("python-setup"));
    let err = fails(pyk().args(["completions", "tcsh"]));
    assert!(err.contains("possible values"), "{err}");
    let man = ok(pyk().arg("man"));
    assert!(
        man.contains(".TH pyk") && man.contains("completions"),
        "{man}"
    );
    // The completions load into bash and complete a subcommand.
    let script = format!(
        "{bash}\nCOMP_WORDS=(pyk bui); COMP_CWORD=1; COMP_LINE='pyk bui'; COMP_POINT=7\n\
         _pyk pyk bui pyk; echo \"${{COMPREPLY[@]}}\"\n"
    );
    let out = ok(Command::new("bash").args(["--norc", "-c", &script]));
    assert_eq!(out.trim(), "build", "{out}");
}

#[test]
fn help_names_every_argument_and_global_options_apart() {
    let help = ok(pyk().args(["install", "--help"]));
    assert!(
        help.contains("<NAME>  The published program to run"),
        "{help}"
    );
    let help = ok(pyk().args(["python-setup", "--help"]));
    assert_eq!(help.matches("python3").count(), 1, "{help}");
    for command in ["build", "pull", "versions", "cache list"] {
        let help = ok(pyk().args(command.split(' ')).arg("--help"));
        let global = help
            .split("Global options:")
            .nth(1)
            .unwrap_or_else(|| panic!("{command}: no global options group: {help}"));
        assert!(global.contains("-q, --quiet"), "{help}");
        let own = help.split("Global options:").next().unwrap();
        assert!(
            !own.contains("--quiet"),
            "{command}: -q shown twice: {help}"
        );
    }
    let build = ok(pyk().args(["build", "--help"]));
    let pull = ok(pyk().args(["pull", "--help"]));
    assert!(build.contains("-o, --output <PATH>") && pull.contains("-o, --output <PATH>"));
}

#[test]
fn a_program_is_called_by_its_own_name_and_its_traceback_is_its_own() {
    let dir = project(&[
        ("pyk.toml", "name = \"crash\"\nrun = \"crash.py\"\n"),
        (
            "crash.py",
            "import sys\nprint(sys.argv[0])\n\ndef f():\n    raise KeyError('k')\n\nf()\n",
        ),
    ]);
    let built = build(dir.path(), "crash", &["-q"]);
    let cache = tempfile::tempdir().unwrap();
    let out = run(&mut artifact(&built, cache.path()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        built.canonicalize().unwrap().display().to_string()
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("Traceback (most recent call last):\n  File \"")
            && err
                .lines()
                .nth(1)
                .unwrap()
                .ends_with("/crash.py\", line 7, in <module>"),
        "{err}"
    );
    assert!(
        !err.contains("__pyk_boot__") && !err.contains("<string>"),
        "{err}"
    );
    // Found on PATH, it is called by its name, as a launcher and `pyk crash` are.
    let out = run(artifact(Path::new("crash"), cache.path()).env("PATH", built.parent().unwrap()));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "crash\n");
}

#[test]
fn quiet_builds_print_nothing() {
    let dir = project(&[
        ("pyk.toml", "name = \"q\"\nrun = \"q.py\"\n"),
        ("q.py", "print('q')\n"),
    ]);
    let out = run(pyk()
        .current_dir(dir.path())
        .args(["-q", "build", "--python", PY]));
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    let out = run(pyk()
        .current_dir(dir.path())
        .args(["build", "--python", PY]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Built "));
}

/// `-q` silences progress only: a warning (here, a `keep` that has no effect) still prints,
/// once, in the one voice every warning has.
#[test]
fn quiet_builds_still_print_their_warnings() {
    let dir = project(&[
        (
            "pyk.toml",
            "name = \"w\"\nrun = \"w.py\"\nkeep = [\"colorsys\"]\n",
        ),
        ("w.py", "print('w')\n"),
    ]);
    let out = run(pyk()
        .current_dir(dir.path())
        .args(["-q", "build", "--python", PY]));
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        "pyk: warning: `keep` has no effect without strip_stdlib = true (or --strip-stdlib)\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
}

#[test]
fn no_runtime_to_be_had_says_what_would_do() {
    let cache = tempfile::tempdir().unwrap();
    let dir = project(&[("pyk.toml", "name = \"x\"\nrun = \"x.py\"\n"), ("x.py", "")]);
    // A mirror nothing answers at stands in for a machine with no route to GitHub.
    let err = fails(
        pyk()
            .current_dir(dir.path())
            .env("PYK_CACHE_DIR", cache.path())
            .env("PYK_PYTHON_MIRROR", "http://127.0.0.1:9")
            .args(["build", "--python", "3.12"]),
    );
    for part in [
        "no Python 3.12 runtime is cached, and none could be downloaded",
        "`pyk runtime import PYTHON`",
        "`--runtime ARCHIVE`",
        "PYK_PYTHON_MIRROR",
    ] {
        assert!(err.contains(part), "{part}: {err}");
    }
}

#[test]
fn a_pyenv_style_shim_is_resolved_to_its_interpreter() {
    let dir = tempfile::tempdir().unwrap();
    let shim = dir.path().join("python3");
    fs::write(
        &shim,
        format!("#!/usr/bin/env bash\nexec {SYSTEM_PYTHON} \"$@\"\n"),
    )
    .unwrap();
    fs::set_permissions(&shim, fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(pyk()
        .env("PYK_CACHE_DIR", dir.path().join("cache"))
        .args(["runtime", "import"])
        .arg(&shim));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("is a script (a pyenv shim?): importing the interpreter it runs"),
        "{err}"
    );
    // A script that is no Python at all says what it is.
    fs::write(&shim, "#!/bin/sh\necho not python\n").unwrap();
    let err = fails(
        pyk()
            .env("PYK_CACHE_DIR", dir.path().join("cache"))
            .args(["runtime", "import"])
            .arg(&shim),
    );
    assert!(err.contains("is a script"), "{err}");
}

/// pyk loads no shared library but libc (the loader aside; glibc 2.17, which zig links
/// the release build for, keeps pthread and dl apart): each costs every start ~0.05–0.1 ms
/// (README, "Warm runs"). The unwinder is linked in (build.rs), `log` and `pow` too
/// (src/math.rs): a new C math function would bring libm.so back, and fail here.
#[test]
fn pyk_needs_no_shared_library_but_libc() {
    let out = ok(Command::new("readelf").args(["-d", env!("CARGO_BIN_EXE_pyk")]));
    let needed: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1)?.strip_suffix(']'))
        .collect();
    let allowed = ["libc.so.6", "libpthread.so.0", "libdl.so.2"];
    assert!(
        needed.contains(&"libc.so.6")
            && needed
                .iter()
                .all(|lib| allowed.contains(lib) || lib.starts_with("ld-linux")),
        "{needed:?}"
    );
}
