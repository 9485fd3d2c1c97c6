//! The exec contract, shared by the launcher and `pyk foo`: how a program whose layers are
//! unpacked is started.
//!
//! `<runtime>/bin/python3 -I -c "import __pyk_boot__" <argv0> args…` with
//! `PYK_PATH=<app>:<deps>`. The runtime's `_pyk.pth` appends the `PYK_PATH` entries to
//! `sys.path` (after the stdlib, where a venv's site-packages would be), which is how
//! `__pyk_boot__` is found here and how any child interpreter of the same runtime
//! (`sys.executable -m`, multiprocessing's spawn and forkserver) finds the app. The boot
//! module, generated into the app layer at build time, puts the app first on `sys.path`,
//! sets `sys.argv[0]` to argv0 and runs the entry as `__main__`. `-c` rather than a script
//! or `-m`: no runpy, no zipimport, nothing imported that the program does not need.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use pyk_static::EnvVars;

/// The name of the generated module that starts the program.
pub const BOOT_MODULE: &str = "__pyk_boot__";

/// The unpacked layers of one program.
pub struct Layers<'a> {
    pub runtime: &'a Path,
    pub deps: Option<&'a Path>,
    pub app: &'a Path,
}

impl Layers<'_> {
    /// The runtime's interpreter.
    pub fn python(&self) -> PathBuf {
        self.runtime.join("bin/python3")
    }

    /// The `PYK_PATH` value: the app, then the dependencies.
    pub fn pyk_path(&self) -> OsString {
        let mut value = self.app.as_os_str().to_owned();
        if let Some(deps) = self.deps {
            value.push(":");
            value.push(deps);
        }
        value
    }

    /// The program's argv (`argv[0]` is the interpreter's absolute path: CPython derives
    /// `sys.executable` from it); `argv0` becomes its `sys.argv[0]`.
    pub fn argv(&self, argv0: &OsStr, args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
        let mut argv = vec![
            self.python().into_os_string(),
            "-I".into(),
            "-c".into(),
            format!("import {BOOT_MODULE}").into(),
            argv0.to_owned(),
        ];
        argv.extend(args);
        argv
    }

    /// The command that runs the program (for `pyk foo`; the launcher execs [`Self::argv`]
    /// itself, to stay small).
    pub fn command(&self, argv0: &OsStr, args: impl IntoIterator<Item = OsString>) -> Command {
        let argv = self.argv(argv0, args);
        let mut cmd = Command::new(&argv[0]);
        cmd.arg0(&argv[0])
            .args(&argv[1..])
            .env(EnvVars::PYK_PATH, self.pyk_path());
        cmd
    }
}
