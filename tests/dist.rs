//! pyk handed out by its repository: `curl … /install.sh | sh` (dash) on a machine with
//! nothing, then the installed pyk runs a package; `pyk self update` replaces a different
//! pyk with the repository's, and refuses one that is unsigned, signed by a stranger or
//! tampered with when the machine trusts keys.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use common::install::{sha256_of, Machine};
use common::repo::{app, publish, server, signing_key, Server, KEY};
use common::*;
use pyk_crypto::sign::SigningKey;

const PYK: &str = env!("CARGO_BIN_EXE_pyk");

#[test]
fn install_sh_then_run() {
    let (_dir, server) = server();
    publish(&server, app("v1").path());
    let machine = Machine::new();
    let out = ok(&mut machine.install(&server.url));
    assert!(
        out.contains(&format!("installed {}", machine.pyk().display())),
        "{out}"
    );
    assert!(
        out.contains("needed no key") && out.contains("PYK_KEY"),
        "{out}"
    );
    assert_eq!(sha256_of(&machine.pyk()), sha256_of(Path::new(PYK)));
    // The config names the server, and no key.
    let config = fs::read_to_string(machine.config()).unwrap();
    assert_eq!(config, format!("server = \"{}\"\n", server.url));
    assert!(ok(machine.installed().arg("--version")).starts_with("pyk "));
    // The key is given separately; the server comes from the config install.sh wrote.
    let out = ok(machine.installed().env("PYK_KEY", KEY).args(["app", "x"]));
    assert_eq!(out, "v1 app 1 x\n");
    // Again: the existing config is left alone.
    let out = ok(&mut machine.install(&server.url));
    assert!(out.contains("already names a server"), "{out}");

    // With wget, on a machine without curl.
    let no_curl = path_without("curl");
    let machine = Machine::new();
    let mut cmd = machine.command("sh");
    cmd.env("PATH", no_curl.path()).arg("-c").arg(format!(
        "wget -qO- {}/install.sh | sh -s -- --dir {}",
        server.url,
        machine.bin().display()
    ));
    ok(&mut cmd);
    assert_eq!(sha256_of(&machine.pyk()), sha256_of(Path::new(PYK)));

    // A platform the server has no pyk for, and a server that is down: one line each.
    let fake = tempfile::tempdir().unwrap();
    let uname = fake.path().join("uname");
    fs::write(
        &uname,
        "#!/bin/sh\n[ \"$1\" = -m ] && { echo riscv64; exit 0; }\nexec /usr/bin/uname \"$@\"\n",
    )
    .unwrap();
    fs::set_permissions(&uname, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let machine = Machine::new();
    let mut cmd = machine.install(&server.url);
    cmd.env("PATH", format!("{}:/usr/bin:/bin", fake.path().display()));
    let err = fails(&mut cmd);
    assert_eq!(
        err.trim(),
        "pyk install: unsupported platform linux-riscv64: http://127.0.0.1:".to_owned()
            + &server.port().to_string()
            + " has pyk for linux-x86_64",
        "{err}"
    );
    assert!(!machine.pyk().exists());
    // (A dead server in the pipeline is curl's to report; the script's own fetches say it.)
    let mut cmd = machine.command("sh");
    cmd.arg("-c").arg(common::install::pipeline(
        &server.url,
        &format!(
            "--server http://127.0.0.1:1 --dir {}",
            machine.bin().display()
        ),
    ));
    let err = fails(&mut cmd);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.starts_with(
            "pyk install: cannot reach http://127.0.0.1:1: is pyk serve running there? (curl: (7)"
        ),
        "{err}"
    );
}

