//! `packages/<kind>/<name>/index.json`: the one object per package that changes. It holds
//! what the embedded store keeps in its tables: the `latest` pointer, yanked flags, the
//! local name, the publish order, and every version string ever used (so a string never
//! names other bytes, even after its version is deleted). Every write replaces it whole,
//! conditionally on the version read (or under the lease), and bumps `generation`.
//!
//! Signatures are stored, not judged (as in the server's stores): a version's lives in
//! its manifest; the signed pointer of the move that set `latest` lives here beside it,
//! with the newest `issued` the package ever accepted, so that pointers only go forward
//! (`pyk_protocol::api::check_pointer`).
//!
//! Each entry also records when its version was last made latest (`promoted`, absent
//! in an index written before the record, read as never): retention spares a version
//! promoted within its window.
//!
//! A version exists when the index lists it. Its metadata object is written first and
//! is immutable, so a reader that finds a version in the index always finds its
//! metadata (and, written before that, its blobs).

use std::time::{SystemTime, UNIX_EPOCH};

use pyk_protocol::api::{check_pointer, LatestPointer, Move, PointerMismatch, VersionInfo};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Bumped by every write: a reader's cheapest way to tell two states apart in logs.
    pub generation: u64,
    pub latest: Option<String>,
    /// The signed pointer of the move that set `latest`, if that move was signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<LatestPointer>,
    /// The newest `issued` of a pointer the package accepted (0 if none).
    #[serde(default)]
    pub floor: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localname: Option<String>,
    /// The publish order handed out last (never handed out again).
    pub last_seq: u64,
    /// The versions that exist, in publish order.
    pub versions: Vec<Entry>,
    /// Every version string ever published, deleted ones included.
    pub used: Vec<String>,
}

/// One version as `versions` and `list` report it, and its place in the publish order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    #[serde(flatten)]
    pub info: VersionInfo,
}

impl Index {
    /// Whether the package exists: it has a version or a local name.
    pub fn exists(&self) -> bool {
        !self.versions.is_empty() || self.localname.is_some()
    }

    pub fn entry(&self, version: &str) -> Option<&Entry> {
        self.versions.iter().find(|e| e.info.version == version)
    }

    pub fn entry_mut(&mut self, version: &str) -> Option<&mut Entry> {
        self.versions.iter_mut().find(|e| e.info.version == version)
    }

    pub fn used(&self, version: &str) -> bool {
        self.used.iter().any(|v| v == version)
    }

    /// The next automatic version: one more than the highest all-digit string ever
    /// used (explicit ones count too), then on past any string used or in `taken`
    /// (metadata another publisher is writing); `None` when a u64 runs out.
    pub fn next_number(&self, taken: &[String]) -> Option<String> {
        let highest = self
            .used
            .iter()
            .chain(taken)
            .filter(|v| v.bytes().all(|b| b.is_ascii_digit()))
            .filter_map(|v| v.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        let mut candidate = highest;
        loop {
            candidate = candidate.checked_add(1)?;
            let text = candidate.to_string();
            if !self.used(&text) && !taken.contains(&text) {
                return Some(text);
            }
        }
    }

    /// Where `latest` goes when the version it points at (`leaving`) is yanked or
    /// deleted: the newest other version, by publish order, that is not yanked.
    pub fn fall_back(&self, leaving: &str) -> Move<'_> {
        match self
            .versions
            .iter()
            .rev()
            .find(|e| e.info.version != leaving && !e.info.yanked)
        {
            Some(e) => Move::To(&e.info.version),
            None => Move::Cleared,
        }
    }

