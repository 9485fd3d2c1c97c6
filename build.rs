//! Builds the launcher (`stub/`) with its size-optimised profile and hands the binary to
//! `src/stub_bin.rs`, so that one `pyk` binary can write artifacts with nothing beside it.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    version_info();
    for dir in ["stub", "artifact", "cache", "static", "protocol"] {
        println!("cargo:rerun-if-changed={dir}");
    }
    println!("cargo:rerun-if-changed=Cargo.lock");
    println!("cargo:rerun-if-changed=Cargo.toml");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    // Not position-independent: the loader then has no relocations to apply, which was
    // measured here to take the launcher's share of a warm start from ~9% to ~3%. The
    // launcher lives for well under a millisecond before it execs, so ASLR buys it little.
    let mut rustflags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if !rustflags.is_empty() {
        rustflags.push('\x1f');
    }
    rustflags.push_str("-Crelocation-model=static");
    // An explicit target keeps those flags off the host crates (proc macros such as
    // thiserror's), which must stay position-independent.
    let target = env::var("TARGET").expect("cargo sets TARGET");
    static_unwinder(&target);
    build_stub(&manifest, &out, &target, &rustflags, None, "pyk-stub");
    // The other machine's launcher too, so either pyk builds for both (`pyk build
    // --platform`): an x86_64 pyk carries the aarch64 one and an aarch64 pyk (cross-built
    // by scripts/release.sh) the x86_64 one.
    println!("cargo::rustc-check-cfg=cfg(pyk_stub_other)");
    let other = match target.as_str() {
        X86_64 => Some(AARCH64),
        AARCH64 => Some(X86_64),
        _ => None,
    };
    if let Some(other) = other {
        if let Some(rustc) = cross_rustc(other) {
            build_stub(
                &manifest,
                &out,
                other,
                &rustflags,
                Some(rustc),
                "pyk-stub-other",
            );
            println!("cargo::rustc-cfg=pyk_stub_other");
        }
    }
}

/// Links the unwinder into pyk (GCC's `libgcc_eh.a`) instead of loading `libgcc_s.so` at
/// every start: one shared library fewer for the loader, ~0.09 ms of each warm `pyk foo`
/// measured here (a program runs ~9 ms). With the unwinder resolved first, the linker
/// (`--as-needed`) drops libgcc_s. zig, which links the release build, brings its own.
fn static_unwinder(target: &str) {
    let zig = env::var("RUSTC_LINKER").is_ok_and(|linker| linker.contains("zig"));
    if target.ends_with("-linux-gnu") && !zig {
        println!("cargo:rustc-link-lib=static=gcc_eh");
    }
}

/// The two machines pyk builds artifacts for (`pyk build --platform`).
const X86_64: &str = "x86_64-unknown-linux-gnu";
const AARCH64: &str = "aarch64-unknown-linux-gnu";

/// A rustc with `target`'s standard library, and a linker for it (zig, or the GNU cross gcc):
/// the outer build's compiler if it has that library, else Debian's (`rustc-web` with
/// `libstd-rust-web-dev:arm64`); rustup's toolchains here have none for aarch64 and cannot
/// download one. `None` when either is missing: pyk then builds artifacts for its own
/// machine only, and says how to get the rest when asked for another.
fn cross_rustc(target: &str) -> Option<PathBuf> {
    let outer = env::var_os("RUSTC").map(PathBuf::from);
    let rustc = outer
        .into_iter()
        .chain([PathBuf::from("/usr/bin/rustc")])
        .find(|rustc| has_std(rustc, target))?;
    let linker = zigbuild(target).is_some() || gnu_linker(target).is_some();
    linker.then_some(rustc)
}

/// Whether `rustc` has `target`'s standard library.
fn has_std(rustc: &Path, target: &str) -> bool {
    if rustc.is_absolute() {
        println!("cargo:rerun-if-changed={}", rustc.display());
    }
    let libdir = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", target])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    libdir
        .and_then(|dir| std::fs::read_dir(dir).ok())
        .is_some_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
        })
}

/// `aarch64-linux-gnu-gcc` for `aarch64-unknown-linux-gnu` (`x86_64-linux-gnu-gcc` for
/// x86_64), when it is on PATH.
fn gnu_linker(target: &str) -> Option<String> {
    let gcc = format!("{}-linux-gnu-gcc", target.split('-').next()?);
    Command::new(&gcc)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
        .then_some(gcc)
}

