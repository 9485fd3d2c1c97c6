//! `pyk self update` and `pyk self sign`: pyk replaced by the binary its repository
//! hands out (`pyk_protocol::dist`), and the signature that lets a machine believe it.
//!
//! Trust, as for packages: the server is not trusted. The sha256 it serves beside the
//! binary catches a broken download, not a hostile server; a machine whose config has
//! `trusted` keys takes a new pyk only with a signature by one of them of a client
//! statement (platform, version, sha256), and never one older than itself.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use pyk_cache::{write_file, CacheError, Existing};
use pyk_crypto::sign::PublicKey;
use pyk_protocol::digest::HashingReader;
use pyk_protocol::dist::{self, binary_name, signature_name, valid_platform, SignedClient};
use pyk_protocol::statement::ClientStatement;
use pyk_protocol::Sha256;

use crate::cli::SelfCommand;
use crate::config::Config;

/// The largest pyk accepted (a debug build is under 200 MB).
const MAX_BINARY: u64 = 512 << 20;

pub fn run(ctx: &super::Context, cmd: SelfCommand) -> Result<()> {
    let config = ctx.config;
    match cmd {
        SelfCommand::Update => update(config),
        SelfCommand::Sign {
            dir,
            binary,
            platform,
            version,
        } => sign(config, &dir, binary, platform, version),
    }
}

/// This pyk's version, as a signature states it.
fn own_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

fn update(config: &Config) -> Result<()> {
    let server = config.server()?;
    if !server.starts_with("http://") && !server.starts_with("https://") {
        bail!("pyk self update needs a repository served by `pyk serve`; {server} is not one");
    }
    let platform = dist::platform();
    let exe = std::env::current_exe().context("cannot tell where this pyk is")?;
    let url = |suffix: &str| format!("{server}{}{platform}{suffix}", dist::PREFIX);
    let agent = pyk_net::agent(
        server,
        ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(Duration::from_secs(30)))
            .timeout_per_read(Some(Duration::from_secs(30))),
    );
    let get = |url: &str| match agent.get(url).call() {
        Ok(resp) => Ok(Some(resp)),
        Err(ureq::Error::StatusCode(404)) => Ok(None),
        Err(e) => Err(anyhow::anyhow!(
            "cannot reach {server}: {}",
            pyk_net::Failure::of(url, e)
        )),
    };
    let not_served = || anyhow::anyhow!("{server} hands out no pyk for {platform}");
    let listed = get(&url(".sha256"))?
        .ok_or_else(not_served)?
        .into_body()
        .into_with_config()
        .limit(4096)
        .read_to_string()
        .with_context(|| format!("reading {}", url(".sha256")))?;
    let expected: Sha256 = listed
        .split_whitespace()
        .next()
        .and_then(|hex| hex.parse().ok())
        .with_context(|| format!("{} is not a sha256", url(".sha256")))?;
    let current = digest(&exe)?;
    if current == expected {
        eprintln!(
            "pyk: {} is already the repository's pyk ({}, sha256 {})",
            exe.display(),
            own_version(),
            short(&current)
        );
        return Ok(());
    }
    let trusted = config.trusted_everywhere()?;
    let signed = if trusted.is_empty() {
        None
    } else {
        let body = get(&url(".sig"))?.with_context(|| {
            format!(
                "refusing the repository's pyk: it is not signed, and this machine takes only \
                 what its `trusted` keys signed (sign it with `pyk self sign DIR`, served with \
                 `pyk serve --clients DIR`); {} is unchanged",
                exe.display()
            )
        })?;
        let signed: SignedClient = serde_json::from_reader(
            body.into_body()
                .into_with_config()
                .limit(64 * 1024)
                .reader(),
        )
        .with_context(|| format!("{} is not a pyk signature", url(".sig")))?;
        let key = PublicKey::parse(&signed.signature.key)
            .ok()
            .filter(|k| trusted.contains(k))
            .with_context(|| {
                format!(
                    "refusing the repository's pyk: it is signed by {}, which this machine does \
                     not trust; {} is unchanged",
                    signed.signature.key,
                    exe.display()
                )
            })?;
        if older(&signed.version, own_version()) {
            bail!(
                "refusing the repository's pyk {}: it is older than this one ({}); {} is unchanged",
                signed.version,
                own_version(),
                exe.display()
            );
        }
        Some((key, signed))
    };

    let resp = get(&url(""))?.ok_or_else(not_served)?;
    let mut refused = None;
    let placed = write_file(&exe, 0o755, Existing::Replace, |file| {
        let body = resp
            .into_body()
            .into_with_config()
            .limit(MAX_BINARY)
            .reader();
        let mut reader = HashingReader::new(body);
        io::copy(&mut reader, file)?;
        let got = reader.hasher().digest();
        let why = if got != expected {
            Some(format!(
                "its sha256 is {got}, the repository says {expected}"
            ))
        } else if let Some((key, signed)) = &signed {
            let statement = ClientStatement {
                platform: &platform,
                version: &signed.version,
                sha256: &got.to_string(),
            };
            key.verify(&statement, &signed.signature.sig)
                .err()
                .map(|_| {
                    format!(
                        "its signature does not match it (sha256 {got}): not what {} signed",
                        signed.signature.key
                    )
                })
        } else {
            None
        };
        match why {
            Some(why) => {
                refused = Some(why);
                Err(io::Error::other("refused"))
            }
            None => Ok(()),
        }
    });
    if let Some(why) = refused {
        bail!(
            "refusing the repository's pyk: {why}; {} is unchanged",
            exe.display()
        );
    }
    placed.map_err(|e| not_writable(&exe, e))?;
    if signed.is_none() {
        crate::output::warning!(
            "this machine trusts no signing keys (`trusted`): the new pyk was \
             checked only against the sha256 {server} serves"
        );
    }
    let version = signed.as_ref().map_or("", |(_, s)| s.version.as_str());
    eprintln!(
        "pyk: replaced {} with the repository's pyk{}{} (sha256 {} → {})",
        exe.display(),
        if version.is_empty() { "" } else { " " },
        version,
        short(&current),
        short(&expected)
    );
    Ok(())
}

