//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Pack Python programs into single executables, publish them, run them everywhere.
#[derive(Parser)]
#[command(name = "pyk", version, about, propagate_version = true)]
pub struct Cli {
    /// Print only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Build one self-contained executable from pyk.toml or from --entry.
    ///
    /// The artifact runs on any Linux x86_64 machine with no Python installed:
    /// `./dist/NAME args…`. A library artifact is also importable through zipimport.
    Build(BuildArgs),
    /// Manage the CPython runtimes that artifacts carry.
    #[command(subcommand)]
    Runtime(RuntimeCommand),
}

#[derive(clap::Args)]
pub struct BuildArgs {
    /// Directory holding pyk.toml, or the pyk.toml file itself.
    #[arg(default_value = ".", conflicts_with = "entry")]
    pub path: PathBuf,
    /// Build without pyk.toml: a .py script or a package directory with __main__.py.
    #[arg(long, value_name = "FILE|DIR")]
    pub entry: Option<PathBuf>,
    /// A requirements.txt to install into the payload (with --entry; repeatable).
    #[arg(short = 'r', long = "requirements", value_name = "FILE", requires = "entry")]
    pub requirements: Vec<PathBuf>,
    /// The package name (with --entry; default: the entry's file name).
    #[arg(long, requires = "entry")]
    pub name: Option<String>,
    /// Python version to bundle, e.g. 3.12 (default: pyk.toml's `python`, else
    /// $PYK_PYTHON, else the newest cached runtime, else 3.12).
    #[arg(long, value_name = "3.X")]
    pub python: Option<String>,
    /// Use this python-build-standalone style archive (.tar.gz/.tar.zst, top dir python/).
    #[arg(long, value_name = "ARCHIVE")]
    pub runtime: Option<PathBuf>,
    /// Where to write the executable (default: dist/NAME).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum RuntimeCommand {
    /// Adopt a CPython installed on this machine (e.g. /usr/bin/python3.11) as a runtime.
    Import {
        /// The interpreter, e.g. /usr/bin/python3.11 or ~/.pyenv/versions/3.12.1/bin/python3.
        python: PathBuf,
    },
    /// Download a python-build-standalone runtime ($PYK_PYTHON_MIRROR overrides the URL).
    Fetch {
        /// Version, e.g. 3.12 or 3.12.7.
        version: String,
    },
    /// List cached runtime layers and unpacked runtimes.
    List,
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
