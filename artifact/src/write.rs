//! The deterministic layer writer: a directory tree in, a `.tar.zst` out, the same bytes
//! for the same tree on any machine.
//!
//! Entries are depth-first with names sorted, with mode 0644/0755 (0755 for directories),
//! owner 0 and mtime 0. The tar stream is cut at entry boundaries into frames of about
//! [`FRAME_TARGET`], each compressed on its own with its size in
//! its header, so the launcher can unpack frames on several cores. Frames are compressed on
//! every core here too; each frame's bytes depend only on its input and the level, so the
//! output does not depend on the number of cores.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use pyk_protocol::digest::Hasher;
use pyk_protocol::Sha256;

use crate::trailer::{valid_part_name, Extra, Span};

/// Uncompressed tar bytes per frame. Measured on a 31 MB runtime at level 19: one frame
/// 7.62 MB, 8 MiB frames +3%, 4 MiB +5%, 2 MiB +7%. 4 MiB gives a runtime eight frames,
/// enough to keep two to four cores busy when it is unpacked.
pub const FRAME_TARGET: u64 = 4 << 20;

/// What was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// sha256 of the compressed bytes.
    pub sha256: Sha256,
    /// Compressed length.
    pub len: u64,
    /// Bytes of file data (what the trailer declares as the unpacked size).
    pub size: u64,
    /// Entries: files, directories and links (the declared entry count).
    pub files: u64,
}

/// Why a layer could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: a symbolic link to {} that {why}", path.display(), target.display())]
    Link {
        path: PathBuf,
        target: PathBuf,
        why: &'static str,
    },
    #[error("{} is not a file, directory or symbolic link", path.display())]
    Special { path: PathBuf },
    #[error("{0:?} is not a name an artifact's part may have")]
    PartName(String),
    #[error("cannot write the artifact")]
    Write(#[source] io::Error),
}

enum Kind {
    Dir,
    File { size: u64, exec: bool },
    Link(PathBuf),
}

struct Entry {
    rel: PathBuf,
    kind: Kind,
}

/// Writes an extra part (see [`crate::trailer::Extra`]) of `name` at `offset` of the
/// artifact: its bytes as they are, and the trailer's record of them. The caller writes
/// the parts right after the launcher, before the first layer.
pub fn write_part(
    name: &str,
    bytes: &[u8],
    offset: u64,
    out: &mut impl Write,
) -> Result<Extra, WriteError> {
    if !valid_part_name(name) {
        return Err(WriteError::PartName(name.to_owned()));
    }
    out.write_all(bytes).map_err(WriteError::Write)?;
    Ok(Extra {
        name: name.to_owned(),
        span: Span {
            offset,
            len: bytes.len() as u64,
        },
        sha256: Sha256::of(bytes),
    })
}

/// Writes the tree under `root` to `out` as a layer compressed at zstd `level`.
pub fn write_layer(root: &Path, level: i32, out: &mut impl Write) -> Result<Written, WriteError> {
    let (canonical, entries) = entries(root)?;
    let all: Vec<&Entry> = entries.iter().collect();
    write_entries(&canonical, &all, level, out)
}

/// Writes the tree under `root` to `out` as `groups` layers, one after the other: `group`
/// says which group a file or link belongs to, and each layer holds its group's files and
/// links and the directories above them (a directory with nothing below goes to the group
/// `group` names for it). `None` for a group with no entry, which writes nothing. How a
/// site-packages tree becomes units.
pub fn write_groups(
    root: &Path,
    groups: usize,
    group: &dyn Fn(&Path) -> usize,
    level: i32,
    out: &mut impl Write,
) -> Result<Vec<Option<Written>>, WriteError> {
    let (canonical, entries) = entries(root)?;
    let mut below: HashMap<&Path, BTreeSet<usize>> = HashMap::new();
    let mut of = Vec::with_capacity(entries.len());
    for e in &entries {
        let g = match e.kind {
            Kind::Dir => None,
            _ => Some(group(&e.rel).min(groups.saturating_sub(1))),
        };
        if let Some(g) = g {
            for dir in e.rel.ancestors().skip(1) {
                below.entry(dir).or_default().insert(g);
            }
        }
        of.push(g);
    }
    (0..groups)
        .map(|g| {
            let mine: Vec<&Entry> = entries
                .iter()
                .zip(&of)
                .filter(|(e, owner)| match owner {
                    Some(owner) => *owner == g,
                    None => match below.get(e.rel.as_path()) {
                        Some(groups) => groups.contains(&g),
                        None => group(&e.rel).min(groups.saturating_sub(1)) == g,
                    },
                })
                .map(|(e, _)| e)
                .collect();
            match mine.is_empty() {
                true => Ok(None),
                false => write_entries(&canonical, &mine, level, out).map(Some),
            }
        })
        .collect()
}

