//! A runtime layer shaken for one app (`pyk build --strip-stdlib`): the unpacked runtime
//! without the stdlib modules the app's import graph never reaches (the build works out
//! which; see the CLI's `build::shake`), without the bundled shared libraries only those
//! modules loaded, and with a finder that names the cause when a left-out module is imported.
//!
//! `fs::copy` here is fine: the copy is the build machine's, read once by the layer writer.
//!
//! It is a runtime layer of its own, content-addressed like any other, so apps that leave out
//! the same modules share it. It is kept in the layer store, marked with the layer it was cut
//! from, and never chosen as the runtime to build on.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use pyk_artifact::write::write_layer;
use pyk_protocol::digest::Hasher;

use crate::error::IoContext;
use crate::store::{About, Layer, Shaken};
use crate::{elf, FetchError, LayerStore, Progress};

/// Bump when what a shaken layer holds for the same inputs changes.
const SHAKE_VERSION: &str = "pyk-shake-v3";

/// Run on every start of a shaken runtime (a second line of `_pyk.pth`): a last finder on
/// `sys.meta_path`, reached only when no other finder has the module. It then imports
/// `_pyk_shaken`, which says whether the build left the module out.
const SHAKEN_PTH: &str = "import sys; sys.meta_path.append(type('PykShaken', (), {'find_spec': staticmethod(lambda name, path=None, target=None: __import__('_pyk_shaken').explain(name))}))\n";

/// What to leave out of a runtime.
pub struct Shake<'a> {
    /// Paths relative to the runtime root: stdlib module files and package directories.
    pub paths: &'a [String],
    /// The dotted names of the modules left out, for the error a program gets importing one.
    pub modules: &'a [String],
}

/// The shaken layer for `base` (unpacked in `base_dir`), from the store when an earlier build
/// made the same one, else built and stored.
pub fn shake_runtime(
    store: &LayerStore,
    base: &Layer,
    base_dir: &Path,
    shake: &Shake,
    progress: &dyn Progress,
) -> Result<Layer, FetchError> {
    let key = key(base, shake);
    if let Some(layer) = store.find_shaken(&key)? {
        return Ok(layer);
    }
    let scratch = store.scratch_dir()?;
    let root = scratch.path().join("runtime");
    let drop: BTreeSet<PathBuf> = shake.paths.iter().map(PathBuf::from).collect();
    copy_tree(base_dir, &root, Path::new(""), &drop)?;
    let libs = drop_unneeded_libraries(&root)?;
    let site = find_pyk_pth(&root)?;
    // A second line of `_pyk.pth` rather than a file of its own: site opens each .pth file on
    // every start.
    let pth = site.join("_pyk.pth");
    let line = fs::read_to_string(&pth).ctx(|| format!("read {}", pth.display()))?;
    fs::write(&pth, line + SHAKEN_PTH).ctx(|| format!("write {}", pth.display()))?;
    compile_explainer(base_dir, &site, shake.modules)?;
    let glibc = elf::glibc_floor(&root)?;
    let source = format!(
        "{}, without {} stdlib modules{}",
        base.source,
        shake.modules.len(),
        if libs > 0 {
            format!(" and {libs} libraries")
        } else {
            String::new()
        }
    );
    progress.step(&format!(
        "compressing the shaken runtime layer (zstd level {})",
        store.zstd_level()
    ));
    let spinner = progress.spinner("compressing");
    let shaken = Shaken {
        from: base.sha256.clone(),
        key,
    };
    let about = About {
        python: base.python,
        arch: &base.arch,
        glibc,
        source: &source,
        shaken: Some(shaken),
        origins: base.origins.clone(),
    };
    let layer = store.store(about, |file| {
        write_layer(&root, store.zstd_level(), file).map_err(|e| FetchError::Io {
            context: format!("write a layer of {}", root.display()),
            source: io::Error::other(e),
        })
    });
    std::mem::drop(spinner);
    layer
}

fn key(base: &Layer, shake: &Shake) -> String {
    let mut h = Hasher::new();
    h.update(format!("{SHAKE_VERSION}\n{}\n", base.sha256).as_bytes());
    let mut paths: Vec<&String> = shake.paths.iter().collect();
    paths.sort();
    for p in paths {
        h.update(p.as_bytes());
        h.update(b"\n");
    }
    h.digest().to_string()
}

/// Copies `from` to `to` (symlinks as links, files with their exec bit), leaving out `drop`.
fn copy_tree(
    from: &Path,
    to: &Path,
    rel: &Path,
    drop: &BTreeSet<PathBuf>,
) -> Result<(), FetchError> {
    fs::create_dir_all(to).ctx(|| format!("create {}", to.display()))?;
    for name in elf::sorted_names(from) {
        let rel = rel.join(&name);
        if drop.contains(&rel) {
            continue;
        }
        let (src, dst) = (from.join(&name), to.join(&name));
        let meta = fs::symlink_metadata(&src).ctx(|| format!("stat {}", src.display()))?;
        if meta.is_dir() {
            copy_tree(&src, &dst, &rel, drop)?;
        } else if meta.is_symlink() {
            let target = fs::read_link(&src).ctx(|| format!("read {}", src.display()))?;
            std::os::unix::fs::symlink(&target, &dst).ctx(|| format!("link {}", dst.display()))?;
        } else {
            fs::copy(&src, &dst).ctx(|| format!("copy {}", src.display()))?;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            fs::set_permissions(&dst, fs::Permissions::from_mode(mode))
                .ctx(|| format!("chmod {}", dst.display()))?;
        }
    }
    Ok(())
}

