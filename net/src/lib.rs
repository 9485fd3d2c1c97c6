//! The one HTTP agent every pyk connection is made with: the repository client, runtime
//! downloads and the S3 client all start from [`agent`], so they trust the same
//! certificates and meet proxies the same way.
//!
//! Trust, as uv and OpenSSL do it: the system store (the bundle and directory OpenSSL
//! uses on this machine, found by `openssl-probe`), or exactly what `SSL_CERT_FILE` and
//! `SSL_CERT_DIR` name when either is set; plus the one bundle the config's `ca_bundle`
//! names ([`trust_bundle`]). A machine with no system store at all (a minimal container
//! without `ca-certificates`) falls back to the Mozilla roots built into pyk.
//!
//! Proxies are ureq's: the first of `ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY` (either
//! case) carries every request, plain HTTP too, through `CONNECT`; `NO_PROXY` lists hosts
//! that go direct.

mod roots;

use std::sync::OnceLock;

pub use roots::{Bundle, BundleError, Roots};
use ureq::config::ConfigBuilder;
use ureq::tls::TlsConfig;
use ureq::typestate::AgentScope;
use ureq::ProxyProtocol;

/// The config's extra CA bundle.
static BUNDLE: OnceLock<Bundle> = OnceLock::new();

/// The trusted roots, read once per process by the first agent that needs them.
static ROOTS: OnceLock<Roots> = OnceLock::new();

/// Trusts the certificates of `bundle` too. Call before any agent is made (a later call
/// is ignored: the trust of a process does not change under it).
pub fn trust_bundle(bundle: Bundle) {
    let _ = BUNDLE.set(bundle);
}

/// An agent for `base` (a URL: every request the agent makes goes under it) from
/// `config` (its timeouts and the rest), that trusts [`roots`].
///
/// Reading the system store costs milliseconds (OpenSSL's directory is hundreds of
/// files), which `pyk foo`'s update check should not pay when it speaks plain HTTP: an
/// agent for an `http://` base, with no TLS proxy, reads no roots and follows no
/// redirects (one could lead to HTTPS).
pub fn agent(base: &str, config: ConfigBuilder<AgentScope>) -> ureq::Agent {
    let config = config.user_agent(concat!("pyk/", env!("CARGO_PKG_VERSION")));
    let plain = base.starts_with("http://")
        && ureq::Proxy::try_from_env().is_none_or(|p| p.protocol() != ProxyProtocol::Https);
    if plain {
        return config.max_redirects(0).build().into();
    }
    let tls = TlsConfig::builder().root_certs(roots().certs()).build();
    config.tls_config(tls).build().into()
}

/// The roots every agent trusts, read on first use.
pub fn roots() -> &'static Roots {
    ROOTS.get_or_init(|| Roots::load(BUNDLE.get()))
}

/// A failed request, told apart where the user must act differently: a certificate
/// the trusted roots do not vouch for names the host and the roots, since the fix is to
/// trust its CA.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(
        "the certificate of {host} is not trusted ({reason}); trusted roots: {store}. Add \
         its CA with SSL_CERT_FILE, SSL_CERT_DIR or `ca_bundle` in the config"
    )]
    Untrusted {
        host: String,
        reason: String,
        store: String,
    },
    #[error(transparent)]
    Http(ureq::Error),
}

impl Failure {
    /// What `error`, met fetching `url`, means.
    pub fn of(url: &str, error: ureq::Error) -> Failure {
        // ureq hands rustls's refusal over as its own variant, or inside an I/O error
        // when the handshake fails while reading.
        let rustls = match &error {
            ureq::Error::Rustls(e) => Some(e),
            ureq::Error::Io(e) => e.get_ref().and_then(|e| e.downcast_ref()),
            _ => None,
        };
        let Some(rustls::Error::InvalidCertificate(reason)) = rustls else {
            return Failure::Http(error);
        };
        let host = url
            .parse::<ureq::http::Uri>()
            .ok()
            .and_then(|u| u.host().map(str::to_owned))
            .unwrap_or_else(|| url.to_owned());
        Failure::Untrusted {
            host,
            reason: reason.to_string(),
            store: roots().describe(),
        }
    }
}