/// One line for a binary that cannot be replaced: whose directory this user cannot
/// write, usually.
fn not_writable(exe: &Path, e: CacheError) -> anyhow::Error {
    let dir = exe.parent().unwrap_or(Path::new("/"));
    anyhow::Error::from(e).context(format!(
        "cannot replace {} (pyk writes the new binary beside it, so {} must be writable by \
         this user: run as its owner, or install into a directory of yours with install.sh \
         --dir)",
        exe.display(),
        dir.display()
    ))
}

fn sign(
    config: &Config,
    dir: &Path,
    binary: Option<PathBuf>,
    platform: Option<String>,
    version: Option<String>,
) -> Result<()> {
    let key = config.signing_key()?.context(
        "no signing key: set `signing_key` in the config (make one with `pyk keygen --signing`)",
    )?;
    let platform = platform.unwrap_or_else(dist::platform);
    if !valid_platform(&platform) {
        bail!("--platform {platform:?}: a platform is like linux-x86_64 (lower case, digits, - and _)");
    }
    let version = version.unwrap_or_else(|| own_version().to_owned());
    let source = match binary {
        Some(path) => path,
        None => std::env::current_exe().context("cannot tell where this pyk is")?,
    };
    let target = dir.join(binary_name(&platform));
    // Into the directory first, then hashed there: the signature covers what is served.
    if source != target {
        let mut from =
            File::open(&source).with_context(|| format!("cannot read {}", source.display()))?;
        write_file(&target, 0o755, Existing::Replace, |file| {
            io::copy(&mut from, file).map(drop)
        })?;
    }
    let sha256 = digest(&target)?;
    let statement = ClientStatement {
        platform: &platform,
        version: &version,
        sha256: &sha256.to_string(),
    };
    let signed = SignedClient {
        version: version.clone(),
        signature: key.sign(&statement)?,
    };
    let json = serde_json::to_vec_pretty(&signed)?;
    let sig = dir.join(signature_name(&platform));
    write_file(&sig, 0o644, Existing::Replace, |file| {
        io::Write::write_all(file, &json)
    })?;
    eprintln!(
        "pyk: signed {} ({platform}, {version}, sha256 {}) as {}: {}",
        target.display(),
        short(&sha256),
        key.public(),
        sig.display()
    );
    Ok(())
}

/// The sha256 of a file.
fn digest(path: &Path) -> Result<Sha256> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut reader = HashingReader::new(file);
    io::copy(&mut reader, &mut io::sink())
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(reader.hasher().digest())
}

fn short(sha: &Sha256) -> String {
    sha.to_string()[..12].to_owned()
}

/// Whether version `a` is older than `b`, comparing dot-separated numbers (a part that
/// is no number counts as 0).
fn older(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> {
        v.split(['.', '-', '+'])
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    parts(a) < parts(b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn older() {
        assert!(super::older("0.1.0", "0.2.0"));
        assert!(super::older("0.9.9", "0.10.0"));
        assert!(!super::older("0.1.0", "0.1.0"));
        assert!(!super::older("1.0.0", "0.10.0"));
    }
}
