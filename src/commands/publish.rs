//! Uploading: `pyk publish` (`pyk --build`) for artifacts, `pyk push` for any file.
//!
//! An artifact is published as blobs split at its layer boundaries, `[launcher + SBOM][each
//! layer][pylock.toml + trailer]`, each named by the sha256 of its bytes (so a layer's blob
//! name is the layer's sha256): the server stores each once, so a new version of an app
//! uploads only its app layer, its first blob and its trailer, and ten apps on one runtime
//! share its layer. A pushed file is one blob. Clients fetch the same blobs: the trailer,
//! then the layers they have not unpacked (`pyk_client::Resolver`).
//!
//! A version built for several platforms is one publish of every artifact: each blob is
//! uploaded once (a pure-Python app layer the platforms share is one blob), and the
//! request's `platforms` say which blobs make each platform's artifact (see
//! `pyk_protocol::platforms`).

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use pyk_artifact::trailer::Trailer;
use pyk_cache::Cache;
use pyk_client::Packages;
use pyk_protocol::api::{
    BlobRef, Manifest, PlatformArtifact, PublishRequest, FORMAT_FILE, FORMAT_PYK,
};
use pyk_protocol::digest::HashingReader;
use pyk_protocol::names::check_version;
use pyk_protocol::platforms;
use pyk_protocol::progress::Progress as _;
use pyk_protocol::{Kind, PackageRef, Sha256};

use super::{build, Context};
use crate::build::{Built, Platform};
use crate::cli::PublishArgs;
use crate::output::{human_size, Progress};
use crate::repo::{client, writer};

/// `pyk publish`: checks the version is new, builds, then uploads.
pub fn run(ctx: &Context, args: &PublishArgs) -> Result<()> {
    ctx.cache()?;
    let spec = build::load_spec(&args.build)?;
    let release = Release {
        version: args.version.as_deref().or(spec.version.as_deref()),
        promote: !args.no_promote,
        localname: spec.localname.as_deref(),
    };
    // Before the build: a version that exists cannot be published again.
    let bump = match &spec.version_at {
        Some(at) => format!(
            "bump {at}, pass --version NEW, or leave the version out to get the next number"
        ),
        None => "pass --version NEW, or leave it out to get the next number".to_owned(),
    };
    check_new(ctx, &spec.name, spec.kind, &release, &bump)?;
    let artifact = build::run(ctx, &spec, &args.build)?;
    publish(ctx, &artifact, &release)
}

/// How a publish names and places the new version.
struct Release<'a> {
    pub version: Option<&'a str>,
    pub promote: bool,
    pub localname: Option<&'a str>,
}

/// The sha256 of each of `ranges` and of the whole file, in one read. The ranges are
/// consecutive from byte 0 and cover the file, as `publish` and `push` make them.
fn hash_ranges(file: &Path, ranges: &[(u64, u64)]) -> Result<(Vec<Sha256>, Sha256)> {
    let src = File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut whole = HashingReader::new(src);
    let mut parts = Vec::new();
    for &(_, len) in ranges {
        let mut part = HashingReader::new((&mut whole).take(len));
        io::copy(&mut part, &mut io::sink())
            .with_context(|| format!("cannot read {}", file.display()))?;
        if part.hasher().len() != len {
            bail!("{} changed while it was being published", file.display());
        }
        parts.push(part.hasher().digest());
    }
    Ok((parts, whole.hasher().digest()))
}

/// One file of a version: `(offset, len)` ranges of it become its blobs.
struct UploadFile<'a> {
    file: &'a Path,
    ranges: Vec<(u64, u64)>,
    /// The platform it is listed under; `None` for a version of one linux-x86_64 artifact
    /// or a pushed file, which list no platforms.
    platform: Option<String>,
}

/// What to upload: one file per platform, published as one package version.
struct Upload<'a> {
    files: Vec<UploadFile<'a>>,
    package: PackageRef,
    python: String,
    format: &'a str,
    executable: bool,
    /// The API tree the build recorded (JSON), uploaded as one more blob.
    api: Option<Vec<u8>>,
}

