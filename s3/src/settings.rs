//! How to reach a bucket: endpoint, region, addressing style, credentials, and how long
//! to wait; and the `s3://bucket/prefix` form that names a place in one.

use std::fmt;
use std::time::Duration;

use crate::{Error, Result};

/// Access keys. `Debug` shows the key id only: settings end up in error reports.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// For temporary credentials (STS).
    pub session_token: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `http(s)://host[:port]`; `None` is AWS itself (`https://s3.<region>.amazonaws.com`).
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// `endpoint/bucket/key` rather than `bucket.endpoint/key`: what MinIO, Garage and
    /// SeaweedFS expect by default, and any endpoint given as an IP address.
    pub path_style: bool,
    /// `None` sends unsigned requests (a public bucket).
    pub credentials: Option<Credentials>,
    /// Bounds connecting, waiting for an answer, and any pause inside a body.
    pub timeout: Duration,
}

/// The region S3-compatible services accept when they have none of their own.
pub const DEFAULT_REGION: &str = "us-east-1";

impl Settings {
    /// AWS in [`DEFAULT_REGION`], no credentials, 30 s waits.
    pub fn new(bucket: &str) -> Settings {
        Settings {
            endpoint: None,
            region: DEFAULT_REGION.to_owned(),
            bucket: bucket.to_owned(),
            path_style: false,
            credentials: None,
            timeout: Duration::from_secs(30),
        }
    }

    /// Settings for `bucket` from AWS's usual variables, as `var` reads them (binaries
    /// pass the environment; libraries read none): `AWS_ENDPOINT_URL` (with it,
    /// path-style addressing, which S3-compatible services expect), `AWS_REGION` or
    /// `AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and
    /// `AWS_SESSION_TOKEN`).
    pub fn from_vars(bucket: &str, var: impl Fn(&str) -> Option<String>) -> Settings {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        let endpoint = var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL"));
        let credentials = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key_id), Some(secret_access_key)) => Some(Credentials {
                access_key_id,
                secret_access_key,
                session_token: var("AWS_SESSION_TOKEN"),
            }),
            _ => None,
        };
        Settings {
            path_style: endpoint.is_some(),
            endpoint,
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| DEFAULT_REGION.to_owned()),
            credentials,
            ..Settings::new(bucket)
        }
    }

    /// The endpoint URL requests go to.
    pub fn endpoint_url(&self) -> String {
        match &self.endpoint {
            Some(e) => e.trim_end_matches('/').to_owned(),
            None => format!("https://s3.{}.amazonaws.com", self.region),
        }
    }
}

/// A place in a bucket: `s3://bucket/prefix` (the prefix may be empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub bucket: String,
    /// Without leading or trailing `/`.
    pub prefix: String,
}

impl Location {
    /// Parses `s3://bucket[/prefix]`; `None` if `text` is not an `s3://` URL at all.
    pub fn parse(text: &str) -> Option<Result<Location>> {
        let rest = text.strip_prefix("s3://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let ok = !bucket.is_empty()
            && bucket.len() <= 63
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b));
        if !ok {
            return Some(Err(Error::Settings(format!(
                "{text:?}: a bucket name is 1 to 63 of a-z, 0-9, '-' and '.'"
            ))));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == "." || p == "..") || prefix.contains("//") {
            return Some(Err(Error::Settings(format!(
                "{text:?}: the prefix must be plain path segments"
            ))));
        }
        Some(Ok(Location {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        }))
    }

    /// The key of `path` under the prefix.
    pub fn key(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            path.to_owned()
        } else {
            format!("{}/{path}", self.prefix)
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}", self.bucket)?;
        if !self.prefix.is_empty() {
            write!(f, "/{}", self.prefix)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        let l = Location::parse("s3://pyk/team/repo/").unwrap().unwrap();
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("pyk", "team/repo"));
        assert_eq!(l.key("blobs/ab"), "team/repo/blobs/ab");
        assert_eq!(l.to_string(), "s3://pyk/team/repo");
        let bare = Location::parse("s3://pyk").unwrap().unwrap();
        assert_eq!(bare.key("blobs/ab"), "blobs/ab");
        assert_eq!(bare.to_string(), "s3://pyk");
        assert!(Location::parse("http://x").is_none());
        assert!(Location::parse("s3://").unwrap().is_err());
        assert!(Location::parse("s3://Pyk/x").unwrap().is_err());
        assert!(Location::parse("s3://pyk/a/../b").unwrap().is_err());
    }

    #[test]
    fn from_aws_variables() {
        let vars = |name: &str| match name {
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:8333/".to_owned()),
            "AWS_DEFAULT_REGION" => Some("eu-west-3".to_owned()),
            "AWS_ACCESS_KEY_ID" => Some("id".to_owned()),
            "AWS_SECRET_ACCESS_KEY" => Some("secret".to_owned()),
            _ => None,
        };
        let s = Settings::from_vars("pyk", vars);
        assert_eq!(s.endpoint_url(), "http://127.0.0.1:8333");
        assert!(s.path_style);
        assert_eq!(s.region, "eu-west-3");
        assert_eq!(s.credentials.unwrap().session_token, None);
        let aws = Settings::from_vars("pyk", |_| None);
        assert_eq!(aws.endpoint_url(), "https://s3.us-east-1.amazonaws.com");
        assert!(!aws.path_style && aws.credentials.is_none());
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let c = Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: "hunter2".into(),
            session_token: Some("tok".into()),
        };
        let shown = format!("{c:?}");
        assert!(shown.contains("AKID") && !shown.contains("hunter2") && !shown.contains("tok"));
    }
}
