//! Which publishers this machine trusts, and the check every manifest passes before
//! anything of it runs or is imported: fresh from a server, read back from the cache,
//! or pinned.
//!
//! A manifest passes when its version statement is signed by a key trusted for the
//! package (the package's own list if it has one, else the machine's), and, for an
//! answer about `latest`, when the move that made it the latest is signed by such a key
//! too and is not older than the newest move this machine already accepted for the
//! package. That last rule is the rollback protection: a server or a man in the middle
//! holding an old, genuinely signed pointer cannot hand it out again. The newest
//! accepted `issued` of each package is kept in a small file per package under the
//! directory given to [`Trust::remembering`].
//!
//! A pointer dated further ahead of this machine's clock than clocks may differ
//! (`pyk_protocol::statement::MAX_SKEW_MS`) is refused and never remembered: once
//! remembered, it would outrank every genuine pointer until its date. A record made
//! before that rule (or by a wrong clock) is forgotten with [`Trust::forget`] (`pyk
//! trust reset NAME`), which the refusal names.
//!
//! A package no configured key covers is trusted on first use, as SSH trusts hosts: the
//! key that signed the first version this machine accepts is pinned (one file per package
//! under `pins/` of the same directory), and from then on only that key is accepted for
//! it, unsigned versions included. A different key is refused with both keys named and
//! the command that accepts the new one (`pyk trust NAME KEY`). Configured keys (`trusted`,
//! `[trusted_for]`) override pins. An unsigned package never pinned is not checked
//! ([`Verdict::Unchecked`]): the caller warns, once per package.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use pyk_crypto::sign::{PublicKey, SignError};
use pyk_protocol::api::{Manifest, Signature};
use pyk_protocol::statement::{now_ms, too_far_ahead, MAX_SKEW_MS};
use pyk_protocol::PackageRef;

/// What a manifest is, for [`Trust::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Read back from this machine's cache, or asked for by version: its own signature.
    Version,
    /// A server's answer about `latest`: also the signed pointer, and no rollback.
    Latest,
}

/// What the check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Signed by this trusted key.
    Signed(PublicKey),
    /// Unsigned, and neither a configured key nor a pin covers the package: nothing was
    /// checked.
    Unchecked,
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{what} is not signed, and this machine runs only what a key it trusts signed")]
    Unsigned { what: String },
    #[error("{what} is signed by {key}, which this machine does not trust for {package}")]
    Untrusted {
        what: String,
        key: String,
        package: String,
    },
    #[error("{what} does not match its signature (by {key}): it was changed after it was signed")]
    Forged { what: String, key: String },
    #[error(
        "{what} is older than the latest this machine already accepted (version {seen}, \
         issued {seen_issued} ms; this one {issued} ms): refusing a rollback"
    )]
    Rollback {
        what: String,
        issued: u64,
        seen: String,
        seen_issued: u64,
    },
    #[error(
        "{what} is dated {} s ahead of this machine's clock (issued {issued} ms), which no \
         publisher signs: refusing it (if this machine's clock is behind, set it right)",
        (.ahead + MAX_SKEW_MS) / 1000
    )]
    Future {
        what: String,
        issued: u64,
        ahead: u64,
    },
    #[error(
        "this machine remembers a latest of {package} (version {seen}, issued {seen_issued} \
         ms) dated {} s ahead of its clock, which outranks every genuine one: if no \
         publisher of yours signed it, `pyk trust reset {}` forgets it",
        (.ahead + MAX_SKEW_MS) / 1000,
        reset_args(.package)
    )]
    Poisoned {
        package: String,
        seen: String,
        seen_issued: u64,
        ahead: u64,
    },
    #[error(
        "{package} is signed by {offered}, but this machine pinned it to {pinned} on first \
         use: if its publisher changed keys, `pyk trust {} {offered}` accepts the new one \
         (or `pyk trust reset {}` forgets the pin)",
        trust_args(.package),
        reset_args(.package)
    )]
    KeyChanged {
        package: String,
        pinned: String,
        offered: String,
    },
    #[error("cannot {doing}")]
    Io {
        doing: String,
        #[source]
        source: io::Error,
    },
}

