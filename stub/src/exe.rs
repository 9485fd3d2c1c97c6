//! The running artifact: its path, its trailer and, on the cold path only, its runtime
//! layer mapped into memory.

use std::fs::File;
use std::path::PathBuf;

use memmap2::Mmap;
use pyk_artifact::trailer::Trailer;

pub struct Artifact {
    /// Absolute path of the artifact, as the kernel resolved it.
    pub path: PathBuf,
    file: File,
    pub trailer: Trailer,
}

/// The mapped runtime layer; derefs to its bytes.
pub struct Layer {
    map: Mmap,
    start: usize,
    end: usize,
}

impl std::ops::Deref for Layer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map[self.start..self.end]
    }
}

impl Artifact {
    pub fn open() -> Result<Artifact, String> {
        let path = std::fs::read_link("/proc/self/exe")
            .map_err(|e| format!("cannot find my own file through /proc/self/exe: {e}"))?;
        let shown = path.display();
        let file = File::open(&path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let trailer = Trailer::read(&file).map_err(|e| format!("{shown}: {e}"))?;
        Ok(Artifact {
            path,
            file,
            trailer,
        })
    }

    pub fn runtime_layer(&self) -> Result<Layer, String> {
        // SAFETY: the map is read-only and lives only while the layer is unpacked; a
        // concurrent truncation of the artifact would fault, as with any mapped binary.
        let map = unsafe { Mmap::map(&self.file) }
            .map_err(|e| format!("cannot map {}: {e}", self.path.display()))?;
        let span = self.trailer.runtime;
        // decode() checked that the span lies inside the file.
        let start = usize::try_from(span.offset)
            .map_err(|_| "runtime layer offset overflows".to_string())?;
        let end = usize::try_from(span.offset + span.len)
            .map_err(|_| "runtime layer size overflows".to_string())?;
        if end > map.len() {
            return Err(format!("{}: truncated runtime layer", self.path.display()));
        }
        Ok(Layer { map, start, end })
    }
}
