//! The client's cache of published packages, in the cache's buckets:
//!
//! ```text
//! packages-v1/<kind>/<name>.json             the manifest of the latest version last fetched (the ETag source)
//! packages-v1/<kind>/<name>@<version>.json   every version fetched (versions never change)
//! blobs-v1/<sha256>                          blobs kept whole: trailers, pushed files
//! runtimes-v2/, units-v1/, apps-v1/<sha256>/ unpacked layers, shared with the launcher
//! views-v1/<view key>/                       site-packages assembled from units
//! ```
//!
//! A program's version is its trailer blob (the layer table, a few KB) and its layers,
//! unpacked: no whole artifact is kept, so ten versions of an app cost one runtime, one
//! dependency layer (while it does not change) and ten app layers. Manifests go through the
//! cache's atomic-file helper; blobs are content-named and verified before they are renamed
//! in; layers are unpacked exactly once by `pyk_artifact::install`.
//!
//! With a shared cache (see `pyk_cache::root`), every read looks there too: a version an
//! administrator seeded is present without a byte written here. Files are read from this
//! user's root first, since a package's latest manifest is the one file that changes and
//! the user's copy may be the newer; unpacked layers from the shared cache first.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use pyk_artifact::extract::ExtractError;
use pyk_artifact::install::{self, Program};
use pyk_artifact::launch::Layers;
use pyk_artifact::trailer::{Layer, Trailer};
use pyk_cache::{write_file, Bucket, Cache, Existing, Held};
use pyk_protocol::api::{BlobRef, Manifest, FORMAT_FILE};
use pyk_protocol::{platforms, PackageRef};

use crate::{Answer, Damage, Error, Trust};

/// What a version is on this machine, ready to run or import.
pub enum Contents {
    /// A program or library: its layers, unpacked and held (boxed: the trailer is large).
    Layers(Box<Unpacked>),
    /// A pushed file, kept whole in `blobs-v1`.
    File(PathBuf),
}

/// The unpacked layers of one version, held (shared locks) while this value lives, so no
/// prune removes them from under it.
pub struct Unpacked {
    pub trailer: Trailer,
    program: Program,
}

impl Unpacked {
    /// The layers as the exec contract takes them (`None` for a library).
    pub fn layers(&self) -> Option<Layers<'_>> {
        self.program.layers()
    }

    /// What an importing Python puts first on `sys.path`: the app, then the dependencies.
    pub fn import_dirs(&self) -> Vec<&Path> {
        std::iter::once(self.program.app.dir())
            .chain(self.program.deps.as_ref().map(Held::dir))
            .collect()
    }

    /// Keeps the locks held in the program this process is replaced by.
    pub fn keep_across_exec(&self) -> io::Result<()> {
        self.program.keep_across_exec()
    }
}

/// The artifact of `manifest`'s version this machine runs: its own platform's, else a
/// library's for any (see `Manifest::for_platform`). What the functions below take.
pub fn here(manifest: &Manifest) -> Result<Manifest, Error> {
    manifest
        .for_platform(&pyk_protocol::dist::platform())
        .map_err(|why| Error::Platform {
            what: format!(
                "{} {} version {}",
                manifest.kind, manifest.name, manifest.version
            ),
            why,
        })
}

/// Whether a version of `manifest`'s kind runs here with its own runtime: a program does,
/// a library is imported by a Python of the user's.
pub fn runs(manifest: &Manifest) -> bool {
    manifest.kind == pyk_protocol::Kind::Run
}

/// Whether `manifest` is a pushed file rather than a pyk artifact.
pub fn is_file(manifest: &Manifest) -> bool {
    manifest.format == FORMAT_FILE
}

/// The blob of a pushed file: it is published as one.
pub fn file_blob(manifest: &Manifest) -> Result<&BlobRef, Damage> {
    match manifest.blobs.as_slice() {
        [blob] => Ok(blob),
        _ => Err(Damage::Manifest("a pushed file is one blob".into())),
    }
}

/// The trailer blob: the last, `[pylock.toml][trailer]`.
pub fn trailer_blob(manifest: &Manifest) -> Result<&BlobRef, Damage> {
    manifest
        .blobs
        .last()
        .ok_or_else(|| Damage::Manifest("it lists no blobs".into()))
}

