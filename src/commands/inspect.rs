//! `pyk inspect FILE`: what an artifact holds, with every hash checked and every entry of
//! every layer checked as extraction checks it (`pyk_artifact::extract::check`, the same
//! code the launcher and `pyk` unpack with): a layer the launcher would refuse is named
//! here, with the entry and the reason, and the exit status is non-zero.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{bail, Context as _, Result};
use memmap2::Mmap;
use pyk_artifact::extract::{self, ExtractError, Limits};
use pyk_artifact::trailer::{Extra, Layer, Span, Trailer};
use pyk_protocol::digest::Hasher;
use pyk_protocol::Sha256;

use super::{kind, Context};
use crate::output::human_size;
use crate::stub_bin::STUB;
use crate::{cli, fetch, hints};

/// `pyk inspect FILE|NAME [--lib] [--json]`: a file as it is; a package's whole artifact
/// fetched into a temp file first, since inspecting checks every byte.
/// What `pyk inspect` prints.
pub enum View {
    Text,
    Json,
    /// The SBOM the build recorded, or its licences.
    Sbom(crate::sbom::Show),
}

pub fn run(ctx: &Context, what: &str, lib: bool, view: View) -> Result<()> {
    crate::output::end_quietly_on_closed_pipe();
    let inspect = |path: &Path, shown: &str| match &view {
        View::Text => self::inspect(path, shown),
        View::Json => self::json(path, shown),
        View::Sbom(show) => crate::sbom::show(path, &shown, *show),
    };
    if cli::names_a_file(what) {
        let path = Path::new(what);
        return inspect(path, &path.display().to_string());
    }
    let (m, client) = fetch::manifest(ctx, kind(lib), what, None)
        .map_err(|e| hints::wrong_kind(ctx.config, kind(lib), what, true, e))?;
    // The whole file of this machine's artifact, fetched into a temp file: inspecting
    // checks every byte.
    let here = pyk_client::here(&m)?;
    let mut tmp = tempfile::NamedTempFile::new()?;
    pyk_client::Packages::new(ctx.cache()?).write_whole(
        &client,
        &here,
        tmp.as_file_mut(),
        &ctx.progress,
    )?;
    inspect(tmp.path(), &format!("{} {}", m.name, m.version))?;
    if matches!(view, View::Text) && m.platform_names().len() > 1 {
        println!(
            "\nPlatforms: {} (shown: {})",
            m.platform_names().join(", "),
            here.platform_names().join("")
        );
    }
    Ok(())
}

/// Inspects the artifact at `path`, calling it `shown` (a package's name and version when
/// it was fetched into a temp file).
fn inspect(path: &Path, shown: &str) -> Result<()> {
    let (file, len, tail, trailer) = open(path, shown)?;

    println!(
        "{shown}: {} {}, {}",
        trailer.kind.as_str(),
        trailer.name,
        human_size(len)
    );
    println!("\nTrailer:");
    for line in Trailer::text(&tail).unwrap_or_default().lines() {
        println!("  {line}");
    }
    let built = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(trailer.built));
    println!("\nEntry:    {}", trailer.entry);
    println!("Built:    {built}");
    println!(
        "Runtime:  Python {} ({}), {} unpacked",
        trailer.runtime_version,
        trailer.runtime_source,
        trailer
            .layers
            .first()
            .map_or_else(String::new, |l| human_size(l.size))
    );
    if let Some((major, minor)) = trailer.glibc {
        println!("glibc:    ≥ {major}.{minor}");
    }
    // Artifacts built before the platform was recorded are all linux-x86_64 but a few.
    println!(
        "Platform: {}",
        trailer.platform.as_deref().unwrap_or("not recorded")
    );
    let stub = trailer.launcher_len();
    let same = stub == STUB.len() as u64
        && read_span(
            &file,
            Span {
                offset: 0,
                len: stub,
            },
        )? == STUB;
    println!(
        "Launcher: {} ({})",
        human_size(stub),
        if same { "this pyk's" } else { "another pyk's" }
    );

    let mut damaged = Vec::new();
    for part in &trailer.parts {
        let actual = hash_span(&file, part.span)?;
        println!(
            "Part:     {} {} sha256 {}  {}",
            part.name,
            human_size(part.span.len),
            part.sha256,
            if actual == part.sha256 {
                "ok"
            } else {
                "DAMAGED"
            }
        );
        damaged.extend(part_damage(part, &actual));
    }

    println!("\nLayers:");
    for layer in &trailer.layers {
        let (actual, refused) = check_layer(&file, layer)?;
        let ok = actual == layer.sha256;
        println!(
            "  {:<8} {:>10} → {:>10} in {:>6} entries  sha256 {}  {}{}",
            layer.role.as_str(),
            human_size(layer.span.len),
            human_size(layer.size),
            layer.files,
            layer.key(),
            match (ok, &refused) {
                (false, _) => "DAMAGED",
                (true, Some(_)) => "REFUSED",
                (true, None) => "ok",
            },
            match layer.name.as_str() {
                "" => String::new(),
                name => format!("  {name}"),
            }
        );
        damaged.extend(layer_damage(layer, &actual, refused));
    }
    match check_lock(&file, &trailer, &mut damaged)? {
        None => println!("\nDependencies: none"),
        Some(text) => print_lock(&text),
    }
    if damaged.is_empty() {
        println!("\nAll hashes match; every layer unpacks.");
    }
    verdict(shown, &damaged)
}

