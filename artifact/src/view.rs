//! A program's dependency view: the one site-packages directory it runs with, assembled
//! from the units its trailer lists, each unpacked once per machine.
//!
//! Directories are made; files are hard-linked to the unit's (a copy where a link cannot
//! be made: the unit is on another filesystem, such as an administrator's shared cache, or
//! belongs to another user); links are made again. A unit whose tree is not what its
//! trailer line declares (entries and bytes, exactly) is refused, and so is a path two
//! units both hold: nothing is written through a link, and nothing is replaced. Units are
//! merged side by side. The view is assembled in the cache entry's work directory and
//! renamed into place whole (see `pyk_cache::fill_dir`), so a killed assembly leaves
//! nothing anyone trusts.
//!
//! A hard link shares the unit's file: a program that rewrote a file of its own
//! site-packages in place would change it for every view. Python itself replaces the
//! bytecode it writes (a new file renamed over), which leaves the unit alone.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use pyk_cache::VIEW_UNITS;

use crate::side_by_side;
use crate::trailer::Layer;

/// Why a view could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("unit {unit} holds {}, which another unit holds too", path.display())]
    Clash { unit: String, path: PathBuf },
    #[error(
        "unit {unit} in {} holds {files} entries and {size} bytes, its trailer says {want_files} and {want_size}: it was changed since it was unpacked (`pyk cache clean` removes it)",
        dir.display()
    )]
    Changed {
        unit: String,
        dir: PathBuf,
        files: u64,
        size: u64,
        want_files: u64,
        want_size: u64,
    },
    #[error("cannot assemble {} from unit {unit}", path.display())]
    Io {
        unit: String,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What one unit put into the view.
#[derive(Default)]
struct Count {
    files: u64,
    size: u64,
    /// Links failed once (another filesystem, another owner): copy the rest.
    copy: bool,
}

/// Assembles the view of `units` (each with its unpacked directory) into `work`, and names
/// them in [`VIEW_UNITS`].
pub fn assemble(units: &[(&Layer, &Path)], work: &Path) -> Result<(), ViewError> {
    side_by_side::map(units, |(unit, dir)| merge_unit(unit, dir, work))?;
    let names: String = units
        .iter()
        .map(|(u, _)| format!("{}\n", u.sha256))
        .collect();
    let list = work.join(VIEW_UNITS);
    fs::write(&list, names).map_err(|source| ViewError::Io {
        unit: String::new(),
        path: list,
        source,
    })
}

/// Merges one unit into the view at `work` and checks it put what its trailer declares.
fn merge_unit(unit: &Layer, dir: &Path, work: &Path) -> Result<(), ViewError> {
    let mut count = Count::default();
    merge(unit, dir, work, work, &mut count)?;
    if (count.files, count.size) != (unit.files, unit.size) {
        return Err(ViewError::Changed {
            unit: unit.name.clone(),
            dir: dir.to_path_buf(),
            files: count.files,
            size: count.size,
            want_files: unit.files,
            want_size: unit.size,
        });
    }
    Ok(())
}

/// Puts the tree under `from` into `into` (a directory of the view at `root`), counting
/// what it put.
fn merge(
    unit: &Layer,
    from: &Path,
    into: &Path,
    root: &Path,
    count: &mut Count,
) -> Result<(), ViewError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ViewError::Io {
            unit: unit.name.clone(),
            path,
            source,
        }
    };
    for entry in fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let (src, dst) = (entry.path(), into.join(entry.file_name()));
        let kind = entry.file_type().map_err(io(&src))?;
        let clash = || ViewError::Clash {
            unit: unit.name.clone(),
            path: dst.strip_prefix(root).unwrap_or(&dst).to_path_buf(),
        };
        count.files += 1;
        if kind.is_dir() {
            match fs::create_dir(&dst) {
                Ok(()) => {}
                // Shared with an earlier unit (a namespace package): a directory, never a
                // link to one, is entered.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    if !fs::symlink_metadata(&dst).is_ok_and(|m| m.is_dir()) {
                        return Err(clash());
                    }
                }
                Err(e) => return Err(io(&dst)(e)),
            }
            merge(unit, &src, &dst, root, count)?;
        } else if kind.is_symlink() {
            let target = fs::read_link(&src).map_err(io(&src))?;
            match std::os::unix::fs::symlink(&target, &dst) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(clash()),
                other => other.map_err(io(&dst))?,
            }
        } else {
            let meta = entry.metadata().map_err(io(&src))?;
            count.size += meta.len();
            match link_or_copy(&src, &dst, &meta, &mut count.copy) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(clash()),
                other => other.map_err(io(&dst))?,
            }
        }
    }
    Ok(())
}

