//! The package endpoints: manifests, versions, the `latest` pointer, local names.
//!
//! Manifests are checked before they are returned: one for another package or version
//! than asked for, or with a version or digest no server accepts, is [`Damage::Manifest`],
//! so callers can use their names in paths. (Whether to trust them is [`crate::Trust`]'s
//! question.)
//!
//! A client with a signer signs what it changes (see `pyk_protocol::statement`): a
//! publish signs its version statement, and every change that moves `latest` (a
//! promoted publish, a promote, a yank or a forced delete of the latest) carries a
//! latest statement naming where `latest` goes. Signing needs facts first (the next
//! automatic version, the last pointer's time, where a yank falls back to), so a
//! signed change asks for them, and asks again if another writer got in between.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pyk_crypto::sign::SigningKey;
use pyk_protocol::api::{
    LatestPointer, LocalnameRequest, Manifest, NextVersion, PackageList, PackageSummary,
    PromoteRequest, PublishRequest, PublishResponse, Signature, VersionList, YankRequest,
    CODE_STALE_LATEST, CODE_VERSION_EXISTS, CODE_WRONG_LATEST,
};
use pyk_protocol::names::{check_localname, check_version};
use pyk_protocol::statement::{now_ms, LatestStatement, Statement, MAX_LEAD_MS};
use pyk_protocol::{valid_version, PackageRef, Sha256};

use crate::client::{Bound, Http, Transport};
use crate::{Answer, Client, Damage, Error, TrustError};

/// How many times a signed change is tried when other writers keep getting in between.
const RETRIES: u32 = 12;

/// A pause before trying again, growing with the attempt and jittered (from the clock's
/// nanoseconds), so that writers that collided do not collide again in step.
fn back_off(attempt: u32) {
    let jitter = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()) % 50);
    std::thread::sleep(Duration::from_millis(u64::from(attempt) * 20 + jitter));
}

fn path(package: &PackageRef) -> String {
    format!("/v1/packages/{}/{}", package.kind(), package.name())
}

fn of(version: &str, package: &PackageRef) -> String {
    format!("version {version} of {package}")
}

impl Client {
    /// The manifest `latest` points at, or `None` when `etag` is still current (304).
    pub fn current(
        &self,
        package: &PackageRef,
        etag: Option<&str>,
    ) -> Result<Option<Manifest>, Error> {
        let http = match &self.transport {
            Transport::Bucket(bucket) => return bucket.current(package, etag),
            Transport::Http(http) => http,
        };
        let what = package.to_string();
        let resp = http.check(http.get(&path(package), etag, Bound::Answer)?, &what)?;
        if resp.status().as_u16() == 304 {
            return Ok(None);
        }
        http.manifest(resp, package, None).map(Some)
    }

    /// One version's manifest, yanked or not; `None` when `etag` is still current.
    pub fn version(
        &self,
        package: &PackageRef,
        version: &str,
        etag: Option<&str>,
    ) -> Result<Option<Manifest>, Error> {
        check_version(version)?;
        let http = match &self.transport {
            Transport::Bucket(bucket) => return bucket.version(package, version, etag),
            Transport::Http(http) => http,
        };
        let what = of(version, package);
        let url = format!("{}/versions/{version}", path(package));
        let resp = http.check(http.get(&url, etag, Bound::Answer)?, &what)?;
        if resp.status().as_u16() == 304 {
            return Ok(None);
        }
        http.manifest(resp, package, Some(version)).map(Some)
    }

    pub fn versions(&self, package: &PackageRef) -> Result<VersionList, Error> {
        let http = match &self.transport {
            Transport::Bucket(bucket) => return bucket.versions(package),
            Transport::Http(http) => http,
        };
        let what = package.to_string();
        let url = format!("{}/versions", path(package));
        let resp = http.check(http.get(&url, None, Bound::Answer)?, &what)?;
        http.json(resp, &what)
    }

    pub fn list(&self) -> Result<Vec<PackageSummary>, Error> {
        let http = match &self.transport {
            Transport::Bucket(bucket) => return bucket.list(),
            Transport::Http(http) => http,
        };
        let resp = http.check(
            http.get("/v1/packages", None, Bound::Answer)?,
            "package list",
        )?;
        Ok(http.json::<PackageList>(resp, "the package list")?.packages)
    }

