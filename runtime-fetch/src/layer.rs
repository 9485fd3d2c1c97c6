//! Turning a staged runtime tree into a cached layer: strip, bundle its shared libraries, lay
//! out the stdlib as precompiled files, add the exec-contract hook, then the deterministic
//! layer writer every pyk layer goes through (`pyk_artifact::write`) into the store.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output};

use pyk_artifact::write::write_layer;

use crate::error::IoContext;
use crate::{bundle, strip, FetchError, LayerStore, Progress, PyVersion, SUPPORTED_MINORS};

use crate::store::{About, Layer};

/// The one line of `lib/python3.X/site-packages/_pyk.pth` (the exec contract, DESIGN.md): the
/// entries of `PYK_PATH` go to the end of `sys.path`, after the stdlib and site-packages, as a
/// venv's would. `site` runs it on every start of this runtime (not of other Pythons, which
/// ignore the variable), so a child interpreter (`sys.executable -m app`, multiprocessing spawn)
/// sees the app too. `site` has imported `os` already; this is two attribute lookups and a split.
pub const PYK_PTH: &str = "import os, sys; sys.path.extend(p for p in os.environ.get('PYK_PATH', '').split(os.pathsep) if p and p not in sys.path)\n";

/// Where a runtime's shared libraries are looked up and how its interpreter is run while its
/// layer is made: on this machine (`None`), or inside a sysroot of another machine's files
/// (an aarch64 Debian root), where its interpreter runs under qemu-user (binfmt_misc) with
/// `QEMU_LD_PREFIX` naming the sysroot, so its loader and libraries come from there.
pub type Sysroot<'a> = Option<&'a Path>;

/// The environment variable qemu-user reads for the root it looks up the loader and absolute
/// library paths in (qemu's, not pyk's: pyk only sets it for the interpreters it runs).
const QEMU_LD_PREFIX: &str = "QEMU_LD_PREFIX";

/// A command running `exe`, inside `sysroot` when there is one.
pub(crate) fn command(exe: &Path, sysroot: Sysroot) -> Command {
    let mut cmd = Command::new(exe);
    if let Some(root) = sysroot {
        cmd.env(QEMU_LD_PREFIX, root);
    }
    cmd
}

/// Runs `code` with the interpreter `cmd` runs (`python`, isolated): one that cannot
/// start at all is not a usable CPython.
pub(crate) fn run_code(cmd: &mut Command, python: &Path, code: &str) -> Result<Output, FetchError> {
    cmd.args(["-I", "-c", code]).output().ctx(|| {
        format!(
            "{} is not a usable CPython: cannot run it",
            python.display()
        )
    })
}

/// Finish a staged tree (`root/bin/python3`, `root/lib/python3.X/`) and store it as a layer.
/// `copied` names the files staged from an installed Python (path in the tree, path copied
/// from), whose Debian packages are recorded with the bundled libraries'.
pub(crate) fn build(
    store: &LayerStore,
    root: &Path,
    source: &str,
    copied: &[(String, PathBuf)],
    sysroot: Sysroot,
    progress: &dyn Progress,
) -> Result<Layer, FetchError> {
    let root = root
        .canonicalize()
        .ctx(|| format!("resolve {}", root.display()))?;
    let exe = root
        .join("bin/python3")
        .canonicalize()
        .ctx(|| format!("resolve {}", root.join("bin/python3").display()))?;
    let arch = crate::elf::machine(&exe)?.ok_or_else(|| FetchError::NotAPython {
        path: exe.clone(),
        reason: "it is built for a machine pyk does not build for (x86_64, aarch64)".into(),
    })?;
    let python = probe(&root, sysroot)?;
    progress.step(&format!("stripping Python {python} runtime ({arch})"));
    strip::strip(&root, &python)?;
    progress.step("bundling shared libraries");
    let bundled = bundle::make_self_contained(&root, sysroot, arch, progress)?;
    let files: Vec<(String, PathBuf)> = copied.iter().cloned().chain(bundled.copied).collect();
    let origins = crate::dpkg::origins(&files, sysroot);
    progress.step("precompiling the standard library");
    precompile(&root, &python, sysroot, progress)?;
    let site = site_packages(&root, sysroot)?;
    fs::create_dir_all(&site).ctx(|| format!("create {}", site.display()))?;
    fs::write(site.join("_pyk.pth"), PYK_PTH)
        .ctx(|| format!("write {}", site.join("_pyk.pth").display()))?;
    progress.step(&format!(
        "compressing runtime layer (zstd level {})",
        store.zstd_level()
    ));
    let about = About {
        python,
        arch,
        glibc: bundled.floor,
        source,
        shaken: None,
        origins,
    };
    pack(store, &root, about, progress)
}

