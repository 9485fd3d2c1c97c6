//! The launcher at the head of every pyk artifact.
//!
//! Warm path: read the trailer (one `pread`), exec `<cache>/runtimes/<sha>/bin/python3 -I
//! <this file> args…`. Only when that exec finds no runtime does the cold path map the
//! file and unpack the runtime layer (see `pyk_artifact::unpack`), then exec again.
//! Every failure is one line on stderr and exit status 1 (the binary aborts rather than
//! unwinds, and nothing here panics on input).

mod cache_root;
mod exe;

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use pyk_artifact::{cache, unpack};

/// Exit status for failures of the launcher itself (Python's own codes pass through exec).
const FAILURE: u8 = 1;

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let err = launch(args.collect());
    let me = Path::new(&argv0)
        .file_name()
        .unwrap_or(argv0.as_os_str())
        .to_string_lossy()
        .into_owned();
    eprintln!("{me}: {err}");
    ExitCode::from(FAILURE)
}

/// Runs the payload; returns only on failure.
fn launch(args: Vec<OsString>) -> String {
    let artifact = match exe::Artifact::open() {
        Ok(a) => a,
        Err(e) => return e,
    };
    let key = artifact.trailer.runtime_key();
    let root = match cache::root() {
        Some(root) => root,
        None => match cache_root::private_temp() {
            Ok(root) => root,
            Err(e) => return e,
        },
    };
    // Warm path. If it fails, the runtime is not unpacked yet (or the cache is unusable):
    // the cold path below finds out which, and says so if it can't recover.
    exec_python(&cache::runtime_dir(&root, &key), &artifact.path, &args);

    let layer = match artifact.runtime_layer() {
        Ok(layer) => layer,
        Err(e) => return e,
    };
    let dir = match unpack::install(&root, &key, &layer) {
        Ok(dir) => dir,
        Err(unpack::UnpackError::CacheUnwritable { .. }) => {
            match cache_root::private_temp()
                .and_then(|tmp| unpack::install(&tmp, &key, &layer).map_err(|e| e.to_string()))
            {
                Ok(dir) => dir,
                Err(e) => return e,
            }
        }
        Err(e) => return e.to_string(),
    };
    drop(layer);
    let err = exec_python(&dir, &artifact.path, &args);
    format!("cannot run {}: {err}", dir.join("bin/python3").display())
}

/// Replaces this process with the runtime's python in isolated mode, running the
/// artifact itself (a valid zip whose `__main__` is the app). Returns only on failure.
fn exec_python(runtime: &Path, artifact: &Path, args: &[OsString]) -> io::Error {
    let python: PathBuf = runtime.join("bin/python3");
    Command::new(&python)
        .arg0(&python)
        .arg("-I")
        .arg(artifact)
        .args(args)
        .exec()
}