/// The tree's entries, walked from its canonical path (also returned).
fn entries(root: &Path) -> Result<(PathBuf, Vec<Entry>), WriteError> {
    let canonical = fs::canonicalize(root).map_err(|source| WriteError::Read {
        path: root.to_path_buf(),
        source,
    })?;
    let mut entries = Vec::new();
    walk(&canonical, Path::new(""), &mut entries)?;
    Ok((canonical, entries))
}

fn write_entries(
    root: &Path,
    entries: &[&Entry],
    level: i32,
    out: &mut impl Write,
) -> Result<Written, WriteError> {
    let size = entries
        .iter()
        .map(|e| match e.kind {
            Kind::File { size, .. } => size,
            _ => 0,
        })
        .sum();
    let files = entries.len() as u64;
    let (sha256, len) = compress(root, entries, level, out)?;
    Ok(Written {
        sha256,
        len,
        size,
        files,
    })
}

/// Depth first, names sorted: the order must not depend on the filesystem's.
fn walk(root: &Path, rel: &Path, out: &mut Vec<Entry>) -> Result<(), WriteError> {
    let dir = root.join(rel);
    let read = |source| WriteError::Read {
        path: dir.clone(),
        source,
    };
    let mut names: Vec<_> = fs::read_dir(&dir)
        .map_err(read)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(read)?;
    names.sort();
    for name in names {
        let rel = rel.join(&name);
        let path = root.join(&rel);
        let meta = fs::symlink_metadata(&path).map_err(|source| WriteError::Read {
            path: path.clone(),
            source,
        })?;
        let ft = meta.file_type();
        if ft.is_dir() {
            out.push(Entry {
                rel: rel.clone(),
                kind: Kind::Dir,
            });
            walk(root, &rel, out)?;
        } else if ft.is_file() {
            out.push(Entry {
                rel,
                kind: Kind::File {
                    size: meta.len(),
                    exec: meta.permissions().mode() & 0o111 != 0,
                },
            });
        } else if ft.is_symlink() {
            let target = fs::read_link(&path).map_err(|source| WriteError::Read {
                path: path.clone(),
                source,
            })?;
            check_link(root, &path, &target)?;
            out.push(Entry {
                rel,
                kind: Kind::Link(target),
            });
        } else {
            return Err(WriteError::Special { path });
        }
    }
    Ok(())
}

