//! The client itself: its keys, its signer, and its transport: one server, with how
//! every request to it is signed, bounded and answered ([`Http`]); or, with no server,
//! one bucket (see `bucket.rs`), which builds no HTTP agent.

use std::time::{Duration, Instant};

use pyk_crypto::sign::SigningKey;
use pyk_crypto::{token, Key};
use pyk_protocol::api::{self, ErrorBody};
use pyk_protocol::request::body_field;
use pyk_protocol::Sha256;
use ureq::http::Response;
use ureq::Body;

use crate::bucket::Serverless;
use crate::error::past_deadline;
use crate::{Damage, Error, Trust};

/// How long the answers of an update check may take in all, however steadily they
/// trickle (a per-read timeout alone lets one byte a second go on for hours).
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// For each answer about a package (a manifest), from connecting to its last byte;
    /// and what each download gets before its size counts.
    pub check: Duration,
    /// The slowest average rate, in bytes per second, a download may go at: a blob of
    /// `n` bytes gets `check + n / min_rate`.
    pub min_rate: u64,
}

impl Deadlines {
    /// The deadline of downloading a blob of `size` bytes.
    pub fn blob(&self, size: u64) -> Duration {
        self.check + Duration::from_secs_f64(size as f64 / self.min_rate.max(1) as f64)
    }
}

/// What bounds a GET, besides the client's timeout of each wait.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bound {
    /// An answer about a package: the update check's deadline, if the client has one.
    Answer,
    /// A blob of this many bytes: its download's deadline, if the client has deadlines.
    Blob(u64),
    /// A long poll: waits up to this long for the answer to start.
    Wait(Duration),
}

/// A repository client: a server's, or a bucket's read directly.
pub struct Client {
    /// Signs reads and encrypts blobs: every reader must be able to decrypt them.
    pub(crate) key: Key,
    /// How requests reach the repository.
    pub(crate) transport: Transport,
    /// Signs every version this client creates and every move of `latest` it asks for.
    pub(crate) signer: Option<SigningKey>,
    /// Whose versions the signer may move `latest` to (its own key among them).
    pub(crate) vouched: Trust,
}

/// Where the repository is.
pub(crate) enum Transport {
    /// A pyk server.
    Http(Http),
    /// A bucket read (and written) directly: every call goes there.
    Bucket(Box<Serverless>),
}

/// The largest response header accepted, and so the input buffer's size: a pyk server's
/// are a few hundred bytes, and a proxy in front (nginx passes at most 4–8 KiB by default)
/// adds little.
const MAX_HEADER: usize = 16 * 1024;

/// A server: its URL, the agent every request goes through, and how requests are
/// signed and bounded.
pub(crate) struct Http {
    pub(crate) base: String,
    /// Signs reads (the client's key).
    key: Key,
    /// Signs writes (the read key where the repository has no separate write key).
    write_key: Key,
    /// This machine's name in the server's log; not sent when empty.
    node: String,
    pub(crate) agent: ureq::Agent,
    /// Bounds on whole answers (the runner's), beyond the timeout of each wait.
    deadlines: Option<Deadlines>,
}

