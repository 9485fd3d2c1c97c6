//! The running artifact: opened through `/proc/self/exe` (the very file the kernel is
//! running, even if its path has since been replaced), its trailer, and on the cold path
//! its bytes mapped into memory.

use std::fs::File;
use std::path::PathBuf;

use memmap2::Mmap;
use pyk_artifact::trailer::{Layer, Trailer};

pub struct Artifact {
    /// The artifact's path, for `sys.argv[0]` (when called by a path) and messages.
    pub path: PathBuf,
    file: File,
    pub trailer: Trailer,
}

impl Artifact {
    pub fn open() -> Result<Artifact, String> {
        let file = File::open("/proc/self/exe")
            .map_err(|e| format!("cannot open my own file through /proc/self/exe: {e}"))?;
        let path = std::fs::read_link("/proc/self/exe").unwrap_or_else(|_| "pyk-artifact".into());
        let trailer = Trailer::read(&file).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Artifact {
            path,
            file,
            trailer,
        })
    }

    /// The whole file, mapped read-only.
    pub fn map(&self) -> Result<Mmap, String> {
        // SAFETY: read-only; the mapping lives only while layers are unpacked. A truncation of
        // the artifact meanwhile would fault, as it would for any binary being run.
        unsafe { Mmap::map(&self.file) }
            .map_err(|e| format!("cannot map {}: {e}", self.path.display()))
    }

    /// A layer's bytes within the mapping (the trailer checked the span fits the file).
    pub fn layer<'m>(&self, map: &'m Mmap, layer: &Layer) -> Result<&'m [u8], String> {
        usize::try_from(layer.span.offset)
            .ok()
            .zip(usize::try_from(layer.span.end()).ok())
            .and_then(|(start, end)| map.get(start..end))
            .ok_or_else(|| {
                format!(
                    "{}: truncated {} layer",
                    self.path.display(),
                    layer.role.as_str()
                )
            })
    }
}
