//! The trailer: ASCII lines at the end of every artifact saying what it is and where its
//! layers are.
//!
//! ```text
//! [launcher][extra parts]*[layer: runtime .tar.zst][layer: deps .tar.zst]?[layer: app .tar.zst][pylock.toml]?[trailer]
//! ```
//!
//! ```text
//! pyk-artifact 2
//! kind run
//! name hello
//! python 3.11
//! runtime 3.11.2 imported from /usr/bin/python3.11
//! glibc 2.35
//! platform linux-x86_64
//! built 1700000000
//! entry hello.py
//! part sbom <offset> <len> <sha256>
//! layer runtime <offset> <len> <sha256> <unpacked bytes> <entries>
//! layer app <offset> <len> <sha256> <unpacked bytes> <entries>
//! lock <offset> <len> <sha256>
//! 0000018c PYKTRL02
//! ```
//!
//! The last line is the trailer's whole length (8 hex digits) and the magic, so the
//! launcher reads it with one `pread` of the file's last [`MAX_LEN`] bytes. Being ASCII it
//! never contains a zip end signature. Parts are contiguous and in this order, so
//! publishing can split the file at these offsets.
//! The sha256 of a layer is that of its compressed bytes: its cache key and blob name.
//! Unpacked bytes and entries bound what extracting the layer may write.
//!
//! **Extra parts** ([`Extra`], a `part NAME OFFSET LEN SHA256` line each) are whole files
//! of the artifact that belong to no layer (the SBOM): they lie between the launcher and
//! the first layer, where a pyk that predates them reads them as launcher bytes (it ignores
//! the lines it does not know, and takes everything before the first layer as the
//! launcher), so older launchers, clients and `pyk inspect` read such an artifact
//! unchanged. Keeping them out of the layers keeps a layer the same bytes wherever its
//! tree is the same (a pure-Python app layer on two platforms).
//!
//! **Units** (format 3, magic `PYKTRL03`): the dependencies as one layer per installed
//! distribution, `layer unit OFFSET LEN SHA256 SIZE FILES NAME`, in place of one deps
//! layer, so that every app and version with the same distribution shares its blob and its
//! cache entry. A program's site-packages is then a view assembled from them
//! ([`Trailer::view_key`], `crate::view`). Such a trailer may be longer than [`MAX_LEN`]
//! (up to [`MAX_LEN_UNITS`]); an artifact without dependencies stays format 2, which older
//! pyks read.

use std::fmt::Write as _;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// The most bytes a trailer of format 2 may take; the launcher reads this much of the
/// file's end first.
pub const MAX_LEN: usize = 4096;
/// The most bytes a trailer of format 3 (one with units) may take: about 450 units. Read
/// with a second `pread` when it is longer than [`MAX_LEN`].
pub const MAX_LEN_UNITS: usize = 64 << 10;
/// The file's last bytes: magic and two-digit format version.
pub const MAGIC: &[u8; 8] = b"PYKTRL02";
/// The magic of an artifact whose dependencies are units: a pyk older than units says
/// "artifact format version 03 is not supported by this pyk" rather than misreading it.
pub const MAGIC_UNITS: &[u8; 8] = b"PYKTRL03";
const MAGIC_PREFIX: &[u8; 6] = b"PYKTRL";
/// The longest unit name.
const MAX_UNIT_NAME: usize = 100;
/// `XXXXXXXX PYKTRL02`
const LAST_LINE: usize = 8 + 1 + MAGIC.len();
/// Longest free-text value (the runtime's source, the entry point).
const MAX_TEXT: usize = 512;

use pyk_protocol::dist::valid_platform;
use pyk_protocol::Sha256;
/// The package kind and the name rule live in the protocol crate, which the repository
/// shares; the trailer records them.
pub use pyk_protocol::{valid_name, Kind};

/// What a layer holds, which fixes the cache bucket it unpacks into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// A relocatable CPython.
    Runtime,
    /// The dependencies: a site-packages tree.
    Deps,
    /// The app's own code and its generated `__pyk_boot__`.
    App,
    /// One installed distribution (or the files no distribution claims), a part of the
    /// site-packages tree that a program's dependency view is assembled from: shared by
    /// every app and version that has the same files.
    Unit,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Runtime => "runtime",
            Role::Deps => "deps",
            Role::App => "app",
            Role::Unit => "unit",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        match s {
            "runtime" => Some(Role::Runtime),
            "deps" => Some(Role::Deps),
            "app" => Some(Role::App),
            "unit" => Some(Role::Unit),
            _ => None,
        }
    }
}

/// A byte range of the artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub offset: u64,
    pub len: u64,
}

impl Span {
    pub fn end(self) -> u64 {
        self.offset + self.len
    }
}

