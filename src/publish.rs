//! Repository commands: `pyk publish` (`pyk --build`), `pyk list`, `pyk remove`,
//! `pyk watch`.
//!
//! An artifact is published as three blobs, `[stub][runtime layer][payload + trailer]`,
//! each named by the sha256 of its bytes: the server stores each once, so a new version
//! of an app uploads only its payload, and ten apps on one runtime share its layer.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use pyk_artifact::trailer::{hex, Trailer, TRAILER_LEN};
use pyk_runtime_fetch::Progress;
use pyk_server::api::{BlobRef, PublishRequest};
use sha2::{Digest, Sha256};

use crate::build::human_size;
use crate::client::Client;
use crate::config::Config;
use crate::packages::Packages;

fn client(config: &Config) -> Result<Client> {
    Ok(Client::new(
        config.server()?,
        config.read_key()?,
        config.write_key()?,
        &config.node,
        Duration::from_secs(10),
    ))
}

/// Reads the trailer of a built artifact.
pub fn read_trailer(path: &Path) -> Result<Trailer> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let len = file.metadata()?.len();
    let mut tail = [0u8; TRAILER_LEN];
    let n = file.read_at(&mut tail, len.saturating_sub(TRAILER_LEN as u64))?;
    Trailer::decode(&tail[..n], len).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

fn sha256_range(file: &mut File, offset: u64, len: u64) -> io::Result<String> {
    file.seek(SeekFrom::Start(offset))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file.take(len), &mut hasher)?;
    Ok(hex(&hasher.finalize()))
}

pub fn publish(
    artifact: &Path,
    config: &Config,
    cache_root: &Path,
    progress: &Progress,
) -> Result<()> {
    let trailer = read_trailer(artifact)?;
    let mut file =
        File::open(artifact).with_context(|| format!("cannot read {}", artifact.display()))?;
    let size = file.metadata()?.len();
    let ranges = [
        (0, trailer.runtime.offset),
        (trailer.runtime.offset, trailer.runtime.len),
        (trailer.payload.offset, size - trailer.payload.offset),
    ];
    let mut blobs = Vec::new();
    for (offset, len) in ranges {
        let sha256 = sha256_range(&mut file, offset, len)
            .with_context(|| format!("cannot read {}", artifact.display()))?;
        blobs.push((BlobRef { sha256, size: len }, offset));
    }
    let artifact_sha256 = sha256_range(&mut file, 0, size)?;

    let client = client(config)?;
    let (mut sent, mut had) = (0u64, 0u64);
    for (blob, offset) in &blobs {
        if client.has_blob(&blob.sha256)? {
            had += blob.size;
        } else {
            client.upload_blob(&blob.sha256, artifact, *offset, blob.size, progress)?;
            sent += blob.size;
        }
    }
    let request = PublishRequest {
        artifact_sha256,
        size,
        python: format!("{}.{}", trailer.python.0, trailer.python.1),
        blobs: blobs.into_iter().map(|(b, _)| b).collect(),
    };
    let kind = trailer.kind.as_str();
    let published = client.publish(kind, &trailer.name, &request)?;
    // This machine has the artifact already: seed the runner's cache with it.
    let packages = Packages::open(cache_root);
    let cached = packages.artifact_path(&request.artifact_sha256);
    if !cached.exists() {
        if let Some(dir) = cached.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::copy(artifact, &cached);
    }
    let _ = packages.remember(&published.manifest);
    progress.step(&format!(
        "Published {kind} {} version {} ({}) to {}: uploaded {}, the server already had {}",
        trailer.name,
        published.version,
        human_size(size),
        client.server(),
        human_size(sent),
        human_size(had)
    ));
    Ok(())
}

pub fn list(config: &Config) -> Result<()> {
    let packages = client(config)?.list()?;
    if packages.is_empty() {
        println!("no packages on {}", config.server()?);
    }
    for p in packages {
        println!(
            "{:<4} {:<24} {:>8}  {:>10}  {}",
            p.kind,
            p.name,
            p.version,
            human_size(p.size),
            age(p.published)
        );
    }
    Ok(())
}

pub fn remove(config: &Config, kind: &str, name: &str) -> Result<()> {
    client(config)?.remove(kind, name)?;
    println!("removed {kind} package {name}");
    Ok(())
}

pub fn watch(config: &Config, kind: &str, name: &str, once: bool) -> Result<()> {
    let client = client(config)?;
    let mut current = match client.current(kind, name, None) {
        Ok(Some(m)) => m.version,
        Ok(None) => bail!("the server answered 304 to an unconditional request"),
        Err(crate::client::ClientError::NotFound(_)) => String::new(),
        Err(e) => return Err(e.into()),
    };
    eprintln!(
        "watching {kind} package {name} on {} (now at version {})",
        client.server(),
        if current.is_empty() { "none" } else { &current }
    );
    loop {
        if let Some(m) = client.watch(kind, name, &current, 60)? {
            println!(
                "{kind} {name}: version {} published by {} ({})",
                m.version,
                m.publisher,
                human_size(m.size)
            );
            current = m.version;
            if once {
                return Ok(());
            }
        }
    }
}

fn age(unix: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match now.saturating_sub(unix) {
        s if s < 120 => "just now".into(),
        s if s < 7200 => format!("{} min ago", s / 60),
        s if s < 172_800 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    }
}