/// Publishes the artifacts of one build (one per platform) as one version.
fn publish(ctx: &Context, built: &[Built], release: &Release) -> Result<()> {
    if let Some(v) = release.version {
        check_version(v)?;
    }
    let first = built.first().context("nothing was built")?;
    let trailer = super::info::read_trailer(&first.path)?;
    // One linux-x86_64 artifact lists no platform, so older clients still read it.
    let listed = built.len() > 1 || first.pure || first.platform != Platform::X86_64;
    let mut files = Vec::new();
    for artifact in built {
        let t = super::info::read_trailer(&artifact.path)?;
        let size = std::fs::metadata(&artifact.path)?.len();
        let platform = match artifact.pure {
            true => platforms::ANY.to_owned(),
            false => artifact.platform.name(),
        };
        files.push(UploadFile {
            file: &artifact.path,
            ranges: blob_ranges(&t, size),
            platform: listed.then_some(platform),
        });
    }
    let upload = Upload {
        files,
        package: PackageRef::new(trailer.kind, &trailer.name)?,
        python: format!("{}.{}", trailer.python.0, trailer.python.1),
        format: FORMAT_PYK,
        executable: true,
        api: crate::api::read_app_file(&first.path, crate::api::tree::FILE)?,
    };
    send(ctx, &upload, release)
}

/// Refuses, before anything is built, a key that may not publish, and a version the
/// repository already holds: versions
/// never change, so the only way on is a new one. Says where the version came from and how
/// to bump it. A server that cannot be asked is left to refuse at upload.
///
/// `bump`: how to choose another version, for the message.
fn check_new(ctx: &Context, name: &str, kind: Kind, release: &Release, bump: &str) -> Result<()> {
    let client = client(ctx.config)?;
    client.check_write()?;
    let Some(version) = release.version else {
        return Ok(());
    };
    check_version(version)?;
    let package = PackageRef::new(kind, name)?;
    let list = match client.versions(&package) {
        Ok(list) => list,
        Err(pyk_client::Error::NotFound { .. }) => return Ok(()),
        Err(e) if e.is_network() => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if list.versions.iter().any(|v| v.version == version) {
        bail!(
            "{kind} {name} version {version} already exists on {}, and versions never \
             change: {bump}",
            ctx.config.server()?
        );
    }
    Ok(())
}

/// `[launcher and extra parts][each layer][the rest]`: contiguous from byte 0 to `size`,
/// as the trailer's checks guarantee. The extra parts (the SBOM) ride in the first blob
/// rather than in blobs of their own because pyk clients older than them check that a
/// version has exactly one blob before its layers, as long as all that precedes the first
/// layer; the cost is a first blob per version instead of one launcher blob shared by all.
fn blob_ranges(trailer: &Trailer, size: u64) -> Vec<(u64, u64)> {
    let mut ranges = vec![(0, trailer.head_len())];
    ranges.extend(trailer.layers.iter().map(|l| (l.span.offset, l.span.len)));
    let end = trailer.layers.last().map_or(0, |l| l.span.end());
    ranges.push((end, size - end));
    ranges
}

/// `pyk push NAME VERSION FILE`: any file, kept and given back byte for byte.
pub fn push(ctx: &Context, name: &str, version: &str, file: &Path, promote: bool) -> Result<()> {
    ctx.cache()?;
    let package = PackageRef::new(Kind::Run, name)?;
    check_version(version)?;
    let release = Release {
        version: Some(version),
        promote,
        localname: None,
    };
    // Before the file is read and its blobs sent.
    check_new(
        ctx,
        name,
        Kind::Run,
        &release,
        "push it as another version (`pyk push NAME NEW_VERSION FILE`)",
    )?;
    let meta =
        std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", file.display());
    }
    let upload = Upload {
        files: vec![UploadFile {
            file,
            ranges: vec![(0, meta.len())],
            platform: None,
        }],
        package,
        python: String::new(),
        format: FORMAT_FILE,
        executable: meta.permissions().mode() & 0o111 != 0,
        api: None,
    };
    send(ctx, &upload, &release)
}

