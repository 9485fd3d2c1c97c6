//! `pyk migrate FROM TO`: copies a repository between stores (a directory, a bucket)
//! through the two traits, so any store can be either side.
//!
//! Package by package: its blobs first, each decrypted with the repository key and
//! hashed as it streams into the target (committed only if its plaintext hashes to its
//! name), then the package in one change ([`Registry::import`]). A package is therefore
//! copied entirely or not at all; a blob the target has already is not copied again; a
//! second run changes nothing; a run killed at any point is finished by the next.
//!
//! [`Registry::import`]: super::Registry::import

use std::collections::HashSet;
use std::io::{self, Read, Write};

use pyk_crypto::blob::{refusal, BlobReader};
use pyk_crypto::Key;
use pyk_protocol::{Kind, Sha256};

use super::{label, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("reading the source store")]
    Source(#[source] StoreError),
    #[error("writing the target store")]
    Target(#[source] StoreError),
    #[error("{package} names blob {sha256}, which the source store does not have")]
    MissingBlob { package: String, sha256: Sha256 },
    #[error("blob {sha256} does not decrypt with this key: is KEY the repository's?")]
    WrongKey {
        sha256: Sha256,
        #[source]
        source: io::Error,
    },
    #[error("blob {sha256} in the source store holds other bytes (they hash to {got})")]
    Damaged { sha256: Sha256, got: Sha256 },
}

/// What a migration did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Migrated {
    pub packages: u64,
    pub versions: u64,
    /// Blobs copied, and their stored bytes.
    pub blobs: u64,
    pub bytes: u64,
    /// Blobs the target had already.
    pub present: u64,
}

/// One package done (for progress lines).
pub struct Step<'a> {
    pub kind: Kind,
    pub name: &'a str,
    pub versions: usize,
    pub blobs: u64,
    pub bytes: u64,
}

/// Copies every package of `from` into `to` (see the module doc); `key` is the
/// repository key the blobs are encrypted with. `done` hears of each package.
pub fn migrate(
    from: &Store,
    to: &Store,
    key: &Key,
    done: &mut dyn FnMut(Step),
) -> Result<Migrated, MigrateError> {
    let mut total = Migrated::default();
    let mut seen = HashSet::new();
    let packages = from.registry().packages().map_err(MigrateError::Source)?;
    for (kind, name) in packages {
        let record = from
            .registry()
            .export(kind, &name)
            .map_err(MigrateError::Source)?;
        let (mut blobs, mut bytes) = (0, 0);
        for manifest in &record.versions {
            for blob in manifest.blobs.iter().chain(&manifest.api) {
                // Stored manifests were checked when published.
                let Ok(sha256) = blob.sha256.parse::<Sha256>() else {
                    continue;
                };
                if !seen.insert(sha256) {
                    continue;
                }
                match copy_blob(from, to, key, &sha256, &label(kind, &name))? {
                    Some(len) => {
                        blobs += 1;
                        bytes += len;
                    }
                    None => total.present += 1,
                }
            }
        }
        to.registry()
            .import(kind, &name, &record)
            .map_err(MigrateError::Target)?;
        total.packages += 1;
        total.versions += record.versions.len() as u64;
        total.blobs += blobs;
        total.bytes += bytes;
        done(Step {
            kind,
            name: &name,
            versions: record.versions.len(),
            blobs,
            bytes,
        });
    }
    Ok(total)
}

/// Copies one blob, verified; its stored length if copied, `None` if the target has it.
fn copy_blob(
    from: &Store,
    to: &Store,
    key: &Key,
    sha256: &Sha256,
    package: &str,
) -> Result<Option<u64>, MigrateError> {
    if to
        .blobs()
        .stored_len(sha256)
        .map_err(MigrateError::Target)?
        .is_some()
    {
        return Ok(None);
    }
    let source = from
        .blobs()
        .read(sha256)
        .map_err(MigrateError::Source)?
        .ok_or_else(|| MigrateError::MissingBlob {
            package: package.to_owned(),
            sha256: *sha256,
        })?;
    let mut staged = to.blobs().stage(sha256).map_err(MigrateError::Target)?;
    let mut tee = Tee {
        source: source.reader,
        copy: &mut *staged,
        len: 0,
        copy_failed: None,
    };
    let got = {
        let mut reader = BlobReader::new(key, &mut tee);
        match io::copy(&mut reader, &mut io::sink()) {
            Ok(_) => reader.sha256(),
            Err(e) if refusal(&e).is_some() => {
                return Err(MigrateError::WrongKey {
                    sha256: *sha256,
                    source: e,
                })
            }
            Err(e) => {
                return Err(match tee.copy_failed.take() {
                    Some(w) => MigrateError::Target(w.into()),
                    None => MigrateError::Source(e.into()),
                })
            }
        }
    };
    let got = got.expect("a blob read to its end has its digest");
    if got != *sha256 {
        return Err(MigrateError::Damaged {
            sha256: *sha256,
            got,
        });
    }
    let len = tee.len;
    staged.commit().map_err(MigrateError::Target)?;
    Ok(Some(len))
}

/// Copies what is read through it to the target; a failed write is kept apart, so it
/// is reported as the target's fault and not the source's.
struct Tee<'a> {
    source: Box<dyn Read + Send>,
    copy: &'a mut dyn Write,
    len: u64,
    copy_failed: Option<io::Error>,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.source.read(buf)?;
        if let Err(e) = self.copy.write_all(&buf[..n]) {
            let shown = io::Error::new(e.kind(), e.to_string());
            self.copy_failed = Some(e);
            return Err(shown);
        }
        self.len += n as u64;
        Ok(n)
    }
}