/// The site-packages directory the runtime's own `site` module processes: upstream's
/// `lib/python3.X/site-packages`, Debian's patched `site` looks in `lib/python3/dist-packages`
/// and `local/lib/python3.X/dist-packages` instead. The first one under `lib/` is taken.
fn site_packages(root: &Path, sysroot: Sysroot) -> Result<PathBuf, FetchError> {
    let python = root.join("bin/python3");
    let failed = |reason: String| FetchError::NotAPython {
        path: python.clone(),
        reason,
    };
    let mut cmd = Command::new(&python);
    cmd.env_clear();
    if let Some(sysroot) = sysroot {
        cmd.env(QEMU_LD_PREFIX, sysroot);
    }
    let out = run_code(
        &mut cmd,
        &python,
        "import site; print('\\n'.join(site.getsitepackages()))",
    )?;
    if !out.status.success() {
        return Err(failed(format!(
            "site.getsitepackages() failed: {}",
            out.status
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let dirs: Vec<PathBuf> = text
        .lines()
        .map(PathBuf::from)
        .filter(|d| d.starts_with(root))
        .collect();
    dirs.iter()
        .find(|d| d.starts_with(root.join("lib")))
        .or(dirs.first())
        .cloned()
        .ok_or_else(|| failed("its site module names no site-packages inside the runtime".into()))
}

fn stdlib_dir(root: &Path, python: &PyVersion) -> PathBuf {
    root.join("lib")
        .join(format!("python{}.{}", python.major, python.minor))
}

/// Run the staged python (proving it works from its new place) and read its version.
fn probe(root: &Path, sysroot: Sysroot) -> Result<PyVersion, FetchError> {
    let python = root.join("bin/python3");
    let not_python = |reason: String| FetchError::NotAPython {
        path: python.clone(),
        reason,
    };
    if fs::symlink_metadata(&python).is_err() {
        return Err(not_python("bin/python3 is missing".into()));
    }
    let out = run_code(
        &mut command(&python, sysroot),
        &python,
        "import sys, platform; print(platform.python_implementation()); \
         print('%d.%d.%d' % sys.version_info[:3]); print(sys.prefix)",
    )?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").trim().to_string();
        return Err(not_python(format!("exited with {}: {last}", out.status)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let (imp, version, prefix) = (lines.next(), lines.next(), lines.next());
    if imp != Some("CPython") {
        return Err(not_python(format!(
            "implementation is {imp:?}, not CPython"
        )));
    }
    let version: PyVersion =
        version
            .unwrap_or("")
            .parse()
            .map_err(|e: FetchError| FetchError::BadVersion {
                path: python.clone(),
                source: Box::new(e),
            })?;
    if version.major != 3 || !SUPPORTED_MINORS.contains(&version.minor) {
        return Err(FetchError::UnsupportedPython {
            path: python,
            version: version.to_string(),
        });
    }
    if prefix.map(Path::new) != Some(root) {
        return Err(not_python(format!(
            "sys.prefix is {prefix:?}, not the runtime directory {}: the tree is not relocatable",
            root.display()
        )));
    }
    Ok(version)
}

/// Compile the stdlib to sourceless `.pyc` beside where each `.py` was, and remove the `.py`.
///
/// Why this layout (measured, see the README): a runtime's stdlib as files starts as fast as
/// the same CPython in place, while the old `lib/python3X.zip` cost every start ~5 ms of
/// zipimport parsing its directory in Python. A first run's cost is creating files, about
/// one per module: sourceless halves the count against `.py` + `__pycache__/*.pyc` (and the
/// layer shrinks by a fifth). Stdlib frames in tracebacks then show no source line.
///
/// Hash-based `.pyc` (never checked: there is no source) with a fixed path prefix, so the
/// output does not depend on where or when the layer was built. `os.pyc` serves as getpath's
/// stdlib landmark (it accepts `os.py` or `os.pyc` in every supported version).
fn precompile(
    root: &Path,
    python: &PyVersion,
    sysroot: Sysroot,
    progress: &dyn Progress,
) -> Result<(), FetchError> {
    let exe = root.join("bin/python3");
    let stdlib = stdlib_dir(root, python);
    let spinner = progress.spinner("compiling .pyc");
    // Serial, in a clean environment with a fixed hash seed: marshal output depends on set
    // order and on reference counts in the compiling process, so parallel workers (-j0) or a
    // random seed make the .pyc differ from run to run. -I would ignore PYTHONHASHSEED, hence
    // -E is not used and the environment is cleared instead; -s keeps user site out. -B and -f:
    // modules compileall itself imports must not leave timestamp .pyc that it then skips.
    // -b writes `mod.pyc` beside `mod.py` (the sourceless layout) instead of `__pycache__/`.
    let mut cmd = Command::new(&exe);
    cmd.env_clear();
    if let Some(sysroot) = sysroot {
        cmd.env(QEMU_LD_PREFIX, sysroot);
    }
    let out = cmd
        .current_dir(root)
        .env("PYTHONHASHSEED", "0")
        .args(["-B", "-s", "-m", "compileall", "-f", "-q", "-b", "-j1"])
        .args(["--invalidation-mode", "unchecked-hash"])
        .arg("-s")
        .arg(root)
        .args(["-p", "/"])
        .arg(&stdlib)
        .output()
        .ctx(|| {
            format!(
                "precompiling the standard library with {} failed",
                exe.display()
            )
        });
    drop(spinner);
    let out = out?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(FetchError::Compile {
            python: exe,
            reason: format!("{}: {}", out.status, first.trim()),
        });
    }
    remove_compiled_sources(&stdlib)
}

/// Remove each `.py` that has its `.pyc` beside it, and any `__pycache__`, under `dir`. A `.py`
/// symlink (Debian's `_sysconfigdata` alias) got its own `.pyc` from compileall and goes too.
fn remove_compiled_sources(dir: &Path) -> Result<(), FetchError> {
    let entries = fs::read_dir(dir).ctx(|| format!("read {}", dir.display()))?;
    for entry in entries {
        let entry = entry.ctx(|| format!("read {}", dir.display()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .ctx(|| format!("stat {}", path.display()))?;
        let name = entry.file_name();
        if kind.is_dir() && name == "__pycache__" {
            fs::remove_dir_all(&path).ctx(|| format!("remove {}", path.display()))?;
        } else if kind.is_dir() {
            remove_compiled_sources(&path)?;
        } else if (kind.is_file() || kind.is_symlink())
            && path.extension().is_some_and(|e| e == "py")
            && path.with_extension("pyc").is_file()
        {
            fs::remove_file(&path).ctx(|| format!("remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// Whether `target`, written in a link at `link_rel`, stays inside the tree when resolved
/// lexically. Used on untrusted archive entries before anything is written.
pub(crate) fn symlink_stays_inside(link_rel: &Path, target: &Path) -> bool {
    let mut depth: usize = 0;
    for c in link_rel.parent().unwrap_or(Path::new("")).components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            _ => return false,
        }
    }
    for c in target.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

fn pack(
    store: &LayerStore,
    root: &Path,
    about: About,
    progress: &dyn Progress,
) -> Result<Layer, FetchError> {
    store.ensure_dir()?;
    let spinner = progress.spinner("compressing");
    let layer = store.store(about, |file| {
        write_layer(root, store.zstd_level(), file).map_err(|e| FetchError::Io {
            context: format!("write a layer of {}", root.display()),
            source: io::Error::other(e),
        })
    });
    drop(spinner);
    let layer = layer?;
    progress.step(&format!(
        "runtime layer {} ({:.1} MiB)",
        &layer.sha256[..12],
        layer.size as f64 / f64::from(1 << 20)
    ));
    Ok(layer)
}

#[cfg(test)]
mod tests {
    use super::symlink_stays_inside;
    use std::path::Path;

    #[test]
    fn symlink_containment() {
        let ok = |l: &str, t: &str| symlink_stays_inside(Path::new(l), Path::new(t));
        assert!(ok("bin/python3", "python3.12"));
        assert!(ok("lib/a/b", "../../bin/x"));
        assert!(!ok("bin/python3", "../../etc/passwd"));
        assert!(!ok("bin/python3", "/etc/passwd"));
        assert!(!ok("x", ".."));
    }
}