/// Builds the launcher for `target` into `OUT_DIR/name`, with `rustc` when it is not the
/// outer build's.
fn build_stub(
    manifest: &Path,
    out: &Path,
    target: &str,
    rustflags: &str,
    rustc: Option<PathBuf>,
    name: &str,
) {
    // Each target (and compiler) has a target dir of its own: the outer build holds the lock
    // on the workspace's, and two compilers would rebuild each other's artifacts.
    let target_dir = out.join(format!("{name}-target"));
    let mut rustflags = rustflags.to_owned();
    let (mut build, target_arg) = match zigbuild(target) {
        Some(zig) => (zig, format!("{target}.{GLIBC_FLOOR}")),
        None => {
            if target.ends_with("-linux-gnu") {
                println!(
                    "cargo:warning=cargo-zigbuild is not on PATH: the launcher in every \
                     artifact needs this machine's glibc or newer (`pyk --version` says which); \
                     `pip install ziglang cargo-zigbuild` makes it run on glibc {GLIBC_FLOOR}"
                );
            }
            let mut cargo = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
            cargo.arg("build");
            if rustc.is_some() {
                if let Some(gcc) = gnu_linker(target) {
                    rustflags.push_str(&format!("\x1f-Clinker={gcc}"));
                }
            }
            (cargo, target.to_owned())
        }
    };
    if let Some(rustc) = &rustc {
        build.env("RUSTC", rustc);
    }
    let status = build
        .args([
            "--quiet",
            "-p",
            "pyk-stub",
            "--profile",
            "stub",
            "--target",
            &target_arg,
            "--manifest-path",
        ])
        .arg(manifest.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // Don't let `cargo clippy` or a coverage wrapper instrument the launcher.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags)
        .status()
        .expect("cannot run cargo to build the stub");
    assert!(status.success(), "building the stub failed");
    // cargo-zigbuild names the output directory for the target without its glibc suffix.
    std::fs::copy(
        target_dir.join(target).join("stub/pyk-stub"),
        out.join(name),
    )
    .expect("stub binary missing");
}

/// The oldest glibc the launcher is linked for when zig is at hand: manylinux2014's, which
/// python-build-standalone runtimes need too, so an artifact's floor is its runtime's.
const GLIBC_FLOOR: &str = "2.17";

/// `cargo-zigbuild zigbuild`, when it is on PATH and the target is a glibc one: zig links
/// against the symbol versions of a chosen glibc, so the launcher runs on machines older than
/// this one (a plain link takes this machine's: 2.34 for `__libc_start_main` on Debian 12).
/// Without it (`cargo install` on a machine with no zig) the launcher is linked natively.
/// (PATH is not watched: it differs between shells, and each change would rebuild pyk.)
fn zigbuild(target: &str) -> Option<Command> {
    if !target.ends_with("-linux-gnu") {
        return None;
    }
    let found = Command::new("cargo-zigbuild")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    found.then(|| {
        let mut zig = Command::new("cargo-zigbuild");
        zig.arg("zigbuild");
        zig
    })
}

/// `PYK_VERSION_INFO`: ` (<commit> <date>)` of the checkout being built, for `pyk --version`
/// (as cargo and uv print theirs); empty when this is not a git checkout (a crate tarball)
/// or git is missing.
fn version_info() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let info = match (
        git(&["rev-parse", "--short=9", "HEAD"]),
        git(&["log", "-1", "--format=%cs"]),
    ) {
        (Some(commit), Some(date)) => format!(" ({commit} {date})"),
        _ => String::new(),
    };
    println!("cargo:rustc-env=PYK_VERSION_INFO={info}");
    // Built again when HEAD moves: a commit, a checkout, a merge (worktrees keep HEAD apart
    // from the refs, so ask git where each is).
    if let Some(head) = git(&["rev-parse", "--git-path", "HEAD"]) {
        println!("cargo:rerun-if-changed={head}");
    }
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
        // A packed ref has no file of its own: then `packed-refs` holds it.
        let loose = git(&["rev-parse", "--git-path", &reference]);
        let packed = git(&["rev-parse", "--git-path", "packed-refs"]);
        if let Some(path) = loose
            .into_iter()
            .chain(packed)
            .find(|p| Path::new(p).exists())
        {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
