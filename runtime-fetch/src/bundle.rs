//! Make a runtime tree self-contained, auditwheel style: every shared library its ELF files
//! load (found as the dynamic loader finds it on this machine: RPATH/RUNPATH with `$ORIGIN`,
//! `LD_LIBRARY_PATH`, `/etc/ld.so.conf`, the default directories — lddtree does that walk) is
//! copied into the runtime's `lib/`, except the base set every glibc system has. Each ELF file
//! that needs something in `lib/`, or carries a RUNPATH into the build machine, then gets a
//! RUNPATH of `$ORIGIN/<way to lib/>`, and every file is stripped of its symbols.
//!
//! pyenv-style builds link `libpython3.X.so` through an absolute RUNPATH (a moved copy fails,
//! or silently loads the original while it exists); Debian's python3.11 and its lib-dynload
//! link the host's libz, libexpat, libssl3, libsqlite3, libffi… with no RUNPATH at all.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use crate::elf::{self, GlibcVersion};
use crate::error::IoContext;
use crate::layer::Sysroot;
use crate::{FetchError, Progress};

/// Sonames left to the machine that runs the runtime: glibc's own libraries and the dynamic
/// loader (they must match each other and the kernel's view of the system, and are on every
/// glibc system; the launcher checks the glibc floor instead), and the GCC runtime libraries
/// that manylinux also leaves to the system (a second libstdc++ or libgcc_s in one process,
/// older than the one a wheel was built against, breaks that wheel).
///
/// Deliberately bundled although older manylinux policies list them: `libcrypt.so.1` (glibc
/// stopped building it in 2.38; Debian and Fedora get it from libxcrypt, and Fedora installs
/// only `libcrypt.so.2` by default) and `libnsl.so.2` (libtirpc's, not glibc's `libnsl.so.1`).
const BASE_SET: &[&str] = &[
    "libc.so.6",
    "libm.so.6",
    "libmvec.so.1",
    "libdl.so.2",
    "librt.so.1",
    "libpthread.so.0",
    "libutil.so.1",
    "libresolv.so.2",
    "libanl.so.1",
    "libnsl.so.1",
    "libBrokenLocale.so.1",
    "libthread_db.so.1",
    "libgcc_s.so.1",
    "libstdc++.so.6",
];

fn in_base_set(soname: &str) -> bool {
    BASE_SET.contains(&soname) || soname.starts_with("ld-linux") || soname.starts_with("ld64.so")
}

/// What bundling did: the glibc floor, and each library copied into `lib/` with the
/// path it was copied from.
pub(crate) struct Bundled {
    /// The highest `GLIBC_x.y` version any ELF file needs.
    pub floor: Option<GlibcVersion>,
    /// `(lib/SONAME, found at)`, for the SBOM's packages (see `dpkg`).
    pub copied: Vec<(String, std::path::PathBuf)>,
}

/// Bundle, relocate and strip the ELF files under `root`.
///
/// A library the interpreter or libpython needs must be found. One that only an extension
/// module in lib-dynload needs (a python-build-standalone `_crypt` wanting `libcrypt.so.1` on
/// a build machine without libxcrypt) is left out with a note: that module then imports only
/// where the machine has the library, as it did on the build machine.
///
/// In a `sysroot`, libraries are looked up there (its `ld.so.conf` and multiarch directories
/// for `arch`), never on this machine.
pub(crate) fn make_self_contained(
    root: &Path,
    sysroot: Sysroot,
    arch: &str,
    progress: &dyn Progress,
) -> Result<Bundled, FetchError> {
    let lib = root.join("lib");
    fs::create_dir_all(&lib).ctx(|| format!("create {}", lib.display()))?;
    let mut inside: BTreeSet<String> = elf::sorted_names(&lib).into_iter().collect();
    let mut copied = Vec::new();

    for path in elf::find_elves(root) {
        let analyzer = match sysroot {
            None => lddtree::DependencyAnalyzer::default(),
            Some(sysroot) => lddtree::DependencyAnalyzer::new(sysroot.to_path_buf()).library_paths(
                ["lib", "usr/lib"]
                    .iter()
                    .map(|d| sysroot.join(d).join(format!("{arch}-linux-gnu")))
                    .collect(),
            ),
        };
        let tree = analyzer.analyze(&path).map_err(|e| FetchError::Relocate {
            path: path.clone(),
            step: "reading its library dependencies".into(),
            source: Box::new(e),
        })?;
        let mut libraries: Vec<_> = tree.libraries.into_values().collect();
        libraries.sort_by(|a, b| a.name.cmp(&b.name));
        for library in libraries {
            if in_base_set(&library.name) || inside.contains(&library.name) {
                continue;
            }
            let Some(found) = &library.realpath else {
                if path.parent().is_some_and(|d| d.ends_with("lib-dynload")) {
                    let module = path.file_name().unwrap_or_default().to_string_lossy();
                    progress.step(&format!(
                        "note: {} is not on this machine; {module} will need it on the target",
                        library.name
                    ));
                    continue;
                }
                return Err(FetchError::MissingLibrary {
                    path: path.clone(),
                    soname: library.name,
                });
            };
            let dest = lib.join(&library.name);
            fs::copy(found, &dest)
                .ctx(|| format!("copy {} to {}", found.display(), dest.display()))?;
            fs::set_permissions(&dest, fs::Permissions::from_mode(0o644))
                .ctx(|| format!("chmod {}", dest.display()))?;
            copied.push((format!("lib/{}", library.name), library.path.clone()));
            inside.insert(library.name);
        }
    }

    let mut floor = None;
    for path in elf::find_elves(root) {
        let info = elf::info(&path)?;
        floor = floor.max(info.glibc);
        if !info.linked {
            continue;
        }
        let rel_dir = path
            .parent()
            .and_then(|d| d.strip_prefix(root).ok())
            .unwrap_or(Path::new(""));
        let wanted = origin_path_to_lib(rel_dir);
        let needs_lib = info.needed.iter().any(|n| inside.contains(n));
        let foreign = info.search_paths.iter().any(|p| !p.starts_with("$ORIGIN"));
        let current = info.search_paths.join(":");
        let runpath = ((needs_lib || foreign) && current != wanted).then_some(wanted.as_str());
        elf::rewrite(&path, runpath, true)?;
    }
    Ok(Bundled { floor, copied })
}

/// `$ORIGIN`-relative path from a directory (relative to the runtime root) to `lib/`.
fn origin_path_to_lib(rel_dir: &Path) -> String {
    let parts: Vec<_> = rel_dir
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    let mut out = String::from("$ORIGIN");
    if parts.first().is_some_and(|c| c.as_os_str() == "lib") {
        for _ in 1..parts.len() {
            out.push_str("/..");
        }
    } else {
        for _ in 0..parts.len() {
            out.push_str("/..");
        }
        out.push_str("/lib");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_paths() {
        assert_eq!(origin_path_to_lib(Path::new("bin")), "$ORIGIN/../lib");
        assert_eq!(origin_path_to_lib(Path::new("lib")), "$ORIGIN");
        assert_eq!(
            origin_path_to_lib(Path::new("lib/python3.12/lib-dynload")),
            "$ORIGIN/../.."
        );
    }

    #[test]
    fn base_set() {
        for name in ["libc.so.6", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"] {
            assert!(in_base_set(name), "{name}");
        }
        for name in ["libz.so.1", "libcrypt.so.1", "libnsl.so.2", "libssl.so.3"] {
            assert!(!in_base_set(name), "{name}");
        }
    }
}