fn send(ctx: &Context, upload: &Upload, release: &Release) -> Result<()> {
    let (cache, progress) = (ctx.cache()?, &ctx.progress);
    // Every blob of the version once, in the order first met: (sha256, len, file, offset).
    let mut blobs: Vec<(Sha256, u64, &Path, u64)> = Vec::new();
    let mut platforms = Vec::new();
    let mut artifact_sha256 = None;
    for f in &upload.files {
        let (shas, whole) = hash_ranges(f.file, &f.ranges)?;
        artifact_sha256.get_or_insert(whole);
        for (&sha256, &(offset, len)) in shas.iter().zip(&f.ranges) {
            if !blobs.iter().any(|b| b.0 == sha256) {
                blobs.push((sha256, len, f.file, offset));
            }
        }
        if let Some(platform) = &f.platform {
            platforms.push(PlatformArtifact {
                platform: platform.clone(),
                artifact_sha256: whole.to_string(),
                size: f.ranges.iter().map(|r| r.1).sum(),
                blobs: shas.iter().map(Sha256::to_string).collect(),
            });
        }
    }
    let artifact_sha256 = artifact_sha256.context("nothing to publish")?;
    let size: u64 = blobs.iter().map(|b| b.1).sum();

    let client = writer(ctx.config)?;
    if let Some(localname) = release.localname {
        client.set_localname(&upload.package, localname)?;
    }
    let (mut sent, mut had) = (0u64, 0u64);
    for &(sha256, len, file, offset) in &blobs {
        if client.has_blob(&sha256)? {
            had += len;
        } else {
            client.upload_blob(&sha256, file, offset, len, progress)?;
            sent += len;
        }
    }
    let api = match &upload.api {
        Some(json) => Some(upload_api(&client, json, progress)?),
        None => None,
    };
    let request = PublishRequest {
        artifact_sha256: artifact_sha256.to_string(),
        size,
        python: upload.python.clone(),
        blobs: blobs
            .into_iter()
            .map(|(sha256, size, _, _)| BlobRef {
                sha256: sha256.to_string(),
                size,
            })
            .collect(),
        version: release.version.map(str::to_owned),
        promote: release.promote,
        format: upload.format.to_owned(),
        executable: upload.executable,
        // Signed with the version: what `pyk pull` writes it to on machines that trust
        // keys (the package's local name, below, is anyone's with the write key).
        signed_localname: release.localname.map(str::to_owned),
        // The client signs (see `repo::writer`).
        signature: None,
        latest: None,
        api,
        platforms,
    };
    let published = client.publish(&upload.package, &request)?;
    seed_cache(cache, &upload.files, &published.manifest, release.promote);
    let names = published.manifest.platform_names();
    let platforms = match names.len() {
        0 | 1 => String::new(),
        _ => format!(" for {}", names.join(", ")),
    };
    progress.step(&format!(
        "Published {} {} version {}{}{platforms} ({}) to {}: uploaded {}, the server already had {}",
        upload.package.kind(),
        upload.package.name(),
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

/// Uploads the API tree as a blob (unless the server has it: an unchanged app has the
/// same tree) and names it for the manifest.
fn upload_api(client: &pyk_client::Client, json: &[u8], progress: &Progress) -> Result<BlobRef> {
    let sha256 = Sha256::of(json);
    if !client.has_blob(&sha256)? {
        let mut tmp = tempfile::NamedTempFile::new().context("cannot create a temporary file")?;
        io::Write::write_all(&mut tmp, json).context("cannot write a temporary file")?;
        client.upload_blob(&sha256, tmp.path(), 0, json.len() as u64, progress)?;
    }
    Ok(BlobRef {
        sha256: sha256.to_string(),
        size: json.len() as u64,
    })
}

/// This machine has the bytes already: put them in the runner's cache (the trailer blob,
/// the layers unpacked of the artifact this machine runs), so running the package here
/// needs no download. Best effort: the cache is only an optimisation.
fn seed_cache(cache: &Cache, files: &[UploadFile], manifest: &Manifest, promoted: bool) {
    let here = pyk_protocol::dist::platform();
    let mine = files.iter().find(|f| match &f.platform {
        Some(p) => *p == here || p == platforms::ANY,
        None => true,
    });
    if let Some(f) = mine {
        let _ = Packages::new(cache).adopt(f.file, manifest, promoted);
    }
}