/// Removes the shared libraries bundled in `lib/` that no remaining ELF file loads (those
/// only left-out extension modules needed); returns how many.
fn drop_unneeded_libraries(root: &Path) -> Result<usize, FetchError> {
    let lib = root.join("lib");
    let elves = elf::find_elves(root);
    let bundled: BTreeSet<String> = elves
        .iter()
        .filter(|p| p.parent() == Some(lib.as_path()))
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let mut needed = BTreeSet::new();
    let mut todo: Vec<PathBuf> = elves
        .iter()
        .filter(|p| p.parent() != Some(lib.as_path()))
        .cloned()
        .collect();
    while let Some(path) = todo.pop() {
        for soname in elf::info(&path)?.needed {
            if bundled.contains(&soname) && needed.insert(soname.clone()) {
                todo.push(lib.join(&soname));
            }
        }
    }
    let mut removed = 0;
    for name in bundled.difference(&needed) {
        // libpython is loaded by the interpreter, which needs it by soname (a link to it
        // may carry another name): never dropped.
        if name.starts_with("libpython") {
            continue;
        }
        let path = lib.join(name);
        fs::remove_file(&path).ctx(|| format!("remove {}", path.display()))?;
        removed += 1;
    }
    Ok(removed)
}

/// The directory holding `_pyk.pth` (the runtime's site-packages).
fn find_pyk_pth(root: &Path) -> Result<PathBuf, FetchError> {
    let mut stack = vec![root.join("lib")];
    while let Some(dir) = stack.pop() {
        if dir.join("_pyk.pth").is_file() {
            return Ok(dir);
        }
        for name in elf::sorted_names(&dir) {
            let path = dir.join(name);
            if fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
                stack.push(path);
            }
        }
    }
    Err(FetchError::Io {
        context: format!("find _pyk.pth under {}", root.display()),
        source: io::ErrorKind::NotFound.into(),
    })
}

/// Writes `_pyk_shaken.pyc` into `site`, sourceless like the stdlib: a `.py` there would make
/// the first failed import write a `__pycache__` into the unpacked runtime. Compiled by the
/// full runtime's interpreter (the shaken one may lack py_compile) with a fixed hash seed (the
/// frozenset's order is in the bytes).
fn compile_explainer(base_dir: &Path, site: &Path, modules: &[String]) -> Result<(), FetchError> {
    let source = site.join("_pyk_shaken.py");
    fs::write(&source, explainer(modules)).ctx(|| format!("write {}", source.display()))?;
    let python = base_dir.join("bin/python3");
    let failed = |reason: String| FetchError::Compile {
        python: python.clone(),
        reason,
    };
    let out = Command::new(&python)
        .env_clear()
        .env("PYTHONHASHSEED", "0")
        .args(["-B", "-s", "-c"])
        .arg(
            "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[1] + 'c', \
             dfile='_pyk_shaken.py', doraise=True, \
             invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)",
        )
        .arg(&source)
        .output()
        .ctx(|| {
            format!(
                "precompiling the standard library with {} failed",
                python.display()
            )
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(failed(err.lines().last().unwrap_or("").to_string()));
    }
    fs::remove_file(&source).ctx(|| format!("remove {}", source.display()))
}

/// `_pyk_shaken.py`: the names left out and the error importing one raises.
fn explainer(modules: &[String]) -> String {
    let mut names: Vec<&String> = modules.iter().collect();
    names.sort();
    let mut out = String::from(
        "# Generated by pyk: the stdlib modules `pyk build --strip-stdlib` left out of this\n\
         # runtime, and the error a program importing one of them gets.\n\
         LEFT_OUT = frozenset((\n",
    );
    for name in names {
        out.push_str(&format!("    {name:?},\n"));
    }
    out.push_str(
        "))\n\n\n\
         def explain(name):\n    \
             if name in LEFT_OUT:\n        \
                 raise ModuleNotFoundError(\n            \
                     \"No module named %r: pyk build --strip-stdlib left it out of this \"\n            \
                     \"program's runtime, as nothing imports it by name; list it in \"\n            \
                     \"pyk.toml's keep = [...] and build again\" % name, name=name)\n    \
             return None\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_explainer_is_python_listing_sorted_names() {
        let text = explainer(&["zipapp".into(), "xml.dom".into()]);
        let xml = text.find("\"xml.dom\"").unwrap();
        let zip = text.find("\"zipapp\"").unwrap();
        assert!(xml < zip, "{text}");
        assert!(text.contains("def explain(name):"));
    }
}
