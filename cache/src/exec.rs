//! Whether programs can run from a root: a cache on a `noexec` mount (the `$TMPDIR`
//! fallback often is one) unpacks fine and then fails at exec with a bare "Permission
//! denied", or at import with a `.so` that cannot be mapped. One `statvfs` of the root,
//! only before an entry is unpacked, finds it first.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::CacheError;

/// Refuses a root on a `noexec` mount, naming the mount. A root that cannot be queried
/// passes: unpacking it will say what is wrong.
pub(crate) fn check(root: &Path) -> Result<(), CacheError> {
    let Ok(path) = CString::new(root.as_os_str().as_encoded_bytes()) else {
        return Ok(());
    };
    // SAFETY: statvfs writes into the zeroed struct it is given; the path is a C string.
    let mut vfs: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut vfs) } != 0 {
        return Ok(());
    }
    if vfs.f_flag & libc::ST_NOEXEC == 0 {
        return Ok(());
    }
    Err(CacheError::NoExec {
        path: root.to_path_buf(),
        mount: mount_point(root),
    })
}

/// The directory `path` is mounted at: the highest ancestor on the same device.
fn mount_point(path: &Path) -> PathBuf {
    let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dev = |p: &Path| fs::metadata(p).map(|m| m.dev()).ok();
    let mine = dev(&path);
    let mut mount = path.as_path();
    while let Some(parent) = mount.parent() {
        if dev(parent) != mine {
            break;
        }
        mount = parent;
    }
    mount.to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mount_of_a_path_is_its_highest_ancestor_on_the_same_device() {
        // /proc is its own mount everywhere this runs; / is another.
        assert_eq!(mount_point(Path::new("/proc/self")), Path::new("/proc"));
        assert!(check(Path::new("/")).is_ok());
    }
}