/// A layer's links must be relative and resolve inside it: the launcher refuses others.
fn check_link(root: &Path, path: &Path, target: &Path) -> Result<(), WriteError> {
    let bad = |why| WriteError::Link {
        path: path.to_path_buf(),
        target: target.to_path_buf(),
        why,
    };
    if target.is_absolute() {
        return Err(bad("is absolute"));
    }
    match fs::canonicalize(path) {
        Ok(resolved) if resolved.starts_with(root) => Ok(()),
        Ok(_) => Err(bad("leaves the layer")),
        Err(_) => Err(bad("points at nothing")),
    }
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Tar stream → frames (cut at entry boundaries) → compressed on every core → `out`, in
/// order, hashed on the way.
fn compress(
    root: &Path,
    entries: &[&Entry],
    level: i32,
    out: &mut impl Write,
) -> Result<(Sha256, u64), WriteError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|s| {
        // Frames go to the workers round-robin and come back in the same order.
        let mut to_workers = Vec::new();
        let mut from_workers = Vec::new();
        for _ in 0..threads {
            let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(2);
            let (back_tx, back_rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(2);
            s.spawn(move || {
                let mut compressor = match zstd::bulk::Compressor::new(level).and_then(|mut c| {
                    c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
                    Ok(c)
                }) {
                    Ok(c) => c,
                    Err(e) => {
                        let _ = back_tx.send(Err(e));
                        return;
                    }
                };
                for chunk in rx {
                    if back_tx.send(compressor.compress(&chunk)).is_err() {
                        return;
                    }
                }
            });
            to_workers.push(tx);
            from_workers.push(back_rx);
        }
        let feeder = s.spawn(move || feed(root, entries, &to_workers));
        let mut hasher = Hasher::new();
        let mut written = Ok(());
        for i in 0.. {
            let Ok(frame) = from_workers[i % from_workers.len()].recv() else {
                break;
            };
            match frame.and_then(|f| out.write_all(&f).map(|()| f)) {
                Ok(frame) => hasher.update(&frame),
                Err(e) => {
                    written = Err(WriteError::Write(e));
                    break;
                }
            }
        }
        // Dropping the receivers stops the workers, which stops the feeder.
        drop(from_workers);
        let fed = feeder.join().unwrap_or_else(|_| {
            Err(WriteError::Write(io::Error::other(
                "layer writer thread failed",
            )))
        });
        written.and(fed)?;
        Ok((hasher.digest(), hasher.len()))
    })
}

