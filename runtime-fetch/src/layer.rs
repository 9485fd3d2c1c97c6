//! Turning a staged runtime tree into a cached layer: strip, precompile with the tree's own
//! python, then a deterministic tar streamed through zstd and sha256 into the store.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::error::IoContext;
use crate::{strip, FetchError, LayerStore, Progress, PyVersion, SUPPORTED_MINORS};

use crate::store::Layer;

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
    progress.step("precompiling the standard library");
    precompile(&root, &python, progress)?;
    zip_stdlib(&root, &python)?;
    // Added by the layers branch until the runtimes branch, which owns this, lands its own.
    add_pyk_pth(&root, &python)?;
    progress.step(&format!(
        "compressing runtime layer (zstd level {})",
        store.zstd_level()
    ));
    pack(store, &root, python, source, progress)
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

/// The `.pth` line of the exec contract (see `pyk_artifact::launch`): `PYK_PATH`'s entries
/// go on `sys.path` after the stdlib, so any interpreter of this runtime started by a pyk
/// program (`sys.executable -m`, multiprocessing) sees the program's app and dependencies.
const PYK_PTH: &str = "import os, sys; sys.path.extend(p for p in os.environ.get('PYK_PATH', '').split(':') if p and p not in sys.path)\n";

/// Writes `_pyk.pth` into the site-packages directory this runtime's `site` reads
/// (`lib/python3.X/site-packages`, or `dist-packages` for Debian's CPython).
fn add_pyk_pth(root: &Path, python: &PyVersion) -> Result<(), FetchError> {
    let exe = root.join("bin/python3");
    let out = Command::new(&exe)
        .env_clear()
        .args([
            "-I",
            "-B",
            "-c",
            "import site; print('\\n'.join(site.getsitepackages()))",
        ])
        .output()
        .map_err(|e| FetchError::Compile {
            python: exe.clone(),
            reason: e.to_string(),
        })?;
    let wanted = format!("lib/python{}.{}/", python.major, python.minor);
    let text = String::from_utf8_lossy(&out.stdout);
    let site = text
        .lines()
        .map(Path::new)
        .find(|p| {
            p.strip_prefix(root)
                .is_ok_and(|rel| rel.to_string_lossy().starts_with(&wanted))
        })
        .map(Path::to_path_buf)
        .ok_or_else(|| FetchError::Compile {
            python: exe.clone(),
            reason: format!("no site-packages directory under {}", root.display()),
        })?;
    fs::create_dir_all(&site).ctx(|| format!("create {}", site.display()))?;
    let pth = site.join("_pyk.pth");
    fs::write(&pth, PYK_PTH).ctx(|| format!("write {}", pth.display()))
}

/// Move the precompiled stdlib into `lib/python3X.zip` (see stdlib_zip.py for why).
fn zip_stdlib(root: &Path, python: &PyVersion) -> Result<(), FetchError> {
    let exe = root.join("bin/python3");
    let out = Command::new(&exe)
        .env_clear()
        .args(["-I", "-B", "-c", include_str!("stdlib_zip.py")])
        .arg(root)
        .arg(format!("{}.{}", python.major, python.minor))
        .output()
        .map_err(|e| FetchError::Compile {
            python: exe.clone(),
            reason: e.to_string(),
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("").trim().to_string();
        return Err(FetchError::Compile {
            python: exe,
            reason: format!("zipping the stdlib: {last}"),
        });
    }
    Ok(())
}

/// Precompile the stdlib with hash-based, never-checked .pyc and a fixed path prefix, so the
/// output does not depend on where or when the layer was built.
fn precompile(root: &Path, python: &PyVersion, progress: &Progress) -> Result<(), FetchError> {
    let exe = root.join("bin/python3");
    let stdlib = root
        .join("lib")
        .join(format!("python{}.{}", python.major, python.minor));
    let spinner = progress.spinner("compiling .pyc");
    // Serial, in a clean environment with a fixed hash seed: marshal output depends on set
    // order and on reference counts in the compiling process, so parallel workers (-j0) or a
    // random seed make the .pyc differ from run to run. -I would ignore PYTHONHASHSEED, hence
    // -E is not used and the environment is cleared instead; -s keeps user site out. -B and -f:
    // modules compileall itself imports must not leave timestamp .pyc that it then skips.
    let out = Command::new(&exe)
        .current_dir(root)
        .env_clear()
        .env("PYTHONHASHSEED", "0")
        .args(["-B", "-s", "-m", "compileall", "-f", "-q", "-j1"])
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
    let layer = store.install(tmp, &sha256, python, source, size)?;
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
