//! Reading and rewriting the ELF files of a runtime tree, with no tool installed on the machine.
//!
//! - Reading (DT_NEEDED, RUNPATH, the GLIBC symbol versions a file needs) uses goblin, which
//!   lddtree (the dependency walk in `bundle`) uses too.
//! - A RUNPATH is set with `object-rewrite` (the rewriter of the gimli `object` crate). It can
//!   add a RUNPATH to a file that has none, as Debian's `/usr/bin/python3.11` needs: the dynamic
//!   string table and dynamic section then move into a new PT_LOAD segment, which the old
//!   in-place `.dynstr` overwrite could not do (it only fit a shorter string over a longer one).
//! - Symbols are stripped with `object::build::elf::Builder`: the symbol table, its strings and
//!   debug sections go, the dynamic symbols stay (what `strip --strip-unneeded` does to a
//!   linked file). `object-rewrite` 0.1.1 has `elf_delete_symbols` and
//!   `elf_delete_dynamic_symbols` swapped, so it is not used for this.

use std::fmt;
use std::fs;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use goblin::elf::Elf;

use crate::error::IoContext;
use crate::FetchError;

fn elf_err(
    path: &Path,
    step: impl Into<String>,
    source: impl std::error::Error + Send + Sync + 'static,
) -> FetchError {
    FetchError::Relocate {
        path: path.to_path_buf(),
        step: step.into(),
        source: Box::new(source),
    }
}

/// Whether `path` is a regular file starting with the ELF magic.
pub(crate) fn is_elf(path: &Path) -> bool {
    let regular = fs::symlink_metadata(path).is_ok_and(|m| m.is_file());
    let mut magic = [0u8; 4];
    regular
        && fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
        && magic == *b"\x7fELF"
}

/// What pyk needs to know about one ELF file.
pub(crate) struct Info {
    /// DT_NEEDED sonames, in order.
    pub needed: Vec<String>,
    /// DT_RUNPATH and DT_RPATH entries.
    pub search_paths: Vec<String>,
    /// The highest `GLIBC_x.y` version the file needs, if any.
    pub glibc: Option<GlibcVersion>,
    /// An executable or shared object (not a relocatable `.o`, which stripping would break).
    pub linked: bool,
}

pub(crate) fn info(path: &Path) -> Result<Info, FetchError> {
    let bytes = fs::read(path).ctx(|| format!("read {}", path.display()))?;
    let elf = Elf::parse(&bytes).map_err(|e| elf_err(path, "not an ELF file", e))?;
    let glibc = highest_glibc(&elf);
    Ok(Info {
        needed: elf.libraries.iter().map(|l| l.to_string()).collect(),
        search_paths: elf
            .runpaths
            .iter()
            .chain(&elf.rpaths)
            .flat_map(|p| p.split(':'))
            .map(str::to_string)
            .collect(),
        glibc,
        linked: matches!(
            elf.header.e_type,
            goblin::elf::header::ET_EXEC | goblin::elf::header::ET_DYN
        ),
    })
}

/// The machine an ELF file is built for, named as `uname -m` and python-build-standalone name
/// it (`x86_64`, `aarch64`); `None` for any other.
pub fn machine(path: &Path) -> Result<Option<&'static str>, FetchError> {
    let bytes = fs::read(path).ctx(|| format!("read {}", path.display()))?;
    let elf = Elf::parse(&bytes).map_err(|e| elf_err(path, "not an ELF file", e))?;
    Ok(match elf.header.e_machine {
        goblin::elf::header::EM_X86_64 => Some("x86_64"),
        goblin::elf::header::EM_AARCH64 => Some("aarch64"),
        _ => None,
    })
}

/// The highest `GLIBC_x.y` version an ELF file needs (its version-needed entries, as
/// auditwheel reads them): the oldest glibc it runs on; `None` if it needs no versioned glibc
/// symbol. `pyk --version` and the floor tests read pyk's own binaries with it.
pub fn glibc_needed(bytes: &[u8]) -> Result<Option<GlibcVersion>, goblin::error::Error> {
    Elf::parse(bytes).map(|elf| highest_glibc(&elf))
}

fn highest_glibc(elf: &Elf) -> Option<GlibcVersion> {
    let mut glibc = None;
    if let Some(verneed) = &elf.verneed {
        for need in verneed.iter() {
            for aux in need.iter() {
                let version = elf
                    .dynstrtab
                    .get_at(aux.vna_name)
                    .and_then(|n| n.strip_prefix("GLIBC_"))
                    .and_then(|v| v.parse::<GlibcVersion>().ok());
                glibc = glibc.max(version);
            }
        }
    }
    glibc
}

