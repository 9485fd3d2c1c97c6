//! The one error type of the client, with a variant for each thing a caller may want to
//! treat differently: the runner falls back to its cached copy whenever the answer
//! cannot be trusted ([`Error::distrusts_answer`]: the network, a server error, damage, a
//! manifest no trusted key vouches for), `watch` treats [`Error::NotFound`] as "nothing
//! yet", and the rest end as one line for the user.

use std::io;

use pyk_artifact::extract::ExtractError;
use pyk_artifact::trailer::TrailerError;
use pyk_cache::{CacheError, FillError};
use pyk_crypto::blob::BlobError;
use pyk_crypto::sign::SignError;
use pyk_crypto::token::TTL_SECS;
use pyk_protocol::{Invalid, Sha256};
use pyk_registry::Refusal;

use crate::TrustError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No answer: nothing listens, the connection failed, or no response came within
    /// the timeout.
    #[error("{server} is unreachable")]
    Unreachable {
        server: String,
        #[source]
        source: pyk_net::Failure,
    },
    /// An answer started, then its body broke off or made no progress for the timeout
    /// (or an upload's body could not be sent).
    #[error("{what} from {server} stopped half-way")]
    Stalled {
        server: String,
        what: String,
        #[source]
        source: io::Error,
    },
    /// The answer did not arrive whole within its deadline: the update check's, or a
    /// download's (proportional to its size), however steadily it trickled.
    #[error("{what} from {server} did not arrive within its {:.1} s deadline", .deadline.as_secs_f64())]
    Deadline {
        server: String,
        what: String,
        deadline: std::time::Duration,
    },
    /// 401: the key is not the server's.
    #[error("the key does not match the server's (401 from {server})")]
    BadKey { server: String },
    /// 401: this machine's clock and the server's differ by more than a token's window.
    #[error("{}", clock(server, *skew))]
    Clock {
        server: String,
        /// Seconds this machine's clock is ahead of the server's (negative: behind).
        skew: i64,
    },
    /// 403: a read key asked for a write.
    #[error(
        "this key may read but not publish (403 from {server}): publishing needs the write key"
    )]
    ReadOnlyKey { server: String },
    /// 404: no such package, version, blob, or nothing promoted; `message` is the
    /// server's.
    #[error("{message} on {server}")]
    NotFound { server: String, message: String },
    /// The server said no (a bad request, a conflict, too large, a server error);
    /// `message` is its reason.
    #[error("{}", refused_line(what, message, code.as_deref()))]
    Refused {
        server: String,
        status: u16,
        what: String,
        message: String,
        /// The server's `code` for the refusal (`pyk_protocol::api::CODE_*`).
        code: Option<String>,
    },
    /// A bucket read directly refused, as a server would have (the same refusal,
    /// worded the same: a server's 404 reads as [`Error::NotFound`], the rest as
    /// [`Error::Refused`]).
    #[error("{}", refusal_line(server, what, refusal))]
    Refusal {
        server: String,
        what: String,
        refusal: Refusal,
    },
    /// A raw request ([`crate::Client::send`]) to a repository that is a bucket.
    #[error("{location} is a bucket, not a server: it takes no HTTP requests")]
    NoServer { location: String },
    /// A retention policy given for a repository that is a server ([`crate::Client::collect`]).
    #[error("{server} is a server: it applies its own retention policy (`pyk serve --retention`)")]
    OwnPolicy { server: String },
    /// A publisher was told the last move of `latest` was signed further ahead of its
    /// clock than any publisher signs: it signs nothing after it.
    #[error(
        "{server} says the last move of {package}'s latest was signed at {last} ms, {ahead} s \
         ahead of this machine's clock: refusing to sign a later one (set this machine's \
         clock right, or look for something between here and {server} rewriting answers)"
    )]
    AheadOfClock {
        server: String,
        package: String,
        last: u64,
        ahead: u64,
    },
    /// A yank or delete would move `latest` to a version its publisher cannot vouch for.
    #[error(
        "{package}'s latest would move to version {version}, which this publisher does not \
         sign a move to: yank that version too, or promote one it signed first"
    )]
    Unvouched {
        package: String,
        version: String,
        #[source]
        source: Box<TrustError>,
    },
    /// A statement could not be signed.
    #[error("cannot sign {what}")]
    Sign {
        what: String,
        #[source]
        source: SignError,
    },
    /// What the server sent failed verification; nothing of it was kept.
    #[error("refusing {what} from {server}")]
    Damaged {
        server: String,
        what: String,
        #[source]
        damage: Damage,
    },
    /// A local file or directory could not be read or written.
    #[error("cannot {doing}")]
    Io {
        doing: String,
        #[source]
        source: io::Error,
    },
    /// The caller asked for a name or version no repository can hold.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// A bucket read directly (no server) could not be read or written: the service
    /// is unreachable, refused the credentials, or holds what pyk did not write. The
    /// cause names the request and its key (so the package, which a caller may name
    /// too).
    #[error("the bucket {location} failed")]
    Bucket {
        location: String,
        #[source]
        source: Box<pyk_s3::repo::Error>,
    },
    /// The server could not serve a package this machine has no version of.
    #[error("{package} has never been fetched on this machine")]
    NeverFetched {
        package: String,
        #[source]
        source: Box<Error>,
    },
    /// A manifest this machine does not trust: nothing of it was fetched or run.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The program cannot run on this machine (its glibc is too old).
    #[error("{what} {why}")]
    Machine {
        what: String,
        why: pyk_artifact::glibc::TooOld,
    },
    /// The version has no artifact for this machine's platform.
    #[error("{what} {why} (this machine)")]
    Platform {
        what: String,
        why: pyk_protocol::platforms::NoPlatform,
    },
    /// The package cache could not be written.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// A layer did not unpack: it is corrupt, hostile, or this machine's disk failed.
    #[error(transparent)]
    Unpack(#[from] ExtractError),
}

