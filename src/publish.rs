//! Uploading: `pyk publish` (`pyk --build`) for artifacts, `pyk push` for any file.
//!
//! An artifact is published as three blobs, `[stub][runtime layer][payload + trailer]`,
//! each named by the sha256 of its bytes: the server stores each once, so a new version
//! of an app uploads only its payload, and ten apps on one runtime share its layer. A
//! pushed file is one blob.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pyk_artifact::trailer::{hex, Trailer};
use pyk_protocol::api::{BlobRef, PublishRequest};
use pyk_protocol::valid_version;
use pyk_runtime_fetch::Progress;
use sha2::{Digest, Sha256};

use crate::build::human_size;
use crate::client::Client;
use crate::config::Config;
use crate::packages::Packages;

/// A client for commands that may write: signs writes with the write key.
pub fn client(config: &Config) -> Result<Client> {
    Ok(Client::new(
        config.server()?,
        config.read_key()?,
        config.write_key()?,
        &config.node,
        Duration::from_secs(10),
    ))
}

/// How a publish names and places the new version.
pub struct Release<'a> {
    pub version: Option<&'a str>,
    pub promote: bool,
    pub localname: Option<&'a str>,
}

fn check_version(version: Option<&str>) -> Result<()> {
    match version {
        Some(v) if !valid_version(v) => bail!(
            "invalid version {v:?}: use 1-64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit (not `latest`)"
        ),
        _ => Ok(()),
    }
}

/// Reads the trailer of a built artifact.
pub fn read_trailer(path: &Path) -> Result<Trailer> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    Trailer::read(&file).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The sha256 of each of `ranges` and of the whole file, in one read. The ranges are
/// consecutive from byte 0 and cover the file, as `publish` and `push` make them.
fn hash_ranges(file: &Path, ranges: &[(u64, u64)]) -> Result<(Vec<String>, String)> {
    let mut src = File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut whole = Sha256::new();
    let mut parts = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    for &(_, len) in ranges {
        let mut part = Sha256::new();
        let mut left = len;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = src
                .read(&mut buf[..want])
                .with_context(|| format!("cannot read {}", file.display()))?;
            if n == 0 {
                bail!("{} changed while it was being published", file.display());
            }
            part.update(&buf[..n]);
            whole.update(&buf[..n]);
            left -= n as u64;
        }
        parts.push(hex(&part.finalize()));
    }
    Ok((parts, hex(&whole.finalize())))
}

/// What to upload: `(offset, len)` ranges of one file, published as one package version.
struct Upload<'a> {
    file: &'a Path,
    kind: &'a str,
    name: &'a str,
    ranges: Vec<(u64, u64)>,
    python: String,
    format: &'a str,
    executable: bool,
}

pub fn publish(
    artifact: &Path,
    release: &Release,
    config: &Config,
    cache_root: &Path,
    progress: &Progress,
) -> Result<()> {
    check_version(release.version)?;
    let trailer = read_trailer(artifact)?;
    let size = std::fs::metadata(artifact)?.len();
    let upload = Upload {
        file: artifact,
        kind: trailer.kind.as_str(),
        name: &trailer.name,
        // Consecutive by construction (pyk writes the payload right after the layer).
        ranges: vec![
            (0, trailer.runtime.offset),
            (
                trailer.runtime.offset,
                trailer.payload.offset - trailer.runtime.offset,
            ),
            (trailer.payload.offset, size - trailer.payload.offset),
        ],
        python: format!("{}.{}", trailer.python.0, trailer.python.1),
        format: "pyk",
        executable: true,
    };
    send(&upload, release, config, cache_root, progress)
}

/// `pyk push NAME VERSION FILE`: any file, kept and given back byte for byte.
pub fn push(
    name: &str,
    version: &str,
    file: &Path,
    promote: bool,
    config: &Config,
    cache_root: &Path,
    progress: &Progress,
) -> Result<()> {
    if !pyk_artifact::trailer::valid_name(name) {
        bail!("invalid package name {name:?}");
    }
    check_version(Some(version))?;
    let meta =
        std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", file.display());
    }
    let upload = Upload {
        file,
        kind: "run",
        name,
        ranges: vec![(0, meta.len())],
        python: String::new(),
        format: "file",
        executable: meta.permissions().mode() & 0o111 != 0,
    };
    let release = Release {
        version: Some(version),
        promote,
        localname: None,
    };
    send(&upload, &release, config, cache_root, progress)
}

fn send(
    upload: &Upload,
    release: &Release,
    config: &Config,
    cache_root: &Path,
    progress: &Progress,
) -> Result<()> {
    let size: u64 = upload.ranges.iter().map(|r| r.1).sum();
    let (shas, artifact_sha256) = hash_ranges(upload.file, &upload.ranges)?;
    let blobs: Vec<_> = shas
        .into_iter()
        .zip(&upload.ranges)
        .map(|(sha256, &(offset, len))| (BlobRef { sha256, size: len }, offset))
        .collect();

    let client = client(config)?;
    if let Some(localname) = release.localname {
        client.set_localname(upload.kind, upload.name, localname)?;
    }
    let (mut sent, mut had) = (0u64, 0u64);
    for (blob, offset) in &blobs {
        if client.has_blob(&blob.sha256)? {
            had += blob.size;
        } else {
            client.upload_blob(&blob.sha256, upload.file, *offset, blob.size, progress)?;
            sent += blob.size;
        }
    }
    let request = PublishRequest {
        artifact_sha256,
        size,
        python: upload.python.clone(),
        blobs: blobs.into_iter().map(|(b, _)| b).collect(),
        version: release.version.map(str::to_owned),
        promote: release.promote,
        format: upload.format.to_owned(),
        executable: upload.executable,
    };
    let published = client.publish(upload.kind, upload.name, &request)?;
    seed_cache(
        cache_root,
        upload.file,
        &published.manifest,
        release.promote,
    );
    progress.step(&format!(
        "Published {} {} version {}{} ({}) to {}: uploaded {}, the server already had {}",
        upload.kind,
        upload.name,
        published.version,
        if release.promote {
            ""
        } else {
            " (not promoted)"
        },
        human_size(size),
        client.server(),
        human_size(sent),
        human_size(had)
    ));
    Ok(())
}

/// This machine has the bytes already: put them in the runner's cache, so running the
/// package here needs no download. Best effort: the cache is only an optimisation.
fn seed_cache(
    cache_root: &Path,
    file: &Path,
    manifest: &pyk_protocol::api::Manifest,
    promoted: bool,
) {
    let packages = Packages::open(cache_root);
    if packages.adopt(file, manifest).is_ok() {
        let _ = packages.remember(manifest, !promoted);
    }
}
