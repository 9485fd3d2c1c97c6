//! The command line against a real repository (issue 11): programs see their own arguments
//! and name, typos and the wrong kind of package are named, changes to `latest` say where
//! it went, and errors say what to do.

mod common;

use std::fs;
use std::process::Command;

use common::repo::*;
use common::*;

/// A program that prints its argv, and raises from a function when asked to.
const SHOW_PY: &str = "import sys\n\ndef boom():\n    raise ValueError('boom')\n\nprint(repr(sys.argv))\nif 'boom' in sys.argv[1:]:\n    boom()\n";

fn show() -> tempfile::TempDir {
    project(&[
        ("pyk.toml", "name = \"show\"\nrun = \"show.py\"\n"),
        ("show.py", SHOW_PY),
    ])
}

fn mylib() -> tempfile::TempDir {
    project(&[
        ("pyk.toml", "name = \"mylib\"\nlib = \"mylib.py\"\n"),
        ("mylib.py", "X = 1\n"),
    ])
}

/// Runs a command that must succeed and print nothing at all (`-q`).
fn silent(cmd: &mut Command) {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        ("".into(), "".into()),
        "{cmd:?} printed"
    );
}

#[test]
fn programs_get_every_argument_their_own_name_and_their_own_traceback() {
    let (_dir, server) = server();
    publish(&server, show().path());
    let client = Client::new(&server);
    let args = [
        "--help",
        "-h",
        "-q",
        "5",
        "--quiet",
        "--version",
        "-V",
        "--",
        "x",
    ];
    let want = "['show', '--help', '-h', '-q', '5', '--quiet', '--version', '-V', '--', 'x']\n";
    assert_eq!(ok(client.pyk().arg("show").args(args)), want);
    assert_eq!(ok(client.pyk().args(["run", "show"]).args(args)), want);
    assert_eq!(
        ok(client.pyk().args(["-q", "run", "-q", "show"]).args(args)),
        want
    );
    assert_eq!(ok(client.pyk().args(["run", "show@1"]).args(args)), want);

    // An installed launcher is the program, options and all.
    let bin = client.home.path().join("bin");
    silent(client.pyk().args(["-q", "install", "show"]).arg(&bin));
    let mut launcher = Command::new(bin.join("show"));
    client.env(&mut launcher);
    assert_eq!(ok(launcher.args(args)), want);
    // Under another name (a symlink), the program is called by that name.
    std::os::unix::fs::symlink(bin.join("show"), bin.join("sh0w")).unwrap();
    let mut linked = Command::new(bin.join("sh0w"));
    client.env(&mut linked);
    assert_eq!(ok(linked.arg("-h")), "['sh0w', '-h']\n");

    // A traceback starts at the program's own code.
    let out = run(client.pyk().args(["show", "boom"]));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines[0], "Traceback (most recent call last):", "{err}");
    assert!(
        lines[1].starts_with("  File \"") && lines[1].ends_with("/show.py\", line 8, in <module>"),
        "{err}"
    );
    assert!(
        !err.contains("__pyk_boot__") && !err.contains("<string>") && !err.contains("runpy"),
        "{err}"
    );
    assert!(err.ends_with("ValueError: boom\n"), "{err}");
}

#[test]
fn typos_are_named_and_published_names_still_run() {
    let (_dir, server) = server();
    let client = Client::new(&server);
    for (typo, command) in [
        ("biuld", "build"),
        ("lsit", "list"),
        ("publsh", "publish"),
        ("verisons", "versions"),
        ("instal", "install"),
    ] {
        let err = fails(client.pyk().arg(typo));
        assert!(
            err.contains(&format!("did you mean `pyk {command}`?")),
            "{typo}: {err}"
        );
    }
    // With no config at all, the typo is still what is said.
    let home = tempfile::tempdir().unwrap();
    let err = fails(
        Command::new(env!("CARGO_BIN_EXE_pyk"))
            .arg("biuld")
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path())
            .env("PYK_CACHE_DIR", home.path().join("cache"))
            .env_remove("PYK_KEY")
            .env_remove("PYK_SERVER")
            .env_remove("PYK_CONFIG"),
    );
    assert!(err.contains("did you mean `pyk build`?"), "{err}");
    // A name far from every command gets no suggestion.
    let err = fails(client.pyk().arg("nosuchthing"));
    assert!(
        err.contains("no package run/nosuchthing") && !err.contains("did you mean"),
        "{err}"
    );
    // A published package whose name is near a command runs.
    let lst = project(&[
        ("pyk.toml", "name = \"lst\"\nrun = \"lst.py\"\n"),
        ("lst.py", "print('lst ran')\n"),
    ]);
    publish(&server, lst.path());
    assert_eq!(ok(client.pyk().arg("lst")), "lst ran\n");

    // The original pyk's spellings.
    let listed = ok(client.pyk().arg("--list"));
    assert!(listed.starts_with("run  lst"), "{listed}");
    silent(client.pyk().args(["-q", "--remove", "lst", "--yes"]));
    assert!(fails(client.pyk().arg("lst")).contains("no package run/lst"));
}

