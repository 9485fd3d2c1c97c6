//! The client's cache of published packages, in the cache's buckets:
//!
//! ```text
//! packages-v1/<kind>/<name>.json   the manifest of the latest version last fetched (the ETag source)
//! packages-v1/<kind>/<name>@<version>.json   every version fetched (versions never change)
//! artifacts-v1/<sha256>            assembled executables, named by their content hash
//! blobs-v1/<sha256>                decrypted blobs, so a runtime layer is fetched once
//! ```
//! Every file goes through the cache's atomic-file helper: written beside its final place,
//! closed, renamed in. An artifact is named by its content and never replaced, so a hundred
//! processes fetching the same version at once all end up exec'ing the same complete file.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pyk_cache::{write_file, Bucket, EntryLock, Existing};
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
        self.root
            .join(Bucket::Packages.dir_name())
            .join(kind)
            .join(file)
    }

    pub fn artifact_path(&self, artifact_sha256: &str) -> PathBuf {
        self.root
            .join(Bucket::Artifacts.dir_name())
            .join(artifact_sha256)
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
        copy_content_named(file, &dest, mode_of(manifest))
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
        // One process downloads and assembles; others starting the same version wait here
        // and then find the artifact in place.
        let lock_path = dest.with_file_name(format!("{}.lock", manifest.artifact_sha256));
        if let Some(dir) = lock_path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let _lock = EntryLock::exclusive(&lock_path)
            .with_context(|| format!("cannot lock {}", lock_path.display()))?;
        if dest.is_file() {
            return Ok(dest);
        }
        let blobs_dir = self.root.join(Bucket::Blobs.dir_name());
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
        let mut failure = None;
        write_file(&dest, mode_of(manifest), Existing::Keep, |file| {
            let mut hasher = Sha256::new();
            for part in &parts {
                let mut src = File::open(part)?;
                io::copy(&mut src, &mut Tee(file, &mut hasher))?;
            }
            let actual = pyk_protocol::digest::hex(&hasher.finalize());
            if actual == manifest.artifact_sha256 {
                return Ok(());
            }
            failure = Some(actual);
            Err(io::ErrorKind::InvalidData.into())
        })
        .or_else(|e| match &failure {
            Some(actual) => bail!(
                "refusing {} {} version {}: the assembled file hashes to {actual}, the manifest says {}",
                manifest.kind,
                manifest.name,
                manifest.version,
                manifest.artifact_sha256
            ),
            None => Err(e).with_context(|| format!("cannot write {}", dest.display())),
        })?;
        Ok(dest)
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

/// Writes `bytes` to `path` atomically, replacing what is there.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    write_file(path, mode, Existing::Replace, |f| f.write_all(bytes))?;
    Ok(())
}

/// Copies `src` to `dest` atomically, replacing what is there.
pub fn copy_atomic(src: &Path, dest: &Path, mode: u32) -> Result<()> {
    let mut from = File::open(src).with_context(|| format!("cannot read {}", src.display()))?;
    write_file(dest, mode, Existing::Replace, |f| {
        io::copy(&mut from, f).map(drop)
    })?;
    Ok(())
}

/// Copies `src` to a content-named `dest`, unless a copy is already there.
fn copy_content_named(src: &Path, dest: &Path, mode: u32) -> Result<()> {
    let mut from = File::open(src).with_context(|| format!("cannot read {}", src.display()))?;
    write_file(dest, mode, Existing::Keep, |f| {
        io::copy(&mut from, f).map(drop)
    })?;
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
