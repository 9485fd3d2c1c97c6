//! Garbage collection: blobs no version references go, once they are older than a
//! grace period (a publish uploads its blobs before it posts the manifest that names
//! them).
//!
//! The two halves cooperate through the registry's publish lock: the sweep runs while
//! the registry holds it ([`Registry::with_references`]), so no publish can check a blob
//! and commit a version between the moment the references are read and the moment the
//! blob is deleted; and the blob store keeps a blob re-uploaded during the sweep.
//!
//! [`Registry::with_references`]: super::Registry::with_references

use std::time::Duration;

use super::{GcReport, Result, Store};

impl Store {
    /// Deletes blobs no version references that are older than `grace`, and stale
    /// staged uploads.
    pub fn collect_garbage(&self, grace: Duration) -> Result<GcReport> {
        self.registry()
            .with_references(&mut |keep| self.blobs().sweep(keep, grace))
    }
}
