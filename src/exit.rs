//! pyk's exit codes, in the style of sysexits (as uv and git do), so that scripts and CI
//! can tell a refusal from an outage without reading the message. A command line that
//! does not parse exits with clap's 2 (before any of this). `pyk foo` execs the program,
//! so its exit code is the program's own, whatever it is.

use pyk_client::{Error, TrustError};

/// Any other failure: a bad spec or artifact, a file that cannot be written, a
/// repository's refusal (a version that exists, a yanked promote).
pub const FAILURE: u8 = 1;
/// The repository could not be reached and nothing cached could stand in
/// (`EX_UNAVAILABLE`).
pub const UNAVAILABLE: u8 = 69;
/// Refused for who is asking: the key is not the server's, a read key asked to write,
/// or what came back is signed by no key this machine trusts (`EX_NOPERM`).
pub const REFUSED: u8 = 77;

/// The exit code for `e`: the first cause in its chain that says which.
pub fn code(e: &anyhow::Error) -> u8 {
    e.chain()
        .find_map(|cause| cause.downcast_ref::<Error>().and_then(client_code))
        .unwrap_or(FAILURE)
}

fn client_code(e: &Error) -> Option<u8> {
    match e {
        _ if e.is_network() => Some(UNAVAILABLE),
        Error::NeverFetched { source, .. } => client_code(source),
        Error::BadKey { .. } | Error::ReadOnlyKey { .. } => Some(REFUSED),
        Error::Refused {
            status: 401 | 403, ..
        } => Some(REFUSED),
        Error::Bucket { source, .. } => match source.as_ref() {
            pyk_s3::repo::Error::S3(e) if matches!(e.status(), Some(401 | 403)) => Some(REFUSED),
            _ => None,
        },
        Error::Trust(TrustError::Io { .. }) => None,
        Error::Trust(_) => Some(REFUSED),
        _ => None,
    }
}
