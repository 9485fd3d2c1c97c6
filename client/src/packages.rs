//! The package endpoints: manifests, versions, the `latest` pointer, local names.
//!
//! Manifests are checked before they are returned: one for another package or version
//! than asked for, or with a version or digest no server accepts, is [`Damage::Manifest`],
//! so callers can use their names in paths.

use std::time::Duration;

use pyk_protocol::api::{
    LocalnameRequest, Manifest, PackageList, PackageSummary, PromoteRequest, PublishRequest,
    PublishResponse, VersionList, YankRequest,
};
use pyk_protocol::names::{check_localname, check_version};
use pyk_protocol::{valid_version, PackageRef, Sha256};

use crate::{Client, Damage, Error};

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
        if let Some(bucket) = &self.bucket {
            return bucket.current(package, etag);
        }
        let what = package.to_string();
        let resp = self.check(self.get(&path(package), etag, None)?, &what)?;
        if resp.status().as_u16() == 304 {
            return Ok(None);
        }
        self.manifest(resp, package, None).map(Some)
    }

    /// One version's manifest, yanked or not; `None` when `etag` is still current.
    pub fn version(
        &self,
        package: &PackageRef,
        version: &str,
        etag: Option<&str>,
    ) -> Result<Option<Manifest>, Error> {
        check_version(version)?;
        if let Some(bucket) = &self.bucket {
            return bucket.version(package, version, etag);
        }
        let what = of(version, package);
        let url = format!("{}/versions/{version}", path(package));
        let resp = self.check(self.get(&url, etag, None)?, &what)?;
        if resp.status().as_u16() == 304 {
            return Ok(None);
        }
        self.manifest(resp, package, Some(version)).map(Some)
    }

    pub fn versions(&self, package: &PackageRef) -> Result<VersionList, Error> {
        if let Some(bucket) = &self.bucket {
            return bucket.versions(package);
        }
        let what = package.to_string();
        let url = format!("{}/versions", path(package));
        let resp = self.check(self.get(&url, None, None)?, &what)?;
        self.json(resp, &what)
    }

    pub fn list(&self) -> Result<Vec<PackageSummary>, Error> {
        if let Some(bucket) = &self.bucket {
            return bucket.list();
        }
        let resp = self.check(self.get("/v1/packages", None, None)?, "package list")?;
        Ok(self.json::<PackageList>(resp, "the package list")?.packages)
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
        if let Some(bucket) = &self.bucket {
            return bucket.watch(package, after, secs);
        }
        // A `+` in a query string would arrive as a space; versions have no other
        // character that needs escaping.
        let after = after.replace('+', "%2B");
        let url = format!("{}/watch?after={after}&timeout={secs}", path(package));
        let wait = Duration::from_secs(secs + 10);
        let resp = self.check(self.get(&url, None, Some(wait))?, &package.to_string())?;
        if resp.status().as_u16() == 304 {
            return Ok(None);
        }
        self.manifest(resp, package, None).map(Some)
    }

    pub fn publish(
        &self,
        package: &PackageRef,
        request: &PublishRequest,
    ) -> Result<PublishResponse, Error> {
        if let Some(bucket) = &self.bucket {
            return bucket.publish(package, request);
        }
        let what = format!("publishing {package}");
        let resp = self.write("POST", &path(package), Some(request), &what)?;
        self.json(resp, &what)
    }

    /// Moves `latest` to `version`, newer or older (a rollback).
    pub fn promote(&self, package: &PackageRef, version: &str) -> Result<Manifest, Error> {
        check_version(version)?;
        if let Some(bucket) = &self.bucket {
            return bucket.promote(package, version);
        }
        let what = of(version, package);
        let body = PromoteRequest {
            version: version.to_owned(),
        };
        let url = format!("{}/promote", path(package));
        let resp = self.write("POST", &url, Some(&body), &what)?;
        self.json(resp, &what)
    }

    pub fn yank(
        &self,
        package: &PackageRef,
        version: &str,
        yanked: bool,
    ) -> Result<Manifest, Error> {
        check_version(version)?;
        if let Some(bucket) = &self.bucket {
            return bucket.yank(package, version, yanked);
        }
        let what = of(version, package);
        let url = format!("{}/versions/{version}/yank", path(package));
        let resp = self.write("POST", &url, Some(&YankRequest { yanked }), &what)?;
        self.json(resp, &what)
    }

    /// Removes a whole package.
    pub fn remove(&self, package: &PackageRef) -> Result<(), Error> {
        if let Some(bucket) = &self.bucket {
            return bucket.remove(package);
        }
        self.write::<()>("DELETE", &path(package), None, &package.to_string())
            .map(drop)
    }

    /// Removes one version; `force` allows the one `latest` points at.
    pub fn remove_version(
        &self,
        package: &PackageRef,
        version: &str,
        force: bool,
    ) -> Result<(), Error> {
        check_version(version)?;
        if let Some(bucket) = &self.bucket {
            return bucket.remove_version(package, version, force);
        }
        let url = format!(
            "{}/versions/{version}{}",
            path(package),
            if force { "?force=true" } else { "" }
        );
        self.write::<()>("DELETE", &url, None, &of(version, package))
            .map(drop)
    }

    /// Sets the file name `pyk pull` writes the package to.
    pub fn set_localname(&self, package: &PackageRef, localname: &str) -> Result<(), Error> {
        check_localname(localname)?;
        if let Some(bucket) = &self.bucket {
            return bucket.set_localname(package, localname);
        }
        let body = LocalnameRequest {
            localname: localname.to_owned(),
        };
        let url = format!("{}/localname", path(package));
        self.write("PUT", &url, Some(&body), &package.to_string())
            .map(drop)
    }

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
/// or version than asked for, or has a version or digest no repository accepts.
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
