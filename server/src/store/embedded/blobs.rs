//! Blob files: `blobs/ab/abcd…`, each the encrypted bytes as uploaded, named by the
//! sha256 of its plaintext; uploads are staged in `tmp/` and renamed into place.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use pyk_protocol::Sha256;
use tempfile::NamedTempFile;

use super::lock::ProcessLock;
use crate::store::{BlobRead, BlobStat, BlobStore, GcReport, Result, StagedBlob};

pub struct FsBlobs {
    pub(super) root: PathBuf,
    /// Commits hold it shared, the sweep exclusively: a blob re-uploaded (or re-touched)
    /// while the sweep runs is never deleted under it.
    pub(super) sweeping: RwLock<()>,
    _lock: ProcessLock,
}

impl FsBlobs {
    /// Takes the store's lock and clears what a killed server left in `tmp/`.
    pub fn open(root: &Path) -> Result<FsBlobs> {
        fs::create_dir_all(root.join("blobs"))?;
        fs::create_dir_all(root.join("tmp"))?;
        let lock = ProcessLock::take(root)?;
        for entry in fs::read_dir(root.join("tmp"))? {
            let path = entry?.path();
            if path.is_file() {
                fs::remove_file(&path)?;
            }
        }
        Ok(FsBlobs {
            root: root.to_owned(),
            sweeping: RwLock::new(()),
            _lock: lock,
        })
    }

    fn path(&self, sha256: &Sha256) -> PathBuf {
        let hex = sha256.to_string();
        self.root.join("blobs").join(&hex[..2]).join(hex)
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl BlobStore for FsBlobs {
    fn stat(&self, sha256: &Sha256) -> Result<Option<BlobStat>> {
        match fs::metadata(self.path(sha256)) {
            Ok(m) => Ok(Some(BlobStat {
                len: m.len(),
                stamp: format!(
                    "{}:{}.{}:{}.{}",
                    m.ino(),
                    m.mtime(),
                    m.mtime_nsec(),
                    m.ctime(),
                    m.ctime_nsec()
                ),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn read(&self, sha256: &Sha256) -> Result<Option<BlobRead>> {
        match File::open(self.path(sha256)) {
            Ok(file) => Ok(Some(BlobRead {
                len: file.metadata()?.len(),
                reader: Box::new(file),
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn stage(&self, sha256: &Sha256) -> Result<Box<dyn StagedBlob + '_>> {
        let file = tempfile::Builder::new()
            .suffix(".part")
            .tempfile_in(self.root.join("tmp"))?;
        Ok(Box::new(Staged {
            blobs: self,
            file,
            sha256: *sha256,
        }))
    }

    fn sweep(&self, keep: &HashSet<Sha256>, grace: Duration) -> Result<GcReport> {
        self.sweep_files(keep, grace)
    }

    /// Both directories are there and readable: a store moved, unmounted or removed
    /// under the server fails here, though SQLite's open file would still answer.
    fn check(&self) -> Result<()> {
        fs::read_dir(self.root.join("blobs"))?;
        fs::read_dir(self.root.join("tmp"))?;
        Ok(())
    }
}

struct Staged<'a> {
    blobs: &'a FsBlobs,
    file: NamedTempFile,
    sha256: Sha256,
}

impl Write for Staged<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl StagedBlob for Staged<'_> {
    fn commit(self: Box<Self>) -> Result<bool> {
        self.file.as_file().sync_all()?;
        let blobs = self.blobs;
        let _sweeping = blobs.sweeping.read().unwrap_or_else(|e| e.into_inner());
        let dest = blobs.path(&self.sha256);
        // Already stored: the verified bytes replace it all the same, since the stored
        // copy may be damaged (a reader holding it open keeps reading the old file).
        let existed = dest.exists();
        let dir = dest
            .parent()
            .ok_or_else(|| io::Error::other("blob path has no parent"))?;
        if !dir.exists() {
            fs::create_dir_all(dir)?;
            sync_dir(&blobs.root.join("blobs"))?;
        }
        self.file.persist(&dest).map_err(|e| e.error)?;
        sync_dir(dir)?;
        Ok(!existed)
    }
}