/// Builds the tar stream and hands it to the workers in entry-aligned frames.
fn feed(
    root: &Path,
    entries: &[&Entry],
    workers: &[mpsc::SyncSender<Vec<u8>>],
) -> Result<(), WriteError> {
    let mut sent = 0usize;
    let mut send = |chunk: Vec<u8>| {
        let ok = workers[sent % workers.len()].send(chunk).is_ok();
        sent += 1;
        if ok {
            Ok(())
        } else {
            Err(WriteError::Write(io::Error::other("compression failed")))
        }
    };
    let mut tar = tar::Builder::new(Vec::new());
    for entry in entries {
        let rel = &entry.rel;
        match &entry.kind {
            Kind::Dir => tar.append_data(
                &mut header(tar::EntryType::Directory, 0o755, 0),
                rel,
                io::empty(),
            ),
            Kind::File { size, exec } => {
                let path = root.join(rel);
                let read = |source| WriteError::Read {
                    path: path.clone(),
                    source,
                };
                let file = fs::File::open(&path).map_err(read)?;
                let mode = if *exec { 0o755 } else { 0o644 };
                // Exactly the size walked: a file that grew since is cut, one that shrank fails.
                tar.append_data(
                    &mut header(tar::EntryType::Regular, mode, *size),
                    rel,
                    file.take(*size),
                )
                .map_err(read)?;
                Ok(())
            }
            Kind::Link(target) => {
                tar.append_link(&mut header(tar::EntryType::Symlink, 0o777, 0), rel, target)
            }
        }
        .map_err(WriteError::Write)?;
        if tar.get_ref().len() as u64 >= FRAME_TARGET {
            send(std::mem::take(tar.get_mut()))?;
        }
    }
    let rest = tar.into_inner().map_err(WriteError::Write)?;
    send(rest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::{extract, Limits, Unpacked};

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::create_dir_all(root.join("lib/python3.11/pkg")).unwrap();
        fs::write(root.join("bin/python3.11"), "#!python").unwrap();
        fs::set_permissions(
            root.join("bin/python3.11"),
            fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        std::os::unix::fs::symlink("python3.11", root.join("bin/python3")).unwrap();
        // Enough incompressible data for several frames.
        let mut x = 1u64;
        let noise: Vec<u8> = (0..5 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        fs::write(root.join("lib/big"), &noise).unwrap();
        for i in 0..300 {
            fs::write(
                root.join(format!("lib/python3.11/pkg/m{i:03}.py")),
                format!("X = {i}\n"),
            )
            .unwrap();
        }
        fs::write(
            root.join("lib/python3.11/".to_owned() + &"long".repeat(40)),
            "long name",
        )
        .unwrap();
        dir
    }

    #[test]
    fn groups_split_a_tree_with_the_directories_each_needs() {
        let a = tree();
        fs::create_dir(a.path().join("empty")).unwrap();
        // bin/ is group 0, lib/ group 1, and the empty directory goes where it is named.
        let group = |rel: &Path| usize::from(!rel.starts_with("bin"));
        let mut out = Vec::new();
        let written = write_groups(a.path(), 3, &group, 3, &mut out).unwrap();
        assert!(written[2].is_none(), "a group with no entry writes nothing");
        let (bin, lib) = (written[0].unwrap(), written[1].unwrap());
        assert_eq!(bin.len + lib.len, out.len() as u64);
        let all = write_layer(a.path(), 3, &mut Vec::new()).unwrap();
        // Every entry once, but lib's tree also holds no bin/: the two add up to the whole.
        assert_eq!(
            (bin.files + lib.files, bin.size + lib.size),
            (all.files, all.size)
        );
        let dir = tempfile::tempdir().unwrap();
        let limits = |w: Written| Limits {
            size: w.size,
            files: w.files,
        };
        let bin_bytes = &out[..bin.len as usize];
        extract(bin_bytes, dir.path(), limits(bin)).unwrap();
        assert!(dir.path().join("bin/python3.11").is_file() && !dir.path().join("lib").exists());
        let dir = tempfile::tempdir().unwrap();
        extract(&out[bin.len as usize..], dir.path(), limits(lib)).unwrap();
        assert!(dir.path().join("lib/big").is_file() && dir.path().join("empty").is_dir());
        assert!(!dir.path().join("bin").exists());
    }

    #[test]
    fn same_tree_same_bytes_and_it_unpacks_back() {
        let a = tree();
        let mut first = Vec::new();
        let w = write_layer(a.path(), 3, &mut first).unwrap();
        let mut second = Vec::new();
        assert_eq!(write_layer(a.path(), 3, &mut second).unwrap(), w);
        assert!(first == second);
        assert_eq!(w.len, first.len() as u64);
        assert!(
            crate::frames::split(&first).unwrap().len() >= 2,
            "cut into frames"
        );
        let out = tempfile::tempdir().unwrap();
        let got = extract(
            &first,
            out.path(),
            Limits {
                size: w.size,
                files: w.files,
            },
        )
        .unwrap();
        assert_eq!(
            got,
            Unpacked {
                size: w.size,
                files: w.files
            }
        );
        assert_eq!(
            fs::read_link(out.path().join("bin/python3")).unwrap(),
            Path::new("python3.11")
        );
        let mode = fs::metadata(out.path().join("bin/python3.11"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
        assert_eq!(
            fs::read(out.path().join("lib/big")).unwrap(),
            fs::read(a.path().join("lib/big")).unwrap()
        );
        assert_eq!(
            fs::read_to_string(out.path().join("lib/python3.11/pkg/m299.py")).unwrap(),
            "X = 299\n"
        );
        // One byte fewer than declared is refused.
        let out = tempfile::tempdir().unwrap();
        let err = extract(
            &first,
            out.path(),
            Limits {
                size: w.size - 1,
                files: w.files,
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                crate::extract::ExtractError::TooBig { what: "bytes", .. }
            ),
            "{err}"
        );
        let out = tempfile::tempdir().unwrap();
        let err = extract(
            &first,
            out.path(),
            Limits {
                size: w.size,
                files: w.files - 1,
            },
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                crate::extract::ExtractError::TooBig {
                    what: "entries",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn escaping_links_are_refused_at_build() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("../..", dir.path().join("up")).unwrap();
        let err = write_layer(dir.path(), 1, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("leaves the layer"), "{err}");
    }
}