/// One layer as the trailer records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layer {
    pub role: Role,
    pub span: Span,
    /// sha256 of the compressed bytes.
    pub sha256: Sha256,
    /// Bytes of file data the layer unpacks to (an upper bound for extraction).
    pub size: u64,
    /// Entries (files, directories, links) it unpacks to (an upper bound too; a unit
    /// unpacks to exactly this many).
    pub files: u64,
    /// A unit's name (`numpy-2.1.3`): what it holds, for people; empty for other roles.
    pub name: String,
}

impl Layer {
    /// The cache key: the sha256 in lowercase hex.
    pub fn key(&self) -> String {
        self.sha256.to_string()
    }
}

/// A part that is not a layer: the resolved dependencies, as `pylock.toml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub span: Span,
    pub sha256: Sha256,
}

/// The longest name of an extra part.
const MAX_PART_NAME: usize = 32;

/// The extra part holding the artifact's CycloneDX SBOM (JSON).
pub const PART_SBOM: &str = "sbom";

/// An extra part: a file of the artifact outside its layers, named by its trailer line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extra {
    /// What it is (`sbom`): lowercase ASCII letters, digits and `-`, at most 32.
    pub name: String,
    pub span: Span,
    pub sha256: Sha256,
}

/// A name an extra part may have (`sbom`).
pub fn valid_part_name(name: &str) -> bool {
    (1..=MAX_PART_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Extra {
    /// Fails when `bytes` (read from its span) are not the bytes the trailer names.
    pub fn check(&self, bytes: &[u8]) -> Result<(), Box<PartDamaged>> {
        let actual = Sha256::of(bytes);
        match actual == self.sha256 {
            true => Ok(()),
            false => Err(Box::new(PartDamaged {
                name: self.name.clone(),
                actual,
                expected: self.sha256,
            })),
        }
    }
}

/// An extra part whose bytes are not the ones its trailer line names (boxed in
/// [`TrailerError`], which every reader of a trailer carries, to keep that small).
#[derive(Debug, thiserror::Error)]
#[error(
    "the artifact's {name} part is damaged: its sha256 is {actual}, the trailer says {expected}"
)]
pub struct PartDamaged {
    pub name: String,
    pub actual: Sha256,
    pub expected: Sha256,
}

/// The decoded trailer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trailer {
    pub kind: Kind,
    /// The package name (see [`valid_name`]).
    pub name: String,
    /// Python `(major, minor)` the code was compiled for.
    pub python: (u8, u8),
    /// The runtime's full version and where it came from, for people reading the trailer.
    pub runtime_version: String,
    pub runtime_source: String,
    /// The oldest glibc `(major, minor)` every ELF file in the layers runs on.
    pub glibc: Option<(u32, u32)>,
    /// The machine the launcher and runtime are for (`linux-aarch64`), as `pyk build
    /// --platform` names it; `None` in artifacts built before it was recorded (all
    /// linux-x86_64 but a few days' aarch64 ones).
    pub platform: Option<String>,
    /// Build time, seconds since 1970 (`SOURCE_DATE_EPOCH` when set).
    pub built: u64,
    /// The entry point as the spec named it (for people; `__pyk_boot__` runs it).
    pub entry: String,
    /// The extra parts, in file order, between the launcher and the first layer.
    pub parts: Vec<Extra>,
    /// Runtime, deps (optional) and app layers, in that order.
    pub layers: Vec<Layer>,
    pub lock: Option<Part>,
}

/// An artifact whose launcher and runtime are for another machine than the one reading
/// it: its launcher was swapped for this machine's, or it is about to run under emulation
/// it was not built for.
#[derive(Debug, thiserror::Error)]
#[error("is built for {built}, not for this machine ({here})")]
pub struct OtherPlatform {
    pub built: String,
    pub here: String,
}

