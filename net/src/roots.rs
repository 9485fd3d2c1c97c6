//! Which certificates a connection trusts, and how to say so when one is refused.

use std::path::{Path, PathBuf};

use ureq::tls::{parse_pem, Certificate, PemItem, RootCerts};

/// The roots every agent trusts, and where they came from.
#[derive(Debug)]
pub struct Roots {
    certs: RootCerts,
    /// Where they came from, for the message when a certificate is refused.
    store: String,
}

/// The certificates of a CA bundle (the config's `ca_bundle`), read when the config is.
#[derive(Debug)]
pub struct Bundle {
    path: PathBuf,
    certs: Vec<Certificate<'static>>,
}

/// A `ca_bundle` that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read the CA bundle {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the CA bundle {} is not PEM: {reason}", path.display())]
    Pem { path: PathBuf, reason: String },
    #[error("the CA bundle {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path.display())]
    Empty { path: PathBuf },
}

impl Bundle {
    /// The certificates of the PEM file `path`; one that holds none is an error (a key,
    /// a DER file, the wrong file).
    pub fn read(path: &Path) -> Result<Bundle, BundleError> {
        let path = path.to_owned();
        let pem = match std::fs::read(&path) {
            Ok(pem) => pem,
            Err(source) => return Err(BundleError::Read { path, source }),
        };
        let mut certs = Vec::new();
        for item in parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(cert)) => certs.push(cert),
                Ok(_) => {}
                Err(e) => {
                    let reason = e.to_string();
                    return Err(BundleError::Pem { path, reason });
                }
            }
        }
        if certs.is_empty() {
            return Err(BundleError::Empty { path });
        }
        Ok(Bundle { path, certs })
    }
}

impl Roots {
    /// The system store (or `SSL_CERT_FILE`/`SSL_CERT_DIR`), plus `bundle`.
    pub(crate) fn load(bundle: Option<&Bundle>) -> Roots {
        let native = rustls_native_certs::load_native_certs();
        let mut store = system_store();
        if !native.errors.is_empty() {
            let problems: Vec<String> = native.errors.iter().map(ToString::to_string).collect();
            store = format!("{store} ({})", problems.join("; "));
        }
        let env_set = std::env::var_os("SSL_CERT_FILE").is_some()
            || std::env::var_os("SSL_CERT_DIR").is_some();
        let mut certs: Vec<Certificate<'static>> = native
            .certs
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        if certs.is_empty() && !env_set && bundle.is_none() {
            return Roots {
                certs: RootCerts::WebPki,
                store: format!("{store}, which is empty: pyk's built-in Mozilla roots"),
            };
        }
        if let Some(bundle) = bundle {
            store = format!(
                "{store} and ca_bundle {} ({} certificates)",
                bundle.path.display(),
                bundle.certs.len()
            );
            certs.extend(bundle.certs.iter().cloned());
        }
        Roots {
            certs: RootCerts::new_with_certs(&certs),
            store,
        }
    }

    pub(crate) fn certs(&self) -> RootCerts {
        self.certs.clone()
    }

    /// Where the trusted roots came from: `SSL_CERT_FILE=…`, the system store's files…
    pub fn describe(&self) -> String {
        self.store.clone()
    }
}

/// The system store as OpenSSL finds it, or what the environment names instead.
fn system_store() -> String {
    let var =
        |name: &str| std::env::var_os(name).map(|v| format!("{name}={}", Path::new(&v).display()));
    let set: Vec<String> = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .into_iter()
        .filter_map(var)
        .collect();
    if !set.is_empty() {
        return set.join(" and ");
    }
    let probe = openssl_probe::probe();
    let places: Vec<String> = probe
        .cert_file
        .iter()
        .chain(&probe.cert_dir)
        .map(|p| p.display().to_string())
        .collect();
    match places.is_empty() {
        true => "the system store (none found)".to_owned(),
        false => format!("the system store ({})", places.join(", ")),
    }
}