    /// Long-polls until the package's latest version differs from `after` (`""`: until
    /// there is one); `None` when `secs` pass first.
    pub fn watch(
        &self,
        package: &PackageRef,
        after: &str,
        secs: u64,
    ) -> Result<Option<Manifest>, Error> {
        if !after.is_empty() {
            check_version(after)?;
        }
        let http = match &self.transport {
            Transport::Bucket(bucket) => return bucket.watch(package, after, secs),
            Transport::Http(http) => http,
        };
        // A `+` in a query string would arrive as a space; versions have no other
        // character that needs escaping.
        let after = after.replace('+', "%2B");
        let url = format!("{}/watch?after={after}&timeout={secs}", path(package));
        let wait = Duration::from_secs(secs + 10);
        let resp = http.check(
            http.get(&url, None, Bound::Wait(wait))?,
            &package.to_string(),
        )?;
        if resp.status().as_u16() == 304 {
            return Ok(None);
        }
        http.manifest(resp, package, None).map(Some)
    }

    /// What a signer needs before it signs: the next automatic version and the time of
    /// the last signed move of `latest`.
    pub fn next(&self, package: &PackageRef) -> Result<NextVersion, Error> {
        let http = match &self.transport {
            Transport::Bucket(bucket) => return bucket.next(package),
            Transport::Http(http) => http,
        };
        let what = package.to_string();
        let url = format!("{}/next", path(package));
        let resp = http.check(http.get(&url, None, Bound::Answer)?, &what)?;
        http.json(resp, &what)
    }

    /// Publishes a version. With a signer the version statement is signed (an
    /// automatic version is asked for first) and, with `promote`, the move of `latest`.
    pub fn publish(
        &self,
        package: &PackageRef,
        request: &PublishRequest,
    ) -> Result<PublishResponse, Error> {
        let what = format!("publishing {package}");
        let Some(signer) = &self.signer else {
            return self.send_publish(package, request, &what);
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let next = self.next(package)?;
            let mut signed = request.clone();
            let version = request.version.clone().unwrap_or(next.version);
            let statement = request.statement(package.kind(), package.name(), &version);
            signed.signature = Some(self.sign(signer, &statement, &what)?);
            signed.latest = match request.promote {
                true => Some(self.pointer(signer, package, &version, next.latest_issued)?),
                false => None,
            };
            signed.version = Some(version);
            let result = self.send_publish(package, &signed, &what);
            // Another writer took the automatic number, or moved `latest`, in between.
            let raced = |e: &Error| {
                (request.version.is_none() && e.has_code(CODE_VERSION_EXISTS))
                    || e.has_code(CODE_STALE_LATEST)
            };
            match result {
                Err(e) if attempt < RETRIES && raced(&e) => back_off(attempt),
                other => return other,
            }
        }
    }

    /// Sends a publish request (signed or not) by whichever transport this client has.
    fn send_publish(
        &self,
        package: &PackageRef,
        request: &PublishRequest,
        what: &str,
    ) -> Result<PublishResponse, Error> {
        let http = match &self.transport {
            Transport::Bucket(bucket) => return bucket.publish(package, request),
            Transport::Http(http) => http,
        };
        let resp = http.write("POST", &path(package), Some(request), what)?;
        http.json(resp, what)
    }

    /// Moves `latest` to `version`, newer or older (a rollback).
    pub fn promote(&self, package: &PackageRef, version: &str) -> Result<Manifest, Error> {
        check_version(version)?;
        let what = of(version, package);
        let url = format!("{}/promote", path(package));
        self.moving_latest(package, |latest| {
            let target = latest.map(|_| version.to_owned());
            let body = PromoteRequest {
                version: version.to_owned(),
                latest: self.pointer_to(package, target.as_deref(), latest)?,
            };
            let http = match &self.transport {
                Transport::Bucket(bucket) => {
                    return bucket.promote(package, version, body.latest.as_ref())
                }
                Transport::Http(http) => http,
            };
            let resp = http.write("POST", &url, Some(&body), &what)?;
            http.json(resp, &what)
        })
    }

