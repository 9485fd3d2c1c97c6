//! The pyk binaries this server hands out, and the installer that fetches one (the
//! routes of `pyk_protocol::dist`). They are answered before authentication: a machine
//! installing pyk has no key yet, and what they give away is pyk itself, no secret.
//!
//! The server hands out the binary it runs for its own platform, and whatever a clients
//! directory (`pyk serve --clients DIR`) holds: `DIR/pyk-<platform>` binaries (one there
//! for the server's platform wins over its own) and `DIR/pyk-<platform>.sig` signature
//! files (`pyk self sign` writes them), served as they are: clients check them.

use std::collections::HashMap;
use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pyk_protocol::digest::HashingReader;
use pyk_protocol::dist::{self, binary_name, signature_name, valid_platform};
use pyk_protocol::Sha256;

use crate::handlers::blobs::streamed;

/// The installer, with `@SERVER@` for the address it was fetched from.
const INSTALL_SH: &str = include_str!("install.sh");

/// What a file looked like when it was hashed: a changed one is hashed again.
type Stamp = (u64, u64, i64, i64);

pub struct Dist {
    /// The binary this server runs.
    own: Option<PathBuf>,
    /// `--clients DIR`.
    dir: Option<PathBuf>,
    digests: Mutex<HashMap<PathBuf, (Stamp, Sha256)>>,
}

impl Dist {
    /// Hands out `own` (the running binary) and what `dir` holds.
    pub fn new(own: Option<PathBuf>, dir: Option<PathBuf>) -> Dist {
        Dist {
            own,
            dir,
            digests: Mutex::new(HashMap::new()),
        }
    }

    /// The answer to a GET of `path`, if it is one of these routes.
    pub async fn answer(self: &Arc<Self>, path: &str, headers: &HeaderMap) -> Option<Response> {
        if path == dist::INSTALL_SH {
            return Some(install_sh(headers));
        }
        let rest = path.strip_prefix(dist::PREFIX)?;
        let this = self.clone();
        let rest = rest.to_owned();
        let answer = tokio::task::spawn_blocking(move || this.file(&rest)).await;
        Some(match answer {
            Ok(response) => response,
            Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
        })
    }

    /// `/pyk/<rest>`.
    fn file(&self, rest: &str) -> Response {
        if rest.is_empty() {
            let mut list = self.platforms().join("\n");
            list.push('\n');
            return text(StatusCode::OK, list);
        }
        let (platform, suffix) = match rest.split_once('.') {
            Some((p, s)) => (p, Some(s)),
            None => (rest, None),
        };
        if !valid_platform(platform) {
            return text(StatusCode::NOT_FOUND, format!("no platform {rest:?}\n"));
        }
        let Some(binary) = self.binary(platform) else {
            return text(
                StatusCode::NOT_FOUND,
                format!(
                    "this server has no pyk for {platform}; it has: {}\n",
                    self.platforms().join(", ")
                ),
            );
        };
        match suffix {
            None => match File::open(&binary).and_then(|f| Ok((f.metadata()?.len(), f))) {
                Ok((len, file)) => {
                    let mut response = Response::new(streamed(file));
                    let h = response.headers_mut();
                    h.insert(
                        CONTENT_TYPE,
                        HeaderValue::from_static("application/octet-stream"),
                    );
                    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
                    response
                }
                Err(e) => unreadable(&binary, e),
            },
            Some("sha256") => match self.digest(&binary) {
                Ok(sha) => text(
                    StatusCode::OK,
                    format!("{sha}  {}\n", binary_name(platform)),
                ),
                Err(e) => unreadable(&binary, e),
            },
            Some("sig") => {
                let sig = self.dir.as_ref().map(|d| d.join(signature_name(platform)));
                match sig.map(fs::read) {
                    Some(Ok(bytes)) => {
                        let mut response = Response::new(Body::from(bytes));
                        response
                            .headers_mut()
                            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                        response
                    }
                    _ => text(
                        StatusCode::NOT_FOUND,
                        format!("the pyk for {platform} is not signed here\n"),
                    ),
                }
            }
            Some(other) => text(StatusCode::NOT_FOUND, format!("no such file .{other}\n")),
        }
    }

    /// The platforms served, sorted.
    fn platforms(&self) -> Vec<String> {
        let mut found: Vec<String> = self
            .dir
            .iter()
            .filter_map(|d| fs::read_dir(d).ok())
            .flatten()
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                let platform = name.strip_prefix("pyk-")?;
                valid_platform(platform).then(|| platform.to_owned())
            })
            .collect();
        if self.own.is_some() {
            found.push(dist::platform());
        }
        found.sort();
        found.dedup();
        found
    }

    /// The binary for `platform`: the clients directory's, else this server's own.
    fn binary(&self, platform: &str) -> Option<PathBuf> {
        let in_dir = self.dir.as_ref().map(|d| d.join(binary_name(platform)));
        match in_dir {
            Some(path) if path.is_file() => Some(path),
            _ if platform == dist::platform() => self.own.clone(),
            _ => None,
        }
    }

    /// The sha256 of `path`, hashed again only when the file changed.
    fn digest(&self, path: &Path) -> std::io::Result<Sha256> {
        let meta = fs::metadata(path)?;
        let stamp = (meta.ino(), meta.len(), meta.mtime(), meta.mtime_nsec());
        if let Some((seen, sha)) = self.lock().get(path) {
            if *seen == stamp {
                return Ok(*sha);
            }
        }
        let mut reader = HashingReader::new(File::open(path)?);
        std::io::copy(&mut reader, &mut std::io::sink())?;
        let sha = reader.hasher().digest();
        self.lock().insert(path.to_owned(), (stamp, sha));
        Ok(sha)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, (Stamp, Sha256)>> {
        self.digests.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The installer, for the address the client used (the `Host` it sent; `https` when a
/// TLS terminator in front says so with `X-Forwarded-Proto`). A `Host` that is not a
/// plain host and port is not written into a shell script: the installer then asks for
/// `--server`.
fn install_sh(headers: &HeaderMap) -> Response {
    let host = headers.get(HOST).and_then(|h| h.to_str().ok()).filter(|h| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
    });
    let scheme = match headers.get("x-forwarded-proto").map(HeaderValue::as_bytes) {
        Some(b"https") => "https",
        _ => "http",
    };
    let server = host.map_or_else(String::new, |h| format!("{scheme}://{h}"));
    let mut response = text(StatusCode::OK, INSTALL_SH.replace("@SERVER@", &server));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/x-shellscript; charset=utf-8"),
    );
    response
}

fn unreadable(path: &Path, e: std::io::Error) -> Response {
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("cannot read {}: {e}\n", path.display()),
    )
}

fn text(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
