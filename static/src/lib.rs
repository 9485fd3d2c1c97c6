//! Every environment variable pyk reads or sets, declared once with what it means (uv-static
//! style).
//!
//! Only the binaries (`src/`, `stub/`, the server's test binary) read the environment;
//! libraries take values. Naming the variables here keeps the launcher, the CLI and the
//! Python side from drifting apart, and is the one list of what can be set.

use std::ffi::OsString;
use std::path::PathBuf;

/// The environment variables pyk reads or sets.
pub struct EnvVars;

/// The config files, in the order they are read (a later one overrides an earlier one):
/// `/etc/pyk/config.toml`, `$XDG_CONFIG_HOME/pyk/config.toml` (else
/// `$HOME/.config/pyk/config.toml`), then `$PYK_CONFIG`. `var` reads the environment
/// (empty values count as unset). The CLI reads them whole; the launcher reads only the
/// shared cache's key from them (see `pyk_cache::root`).
pub fn config_files(var: impl Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    let var = |name| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let mut files = vec![PathBuf::from("/etc/pyk/config.toml")];
    let user =
        var(EnvVars::XDG_CONFIG_HOME).or_else(|| var(EnvVars::HOME).map(|h| h.join(".config")));
    files.extend(user.map(|d| d.join("pyk/config.toml")));
    files.extend(var(EnvVars::PYK_CONFIG));
    files
}

impl EnvVars {
    // The cache.
    /// The cache root; default `$XDG_CACHE_HOME/pyk`, else `$HOME/.cache/pyk`.
    pub const PYK_CACHE_DIR: &'static str = "PYK_CACHE_DIR";
    /// The XDG base directory for caches; the cache root is `$XDG_CACHE_HOME/pyk`.
    pub const XDG_CACHE_HOME: &'static str = "XDG_CACHE_HOME";
    /// The user's home: the cache root is `$HOME/.cache/pyk`, the user's config
    /// `$HOME/.config/pyk/config.toml` and launchers go to `$HOME/.local/bin`, when nothing
    /// more specific is set.
    pub const HOME: &'static str = "HOME";
    /// The administrator's read-only shared cache, looked up before the user's (overrides
    /// the config's `shared_cache`); filled by `pyk cache seed`.
    pub const PYK_SHARED_CACHE: &'static str = "PYK_SHARED_CACHE";
    /// Where the private fallback cache `$TMPDIR/pyk-<uid>` lives (default `/tmp`).
    pub const TMPDIR: &'static str = "TMPDIR";

    // The configuration (each overrides the config files' key of the same meaning).
    /// The XDG base directory for config: the user's config is
    /// `$XDG_CONFIG_HOME/pyk/config.toml`.
    pub const XDG_CONFIG_HOME: &'static str = "XDG_CONFIG_HOME";
    /// One more config file, read last.
    pub const PYK_CONFIG: &'static str = "PYK_CONFIG";
    /// The repository's read key (or passphrase).
    pub const PYK_KEY: &'static str = "PYK_KEY";
    /// The repository's write key, for publishing.
    pub const PYK_WRITE_KEY: &'static str = "PYK_WRITE_KEY";
    /// The repository's URL.
    pub const PYK_SERVER: &'static str = "PYK_SERVER";
    /// Seconds `pyk foo` waits for the repository before the cached version runs.
    pub const PYK_TIMEOUT: &'static str = "PYK_TIMEOUT";
    /// Seconds `pyk foo`'s update check may take in all (default 10) before the cached
    /// version runs; each download gets this plus its size at `PYK_MIN_RATE`.
    pub const PYK_DEADLINE: &'static str = "PYK_DEADLINE";
    /// The slowest average rate a download of `pyk foo` may go at, bytes a second (a
    /// number or a size such as `64KiB`, the default), before the cached version runs.
    pub const PYK_MIN_RATE: &'static str = "PYK_MIN_RATE";
    /// A mirror of python-build-standalone's releases.
    pub const PYK_PYTHON_MIRROR: &'static str = "PYK_PYTHON_MIRROR";
    /// This machine's name, recorded as the publisher.
    pub const PYK_NODE: &'static str = "PYK_NODE";
    /// The publisher's ed25519 signing key file.
    pub const PYK_SIGNING_KEY: &'static str = "PYK_SIGNING_KEY";
    /// A PEM bundle of CA certificates every HTTPS connection trusts besides the system
    /// store (the config's `ca_bundle`).
    pub const PYK_CA_BUNDLE: &'static str = "PYK_CA_BUNDLE";
    /// `lease` makes the test server's S3 writers take leases even where conditional writes
    /// work (`pyk-server`, for tests of the lease path; default: probe the bucket).
    pub const PYK_S3_MODE: &'static str = "PYK_S3_MODE";
    /// The largest blob the server accepts, in bytes (`pyk-server`).
    pub const PYK_MAX_UPLOAD: &'static str = "PYK_MAX_UPLOAD";
    /// Debug logging on stderr, as a `tracing` filter (`debug`, `trace`,
    /// `pyk_client=trace,pyk_cache=debug`): what `-v` (`debug`) and `-vv` (`trace`) turn
    /// on, and it wins over them.
    pub const PYK_LOG: &'static str = "PYK_LOG";

    // Builds.
    /// The Python version or interpreter a build uses when neither `--python` nor the spec
    /// names one.
    pub const PYK_PYTHON: &'static str = "PYK_PYTHON";
    /// The installer of dependencies: `uv` or `pip` (default: uv if found, else pip).
    pub const PYK_INSTALLER: &'static str = "PYK_INSTALLER";
    /// The uv binary to install dependencies with (default: `uv` on `PATH`).
    pub const PYK_UV: &'static str = "PYK_UV";
    /// The Python whose pip installs dependencies (default: `python3` on `PATH`).
    pub const PYK_PIP_PYTHON: &'static str = "PYK_PIP_PYTHON";
    /// The zstd level of the layers a build writes (1–22; runtime layers default to 19,
    /// dependency and app layers to 12).
    pub const PYK_ZSTD_LEVEL: &'static str = "PYK_ZSTD_LEVEL";
    /// The python-build-standalone release to fetch runtimes from (default: the newest
    /// pinned one).
    pub const PYK_PBS_RELEASE: &'static str = "PYK_PBS_RELEASE";
    /// The build time recorded in an artifact (seconds since 1970), for reproducible builds.
    pub const SOURCE_DATE_EPOCH: &'static str = "SOURCE_DATE_EPOCH";
    /// Where programs are looked for (uv, python3; whether a launcher directory is on it).
    pub const PATH: &'static str = "PATH";

    // Set for the programs pyk runs.
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
    /// Set by `pyk foo` for the program it runs: the package's name.
    pub const PYK_PACKAGE: &'static str = "PYK_PACKAGE";
    /// Set by `pyk foo` for the program it runs: the version that runs.
    pub const PYK_VERSION: &'static str = "PYK_VERSION";
    /// Read by the Python import hook (`from pyk import foo`): the pyk binary to ask,
    /// instead of the one that wrote the hook.
    pub const PYK_BIN: &'static str = "PYK_BIN";
}