impl Client {
    /// `timeout` bounds connecting, waiting for an answer, and any pause while a body
    /// is sent or received: a transfer may take as long as it needs while it moves.
    pub fn new(base: &str, key: &Key, write_key: &Key, node: &str, timeout: Duration) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(timeout))
            .timeout_send_request(Some(timeout))
            .timeout_recv_response(Some(timeout))
            .timeout_per_read(Some(timeout))
            .timeout_per_write(Some(timeout))
            // The server closes a connection idle for 10 s (its header read timeout); one
            // idle nearly as long may be closing as it is reused, which a runner that
            // paused to unpack a layer would see as an unreachable server.
            .max_idle_age(Duration::from_secs(4))
            // ureq zeroes both buffers before the first request (128 KiB each by default):
            // 64 page faults a warm `pyk foo` paid for a 400-byte question and a 150-byte
            // answer; 6 now. Bodies pass through them too, in reads and writes of up to
            // this size: ~6,400 of each per 100 MB, a few milliseconds of a transfer that
            // takes seconds.
            .input_buffer_size(MAX_HEADER)
            .max_response_header_size(MAX_HEADER)
            .output_buffer_size(8 * 1024);
        let http = Http {
            base: base.trim_end_matches('/').to_owned(),
            key: key.clone(),
            write_key: write_key.clone(),
            node: node.to_owned(),
            agent: pyk_net::agent(base, config),
            deadlines: None,
        };
        Client {
            key: key.clone(),
            transport: Transport::Http(http),
            signer: None,
            vouched: Trust::default(),
        }
    }

    /// Signs what this client publishes and every move of `latest` it asks for with
    /// `key` (see `pyk_protocol::statement`). A yank or forced delete moves `latest` only
    /// to a version signed by `key` or by a key `trusted` trusts for the package: the
    /// repository's list of versions is only where candidates come from.
    pub fn with_signer(mut self, key: SigningKey, trusted: Trust) -> Client {
        self.vouched = trusted.also(key.public());
        self.signer = Some(key);
        self
    }

    /// Bounds every answer about a package, and every blob download from a server, by
    /// `deadlines`: past one, the request fails as the network would
    /// ([`Error::Deadline`]). A bucket's waits are bounded by its settings.
    pub fn with_deadlines(mut self, deadlines: Deadlines) -> Client {
        if let Transport::Http(http) = &mut self.transport {
            http.deadlines = Some(deadlines);
        }
        self
    }

    /// A client of the repository at `location` in `bucket` (whose settings bound every
    /// wait), with no server: it reads with the bucket's credentials and decrypts with
    /// `key`; with write credentials it publishes too, as `node`. `mode` is how its
    /// writes keep out of other writers' way (probed at the first write unless given).
    pub fn serverless(
        bucket: pyk_s3::Bucket,
        location: pyk_s3::Location,
        mode: pyk_s3::repo::ModeSetting,
        key: &Key,
        node: &str,
    ) -> Client {
        Client {
            key: key.clone(),
            transport: Transport::Bucket(Box::new(Serverless::new(
                bucket, location, mode, key, node,
            ))),
            signer: None,
            vouched: Trust::default(),
        }
    }

    /// The server's base URL (`s3://bucket/prefix` for a bucket).
    pub fn server(&self) -> &str {
        match &self.transport {
            Transport::Http(http) => &http.base,
            Transport::Bucket(bucket) => bucket.name(),
        }
    }
}

impl Http {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `Authorization` for one request (a fresh, single-use token): reads are signed with
    /// the read key, the rest with the write key. `body` is the request's body field
    /// (`pyk_protocol::request`).
    pub(crate) fn auth(&self, method: &str, path: &str, body: Option<&Sha256>) -> String {
        let key = if matches!(method, "GET" | "HEAD") {
            &self.key
        } else {
            &self.write_key
        };
        token::authorization(key, method, path, body)
    }

