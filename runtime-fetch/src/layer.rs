//! Turning a staged runtime tree into a cached layer: strip, bundle its shared libraries, lay
//! out the stdlib as precompiled files, add the exec-contract hook, then a deterministic tar
//! streamed through zstd and sha256 into the store.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::elf::GlibcVersion;
use crate::error::IoContext;
use crate::{bundle, strip, FetchError, LayerStore, Progress, PyVersion, SUPPORTED_MINORS};

use crate::store::Layer;

/// The one line of `lib/python3.X/site-packages/_pyk.pth` (the exec contract, DESIGN.md): the
/// entries of `PYK_PATH` go to the end of `sys.path`, after the stdlib and site-packages, as a
/// venv's would. `site` runs it on every start of this runtime (not of other Pythons, which
/// ignore the variable), so a child interpreter (`sys.executable -m app`, multiprocessing spawn)
/// sees the app too. `site` has imported `os` already; this is two attribute lookups and a split.
pub const PYK_PTH: &str = "import os, sys; sys.path.extend(p for p in os.environ.get('PYK_PATH', '').split(os.pathsep) if p and p not in sys.path)\n";

/// Finish a staged tree (`root/bin/python3`, `root/lib/python3.X/`) and store it as a layer.
pub(crate) fn build(
    store: &LayerStore,
    root: &Path,
    source: &str,
    progress: &Progress,
) -> Result<Layer, FetchError> {
    let root = root
        .canonicalize()
        .ctx(|| format!("resolve {}", root.display()))?;
    let python = probe(&root)?;
    progress.step(&format!("stripping Python {python} runtime"));
    strip::strip(&root, &python)?;
    progress.step("bundling shared libraries");
    let glibc = bundle::make_self_contained(&root, progress)?;
    progress.step("precompiling the standard library");
    precompile(&root, &python, progress)?;
    let site = site_packages(&root)?;
    fs::create_dir_all(&site).ctx(|| format!("create {}", site.display()))?;
    fs::write(site.join("_pyk.pth"), PYK_PTH)
        .ctx(|| format!("write {}", site.join("_pyk.pth").display()))?;
    progress.step(&format!(
        "compressing runtime layer (zstd level {})",
        store.zstd_level()
    ));
    pack(store, &root, python, glibc, source, progress)
}

