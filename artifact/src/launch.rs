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

/// What runs: the program's entry, or (`PYK_MAIN`, `pyk shell`, `pyk exec`) the runtime's
/// interpreter with the app and its dependencies importable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Main {
    Entry,
    /// `python3 -s ARGS…`: the arguments are the interpreter's.
    Python,
    /// `python3 -s SCRIPT ARGS…`.
    Script(OsString),
}

impl Main {
    /// From the value of `PYK_MAIN`: unset or empty is the entry, `python` the
    /// interpreter, anything else a script's path.
    pub fn from_env(value: Option<OsString>) -> Main {
        match value {
            None => Main::Entry,
            Some(v) if v.is_empty() => Main::Entry,
            Some(v) if v == "python" => Main::Python,
            Some(v) => Main::Script(v),
        }
    }
}

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

    /// The argv that runs `main`. The interpreter gets `-s` (no user site-packages,
    /// as in a venv) rather than the entry's `-I`: a script's directory goes first on
    /// `sys.path` and `PYTHON*` variables apply, as with any `python script.py`; the app
    /// and its dependencies come from `PYK_PATH` through the runtime's `_pyk.pth`.
    pub fn argv_for(
        &self,
        main: &Main,
        argv0: &OsStr,
        args: impl IntoIterator<Item = OsString>,
    ) -> Vec<OsString> {
        let mut argv = vec![self.python().into_os_string()];
        match main {
            Main::Entry => argv.extend([
                "-I".into(),
                "-c".into(),
                format!("import {BOOT_MODULE}").into(),
                argv0.to_owned(),
            ]),
            Main::Python => argv.push("-s".into()),
            Main::Script(script) => argv.extend(["-s".into(), script.clone()]),
        }
        argv.extend(args);
        argv
    }

    /// The command that runs the program (for `pyk foo`; the launcher execs [`Self::argv`]
    /// itself, to stay small).
    pub fn command(&self, argv0: &OsStr, args: impl IntoIterator<Item = OsString>) -> Command {
        self.command_for(&Main::Entry, argv0, args)
    }

    /// The command that runs `main` (see [`Self::argv_for`]), without `PYK_MAIN` in its
    /// environment.
    pub fn command_for(
        &self,
        main: &Main,
        argv0: &OsStr,
        args: impl IntoIterator<Item = OsString>,
    ) -> Command {
        let argv = self.argv_for(main, argv0, args);
        let mut cmd = Command::new(&argv[0]);
        cmd.arg0(&argv[0])
            .args(&argv[1..])
            .env(EnvVars::PYK_PATH, self.pyk_path())
            .env_remove(EnvVars::PYK_MAIN);
        cmd
    }
}