/// `pyk inspect --json`: the same checks, as one object (docs/formats.md).
fn json(path: &Path, shown: &str) -> Result<()> {
    let (file, len, _, trailer) = open(path, shown)?;
    let mut damaged = Vec::new();
    let mut parts = Vec::new();
    for part in &trailer.parts {
        let actual = hash_span(&file, part.span)?;
        parts.push(serde_json::json!({
            "name": part.name,
            "sha256": part.sha256.to_string(),
            "offset": part.span.offset,
            "len": part.span.len,
            "status": if actual == part.sha256 { "ok" } else { "damaged" },
        }));
        damaged.extend(part_damage(part, &actual));
    }
    let mut layers = Vec::new();
    for layer in &trailer.layers {
        let (actual, refused) = check_layer(&file, layer)?;
        layers.push(serde_json::json!({
            "role": layer.role.as_str(),
            "name": (!layer.name.is_empty()).then_some(&layer.name),
            "sha256": layer.key(),
            "offset": layer.span.offset,
            "len": layer.span.len,
            "size": layer.size,
            "files": layer.files,
            "status": match (actual == layer.sha256, &refused) {
                (false, _) => "damaged",
                (true, Some(_)) => "refused",
                (true, None) => "ok",
            },
        }));
        damaged.extend(layer_damage(layer, &actual, refused));
    }
    let lock = check_lock(&file, &trailer, &mut damaged)?;
    crate::json::print(serde_json::json!({
        "file": shown,
        "kind": trailer.kind.as_str(),
        "name": trailer.name,
        "size": len,
        "entry": trailer.entry,
        "built": trailer.built,
        "python": format!("{}.{}", trailer.python.0, trailer.python.1),
        "runtime": {
            "version": trailer.runtime_version,
            "source": trailer.runtime_source,
        },
        "glibc": trailer.glibc.map(|(major, minor)| format!("{major}.{minor}")),
        "platform": trailer.platform,
        "parts": parts,
        "layers": layers,
        "lock": lock,
        "ok": damaged.is_empty(),
    }))?;
    verdict(shown, &damaged)
}

/// The artifact's file, length, last bytes and trailer.
fn open(path: &Path, shown: &str) -> Result<(File, u64, Vec<u8>, Trailer)> {
    let file = File::open(path).with_context(|| format!("cannot read {shown}"))?;
    let (tail, len) = Trailer::tail(&file).with_context(|| format!("cannot read {shown}"))?;
    let trailer = Trailer::decode(&tail, len).with_context(|| shown.to_owned())?;
    Ok((file, len, tail, trailer))
}

/// A layer's actual sha256, and, when it matches, why extraction would refuse it (a
/// damaged layer is named by its hash; its entries say nothing more).
fn check_layer(file: &File, layer: &Layer) -> Result<(Sha256, Option<ExtractError>)> {
    let actual = hash_span(file, layer.span)?;
    let refused = match actual == layer.sha256 {
        true => check_entries(file, layer).err(),
        false => None,
    };
    Ok((actual, refused))
}

