//! `pyk`: the command-line tool. This file turns the parsed command into calls and every
//! error into one line on stderr and a non-zero exit.

mod argv;
mod build;
mod cache_cmd;
mod cli;
mod commands;
mod config;
mod environ;
mod files;
mod hints;
mod info;
mod inspect;
mod install;
mod keygen;
mod migrate;
mod output;
mod publish;
mod pull;
mod repo;
mod runner;
mod runtimes;
mod sbom;
mod self_update;
mod shell;
mod spec;
mod stub_bin;
mod unpack;
mod version;

use std::process::ExitCode;

use config::Config;

fn main() -> ExitCode {
    let cli = argv::parse(std::env::args_os().collect());
    output::set_quiet(cli.global.quiet);
    let mut config = Config::load();
    config.trust_ca_bundle();
    let ctx = commands::Context::new(&config, cli.global.quiet);
    match commands::dispatch(cli, &ctx) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let e = hints::with_https_hint(&config, e);
            eprintln!("pyk: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
