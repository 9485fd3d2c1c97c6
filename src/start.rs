//! The process's start, in place of std's `main` wrapper (the binary is `#![no_main]`).
//! That wrapper also makes a stack overflow print a message instead of a bare SIGSEGV: it
//! reads `/proc/self/maps` for the main thread's stack and maps an alternate signal stack
//! for every thread, ~0.1 ms of every warm `pyk foo` (README, "Warm runs"), a tenth of
//! what pyk adds to the program it starts. What else it does, pyk does here: the standard
//! descriptors are open, SIGPIPE is ignored (std's `Command` restores it for children),
//! a panic exits with 101, and stdout is flushed at the end. glibc hands the arguments
//! to std before this runs, so `std::env::args` works as ever.

use std::os::raw::{c_char, c_int};

#[no_mangle]
extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    standard_descriptors();
    // SAFETY: setting a signal's disposition before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let code = std::panic::catch_unwind(crate::run).unwrap_or(101);
    // `exit` rather than a return: it flushes stdout.
    std::process::exit(code.into())
}

/// A standard descriptor the parent left closed is opened on /dev/null, as std does:
/// otherwise the first file pyk opens would take its number, and output meant for the
/// terminal would go into it.
fn standard_descriptors() {
    for fd in 0..3 {
        // SAFETY: fcntl and open on plain integers and a constant C string.
        unsafe {
            if libc::fcntl(fd, libc::F_GETFD) == -1
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF)
                && libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) == -1
            {
                // As std: nothing safe to write to, and nothing safe to go on with.
                libc::abort();
            }
        }
    }
}
