//! `pyk runtime import PYTHON`: copy an installed CPython (Debian's, pyenv's, a source build)
//! into a relocatable runtime tree.
//!
//! The python itself tells us where its stdlib, lib-dynload and libpython are; we copy the real
//! binary to `bin/python3.X`, the stdlib (with lib-dynload) to `lib/python3.X/` and any shared
//! libpython it links to `lib/`; building the layer then bundles the host libraries they load
//! and points them at `lib/` with `$ORIGIN` RUNPATHs. Host packages (`dist-packages`,
//! `site-packages`) are not copied.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::IoContext;
use crate::layer::Sysroot;
use crate::store::Layer;
use crate::{elf, layer, FetchError, LayerStore, Progress, PyVersion, SUPPORTED_MINORS};

/// Printed by the python being imported, one `key=value` per line (paths hold no newlines).
const PROBE: &str = r#"
import sys, sysconfig, platform
print("impl=" + platform.python_implementation())
print("version=%d.%d.%d" % sys.version_info[:3])
print("base_prefix=" + sys.base_prefix)
p = sysconfig.get_paths()
print("stdlib=" + p["stdlib"])
print("platstdlib=" + p["platstdlib"])
print("libdir=" + str(sysconfig.get_config_var("LIBDIR") or ""))
for d in sys.path:
    if d.endswith("lib-dynload"):
        print("dynload=" + d)
"#;

/// What an installed python reports about itself.
struct Probe {
    version: PyVersion,
    stdlib: PathBuf,
    platstdlib: PathBuf,
    libdir: PathBuf,
    dynload: Option<PathBuf>,
}

fn probe(python: &Path, sysroot: Sysroot) -> Result<Probe, FetchError> {
    let not_python = |reason: String| FetchError::NotAPython {
        path: python.to_path_buf(),
        reason,
    };
    let out = layer::run_code(&mut layer::command(python, sysroot), python, PROBE)?;
    if !out.status.success() {
        return Err(not_python(format!(
            "it exited with {} (is it CPython 3.9+?)",
            out.status
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::to_string)
    };
    let imp = get("impl").unwrap_or_default();
    if imp != "CPython" {
        return Err(not_python(format!(
            "implementation is {imp:?}, not CPython"
        )));
    }
    let version: PyVersion =
        get("version")
            .unwrap_or_default()
            .parse()
            .map_err(|e: FetchError| FetchError::BadVersion {
                path: python.to_path_buf(),
                source: Box::new(e),
            })?;
    if version.major != 3 || !SUPPORTED_MINORS.contains(&version.minor) {
        return Err(FetchError::UnsupportedPython {
            path: python.to_path_buf(),
            version: version.to_string(),
        });
    }
    let path = |key: &str| {
        get(key)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| not_python(format!("it did not report {key}")))
    };
    Ok(Probe {
        version,
        stdlib: path("stdlib")?,
        platstdlib: path("platstdlib")?,
        libdir: path("libdir").unwrap_or_default(),
        dynload: path("dynload").ok(),
    })
}

/// Names never copied from a host stdlib: installed packages and caches (and the test suite,
/// which is large and stripped anyway).
const SKIP: &[&str] = &["site-packages", "dist-packages", "__pycache__", "test"];

/// Copy a directory tree. Symlinks staying inside `src` are kept; others (e.g. Debian's
/// `sitecustomize.py` into /etc) are replaced by a copy of what they point to, or dropped when
/// dangling.
fn copy_tree(src: &Path, dst: &Path, top: &Path) -> Result<(), FetchError> {
    fs::create_dir_all(dst).ctx(|| format!("create {}", dst.display()))?;
    let entries = fs::read_dir(src).ctx(|| format!("read {}", src.display()))?;
    for entry in entries {
        let entry = entry.ctx(|| format!("read {}", src.display()))?;
        let name = entry.file_name();
        if SKIP.iter().any(|s| name == *s) {
            continue;
        }
        let from = entry.path();
        let to = dst.join(&name);
        let meta = fs::symlink_metadata(&from).ctx(|| format!("stat {}", from.display()))?;
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&from).ctx(|| format!("read link {}", from.display()))?;
            let rel = from.strip_prefix(top).unwrap_or(&from);
            let inside = layer::symlink_stays_inside(rel, &target)
                && from.canonicalize().is_ok_and(|r| r.starts_with(top));
            if inside {
                std::os::unix::fs::symlink(&target, &to)
                    .ctx(|| format!("create symlink {}", to.display()))?;
                continue;
            }
            match fs::metadata(&from) {
                Ok(m) if m.is_dir() => copy_tree(&from, &to, top)?,
                Ok(_) => copy_file(&from, &to)?,
                Err(_) => {}
            }
        } else if meta.is_dir() {
            copy_tree(&from, &to, top)?;
        } else if meta.is_file() {
            copy_file(&from, &to)?;
        }
    }
    Ok(())
}

