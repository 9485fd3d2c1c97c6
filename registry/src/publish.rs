//! The rules a publish request meets before any store sees it, whichever way it came:
//! through a server's handler, or written straight to a bucket by a serverless client.
//! Names and digests become keys and file names, so nothing here may be left to the
//! store.

use pyk_protocol::api::{PublishRequest, FORMAT_FILE, FORMAT_PYK};
use pyk_protocol::names::{
    valid_localname, valid_python, valid_version, MAX_LOCALNAME, VERSION_RULE,
};
use pyk_protocol::platforms::{self, Misfit};
use pyk_protocol::Sha256;

/// A manifest is at most this many blobs.
pub const MAX_BLOBS: usize = 100_000;

/// Which rule a publish request breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("artifact_sha256 must be 64 lowercase hex digits")]
    ArtifactDigest,
    #[error("invalid version {0:?}: {VERSION_RULE}")]
    Version(String),
    #[error(
        "invalid signed local name {0:?}: a plain file name of 1 to {MAX_LOCALNAME} characters"
    )]
    SignedLocalname(String),
    /// A format this repository does not know (one newer than it, say).
    #[error("format must be {FORMAT_PYK:?} or {FORMAT_FILE:?}, not {0:?}")]
    Format(String),
    #[error("python must look like \"3.11\", not {0:?}")]
    Python(String),
    #[error("a package has 1 to {MAX_BLOBS} blobs")]
    BlobCount,
    #[error("blob id {0:?} is not 64 lowercase hex digits")]
    BlobId(String),
    #[error("blob sizes overflow")]
    SizeOverflow,
    #[error("size is {size} but the blobs add up to {sum}")]
    Size { size: u64, sum: u64 },
    #[error("api blob id {0:?} is not 64 lowercase hex digits")]
    ApiBlobId(String),
    /// The platforms do not fit the blobs (see `pyk_protocol::platforms::check`).
    #[error(transparent)]
    Platforms(#[from] Misfit),
}

/// Checks a publish request against every rule a repository has.
pub fn check_publish(r: &PublishRequest) -> Result<(), Invalid> {
    if r.artifact_sha256.parse::<Sha256>().is_err() {
        return Err(Invalid::ArtifactDigest);
    }
    if let Some(version) = r.version.as_ref().filter(|v| !valid_version(v)) {
        return Err(Invalid::Version(version.clone()));
    }
    if let Some(localname) = r.signed_localname.as_ref().filter(|l| !valid_localname(l)) {
        return Err(Invalid::SignedLocalname(localname.clone()));
    }
    let python_ok = match r.format.as_str() {
        FORMAT_PYK => valid_python(&r.python),
        // A file need not be Python at all; if it names a Python, it names one properly.
        FORMAT_FILE => r.python.is_empty() || valid_python(&r.python),
        other => return Err(Invalid::Format(other.to_owned())),
    };
    if !python_ok {
        return Err(Invalid::Python(r.python.clone()));
    }
    if r.blobs.is_empty() || r.blobs.len() > MAX_BLOBS {
        return Err(Invalid::BlobCount);
    }
    let mut sum = 0u64;
    for blob in &r.blobs {
        if blob.sha256.parse::<Sha256>().is_err() {
            return Err(Invalid::BlobId(blob.sha256.clone()));
        }
        sum = sum.checked_add(blob.size).ok_or(Invalid::SizeOverflow)?;
    }
    if sum != r.size {
        return Err(Invalid::Size { size: r.size, sum });
    }
    if let Some(api) = r
        .api
        .as_ref()
        .filter(|a| a.sha256.parse::<Sha256>().is_err())
    {
        return Err(Invalid::ApiBlobId(api.sha256.clone()));
    }
    platforms::check(&r.format, &r.artifact_sha256, &r.blobs, &r.platforms)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use pyk_protocol::api::{BlobRef, PlatformArtifact};

    use super::*;

    fn good() -> PublishRequest {
        let sha = "ab".repeat(32);
        PublishRequest {
            artifact_sha256: sha.clone(),
            size: 10,
            python: "3.11".into(),
            blobs: vec![BlobRef {
                sha256: sha,
                size: 10,
            }],
            version: Some("1.0".into()),
            promote: true,
            format: FORMAT_PYK.into(),
            executable: true,
            signed_localname: None,
            signature: None,
            latest: None,
            api: None,
            platforms: Vec::new(),
        }
    }

    #[test]
    fn each_rule_refuses_what_breaks_it() {
        assert_eq!(check_publish(&good()), Ok(()));
        let file = PublishRequest {
            format: FORMAT_FILE.into(),
            python: String::new(),
            ..good()
        };
        assert_eq!(check_publish(&file), Ok(()));
        let mut cases: Vec<(PublishRequest, Invalid)> = vec![
            (
                PublishRequest {
                    artifact_sha256: "AB".repeat(32),
                    ..good()
                },
                Invalid::ArtifactDigest,
            ),
            (
                PublishRequest {
                    version: Some("../x".into()),
                    ..good()
                },
                Invalid::Version("../x".into()),
            ),
            (
                PublishRequest {
                    signed_localname: Some("a/b".into()),
                    ..good()
                },
                Invalid::SignedLocalname("a/b".into()),
            ),
            (
                PublishRequest {
                    format: "pyk2".into(),
                    ..good()
                },
                Invalid::Format("pyk2".into()),
            ),
            (
                PublishRequest {
                    python: "3".into(),
                    ..good()
                },
                Invalid::Python("3".into()),
            ),
            (
                PublishRequest {
                    blobs: Vec::new(),
                    ..good()
                },
                Invalid::BlobCount,
            ),
            (
                PublishRequest {
                    blobs: vec![good().blobs[0].clone(); MAX_BLOBS + 1],
                    ..good()
                },
                Invalid::BlobCount,
            ),
            (
                PublishRequest {
                    blobs: vec![BlobRef {
                        sha256: "x".into(),
                        size: 10,
                    }],
                    ..good()
                },
                Invalid::BlobId("x".into()),
            ),
            (
                PublishRequest {
                    blobs: vec![good().blobs[0].clone(), {
                        let mut b = good().blobs[0].clone();
                        b.size = u64::MAX;
                        b
                    }],
                    ..good()
                },
                Invalid::SizeOverflow,
            ),
            (
                PublishRequest { size: 11, ..good() },
                Invalid::Size { size: 11, sum: 10 },
            ),
            (
                PublishRequest {
                    api: Some(BlobRef {
                        sha256: "y".into(),
                        size: 1,
                    }),
                    ..good()
                },
                Invalid::ApiBlobId("y".into()),
            ),
        ];
        // One platform's artifact whose blobs are not the request's.
        let sha = "ab".repeat(32);
        let platform = |name: &str, blob: &str| PlatformArtifact {
            platform: name.into(),
            artifact_sha256: sha.clone(),
            size: 10,
            blobs: vec![blob.into()],
        };
        cases.push((
            PublishRequest {
                platforms: vec![platform("linux-aarch64", &"cd".repeat(32))],
                ..good()
            },
            Invalid::Platforms(Misfit::Unlisted("cd".repeat(32))),
        ));
        let two = PublishRequest {
            platforms: vec![platform("linux-x86_64", &sha), platform("any", &sha)],
            ..good()
        };
        assert_eq!(check_publish(&two), Ok(()));
        for (request, want) in cases {
            assert_eq!(check_publish(&request), Err(want));
        }
    }
}
