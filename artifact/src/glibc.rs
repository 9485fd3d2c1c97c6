//! The glibc check: a program built against a newer glibc than this machine's would fail
//! in the dynamic loader with a message about symbol versions; say what is wrong instead.
//! The launcher and `pyk foo` both check, before anything is unpacked.

use std::ffi::CStr;

/// `Err("needs glibc ≥ 2.36; this machine has 2.31")` when the floor is above this machine.
pub fn check(floor: Option<(u32, u32)>) -> Result<(), String> {
    let Some(floor) = floor else {
        return Ok(());
    };
    // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
    let have = unsafe { CStr::from_ptr(libc::gnu_get_libc_version()) }.to_string_lossy();
    match crate::trailer::parse_version(&have) {
        Some(version) if version < floor => Err(format!(
            "needs glibc ≥ {}.{}; this machine has {have}",
            floor.0, floor.1
        )),
        _ => Ok(()),
    }
}