fn copy_file(from: &Path, to: &Path) -> Result<(), FetchError> {
    fs::copy(from, to).ctx(|| format!("copy {} to {}", from.display(), to.display()))?;
    // Copies must be writable: we patch RUNPATHs and the packer only needs read access.
    let mode = fs::metadata(to)
        .ctx(|| format!("stat {}", to.display()))?
        .permissions()
        .mode();
    fs::set_permissions(to, fs::Permissions::from_mode(mode | 0o644))
        .ctx(|| format!("chmod {}", to.display()))
}

/// `pyk runtime import PYTHON`: turn an installed CPython into a cached layer.
///
/// With a `sysroot` (`--sysroot DIR`), PYTHON is another machine's interpreter inside DIR (an
/// aarch64 Debian root): its libraries are bundled from DIR, and it runs under qemu-user.
pub fn import_installed(
    store: &LayerStore,
    python: &Path,
    sysroot: Sysroot,
    progress: &dyn Progress,
) -> Result<Layer, FetchError> {
    let exe = python
        .canonicalize()
        .ctx(|| format!("{} is not a usable CPython", python.display()))?;
    let info = probe(&exe, sysroot)?;
    let minor = format!("{}.{}", info.version.major, info.version.minor);
    progress.step(&format!(
        "importing Python {} from {}",
        info.version,
        exe.display()
    ));

    let staging = store.scratch_dir()?;
    let root = staging.path().join("runtime");
    let bin = root.join("bin");
    let lib = root.join("lib");
    let stdlib = lib.join(format!("python{minor}"));
    fs::create_dir_all(&bin).ctx(|| format!("create {}", bin.display()))?;

    let exe_name = format!("python{minor}");
    copy_file(&exe, &bin.join(&exe_name))?;
    let mut copied = vec![(format!("bin/{exe_name}"), exe.clone())];
    std::os::unix::fs::symlink(&exe_name, bin.join("python3"))
        .ctx(|| format!("create symlink {}", bin.join("python3").display()))?;

    let src_stdlib = info.stdlib.canonicalize().unwrap_or(info.stdlib.clone());
    copy_tree(&src_stdlib, &stdlib, &src_stdlib)?;
    if info.platstdlib != info.stdlib && info.platstdlib.is_dir() {
        copy_tree(&info.platstdlib, &stdlib, &info.platstdlib)?;
    }
    if let Some(dynload) = &info.dynload {
        let dest = stdlib.join("lib-dynload");
        if dynload.is_dir() && !dest.is_dir() {
            copy_tree(dynload, &dest, dynload)?;
        }
    }

    let libpythons = elf::info(&exe)?
        .needed
        .into_iter()
        .filter(|l| l.starts_with("libpython"));
    for name in libpythons {
        let found = [
            info.libdir.join(&name),
            exe.parent()
                .unwrap_or(Path::new("/"))
                .join("../lib")
                .join(&name),
        ]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| FetchError::NotAPython {
            path: exe.clone(),
            reason: format!("it links {name}, which is not in {}", info.libdir.display()),
        })?;
        copy_file(&found, &lib.join(&name))?;
        copied.push((format!("lib/{name}"), found));
    }
    let source = format!("imported from {}", python.display());
    layer::build(store, &root, &source, &copied, sysroot, progress)
}