/// A PATH directory with every program of /usr/bin but `missing`.
fn path_without(missing: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in fs::read_dir("/usr/bin").unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != missing {
            symlink(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    dir
}

/// A pyk that differs from the repository's (an older build, as far as its sha256
/// goes): this one with bytes appended, which the ELF loader ignores.
fn different_pyk(dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let path = dir.join("pyk");
    let mut bytes = fs::read(PYK).unwrap();
    bytes.extend_from_slice(b"an older build");
    fs::write(&path, bytes).unwrap();
    fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

/// `pyk self update` run by the pyk at `exe`, for a machine trusting `trusted`.
fn self_update(
    exe: &Path,
    server: &str,
    home: &Path,
    trusted: Option<&str>,
) -> std::process::Command {
    let config = home.join("config.toml");
    fs::write(
        &config,
        trusted.map_or(String::new(), |k| format!("trusted = [\"{k}\"]\n")),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(exe);
    cmd.env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("PYK_CONFIG", &config)
        .env("PYK_SERVER", server)
        .env_remove("PYK_KEY")
        .args(["self", "update"]);
    cmd
}

#[test]
fn self_update_checks_and_replaces() {
    let (_dir, plain) = server();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let served = sha256_of(Path::new(PYK));
    let trusted = signing_key().public().to_string();

    // No trusted keys: the sha256 is the check; the binary is replaced, then up to date.
    let exe = different_pyk(&home.join("a"));
    let err = ok_stderr(&mut self_update(&exe, &plain.url, home, None));
    assert!(
        err.contains("trusts no signing keys") && err.contains("replaced"),
        "{err}"
    );
    assert_eq!(sha256_of(&exe), served);
    let err = ok_stderr(&mut self_update(&exe, &plain.url, home, None));
    assert!(err.contains("already the repository's pyk"), "{err}");

    // Trusted keys, and the repository's pyk unsigned: refused, the binary unchanged.
    let exe = different_pyk(&home.join("b"));
    let before = sha256_of(&exe);
    let err = fails(&mut self_update(&exe, &plain.url, home, Some(&trusted)));
    assert!(err.contains("it is not signed"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(sha256_of(&exe), before);

    // Signed with `pyk self sign`, served with --clients: accepted.
    let clients = home.join("clients");
    let out = run(std::process::Command::new(PYK)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("PYK_SIGNING_KEY", signing_key().to_text())
        .args(["self", "sign"])
        .arg(&clients));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signed = Server::start_with_args(
        &home.join("store2"),
        0,
        KEY,
        None,
        &["--clients", clients.to_str().unwrap()],
    );
    ok_stderr(&mut self_update(&exe, &signed.url, home, Some(&trusted)));
    assert_eq!(sha256_of(&exe), served);

    // Tampered with on the server (the signature is the real binary's): refused.
    let exe = different_pyk(&home.join("c"));
    let before = sha256_of(&exe);
    let served_binary = clients.join("pyk-linux-x86_64");
    let mut tampered = fs::read(&served_binary).unwrap();
    tampered.extend_from_slice(b"evil");
    fs::write(&served_binary, tampered).unwrap();
    let err = fails(&mut self_update(&exe, &signed.url, home, Some(&trusted)));
    assert!(err.contains("signature does not match"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(sha256_of(&exe), before);
    let leftovers: Vec<_> = fs::read_dir(home.join("c")).unwrap().collect();
    assert_eq!(
        leftovers.len(),
        1,
        "the temp file beside the binary is gone"
    );

    // Signed, but by a key this machine does not trust: refused.
    let stranger = SigningKey::generate().unwrap();
    let out = run(std::process::Command::new(PYK)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home)
        .env("PYK_SIGNING_KEY", stranger.to_text())
        .args(["self", "sign"])
        .arg(&clients));
    assert!(out.status.success());
    let err = fails(&mut self_update(&exe, &signed.url, home, Some(&trusted)));
    assert!(err.contains("which this machine does not trust"), "{err}");
    assert_eq!(sha256_of(&exe), before);

    // A binary in a directory this user cannot write (a read-only bind mount, in a mount
    // namespace of its own): one line, nothing changed.
    let ro = home.join("ro");
    let exe = different_pyk(&ro);
    let before = sha256_of(&exe);
    let update = self_update(&exe, &plain.url, home, None);
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["-m", "sh", "-c"])
        .arg(format!(
            "mount --bind -o ro {0} {0} && exec {1} self update",
            ro.display(),
            exe.display()
        ))
        .envs(update.get_envs().filter_map(|(k, v)| Some((k, v?))));
    let out = run(&mut cmd);
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("mount") || err.contains("unshare") {
        eprintln!("skipping the read-only directory: {err}");
    } else {
        assert!(!out.status.success());
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("cannot replace {}", exe.display()))
                && err.contains("Read-only file system"),
            "{err}"
        );
        assert_eq!(sha256_of(&exe), before);
    }

    // The server down: one line.
    let err = fails(&mut self_update(&exe, "http://127.0.0.1:1", home, None));
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("cannot reach http://127.0.0.1:1"), "{err}");
}

/// Runs a command that must succeed; returns its stderr (where pyk reports).
fn ok_stderr(cmd: &mut std::process::Command) -> String {
    let out = run(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{cmd:?} failed: {stderr}");
    stderr
}
