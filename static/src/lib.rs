//! Every environment variable pyk reads, declared once with what it means (uv-static style).
//!
//! Only the binaries (`src/`, `stub/`) read the environment; libraries take values. Naming the
//! variables here keeps the launcher, the CLI and the Python side from drifting apart.

/// The environment variables pyk reads or sets.
pub struct EnvVars;

impl EnvVars {
    /// The cache root; default `$XDG_CACHE_HOME/pyk`, else `$HOME/.cache/pyk`.
    pub const PYK_CACHE_DIR: &'static str = "PYK_CACHE_DIR";
    /// The XDG base directory for caches; the cache root is `$XDG_CACHE_HOME/pyk`.
    pub const XDG_CACHE_HOME: &'static str = "XDG_CACHE_HOME";
    /// The user's home; the cache root is `$HOME/.cache/pyk` when nothing else is set.
    pub const HOME: &'static str = "HOME";
    /// Where the private fallback cache `$TMPDIR/pyk-<uid>` lives (default `/tmp`).
    pub const TMPDIR: &'static str = "TMPDIR";
    /// Set by the launcher for the program it runs: the unpacked app and dependency layers,
    /// `:`-separated. The runtime's `_pyk.pth` appends them to `sys.path`, so child
    /// interpreters of the same runtime (`sys.executable -m`, multiprocessing) see the app.
    pub const PYK_PATH: &'static str = "PYK_PATH";
    /// What an artifact (or `pyk foo`) runs instead of its entry: `python` for the
    /// package's interpreter (the arguments go to it: a script, `-c CODE`, `-m MODULE`, or
    /// none for the interactive prompt), or the path of a script to run with the
    /// arguments. The app and its dependencies are importable either way. Removed from
    /// the environment of what runs, so other artifacts it starts run their own entries.
    pub const PYK_MAIN: &'static str = "PYK_MAIN";
    /// The build time recorded in an artifact (seconds since 1970), for reproducible builds.
    pub const SOURCE_DATE_EPOCH: &'static str = "SOURCE_DATE_EPOCH";
}
