//! The fallback cache root for when `$PYK_CACHE_DIR`/`~/.cache/pyk` is missing or not
//! writable: a directory in the temp dir that only this user may use.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::PathBuf;

pub fn private_temp() -> Result<PathBuf, String> {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let dir = std::env::temp_dir().join(format!("pyk-{uid}"));
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(format!(
                "no writable cache directory (tried {}: {e})",
                dir.display()
            ))
        }
    }
    // Refuse a directory someone else made or can write to: they could plant a runtime.
    let meta = fs::symlink_metadata(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if !meta.is_dir() || meta.uid() != uid || meta.permissions().mode() & 0o022 != 0 {
        return Err(format!(
            "refusing cache directory {}: not a private directory of this user",
            dir.display()
        ));
    }
    Ok(dir)
}