/// The keys this machine trusts.
#[derive(Debug, Default, Clone)]
pub struct Trust {
    everyone: Vec<PublicKey>,
    per_package: BTreeMap<String, Vec<PublicKey>>,
    floors: Option<PathBuf>,
}

impl Trust {
    /// `everyone`: trusted for every package; `per_package`: package name (of either
    /// kind) → the only keys trusted for it.
    pub fn new(everyone: Vec<PublicKey>, per_package: BTreeMap<String, Vec<PublicKey>>) -> Trust {
        Trust {
            everyone,
            per_package,
            floors: None,
        }
    }

    /// These keys and `key` too, for every package: what a publisher vouches for.
    pub fn also(mut self, key: PublicKey) -> Trust {
        for keys in std::iter::once(&mut self.everyone).chain(self.per_package.values_mut()) {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        self
    }

    /// Keeps the newest accepted `latest` of each package under `dir`.
    pub fn remembering(mut self, dir: PathBuf) -> Trust {
        self.floors = Some(dir);
        self
    }

    fn keys_for(&self, name: &str) -> &[PublicKey] {
        self.per_package.get(name).unwrap_or(&self.everyone)
    }

    /// Checks `manifest` before anything of it is used.
    pub fn verify(&self, manifest: &Manifest, answer: Answer) -> Result<Verdict, TrustError> {
        let package = format!("{} {}", manifest.kind, manifest.name);
        let what = format!("{package} version {}", manifest.version);
        let configured = self.keys_for(&manifest.name);
        let pin_path = self.pin_path(manifest.kind.as_str(), &manifest.name);
        let pinned = match (configured.is_empty(), &pin_path) {
            (true, Some(path)) => read_pin(path)?,
            _ => None,
        };
        // The keys this manifest may be signed by: the configured ones, else the pinned
        // one, else (first use) whichever signed it.
        let first_use = match (&manifest.signature, &pinned) {
            (None, None) if configured.is_empty() => return Ok(Verdict::Unchecked),
            (Some(signature), None) if configured.is_empty() => Some(
                PublicKey::parse(&signature.key).map_err(|_| TrustError::Untrusted {
                    what: what.clone(),
                    key: signature.key.clone(),
                    package: package.clone(),
                })?,
            ),
            _ => None,
        };
        let accepted: Vec<PublicKey> = match (&pinned, first_use) {
            _ if !configured.is_empty() => configured.to_vec(),
            (Some(pin), _) => vec![*pin],
            (None, Some(key)) => vec![key],
            (None, None) => Vec::new(),
        };
        if let (Some(pin), Some(signature)) = (&pinned, &manifest.signature) {
            if PublicKey::parse(&signature.key).ok().as_ref() != Some(pin) {
                return Err(TrustError::KeyChanged {
                    package,
                    pinned: pin.to_string(),
                    offered: signature.key.clone(),
                });
            }
        }
        let statement = manifest.statement();
        let key = check(
            &accepted,
            &package,
            &what,
            manifest.signature.as_ref(),
            |key, sig| key.verify_version(&statement, sig),
        )?;
        if answer == Answer::Latest {
            let what = format!(
                "the move of {package}'s latest to version {}",
                manifest.version
            );
            let pointer = manifest
                .latest
                .as_ref()
                .filter(|p| p.version == manifest.version)
                .ok_or_else(|| TrustError::Unsigned { what: what.clone() })?;
            let statement = pointer.statement(manifest.kind, &manifest.name);
            check(
                &accepted,
                &package,
                &what,
                Some(&pointer.signature),
                |key, sig| key.verify(&statement, sig),
            )?;
            if let Some(ahead) = too_far_ahead(pointer.issued, now_ms()) {
                return Err(TrustError::Future {
                    what,
                    issued: pointer.issued,
                    ahead,
                });
            }
            self.advance(manifest, pointer.issued, &what)?;
        }
        if let (None, true, Some(path)) = (pinned, configured.is_empty(), &pin_path) {
            write_pin(path, &key)?;
        }
        Ok(Verdict::Signed(key))
    }

    /// Where the key `name` (of `kind`) is pinned to, when this trust remembers.
    fn pin_path(&self, kind: &str, name: &str) -> Option<PathBuf> {
        Some(self.floors.as_ref()?.join("pins").join(kind).join(name))
    }

    /// Whether `manifest` is unsigned and this machine had not yet been told so about its
    /// package: records it, so that the caller warns once per package, not once per run.
    pub fn first_unsigned(&self, manifest: &Manifest) -> bool {
        let Some(dir) = &self.floors else {
            return manifest.signature.is_none();
        };
        let dir = dir.join("unsigned").join(manifest.kind.as_str());
        // A record that cannot be written warns again next time: never an error. One
        // already there is only looked at: a warm run writes nothing.
        manifest.signature.is_none()
            && !dir.join(&manifest.name).exists()
            && fs::create_dir_all(&dir).is_ok()
            && fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(dir.join(&manifest.name))
                .is_ok()
    }

    /// Forgets the key `package` is pinned to, so that the next signed version pins anew.
    /// Returns the key it was pinned to.
    pub fn unpin(&self, package: &PackageRef) -> Result<Option<PublicKey>, TrustError> {
        let Some(path) = self.pin_path(package.kind().as_str(), package.name()) else {
            return Ok(None);
        };
        let before = read_pin(&path)?;
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(TrustError::Io {
                doing: format!("remove {}", path.display()),
                source: e,
            }),
            _ => Ok(before),
        }
    }

