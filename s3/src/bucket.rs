//! The requests pyk makes of a bucket, each signed (SigV4, as a presigned URL: the body
//! is then not hashed, so uploads stream), bounded in time, and answered with what the
//! caller branches on: found or missing, stored or refused by a condition.

use std::io::Read;
use std::time::Duration;

use rusty_s3::actions::ListObjectsV2;
use rusty_s3::{S3Action, UrlStyle};
use ureq::http::{Request, Response};
use ureq::Body;

use crate::error::error_body;
use crate::{Error, Result, Settings};

/// How long a signed URL is valid. It need only outlive the start of its request (a
/// transfer under way may take longer), plus the clock difference between this machine
/// and the service.
const SIGNED_FOR: Duration = Duration::from_secs(900);

/// The longest small object ([`Bucket::get_bytes`]) read whole into memory.
const MAX_SMALL: u64 = 64 << 20;

/// One bucket of one service. Cheap to clone: clones share connections.
#[derive(Clone)]
pub struct Bucket {
    bucket: rusty_s3::Bucket,
    credentials: Option<rusty_s3::Credentials>,
    agent: ureq::Agent,
    endpoint: String,
    /// Keys per LIST page (S3's maximum, 1000, unless set smaller).
    page: usize,
}

/// What a HEAD, GET or LIST says of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub len: u64,
    /// As the service sends it, quotes included: the form `If-Match` takes back.
    pub etag: String,
}

/// How a write depends on what is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition<'a> {
    /// Whatever is there.
    Always,
    /// Only if there is no such object (`If-None-Match: *`).
    IfAbsent,
    /// Only if the object is this version of it (`If-Match: <etag>`).
    IfMatch(&'a str),
}

/// The outcome of a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    Stored {
        etag: String,
    },
    /// The condition did not hold (412), or a concurrent conditional write won (409).
    Conflict,
}

/// A small object read whole, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    Found {
        bytes: Vec<u8>,
        etag: String,
    },
    /// `If-None-Match` named the current version.
    NotModified,
    Missing,
}

/// One object of a LIST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub len: u64,
    /// Unix seconds.
    pub modified: u64,
}

/// Everything under a prefix, every page of it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Listing {
    pub objects: Vec<Listed>,
    /// With a delimiter: the common prefixes, each ending in it.
    pub prefixes: Vec<String>,
}

impl Bucket {
    pub fn new(settings: &Settings) -> Result<Bucket> {
        let endpoint = settings.endpoint_url();
        let url = url::Url::parse(&endpoint).map_err(|e| Error::Unusable {
            what: format!("endpoint {endpoint:?}"),
            source: Box::new(e),
        })?;
        let style = if settings.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket =
            rusty_s3::Bucket::new(url, style, settings.bucket.clone(), settings.region.clone())
                .map_err(|e| Error::Unusable {
                    what: format!("bucket {:?} at {endpoint}", settings.bucket),
                    source: Box::new(e),
                })?;
        let credentials = settings
            .credentials
            .as_ref()
            .map(|c| match &c.session_token {
                Some(token) => rusty_s3::Credentials::new_with_token(
                    &c.access_key_id,
                    &c.secret_access_key,
                    token,
                ),
                None => rusty_s3::Credentials::new(&c.access_key_id, &c.secret_access_key),
            });
        let t = Some(settings.timeout);
        let agent = pyk_net::agent(
            &endpoint,
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_connect(t)
                .timeout_send_request(t)
                .timeout_recv_response(t)
                .timeout_per_read(t)
                .timeout_per_write(t),
        );
        Ok(Bucket {
            bucket,
            credentials,
            agent,
            endpoint,
            page: 1000,
        })
    }

    /// Lists in pages of `keys` keys: for services with a lower limit, and for tests
    /// of continuation that should not need thousands of objects.
    pub fn with_page_size(mut self, keys: usize) -> Bucket {
        self.page = keys.clamp(1, 1000);
        self
    }

