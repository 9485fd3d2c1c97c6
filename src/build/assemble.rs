//! Writing the artifact `[stub][extra parts][runtime][unit]*[app][pylock.toml]?[trailer]`
//! in one pass, through the cache's atomic-file helper (a temp file beside the output,
//! renamed over it).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use pyk_artifact::trailer::{Kind, Layer, Part, Role, Span, Trailer};
use pyk_artifact::write::{write_groups, write_layer, write_part, Written};
use pyk_cache::{write_file, Existing};
use pyk_protocol::digest::Hasher;
use pyk_protocol::Sha256;

use pyk_artifact::extract::Unpacked;
use pyk_runtime_fetch::Layer as RuntimeLayer;

use super::units::Units;

/// Everything an artifact is made of besides the stub.
pub struct Parts<'a> {
    pub name: &'a str,
    pub kind: Kind,
    pub python: (u8, u8),
    /// The machine the artifact is for (recorded in the trailer), and its launcher.
    pub platform: super::Platform,
    pub stub: &'a [u8],
    /// The extra parts, by name (the SBOM), written between the stub and the runtime.
    pub extras: &'a [(&'a str, &'a [u8])],
    /// The runtime layer to embed (the full one, or one shaken for this app) and what it
    /// unpacks to.
    pub runtime: &'a RuntimeLayer,
    pub runtime_unpacked: Unpacked,
    pub glibc: Option<(u32, u32)>,
    pub built: u64,
    pub entry: String,
    /// The staged site-packages tree, if the app has dependencies, and its units.
    pub deps: Option<(&'a Path, &'a Units)>,
    /// The staged app tree.
    pub app: &'a Path,
    pub lock: Option<&'a str>,
    /// zstd level of the deps and app layers.
    pub level: i32,
}

/// Writes the artifact to `output` (replacing it atomically); returns its size and trailer.
pub fn write(parts: &Parts, output: &Path) -> Result<(u64, Trailer)> {
    let mut failure = None;
    let mut done = None;
    let written = write_file(output, 0o755, Existing::Replace, |file| {
        match fill(parts, file) {
            Ok(built) => {
                done = Some(built);
                Ok(())
            }
            Err(e) => {
                failure = Some(e);
                // Any error: the helper then removes the temp file and keeps the old output.
                Err(io::ErrorKind::Other.into())
            }
        }
    });
    if let Some(e) = failure {
        return Err(e.context(format!("cannot write {}", output.display())));
    }
    written.with_context(|| format!("cannot write {}", output.display()))?;
    done.context("the artifact was not written")
}

fn fill(parts: &Parts, file: &mut File) -> Result<(u64, Trailer)> {
    let mut out = Counting { file, at: 0 };
    out.write_all(parts.stub)?;
    let extras = parts
        .extras
        .iter()
        .map(|(name, bytes)| {
            let at = out.at;
            write_part(name, bytes, at, &mut out)
        })
        .collect::<Result<Vec<_>, _>>()
        .context("cannot write the artifact's parts")?;

    let runtime = parts.runtime;
    let start = out.at;
    let sha256 = copy_verified(&runtime.path, &mut out)?;
    if sha256.to_string() != runtime.sha256 {
        bail!(
            "the cached runtime layer {} is damaged (its sha256 no longer matches its name); remove it with `pyk runtime remove {}`",
            runtime.path.display(),
            &runtime.sha256[..12]
        );
    }
    let mut layers = vec![Layer {
        role: Role::Runtime,
        span: Span {
            offset: start,
            len: out.at - start,
        },
        sha256,
        size: parts.runtime_unpacked.size,
        files: parts.runtime_unpacked.files,
        name: String::new(),
    }];
    if let Some((tree, units)) = parts.deps {
        let start = out.at;
        let group = |rel: &Path| units.group(rel);
        let written = write_groups(tree, units.names.len(), &group, parts.level, &mut out)
            .context("cannot write the dependencies' units")?;
        let mut at = start;
        for (w, name) in written.iter().zip(&units.names) {
            let Some(w) = w else { continue };
            layers.push(layer(Role::Unit, at, w, name));
            at += w.len;
        }
    }
    let start = out.at;
    let w = write_layer(parts.app, parts.level, &mut out).context("cannot write the app layer")?;
    layers.push(layer(Role::App, start, &w, ""));
    let lock = match parts.lock {
        Some(text) => {
            let start = out.at;
            out.write_all(text.as_bytes())?;
            Some(Part {
                span: Span {
                    offset: start,
                    len: text.len() as u64,
                },
                sha256: Sha256::of(text.as_bytes()),
            })
        }
        None => None,
    };
    let trailer = Trailer {
        kind: parts.kind,
        name: parts.name.to_owned(),
        python: parts.python,
        runtime_version: runtime.python.to_string(),
        runtime_source: runtime.source.clone(),
        glibc: parts.glibc,
        platform: Some(parts.platform.name()),
        built: parts.built,
        entry: parts.entry.clone(),
        parts: extras,
        layers,
        lock,
    };
    out.write_all(&trailer.encode()?)?;
    Ok((out.at, trailer))
}

/// The trailer's record of a layer written at `offset`.
fn layer(role: Role, offset: u64, w: &Written, name: &str) -> Layer {
    Layer {
        role,
        span: Span { offset, len: w.len },
        sha256: w.sha256,
        size: w.size,
        files: w.files,
        name: name.to_owned(),
    }
}

/// Copies a cached layer into the artifact, hashing it on the way.
fn copy_verified(path: &Path, out: &mut impl Write) -> Result<Sha256> {
    let mut src = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = src
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            return Ok(hasher.digest());
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
}

/// A file that counts what was written to it: the offsets of the parts.
struct Counting<'a> {
    file: &'a mut File,
    at: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.at += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}