    /// Pins `package` to `key`, replacing any pin: what `pyk trust NAME KEY` does after a
    /// publisher changed keys. Returns the key it was pinned to before.
    pub fn pin(
        &self,
        package: &PackageRef,
        key: &PublicKey,
    ) -> Result<Option<PublicKey>, TrustError> {
        let Some(path) = self.pin_path(package.kind().as_str(), package.name()) else {
            return Ok(None);
        };
        let before = read_pin(&path)?;
        write_pin(&path, key)?;
        Ok(before)
    }

    /// Refuses a pointer older than the newest accepted for the package, else makes it
    /// the newest. Under a lock, so that two runs cannot lower it.
    fn advance(&self, manifest: &Manifest, issued: u64, what: &str) -> Result<(), TrustError> {
        let Some(dir) = &self.floors else {
            return Ok(());
        };
        let dir = dir.join(manifest.kind.as_str());
        let io = |doing: String| move |source| TrustError::Io { doing, source };
        fs::create_dir_all(&dir).map_err(io(format!("create {}", dir.display())))?;
        let path = dir.join(&manifest.name);
        let (_lock, seen) = read_floor(&dir, &manifest.name)?;
        if let Some((seen_issued, seen)) = seen {
            if let Some(ahead) = too_far_ahead(seen_issued, now_ms()) {
                return Err(TrustError::Poisoned {
                    package: format!("{} {}", manifest.kind, manifest.name),
                    seen,
                    seen_issued,
                    ahead,
                });
            }
            // Equal times are one statement seen again; a different version under the
            // same time is not one the server would have accepted.
            if issued < seen_issued || (issued == seen_issued && seen != manifest.version) {
                return Err(TrustError::Rollback {
                    what: what.to_owned(),
                    issued,
                    seen,
                    seen_issued,
                });
            }
            if issued == seen_issued {
                return Ok(());
            }
        }
        let mut tmp = tempfile::NamedTempFile::new_in(&dir)
            .map_err(io(format!("write in {}", dir.display())))?;
        writeln!(tmp, "{issued} {}", manifest.version)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(io(format!("write {}", path.display())))?;
        tmp.persist(&path)
            .map_err(|e| io(format!("write {}", path.display()))(e.error))?;
        Ok(())
    }
}

impl Trust {
    /// Forgets the newest `latest` this machine accepted for `package`, so that the next
    /// signed pointer is taken as on a fresh machine: the way out of a record that
    /// outranks every genuine pointer. Returns what was remembered (`issued`, version).
    pub fn forget(&self, package: &PackageRef) -> Result<Option<(u64, String)>, TrustError> {
        let Some(dir) = &self.floors else {
            return Ok(None);
        };
        let dir = dir.join(package.kind().as_str());
        let io = |doing: String| move |source| TrustError::Io { doing, source };
        let path = dir.join(package.name());
        if !path.exists() {
            return Ok(None);
        }
        // Under the lock `advance` takes, so that no run is half-way through raising it.
        let (_lock, seen) = read_floor(&dir, package.name())?;
        if seen.is_none() && !path.exists() {
            return Ok(None);
        }
        fs::remove_file(&path).map_err(io(format!("remove {}", path.display())))?;
        Ok(seen)
    }
}