    /// The headers every request carries: its token (made for `body`, the request's
    /// whole body) and this machine's name.
    pub(crate) fn signed(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> ureq::http::request::Builder {
        let field = body_field(method, path, body);
        let req = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path))
            .header("Authorization", self.auth(method, path, field.as_ref()));
        if self.node.is_empty() {
            req
        } else {
            req.header("X-Pyk-Node", &self.node)
        }
    }

    /// Completes a request; a server URL that makes no valid request is as good as
    /// unreachable.
    pub(crate) fn body<B>(
        &self,
        builder: ureq::http::request::Builder,
        body: B,
    ) -> Result<ureq::http::Request<B>, Error> {
        builder.body(body).map_err(|e| self.unreachable(e.into()))
    }

    /// Sends `req`, a `method path` request, and logs its answer (`pyk -v`): every
    /// request to the server goes through here.
    pub(crate) fn run(
        &self,
        method: &str,
        path: &str,
        req: ureq::http::Request<impl ureq::AsSendBody>,
    ) -> Result<Response<Body>, ureq::Error> {
        let started = Instant::now();
        let sent = self.agent.run(req);
        pyk_net::log_answer(method, &self.url(path), started, &sent);
        sent
    }

    pub(crate) fn unreachable(&self, source: ureq::Error) -> Error {
        Error::Unreachable {
            server: self.base.clone(),
            source: pyk_net::Failure::of(&self.base, source),
        }
    }

    pub(crate) fn stalled(&self, what: &str, source: std::io::Error) -> Error {
        Error::Stalled {
            server: self.base.clone(),
            what: what.to_owned(),
            source,
        }
    }

    /// A body that broke off: past `deadline`, if that was what ended it, else stalled.
    pub(crate) fn lost(
        &self,
        what: &str,
        source: std::io::Error,
        deadline: Option<Duration>,
    ) -> Error {
        match deadline {
            Some(deadline) if past_deadline(&source) => Error::Deadline {
                server: self.base.clone(),
                what: what.to_owned(),
                deadline,
            },
            _ => self.stalled(what, source),
        }
    }

    /// A signed GET, bounded as `bound` says.
    pub(crate) fn get(
        &self,
        path: &str,
        etag: Option<&str>,
        bound: Bound,
    ) -> Result<Response<Body>, Error> {
        let mut req = self.signed("GET", path, &[]);
        if let Some(etag) = etag {
            req = req.header("If-None-Match", etag);
        }
        let req = self.body(req, ())?;
        let deadline = self.deadline(bound);
        let sent = match (bound, deadline) {
            (Bound::Wait(wait), _) => self.run(
                "GET",
                path,
                self.agent
                    .configure_request(req)
                    .timeout_recv_response(Some(wait))
                    .timeout_per_read(Some(wait))
                    .build(),
            ),
            (_, Some(deadline)) => self.run(
                "GET",
                path,
                self.agent
                    .configure_request(req)
                    .timeout_global(Some(deadline))
                    .build(),
            ),
            (_, None) => self.run("GET", path, req),
        };
        sent.map_err(|e| match (e, deadline) {
            (ureq::Error::Timeout(ureq::Timeout::Global), Some(deadline)) => Error::Deadline {
                server: self.base.clone(),
                what: format!("the answer to GET {path}"),
                deadline,
            },
            (e, _) => self.unreachable(e),
        })
    }

    /// The overall deadline of a GET bounded by `bound`, if this client has deadlines.
    pub(crate) fn deadline(&self, bound: Bound) -> Option<Duration> {
        match (self.deadlines, bound) {
            (Some(d), Bound::Answer) => Some(d.check),
            (Some(d), Bound::Blob(size)) => Some(d.blob(size)),
            _ => None,
        }
    }

    /// A write (POST/PUT/DELETE) with an optional JSON body, signed with the write key.
    pub(crate) fn write<B: serde::Serialize>(
        &self,
        method: &str,
        path: &str,
        body: Option<&B>,
        what: &str,
    ) -> Result<Response<Body>, Error> {
        let json = match body {
            Some(b) => serde_json::to_vec(b).expect("request bodies always serialize"),
            None => Vec::new(),
        };
        let req = self.body(
            self.signed(method, path, &json)
                .header("Content-Type", "application/json"),
            json,
        )?;
        let resp = self
            .run(method, path, req)
            .map_err(|e| self.unreachable(e))?;
        self.check(resp, what)
    }

    /// Maps a status other than success or 304 to an error; `what` names the thing
    /// asked for.
    pub(crate) fn check(
        &self,
        mut resp: Response<Body>,
        what: &str,
    ) -> Result<Response<Body>, Error> {
        let status = resp.status().as_u16();
        if resp.status().is_success() || status == 304 {
            return Ok(resp);
        }
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        let parsed = serde_json::from_str::<ErrorBody>(&body).ok();
        let code = parsed.as_ref().and_then(|e| e.code.clone());
        let skew = parsed.as_ref().and_then(|e| e.skew);
        // A body that is not the protocol's (a proxy's or a portal's HTML page) is told
        // by its first line, so that the error stays one line.
        let said = parsed.map(|e| e.error).unwrap_or_else(|| first_line(&body));
        let server = self.base.clone();
        Err(match status {
            401 if code.as_deref() == Some(api::CODE_CLOCK) => Error::Clock {
                server,
                skew: skew.unwrap_or_default(),
            },
            401 if code.is_some() => Error::Refused {
                server,
                status,
                what: what.to_owned(),
                message: said,
                code,
            },
            401 => Error::BadKey { server },
            403 => Error::ReadOnlyKey { server },
            404 => Error::NotFound {
                message: if said.is_empty() {
                    format!("{what}: not found")
                } else {
                    said
                },
                server,
            },
            400 | 409 | 413 | 422 => Error::Refused {
                server,
                status,
                what: what.to_owned(),
                message: said,
                code,
            },
            _ => Error::Refused {
                message: format!("{server} says {status}: {said}"),
                server,
                status,
                what: what.to_owned(),
                code,
            },
        })
    }

    /// The body of a successful answer, as JSON.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(
        &self,
        mut resp: Response<Body>,
        what: &str,
    ) -> Result<T, Error> {
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| self.lost(what, e.into_io(), self.deadline(Bound::Answer)))?;
        serde_json::from_str(&text).map_err(|e| Error::Damaged {
            server: self.base.clone(),
            what: format!("the answer about {what}"),
            damage: Damage::Reply(e),
        })
    }
}

/// The first line of a foreign body, cut to a length a message can hold.
fn first_line(body: &str) -> String {
    let line = body.trim().lines().next().unwrap_or_default();
    match line.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}
