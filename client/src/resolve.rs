//! Resolution: which version of a package runs here, and making it ready from layers.
//!
//! One request for the package's current version (with the ETag of the cached one), a
//! fetch only of what changed, and whenever that answer cannot be trusted (the server
//! is unreachable or too slow, fails, sends something damaged, or a manifest no trusted
//! key vouches for: [`Error::distrusts_answer`]) the cached version instead
//! ([`Resolved::offline`] says why; the caller warns). A fixed version (`foo@1.3.0`, a pin) never changes, so a cached one is
//! used without asking at all ([`Resolver::cached`]).
//!
//! Fetching a program fetches its trailer blob (the layer table, kept in `blobs-v1`) and
//! then only the layers not unpacked yet (no unit at all when the view of the units is made
//! already): each is streamed (decrypted, verified) to a temp
//! file, unpacked into its bucket through `pyk_artifact::install` — under the entry's
//! lock, so concurrent first runs download it once — and the temp file deleted. No whole
//! artifact is assembled. Every manifest passes [`Trust`] before any of its bytes are
//! fetched, kept or unpacked.

use std::fs::File;

use pyk_artifact::{install, side_by_side};
use pyk_protocol::api::Manifest;
use pyk_protocol::names::check_version;
use pyk_protocol::{PackageRef, Sha256};

use crate::local::{self, Contents, Packages};
use crate::{Answer, Client, Damage, Error, Progress, Trust};

/// The cached version of a package, vouched for, and its contents when all of them are
/// here.
struct Here {
    manifest: Manifest,
    contents: Option<Contents>,
}

/// A 304 to a request sent without an ETag.
fn not_asked(client: &Client, package: &PackageRef) -> Error {
    Error::Damaged {
        server: client.server().to_owned(),
        what: format!("the answer about {package}"),
        damage: Damage::Manifest("a 304 to a question pyk did not ask".into()),
    }
}

/// A version ready to run, import or pull.
pub struct Resolved {
    pub manifest: Manifest,
    pub contents: Contents,
    /// Why the server's answer was not taken: the cached version serves instead.
    pub offline: Option<Error>,
}

/// What to resolve: a package, at a version or at its latest.
pub struct Request<'a> {
    pub package: PackageRef,
    pub version: Option<&'a str>,
}

impl<'a> Request<'a> {
    /// `foo` or `foo@1.3.0` (`version`, when given, wins over the one in `spec`).
    pub fn parse(
        kind: pyk_protocol::Kind,
        spec: &'a str,
        version: Option<&'a str>,
    ) -> Result<Request<'a>, Error> {
        let (name, at) = match spec.split_once('@') {
            Some((name, at)) => (name, Some(at)),
            None => (spec, None),
        };
        let version = version.or(at);
        if let Some(v) = version {
            check_version(v)?;
        }
        Ok(Request {
            package: PackageRef::new(kind, name)?,
            version,
        })
    }
}

/// Resolves packages against one cache, trusting what `trust` vouches for.
pub struct Resolver<'t> {
    packages: Packages,
    trust: &'t Trust,
}