/// Why a file is not a readable artifact.
#[derive(Debug, thiserror::Error)]
pub enum TrailerError {
    #[error("not a pyk artifact (no trailer at the end of the file; truncated?)")]
    NotAnArtifact,
    #[error("artifact format version {0} is not supported by this pyk")]
    UnsupportedVersion(String),
    #[error("damaged artifact trailer: {0}")]
    Malformed(&'static str),
    #[error(transparent)]
    PartDamaged(#[from] Box<PartDamaged>),
    #[error("cannot read the artifact")]
    Io(#[source] io::Error),
}

/// Free text in the trailer: printable ASCII, one line, bounded.
fn text(s: &str) -> String {
    s.chars()
        .take(MAX_TEXT)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

impl Trailer {
    /// The layer of `role`, if there is one.
    pub fn layer(&self, role: Role) -> Option<&Layer> {
        self.layers.iter().find(|l| l.role == role)
    }

    /// The unit layers, in file order.
    pub fn units(&self) -> impl Iterator<Item = &Layer> {
        self.layers.iter().filter(|l| l.role == Role::Unit)
    }

    /// Whether the dependencies are units (format 3) rather than one deps layer.
    pub fn has_units(&self) -> bool {
        self.units().next().is_some()
    }

    /// The cache key of the dependency view assembled from the units: the sha256 of
    /// `pyk-view-v1` and the units' sha256s, a line each, in trailer order. `None` without
    /// units.
    pub fn view_key(&self) -> Option<String> {
        let mut text = String::from("pyk-view-v1\n");
        for unit in self.units() {
            let _ = writeln!(text, "{}", unit.sha256);
        }
        self.has_units()
            .then(|| Sha256::of(text.as_bytes()).to_string())
    }

    /// Fails when the trailer records another platform than this machine's (`linux-` and
    /// `std::env::consts::ARCH`, as `pyk build --platform` names them).
    pub fn check_platform(&self) -> Result<(), OtherPlatform> {
        let Some(built) = &self.platform else {
            return Ok(());
        };
        let arch = std::env::consts::ARCH;
        match built.strip_prefix("linux-") == Some(arch) {
            true => Ok(()),
            false => Err(OtherPlatform {
                built: built.clone(),
                here: format!("linux-{arch}"),
            }),
        }
    }

    /// The extra part named `name`, if there is one.
    pub fn part(&self, name: &str) -> Option<&Extra> {
        self.parts.iter().find(|p| p.name == name)
    }

    /// The launcher's length: where the first extra part, or else the first layer, starts.
    pub fn launcher_len(&self) -> u64 {
        self.parts
            .first()
            .map_or(self.head_len(), |p| p.span.offset)
    }

    /// Everything before the first layer: the launcher and the extra parts. A pyk older
    /// than extra parts takes all of it as the launcher, and publishing sends it as one
    /// blob, which those clients require.
    pub fn head_len(&self) -> u64 {
        self.layers.first().map_or(0, |l| l.span.offset)
    }

    /// The bytes of the extra part `name` of the open artifact, checked against the sha256
    /// the trailer records; `None` when it has no such part.
    pub fn read_part(&self, file: &File, name: &str) -> Result<Option<Vec<u8>>, TrailerError> {
        let Some(part) = self.part(name) else {
            return Ok(None);
        };
        let len = usize::try_from(part.span.len).map_err(|_| TrailerError::Malformed("part"))?;
        let mut bytes = vec![0u8; len];
        file.read_exact_at(&mut bytes, part.span.offset)
            .map_err(TrailerError::Io)?;
        part.check(&bytes)?;
        Ok(Some(bytes))
    }

    /// The trailer's bytes. Free text is made printable ASCII and cut to length, so only a
    /// name [`valid_name`] rejects or an absurd number of layers can fail.
    pub fn encode(&self) -> Result<Vec<u8>, TrailerError> {
        if !valid_name(&self.name) {
            return Err(TrailerError::Malformed("name"));
        }
        let units = self.has_units();
        let mut s = String::new();
        let _ = writeln!(s, "pyk-artifact {}", if units { 3 } else { 2 });
        let _ = writeln!(s, "kind {}", self.kind.as_str());
        let _ = writeln!(s, "name {}", self.name);
        let _ = writeln!(s, "python {}.{}", self.python.0, self.python.1);
        let _ = write!(
            s,
            "runtime {}",
            text(&self.runtime_version).replace(' ', "?")
        );
        match text(&self.runtime_source) {
            source if source.is_empty() => s.push('\n'),
            source => {
                let _ = writeln!(s, " {source}");
            }
        }
        if let Some((major, minor)) = self.glibc {
            let _ = writeln!(s, "glibc {major}.{minor}");
        }
        if let Some(platform) = &self.platform {
            if !valid_platform(platform) {
                return Err(TrailerError::Malformed("platform"));
            }
            let _ = writeln!(s, "platform {platform}");
        }
        let _ = writeln!(s, "built {}", self.built);
        let _ = writeln!(s, "entry {}", text(&self.entry));
        for p in &self.parts {
            if !valid_part_name(&p.name) {
                return Err(TrailerError::Malformed("part"));
            }
            let _ = writeln!(
                s,
                "part {} {} {} {}",
                p.name, p.span.offset, p.span.len, p.sha256
            );
        }
        for l in &self.layers {
            let _ = write!(
                s,
                "layer {} {} {} {} {} {}",
                l.role.as_str(),
                l.span.offset,
                l.span.len,
                l.sha256,
                l.size,
                l.files
            );
            match l.role {
                Role::Unit if valid_unit_name(&l.name) => {
                    let _ = writeln!(s, " {}", l.name);
                }
                Role::Unit => return Err(TrailerError::Malformed("unit name")),
                _ => s.push('\n'),
            }
        }
        if let Some(lock) = &self.lock {
            let _ = writeln!(
                s,
                "lock {} {} {}",
                lock.span.offset, lock.span.len, lock.sha256
            );
        }
        let len = s.len() + LAST_LINE;
        let (max, magic) = match units {
            true => (MAX_LEN_UNITS, MAGIC_UNITS),
            false => (MAX_LEN, MAGIC),
        };
        if len > max {
            return Err(TrailerError::Malformed("too long (too many units)"));
        }
        let _ = write!(s, "{len:08x} ");
        let mut out = s.into_bytes();
        out.extend_from_slice(magic);
        Ok(out)
    }

    /// The trailer's own text at the end of `tail` (the file's last bytes), as people read
    /// it, if the last line is well formed.
    pub fn text(tail: &[u8]) -> Option<&str> {
        let len = last_line_len(tail.get(tail.len().checked_sub(LAST_LINE)?..)?)?;
        std::str::from_utf8(tail.get(tail.len().checked_sub(len)?..)?).ok()
    }

    /// Reads the trailer of an open artifact: one `fstat` and one `pread` (a second for a
    /// trailer longer than [`MAX_LEN`], which only one with units can be).
    pub fn read(file: &File) -> Result<Trailer, TrailerError> {
        let (tail, len) = Trailer::tail(file)?;
        Trailer::decode(&tail, len)
    }

    /// The file's last bytes, the whole trailer among them when the file has one, and the
    /// file's length.
    pub fn tail(file: &File) -> Result<(Vec<u8>, u64), TrailerError> {
        let len = file.metadata().map_err(TrailerError::Io)?.len();
        let read = |want: usize| {
            let want = usize::try_from(len).map_or(want, |l| l.min(want));
            let mut tail = vec![0u8; want];
            file.read_exact_at(&mut tail, len - want as u64)
                .map_err(TrailerError::Io)?;
            Ok::<_, TrailerError>(tail)
        };
        let tail = read(MAX_LEN)?;
        let longer = tail.ends_with(MAGIC_UNITS)
            && tail.len() >= LAST_LINE
            && last_line_len(&tail[tail.len() - LAST_LINE..])
                .is_some_and(|l| l > tail.len() && l <= MAX_LEN_UNITS);
        match longer {
            true => Ok((read(MAX_LEN_UNITS)?, len)),
            false => Ok((tail, len)),
        }
    }

    /// Decodes the trailer at the end of `tail`, the last bytes of a file of `file_len`
    /// bytes, checking that every part lies inside the file, in order, with no gaps.
    pub fn decode(tail: &[u8], file_len: u64) -> Result<Trailer, TrailerError> {
        let units = tail.ends_with(MAGIC_UNITS);
        if tail.len() < LAST_LINE || !(tail.ends_with(MAGIC) || units) {
            if tail.len() >= MAGIC.len()
                && tail[tail.len() - MAGIC.len()..].starts_with(MAGIC_PREFIX)
            {
                let v = &tail[tail.len() - 2..];
                return Err(TrailerError::UnsupportedVersion(
                    String::from_utf8_lossy(v).into_owned(),
                ));
            }
            return Err(TrailerError::NotAnArtifact);
        }
        let malformed = TrailerError::Malformed;
        let last = &tail[tail.len() - LAST_LINE..];
        let len = last_line_len(last)
            .filter(|&l| {
                let max = if units { MAX_LEN_UNITS } else { MAX_LEN };
                (LAST_LINE..=max).contains(&l) && l <= tail.len()
            })
            .ok_or(malformed("length"))?;
        let body = &tail[tail.len() - len..tail.len() - LAST_LINE];
        // Printable ASCII lines, what `encode` writes: anything else is not a trailer.
        let printable = |c: u8| c == b'\n' || (b' '..=b'~').contains(&c);
        let body = std::str::from_utf8(body)
            .ok()
            .filter(|b| b.bytes().all(printable))
            .ok_or(malformed("not printable ASCII"))?;
        let mut lines = body.lines();
        let header = if units {
            "pyk-artifact 3"
        } else {
            "pyk-artifact 2"
        };
        if lines.next() != Some(header) {
            return Err(malformed("missing header"));
        }
        let mut f = Fields::default();
        for line in lines {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "kind" => set(&mut f.kind, Kind::parse(value), "kind")?,
                "name" => set(
                    &mut f.name,
                    valid_name(value).then(|| value.to_owned()),
                    "name",
                )?,
                "python" => set(&mut f.python, parse_python(value), "python")?,
                "runtime" => {
                    let (v, source) = value.split_once(' ').unwrap_or((value, ""));
                    let fits = v.len() <= MAX_TEXT && source.len() <= MAX_TEXT;
                    let runtime = fits.then(|| (v.to_owned(), source.to_owned()));
                    set(&mut f.runtime, runtime, "runtime")?
                }
                "glibc" => set(&mut f.glibc, parse_version(value), "glibc")?,
                "platform" => set(
                    &mut f.platform,
                    valid_platform(value).then(|| value.to_owned()),
                    "platform",
                )?,
                "built" => set(&mut f.built, value.parse().ok(), "built")?,
                "entry" => set(
                    &mut f.entry,
                    (value.len() <= MAX_TEXT).then(|| value.to_owned()),
                    "entry",
                )?,
                "part" => f.parts.push(parse_extra(value).ok_or(malformed("part"))?),
                "layer" => f.layers.push(parse_layer(value).ok_or(malformed("layer"))?),
                "lock" => set(&mut f.lock, parse_part(value), "lock")?,
                // A newer pyk may add lines an older launcher can ignore.
                _ => {}
            }
        }
        let (runtime_version, runtime_source) = f.runtime.ok_or(malformed("runtime"))?;
        let trailer = Trailer {
            kind: f.kind.ok_or(malformed("kind"))?,
            name: f.name.ok_or(malformed("name"))?,
            python: f.python.ok_or(malformed("python"))?,
            runtime_version,
            runtime_source,
            glibc: f.glibc,
            platform: f.platform,
            built: f.built.ok_or(malformed("built"))?,
            entry: f.entry.ok_or(malformed("entry"))?,
            parts: f.parts,
            layers: f.layers,
            lock: f.lock,
        };
        let end = file_len
            .checked_sub(len as u64)
            .ok_or(malformed("longer than the file"))?;
        trailer.check_layout(end)?;
        if trailer.has_units() != units {
            return Err(malformed("layers"));
        }
        Ok(trailer)
    }

    /// Extra parts (each name once), runtime, then one deps layer or none or units (each
    /// once), app; contiguous, then the lock, then the trailer at `end`.
    fn check_layout(&self, end: u64) -> Result<(), TrailerError> {
        let roles: Vec<Role> = self.layers.iter().map(|l| l.role).collect();
        let units = match roles.as_slice() {
            [Role::Runtime, Role::App] | [Role::Runtime, Role::Deps, Role::App] => true,
            [Role::Runtime, middle @ .., Role::App] => middle.iter().all(|r| *r == Role::Unit),
            _ => false,
        };
        // Each unit once: a view made of one unit twice would clash with itself.
        let once = self
            .units()
            .enumerate()
            .all(|(i, u)| self.units().take(i).all(|v| v.sha256 != u.sha256));
        if !units || !once {
            return Err(TrailerError::Malformed("layers"));
        }
        let named_once = self
            .parts
            .iter()
            .enumerate()
            .all(|(i, p)| self.parts[..i].iter().all(|q| q.name != p.name));
        if !named_once {
            return Err(TrailerError::Malformed("part"));
        }
        let mut at = self.launcher_len();
        let spans = self
            .parts
            .iter()
            .map(|p| p.span)
            .chain(self.layers.iter().map(|l| l.span))
            .chain(self.lock.as_ref().map(|p| p.span));
        for span in spans {
            if span.offset != at || span.offset.checked_add(span.len).is_none() {
                return Err(TrailerError::Malformed("parts are not contiguous"));
            }
            at = span.end();
        }
        if at != end {
            return Err(TrailerError::Malformed(
                "offsets do not fit the file (truncated?)",
            ));
        }
        Ok(())
    }
}

/// The length a last line `XXXXXXXX PYKTRL02` states: exactly eight lowercase hex digits
/// and one space, as `encode` writes it.
fn last_line_len(last: &[u8]) -> Option<usize> {
    let (digits, rest) = last.split_at_checked(8)?;
    let hex = |c: &u8| c.is_ascii_digit() || (b'a'..=b'f').contains(c);
    if !digits.iter().all(hex) || rest.first() != Some(&b' ') {
        return None;
    }
    usize::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

#[derive(Default)]
struct Fields {
    kind: Option<Kind>,
    name: Option<String>,
    python: Option<(u8, u8)>,
    runtime: Option<(String, String)>,
    glibc: Option<(u32, u32)>,
    platform: Option<String>,
    built: Option<u64>,
    entry: Option<String>,
    parts: Vec<Extra>,
    layers: Vec<Layer>,
    lock: Option<Part>,
}

/// Sets a field once: a missing, bad or repeated value is a damaged trailer.
fn set<T>(slot: &mut Option<T>, value: Option<T>, what: &'static str) -> Result<(), TrailerError> {
    match (slot.is_some(), value) {
        (false, Some(v)) => {
            *slot = Some(v);
            Ok(())
        }
        _ => Err(TrailerError::Malformed(what)),
    }
}

fn parse_python(s: &str) -> Option<(u8, u8)> {
    let (major, minor) = parse_version(s)?;
    Some((u8::try_from(major).ok()?, u8::try_from(minor).ok()?))
}

/// `X.Y` with both parts decimal.
pub fn parse_version(s: &str) -> Option<(u32, u32)> {
    let (major, minor) = s.split_once('.')?;
    let num = |p: &str| {
        p.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| p.parse().ok())
            .flatten()
    };
    Some((num(major)?, num(minor)?))
}

fn parse_span(offset: &str, len: &str) -> Option<Span> {
    Some(Span {
        offset: offset.parse().ok()?,
        len: len.parse().ok()?,
    })
}

/// `ROLE OFFSET LEN SHA256 SIZE FILES`, and a unit's `NAME` after.
fn parse_layer(s: &str) -> Option<Layer> {
    let f: Vec<&str> = s.split(' ').collect();
    let (role, name) = match f[..] {
        [role, _, _, _, _, _] => (Role::parse(role).filter(|r| *r != Role::Unit)?, ""),
        [role, _, _, _, _, _, name] => (
            Role::parse(role).filter(|r| *r == Role::Unit)?,
            valid_unit_name(name).then_some(name)?,
        ),
        _ => return None,
    };
    Some(Layer {
        role,
        span: parse_span(f[1], f[2])?,
        sha256: f[3].parse().ok()?,
        size: f[4].parse().ok()?,
        files: f[5].parse().ok()?,
        name: name.to_owned(),
    })
}

/// A name a unit may have: 1 to 100 of ASCII letters, digits, `.`, `_`, `+`, `-`.
pub fn valid_unit_name(name: &str) -> bool {
    (1..=MAX_UNIT_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
}

fn parse_extra(s: &str) -> Option<Extra> {
    let f: Vec<&str> = s.split(' ').collect();
    let [name, offset, len, sha] = f[..] else {
        return None;
    };
    Some(Extra {
        name: valid_part_name(name).then(|| name.to_owned())?,
        span: parse_span(offset, len)?,
        sha256: sha.parse().ok()?,
    })
}

fn parse_part(s: &str) -> Option<Part> {
    let f: Vec<&str> = s.split(' ').collect();
    let [offset, len, sha] = f[..] else {
        return None;
    };
    Some(Part {
        span: parse_span(offset, len)?,
        sha256: sha.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Trailer {
        let layer = |role, offset, len, b| Layer {
            role,
            span: Span { offset, len },
            sha256: Sha256::from_bytes([b; 32]),
            size: 31_000_000,
            files: 1247,
            name: String::new(),
        };
        Trailer {
            kind: Kind::Run,
            name: "hello-world_2.x".into(),
            python: (3, 11),
            runtime_version: "3.11.2".into(),
            runtime_source: "imported from /usr/bin/python3.11 \u{e9}\n".into(),
            glibc: Some((2, 35)),
            platform: Some("linux-aarch64".into()),
            built: 1_700_000_000,
            entry: "hello.py".into(),
            parts: vec![Extra {
                name: PART_SBOM.into(),
                span: Span {
                    offset: 399_000,
                    len: 1000,
                },
                sha256: Sha256::from_bytes([9; 32]),
            }],
            layers: vec![
                layer(Role::Runtime, 400_000, 0x0605_4b50, 0xab),
                layer(Role::Deps, 400_000 + 0x0605_4b50, 10, 0x01),
                layer(Role::App, 400_010 + 0x0605_4b50, 1234, 0x05),
            ],
            lock: Some(Part {
                span: Span {
                    offset: 401_244 + 0x0605_4b50,
                    len: 300,
                },
                sha256: Sha256::from_bytes([7; 32]),
            }),
        }
    }

    fn file_for(t: &Trailer) -> (Vec<u8>, u64) {
        let bytes = t.encode().unwrap();
        let end = t.lock.as_ref().unwrap().span.end();
        let len = end + bytes.len() as u64;
        (bytes, len)
    }

    #[test]
    fn round_trips_as_ascii_without_a_zip_end_signature() {
        let t = sample();
        let (bytes, len) = file_for(&t);
        assert!(bytes.is_ascii() && !bytes.windows(4).any(|w| w == b"PK\x05\x06"));
        let back = Trailer::decode(&bytes, len).unwrap();
        assert_eq!(back.runtime_source, "imported from /usr/bin/python3.11 ??");
        assert_eq!(back.layers, t.layers);
        assert_eq!(back.lock, t.lock);
        assert_eq!(back.platform.as_deref(), Some("linux-aarch64"));
        assert_eq!(back.parts, t.parts);
        assert_eq!((back.launcher_len(), back.head_len()), (399_000, 400_000));
        // One written before platforms were recorded.
        let old = Trailer {
            platform: None,
            ..t.clone()
        };
        let (old_bytes, old_len) = file_for(&old);
        assert_eq!(Trailer::decode(&old_bytes, old_len).unwrap().platform, None);
        // With bytes before it, as when the stub reads the file's last 4096 bytes.
        let mut padded = vec![0xffu8; 100];
        padded.extend_from_slice(&bytes);
        assert_eq!(Trailer::decode(&padded, len).unwrap(), back);
    }

    /// `sample` with its deps layer cut into `n` units.
    fn with_units(n: u64) -> Trailer {
        let mut t = sample();
        let runtime_end = t.layers[0].span.end();
        let units = (0..n).map(|i| Layer {
            role: Role::Unit,
            span: Span {
                offset: runtime_end + i * 10,
                len: 10,
            },
            sha256: Sha256::of(&i.to_le_bytes()),
            size: 100,
            files: 3,
            name: format!("dist-{i}.0"),
        });
        let app = Layer {
            span: Span {
                offset: runtime_end + n * 10,
                len: 1234,
            },
            ..t.layers[2].clone()
        };
        t.layers = std::iter::once(t.layers[0].clone())
            .chain(units)
            .chain([app])
            .collect();
        t.lock.as_mut().unwrap().span.offset = runtime_end + n * 10 + 1234;
        t
    }

    #[test]
    fn units_make_format_3_and_long_trailers_read_with_a_second_pread() {
        let t = with_units(3);
        let (bytes, len) = file_for(&t);
        assert!(bytes.starts_with(b"pyk-artifact 3\n") && bytes.ends_with(MAGIC_UNITS));
        let back = Trailer::decode(&bytes, len).unwrap();
        assert_eq!(back.layers, t.layers);
        assert_eq!(back.units().count(), 3);
        assert_eq!(back.view_key(), t.view_key());
        assert!(sample().view_key().is_none() && sample().encode().unwrap().ends_with(MAGIC));
        // Another unit order is another view.
        let mut swapped = t.clone();
        swapped.layers.swap(1, 2);
        assert_ne!(swapped.view_key(), t.view_key());
        // 200 units: longer than the launcher's first read.
        let t = with_units(200);
        let (bytes, _) = file_for(&t);
        assert!(bytes.len() > MAX_LEN);
        let mut file = tempfile::tempfile().unwrap();
        let end = t.lock.as_ref().unwrap().span.end();
        std::io::Write::write_all(&mut file, &vec![0u8; end as usize]).unwrap();
        std::io::Write::write_all(&mut file, &bytes).unwrap();
        assert_eq!(Trailer::read(&file).unwrap().layers, t.layers);
        // A unit twice, a unit without a name, and units beside a deps layer are refused.
        let mut twice = with_units(2);
        twice.layers[2].sha256 = twice.layers[1].sha256;
        let (bytes, len) = file_for(&twice);
        assert!(matches!(
            Trailer::decode(&bytes, len),
            Err(TrailerError::Malformed("layers"))
        ));
        let (bytes, len) = file_for(&with_units(1));
        let text = String::from_utf8(bytes)
            .unwrap()
            .replace(" dist-0.0\n", "\n");
        assert!(Trailer::decode(text.as_bytes(), len).is_err());
        let mut mixed = with_units(2);
        mixed.layers[1].role = Role::Deps;
        mixed.layers[1].name.clear();
        let (bytes, len) = file_for(&mixed);
        assert!(matches!(
            Trailer::decode(&bytes, len),
            Err(TrailerError::Malformed(_))
        ));
    }

    #[test]
    fn rejects_damage() {
        let t = sample();
        let (good, len) = file_for(&t);
        let mut bad = good.clone();
        *bad.last_mut().unwrap() = b'9';
        assert!(
            matches!(Trailer::decode(&bad, len), Err(TrailerError::UnsupportedVersion(v)) if v == "09")
        );
        bad = good.clone();
        let n = bad.len();
        bad[n - 3] = b'X';
        assert!(matches!(
            Trailer::decode(&bad, len),
            Err(TrailerError::NotAnArtifact)
        ));
        // A file shorter than its parts say: truncated.
        assert!(matches!(
            Trailer::decode(&good, len - 1),
            Err(TrailerError::Malformed(_))
        ));
        // A length that points outside what was read.
        bad = good.clone();
        bad[n - LAST_LINE..n - LAST_LINE + 8].copy_from_slice(b"00001000");
        assert!(matches!(
            Trailer::decode(&bad, len),
            Err(TrailerError::Malformed("length"))
        ));
        // A layer missing or out of order.
        let mut t2 = t.clone();
        t2.layers.swap(1, 2);
        let (b2, l2) = file_for(&t2);
        assert!(matches!(
            Trailer::decode(&b2, l2),
            Err(TrailerError::Malformed(_))
        ));
        // A repeated field.
        let text = String::from_utf8(good.clone())
            .unwrap()
            .replace("kind run\n", "kind run\nkind lib\n");
        let fixed = text.len();
        let text = text[..fixed - LAST_LINE].to_owned() + &format!("{fixed:08x} PYKTRL02");
        assert!(matches!(
            Trailer::decode(text.as_bytes(), len + 9),
            Err(TrailerError::Malformed("kind"))
        ));
    }

    /// The trailer's text with `lines` changed by `edit`, its length line fixed.
    fn edited(bytes: &[u8], edit: impl Fn(&str) -> Option<String>) -> Vec<u8> {
        let text = String::from_utf8(bytes[..bytes.len() - LAST_LINE].to_vec()).unwrap();
        let mut body: String = text.lines().filter_map(&edit).map(|l| l + "\n").collect();
        let len = body.len() + LAST_LINE;
        body += &format!("{len:08x} PYKTRL02");
        body.into_bytes()
    }

    #[test]
    fn a_reader_that_ignores_part_lines_takes_the_parts_as_launcher_bytes() {
        // What a pyk older than extra parts sees: the same trailer without its `part`
        // lines, whose layout still holds, the launcher ending where the first layer starts.
        let t = sample();
        let (bytes, len) = file_for(&t);
        let old = edited(&bytes, |l| (!l.starts_with("part ")).then(|| l.to_owned()));
        let shrunk = bytes.len() - old.len();
        let back = Trailer::decode(&old, len - shrunk as u64).unwrap();
        assert!(back.parts.is_empty());
        assert_eq!(back.launcher_len(), t.head_len());
        assert_eq!(back.layers, t.layers);
    }

    #[test]
    fn parts_must_be_named_once_and_lie_against_the_first_layer() {
        let t = sample();
        let refused = |t: &Trailer| {
            let (bytes, len) = file_for(t);
            matches!(
                Trailer::decode(&bytes, len),
                Err(TrailerError::Malformed(_))
            )
        };
        // A gap between the part and the runtime layer.
        let mut gap = t.clone();
        gap.parts[0].span.len -= 1;
        assert!(refused(&gap));
        // Two parts of one name.
        let mut twice = t.clone();
        let mut second = twice.parts[0].clone();
        twice.parts[0].span.len = 400;
        second.span = Span {
            offset: 399_400,
            len: 600,
        };
        twice.parts.push(second.clone());
        assert!(refused(&twice));
        second.name = "units".into();
        twice.parts[1] = second;
        let (bytes, len) = file_for(&twice);
        assert_eq!(Trailer::decode(&bytes, len).unwrap().parts, twice.parts);
        // A name encode would not write.
        let mut bad = t.clone();
        bad.parts[0].name = "SBOM".into();
        assert!(bad.encode().is_err());
        let (bytes, len) = file_for(&t);
        let renamed = edited(&bytes, |l| Some(l.replace("part sbom", "part SBOM")));
        assert!(matches!(
            Trailer::decode(&renamed, len),
            Err(TrailerError::Malformed("part"))
        ));
    }

    #[test]
    fn a_part_is_read_with_its_hash_checked() {
        let mut file = tempfile::tempfile().unwrap();
        let (launcher, sbom) = (b"launcher".as_slice(), b"{\"bom\": 1}".as_slice());
        let mut t = sample();
        t.parts[0] = Extra {
            name: PART_SBOM.into(),
            span: Span {
                offset: launcher.len() as u64,
                len: sbom.len() as u64,
            },
            sha256: Sha256::of(sbom),
        };
        std::io::Write::write_all(&mut file, &[launcher, sbom].concat()).unwrap();
        assert_eq!(t.read_part(&file, PART_SBOM).unwrap().unwrap(), sbom);
        assert_eq!(t.read_part(&file, "units").unwrap(), None);
        file.write_all_at(b"[", launcher.len() as u64).unwrap();
        assert!(matches!(
            t.read_part(&file, PART_SBOM),
            Err(TrailerError::PartDamaged(_))
        ));
    }
}
