//! Sweeping the blob files: what no version references and is older than the grace
//! goes, and so do staged uploads as old (a client that gave up mid-upload).

use std::collections::HashSet;
use std::fs;
use std::time::Duration;

use pyk_protocol::Sha256;

use super::FsBlobs;
use crate::store::{GcReport, Result};

impl FsBlobs {
    pub(super) fn sweep_files(&self, keep: &HashSet<Sha256>, grace: Duration) -> Result<GcReport> {
        let _sweeping = self.sweeping.write().unwrap_or_else(|e| e.into_inner());
        let old = |meta: &fs::Metadata| {
            meta.modified()
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= grace)
        };
        let mut report = GcReport::default();
        for dir in fs::read_dir(self.root.join("blobs"))? {
            let dir = dir?;
            if !dir.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(dir.path())? {
                let entry = entry?;
                let name = entry.file_name();
                // Anything not named like a blob is not the store's to delete.
                let Some(sha256) = name.to_str().and_then(|s| s.parse::<Sha256>().ok()) else {
                    continue;
                };
                let meta = entry.metadata()?;
                if !keep.contains(&sha256) && old(&meta) {
                    fs::remove_file(entry.path())?;
                    report.blobs += 1;
                    report.bytes += meta.len();
                }
            }
        }
        for entry in fs::read_dir(self.root.join("tmp"))? {
            let entry = entry?;
            if old(&entry.metadata()?) {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(report)
    }
}
