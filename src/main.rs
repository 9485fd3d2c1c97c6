//! `pyk`: the command-line tool. This file turns the parsed command into calls and every
//! error into one line on stderr and a non-zero exit.

mod build;
mod cli;
mod config;
mod runtimes;
mod spec;
mod stub_bin;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use pyk_runtime_fetch::Progress;

use cli::{BuildArgs, Cli, Command};
use config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pyk: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let progress = Progress::new(cli.quiet);
    let config = Config::load()?;
    let cache_root = cache_root()?;
    match cli.command {
        Command::Build(args) => {
            build_cmd(args, &config, &cache_root, &progress)?;
        }
        Command::Runtime(cmd) => runtimes::run(cmd, &config, &cache_root, &progress)?,
    }
    Ok(())
}

fn cache_root() -> Result<PathBuf> {
    pyk_artifact::cache::root().context("no cache directory: set PYK_CACHE_DIR or HOME")
}

fn build_cmd(args: BuildArgs, config: &Config, cache_root: &std::path::Path, progress: &Progress) -> Result<PathBuf> {
    let spec = match &args.entry {
        Some(entry) => spec::Spec::from_entry(entry, args.name.as_deref(), args.requirements.clone())?,
        None => spec::Spec::from_toml(&args.path)?,
    };
    let opts = build::Options {
        cache_root,
        python: args.python,
        runtime_archive: args.runtime.as_deref(),
        mirror: config.python_mirror.as_deref(),
        output: args.output,
    };
    build::build(&spec, &opts, progress)
}
