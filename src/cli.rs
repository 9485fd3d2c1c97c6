//! The command line, as clap sees it.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Pack Python programs into single executables, publish them, run them everywhere.
///
/// `pyk NAME args…` runs the published program NAME, fetching a newer version first
/// when there is one (`pyk run NAME` does the same for names that are also commands).
/// Every argument after NAME is the program's own.
#[derive(Parser)]
#[command(
    name = "pyk",
    version = crate::version::VERSION,
    about,
    allow_external_subcommands = true,
    // `-h`, `--help` and `-V` stay with the options of each command; `-q` is shown once,
    // as a global option.
    subcommand_value_name = "COMMAND|NAME",
    after_help = "Run `pyk help COMMAND` for a command's options, `pyk NAME --help` for a program's."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Every command's name and alias, `help` included: a word that is none of these is a
/// program's name (`crate::argv` tells without building clap's command tree; a test holds
/// this list to clap's).
pub const COMMANDS: &[&str] = &[
    "build",
    "lock",
    "inspect",
    "info",
    "shell",
    "exec",
    "cache",
    "publish",
    "push",
    "promote",
    "versions",
    "pull",
    "init",
    "yank",
    "run",
    "install",
    "list",
    "remove",
    "gc",
    "watch",
    "keygen",
    "serve",
    "ui",
    "migrate",
    "python-setup",
    "completions",
    "man",
    "resolve",
    "sign",
    "runtime",
    "trust",
    "self",
    "help",
];

/// Options every command takes, before or after the command's name (not after a program's
/// name: those are the program's).
#[derive(clap::Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Print only errors, warnings and what was asked for (no progress, no status lines).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log what pyk does on stderr: each request with its status and time, each cache
    /// entry used or filled, each lock waited on, why a fallback fired (`-vv`: more; see
    /// `PYK_LOG`). `pyk serve -v` also logs one line per request it answers.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Whether a command's argument that may be a package or an artifact names the file: it
/// is a file, or holds a `/`. A directory of the same name (a library's own source tree
/// holds `mylib/`) is not an artifact, so the name is the package's.
pub fn names_a_file(what: &str) -> bool {
    what.contains('/') || std::path::Path::new(what).is_file()
}

/// A package name, with `--lib` for the library of that name; shared by every command that
/// names one package.
#[derive(clap::Args)]
pub struct PackageArg {
    /// The package's name.
    pub name: String,
    /// The library of that name (`from pyk import NAME`) rather than the program.
    #[arg(long)]
    pub lib: bool,
}

impl PackageArg {
    pub fn kind(&self) -> pyk_protocol::Kind {
        if self.lib {
            pyk_protocol::Kind::Lib
        } else {
            pyk_protocol::Kind::Run
        }
    }
}

