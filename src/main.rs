//! `pyk`: the command-line tool. This file turns the parsed command into calls and every
//! error into one line on stderr and a non-zero exit.

mod build;
mod cache_cmd;
mod cli;
mod config;
mod environ;
mod files;
mod inspect;
mod install;
mod keygen;
mod manage;
mod output;
mod publish;
mod pull;
mod repo;
mod runner;
mod runtimes;
mod spec;
mod stub_bin;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::output::Progress;
use anyhow::{bail, Context, Result};
use clap::Parser;
use pyk_cache::{Cache, RootEnv};
use pyk_protocol::Kind;
use pyk_static::EnvVars;

use cli::{BuildArgs, Cli, Command, ServeArgs};
use config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse_from(original_spellings(std::env::args_os().collect()));
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pyk: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The original pyk's `--build`, `--server` and `--install` become subcommands.
fn original_spellings(mut args: Vec<OsString>) -> Vec<OsString> {
    let renamed = match args.get(1).and_then(|a| a.to_str()) {
        Some("--build") => "publish",
        Some("--server") => "serve",
        Some("--install") => "install",
        _ => return args,
    };
    args[1] = renamed.into();
    args
}

fn run(cli: Cli) -> Result<()> {
    let progress = Progress::new(cli.quiet);
    let config = Config::load()?;
    let env = root_env();
    let cache = || env.open();
    match cli.command {
        Command::Build(args) => {
            let spec = load_spec(&args)?;
            build_cmd(&spec, &args, &config, &cache()?, &progress)?;
        }
        Command::Inspect { what, lib } => {
            let path = Path::new(&what);
            if path.exists() || what.contains('/') {
                inspect::inspect(path, &path.display())?;
            } else {
                // The whole file, fetched into a temp file: inspecting checks every byte.
                let cache = cache()?;
                let (m, client) = runner::manifest(&config, &cache, kind(lib), &what, None)?;
                let mut tmp = tempfile::NamedTempFile::new()?;
                pyk_client::Packages::new(&cache).write_whole(
                    &client,
                    &m,
                    tmp.as_file_mut(),
                    &progress,
                )?;
                inspect::inspect(tmp.path(), &format!("{} {}", m.name, m.version))?;
            }
        }
        Command::Cache(cmd) => cache_cmd::run(cmd, &env)?,
        Command::Publish(args) => {
            let cache = cache()?;
            let spec = load_spec(&args.build)?;
            let artifact = build_cmd(&spec, &args.build, &config, &cache, &progress)?;
            let release = publish::Release {
                version: args.version.as_deref().or(spec.version.as_deref()),
                promote: !args.no_promote,
                localname: spec.localname.as_deref(),
            };
            publish::publish(&artifact, &release, &config, &cache, &progress)?;
        }
        Command::Push {
            name,
            version,
            file,
            promote,
        } => publish::push(
            &name,
            &version,
            &file,
            promote,
            &config,
            &cache()?,
            &progress,
        )?,
        Command::Promote { name, version, lib } => {
            manage::promote(&config, kind(lib), &name, &version)?
        }
        Command::Versions { name, lib } => manage::versions(&config, kind(lib), &name)?,
        Command::Pull {
            names,
            version,
            output,
            force,
            lib,
        } => {
            let req = pull::Pull {
                names: &names,
                kind: kind(lib),
                version: version.as_deref(),
                output: output.as_deref(),
                force,
            };
            pull::pull(&req, &config, &cache()?, &progress)?
        }
        Command::Init {
            name,
            localname,
            lib,
        } => manage::init(&config, kind(lib), &name, &localname)?,
        Command::Yank {
            name,
            version,
            lib,
            undo,
        } => manage::yank(&config, kind(lib), &name, &version, undo)?,
        Command::Run { name, args } => run_package(&config, &cache()?, &name, &args, &progress)?,
        Command::External(mut words) => {
            let name = words.remove(0);
            let name = name.to_str().context("package names are ASCII")?;
            run_package(&config, &cache()?, name, &words, &progress)?;
        }
        Command::Install { name, dir } => install::launcher(&name, dir.as_deref())?,
        Command::List => manage::list(&config)?,
        Command::Remove {
            name,
            lib,
            version,
            force,
        } => manage::remove(&config, kind(lib), &name, version.as_deref(), force)?,
        Command::Watch { name, lib, once } => manage::watch(&config, kind(lib), &name, once)?,
        Command::Keygen { signing, output } => match signing {
            true => keygen::signing(output.as_deref(), &progress)?,
            false => println!("{}", pyk_crypto::Key::generate().as_str()),
        },
        Command::Serve(args) => serve(args, &config)?,
        Command::PythonSetup { python } => install::python_hook(&python)?,
        Command::Resolve { kind, name, python } => {
            let kind: Kind = kind.parse()?;
            let cache = cache()?;
            let resolved = runner::resolve(&config, &cache, kind, &name, None, &progress)?;
            if let Some(want) = python {
                let built = &resolved.manifest.python;
                if *built != want {
                    bail!(
                        "{kind} package {name} was built for Python {built}; this is Python {want}"
                    );
                }
            }
            let pyk_client::Contents::Layers(unpacked) = &resolved.contents else {
                bail!("{kind} package {name} is a file, not a library");
            };
            for dir in unpacked.import_dirs() {
                println!("{}", dir.display());
            }
        }
        Command::Sign {
            method,
            path,
            body,
            count,
        } => {
            let body = match body {
                Some(file) => std::fs::read(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?,
                None => Vec::new(),
            };
            let field = pyk_protocol::request::body_field(&method, &path, &body);
            let key = match method.as_str() {
                "GET" | "HEAD" => config.read_key()?,
                _ => config.write_key()?,
            };
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for _ in 0..count {
                let token = pyk_crypto::token::authorization(key, &method, &path, field.as_ref());
                std::io::Write::write_all(&mut out, format!("{token}\n").as_bytes())?;
            }
        }
        Command::Runtime(cmd) => runtimes::run(cmd, &config, &cache()?, &progress)?,
    }
    Ok(())
}

/// Where the cache is, from the environment (the only place the CLI reads it).
fn root_env() -> RootEnv {
    RootEnv::read(|name| std::env::var_os(name))
}

/// The build time for the trailer: `SOURCE_DATE_EPOCH` (reproducible builds), else now.
fn build_time() -> Result<u64> {
    match std::env::var(EnvVars::SOURCE_DATE_EPOCH) {
        Ok(v) if !v.is_empty() => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number of seconds")),
        _ => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())),
    }
}

