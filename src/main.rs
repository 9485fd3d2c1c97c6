//! `pyk`: the command-line tool. This file turns the parsed command into calls and every
//! error into one line on stderr and a non-zero exit; `start` is where the process begins.
#![cfg_attr(not(test), no_main)]

mod api;
mod argv;
mod build;
mod cli;
mod commands;
mod config;
mod environ;
mod exit;
mod fetch;
mod files;
mod hints;
mod json;
mod logging;
mod math;
mod output;
mod repo;
mod sbom;
mod spec;
#[cfg(not(test))]
mod start;
mod stub_bin;
mod version;

use config::Config;

/// The command line's work, from arguments to exit code (`start` calls it; a test build
/// has the test harness's `main` instead).
#[cfg_attr(test, allow(dead_code))]
fn run() -> u8 {
    let cli = argv::parse(std::env::args_os().collect());
    output::set_quiet(cli.global.quiet);
    if let Err(e) = logging::init(cli.global.verbose) {
        eprintln!("pyk: error: {e:#}");
        return exit::FAILURE;
    }
    let mut config = Config::load();
    config.trust_ca_bundle();
    let ctx = commands::Context::new(&config, cli.global.quiet);
    match commands::dispatch(cli, &ctx) {
        Ok(()) => 0,
        Err(e) => {
            let e = hints::with_https_hint(&config, e);
            eprintln!("pyk: error: {}", hints::line(&e));
            exit::code(&e)
        }
    }
}
