//! Talking to a pyk repository over HTTP: signed requests, bounded waits, streamed and
//! verified blobs.
//!
//! Every request carries a fresh token bound to its method and path (see
//! `pyk_crypto::token`); blobs travel in the encrypted blob format and are decrypted and
//! checked against their sha256 while they stream to a temp file, which is renamed into
//! place only when whole and right.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use pyk_crypto::blob::{BlobReader, BlobWriter};
use pyk_crypto::{token, Key};
use pyk_protocol::api::{
    ErrorBody, LocalnameRequest, Manifest, PackageList, PackageSummary, PromoteRequest,
    PublishRequest, PublishResponse, VersionList, YankRequest,
};
use pyk_runtime_fetch::Progress;
use sha2::{Digest, Sha256};
use ureq::http::Response;
use ureq::Body;

/// Failures the runner treats differently from the rest.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{server} is unreachable: {why}")]
    Unreachable { server: String, why: String },
    #[error("the key does not match the server's (401 from {server}; or this machine's clock is off by over a minute)")]
    BadKey { server: String },
    #[error(
        "this key may read but not publish (403 from {server}): publishing needs the write key"
    )]
    ReadOnlyKey { server: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Other(String),
}

/// A repository client for one server.
pub struct Client {
    base: String,
    /// Signs reads and encrypts blobs: every reader must be able to decrypt them.
    key: Key,
    /// Signs writes (the read key where the repository has no separate write key).
    write_key: Key,
    node: String,
    agent: ureq::Agent,
}

