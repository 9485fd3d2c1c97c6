//! One error type for everything this crate does; every message is a single line that names the
//! file, URL or version involved, so the CLI can print it as is.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("invalid Python version {input:?}: {reason}")]
    InvalidRequest { input: String, reason: String },
    #[error("no python-build-standalone build for Python {request} in {place}: {hint}")]
    UnknownVersion {
        request: String,
        place: String,
        hint: String,
    },
    #[error("no python-build-standalone build for this platform ({arch}-{os})")]
    UnsupportedPlatform { arch: String, os: String },
    #[error("download of {url} failed")]
    Download {
        url: String,
        #[source]
        source: pyk_net::Failure,
    },
    #[error("download of {url} failed: not found (HTTP 404)")]
    NotFound { url: String },
    #[error("checksum mismatch for {url}: expected sha256 {expected}, got {actual}")]
    ChecksumMismatch {
        url: String,
        expected: String,
        actual: String,
    },
    #[error("no sha256 for {file} in {url}")]
    ChecksumUnavailable { url: String, file: String },
    #[error("{path} is not a usable CPython: {reason}")]
    NotAPython { path: PathBuf, reason: String },
    #[error("{path} is not a usable CPython")]
    BadVersion {
        path: PathBuf,
        #[source]
        source: Box<FetchError>,
    },
    #[error("{path} is Python {version}; pyk needs CPython 3.9 to 3.14")]
    UnsupportedPython { path: PathBuf, version: String },
    #[error("refusing archive {archive}: entry {entry:?} {reason}")]
    UnsafeArchive {
        archive: PathBuf,
        entry: String,
        reason: String,
    },
    #[error("{archive} is not a runtime archive: {reason}")]
    BadArchive { archive: PathBuf, reason: String },
    #[error("{path} needs {soname}, which the dynamic loader does not find on this machine")]
    MissingLibrary { path: PathBuf, soname: String },
    #[error("cannot make {path} relocatable: {step}")]
    Relocate {
        path: PathBuf,
        /// What was being done: "not an ELF file", "stripping", …
        step: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("precompiling the standard library with {python} failed: {reason}")]
    Compile { python: PathBuf, reason: String },
    #[error("no runtime layer matches {prefix:?}")]
    NoSuchLayer { prefix: String },
    #[error("runtime layer prefix {prefix:?} is ambiguous ({count} layers match)")]
    AmbiguousLayer { prefix: String, count: usize },
    #[error("bad layer metadata {path}: {reason}")]
    BadMetadata { path: PathBuf, reason: String },
    #[error("bad layer metadata {path}")]
    BadMetadataVersion {
        path: PathBuf,
        #[source]
        source: Box<FetchError>,
    },
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Attach a one-line context (usually "verb path") to an io::Error.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, FetchError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, FetchError> {
        self.map_err(|source| FetchError::Io {
            context: context(),
            source,
        })
    }
}