impl<'t> Resolver<'t> {
    pub fn new(packages: Packages, trust: &'t Trust) -> Resolver<'t> {
        Resolver { packages, trust }
    }

    pub fn packages(&self) -> &Packages {
        &self.packages
    }

    /// A fixed version that is here already: nothing to ask a server.
    pub fn cached(&self, request: &Request) -> Option<Resolved> {
        let version = request.version?;
        let manifest = self
            .packages
            .manifest(&request.package, Some(version), self.trust)?;
        let contents = self.packages.present(&manifest)?;
        tracing::debug!(
            "{} version {version} is here, and a version never changes: no update check",
            request.package
        );
        Some(Resolved {
            manifest,
            contents,
            offline: None,
        })
    }

    /// Brings the package (at `request.version`, else at latest) up to date with the
    /// server, or falls back to the cached version when the answer cannot be trusted.
    pub fn resolve(
        &self,
        client: &Client,
        request: &Request,
        progress: &dyn Progress,
    ) -> Result<Resolved, Error> {
        if let Some(resolved) = self.cached(request) {
            return Ok(resolved);
        }
        let package = &request.package;
        let (answer, here) = self.ask_while_checking(client, request);
        if let (Ok(None), Some(here)) = (&answer, &here) {
            tracing::debug!("{package}: not modified, version {}", here.manifest.version);
        }
        let manifest = match answer {
            Ok(Some(manifest)) => manifest,
            Ok(None) => match here {
                // 304, the usual answer: the cached version, ready.
                Some(Here {
                    manifest,
                    contents: Some(contents),
                }) => {
                    self.packages.confirmed(&manifest)?;
                    return Ok(Resolved {
                        manifest,
                        contents,
                        offline: None,
                    });
                }
                Some(Here { ref manifest, .. }) => manifest.clone(),
                None => return Err(not_asked(client, package)),
            },
            Err(e) if e.distrusts_answer() => return self.offline(package, here, e),
            Err(e) => return Err(e),
        };
        let contents = match self.fetch(client, &manifest, progress) {
            Ok(contents) => contents,
            Err(e) if e.distrusts_answer() => return self.offline(package, here, e),
            Err(e) => return Err(e),
        };
        self.packages
            .remember(&manifest, request.version.is_some())?;
        Ok(Resolved {
            manifest,
            contents,
            offline: None,
        })
    }

    /// Asks the server (with the cached version's ETag) while a second thread checks the
    /// cached version and makes it ready: its signatures are a third of a warm run's own
    /// work, which then hides in the wait for the answer, a 304 as a rule. A 304 about a
    /// cached version no trusted key vouches for any more is asked again without the ETag.
    fn ask_while_checking(
        &self,
        client: &Client,
        request: &Request,
    ) -> (Result<Option<Manifest>, Error>, Option<Here>) {
        let Some(unchecked) = self.packages.unchecked(&request.package, request.version) else {
            return (self.ask(client, request, None), None);
        };
        let etag = unchecked.etag();
        let (answer, here) = side_by_side::both(
            || self.here(&unchecked),
            || self.ask(client, request, Some(&etag)),
        );
        match (answer, here) {
            (Ok(None), None) => (self.ask(client, request, None), None),
            answered => answered,
        }
    }

    /// The cached version, if a trusted key still vouches for it, with its contents if
    /// they are all here.
    fn here(&self, unchecked: &Manifest) -> Option<Here> {
        let manifest = self.packages.vouched(unchecked.clone(), self.trust)?;
        let contents = self.packages.present(&manifest);
        Some(Here { manifest, contents })
    }

    /// The manifest of the version `request` names, checked by [`Trust`]; no contents
    /// are fetched (`pyk pull` writes whole files instead) and there is no offline
    /// fallback. A fixed version already here is not asked for.
    pub fn manifest(&self, client: &Client, request: &Request) -> Result<Manifest, Error> {
        let cached = self
            .packages
            .manifest(&request.package, request.version, self.trust);
        if let (Some(manifest), Some(_)) = (&cached, request.version) {
            return Ok(manifest.clone());
        }
        match self.ask(
            client,
            request,
            cached.as_ref().map(Manifest::etag).as_deref(),
        )? {
            Some(manifest) => Ok(manifest),
            None => cached.ok_or_else(|| not_asked(client, &request.package)),
        }
    }

    /// One request to the server, sending `etag` (the cached version's): its answer
    /// verified before anything of it is used, or `None` for a 304.
    fn ask(
        &self,
        client: &Client,
        request: &Request,
        etag: Option<&str>,
    ) -> Result<Option<Manifest>, Error> {
        let package = &request.package;
        let answer = match request.version {
            Some(v) => client.version(package, v, None),
            None => client.current(package, etag),
        };
        let Some(manifest) = answer? else {
            return Ok(None);
        };
        tracing::debug!(
            "{package}: the server answered with version {}",
            manifest.version
        );
        let asked = match request.version {
            Some(_) => Answer::Version,
            None => Answer::Latest,
        };
        self.trust.verify(&manifest, asked)?;
        Ok(Some(manifest))
    }

    /// The server's answer cannot be trusted: the cached version, if it is whole here.
    /// Without one, the network's failure is told as a package never fetched, and any
    /// other as what it is.
    fn offline(
        &self,
        package: &PackageRef,
        here: Option<Here>,
        e: Error,
    ) -> Result<Resolved, Error> {
        let ready = here.and_then(|h| h.contents.map(|c| (h.manifest, c)));
        match &ready {
            Some((m, _)) => tracing::debug!(
                "{package}: the cached version {} runs instead of the server's answer: {e}",
                m.version
            ),
            None => tracing::debug!("{package}: no cached version to fall back on: {e}"),
        }
        match ready {
            Some((manifest, contents)) => Ok(Resolved {
                manifest,
                contents,
                offline: Some(e),
            }),
            None if e.is_network() => Err(Error::NeverFetched {
                package: package.to_string(),
                source: Box::new(e),
            }),
            None => Err(e),
        }
    }

    /// Makes `manifest`'s version present: a pushed file whole, a program's trailer and
    /// the layers not unpacked yet, of this machine's artifact.
    pub fn fetch(
        &self,
        client: &Client,
        manifest: &Manifest,
        progress: &dyn Progress,
    ) -> Result<Contents, Error> {
        let damaged = |damage| Error::Damaged {
            server: client.server().to_owned(),
            what: format!(
                "{} {} version {}",
                manifest.kind, manifest.name, manifest.version
            ),
            damage,
        };
        let dir = self.packages.blobs_dir();
        if local::is_file(manifest) {
            let blob = local::file_blob(manifest).map_err(damaged)?;
            let path = match self.packages.blob(&blob.sha256) {
                Some(path) => path,
                None => client.download_blob(&sha(&blob.sha256)?, blob.size, &dir, progress)?,
            };
            self.packages.set_mode(&path, manifest.executable)?;
            return Ok(Contents::File(path));
        }
        // This machine's artifact: the other platforms' blobs are never fetched.
        let here = local::here(manifest)?;
        let last = local::trailer_blob(&here).map_err(damaged)?;
        let trailer = match self.packages.trailer(manifest) {
            Some(trailer) => trailer,
            None => {
                // Read from the temp file before it is kept: a `pyk cache clean` running
                // beside this may remove the kept blob the moment it is renamed in.
                let sha256 = sha(&last.sha256)?;
                let tmp = client.download_blob_temp(&sha256, last.size, &dir, progress)?;
                let bytes = std::fs::read(tmp.path())
                    .map_err(|e| Error::io(format!("read {}", tmp.path().display()), e))?;
                crate::blobs::keep_blob(tmp, &sha256, &dir)?;
                local::decode_trailer(&here, &bytes)
            }
        }
        .map_err(damaged)?;
        // A program built for a newer glibc would fail in the dynamic loader: say so
        // before anything is fetched or unpacked.
        if manifest.kind == pyk_protocol::Kind::Run {
            pyk_artifact::glibc::check(trailer.glibc).map_err(|why| Error::Machine {
                what: format!("{} {}", manifest.name, manifest.version),
                why,
            })?;
        }
        let program = install::install_program(
            self.packages.cache(),
            &trailer,
            local::runs(manifest),
            |layer| {
                let tmp =
                    client.download_blob_temp(&layer.sha256, layer.span.len, &dir, progress)?;
                map(tmp.as_file())
            },
        )?;
        Ok(Contents::Layers(Box::new(local::unpacked(
            trailer, program,
        ))))
    }
}

/// A downloaded layer, mapped for unpacking (the temp file may go once it is mapped).
fn map(file: &File) -> Result<memmap2::Mmap, Error> {
    // SAFETY: a private temp file of this process's, never written again.
    unsafe { memmap2::Mmap::map(file) }.map_err(|e| Error::io("map a downloaded layer", e))
}

/// A manifest's blob name (checked when the manifest was received).
fn sha(s: &str) -> Result<Sha256, Error> {
    s.parse().map_err(|_| Error::Damaged {
        server: String::new(),
        what: "a manifest".into(),
        damage: Damage::Manifest("it has a malformed digest".into()),
    })
}

#[cfg(test)]
mod tests {
    use pyk_protocol::Kind;

    use super::*;

    #[test]
    fn a_request_takes_its_version_from_the_spec_unless_one_is_given() {
        let r = Request::parse(Kind::Run, "foo@1.3.0", None).unwrap();
        assert_eq!((r.package.name(), r.version), ("foo", Some("1.3.0")));
        let r = Request::parse(Kind::Run, "foo@1.3.0", Some("2")).unwrap();
        assert_eq!(r.version, Some("2"));
        let r = Request::parse(Kind::Lib, "foo", None).unwrap();
        assert_eq!((r.package.kind(), r.version), (Kind::Lib, None));
        assert!(Request::parse(Kind::Run, "../x", None).is_err());
        assert!(Request::parse(Kind::Run, "foo@1 2", None).is_err());
    }
}