/// Decodes a trailer blob and checks it against the manifest's blob list (of one
/// artifact: see [`here`]), which the publisher signed: `[launcher and extra
/// parts][each layer][trailer blob]`, each layer's blob named by the layer's sha256 and as
/// long as its span, and built for the platform the manifest lists it under (so one
/// platform's bytes listed as another's are refused, signed or not).
pub fn decode_trailer(manifest: &Manifest, blob: &[u8]) -> Result<Trailer, Damage> {
    let trailer = Trailer::decode(blob, manifest.size).map_err(Damage::Trailer)?;
    let blobs = &manifest.blobs;
    let fits = blobs.len() == trailer.layers.len() + 2
        && blobs[0].size == trailer.head_len()
        && trailer
            .layers
            .iter()
            .zip(&blobs[1..])
            .all(|(layer, blob)| blob.sha256 == layer.key() && blob.size == layer.span.len)
        && blobs.iter().map(|b| b.size).sum::<u64>() == manifest.size
        && trailer.kind == manifest.kind
        && trailer.name == manifest.name;
    if !fits {
        return Err(Damage::Manifest(
            "its blobs are not the layers its trailer lists".into(),
        ));
    }
    let listed = manifest
        .platform_names()
        .first()
        .copied()
        .unwrap_or_default();
    // A trailer without a platform is from before they were recorded: linux-x86_64.
    let built = trailer
        .platform
        .as_deref()
        .unwrap_or(platforms::LINUX_X86_64);
    if listed != platforms::ANY && listed != built {
        return Err(Damage::Manifest(format!(
            "its artifact listed for {listed} is built for {built}"
        )));
    }
    Ok(trailer)
}

/// A version's trailer and the entries it runs from.
pub(crate) fn unpacked(trailer: Trailer, program: Program) -> Unpacked {
    Unpacked { trailer, program }
}

/// Makes the entries `trailer` runs from out of the artifact mapped as `map`.
fn install_from(
    cache: &Cache,
    trailer: &Trailer,
    runtime: bool,
    map: &[u8],
) -> Result<Program, Error> {
    let layer =
        |l: &Layer| Ok::<_, ExtractError>(&map[l.span.offset as usize..l.span.end() as usize]);
    Ok(install::install_program(cache, trailer, runtime, layer)?)
}

/// The package cache of one cache root.
pub struct Packages {
    cache: Cache,
}