    /// `endpoint/bucket`, for messages.
    pub fn describe(&self) -> String {
        format!("{} bucket {}", self.endpoint, self.bucket.name())
    }

    fn creds(&self) -> Option<&rusty_s3::Credentials> {
        self.credentials.as_ref()
    }

    /// Sends a request, logged with its answer (`pyk -v`); only the network fails it here.
    fn run(
        &self,
        op: &'static str,
        key: &str,
        req: ureq::http::request::Builder,
        body: impl ureq::AsSendBody,
    ) -> Result<Response<Body>> {
        let req: Request<_> = req.body(body).map_err(|source| Error::Request {
            op,
            key: key.to_owned(),
            source,
        })?;
        let url = req.uri().to_string();
        let started = std::time::Instant::now();
        let sent = self.agent.run(req);
        let elapsed = started.elapsed();
        match &sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                tracing::debug!("S3 {op} {key}: {status} in {elapsed:.1?}");
            }
            Err(e) => tracing::debug!("S3 {op} {key}: failed after {elapsed:.1?}: {e}"),
        }
        sent.map_err(|source| Error::Unreachable {
            op,
            key: key.to_owned(),
            endpoint: self.endpoint.clone(),
            source: Box::new(pyk_net::Failure::of(&url, source)),
        })
    }

    /// The error for an answer that is not one the caller expects.
    fn refused(&self, op: &'static str, key: &str, mut resp: Response<Body>) -> Error {
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .unwrap_or_default();
        let (mut code, message) = error_body(&body);
        if code.is_empty() {
            code = resp
                .status()
                .canonical_reason()
                .unwrap_or("error")
                .to_owned();
        }
        Error::Refused {
            op,
            key: key.to_owned(),
            status,
            code,
            message,
        }
    }

    fn info(&self, op: &'static str, key: &str, resp: &Response<Body>) -> Result<ObjectInfo> {
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok());
        let etag = header("etag").ok_or_else(|| Error::Protocol {
            op,
            key: key.to_owned(),
            detail: "no ETag".into(),
        })?;
        let len = header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::Protocol {
                op,
                key: key.to_owned(),
                detail: "no Content-Length".into(),
            })?;
        Ok(ObjectInfo {
            len,
            etag: etag.to_owned(),
        })
    }

    /// The object's length and ETag, if it exists.
    pub fn head(&self, key: &str) -> Result<Option<ObjectInfo>> {
        let url = self.bucket.head_object(self.creds(), key).sign(SIGNED_FOR);
        let resp = self.run("HEAD", key, request("HEAD", url.as_str()), ())?;
        match resp.status().as_u16() {
            200 => self.info("HEAD", key, &resp).map(Some),
            404 => Ok(None),
            _ => Err(self.refused("HEAD", key, resp)),
        }
    }

    /// A GET, from byte `from` on (`Range`), only if the object is not `if_none_match`
    /// and (when resuming) still is `if_match`.
    fn get_raw(
        &self,
        key: &str,
        from: u64,
        if_none_match: Option<&str>,
        if_match: Option<&str>,
    ) -> Result<Response<Body>> {
        let url = self.bucket.get_object(self.creds(), key).sign(SIGNED_FOR);
        let mut req = request("GET", url.as_str());
        if from > 0 {
            req = req.header("Range", format!("bytes={from}-"));
        }
        if let Some(etag) = if_none_match {
            req = req.header("If-None-Match", etag);
        }
        if let Some(etag) = if_match {
            req = req.header("If-Match", etag);
        }
        self.run("GET", key, req, ())
    }

    /// A small object (at most 64 MiB), read whole; `NotModified` when `if_none_match`
    /// is its current ETag.
    pub fn get_bytes(&self, key: &str, if_none_match: Option<&str>) -> Result<Fetched> {
        let mut resp = self.get_raw(key, 0, if_none_match, None)?;
        match resp.status().as_u16() {
            200 => {
                let info = self.info("GET", key, &resp)?;
                let bytes = resp
                    .body_mut()
                    .with_config()
                    .limit(MAX_SMALL)
                    .read_to_vec()
                    .map_err(|e| Error::Stalled {
                        op: "GET",
                        key: key.to_owned(),
                        source: e.into_io(),
                    })?;
                Ok(Fetched::Found {
                    bytes,
                    etag: info.etag,
                })
            }
            304 => Ok(Fetched::NotModified),
            404 => Ok(Fetched::Missing),
            _ => Err(self.refused("GET", key, resp)),
        }
    }

    /// Opens an object for streaming; `None` if it does not exist. The reader picks
    /// up where it broke off (a `Range` GET of the same version) when the connection
    /// fails mid-body, a few times, so a long download survives a dropped connection.
    pub fn open(&self, key: &str) -> Result<Option<crate::Download>> {
        let resp = self.get_raw(key, 0, None, None)?;
        match resp.status().as_u16() {
            200 => {
                let info = self.info("GET", key, &resp)?;
                Ok(Some(crate::Download::new(self.clone(), key, info, resp)))
            }
            404 => Ok(None),
            _ => Err(self.refused("GET", key, resp)),
        }
    }

    /// The rest of an object from `from`, if it is still version `etag`: what a broken
    /// download resumes with.
    pub(crate) fn resume(&self, key: &str, from: u64, etag: &str) -> Result<Response<Body>> {
        let resp = self.get_raw(key, from, None, Some(etag))?;
        match resp.status().as_u16() {
            206 => Ok(resp),
            _ => Err(self.refused("GET", key, resp)),
        }
    }

    /// Writes a small object from memory.
    pub fn put(&self, key: &str, body: &[u8], condition: Condition) -> Result<Put> {
        let url = self.bucket.put_object(self.creds(), key).sign(SIGNED_FOR);
        let req = conditional(request("PUT", url.as_str()), condition);
        let resp = self.run("PUT", key, req, body)?;
        self.stored("PUT", key, resp)
    }

    /// Streams `len` bytes of `body` into an object (up to 5 GiB, S3's limit for one
    /// PUT), never holding them whole.
    pub fn put_reader(
        &self,
        key: &str,
        body: &mut (dyn Read + Send),
        len: u64,
        condition: Condition,
    ) -> Result<Put> {
        let url = self.bucket.put_object(self.creds(), key).sign(SIGNED_FOR);
        // An explicit length: S3 refuses chunked uploads (411).
        let req = conditional(request("PUT", url.as_str()), condition)
            .header("Content-Length", len.to_string());
        let resp = self.run("PUT", key, req, ureq::SendBody::from_reader(body))?;
        self.stored("PUT", key, resp)
    }

    /// What a write's answer means.
    pub(crate) fn stored(&self, op: &'static str, key: &str, resp: Response<Body>) -> Result<Put> {
        match resp.status().as_u16() {
            200 => {
                let etag = resp
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                Ok(Put::Stored { etag })
            }
            409 | 412 => Ok(Put::Conflict),
            _ => Err(self.refused(op, key, resp)),
        }
    }

    /// Deletes an object; deleting one that is not there is no error.
    pub fn delete(&self, key: &str) -> Result<()> {
        let url = self
            .bucket
            .delete_object(self.creds(), key)
            .sign(SIGNED_FOR);
        let resp = self.run("DELETE", key, request("DELETE", url.as_str()), ())?;
        match resp.status().as_u16() {
            200 | 204 | 404 => Ok(()),
            _ => Err(self.refused("DELETE", key, resp)),
        }
    }

    /// Every object under `prefix` (following continuation tokens), or with a
    /// `delimiter`, the objects directly under it and the common prefixes below.
    pub fn list(&self, prefix: &str, delimiter: Option<&str>) -> Result<Listing> {
        let mut listing = Listing::default();
        let mut token: Option<String> = None;
        loop {
            let mut action = self.bucket.list_objects_v2(self.creds());
            action.with_prefix(prefix);
            action.with_max_keys(self.page);
            if let Some(d) = delimiter {
                action.with_delimiter(d);
            }
            if let Some(t) = &token {
                action.with_continuation_token(t.as_str());
            }
            let url = action.sign(SIGNED_FOR);
            let mut resp = self.run("LIST", prefix, request("GET", url.as_str()), ())?;
            if resp.status().as_u16() != 200 {
                return Err(self.refused("LIST", prefix, resp));
            }
            let text = resp
                .body_mut()
                .with_config()
                .limit(MAX_SMALL)
                .read_to_string()
                .map_err(|e| Error::Stalled {
                    op: "LIST",
                    key: prefix.to_owned(),
                    source: e.into_io(),
                })?;
            let page = ListObjectsV2::parse_response(&text).map_err(|e| Error::Unparsed {
                op: "LIST",
                key: prefix.to_owned(),
                source: Box::new(e),
            })?;
            for object in page.contents {
                listing.objects.push(Listed {
                    modified: object
                        .last_modified
                        .as_deref()
                        .and_then(crate::time::unix_seconds)
                        .unwrap_or(0),
                    len: object.size.unwrap_or(0),
                    key: object.key,
                });
            }
            listing
                .prefixes
                .extend(page.common_prefixes.into_iter().map(|p| p.prefix));
            match page.next_continuation_token {
                Some(next) => token = Some(next),
                None => return Ok(listing),
            }
        }
    }

    /// Starts a multipart upload to `key`: parts upload one by one (or several at a
    /// time), and nothing is visible until [`crate::Multipart::complete`].
    pub fn start_multipart(&self, key: &str) -> Result<crate::Multipart> {
        let url = self
            .bucket
            .create_multipart_upload(self.creds(), key)
            .sign(SIGNED_FOR);
        let mut resp = self.run(
            "CreateMultipartUpload",
            key,
            request("POST", url.as_str()),
            (),
        )?;
        if resp.status().as_u16() != 200 {
            return Err(self.refused("CreateMultipartUpload", key, resp));
        }
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| Error::Stalled {
                op: "CreateMultipartUpload",
                key: key.to_owned(),
                source: e.into_io(),
            })?;
        let parsed =
            rusty_s3::actions::CreateMultipartUpload::parse_response(&text).map_err(|e| {
                Error::Unparsed {
                    op: "CreateMultipartUpload",
                    key: key.to_owned(),
                    source: Box::new(e),
                }
            })?;
        Ok(crate::Multipart::new(
            self.clone(),
            key,
            parsed.upload_id().to_owned(),
        ))
    }

    pub(crate) fn sign_part(&self, key: &str, number: u16, upload_id: &str) -> String {
        self.bucket
            .upload_part(self.creds(), key, number, upload_id)
            .sign(SIGNED_FOR)
            .into()
    }

    pub(crate) fn sign_complete<'a>(
        &'a self,
        key: &'a str,
        upload_id: &'a str,
        etags: &'a [String],
    ) -> (String, String) {
        let action = self.bucket.complete_multipart_upload(
            self.creds(),
            key,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(SIGNED_FOR).into();
        (url, action.body())
    }

    pub(crate) fn sign_abort(&self, key: &str, upload_id: &str) -> String {
        self.bucket
            .abort_multipart_upload(self.creds(), key, upload_id)
            .sign(SIGNED_FOR)
            .into()
    }

    pub(crate) fn send(
        &self,
        op: &'static str,
        key: &str,
        req: ureq::http::request::Builder,
        body: impl ureq::AsSendBody,
    ) -> Result<Response<Body>> {
        self.run(op, key, req, body)
    }

    pub(crate) fn refuse(&self, op: &'static str, key: &str, resp: Response<Body>) -> Error {
        self.refused(op, key, resp)
    }
}

pub(crate) fn request(method: &str, url: &str) -> ureq::http::request::Builder {
    Request::builder().method(method).uri(url)
}

fn conditional(
    req: ureq::http::request::Builder,
    condition: Condition,
) -> ureq::http::request::Builder {
    match condition {
        Condition::Always => req,
        Condition::IfAbsent => req.header("If-None-Match", "*"),
        Condition::IfMatch(etag) => req.header("If-Match", etag),
    }
}