/// Rewrite `path` in place: strip its symbols when `strip` (a file without a symbol table is
/// left as it is) and set its RUNPATH (adding one if it has none) when `runpath` is given.
pub(crate) fn rewrite(path: &Path, runpath: Option<&str>, strip: bool) -> Result<(), FetchError> {
    let original = fs::read(path).ctx(|| format!("read {}", path.display()))?;
    let mut bytes = None;
    if strip {
        bytes = strip_symbols(&original).map_err(|e| elf_err(path, "stripping", e))?;
    }
    if let Some(runpath) = runpath {
        let input = bytes.as_deref().unwrap_or(&original);
        let out = set_runpath(input, runpath)
            .map_err(|e| elf_err(path, format!("setting RUNPATH {runpath}"), e))?;
        bytes = Some(out);
    }
    match bytes {
        Some(bytes) => fs::write(path, bytes).ctx(|| format!("write {}", path.display())),
        None => Ok(()),
    }
}

fn set_runpath(data: &[u8], runpath: &str) -> Result<Vec<u8>, object_rewrite::Error> {
    let mut rewriter = object_rewrite::Rewriter::read(data)?;
    let mut options = object_rewrite::Options::default();
    if rewriter.elf_runpath().is_some() {
        // Replaces DT_RUNPATH or DT_RPATH, whichever the file has.
        options.elf.set_runpath = Some(runpath.as_bytes().to_vec());
    } else {
        options.elf.add_runpath = vec![runpath.as_bytes().to_vec()];
    }
    rewriter.modify(options)?;
    let mut out = Vec::with_capacity(data.len() + 4096);
    rewriter.write(&mut out)?;
    Ok(out)
}

/// Sections that only debuggers and linkers read, never the dynamic loader.
fn is_strippable(name: &[u8], flags: u64) -> bool {
    flags & u64::from(object::elf::SHF_ALLOC) == 0
        && (name == b".symtab"
            || name == b".strtab"
            || name == b".comment"
            || name.starts_with(b".debug")
            || name.starts_with(b".zdebug")
            || name == b".gnu_debuglink"
            || name == b".gnu_debugaltlink")
}

/// The file without its symbol table and debug sections, or `None` if it has neither.
fn strip_symbols(data: &[u8]) -> Result<Option<Vec<u8>>, object::build::Error> {
    let mut builder = object::build::elf::Builder::read(data)?;
    let mut symbols_or_debug = false;
    for section in builder.sections.iter_mut() {
        let name = section.name.as_slice();
        if is_strippable(name, section.sh_flags) {
            section.delete = true;
            symbols_or_debug |= name == b".symtab" || name.starts_with(b".debug");
        }
    }
    // A stripped file keeps its bytes: no rewrite for a leftover .comment.
    if !symbols_or_debug {
        return Ok(None);
    }
    for symbol in builder.symbols.iter_mut() {
        symbol.delete = true;
    }
    let mut out = Vec::with_capacity(data.len());
    builder.write(&mut out)?;
    Ok(Some(out))
}

/// A glibc version as symbol versions name it (`GLIBC_2.34` is 2.34).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GlibcVersion {
    pub major: u16,
    pub minor: u16,
}

impl FromStr for GlibcVersion {
    type Err = String;

    /// "2.34", or "2.2.5" (the oldest x86_64 version, compared as 2.2).
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.trim().split('.');
        let mut num = || {
            parts
                .next()
                .and_then(|p| p.parse::<u16>().ok())
                .ok_or_else(|| format!("{s:?} is not a glibc version like 2.34"))
        };
        Ok(GlibcVersion {
            major: num()?,
            minor: num()?,
        })
    }
}

impl fmt::Display for GlibcVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Names of the files in `dir` (not recursive), sorted.
pub(crate) fn sorted_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The highest `GLIBC_x.y` any ELF file under `root` needs: the oldest glibc the tree runs
/// on (`None` if nothing in it is versioned against glibc). Builds take the highest of the
/// runtime's and their dependency tree's for the artifact.
pub fn glibc_floor(root: &Path) -> Result<Option<GlibcVersion>, FetchError> {
    let mut floor = None;
    for path in find_elves(root) {
        floor = floor.max(info(&path)?.glibc);
    }
    Ok(floor)
}

/// Whether any file under `root` is an ELF file: a tree without one (a pure-Python app
/// or site-packages) is the same on every machine.
pub fn has_elf(root: &Path) -> bool {
    !find_elves(root).is_empty()
}

/// Every ELF file under `root` (recursively, symlinks not followed), sorted by path.
pub(crate) fn find_elves(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for name in sorted_names(&dir) {
            let path = dir.join(name);
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() && is_elf(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_versions_parse_and_order() {
        let v = |s: &str| s.parse::<GlibcVersion>().unwrap();
        assert_eq!(v("2.2.5"), GlibcVersion { major: 2, minor: 2 });
        assert!(v("2.34") > v("2.4"));
        assert!(v("2.17") < v("2.28"));
        assert_eq!(v("2.34").to_string(), "2.34");
        assert!("x".parse::<GlibcVersion>().is_err());
        assert!("2".parse::<GlibcVersion>().is_err());
    }
}
