//! The launcher at the head of every pyk artifact.
//!
//! `PYK_MAIN=python ./foo ARGS…` runs the runtime's interpreter instead of the entry, and
//! `PYK_MAIN=script.py ./foo ARGS…` a script, with the app and its dependencies
//! importable (see `pyk_artifact::launch::Main`).
//!
//! Warm path: one `pread` of the trailer, then for each entry the program runs from (the
//! runtime, the deps layer or the view of the units, the app) one open and `flock(LOCK_SH)`
//! of its lock file (held through exec, so no prune removes an entry in use),
//! in the shared cache (`PYK_SHARED_CACHE`; the config's `shared_cache` is read only when
//! the user's cache misses) first if one is set, then exec through the
//! shared contract (`pyk_artifact::launch`). No hashing, no extraction, no writes. Cold
//! path, for layers not unpacked yet: map the file and unpack them, and assemble the view
//! (`pyk_artifact::install`: locked, verified, renamed into place), in the main cache or,
//! when that is unusable, the private `$TMPDIR/pyk-<uid>`; a cache on a `noexec` mount is
//! refused before anything is unpacked. Every failure is one line on stderr and exit
//! status 1.

mod exe;

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::ExitCode;

use pyk_artifact::install::{self, InstallError, Program};
use pyk_artifact::launch::Main;
use pyk_cache::{Cache, FillError, RootEnv};
use pyk_static::EnvVars;

/// Exit status for failures of the launcher itself (Python's own codes pass through exec).
const FAILURE: u8 = 1;

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let err = launch(&argv0, args.collect());
    let me = Path::new(&argv0)
        .file_name()
        .unwrap_or(argv0.as_os_str())
        .to_string_lossy()
        .into_owned();
    eprintln!("{me}: {err}");
    ExitCode::from(FAILURE)
}

fn root_env() -> RootEnv {
    RootEnv::read(|name| std::env::var_os(name))
}

/// Runs the program; returns only on failure, with what to say.
fn launch(argv0: &OsStr, args: Vec<OsString>) -> String {
    let artifact = match exe::Artifact::open() {
        Ok(a) => a,
        Err(e) => return e,
    };
    if let Err(e) = pyk_artifact::glibc::check(artifact.trailer.glibc) {
        return e.to_string();
    }
    if let Err(e) = artifact.trailer.check_platform() {
        return format!("this artifact {e}");
    }
    // The program's `sys.argv[0]`: a bare name is how it was called (`pyk foo` and a
    // launcher on PATH pass the package's name); a path is resolved to the artifact's own.
    let argv0 = if argv0.is_empty() || argv0.as_encoded_bytes().contains(&b'/') {
        artifact.path.as_os_str()
    } else {
        argv0
    };
    let mut env = root_env();
    if let Some(held) = warm(&env, &artifact) {
        return exec(&artifact, argv0, &held, args);
    }
    // Missed: the config files may name a shared cache (read only now, so the warm path
    // reads no file).
    let files = pyk_static::config_files(|name| std::env::var_os(name));
    if env.shared_from_config(&files) {
        if let Some(held) = warm(&env, &artifact) {
            return exec(&artifact, argv0, &held, args);
        }
    }
    let cache = match env.open() {
        Ok(cache) => cache,
        Err(e) => return chain(&e),
    };
    match install_all(&cache, &artifact) {
        Ok(held) => exec(&artifact, argv0, &held, args),
        Err(Unpack::Failed(FillError::Cache(e))) if e.root_unusable() && !cache.is_temporary() => {
            let tmp = match env.open_temp() {
                Ok(tmp) => tmp,
                Err(_) => return chain(&e),
            };
            match install_all(&tmp, &artifact) {
                Ok(held) => exec(&artifact, argv0, &held, args),
                Err(e) => e.to_string(),
            }
        }
        Err(e) => e.to_string(),
    }
}

/// Shared locks on every entry the program runs from, if all are there in the shared
/// cache or the user's, with nothing written.
fn warm(env: &RootEnv, artifact: &exe::Artifact) -> Option<Program> {
    install::hold(&env.find()?, &artifact.trailer, true)
}

/// An error and its causes on one line, each cause once: the libraries' messages leave
/// their causes to `source()`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        line.push_str(": ");
        line.push_str(&c.to_string());
        cause = c.source();
    }
    line
}

/// Why the cold path failed: the artifact itself (already one line), or installing a layer,
/// whose cache errors may send the launcher to the fallback root.
enum Unpack {
    Artifact(String),
    Failed(InstallError),
}

impl std::fmt::Display for Unpack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unpack::Artifact(e) => f.write_str(e),
            Unpack::Failed(e) => f.write_str(&chain(e)),
        }
    }
}

/// Unpacks the layers that are missing, assembles the view of the units if it is not
/// made, and holds every entry.
fn install_all(cache: &Cache, artifact: &exe::Artifact) -> Result<Program, Unpack> {
    let map = artifact.map().map_err(Unpack::Artifact)?;
    install::install_program(cache, &artifact.trailer, true, |layer| {
        artifact.layer(&map, layer).map_err(Unpack::Artifact)
    })
    .map_err(|e| match e {
        FillError::Fill(e) => e,
        FillError::Cache(e) => Unpack::Failed(FillError::Cache(e)),
    })
}

impl From<pyk_artifact::extract::ExtractError> for Unpack {
    fn from(e: pyk_artifact::extract::ExtractError) -> Unpack {
        Unpack::Failed(FillError::Fill(e))
    }
}

/// Replaces this process with the program, run from `held`. Returns only on failure.
fn exec(artifact: &exe::Artifact, argv0: &OsStr, held: &Program, args: Vec<OsString>) -> String {
    if let Err(e) = held.keep_across_exec() {
        return format!("cannot keep the cache lock across exec: {e}");
    }
    let Some(layers) = held.layers() else {
        return format!(
            "{}: damaged artifact trailer: layers",
            artifact.path.display()
        );
    };
    let main = Main::from_env(std::env::var_os(EnvVars::PYK_MAIN));
    let err = execv(&layers.argv_for(&main, argv0, args), &layers.pyk_path());
    format!("cannot run {}: {err}", layers.python().display())
}

/// `execv` with `PYK_PATH` set: the exec contract's argv and environment, without
/// `std::process::Command` (about 30 KB of launcher). Returns only on failure.
fn execv(argv: &[OsString], pyk_path: &std::ffi::OsStr) -> std::io::Error {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let Ok(args) = argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
    else {
        return std::io::ErrorKind::InvalidInput.into();
    };
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    // SAFETY: the launcher is single-threaded again here (extraction threads are joined);
    // nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var(EnvVars::PYK_PATH, pyk_path);
        // What it chose is done: other artifacts the program starts run their entries.
        std::env::remove_var(EnvVars::PYK_MAIN);
    }
    // SAFETY: a NUL-terminated array of valid C strings that outlive the call.
    unsafe { libc::execv(ptrs[0], ptrs.as_ptr()) };
    std::io::Error::last_os_error()
}
