//! The client's cache of published packages, under the pyk cache root:
//!
//! ```text
//! packages/<kind>/<name>.json   the manifest of the latest version last fetched (the ETag source)
//! packages/<kind>/<name>@<version>.json   every version fetched (versions never change)
//! artifacts/<sha256>            assembled executables, named by their content hash
//! blobs/<sha256>                decrypted blobs, so a runtime layer is fetched once
//! ```
//! Every file is written beside its final place and renamed in, so a process starting
//! while an update lands execs either the old artifact or the new one, never a part.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pyk_client::{Answer, Client, Progress, Trust};
use pyk_protocol::api::Manifest;
use sha2::{Digest, Sha256};

pub struct Packages {
    root: PathBuf,
}

impl Packages {
    pub fn open(cache_root: &Path) -> Packages {
        Packages {
            root: cache_root.to_path_buf(),
        }
    }

    fn manifest_path(&self, kind: &str, name: &str, version: Option<&str>) -> PathBuf {
        let file = match version {
            Some(v) => format!("{name}@{v}.json"),
            None => format!("{name}.json"),
        };
        self.root.join("packages").join(kind).join(file)
    }

    pub fn artifact_path(&self, artifact_sha256: &str) -> PathBuf {
        self.root.join("artifacts").join(artifact_sha256)
    }

    /// The manifest of the cached latest (or given) version, if its artifact is still
    /// there and `trust` still vouches for it (checked offline, from the signatures kept
    /// in the manifest; one it no longer vouches for counts as not cached).
    pub fn cached(
        &self,
        kind: &str,
        name: &str,
        version: Option<&str>,
        trust: &Trust,
    ) -> Option<Manifest> {
        let text = fs::read_to_string(self.manifest_path(kind, name, version)).ok()?;
        let manifest: Manifest = serde_json::from_str(&text).ok()?;
        trust.verify(&manifest, Answer::Version).ok()?;
        self.artifact_path(&manifest.artifact_sha256)
            .is_file()
            .then_some(manifest)
    }

    /// Records `manifest` (its artifact must be in place) under its version and, unless
    /// it was asked for by version, as the package's latest.
    pub fn remember(&self, manifest: &Manifest, by_version: bool) -> Result<()> {
        let json = serde_json::to_vec_pretty(manifest)?;
        let (kind, name) = (manifest.kind.as_str(), &manifest.name);
        write_atomic(
            &self.manifest_path(kind, name, Some(&manifest.version)),
            &json,
            0o644,
        )?;
        if !by_version {
            write_atomic(&self.manifest_path(kind, name, None), &json, 0o644)?;
        }
        Ok(())
    }

    /// Copies a local file that is `manifest`'s artifact into the cache.
    pub fn adopt(&self, file: &Path, manifest: &Manifest) -> Result<()> {
        let dest = self.artifact_path(&manifest.artifact_sha256);
        if dest.is_file() {
            return Ok(());
        }
        copy_atomic(file, &dest, mode_of(manifest))
    }

    /// Makes the artifact of `manifest` present, downloading the blobs it lacks.
    pub fn fetch(
        &self,
        client: &Client,
        manifest: &Manifest,
        progress: &dyn Progress,
    ) -> Result<PathBuf> {
        if manifest
            .artifact_sha256
            .parse::<pyk_protocol::Sha256>()
            .is_err()
        {
            bail!(
                "{} sent a manifest with a malformed artifact hash",
                client.server()
            );
        }
        let dest = self.artifact_path(&manifest.artifact_sha256);
        if dest.is_file() {
            return Ok(dest);
        }
        let blobs_dir = self.root.join("blobs");
        let mut parts = Vec::new();
        for blob in &manifest.blobs {
            let Ok(sha256) = blob.sha256.parse() else {
                bail!(
                    "{} sent a manifest with a malformed blob name",
                    client.server()
                );
            };
            let path = blobs_dir.join(&blob.sha256);
            parts.push(if path.is_file() {
                path
            } else {
                client.download_blob(&sha256, blob.size, &blobs_dir, progress)?
            });
        }
        let dir = dest.parent().context("artifact path has no parent")?;
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".assemble-")
            .tempfile_in(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        let mut hasher = Sha256::new();
        for part in &parts {
            let mut src =
                File::open(part).with_context(|| format!("cannot read {}", part.display()))?;
            io::copy(&mut src, &mut Tee(tmp.as_file_mut(), &mut hasher))
                .with_context(|| format!("cannot write {}", dest.display()))?;
        }
        let actual = pyk_artifact::trailer::hex(&hasher.finalize());
        if actual != manifest.artifact_sha256 {
            bail!(
                "refusing {} {} version {}: the assembled file hashes to {actual}, the manifest says {}",
                manifest.kind,
                manifest.name,
                manifest.version,
                manifest.artifact_sha256
            );
        }
        let file = tmp.as_file();
        file.set_permissions(fs::Permissions::from_mode(mode_of(manifest)))?;
        file.sync_all()?;
        // Named by its content: one already there (another runner assembled it first)
        // is the same bytes, and may be running; it is never replaced.
        match tmp.persist_noclobber(&dest) {
            Ok(_) => Ok(dest),
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => Ok(dest),
            Err(e) => Err(e.error).with_context(|| format!("cannot write {}", dest.display())),
        }
    }
}

/// The mode a package's file gets: executable unless it is a pushed plain file.
pub fn mode_of(manifest: &Manifest) -> u32 {
    if manifest.executable {
        0o755
    } else {
        0o644
    }
}

/// Writes `bytes` to `path` atomically (see [`replace_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    replace_atomic(path, mode, |f| f.write_all(bytes))
}

/// Copies `src` to `dest` atomically (see [`replace_atomic`]).
pub fn copy_atomic(src: &Path, dest: &Path, mode: u32) -> Result<()> {
    let mut from = File::open(src).with_context(|| format!("cannot read {}", src.display()))?;
    replace_atomic(dest, mode, |f| io::copy(&mut from, f).map(drop))
}

/// Fills a temp file beside `path`, syncs it and renames it over `path`: readers see the
/// old file or the new one, never a part, and a failure leaves the old one untouched.
fn replace_atomic(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".pyk-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let file = tmp.as_file_mut();
    let written = fill(file)
        .and_then(|()| file.set_permissions(fs::Permissions::from_mode(mode)))
        .and_then(|()| file.sync_all());
    written.with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Writes to a file and a hasher at once.
struct Tee<'a>(&'a mut File, &'a mut Sha256);

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.0.write(buf)?;
        self.1.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}