#[test]
fn the_other_kind_of_package_is_named() {
    let (_dir, server) = server();
    publish(&server, show().path());
    publish(&server, mylib().path());
    let client = Client::new(&server);
    for args in [
        &["versions", "mylib"][..],
        &["pull", "mylib"],
        &["inspect", "mylib"],
        &["promote", "mylib", "1"],
        &["yank", "mylib", "1"],
    ] {
        let err = fails(client.pyk().args(args).current_dir(client.home.path()));
        assert!(
            err.contains("there is a library mylib: add --lib"),
            "{args:?}: {err}"
        );
    }
    for args in [&["mylib"][..], &["run", "mylib"], &["install", "mylib"]] {
        let err = fails(client.pyk().args(args));
        assert!(
            err.contains("there is a library mylib") && err.contains("from pyk import mylib"),
            "{args:?}: {err}"
        );
    }
    let err = fails(client.pyk().args(["versions", "--lib", "show"]));
    assert!(
        err.contains("there is a program show, not a library: leave out --lib"),
        "{err}"
    );
    // `from pyk import show`, show being a program.
    ok(client
        .pyk()
        .args(["python-setup", "--python", SYSTEM_PYTHON]));
    let out = run(client.python().args(["-c", "from pyk import show"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("there is a program show, not a library"),
        "{err}"
    );
    // Neither kind: no hint.
    let err = fails(client.pyk().args(["versions", "nothing"]));
    assert!(!err.contains("there is"), "{err}");
    // Installing what does not exist writes nothing.
    let bin = client.home.path().join("bin");
    let err = fails(client.pyk().args(["install", "nothing"]).arg(&bin));
    assert!(err.contains("not a published program"), "{err}");
    assert!(!bin.join("nothing").exists());
}

#[test]
fn republishing_a_version_fails_before_the_build() {
    let (_dir, server) = server();
    let dir = show();
    publish_with(&server, dir.path(), &["--version", "1.0"]);
    let publisher = Client::new(&server);
    let err = fails(
        publisher
            .pyk()
            .env("PYK_CACHE_DIR", build_cache())
            .current_dir(dir.path())
            .args(["publish", "--python", PY, "--version", "1.0"]),
    );
    assert!(
        err.contains("version 1.0 already exists") && err.contains("--version NEW"),
        "{err}"
    );
    assert!(!err.contains("Built "), "it built first: {err}");
    // The same from pyk.toml's version.
    fs::write(
        dir.path().join("pyk.toml"),
        "name = \"show\"\nrun = \"show.py\"\nversion = \"1.0\"\n",
    )
    .unwrap();
    let err = fails(
        publisher
            .pyk()
            .env("PYK_CACHE_DIR", build_cache())
            .current_dir(dir.path())
            .args(["publish", "--python", PY]),
    );
    assert!(
        err.contains("already exists") && err.contains("bump `version` in pyk.toml"),
        "{err}"
    );
    // `pyk push` too, before anything is sent.
    let file = dir.path().join("show.py");
    ok(publisher.pyk().args(["push", "notes", "1"]).arg(&file));
    let err = fails(publisher.pyk().args(["push", "notes", "1"]).arg(&file));
    assert!(
        err.contains("notes version 1 already exists")
            && err.contains("`pyk push NAME NEW_VERSION FILE`"),
        "{err}"
    );
}

#[test]
fn yank_and_remove_say_where_latest_went() {
    let (_dir, server) = server();
    let dir = show();
    for v in ["1", "2"] {
        publish_with(&server, dir.path(), &["--version", v]);
    }
    publish_with(&server, dir.path(), &["--version", "3", "--no-promote"]);
    let client = Client::new(&server);

    // Latest (2) would fall to 3, which was never promoted: that needs --force.
    let err = fails(client.pyk().args(["yank", "show", "2"]));
    assert!(
        err.contains("move latest to version 3, which was never made latest")
            && err.contains("--force"),
        "{err}"
    );
    let err = fails(client.pyk().args(["remove", "show", "--version", "2"]));
    assert!(
        err.contains("moves latest to version 3, which was never made latest")
            && err.contains("--force"),
        "{err}"
    );
    let said = ok(client.pyk().args(["yank", "--force", "show", "2"]));
    assert!(said.contains("latest moved to version 3"), "{said}");

    // Promoting a yanked version names the command that takes the yank back.
    let err = fails(client.pyk().args(["promote", "show", "2"]));
    assert!(err.contains("`pyk yank --undo`"), "{err}");
    let said = ok(client.pyk().args(["yank", "--undo", "show", "2"]));
    assert!(said.contains("eligible for latest again"), "{said}");
    silent(client.pyk().args(["-q", "promote", "show", "1"]));

    // An older latest falls to the newest eligible version, and says which.
    let said = ok(client
        .pyk()
        .args(["remove", "show", "--version", "1", "--force"]));
    assert!(said.contains("latest moved to version 3"), "{said}");
    let listed = ok(client.pyk().args(["versions", "show"]));
    assert!(listed.contains("* 3 "), "{listed}");
    // Yanking something that is not latest moves nothing and says nothing of latest.
    let said = ok(client.pyk().args(["yank", "show", "2"]));
    assert!(!said.contains("latest moved"), "{said}");
}

#[test]
fn pull_makes_the_directories_it_is_told_to_write_to() {
    let (_dir, server) = server();
    publish(&server, show().path());
    publish(&server, app("v1").path());
    let client = Client::new(&server);
    let out = client.home.path().join("out");
    silent(
        client
            .pyk()
            .args(["-q", "pull", "show", "app", "-o"])
            .arg(out.join("several")),
    );
    assert!(out.join("several/show").is_file() && out.join("several/app").is_file());
    ok(client
        .pyk()
        .args(["pull", "show", "-o"])
        .arg(out.join("deep/er/file")));
    assert!(out.join("deep/er/file").is_file());
    ok(client
        .pyk()
        .args(["pull", "show", "-o"])
        .arg(format!("{}/", out.join("dir").display())));
    assert!(out.join("dir/show").is_file());
}

#[test]
fn https_against_plain_http_and_a_busy_port_say_so() {
    let (dir, server) = server();
    let client = Client::new(&server);
    let https = server.url.replace("http://", "https://");
    let out = run(client.pyk().arg("list").env("PYK_SERVER", &https));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("speaks plain HTTP, not HTTPS"), "{err}");
    // The hint comes last, and the network failure it explains keeps its exit code.
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.trim_end().ends_with("in front of `pyk serve`)"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(69), "{err}");

    let store = dir.path().join("second.db");
    let err = fails(
        Command::new(env!("CARGO_BIN_EXE_pyk"))
            .args(["serve", "--host", "127.0.0.1", "--port"])
            .arg(server.port().to_string())
            .arg(&store)
            .env("PYK_KEY", KEY)
            .env("HOME", dir.path()),
    );
    assert!(err.contains("--port"), "{err}");
    assert!(
        !store.exists(),
        "a busy port left {} behind",
        store.display()
    );
}

#[test]
fn a_bad_config_stops_only_what_reads_the_bad_part() {
    let (_dir, server) = server();
    publish(&server, show().path());
    let client = Client::new(&server);
    let config = client.home.path().join("config/pyk");
    fs::create_dir_all(&config).unwrap();
    fs::write(config.join("config.toml"), "[pins]\nshow = 3\n").unwrap();
    // Builds and local commands do not read pins.
    let dir = show();
    let built = run(client
        .pyk()
        .env("PYK_CACHE_DIR", build_cache())
        .current_dir(dir.path())
        .args(["build", "--python", PY]));
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    ok(client.pyk().args(["runtime", "list"]));
    ok(client.pyk().args(["versions", "show"]));
    // Running does, and says where the pin is.
    let err = fails(client.pyk().arg("show"));
    assert!(err.contains("pins.show must be a version string"), "{err}");
    assert!(
        err.contains(&config.join("config.toml").display().to_string()),
        "{err}"
    );
    // A file that does not parse stops what reads the config, not the cache.
    fs::write(config.join("config.toml"), "server = \n").unwrap();
    let err = fails(client.pyk().args(["versions", "show"]));
    assert!(err.contains("config.toml:1"), "{err}");
    ok(client.pyk().args(["cache", "dir"]));
}

/// `-q` silences every command's status lines; what was asked for is still printed.
#[test]
fn quiet_is_quiet_everywhere() {
    let (_dir, server) = server();
    publish(&server, show().path());
    let client = Client::new(&server);
    let dir = show();
    silent(
        client
            .pyk()
            .env("PYK_CACHE_DIR", build_cache())
            .current_dir(dir.path())
            .args(["-q", "publish", "--python", PY, "--version", "5"]),
    );
    silent(client.pyk().args(["promote", "-q", "show", "1"]));
    silent(client.pyk().args(["-q", "init", "show", "show.bin"]));
    silent(client.pyk().args(["-q", "yank", "show", "5"]));
    silent(
        client
            .pyk()
            .args(["-q", "pull", "show", "-o"])
            .arg(client.home.path().join("p")),
    );
    silent(client.pyk().args(["-q", "cache", "prune"]));
    silent(
        client
            .pyk()
            .args(["-q", "remove", "show", "--version", "5"]),
    );
    let listed = ok(client.pyk().args(["-q", "versions", "show"]));
    assert!(listed.contains("* 1 "), "{listed}");
    assert_eq!(
        ok(client.pyk().args(["-q", "show", "-q"])),
        "['show', '-q']\n"
    );
}