    pub fn yank(
        &self,
        package: &PackageRef,
        version: &str,
        yanked: bool,
    ) -> Result<Manifest, Error> {
        check_version(version)?;
        let what = of(version, package);
        let url = format!("{}/versions/{version}/yank", path(package));
        self.moving_latest(package, |latest| {
            let target = match (latest, yanked) {
                (Some(_), true) => self.falls_back_to(package, version)?,
                _ => None,
            };
            let body = YankRequest {
                yanked,
                latest: self.pointer_to(package, target.as_deref(), latest)?,
            };
            let http = match &self.transport {
                Transport::Bucket(bucket) => {
                    return bucket.yank(package, version, yanked, body.latest.as_ref())
                }
                Transport::Http(http) => http,
            };
            let resp = http.write("POST", &url, Some(&body), &what)?;
            http.json(resp, &what)
        })
    }

    /// Runs a change that may move `latest`: with a signer, `change` is given the last
    /// pointer's time (`None` without a signer) and tried again if another writer
    /// moved `latest` in between.
    fn moving_latest<T>(
        &self,
        package: &PackageRef,
        change: impl Fn(Option<u64>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if self.signer.is_none() {
            return change(None);
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let issued = self.next(package)?.latest_issued;
            match change(Some(issued)) {
                Err(e)
                    if attempt < RETRIES
                        && (e.has_code(CODE_STALE_LATEST) || e.has_code(CODE_WRONG_LATEST)) =>
                {
                    back_off(attempt)
                }
                other => return other,
            }
        }
    }

    /// The signed pointer to `target`, when there is a signer (`last`: the time of the
    /// last pointer) and `latest` goes somewhere.
    fn pointer_to(
        &self,
        package: &PackageRef,
        target: Option<&str>,
        last: Option<u64>,
    ) -> Result<Option<LatestPointer>, Error> {
        match (&self.signer, target, last) {
            (Some(signer), Some(version), Some(last)) => {
                self.pointer(signer, package, version, last).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// A latest statement for `version`, issued now, or just after `last` when this
    /// machine's clock is a little behind the one that signed it. Never dated more than
    /// `MAX_LEAD_MS` ahead of this clock: `last` comes from an answer anyone between
    /// here and the server may have written, and a pointer dated years ahead would
    /// outrank every genuine one until then.
    fn pointer(
        &self,
        signer: &SigningKey,
        package: &PackageRef,
        version: &str,
        last: u64,
    ) -> Result<LatestPointer, Error> {
        let now = now_ms();
        let issued = now.max(last.saturating_add(1));
        if issued - now > MAX_LEAD_MS {
            return Err(Error::AheadOfClock {
                server: self.server().to_owned(),
                package: package.to_string(),
                last,
                ahead: (issued - now) / 1000,
            });
        }
        let statement = LatestStatement {
            kind: package.kind(),
            name: package.name(),
            version,
            issued,
        };
        Ok(LatestPointer {
            version: version.to_owned(),
            issued,
            signature: self.sign(signer, &statement, &format!("latest of {package}"))?,
        })
    }

    fn sign(
        &self,
        signer: &SigningKey,
        statement: &impl Statement,
        what: &str,
    ) -> Result<Signature, Error> {
        signer.sign(statement).map_err(|source| Error::Sign {
            what: what.to_owned(),
            source,
        })
    }

    /// Where `latest` goes if `leaving` stops being eligible: `None` if it is not the
    /// latest or nothing is left (the server's rule: the newest other version, in
    /// publish order, that is not yanked). The list of versions is unauthenticated, so
    /// it only names the candidate: this client fetches it and signs a move to it only
    /// if it is signed by a key it vouches for and not yanked. (Whether the versions
    /// passed over are really yanked, the list alone says; see the README's threat
    /// model.)
    fn falls_back_to(&self, package: &PackageRef, leaving: &str) -> Result<Option<String>, Error> {
        let list = self.versions(package)?;
        if list.latest.as_deref() != Some(leaving) {
            return Ok(None);
        }
        let Some(candidate) = list
            .versions
            .iter()
            .rev()
            .find(|v| !v.yanked && v.version != leaving)
        else {
            return Ok(None);
        };
        let unvouched = |source| Error::Unvouched {
            package: package.to_string(),
            version: candidate.version.clone(),
            source: Box::new(source),
        };
        let manifest = self
            .version(package, &candidate.version, None)?
            .ok_or_else(|| {
                unvouched(TrustError::Unsigned {
                    what: "its manifest (a 304 to a question pyk did not ask)".into(),
                })
            })?;
        self.vouched
            .verify(&manifest, Answer::Version)
            .map_err(unvouched)?;
        match manifest.yanked {
            false => Ok(Some(manifest.version)),
            true => Err(Error::Damaged {
                server: self.server().to_owned(),
                what: manifest_what(package, Some(&candidate.version)),
                damage: Damage::Manifest("the list of versions says it is not yanked".into()),
            }),
        }
    }

    /// Removes a whole package.
    pub fn remove(&self, package: &PackageRef) -> Result<(), Error> {
        let http = match &self.transport {
            Transport::Bucket(bucket) => return bucket.remove(package),
            Transport::Http(http) => http,
        };
        http.write::<()>("DELETE", &path(package), None, &package.to_string())
            .map(drop)
    }

    /// Removes one version; `force` allows the one `latest` points at (a DELETE has no
    /// body: the pointer to where `latest` goes travels in the query).
    pub fn remove_version(
        &self,
        package: &PackageRef,
        version: &str,
        force: bool,
    ) -> Result<(), Error> {
        check_version(version)?;
        let what = of(version, package);
        self.moving_latest(package, |latest| {
            let target = match (latest, force) {
                (Some(_), true) => self.falls_back_to(package, version)?,
                _ => None,
            };
            let pointer = self.pointer_to(package, target.as_deref(), latest)?;
            let http = match &self.transport {
                Transport::Bucket(bucket) => {
                    return bucket.remove_version(package, version, force, pointer.as_ref())
                }
                Transport::Http(http) => http,
            };
            let mut url = format!("{}/versions/{version}", path(package));
            if force {
                url.push_str("?force=true");
            }
            if let Some(p) = pointer {
                // Versions may hold a '+', which a query would read as a space.
                url.push_str(&format!(
                    "&latest={}&issued={}&key={}&sig={}",
                    p.version.replace('+', "%2B"),
                    p.issued,
                    p.signature.key,
                    p.signature.sig
                ));
            }
            http.write::<()>("DELETE", &url, None, &what).map(drop)
        })
    }

    /// Sets the file name `pyk pull` writes the package to.
    pub fn set_localname(&self, package: &PackageRef, localname: &str) -> Result<(), Error> {
        check_localname(localname)?;
        let http = match &self.transport {
            Transport::Bucket(bucket) => return bucket.set_localname(package, localname),
            Transport::Http(http) => http,
        };
        let body = LocalnameRequest {
            localname: localname.to_owned(),
        };
        let url = format!("{}/localname", path(package));
        http.write("PUT", &url, Some(&body), &package.to_string())
            .map(drop)
    }
}

impl Http {
    /// A manifest answer, checked against what was asked for.
    fn manifest(
        &self,
        resp: ureq::http::Response<ureq::Body>,
        package: &PackageRef,
        version: Option<&str>,
    ) -> Result<Manifest, Error> {
        let m: Manifest = self.json(resp, &manifest_what(package, version))?;
        checked(m, package, version, &self.base)
    }
}

/// What a manifest is called in messages.
fn manifest_what(package: &PackageRef, version: Option<&str>) -> String {
    match version {
        Some(v) => format!("the manifest of {}", of(v, package)),
        None => format!("the manifest of {package}"),
    }
}

/// A manifest as a repository (`server`) sent it, refused if it is for another package
/// or version than asked for, or has a version, digest or platforms no repository
/// accepts.
pub(crate) fn checked(
    m: Manifest,
    package: &PackageRef,
    version: Option<&str>,
    server: &str,
) -> Result<Manifest, Error> {
    let wrong = if m.kind != package.kind()
        || m.name != package.name()
        || version.is_some_and(|v| v != m.version)
    {
        Some(format!(
            "it is for {} {:?} version {:?}",
            m.kind, m.name, m.version
        ))
    } else if !valid_version(&m.version) {
        Some(format!("its version {:?} is not one", m.version))
    } else if m.artifact_sha256.parse::<Sha256>().is_err()
        || m.blobs.iter().any(|b| b.sha256.parse::<Sha256>().is_err())
    {
        Some("it has a malformed digest".to_owned())
    } else if let Err(misfit) =
        pyk_protocol::platforms::check(&m.format, &m.artifact_sha256, &m.blobs, &m.platforms)
    {
        Some(misfit.to_string())
    } else {
        None
    };
    match wrong {
        Some(why) => Err(Error::Damaged {
            server: server.to_owned(),
            what: manifest_what(package, version),
            damage: Damage::Manifest(why),
        }),
        None => Ok(m),
    }
}
