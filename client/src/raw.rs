//! Any request, signed and answered as it came: for tools and tests that speak the
//! protocol directly (statuses, ETags, error bodies) rather than through the typed calls.

use std::io::Read;

use crate::client::Transport;
use crate::{Client, Error};

/// A request body for [`Client::send`].
pub enum Body {
    Empty,
    /// Sent with its `Content-Length`.
    Bytes(Vec<u8>),
    /// Streamed (chunked), for bodies sent slowly or cut off. Its token covers no body
    /// unless the request is a blob upload, which its path binds.
    Reader(Box<dyn Read + Send>),
}

/// An answer as the server gave it.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub etag: Option<String>,
    pub body: Vec<u8>,
}

impl Client {
    /// Sends `method path` with `headers` and `body`, with a token made for exactly
    /// that request like every request of this client, and returns whatever status
    /// comes back. Only the network fails it ([`Error::Unreachable`], [`Error::Stalled`]).
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Result<Reply, Error> {
        let http = match &self.transport {
            Transport::Http(http) => http,
            Transport::Bucket(bucket) => {
                return Err(Error::NoServer {
                    location: bucket.name().to_owned(),
                })
            }
        };
        let bytes: &[u8] = match &body {
            Body::Bytes(b) => b,
            _ => &[],
        };
        let mut req = http.signed(method, path, bytes);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let sent = match body {
            Body::Empty => http.run(method, path, http.body(req, ())?),
            Body::Bytes(bytes) => http.run(method, path, http.body(req, bytes)?),
            Body::Reader(reader) => http.run(
                method,
                path,
                http.body(req, ureq::SendBody::from_owned_reader(reader))?,
            ),
        };
        let resp = sent.map_err(|e| http.unreachable(e))?;
        let status = resp.status().as_u16();
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        resp.into_body()
            .into_reader()
            .read_to_end(&mut body)
            .map_err(|e| http.stalled(&format!("the answer to {method} {path}"), e))?;
        Ok(Reply { status, etag, body })
    }
}
