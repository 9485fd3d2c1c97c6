//! The glibc check: a program built against a newer glibc than this machine's would fail
//! in the dynamic loader with a message about symbol versions; say what is wrong instead.
//! The launcher and `pyk foo` both check, before anything is unpacked.

use std::ffi::CStr;

/// A program built against a newer glibc than this machine's.
#[derive(Debug, thiserror::Error)]
#[error("needs glibc ≥ {}.{}; this machine has {have}", need.0, need.1)]
pub struct TooOld {
    pub need: (u32, u32),
    pub have: String,
}

/// Fails with [`TooOld`] when the floor is above this machine.
pub fn check(floor: Option<(u32, u32)>) -> Result<(), TooOld> {
    let Some(floor) = floor else {
        return Ok(());
    };
    // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
    let have = unsafe { CStr::from_ptr(libc::gnu_get_libc_version()) }.to_string_lossy();
    match crate::trailer::parse_version(&have) {
        Some(version) if version < floor => Err(TooOld {
            need: floor,
            have: have.into_owned(),
        }),
        _ => Ok(()),
    }
}
