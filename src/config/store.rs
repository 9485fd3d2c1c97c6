//! `[store]`: how to reach an S3-compatible bucket, and where in it a server keeps its
//! repository. A server uses it for `pyk serve` (its `bucket` and `prefix`, unless
//! `--store s3://…` names others); a client whose `server` is `s3://bucket/prefix` and
//! `pyk migrate` use its endpoint, region, addressing and credentials.
//!
//! ```toml
//! [store]
//! endpoint = "http://127.0.0.1:8333"     # default: AWS (https://s3.<region>.amazonaws.com)
//! region = "us-east-1"
//! bucket = "pyk"
//! prefix = "repo"
//! path_style = true                       # default: true with an endpoint, false for AWS
//! access_key_id = { env = "AWS_ACCESS_KEY_ID" }
//! secret_access_key = { env = "AWS_SECRET_ACCESS_KEY" }
//! # session_token = …
//! # conditional_writes = false            # take leases even if the service honours If-Match
//! ```
//!
//! What the table leaves out comes from AWS's usual variables (`AWS_ENDPOINT_URL`,
//! `AWS_REGION`, `AWS_ACCESS_KEY_ID`, …).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pyk_s3::repo::{Mode, ModeSetting};
use pyk_s3::{Credentials, Location, Settings};
use pyk_server::store::StoreConfig;

#[derive(Debug, Default, Clone)]
pub struct StoreTable {
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub path_style: Option<bool>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// `None`: probe the service; `Some(false)`: leases whatever it honours.
    pub conditional_writes: Option<bool>,
}

impl StoreTable {
    /// Takes the keys of one file's `[store]` (later files override key by key).
    pub fn apply(&mut self, value: &toml::Value, shown: &str) -> Result<()> {
        let toml::Value::Table(table) = value else {
            bail!("config {shown}: `store` must be a table");
        };
        for (k, v) in table {
            let text = || -> Result<String> {
                v.as_str()
                    .map(str::to_owned)
                    .with_context(|| format!("config {shown}: store.{k} must be a string"))
            };
            let flag = || -> Result<bool> {
                v.as_bool()
                    .with_context(|| format!("config {shown}: store.{k} must be true or false"))
            };
            match k.as_str() {
                "endpoint" => self.endpoint = Some(text()?),
                "region" => self.region = Some(text()?),
                "bucket" => self.bucket = Some(text()?),
                "prefix" => self.prefix = Some(text()?),
                "path_style" => self.path_style = Some(flag()?),
                "access_key_id" => self.access_key_id = Some(text()?),
                "secret_access_key" => self.secret_access_key = Some(text()?),
                "session_token" => self.session_token = Some(text()?),
                "conditional_writes" => self.conditional_writes = Some(flag()?),
                other => bail!(
                    "config {shown}: store.{other} is not a setting (endpoint, region, bucket, \
                     prefix, path_style, access_key_id, secret_access_key, session_token, \
                     conditional_writes)"
                ),
            }
        }
        Ok(())
    }

    /// How to reach `bucket`: AWS's variables, then this table.
    pub fn settings(&self, bucket: &str, timeout: Duration) -> Settings {
        let mut s = Settings::from_vars(bucket, |v| std::env::var(v).ok());
        if let Some(endpoint) = &self.endpoint {
            s.endpoint = Some(endpoint.clone());
            s.path_style = true;
        }
        if let Some(region) = &self.region {
            s.region = region.clone();
        }
        if let Some(path_style) = self.path_style {
            s.path_style = path_style;
        }
        if let (Some(id), Some(secret)) = (&self.access_key_id, &self.secret_access_key) {
            s.credentials = Some(Credentials {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                session_token: self.session_token.clone(),
            });
        }
        s.timeout = timeout;
        s
    }

    pub fn mode(&self) -> ModeSetting {
        match self.conditional_writes {
            None => ModeSetting::Probe,
            Some(true) => ModeSetting::Force(Mode::Conditional),
            Some(false) => ModeSetting::Force(Mode::Lease),
        }
    }

    /// The table's own bucket and prefix, if it names a bucket.
    fn location(&self) -> Option<Result<Location>> {
        let bucket = self.bucket.as_deref()?;
        let url = format!("s3://{bucket}/{}", self.prefix.as_deref().unwrap_or(""));
        Some(
            Location::parse(&url)
                .expect("an s3:// URL")
                .map_err(Into::into),
        )
    }

    /// The store a server (or `pyk migrate`) opens: `spec` (a directory, or
    /// `s3://bucket/prefix`), else this table's bucket, else `default` (a directory).
    pub fn store(&self, spec: Option<&str>, default: &str) -> Result<StoreConfig> {
        let location = match spec {
            Some(spec) => match Location::parse(spec) {
                Some(location) => location?,
                None => return Ok(StoreConfig::Embedded { path: spec.into() }),
            },
            None => match self.location() {
                Some(location) => location?,
                None => {
                    return Ok(StoreConfig::Embedded {
                        path: PathBuf::from(default),
                    })
                }
            },
        };
        Ok(StoreConfig::S3 {
            settings: self.settings(&location.bucket, Duration::from_secs(30)),
            location,
            mode: self.mode(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_and_specs() {
        let mut t = StoreTable::default();
        let v: toml::Value = toml::from_str(
            "endpoint = \"http://127.0.0.1:9\"\nbucket = \"b\"\nprefix = \"p/q\"\naccess_key_id = \"id\"\nsecret_access_key = \"s\"\nconditional_writes = false\n",
        )
        .unwrap();
        t.apply(&v, "c.toml").unwrap();
        let StoreConfig::S3 {
            settings,
            location,
            mode,
        } = t.store(None, "pyk.db").unwrap()
        else {
            panic!("not an S3 store")
        };
        assert_eq!(location.to_string(), "s3://b/p/q");
        assert_eq!(settings.endpoint_url(), "http://127.0.0.1:9");
        assert!(settings.path_style);
        assert_eq!(settings.credentials.unwrap().access_key_id, "id");
        assert_eq!(mode, ModeSetting::Force(Mode::Lease));
        let StoreConfig::S3 { location, .. } = t.store(Some("s3://other"), "pyk.db").unwrap()
        else {
            panic!()
        };
        assert_eq!(location.to_string(), "s3://other");
        assert_eq!(
            t.store(Some("dir"), "pyk.db").unwrap(),
            StoreConfig::Embedded { path: "dir".into() }
        );
        let bad: toml::Value = toml::from_str("bukket = \"b\"\n").unwrap();
        let e = t.apply(&bad, "c.toml").unwrap_err().to_string();
        assert!(e.contains("store.bukket"), "{e}");
    }
}