fn kind(lib: bool) -> Kind {
    if lib {
        Kind::Lib
    } else {
        Kind::Run
    }
}

fn run_package(
    config: &Config,
    cache: &Cache,
    name: &str,
    args: &[OsString],
    progress: &Progress,
) -> Result<()> {
    let resolved = runner::resolve(config, cache, Kind::Run, name, None, progress)?;
    runner::exec(&resolved, args).map(drop)
}

fn load_spec(args: &BuildArgs) -> Result<spec::Spec> {
    spec::load(&spec::Args {
        path: &args.path,
        entry: args.entry.as_deref(),
        script: args.script.as_deref(),
        name: args.name.as_deref(),
        requirements: &args.requirements,
    })
}

fn build_cmd(
    spec: &spec::Spec,
    args: &BuildArgs,
    config: &Config,
    cache: &Cache,
    progress: &Progress,
) -> Result<PathBuf> {
    let opts = build::Options {
        cache,
        built: build_time()?,
        level: layer_level(),
        python: args.python.clone(),
        runtime_archive: args.runtime.as_deref(),
        mirror: config.python_mirror.as_deref(),
        output: args.output.clone(),
    };
    build::build(spec, &opts, progress)
}

/// zstd level of deps and app layers: `PYK_ZSTD_LEVEL` (shared with runtime layers), else 12.
/// These layers are compressed on every build, unlike a runtime's: on a numpy app here,
/// level 19 took ~5x as long as 12 for a deps layer 9% smaller.
fn layer_level() -> i32 {
    environ::zstd_level().unwrap_or(12).clamp(1, 22)
}

fn serve(args: ServeArgs, config: &Config) -> Result<()> {
    let read_key = config.read_key()?.clone();
    let write_key = config.write_key()?.clone();
    let host = args.host.unwrap_or_else(|| config.listen.0.clone());
    let port = args.port.unwrap_or(config.listen.1);
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .with_context(|| format!("cannot listen on {host}:{port}"))?
        .next()
        .with_context(|| format!("{host} resolves to no address"))?;
    let mut serve = pyk_server::ServeConfig::new(read_key);
    serve.addr = addr;
    serve.store = pyk_server::store::StoreConfig::Embedded { path: args.path };
    serve.write_key = write_key;
    serve.max_upload = args.max_upload * 1024 * 1024;
    serve.verbose = args.verbose;
    pyk_server::serve(serve)
}