/// A hard link to `src` at `dst`, else (another filesystem, a file of another owner under
/// `protected_hardlinks`) a copy with its mode; never over an existing path.
fn link_or_copy(src: &Path, dst: &Path, meta: &fs::Metadata, copy: &mut bool) -> io::Result<()> {
    if !*copy {
        match fs::hard_link(src, dst) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EXDEV | libc::EPERM)) => *copy = true,
            other => return other,
        }
    }
    let mut from = File::open(src)?;
    let mut to = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(meta.permissions().mode() & 0o777)
        .open(dst)?;
    io::copy(&mut from, &mut to).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trailer::{Role, Span};
    use pyk_protocol::Sha256;
    use std::os::unix::fs::MetadataExt;

    fn unit(name: &str, files: u64, size: u64) -> Layer {
        Layer {
            role: Role::Unit,
            span: Span { offset: 0, len: 1 },
            sha256: Sha256::of(name.as_bytes()),
            size,
            files,
            name: name.into(),
        }
    }

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let path = dir.path().join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn units_merge_by_links_and_shared_directories_once() {
        let a = tree(&[("ns/a/__init__.py", "a"), ("a-1.dist-info/RECORD", "rr")]);
        let b = tree(&[("ns/b/__init__.py", "bb"), ("b-1.dist-info/RECORD", "r")]);
        let (ua, ub) = (unit("a-1", 5, 3), unit("b-1", 5, 3));
        let work = tempfile::tempdir().unwrap();
        assemble(&[(&ua, a.path()), (&ub, b.path())], work.path()).unwrap();
        let linked = work.path().join("ns/b/__init__.py");
        assert_eq!(fs::read_to_string(&linked).unwrap(), "bb");
        let (v, u) = (
            fs::metadata(&linked).unwrap(),
            fs::metadata(b.path().join("ns/b/__init__.py")).unwrap(),
        );
        assert_eq!(
            (v.ino(), v.nlink()),
            (u.ino(), 2),
            "a hard link, not a copy"
        );
        let listed = fs::read_to_string(work.path().join(VIEW_UNITS)).unwrap();
        assert_eq!(listed, format!("{}\n{}\n", ua.sha256, ub.sha256));
    }

    #[test]
    fn a_path_two_units_hold_and_a_changed_unit_are_refused() {
        let a = tree(&[("x/same.py", "a")]);
        let b = tree(&[("x/same.py", "b")]);
        let work = tempfile::tempdir().unwrap();
        let (ua, ub) = (unit("a-1", 2, 1), unit("b-1", 2, 1));
        let err = assemble(&[(&ua, a.path()), (&ub, b.path())], work.path()).unwrap_err();
        assert!(
            matches!(err, ViewError::Clash { ref path, .. } if path == Path::new("x/same.py")),
            "{err:?}"
        );
        // Nothing replaced: the path holds one unit's file, whichever came first.
        let kept = fs::read_to_string(work.path().join("x/same.py")).unwrap();
        assert!(kept == "a" || kept == "b", "{kept}");
        // A directory of one unit where another has a link: never entered.
        let l = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("elsewhere", l.path().join("x")).unwrap();
        let work = tempfile::tempdir().unwrap();
        let ul = unit("l-1", 1, 0);
        let err = assemble(&[(&ul, l.path()), (&ua, a.path())], work.path()).unwrap_err();
        assert!(matches!(err, ViewError::Clash { .. }), "{err}");
        // One file fewer than declared.
        let work = tempfile::tempdir().unwrap();
        let err = assemble(&[(&unit("a-1", 3, 1), a.path())], work.path()).unwrap_err();
        assert!(matches!(err, ViewError::Changed { files: 2, .. }), "{err}");
    }
}