/// What is wrong with a layer, for the one error line.
fn layer_damage(layer: &Layer, actual: &Sha256, refused: Option<ExtractError>) -> Vec<String> {
    let mut damage = Vec::new();
    if *actual != layer.sha256 {
        damage.push(format!(
            "the {} layer (bytes {}..{}): sha256 is {}, the trailer says {}",
            layer.role.as_str(),
            layer.span.offset,
            layer.span.end(),
            actual,
            layer.key()
        ));
    }
    if let Some(e) = refused {
        damage.push(format!(
            "the {} layer would be refused: {e}",
            layer.role.as_str()
        ));
    }
    damage
}

/// What is wrong with an extra part (the SBOM), for the one error line.
fn part_damage(part: &Extra, actual: &Sha256) -> Option<String> {
    (*actual != part.sha256).then(|| {
        format!(
            "the {} part (bytes {}..{}): sha256 is {}, the trailer says {}",
            part.name,
            part.span.offset,
            part.span.end(),
            actual,
            part.sha256
        )
    })
}

/// The dependency lock's text, its hash checked (a mismatch is added to `damaged`).
fn check_lock(file: &File, trailer: &Trailer, damaged: &mut Vec<String>) -> Result<Option<String>> {
    let Some(lock) = &trailer.lock else {
        return Ok(None);
    };
    let bytes = read_span(file, lock.span)?;
    let actual = Sha256::of(&bytes);
    if actual != lock.sha256 {
        damaged.push(format!(
            "the dependency lock (bytes {}..{}): sha256 is {}, the trailer says {}",
            lock.span.offset,
            lock.span.end(),
            actual,
            lock.sha256
        ));
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Fails, in one line, when anything was damaged.
fn verdict(shown: &str, damaged: &[String]) -> Result<()> {
    match damaged.len() {
        0 => Ok(()),
        _ => bail!("{shown} is damaged: {}", damaged.join("; ")),
    }
}

/// The distributions of a `pylock.toml`, one a line.
fn print_lock(text: &str) {
    let packages = toml::from_str::<toml::Table>(text)
        .ok()
        .and_then(|t| t.get("packages").and_then(|p| p.as_array()).cloned())
        .unwrap_or_default();
    println!("\nDependencies ({}, pylock.toml):", packages.len());
    for p in &packages {
        let field = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("?");
        let file = p
            .get("wheels")
            .and_then(|w| w.as_array())
            .and_then(|w| w.first())
            .or_else(|| p.get("sdist"));
        let sha = file
            .and_then(|f| f.get("hashes"))
            .and_then(|h| h.get("sha256"))
            .and_then(|s| s.as_str())
            .unwrap_or("no hash recorded");
        println!(
            "  {:<28} {:<14} sha256 {sha}",
            field("name"),
            field("version")
        );
    }
}

/// Every entry of `layer` checked as extraction would, within what the trailer declares,
/// without writing anything.
fn check_entries(file: &File, layer: &Layer) -> Result<(), ExtractError> {
    // SAFETY: read-only, and only while this function runs; a file truncated meanwhile
    // would fault, as with any mapped file.
    let map = unsafe { Mmap::map(file) }.map_err(|e| ExtractError::Format(e.to_string()))?;
    let bytes = usize::try_from(layer.span.offset)
        .ok()
        .zip(usize::try_from(layer.span.end()).ok())
        .and_then(|(start, end)| map.get(start..end))
        .ok_or_else(|| ExtractError::Format("truncated layer".into()))?;
    let limits = Limits {
        size: layer.size,
        files: layer.files,
    };
    extract::check(bytes, limits).map(drop)
}

fn read_span(file: &File, span: Span) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; usize::try_from(span.len)?];
    file.read_exact_at(&mut buf, span.offset)?;
    Ok(buf)
}

fn hash_span(file: &File, span: Span) -> Result<Sha256> {
    let mut f = file.try_clone()?;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(span.offset))?;
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut left = span.len;
    while left > 0 {
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            bail!("the file ends inside a part (truncated?)");
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hasher.digest())
}