impl Packages {
    pub fn new(cache: &Cache) -> Packages {
        Packages {
            cache: cache.clone(),
        }
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    /// `<kind>/<name>[@<version>].json` in the packages bucket.
    fn manifest_name(package: &PackageRef, version: Option<&str>) -> String {
        let kind = package.kind().as_str();
        match version {
            Some(v) => format!("{kind}/{}@{v}.json", package.name()),
            None => format!("{kind}/{}.json", package.name()),
        }
    }

    /// Where blobs kept whole are written.
    pub fn blobs_dir(&self) -> PathBuf {
        self.cache.bucket(Bucket::Blobs)
    }

    /// The kept blob `sha256`, if it is here (or in the shared cache).
    pub fn blob(&self, sha256: &str) -> Option<PathBuf> {
        self.cache.file(Bucket::Blobs, sha256)
    }

    /// The manifest of the cached latest (or given) version, if `trust` still vouches for
    /// it (checked offline, from the signatures kept in the manifest; one it no longer
    /// vouches for counts as not cached).
    pub fn manifest(
        &self,
        package: &PackageRef,
        version: Option<&str>,
        trust: &Trust,
    ) -> Option<Manifest> {
        self.vouched(self.unchecked(package, version)?, trust)
    }

    /// The cached manifest of the latest (or given) version as it is kept, not yet checked
    /// by [`Trust`]: for its ETag, or for [`Packages::vouched`].
    pub fn unchecked(&self, package: &PackageRef, version: Option<&str>) -> Option<Manifest> {
        let path = self
            .cache
            .file(Bucket::Packages, &Self::manifest_name(package, version))?;
        let text = fs::read_to_string(&path).ok()?;
        let manifest: Manifest = serde_json::from_str(&text).ok()?;
        if manifest.kind != package.kind() || manifest.name != package.name() {
            return None;
        }
        tracing::debug!(
            "cache: using {} (version {})",
            path.display(),
            manifest.version
        );
        Some(manifest)
    }

    /// `manifest` (a cached one) if `trust` still vouches for it.
    pub fn vouched(&self, manifest: Manifest, trust: &Trust) -> Option<Manifest> {
        let what = format!(
            "{} {} version {}",
            manifest.kind, manifest.name, manifest.version
        );
        match trust.verify(&manifest, Answer::Version) {
            Ok(verdict) => {
                tracing::trace!("trust: {what}: {verdict:?}");
                Some(manifest)
            }
            Err(e) => {
                tracing::debug!("cache: not using {what}: {e}");
                None
            }
        }
    }

    /// Records `manifest` under its version and, unless it was asked for by version, as
    /// the package's latest. A record already there, the same (here, or in the shared
    /// cache while this root has none), is not written again.
    pub fn remember(&self, manifest: &Manifest, by_version: bool) -> Result<(), Error> {
        let json = serde_json::to_vec_pretty(manifest).expect("a manifest serializes");
        let package = PackageRef::new(manifest.kind, &manifest.name)?;
        let mut names = vec![Self::manifest_name(&package, Some(&manifest.version))];
        if !by_version {
            names.push(Self::manifest_name(&package, None));
        }
        for name in names {
            let known = self.cache.file(Bucket::Packages, &name);
            if known.is_some_and(|path| fs::read(path).is_ok_and(|kept| kept == json)) {
                continue;
            }
            self.record(&name, &json)?;
        }
        Ok(())
    }

    /// A cached version the server confirmed (a 304 to the question asked with its
    /// record, which is therefore here as it was read): only the version's own record is
    /// written, if it is missing (the run that fetched it stopped before it). A warm run
    /// reads nothing more, and writes nothing.
    pub fn confirmed(&self, manifest: &Manifest) -> Result<(), Error> {
        let package = PackageRef::new(manifest.kind, &manifest.name)?;
        let name = Self::manifest_name(&package, Some(&manifest.version));
        if self.cache.file(Bucket::Packages, &name).is_some() {
            return Ok(());
        }
        let json = serde_json::to_vec_pretty(manifest).expect("a manifest serializes");
        self.record(&name, &json)
    }

    fn record(&self, name: &str, json: &[u8]) -> Result<(), Error> {
        let path = self.cache.bucket(Bucket::Packages).join(name);
        write_file(&path, 0o644, Existing::Replace, |f| f.write_all(json))?;
        Ok(())
    }

    /// The trailer of this machine's artifact of `manifest`'s version, if its blob is kept
    /// here.
    pub fn trailer(&self, manifest: &Manifest) -> Option<Result<Trailer, Damage>> {
        let manifest = here(manifest).ok()?;
        let blob = self.blob(&trailer_blob(&manifest).ok()?.sha256)?;
        let bytes = fs::read(&blob).ok()?;
        tracing::debug!("cache: using {} (the layer table)", blob.display());
        Some(decode_trailer(&manifest, &bytes))
    }

    /// The version's contents if everything it needs is already here (no network).
    pub fn present(&self, manifest: &Manifest) -> Option<Contents> {
        if is_file(manifest) {
            let path = self.blob(&file_blob(manifest).ok()?.sha256)?;
            return Some(Contents::File(path));
        }
        let trailer = self.trailer(manifest)?.ok()?;
        let program = install::hold(&self.cache, &trailer, runs(manifest))?;
        Some(Contents::Layers(Box::new(unpacked(trailer, program))))
    }

    /// Makes a version published from this machine ready to run without a download: its
    /// trailer blob kept and its layers unpacked from the local artifact (this machine's
    /// platform's), then the manifest remembered.
    pub fn adopt(&self, artifact: &Path, whole: &Manifest, promoted: bool) -> Result<(), Error> {
        let manifest = &here(whole)?;
        let cannot_read = |e| Error::io(format!("read {}", artifact.display()), e);
        let file = File::open(artifact).map_err(cannot_read)?;
        // SAFETY: read-only, while this machine's own freshly built artifact is adopted.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(cannot_read)?;
        let damaged = |damage| Error::Damaged {
            server: "this machine".into(),
            what: artifact.display().to_string(),
            damage,
        };
        if is_file(manifest) {
            let blob = file_blob(manifest).map_err(damaged)?;
            return self.keep_blob(&blob.sha256, &map, manifest.executable);
        }
        let last = trailer_blob(manifest).map_err(damaged)?;
        let start = map.len().saturating_sub(last.size as usize);
        let trailer = decode_trailer(manifest, &map[start..]).map_err(damaged)?;
        self.keep_blob(&last.sha256, &map[start..], false)?;
        drop(install_from(&self.cache, &trailer, runs(manifest), &map)?);
        self.remember(whole, !promoted)
    }

    /// Makes an artifact file's version ready to run without a download and without its
    /// manifest (`pyk cache seed DIR FILE`): its layers unpacked, and its trailer blob (the
    /// bytes after the last layer, named by their hash as the repository names them)
    /// kept, so that `pyk NAME` finds it too once the repository names that version.
    pub fn seed_artifact(&self, artifact: &Path) -> Result<Trailer, Error> {
        let cannot_read = |e| Error::io(format!("read {}", artifact.display()), e);
        let file = File::open(artifact).map_err(cannot_read)?;
        let damaged = |damage| Error::Damaged {
            server: "this machine".into(),
            what: artifact.display().to_string(),
            damage,
        };
        let trailer = Trailer::read(&file).map_err(|e| damaged(Damage::Trailer(e)))?;
        // SAFETY: read-only, while an administrator's artifact file is unpacked.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(cannot_read)?;
        let end = trailer.layers.last().map_or(0, |l| l.span.end()) as usize;
        let tail = &map[end..];
        self.keep_blob(&pyk_protocol::Sha256::of(tail).to_string(), tail, false)?;
        drop(install_from(&self.cache, &trailer, true, &map)?);
        Ok(trailer)
    }

    /// Writes a blob whose bytes this machine has, unless it is kept already.
    fn keep_blob(&self, sha256: &str, bytes: &[u8], executable: bool) -> Result<(), Error> {
        let mode = if executable { 0o755 } else { 0o644 };
        let path = self.blobs_dir().join(sha256);
        write_file(&path, mode, Existing::Keep, |f| f.write_all(bytes))?;
        Ok(())
    }

    /// Sets a kept pushed file's executable bit as its manifest says; a file with that mode
    /// already is left alone (one in the shared cache is not ours to change).
    pub(crate) fn set_mode(&self, path: &Path, executable: bool) -> Result<(), Error> {
        let mode = if executable { 0o755 } else { 0o644 };
        if fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o7777 == mode) {
            return Ok(());
        }
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(format!("set the mode of {}", path.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use pyk_artifact::trailer::{Layer, Role, Span, Trailer};
    use pyk_cache::RootEnv;
    use pyk_protocol::{Kind, Sha256};

    use super::*;

    fn layer(role: Role, offset: u64, len: u64, tag: &[u8]) -> Layer {
        Layer {
            role,
            span: Span { offset, len },
            sha256: Sha256::of(tag),
            size: 10,
            files: 1,
            name: String::new(),
        }
    }

    fn trailer(kind: Kind) -> Trailer {
        Trailer {
            kind,
            name: "app".into(),
            python: (3, 11),
            runtime_version: "3.11.2".into(),
            runtime_source: "test".into(),
            glibc: None,
            platform: None,
            built: 1,
            entry: "app.py".into(),
            parts: vec![],
            layers: vec![
                layer(Role::Runtime, 100, 50, b"runtime"),
                layer(Role::App, 150, 20, b"app"),
            ],
            lock: None,
        }
    }

    /// A manifest listing `[stub][layers][trailer blob]` as publish uploads them.
    fn manifest(trailer: &Trailer, blob: &[u8]) -> Manifest {
        let mut blobs =
            vec![serde_json::json!({"sha256": Sha256::of(b"stub").to_string(), "size": 100})];
        for l in &trailer.layers {
            blobs.push(serde_json::json!({"sha256": l.key(), "size": l.span.len}));
        }
        blobs.push(serde_json::json!({"sha256": Sha256::of(blob).to_string(), "size": blob.len()}));
        serde_json::from_value(serde_json::json!({
            "kind": trailer.kind.as_str(), "name": "app", "version": "1", "published": 1,
            "publisher": "test", "artifact_sha256": Sha256::of(b"whole").to_string(),
            "size": 170 + blob.len() as u64, "python": "3.11", "blobs": blobs,
        }))
        .unwrap()
    }

    fn cache() -> (tempfile::TempDir, Cache) {
        let dir = tempfile::tempdir().unwrap();
        let env = RootEnv {
            pyk_cache_dir: Some(dir.path().join("cache").into()),
            ..RootEnv::default()
        };
        let cache = env.open().unwrap();
        (dir, cache)
    }

    #[test]
    fn a_trailer_blob_must_list_the_layers_the_manifest_signed() {
        let t = trailer(Kind::Run);
        let blob = t.encode().unwrap();
        let m = manifest(&t, &blob);
        assert_eq!(decode_trailer(&m, &blob).unwrap(), t);

        // A manifest whose app blob is another layer than the trailer's.
        let mut swapped = m.clone();
        swapped.blobs[2].sha256 = Sha256::of(b"other").to_string();
        assert!(matches!(
            decode_trailer(&swapped, &blob),
            Err(Damage::Manifest(_))
        ));
        // Sizes that do not add up to the artifact.
        let mut longer = m.clone();
        longer.size += 1;
        assert!(decode_trailer(&longer, &blob).is_err());
        // Not a trailer at all.
        assert!(matches!(
            decode_trailer(&m, b"junk"),
            Err(Damage::Trailer(_))
        ));
    }

    #[test]
    fn a_trailer_must_be_built_for_the_platform_it_is_listed_under() {
        let arm = Trailer {
            platform: Some("linux-aarch64".into()),
            ..trailer(Kind::Lib)
        };
        let blob = arm.encode().unwrap();
        // No platforms: the version is linux-x86_64's, and this trailer is not.
        let m = manifest(&arm, &blob);
        assert!(matches!(
            decode_trailer(&m, &blob),
            Err(Damage::Manifest(why)) if why.contains("listed for linux-x86_64 is built for linux-aarch64")
        ));
        let listed = |platform: &str| {
            let mut m = m.clone();
            m.platforms = vec![pyk_protocol::api::PlatformArtifact {
                platform: platform.into(),
                artifact_sha256: m.artifact_sha256.clone(),
                size: m.size,
                blobs: m.blobs.iter().map(|b| b.sha256.clone()).collect(),
            }];
            m
        };
        assert!(decode_trailer(&listed("linux-aarch64"), &blob).is_ok());
        assert!(decode_trailer(&listed("any"), &blob).is_ok());
        // A trailer from before platforms were recorded is linux-x86_64's.
        let old = trailer(Kind::Lib);
        let blob = old.encode().unwrap();
        assert!(decode_trailer(&manifest(&old, &blob), &blob).is_ok());
    }

    #[test]
    fn a_library_needs_no_runtime_layer() {
        let (_dir, cache) = cache();
        let packages = Packages::new(&cache);
        let t = trailer(Kind::Lib);
        let blob = t.encode().unwrap();
        let m = manifest(&t, &blob);
        packages
            .keep_blob(&m.blobs[3].sha256, &blob, false)
            .unwrap();
        let app = t.layer(Role::App).unwrap();
        drop(
            cache
                .fill(install::bucket(Role::App), &app.key(), |dir| {
                    fs::write(dir.join("x"), "x")
                })
                .unwrap(),
        );
        let Some(Contents::Layers(unpacked)) = packages.present(&m) else {
            panic!("a library with its app layer unpacked is present");
        };
        assert!(unpacked.layers().is_none(), "and has no runtime");
        assert!(install::hold(&cache, &t, true).is_none());
    }

    #[test]
    fn a_version_is_present_once_its_trailer_and_every_needed_layer_are() {
        let (_dir, cache) = cache();
        let packages = Packages::new(&cache);
        let t = trailer(Kind::Run);
        let blob = t.encode().unwrap();
        let m = manifest(&t, &blob);
        let trust = Trust::default();
        packages.remember(&m, false).unwrap();
        let package = PackageRef::new(Kind::Run, "app").unwrap();
        assert_eq!(packages.manifest(&package, None, &trust).unwrap(), m);
        assert_eq!(packages.manifest(&package, Some("1"), &trust).unwrap(), m);
        assert!(packages.manifest(&package, Some("2"), &trust).is_none());

        assert!(packages.present(&m).is_none(), "no trailer yet");
        packages
            .keep_blob(&m.blobs[3].sha256, &blob, false)
            .unwrap();
        assert!(packages.present(&m).is_none(), "no layers yet");
        for l in &t.layers {
            let filled = cache.fill(install::bucket(l.role), &l.key(), |dir| {
                fs::write(dir.join("x"), "x")
            });
            drop(filled.unwrap());
        }
        let Some(Contents::Layers(unpacked)) = packages.present(&m) else {
            panic!("present");
        };
        assert_eq!(unpacked.trailer, t);
        let layers = unpacked.layers().unwrap();
        assert!(
            layers.runtime.ends_with(t.layers[0].key()) && layers.app.ends_with(t.layers[1].key())
        );
        assert_eq!(unpacked.import_dirs(), [layers.app]);
    }

    #[test]
    fn a_pushed_file_is_its_one_blob() {
        let (_dir, cache) = cache();
        let packages = Packages::new(&cache);
        let mut m = manifest(&trailer(Kind::Run), b"t");
        m.format = FORMAT_FILE.into();
        assert!(file_blob(&m).is_err(), "a file of several blobs");
        m.blobs.truncate(1);
        assert!(packages.present(&m).is_none());
        packages
            .keep_blob(&m.blobs[0].sha256, b"#!/bin/sh\n", true)
            .unwrap();
        let Some(Contents::File(path)) = packages.present(&m) else {
            panic!("present");
        };
        assert_eq!(fs::read(path).unwrap(), b"#!/bin/sh\n");
    }
}
