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
    /// Set by `pyk foo` for the program it runs: the package's name.
    pub const PYK_PACKAGE: &'static str = "PYK_PACKAGE";
    /// Set by `pyk foo` for the program it runs: the version that runs.
    pub const PYK_VERSION: &'static str = "PYK_VERSION";
    /// The build time recorded in an artifact (seconds since 1970), for reproducible builds.
    pub const SOURCE_DATE_EPOCH: &'static str = "SOURCE_DATE_EPOCH";
}
