//! Remove what packed apps never use from a runtime tree: tests, GUI and packaging tools,
//! headers and static libraries, installed packages (apps bring their own), stale caches.

use std::fs;
use std::path::Path;

use crate::error::IoContext;
use crate::{FetchError, PyVersion};

/// Stdlib entries removed by name, at the top of `lib/python3.X`.
const STDLIB_DROP: &[&str] = &[
    "idlelib",
    "tkinter",
    "turtledemo",
    "turtle.py",
    "ensurepip",
    "lib2to3",
    "sitecustomize.py",
    "EXTERNALLY-MANAGED",
];

/// Prefixes of Tcl/Tk support files in `lib/` (python-build-standalone ships them for tkinter).
const TCLTK_DROP: &[&str] = &["tcl", "tk", "itcl", "thread", "libtcl", "libtk"];

/// Directory names that are test suites wherever they appear in the stdlib.
const TEST_DIRS: &[&str] = &["test", "tests", "idle_test"];

/// Extension-module name prefixes dropped from lib-dynload. `nis` (an NIS/YP client,
/// deprecated since 3.11 and gone in 3.13) alone would bring eight libraries (libnsl,
/// libtirpc, Kerberos: ~1.8 MB, a tenth of the files a first run creates beyond the stdlib).
const DYNLOAD_DROP: &[&str] = &[
    "nis.",
    "_tkinter",
    "_test",
    "_ctypes_test",
    "xxlimited",
    "_xxtestfuzz",
];

fn remove(path: &Path) -> Result<(), FetchError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).ctx(|| format!("stat {}", path.display())),
    };
    if meta.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
    .ctx(|| format!("remove {}", path.display()))
}

fn names(dir: &Path) -> Result<Vec<String>, FetchError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).ctx(|| format!("read {}", dir.display())),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.ctx(|| format!("read {}", dir.display()))?;
        out.push(entry.file_name().to_string_lossy().into_owned());
    }
    Ok(out)
}

/// Walk a directory (not following symlinks) removing test suites, caches and static libs.
fn prune_recursive(dir: &Path) -> Result<(), FetchError> {
    for name in names(dir)? {
        let path = dir.join(&name);
        let is_dir = fs::symlink_metadata(&path)
            .ctx(|| format!("stat {}", path.display()))?
            .is_dir();
        if is_dir && (name == "__pycache__" || TEST_DIRS.contains(&name.as_str())) {
            remove(&path)?;
        } else if is_dir {
            prune_recursive(&path)?;
        } else if name.ends_with(".a") {
            remove(&path)?;
        }
    }
    Ok(())
}

pub(crate) fn strip(root: &Path, python: &PyVersion) -> Result<(), FetchError> {
    let minor = format!("{}.{}", python.major, python.minor);
    let stdlib = root.join("lib").join(format!("python{minor}"));

    for dir in ["include", "share", "lib/pkgconfig"] {
        remove(&root.join(dir))?;
    }
    for name in names(&root.join("lib"))? {
        if TCLTK_DROP.iter().any(|p| name.starts_with(p)) {
            remove(&root.join("lib").join(name))?;
        }
    }
    let keep_bin = ["python3".to_string(), format!("python{minor}")];
    for name in names(&root.join("bin"))? {
        if !keep_bin.contains(&name) {
            remove(&root.join("bin").join(name))?;
        }
    }
    for name in names(&stdlib)? {
        if STDLIB_DROP.contains(&name.as_str()) || name.starts_with("config-") {
            remove(&stdlib.join(name))?;
        }
    }
    // Keep an empty site-packages: `site` expects it, apps ship their own packages.
    let site = stdlib.join("site-packages");
    for name in names(&site)? {
        remove(&site.join(name))?;
    }
    let dynload = stdlib.join("lib-dynload");
    for name in names(&dynload)? {
        if DYNLOAD_DROP.iter().any(|p| name.starts_with(p)) {
            remove(&dynload.join(name))?;
        }
    }
    prune_recursive(&root.join("lib"))
}