/// The site-packages directory the runtime's own `site` module processes: upstream's
/// `lib/python3.X/site-packages`, Debian's patched `site` looks in `lib/python3/dist-packages`
/// and `local/lib/python3.X/dist-packages` instead. The first one under `lib/` is taken.
fn site_packages(root: &Path) -> Result<PathBuf, FetchError> {
    let python = root.join("bin/python3");
    let failed = |reason: String| FetchError::NotAPython {
        path: python.clone(),
        reason,
    };
    let out = Command::new(&python)
        .env_clear()
        .args([
            "-I",
            "-c",
            "import site; print('\\n'.join(site.getsitepackages()))",
        ])
        .output()
        .map_err(|e| failed(format!("cannot run it: {e}")))?;
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
fn probe(root: &Path) -> Result<PyVersion, FetchError> {
    let python = root.join("bin/python3");
    let not_python = |reason: String| FetchError::NotAPython {
        path: python.clone(),
        reason,
    };
    if fs::symlink_metadata(&python).is_err() {
        return Err(not_python("bin/python3 is missing".into()));
    }
    let out = Command::new(&python)
        .args([
            "-I",
            "-c",
            "import sys, platform; print(platform.python_implementation()); \
             print('%d.%d.%d' % sys.version_info[:3]); print(sys.prefix)",
        ])
        .output()
        .map_err(|e| not_python(format!("cannot run it: {e}")))?;
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
    let version: PyVersion = version
        .unwrap_or("")
        .parse()
        .map_err(|e: FetchError| not_python(e.to_string()))?;
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
fn precompile(root: &Path, python: &PyVersion, progress: &Progress) -> Result<(), FetchError> {
    let exe = root.join("bin/python3");
    let stdlib = stdlib_dir(root, python);
    let spinner = progress.spinner("compiling .pyc");
    // Serial, in a clean environment with a fixed hash seed: marshal output depends on set
    // order and on reference counts in the compiling process, so parallel workers (-j0) or a
    // random seed make the .pyc differ from run to run. -I would ignore PYTHONHASHSEED, hence
    // -E is not used and the environment is cleared instead; -s keeps user site out. -B and -f:
    // modules compileall itself imports must not leave timestamp .pyc that it then skips.
    // -b writes `mod.pyc` beside `mod.py` (the sourceless layout) instead of `__pycache__/`.
    let out = Command::new(&exe)
        .current_dir(root)
        .env_clear()
        .env("PYTHONHASHSEED", "0")
        .args(["-B", "-s", "-m", "compileall", "-f", "-q", "-b", "-j1"])
        .args(["--invalidation-mode", "unchecked-hash"])
        .arg("-s")
        .arg(root)
        .args(["-p", "/"])
        .arg(&stdlib)
        .output()
        .map_err(|e| FetchError::Compile {
            python: exe.clone(),
            reason: e.to_string(),
        });
    spinner.finish_and_clear();
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

/// A writer that hashes and counts what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

enum Kind {
    Dir,
    File { size: u64, exec: bool },
    Symlink(PathBuf),
}

struct Entry {
    rel: PathBuf,
    kind: Kind,
}

/// Depth-first walk with children sorted by name: the tar order must not depend on the
/// filesystem's directory order.
fn walk(root: &Path, rel: &Path, out: &mut Vec<Entry>) -> Result<(), FetchError> {
    let dir = root.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .ctx(|| format!("read {}", dir.display()))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .ctx(|| format!("read {}", dir.display()))?;
    names.sort();
    for name in names {
        let rel = rel.join(&name);
        let path = root.join(&rel);
        let meta = fs::symlink_metadata(&path).ctx(|| format!("stat {}", path.display()))?;
        let ft = meta.file_type();
        if ft.is_dir() {
            out.push(Entry {
                rel: rel.clone(),
                kind: Kind::Dir,
            });
            walk(root, &rel, out)?;
        } else if ft.is_file() {
            out.push(Entry {
                rel,
                kind: Kind::File {
                    size: meta.len(),
                    exec: meta.permissions().mode() & 0o111 != 0,
                },
            });
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).ctx(|| format!("read link {}", path.display()))?;
            check_symlink(root, &rel, &target)?;
            out.push(Entry {
                rel,
                kind: Kind::Symlink(target),
            });
        } else {
            return Err(FetchError::Relocate {
                path,
                reason: "not a file, directory or symlink".into(),
            });
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

/// A layer's symlinks must be relative and resolve, physically too, inside the runtime.
fn check_symlink(root: &Path, rel: &Path, target: &Path) -> Result<(), FetchError> {
    let path = root.join(rel);
    let bad = |reason: &str| FetchError::Relocate {
        path: path.clone(),
        reason: format!("symlink to {}: {reason}", target.display()),
    };
    if !symlink_stays_inside(rel, target) {
        return Err(bad("points outside the runtime"));
    }
    match path.canonicalize() {
        Ok(resolved) if resolved.starts_with(root) => Ok(()),
        Ok(_) => Err(bad("resolves outside the runtime")),
        Err(_) => Err(bad("dangling")),
    }
}

fn tar_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header
}

fn pack(
    store: &LayerStore,
    root: &Path,
    python: PyVersion,
    glibc: Option<GlibcVersion>,
    source: &str,
    progress: &Progress,
) -> Result<Layer, FetchError> {
    let mut entries = Vec::new();
    walk(root, Path::new(""), &mut entries)?;
    let total: u64 = entries
        .iter()
        .map(|e| match e.kind {
            Kind::File { size, .. } => size,
            _ => 0,
        })
        .sum();

    store.ensure_dir()?;
    let tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .suffix(".tar.zst")
        .tempfile_in(store.dir())
        .ctx(|| format!("create a temporary file in {}", store.dir().display()))?;
    let tmp_path = tmp.path().to_path_buf();
    let io_err = |e: io::Error| FetchError::Io {
        context: format!("write {}", tmp_path.display()),
        source: e,
    };
    let out = tmp.as_file().try_clone().map_err(io_err)?;
    let hashing = HashingWriter {
        inner: io::BufWriter::new(out),
        hasher: Sha256::new(),
        written: 0,
    };
    let mut encoder =
        zstd::stream::write::Encoder::new(hashing, store.zstd_level()).map_err(io_err)?;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    // Multithreaded output is identical for any worker count >= 1; no long-distance mode and
    // the default window, so the stub's ruzstd decoder can read it.
    encoder.multithread(workers).map_err(io_err)?;
    // At level 19 zstd's default job is 4 windows (32 MiB): a whole runtime in one job,
    // one core. 8 MiB jobs let both cores work; the job size is fixed, so the output
    // still does not depend on the worker count.
    encoder
        .set_parameter(zstd::zstd_safe::CParameter::JobSize(8 << 20))
        .map_err(io_err)?;
    encoder.include_checksum(true).map_err(io_err)?;

    let bar = progress.bar(total, "compressing");
    let mut builder = tar::Builder::new(encoder);
    for entry in &entries {
        match &entry.kind {
            Kind::Dir => {
                let mut h = tar_header(tar::EntryType::Directory, 0o755, 0);
                builder
                    .append_data(&mut h, &entry.rel, io::empty())
                    .map_err(io_err)?;
            }
            Kind::File { size, exec } => {
                let path = root.join(&entry.rel);
                let file = fs::File::open(&path).ctx(|| format!("open {}", path.display()))?;
                let mode = if *exec { 0o755 } else { 0o644 };
                let mut h = tar_header(tar::EntryType::Regular, mode, *size);
                builder
                    .append_data(&mut h, &entry.rel, bar.wrap_read(file))
                    .map_err(io_err)?;
            }
            Kind::Symlink(target) => {
                let mut h = tar_header(tar::EntryType::Symlink, 0o777, 0);
                builder
                    .append_link(&mut h, &entry.rel, target)
                    .map_err(io_err)?;
            }
        }
    }
    let encoder = builder.into_inner().map_err(io_err)?;
    let mut hashing = encoder.finish().map_err(io_err)?;
    hashing.flush().map_err(io_err)?;
    bar.finish_and_clear();
    let sha256 = format!("{:x}", hashing.hasher.finalize());
    let size = hashing.written;
    let out = hashing
        .inner
        .into_inner()
        .map_err(|e| io_err(e.into_error()))?;
    out.sync_all().map_err(io_err)?;
    drop(out);
    let layer = store.install(tmp, &sha256, python, glibc, source, size)?;
    progress.step(&format!(
        "runtime layer {} ({:.1} MB)",
        &sha256[..12],
        size as f64 / 1e6
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