/// The trusted key whose `signature` `verify` accepts, among `keys`, or why not.
fn check(
    keys: &[PublicKey],
    package: &str,
    what: &str,
    signature: Option<&Signature>,
    verify: impl Fn(&PublicKey, &str) -> Result<(), SignError>,
) -> Result<PublicKey, TrustError> {
    let signature = signature.ok_or_else(|| TrustError::Unsigned {
        what: what.to_owned(),
    })?;
    let key = PublicKey::parse(&signature.key)
        .ok()
        .filter(|k| keys.contains(k))
        .ok_or_else(|| TrustError::Untrusted {
            what: what.to_owned(),
            key: signature.key.clone(),
            package: package.to_owned(),
        })?;
    verify(&key, &signature.sig).map_err(|_| TrustError::Forged {
        what: what.to_owned(),
        key: signature.key.clone(),
    })?;
    Ok(key)
}

/// The key pinned at `path`, if any.
fn read_pin(path: &Path) -> Result<Option<PublicKey>, TrustError> {
    match fs::read_to_string(path) {
        // A pin that does not parse was not written by pyk: it pins nothing.
        Ok(text) => Ok(PublicKey::parse(&text).ok()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TrustError::Io {
            doing: format!("read {}", path.display()),
            source,
        }),
    }
}

/// Writes the pin at `path` whole (a temporary file renamed over it).
fn write_pin(path: &Path, key: &PublicKey) -> Result<(), TrustError> {
    let io = |doing: String| move |source| TrustError::Io { doing, source };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
    let mut tmp =
        tempfile::NamedTempFile::new_in(dir).map_err(io(format!("write in {}", dir.display())))?;
    writeln!(tmp, "{key}")
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(io(format!("write {}", path.display())))?;
    tmp.persist(path)
        .map_err(|e| io(format!("write {}", path.display()))(e.error))?;
    Ok(())
}

/// The arguments of `pyk trust NAME KEY` before the key, for `package`.
fn trust_args(package: &str) -> String {
    match package.split_once(' ') {
        Some(("lib", name)) => format!("--lib {name}"),
        Some((_, name)) => name.to_owned(),
        None => package.to_owned(),
    }
}

/// The arguments of `pyk trust reset` for `package` ("run foo" or "lib foo").
fn reset_args(package: &str) -> String {
    match package.split_once(' ') {
        Some(("lib", name)) => format!("{name} --lib"),
        Some((_, name)) => name.to_owned(),
        None => package.to_owned(),
    }
}

/// The record of `name` in `dir`, read under its lock, which the caller holds while it
/// acts on what it read (the lock is released when the returned file is dropped).
fn read_floor(dir: &Path, name: &str) -> Result<(File, Option<(u64, String)>), TrustError> {
    let io = |doing: String| move |source| TrustError::Io { doing, source };
    let path = dir.join(name);
    let lock_path = dir.join(format!(".{name}.lock"));
    let lock = File::create(&lock_path).map_err(io(format!("write {}", lock_path.display())))?;
    let locked = match lock.try_lock() {
        Ok(()) => Ok(()),
        Err(std::fs::TryLockError::WouldBlock) => {
            // Another run of this package is raising the record (`pyk -v` says so).
            tracing::debug!("trust: waiting for the lock on {}", lock_path.display());
            let started = std::time::Instant::now();
            let locked = lock.lock();
            tracing::debug!(
                "trust: waited {:.1?} for the lock on {}",
                started.elapsed(),
                lock_path.display()
            );
            locked
        }
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    };
    locked.map_err(io(format!("lock {}", lock_path.display())))?;
    let seen = match fs::read_to_string(&path) {
        Ok(text) => parse_floor(&text),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(format!("read {}", path.display()))(e)),
    };
    Ok((lock, seen))
}

/// `"<issued> <version>"`; anything else counts as nothing seen.
fn parse_floor(text: &str) -> Option<(u64, String)> {
    let (issued, version) = text.trim().split_once(' ')?;
    Some((issued.parse().ok()?, version.to_owned()))
}
