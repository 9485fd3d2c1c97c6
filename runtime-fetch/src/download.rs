//! HTTP downloads with ureq: explicit timeouts (ureq has none by default), streamed to disk
//! while hashing, never held in memory whole.

use std::fs::File;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use pyk_protocol::digest::Hasher;

use crate::error::IoContext;
use crate::{FetchError, Progress};

fn agent(url: &str) -> ureq::Agent {
    pyk_net::agent(
        url,
        ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(20)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(Duration::from_secs(60))),
    )
}

fn download_err(url: &str, error: ureq::Error) -> FetchError {
    FetchError::Download {
        url: url.to_string(),
        source: pyk_net::Failure::of(url, error),
    }
}

fn get(url: &str) -> Result<ureq::http::Response<ureq::Body>, FetchError> {
    let started = Instant::now();
    let answer = agent(url).get(url).call();
    pyk_net::log_answer("GET", url, started, &answer);
    answer.map_err(|e| match e {
        ureq::Error::StatusCode(404) => FetchError::NotFound {
            url: url.to_string(),
        },
        other => download_err(url, other),
    })
}

/// Fetch a small text file (e.g. SHA256SUMS).
pub(crate) fn fetch_text(url: &str) -> Result<String, FetchError> {
    get(url)?
        .into_body()
        .with_config()
        .limit(16 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| download_err(url, e))
}

/// Stream `url` into `out`, returning the hex sha256 of what was written.
pub(crate) fn fetch_to_file(
    url: &str,
    out: &mut File,
    progress: &dyn Progress,
) -> Result<String, FetchError> {
    let response = get(url)?;
    let total = response.body().content_length().unwrap_or(0);
    let meter = progress.transfer(total, "downloading");
    let mut reader = response.into_body().into_reader();
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).ctx(|| format!("download of {url} failed")),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .ctx(|| format!("writing the download of {url} to disk"))?;
        meter.advance(n as u64);
    }
    out.flush()
        .ctx(|| format!("writing the download of {url} to disk"))?;
    Ok(hasher.digest().to_string())
}
