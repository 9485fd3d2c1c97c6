//! Whole files, for `pyk pull` and `pyk inspect NAME`: a version's blobs written one after
//! the other, byte-identical to what was published, and checked against the artifact's
//! sha256. Blobs kept here (a trailer, a pushed file) are not fetched again; the others
//! stream through temp files that are deleted once copied. Running never needs this.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use pyk_protocol::api::Manifest;
use pyk_protocol::digest::HashingWriter;
use pyk_protocol::Sha256;

use crate::local::Packages;
use crate::{Client, Damage, Error, Progress};

impl Packages {
    /// Writes `manifest`'s whole file to `out`, fetching the blobs not kept here.
    pub fn write_whole(
        &self,
        client: &Client,
        manifest: &Manifest,
        out: &mut dyn Write,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        let mut out = HashingWriter::new(out);
        let cannot_write = |e| Error::io("write the file", e);
        let dir = self.blobs_dir();
        for blob in &manifest.blobs {
            let sha256: Sha256 = blob
                .sha256
                .parse()
                .map_err(|_| damaged(client, manifest, "a malformed digest"))?;
            let (_tmp, path);
            match self.blob(&blob.sha256) {
                Some(kept) => path = kept,
                None => {
                    let tmp = client.download_blob_temp(&sha256, blob.size, &dir, progress)?;
                    path = tmp.path().to_path_buf();
                    _tmp = Some(tmp);
                }
            }
            let mut from =
                File::open(&path).map_err(|e| Error::io(format!("read {}", path.display()), e))?;
            io::copy(&mut from, &mut out).map_err(cannot_write)?;
        }
        let got = out.hasher().digest();
        if got.to_string() != manifest.artifact_sha256 {
            return Err(Error::Damaged {
                server: client.server().to_owned(),
                what: format!(
                    "{} {} version {}",
                    manifest.kind, manifest.name, manifest.version
                ),
                damage: Damage::Hash(got),
            });
        }
        Ok(())
    }

    /// Writes `manifest`'s whole file to `dest` atomically (replacing what is there),
    /// with the mode its manifest says.
    pub fn pull(
        &self,
        client: &Client,
        manifest: &Manifest,
        dest: &Path,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        let mode = if manifest.executable { 0o755 } else { 0o644 };
        let mut failed = None;
        let written = pyk_cache::write_file(dest, mode, pyk_cache::Existing::Replace, |f| {
            self.write_whole(client, manifest, f, progress)
                .map_err(|e| {
                    failed = Some(e);
                    io::Error::other("failed")
                })
        });
        match (failed, written) {
            (Some(e), _) => Err(e),
            (None, r) => r.map(drop).map_err(Error::Cache),
        }
    }
}

fn damaged(client: &Client, manifest: &Manifest, why: &str) -> Error {
    Error::Damaged {
        server: client.server().to_owned(),
        what: format!(
            "{} {} version {}",
            manifest.kind, manifest.name, manifest.version
        ),
        damage: Damage::Manifest(why.into()),
    }
}