impl Client {
    /// `timeout` bounds connecting and waiting for a response; bodies get longer.
    pub fn new(base: &str, key: &Key, write_key: &Key, node: &str, timeout: Duration) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(timeout))
            .timeout_recv_response(Some(timeout))
            .timeout_send_request(Some(timeout))
            .timeout_recv_body(Some(Duration::from_secs(600)))
            .timeout_send_body(Some(Duration::from_secs(600)))
            .build()
            .into();
        Client {
            base: base.trim_end_matches('/').to_owned(),
            key: key.clone(),
            write_key: write_key.clone(),
            node: node.to_owned(),
            agent,
        }
    }

    pub fn server(&self) -> &str {
        &self.base
    }

    fn auth(&self, method: &str, path: &str) -> String {
        let key = if matches!(method, "GET" | "HEAD") {
            &self.key
        } else {
            &self.write_key
        };
        token::authorization(key, method, path)
    }

    fn unreachable(&self, e: ureq::Error) -> ClientError {
        ClientError::Unreachable {
            server: self.base.clone(),
            why: e.to_string(),
        }
    }

    /// A signed GET; `wait` replaces the usual bound on waiting for the answer (long polls).
    fn get(
        &self,
        path: &str,
        etag: Option<&str>,
        wait: Option<Duration>,
    ) -> Result<Response<Body>, ClientError> {
        let mut req = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Authorization", self.auth("GET", path))
            .header("X-Pyk-Node", &self.node);
        if let Some(etag) = etag {
            req = req.header("If-None-Match", etag);
        }
        if let Some(wait) = wait {
            req = req.config().timeout_recv_response(Some(wait)).build();
        }
        req.call().map_err(|e| self.unreachable(e))
    }

    /// Maps a non-success status to an error; `what` names the thing asked for.
    fn check(&self, mut resp: Response<Body>, what: &str) -> Result<Response<Body>, ClientError> {
        let status = resp.status().as_u16();
        if resp.status().is_success() || status == 304 {
            return Ok(resp);
        }
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        let said = serde_json::from_str::<ErrorBody>(&body)
            .map(|e| e.error)
            .unwrap_or(body);
        Err(match status {
            401 => ClientError::BadKey {
                server: self.base.clone(),
            },
            403 => ClientError::ReadOnlyKey {
                server: self.base.clone(),
            },
            404 if said.is_empty() => {
                ClientError::NotFound(format!("{what}: not found on {}", self.base))
            }
            404 => ClientError::NotFound(format!("{said} on {}", self.base)),
            400 | 409 | 413 | 422 => ClientError::Other(format!("{what}: {said}")),
            _ => ClientError::Other(format!("{what}: {} says {status}: {said}", self.base)),
        })
    }

    fn json<T: serde::de::DeserializeOwned>(
        &self,
        mut resp: Response<Body>,
    ) -> Result<T, ClientError> {
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| self.unreachable(e))?;
        serde_json::from_str(&text).map_err(|e| {
            ClientError::Other(format!("{} sent a reply pyk can't read: {e}", self.base))
        })
    }

    /// The current manifest of a package, or `None` when `etag` is still current (304).
    pub fn current(
        &self,
        kind: &str,
        name: &str,
        etag: Option<&str>,
    ) -> Result<Option<Manifest>, ClientError> {
        let what = format!("{kind} package {name}");
        let resp = self.check(
            self.get(&format!("/v1/packages/{kind}/{name}"), etag, None)?,
            &what,
        )?;
        if resp.status().as_u16() == 304 {
            return Ok(None);
        }
        self.json(resp).map(Some)
    }

    pub fn list(&self) -> Result<Vec<PackageSummary>, ClientError> {
        let resp = self.check(self.get("/v1/packages", None, None)?, "package list")?;
        Ok(self.json::<PackageList>(resp)?.packages)
    }

    /// Long-polls until the package's version differs from `after`; `None` on timeout.
    pub fn watch(
        &self,
        kind: &str,
        name: &str,
        after: &str,
        secs: u64,
    ) -> Result<Option<Manifest>, ClientError> {
        // A `+` in a query string would arrive as a space; versions have no other
        // character that needs escaping.
        let after = after.replace('+', "%2B");
        let path = format!("/v1/packages/{kind}/{name}/watch?after={after}&timeout={secs}");
        let wait = Duration::from_secs(secs + 10);
        let resp = self.check(
            self.get(&path, None, Some(wait))?,
            &format!("{kind} package {name}"),
        )?;
        if resp.status().as_u16() == 304 {
            return Ok(None);
        }
        self.json(resp).map(Some)
    }

    /// Downloads blob `sha256` into `dir/<sha256>` (decrypted, verified, atomically).
    pub fn download_blob(
        &self,
        sha256: &str,
        size: u64,
        dir: &Path,
        progress: &Progress,
    ) -> Result<PathBuf> {
        let dest = dir.join(sha256);
        let resp = self.check(
            self.get(&format!("/v1/blobs/{sha256}"), None, None)?,
            &format!("blob {sha256}"),
        )?;
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".download-")
            .tempfile_in(dir)
            .with_context(|| format!("cannot write in {}", dir.display()))?;
        let bar = progress.bar(size, "downloading");
        let mut reader = BlobReader::new(&self.key, bar.wrap_read(resp.into_body().into_reader()));
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    return Err(anyhow!("refusing blob {sha256} from {}: {e}", self.base));
                }
                Err(e) => {
                    return Err(anyhow!(
                        "download of blob {sha256} from {} failed: {e}",
                        self.base
                    ))
                }
            };
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n])
                .with_context(|| format!("cannot write in {}", dir.display()))?;
        }
        bar.finish_and_clear();
        let actual = pyk_artifact::trailer::hex(&hasher.finalize());
        if actual != sha256 {
            return Err(anyhow!(
                "refusing blob {sha256} from {}: its contents hash to {actual}",
                self.base
            ));
        }
        tmp.as_file().sync_all().context("cannot sync download")?;
        tmp.persist(&dest)
            .map_err(|e| e.error)
            .with_context(|| format!("cannot write {}", dest.display()))?;
        Ok(dest)
    }

    pub fn has_blob(&self, sha256: &str) -> Result<bool, ClientError> {
        let path = format!("/v1/blobs/{sha256}");
        let resp = self
            .agent
            .head(format!("{}{path}", self.base))
            .header("Authorization", self.auth("HEAD", &path))
            .header("X-Pyk-Node", &self.node)
            .call()
            .map_err(|e| self.unreachable(e))?;
        match resp.status().as_u16() {
            404 => Ok(false),
            _ => self.check(resp, &format!("blob {sha256}")).map(|_| true),
        }
    }

    /// Encrypts `len` bytes of `file` from `offset` and uploads them as blob `sha256`,
    /// streaming (the encryption runs in a thread feeding a pipe to the request).
    pub fn upload_blob(
        &self,
        sha256: &str,
        file: &Path,
        offset: u64,
        len: u64,
        progress: &Progress,
    ) -> Result<()> {
        let path = format!("/v1/blobs/{sha256}");
        let (mut rx, tx) = io::pipe().context("cannot create a pipe")?;
        let key = self.key.clone();
        let mut src =
            File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
        let bar = progress.bar(len, "uploading");
        let writer = {
            let bar = bar.clone();
            std::thread::spawn(move || -> io::Result<()> {
                io::Seek::seek(&mut src, io::SeekFrom::Start(offset))?;
                let mut enc = BlobWriter::new(&key, tx)?;
                io::copy(&mut bar.wrap_read(src.take(len)), &mut enc)?;
                enc.finish().map(drop)
            })
        };
        let sent = self
            .agent
            .put(format!("{}{path}", self.base))
            .header("Authorization", self.auth("PUT", &path))
            .header("X-Pyk-Node", &self.node)
            // A refusal (403 for a read key, 413 for size) then comes before the body
            // is sent, not as a broken pipe halfway through it.
            .header("Expect", "100-continue")
            .send(ureq::SendBody::from_reader(&mut rx));
        drop(rx);
        let encrypted = writer
            .join()
            .map_err(|_| anyhow!("encryption thread failed"))?;
        bar.finish_and_clear();
        let resp = sent.map_err(|e| self.unreachable(e))?;
        self.check(resp, &format!("upload of blob {sha256}"))?;
        encrypted.with_context(|| format!("cannot read {}", file.display()))?;
        Ok(())
    }

    /// A write (POST/PUT/DELETE) with an optional JSON body, signed with the write key.
    fn write<B: serde::Serialize>(
        &self,
        method: &str,
        path: &str,
        body: Option<&B>,
        what: &str,
    ) -> Result<Response<Body>, ClientError> {
        let url = format!("{}{path}", self.base);
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Authorization", self.auth(method, path))
            .header("X-Pyk-Node", &self.node)
            .header("Content-Type", "application/json");
        let json = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| ClientError::Other(e.to_string()))?,
            None => Vec::new(),
        };
        let req = req
            .body(json)
            .map_err(|e| ClientError::Other(e.to_string()))?;
        let resp = self.agent.run(req).map_err(|e| self.unreachable(e))?;
        self.check(resp, what)
    }

    pub fn publish(
        &self,
        kind: &str,
        name: &str,
        req: &PublishRequest,
    ) -> Result<PublishResponse, ClientError> {
        let what = format!("publishing {kind} package {name}");
        let resp = self.write(
            "POST",
            &format!("/v1/packages/{kind}/{name}"),
            Some(req),
            &what,
        )?;
        self.json(resp)
    }

    /// Removes a whole package.
    pub fn remove(&self, kind: &str, name: &str) -> Result<(), ClientError> {
        let what = format!("{kind} package {name}");
        self.write::<()>(
            "DELETE",
            &format!("/v1/packages/{kind}/{name}"),
            None,
            &what,
        )
        .map(drop)
    }

    /// Removes one version; `force` allows the one `latest` points at.
    pub fn remove_version(
        &self,
        kind: &str,
        name: &str,
        version: &str,
        force: bool,
    ) -> Result<(), ClientError> {
        let what = format!("version {version} of {kind} package {name}");
        let path = format!(
            "/v1/packages/{kind}/{name}/versions/{version}{}",
            if force { "?force=true" } else { "" }
        );
        self.write::<()>("DELETE", &path, None, &what).map(drop)
    }

    /// One version's manifest, or `None` when `etag` is still current.
    pub fn version(
        &self,
        kind: &str,
        name: &str,
        version: &str,
        etag: Option<&str>,
    ) -> Result<Option<Manifest>, ClientError> {
        let what = format!("version {version} of {kind} package {name}");
        let resp = self.check(
            self.get(
                &format!("/v1/packages/{kind}/{name}/versions/{version}"),
                etag,
                None,
            )?,
            &what,
        )?;
        if resp.status().as_u16() == 304 {
            return Ok(None);
        }
        self.json(resp).map(Some)
    }

    pub fn versions(&self, kind: &str, name: &str) -> Result<VersionList, ClientError> {
        let what = format!("{kind} package {name}");
        let resp = self.check(
            self.get(&format!("/v1/packages/{kind}/{name}/versions"), None, None)?,
            &what,
        )?;
        self.json(resp)
    }

    pub fn promote(&self, kind: &str, name: &str, version: &str) -> Result<Manifest, ClientError> {
        let what = format!("version {version} of {kind} package {name}");
        let body = PromoteRequest {
            version: version.to_owned(),
        };
        let resp = self.write(
            "POST",
            &format!("/v1/packages/{kind}/{name}/promote"),
            Some(&body),
            &what,
        )?;
        self.json(resp)
    }

    pub fn yank(
        &self,
        kind: &str,
        name: &str,
        version: &str,
        yanked: bool,
    ) -> Result<Manifest, ClientError> {
        let what = format!("version {version} of {kind} package {name}");
        let path = format!("/v1/packages/{kind}/{name}/versions/{version}/yank");
        let resp = self.write("POST", &path, Some(&YankRequest { yanked }), &what)?;
        self.json(resp)
    }

    pub fn set_localname(
        &self,
        kind: &str,
        name: &str,
        localname: &str,
    ) -> Result<(), ClientError> {
        let what = format!("{kind} package {name}");
        let body = LocalnameRequest {
            localname: localname.to_owned(),
        };
        self.write(
            "PUT",
            &format!("/v1/packages/{kind}/{name}/localname"),
            Some(&body),
            &what,
        )
        .map(drop)
    }
}