    /// Moves `latest` as `to` says, once `pointer` is found to fit the move; the pointer
    /// is kept beside `latest` (an unsigned move drops the one there), a signed move
    /// raises the floor, and the version moved to records when (what retention reads).
    pub fn move_latest(
        &mut self,
        to: Move<'_>,
        pointer: Option<&LatestPointer>,
    ) -> Result<(), PointerMismatch> {
        check_pointer(pointer, to, self.floor)?;
        match to {
            Move::Stays => {}
            Move::To(v) => {
                if let Some(e) = self.entry_mut(v) {
                    e.info.promoted = Some(
                        SystemTime::now()
                            .duration_since(UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs()),
                    );
                }
                self.latest = Some(v.to_owned());
                self.pointer = pointer.cloned();
            }
            Move::Cleared => {
                self.latest = None;
                self.pointer = None;
            }
        }
        if let Some(p) = pointer {
            self.floor = self.floor.max(p.issued);
        }
        Ok(())
    }

    /// The pointer that set the current `latest`, if any.
    pub fn current_pointer(&self) -> Option<&LatestPointer> {
        self.pointer
            .as_ref()
            .filter(|p| self.latest.as_deref() == Some(p.version.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: &str, seq: u64, yanked: bool) -> Entry {
        Entry {
            seq,
            info: VersionInfo {
                version: version.into(),
                published: 1,
                publisher: "n".into(),
                size: 1,
                yanked,
                artifact_sha256: "ab".into(),
                format: "pyk".into(),
                signed_by: None,
                platforms: Vec::new(),
                promoted: None,
            },
        }
    }

    #[test]
    fn numbers_and_fall_back() {
        let mut index = Index {
            used: vec!["1".into(), "7".into(), "0100".into(), "2.0".into()],
            ..Index::default()
        };
        assert_eq!(index.next_number(&[]).as_deref(), Some("101"));
        assert_eq!(index.next_number(&["101".into()]).as_deref(), Some("102"));
        index.used = vec![u64::MAX.to_string()];
        assert_eq!(index.next_number(&[]), None);

        index.versions = vec![
            entry("1", 1, false),
            entry("2", 2, true),
            entry("3", 3, false),
        ];
        index.latest = Some("3".into());
        assert_eq!(index.fall_back("3"), Move::To("1"));
        index.versions[2].info.yanked = true;
        assert_eq!(index.fall_back("1"), Move::Cleared);
        index.move_latest(Move::Cleared, None).unwrap();
        assert_eq!(index.latest, None);
    }

    #[test]
    fn pointers_go_forward_and_unsigned_moves_drop_them() {
        let pointer = |version: &str, issued| LatestPointer {
            version: version.into(),
            issued,
            signature: pyk_protocol::api::Signature {
                key: "k".into(),
                sig: "s".into(),
            },
        };
        let mut index = Index::default();
        index
            .move_latest(Move::To("1"), Some(&pointer("1", 5)))
            .unwrap();
        assert_eq!(
            (index.floor, index.current_pointer()),
            (5, Some(&pointer("1", 5)))
        );
        assert!(matches!(
            index.move_latest(Move::To("2"), Some(&pointer("2", 5))),
            Err(PointerMismatch::Stale { .. })
        ));
        assert!(matches!(
            index.move_latest(Move::Stays, Some(&pointer("1", 9))),
            Err(PointerMismatch::Wrong { .. })
        ));
        index.move_latest(Move::To("2"), None).unwrap();
        assert_eq!((index.floor, index.current_pointer()), (5, None));
        // Only a version the index lists records its promotion.
        index.versions = vec![entry("1", 1, false), entry("2", 2, false)];
        index.move_latest(Move::To("2"), None).unwrap();
        assert!(index.versions[1].info.promoted.is_some());
        assert_eq!(index.versions[0].info.promoted, None);
    }

    #[test]
    fn entries_keep_the_version_info_shape() {
        let text = serde_json::to_string(&entry("1.0+b", 4, false)).unwrap();
        assert!(
            text.contains("\"seq\":4") && text.contains("\"version\":\"1.0+b\""),
            "{text}"
        );
        let back: Entry = serde_json::from_str(&text).unwrap();
        assert_eq!(back, entry("1.0+b", 4, false));
    }
}