#[derive(Subcommand)]
pub enum Command {
    /// Build one self-contained executable from pyk.toml, pyproject.toml, a script or --entry.
    ///
    /// The artifact runs on any Linux x86_64 machine with no Python installed:
    /// `./dist/NAME args…`. A published library is importable with `from pyk import NAME`.
    Build(BuildArgs),
    /// Resolve the spec's dependencies for its Python and platform into pylock.toml (PEP
    /// 751) beside the spec, every wheel with its URL and sha256; `pyk build` and `pyk
    /// publish` then install exactly that, hashes checked. Takes build's arguments (those
    /// that choose the spec, --python, --platform); the output options are not used.
    Lock(BuildArgs),
    /// Show what an artifact holds (trailer, runtime, layers, resolved dependencies, entry,
    /// build time) and check every hash, naming the part that does not match.
    Inspect {
        /// An artifact file, or the name of a published package.
        what: String,
        /// The library of that name rather than the program (with a package name).
        #[arg(long)]
        lib: bool,
        /// Print one JSON object (docs/formats.md), for tools.
        #[arg(long)]
        json: bool,
        /// Print the artifact's SBOM (CycloneDX 1.6 JSON, written by the build) instead.
        #[arg(long, conflicts_with_all = ["licenses", "json"])]
        sbom: bool,
        /// List each component's licence (SPDX where the metadata gives one) and where
        /// its text is in the artifact, instead.
        #[arg(long, conflicts_with = "json")]
        licenses: bool,
    },
    /// Show a package's modules, public functions and classes with their signatures and
    /// docstrings' first lines, as recorded at build time (no package code runs; only
    /// the tree is downloaded).
    Info {
        /// A package name (NAME or NAME@VERSION) or an artifact file.
        what: String,
        /// Only this module, or a name in it (`pkg.mod`, `pkg.mod.Class.method`).
        #[arg(value_name = "MODULE[.NAME]")]
        select: Option<String>,
        /// The library of that name rather than the program.
        #[arg(long)]
        lib: bool,
        /// Print JSON, for tools.
        #[arg(long)]
        json: bool,
        /// What changed in the API from version FROM to version TO: definitions added or
        /// removed, signatures and docstrings' first lines changed.
        #[arg(long, num_args = 2, value_names = ["FROM", "TO"], conflicts_with = "select")]
        diff: Option<Vec<String>>,
    },
    /// Open a package's Python: the runtime it was built with, its code and dependencies
    /// importable (`PYK_MAIN=python ./NAME` does the same for an artifact).
    Shell {
        #[command(flatten)]
        package: PackageArg,
        /// Arguments for the interpreter (after `--`), e.g. `-q`.
        #[arg(last = true)]
        args: Vec<OsString>,
    },
    /// Run a script (or `-c CODE`, `-m MODULE`) with a package's Python, its code and
    /// dependencies importable: `pyk exec NAME -- script.py args…`.
    Exec {
        #[command(flatten)]
        package: PackageArg,
        /// The interpreter's arguments: a script and its arguments, `-c CODE` or `-m MODULE`.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Manage the cache: unpacked runtimes, dependencies and apps, fetched packages.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Build and upload to the repository (also `pyk --build`).
    Publish(PublishArgs),
    /// Store any file (tarball, script, binary) as a version of a package.
    Push {
        /// The package's name.
        name: String,
        /// The version to store it as (must not exist yet).
        version: String,
        /// The file to upload.
        file: PathBuf,
        /// Make it the version `latest` points at.
        #[arg(long)]
        promote: bool,
    },
    /// Move a package's `latest` to VERSION (an older one is a rollback).
    Promote {
        #[command(flatten)]
        package: PackageArg,
        /// The version `latest` should point at.
        version: String,
    },
    /// List a package's versions with date, size and publisher; `*` marks latest.
    Versions {
        #[command(flatten)]
        package: PackageArg,
        /// Print one JSON object (docs/formats.md), for tools.
        #[arg(long)]
        json: bool,
    },
    /// Write packages to files, for machines with no pyk (default name: the package's
    /// local name, set with `pyk init`).
    Pull {
        /// The packages to write (NAME, or NAME@VERSION).
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// A version instead of latest.
        #[arg(long)]
        version: Option<String>,
        /// Where to write: a file, or a directory (made if missing) when pulling several
        /// or when PATH ends in `/`.
        #[arg(short, long, value_name = "PATH")]
        output: Option<PathBuf>,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
        /// The libraries of those names rather than the programs.
        #[arg(long)]
        lib: bool,
        /// Write the artifact of this platform (`linux-aarch64`) of a version published for
        /// several (default: this machine's).
        #[arg(long, value_name = "PLATFORM", conflicts_with = "unpack")]
        platform: Option<String>,
        /// Write an environment directory instead of the file: a venv whose
        /// `bin/python` has the package and its dependencies importable, holding its
        /// own copy of everything (`bin/NAME` runs the program).
        #[arg(long, value_name = "DIR", conflicts_with = "output")]
        unpack: Option<PathBuf>,
    },
    /// Set the file name `pyk pull` writes a package to.
    Init {
        #[command(flatten)]
        package: PackageArg,
        /// The file name, e.g. `foo.pyz` or `foo-tool`.
        localname: String,
    },
    /// Hide a version from `latest` without deleting it (pinned machines keep it).
    Yank {
        #[command(flatten)]
        package: PackageArg,
        /// The version to hide (or, with --undo, to make eligible again).
        version: String,
        /// Make it eligible again.
        #[arg(long)]
        undo: bool,
        /// Let `latest` move to a version that was never promoted (uploaded with
        /// --no-promote, or rolled back from).
        #[arg(long)]
        force: bool,
    },
    /// Run a published program: `pyk run NAME[@VERSION] args…` (as `pyk NAME args…`).
    ///
    /// Every argument after NAME is passed to the program, `--help` and `-q` included.
    Run {
        /// The program's `sys.argv[0]` (default: NAME without @VERSION); launchers written
        /// by `pyk install` pass the name they were called by.
        #[arg(long, value_name = "NAME", hide = true)]
        argv0: Option<OsString>,
        /// The program, NAME or NAME@VERSION.
        #[arg(value_name = "NAME[@VERSION]")]
        name: String,
        /// The program's arguments, passed as they are.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Write a launcher named NAME into DIR, so `NAME args…` runs the published program.
    Install {
        /// The published program to run (the launcher gets the same name).
        name: String,
        /// Where to write it (default ~/.local/bin).
        dir: Option<PathBuf>,
    },
    /// List the packages in the repository (also `pyk --list`).
    List {
        /// Print one JSON object (docs/formats.md), for tools.
        #[arg(long)]
        json: bool,
    },
    /// Remove a package or one version from the repository (needs the write key; also
    /// `pyk --remove`).
    Remove {
        #[command(flatten)]
        package: PackageArg,
        /// Delete only this version.
        #[arg(long)]
        version: Option<String>,
        /// Delete the version `latest` points at (latest moves to the newest other).
        #[arg(long, requires = "version")]
        force: bool,
        /// Delete the whole package without asking (needed when stdin is not a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Apply the server's retention policy (`pyk serve --retention FILE`), or on a
    /// bucket repository the one given: remove the versions it lets go (never the
    /// latest) and the blobs no version references (needs the write key, or the
    /// bucket's write credentials).
    Gc {
        /// List what would be removed, and remove nothing.
        #[arg(long)]
        dry_run: bool,
        /// The retention file to apply to a bucket repository (serverless), in the
        /// format of `pyk serve --retention`.
        #[arg(long, value_name = "FILE")]
        retention: Option<PathBuf>,
    },
    /// Wait for new versions of a package and report each one.
    Watch {
        #[command(flatten)]
        package: PackageArg,
        /// Stop after the first new version.
        #[arg(long)]
        once: bool,
    },
    /// Print a fresh random key for the config's KEY; with --signing, make a publisher's
    /// signing key pair.
    Keygen {
        /// Write an ed25519 private key (mode 0600) and print its public key, for the
        /// `trusted` list of the machines that run what you publish.
        #[arg(long)]
        signing: bool,
        /// Where to write the private key (default: ~/.config/pyk/signing.key).
        #[arg(short, long, requires = "signing", value_name = "PATH")]
        output: Option<PathBuf>,
    },
    /// Run the repository server (also `pyk --server [-v] [STORE]`).
    Serve(ServeArgs),
    /// Browse the repository in a web page: packages, versions, signers, a library's API
    /// and what changed between two versions. Read-only; served on 127.0.0.1 only, read
    /// with this machine's config (the page holds no key).
    Ui(UiArgs),
    /// Copy a whole repository between stores: every package, version, pointer and local
    /// name, blobs verified with the key. Run again, it copies only what is missing
    /// (also after being killed).
    ///
    /// FROM and TO are store directories (as `pyk serve` keeps them) or
    /// `s3://bucket/prefix` (reached as `[store]` says). Stop servers on a directory
    /// store first; servers on a bucket may keep running.
    Migrate {
        /// The store to copy from: a store directory or `s3://bucket/prefix`.
        #[arg(value_name = "FROM")]
        from: String,
        /// The store to copy into (created if missing): a directory or `s3://bucket/prefix`.
        #[arg(value_name = "TO")]
        to: String,
    },
    /// Let a Python interpreter `from pyk import NAME` published libraries.
    PythonSetup {
        /// The interpreter to set up (found on PATH when it has no `/`).
        #[arg(long, default_value = "python3")]
        python: PathBuf,
    },
    /// Print shell completions: `pyk completions bash > ~/.local/share/bash-completion/completions/pyk`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `pyk man | man -l -`.
    Man,
    /// Print the unpacked app (and dependency) directories of a package's current version,
    /// one a line (used by the Python hook).
    #[command(hide = true)]
    Resolve {
        /// `run` or `lib`.
        kind: String,
        /// The package's name.
        name: String,
        /// Fail unless the package was built for this Python (3.X).
        #[arg(long)]
        python: Option<String>,
        /// After the directories, print an empty line and keep the entries locked until
        /// stdin closes: the caller takes its own locks meanwhile, so no prune can remove
        /// them in between.
        #[arg(long)]
        hold: bool,
    },
    /// Print Authorization header values for a request (for curl, wrk and debugging):
    /// each is good for one request.
    #[command(hide = true)]
    Sign {
        /// GET, PUT, POST, DELETE, …
        method: String,
        /// The path and query, exactly as the request sends them.
        path: String,
        /// The request's body, which the token covers.
        #[arg(long, value_name = "FILE")]
        body: Option<PathBuf>,
        /// How many tokens to print, one a line.
        #[arg(long, default_value_t = 1)]
        count: u64,
    },
    /// Manage the CPython runtimes that artifacts carry.
    #[command(subcommand)]
    Runtime(RuntimeCommand),
    /// Accept KEY as the publisher of a package this machine pinned to another key on
    /// first use (`pyk trust NAME KEY`), or forget what it remembers (`pyk trust reset`).
    Trust(TrustArgs),
    /// pyk itself: replace it with the repository's (`pyk self update`), or sign a pyk
    /// for a repository to hand out (`pyk self sign`).
    #[command(name = "self", subcommand)]
    SelfCmd(SelfCommand),
    #[command(external_subcommand)]
    External(Vec<OsString>),
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct TrustArgs {
    #[command(subcommand)]
    pub command: Option<TrustCommand>,
    /// The package whose publisher's key to accept.
    #[arg(required = true)]
    pub name: Option<String>,
    /// The publisher's public key (`pyk-ed25519:…`, as the refusal names it): pinned for
    /// the package in place of the one pinned before.
    #[arg(required = true)]
    pub key: Option<String>,
    /// The library of that name (`from pyk import NAME`) rather than the program.
    #[arg(long)]
    pub lib: bool,
}

#[derive(Subcommand)]
pub enum TrustCommand {
    /// Forget the key this machine pinned for a package on first use, and the newest
    /// signed `latest` it accepted, so that the next one is taken as on a fresh machine. The way out when a pointer dated in the
    /// future (one older pyk versions accepted) makes every genuine update look like a
    /// rollback; the refusal names this command.
    Reset {
        #[command(flatten)]
        package: PackageArg,
    },
}

#[derive(Subcommand)]
pub enum CacheCommand {
    /// Print the cache directory pyk uses.
    Dir,
    /// List the cache's entries with their size and last use.
    List {
        /// Print one JSON object (docs/formats.md), for tools.
        #[arg(long)]
        json: bool,
    },
    /// Print how much the cache holds.
    Size,
    /// Remove entries not used for a while, or the least recently used beyond a size.
    /// Entries a running program uses are kept.
    Prune {
        /// Remove entries unused for longer than this (e.g. 30d, 12h; default 30d when no
        /// --max-size is given).
        #[arg(long, value_name = "DURATION")]
        older_than: Option<String>,
        /// Then remove the least recently used until each cache directory holds at most
        /// this much (e.g. 2GiB, 500MiB).
        #[arg(long, value_name = "SIZE")]
        max_size: Option<String>,
    },
    /// Remove everything no running program uses.
    Clean,
    /// Fill a shared, read-only cache that every user's runs look up first (run it as
    /// the directory's owner, root): artifact files are unpacked from the file, names are
    /// fetched from the repository like `pyk NAME`. Point users at it with `shared_cache`
    /// in /etc/pyk/config.toml, or PYK_SHARED_CACHE.
    Seed {
        /// The shared cache directory (created, mode 0755, if it does not exist).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Artifact files, or package names (NAME or NAME@VERSION) to fetch.
        #[arg(value_name = "NAME|FILE", required = true)]
        what: Vec<String>,
        /// The names are libraries (`from pyk import NAME`), not programs.
        #[arg(long)]
        lib: bool,
    },
}

#[derive(clap::Args)]
pub struct PublishArgs {
    #[command(flatten)]
    pub build: BuildArgs,
    /// The version string (default: pyk.toml's `version`, else the next number).
    #[arg(long = "version", value_name = "VERSION")]
    pub version: Option<String>,
    /// Upload without moving `latest` (promote later with `pyk promote`).
    #[arg(long)]
    pub no_promote: bool,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The store: a directory created on first use (default pyk.db, or the config's
    /// `[store]` bucket), or `s3://bucket/prefix`, which any number of servers may share.
    #[arg(value_name = "STORE")]
    pub path: Option<String>,
    /// The same as STORE.
    #[arg(long = "store", value_name = "STORE", conflicts_with = "path")]
    pub store: Option<String>,
    /// Address to listen on (default: HOST from the config, else 0.0.0.0).
    #[arg(long)]
    pub host: Option<String>,
    /// Port (default: PORT from the config, else 7777).
    #[arg(short, long)]
    pub port: Option<u16>,
    /// Largest accepted upload, in MiB.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    pub max_upload: u64,
    /// A directory of `pyk-PLATFORM` binaries (and `.sig` files from `pyk self sign`) to
    /// hand out, with no key, to `install.sh` and `pyk self update`, besides this pyk for
    /// its own platform.
    #[arg(long, value_name = "DIR")]
    pub clients: Option<PathBuf>,
    /// Also serve `/metrics` and `/healthz` on this address (e.g. 127.0.0.1:9100), with
    /// no token: for a Prometheus scraper. Without it `/metrics` takes the read key.
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// A TOML file of retention rules (keep_last, keep_newer_than, keep_since,
    /// per-package overrides; see docs/formats.md) that `pyk gc` applies.
    #[arg(long, value_name = "FILE")]
    pub retention: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct UiArgs {
    /// Port on 127.0.0.1 (0: any free one).
    #[arg(short, long, default_value_t = 7780)]
    pub port: u16,
    /// Print the page's address instead of opening it in a browser.
    #[arg(long)]
    pub no_browser: bool,
}

#[derive(clap::Args)]
pub struct BuildArgs {
    /// A directory holding pyk.toml or pyproject.toml (`dist/NAME` is written there), one
    /// of those files, or a script with PEP 723 blocks.
    #[arg(default_value = ".", conflicts_with = "entry")]
    pub path: PathBuf,
    /// Build without a spec file: a .py script (its PEP 723 blocks are read) or a package
    /// directory with __main__.py; `dist/NAME` is written in the current directory.
    #[arg(long, value_name = "FILE|DIR")]
    pub entry: Option<PathBuf>,
    /// Which of pyproject.toml's [project.scripts] to run (when it has several).
    #[arg(long, value_name = "NAME", conflicts_with = "entry")]
    pub script: Option<String>,
    /// A requirements.txt to install too (repeatable; `--hash` lines turn on hash checking).
    #[arg(short = 'r', long = "requirements", value_name = "FILE")]
    pub requirements: Vec<PathBuf>,
    /// The package name (default: the spec's `name`, the script's or the entry's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Python version to bundle, e.g. 3.12 (default: pyk.toml's `python`, else
    /// $PYK_PYTHON, else the newest cached runtime satisfying `requires-python`).
    #[arg(long, value_name = "3.X")]
    pub python: Option<String>,
    /// Use this python-build-standalone style archive (.tar.gz/.tar.zst, top dir python/).
    /// Repeat it with several --platform, one archive for each: each platform takes the one
    /// whose Python is built for it.
    #[arg(long, value_name = "ARCHIVE")]
    pub runtime: Vec<PathBuf>,
    /// Where to write the executable (default: dist/NAME beside the spec).
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Leave out the stdlib modules the app's and its dependencies' imports never reach
    /// (also `strip_stdlib = true` in pyk.toml; `keep = [...]` keeps modules imported by
    /// computed names).
    #[arg(long)]
    pub strip_stdlib: bool,
    /// The machine the executable is for: linux-x86_64 or linux-aarch64, as `uname -s`-`uname
    /// -m` lower-cased (the names `pyk self sign --platform` and python-build-standalone use).
    /// Default: this machine's. For another machine pyk needs that machine's launcher (built
    /// into pyk when it was built with an aarch64 Rust standard library at hand), a cached
    /// runtime for it (`pyk runtime import --sysroot`, or `--runtime` with its
    /// python-build-standalone archive), and qemu-user registered with binfmt_misc: that
    /// runtime's interpreter compiles the .pyc and reads the API tree under emulation.
    /// Dependencies are installed as that machine's wheels with uv; one with no wheel for it
    /// is refused.
    ///
    /// Repeat it (or set `platforms = [...]` in pyk.toml) for one artifact per platform:
    /// `pyk build` writes `dist/NAME-PLATFORM` for each, `pyk publish` publishes them as one
    /// version, and every client runs its own. A library with no native code is built once,
    /// for any platform.
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Vec<String>,
    /// Fail unless a pylock.toml (or uv.lock) beside the spec exists and matches the spec,
    /// naming each difference (a lock beside the spec is installed from either way).
    #[arg(long)]
    pub locked: bool,
}

#[derive(Subcommand)]
pub enum SelfCommand {
    /// Replace this pyk with the one the repository hands out for this platform, checked
    /// by its sha256, and by a `trusted` key's signature when this machine trusts keys.
    Update,
    /// Put this pyk (or --binary) and its signature, made with your `signing_key`, into
    /// DIR: what `pyk serve --clients DIR` hands out and `pyk self update` checks.
    Sign {
        /// The clients directory (created if missing): gets `pyk-PLATFORM` and
        /// `pyk-PLATFORM.sig`.
        dir: PathBuf,
        /// Sign this binary instead of the running pyk (needs --version).
        #[arg(long, value_name = "FILE", requires = "version")]
        binary: Option<PathBuf>,
        /// The platform the binary is for, as `uname -s`-`uname -m` lower-cased (default:
        /// this machine's, linux-x86_64).
        #[arg(long)]
        platform: Option<String>,
        /// The version of --binary, as its `pyk --version` says (default: this pyk's).
        #[arg(long)]
        version: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum RuntimeCommand {
    /// Adopt a CPython installed on this machine (e.g. /usr/bin/python3.11) as a runtime.
    Import {
        /// The interpreter, e.g. /usr/bin/python3.11 or ~/.pyenv/versions/3.12.1/bin/python3.
        python: PathBuf,
        /// The root of another machine's files PYTHON is in (an aarch64 Debian root made with
        /// `apt-get download` and `dpkg -x`, for `pyk build --platform linux-aarch64`): its
        /// libraries are bundled from there, never from this machine, and PYTHON runs under
        /// qemu-user (binfmt_misc) with QEMU_LD_PREFIX=DIR while its layer is made.
        #[arg(long, value_name = "DIR")]
        sysroot: Option<PathBuf>,
    },
    /// Download a python-build-standalone runtime ($PYK_PYTHON_MIRROR overrides the URL).
    Fetch {
        /// Version, e.g. 3.12 or 3.12.7.
        version: String,
    },
    /// List cached runtime layers and unpacked runtimes.
    List {
        /// Print one JSON object (docs/formats.md), for tools.
        #[arg(long)]
        json: bool,
    },
    /// Remove a runtime layer and its unpacked copy (by sha256 prefix or version).
    Remove {
        /// A sha256 prefix (at least 8 hex digits) or a version such as 3.11.
        which: String,
    },
    /// Remove runtimes that nothing has used for a while.
    Prune {
        /// Age in days since last use.
        #[arg(long, default_value_t = 30, value_name = "DAYS")]
        unused_for: u64,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// clap's own consistency checks (conflicts, requires, ids).
    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every positional argument and every option of every command, hidden ones included,
    /// says what it is: a new command with a bare `name: String` fails here.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") || arg.is_hide_set() {
                    continue;
                }
                if arg.get_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "pyk", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
    }

    /// A default is shown once, by clap: help text does not repeat it.
    #[test]
    fn defaults_are_not_repeated() {
        fn walk(cmd: &clap::Command, bad: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                if !arg.get_default_values().is_empty() && help.contains("default") {
                    bad.push(format!("{} {}", cmd.get_name(), arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, bad);
            }
        }
        let mut bad = Vec::new();
        walk(&Cli::command(), &mut bad);
        assert!(bad.is_empty(), "defaults said twice: {bad:?}");
    }

    /// `-o` is one option wherever it appears: `-o, --output <PATH>`.
    #[test]
    fn output_is_named_alike() {
        fn walk(cmd: &clap::Command, seen: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                if arg.get_short() == Some('o') {
                    let names = arg.get_value_names().unwrap_or_default();
                    seen.push(format!(
                        "{:?} {:?}",
                        arg.get_long(),
                        names.iter().map(|n| n.as_str()).collect::<Vec<_>>()
                    ));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, seen);
            }
        }
        let mut seen = Vec::new();
        walk(&Cli::command(), &mut seen);
        assert!(seen.len() >= 3, "{seen:?}");
        assert!(seen.iter().all(|s| *s == seen[0]), "{seen:?}");
    }
}
