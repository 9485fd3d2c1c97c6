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
//!
//! Every request is logged at debug level (`pyk -v`) through [`log_answer`]: method,
//! where, status or failure, and time, never a credential.

mod roots;

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Instant;

pub use roots::{Bundle, BundleError, Roots};
use ureq::config::{Config, ConfigBuilder};
use ureq::http::Uri;
use ureq::tls::TlsConfig;
use ureq::typestate::AgentScope;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
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
    let config = match plain {
        true => config.max_redirects(0).build(),
        false => {
            let tls = TlsConfig::builder().root_certs(roots().certs()).build();
            config.tls_config(tls).build()
        }
    };
    ureq::Agent::with_parts(config, DefaultConnector::default(), Literal::default())
}

/// Resolves a host written as an address (`http://127.0.0.1:8080`, `http://[::1]/`)
/// without a lookup, and hands names to ureq's resolver. That one starts a thread for each
/// lookup whenever a deadline is set (so that it can give up on a slow DNS server), which
/// cost every warm `pyk foo` against an address a thread it had no use for.
#[derive(Debug, Default)]
struct Literal(DefaultResolver);

impl Resolver for Literal {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match literal(uri) {
            Some(addr) => {
                let mut addrs = self.0.empty();
                addrs.push(addr);
                Ok(addrs)
            }
            None => self.0.resolve(uri, config, timeout),
        }
    }
}

/// The socket address of `uri` when its host is an IP address and its port is known.
fn literal(uri: &Uri) -> Option<SocketAddr> {
    let authority = uri.authority()?;
    let host = authority.host();
    let ip: IpAddr = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse()
        .ok()?;
    let port = authority.port_u16().or(match uri.scheme_str()? {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })?;
    Some(SocketAddr::new(ip, port))
}

/// The roots every agent trusts, read on first use.
pub fn roots() -> &'static Roots {
    ROOTS.get_or_init(|| Roots::load(BUNDLE.get()))
}

/// What a log line shows of `url`: scheme, host, port and path. User info and the query
/// are left out: they may carry credentials (a mirror's password, the signature of an S3
/// presigned URL).
pub fn shown(url: &str) -> String {
    let Ok(uri) = url.parse::<ureq::http::Uri>() else {
        return "(an invalid URL)".into();
    };
    let scheme = uri
        .scheme_str()
        .map(|s| format!("{s}://"))
        .unwrap_or_default();
    let host = uri.host().unwrap_or_default();
    let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{scheme}{host}{port}{}", uri.path())
}

/// Logs the answer to `method url`, sent at `started`, at debug level: its status (or why
/// there was none) and how long it took to come. Nothing is formatted unless debug
/// logging is on.
pub fn log_answer<B>(
    method: &str,
    url: &str,
    started: Instant,
    answer: &Result<ureq::http::Response<B>, ureq::Error>,
) {
    let elapsed = started.elapsed();
    match answer {
        Ok(response) => tracing::debug!(
            "{method} {}: {} in {elapsed:.1?}",
            shown(url),
            response.status().as_u16()
        ),
        Err(error) => tracing::debug!(
            "{method} {}: failed after {elapsed:.1?}: {error}",
            shown(url)
        ),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_used_as_it_is_and_a_name_is_looked_up() {
        let at = |url: &str| literal(&url.parse().unwrap()).map(|a| a.to_string());
        assert_eq!(
            at("http://127.0.0.1:8080/v1/x").as_deref(),
            Some("127.0.0.1:8080")
        );
        assert_eq!(at("http://[::1]/").as_deref(), Some("[::1]:80"));
        assert_eq!(at("https://10.0.0.1/").as_deref(), Some("10.0.0.1:443"));
        assert_eq!(at("http://localhost:8080/"), None);
        assert_eq!(at("socks5://10.0.0.1/"), None);
    }

    #[test]
    fn a_logged_url_shows_no_credentials() {
        assert_eq!(
            shown("https://user:secret@mirror.example:8443/pbs/x.tar.gz?token=abc"),
            "https://mirror.example:8443/pbs/x.tar.gz"
        );
        assert_eq!(
            shown("http://127.0.0.1:7777/v1/packages/run/hello"),
            "http://127.0.0.1:7777/v1/packages/run/hello"
        );
        assert_eq!(shown("not a url\n"), "(an invalid URL)");
    }
}