/// How something the server sent failed verification.
#[derive(Debug, thiserror::Error)]
pub enum Damage {
    /// The blob does not decrypt with the key, or its frames do not add up.
    #[error(transparent)]
    Blob(BlobError),
    /// The blob decrypted, but its contents hash to another digest than its name.
    #[error("its contents hash to {0}")]
    Hash(Sha256),
    /// A body that is not the JSON the protocol defines.
    #[error("not a reply pyk can read")]
    Reply(#[source] serde_json::Error),
    /// A manifest of another package or version than the one asked for, or with a
    /// version or digest no server would have accepted.
    #[error("{0}")]
    Manifest(String),
    /// A trailer blob that does not decode.
    #[error(transparent)]
    Trailer(TrailerError),
}

/// A refusal worded as the same refusal from a server reads.
fn refusal_line(server: &str, what: &str, refusal: &Refusal) -> String {
    if refusal.status() == 404 {
        format!("{refusal} on {server}")
    } else {
        refused_line(what, &refusal.to_string(), Some(refusal.code()))
    }
}

/// A server's (or a bucket's) reason, after what was asked unless the repository's
/// refusal names the package and version itself: said once.
fn refused_line(what: &str, message: &str, code: Option<&str>) -> String {
    match code {
        Some(code) if Refusal::names_its_subject(code) => message.to_owned(),
        _ => format!("{what}: {message}"),
    }
}

fn clock(server: &str, skew: i64) -> String {
    let way = if skew > 0 { "ahead of" } else { "behind" };
    format!(
        "this machine's clock is {} s {way} {server}'s, and requests are accepted within \
         {TTL_SECS} s: set the clock right (NTP)",
        skew.unsigned_abs()
    )
}

/// Filling a cache entry fails in the cache or in the filling (fetching, unpacking).
impl<E: Into<Error>> From<FillError<E>> for Error {
    fn from(e: FillError<E>) -> Error {
        match e {
            FillError::Cache(e) => Error::Cache(e),
            FillError::Fill(e) => e.into(),
        }
    }
}

impl Error {
    /// Whether the repository refused with this `code`.
    pub fn has_code(&self, code: &str) -> bool {
        match self {
            Error::Refused { code: Some(c), .. } => c == code,
            Error::Refusal { refusal, .. } => refusal.code() == code,
            _ => false,
        }
    }

    /// Whether the failure was the network's (the server down, silent or cut off), so
    /// that what is already here may serve instead.
    pub fn is_network(&self) -> bool {
        match self {
            Error::Unreachable { .. } | Error::Stalled { .. } | Error::Deadline { .. } => true,
            Error::Bucket { source, .. } => source.is_network(),
            _ => false,
        }
    }

    /// Whether the answer about a package cannot be trusted, whatever the reason: the
    /// network failed; the server failed (a 5xx, from it or a proxy in front of it, or a
    /// status no pyk server sends, such as a captive portal's redirect); what came back
    /// is damaged (a truncated or foreign body, a blob that does not decrypt or hash to
    /// its name); or it is not vouched for (unsigned, signed by an untrusted key, older
    /// than what was accepted, dated in the future). What is already here and trusted
    /// may then serve instead, so that whoever stands between here and the server, or
    /// holds the write key, can withhold an update but not stop every run.
    pub fn distrusts_answer(&self) -> bool {
        match self {
            Error::Refused { status, .. } => *status >= 500 || *status < 400,
            Error::Damaged { .. } => true,
            Error::Trust(e) => !matches!(e, TrustError::Io { .. }),
            other => other.is_network(),
        }
    }

    pub fn io(doing: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            doing: doing.into(),
            source,
        }
    }
}

/// Whether a failed read of an answer's body was the end of the request's overall
/// deadline (ureq's global timeout) rather than the network.
pub(crate) fn past_deadline(e: &io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
        .is_some_and(|e| matches!(e, ureq::Error::Timeout(ureq::Timeout::Global)))
}
