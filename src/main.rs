//! `pyk`: the command-line tool. This file turns the parsed command into calls and every
//! error into one line on stderr and a non-zero exit.

mod argv;
mod build;
mod cache_cmd;
mod cli;
mod config;
mod environ;
mod files;
mod hints;
mod info;
mod inspect;
mod install;
mod keygen;
mod manage;
mod migrate;
mod output;
mod publish;
mod pull;
mod repo;
mod runner;
mod runtimes;
mod self_update;
mod shell;
mod spec;
mod stub_bin;
mod unpack;
mod version;

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::output::Progress;
use anyhow::{bail, Context, Result};
use clap::CommandFactory;
use pyk_cache::{Cache, RootEnv};
use pyk_protocol::Kind;
use pyk_static::EnvVars;

use cli::{BuildArgs, Cli, Command, PackageArg, ServeArgs};
use config::Config;

fn main() -> ExitCode {
    let cli = argv::parse(std::env::args_os().collect());
    output::set_quiet(cli.global.quiet);
    let mut config = Config::load();
    config.trust_ca_bundle();
    match run(cli, &config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let e = hints::with_https_hint(&config, e);
            eprintln!("pyk: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, config: &Config) -> Result<()> {
    let progress = Progress::new(cli.global.quiet);
    let cache = || -> Result<Cache> { Ok(root_env(config)?.open()?) };
    match cli.command {
        Command::Build(args) => {
            let spec = load_spec(&args)?;
            build_cmd(&spec, &args, config, &cache()?, &progress)?;
        }
        Command::Inspect { what, lib } => {
            let path = Path::new(&what);
            output::end_quietly_on_closed_pipe();
            if cli::names_a_file(&what) {
                inspect::inspect(path, &path.display())?;
            } else {
                // The whole file, fetched into a temp file: inspecting checks every byte.
                let cache = cache()?;
                let (m, client) = runner::manifest(config, &cache, kind(lib), &what, None)
                    .map_err(|e| hints::wrong_kind(config, kind(lib), &what, true, e))?;
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
        Command::Info {
            what,
            select,
            lib,
            json,
        } => {
            let query = info::Query {
                what: &what,
                kind: kind(lib),
                select: select.as_deref(),
                json,
            };
            output::end_quietly_on_closed_pipe();
            info::info(&query, config, &cache()?, &progress)
                .map_err(|e| hints::wrong_kind(config, kind(lib), &what, true, e))?
        }
        Command::Shell { package, args } | Command::Exec { package, args } => {
            with_hint(config, &package, || {
                let whole = runner::whole(
                    config,
                    &cache()?,
                    package.kind(),
                    &package.name,
                    None,
                    &progress,
                )?;
                shell::exec(&whole, &args).map(drop)
            })?
        }
        Command::Cache(cmd) => {
            if matches!(cmd, cli::CacheCommand::List) {
                output::end_quietly_on_closed_pipe();
            }
            cache_cmd::run(cmd, &root_env(config)?, config, &progress)?
        }
        Command::Publish(args) => {
            let cache = cache()?;
            let spec = load_spec(&args.build)?;
            let release = publish::Release {
                version: args.version.as_deref().or(spec.version.as_deref()),
                promote: !args.no_promote,
                localname: spec.localname.as_deref(),
            };
            // Before the build: a version that exists cannot be published again.
            let bump = match &spec.version_at {
                Some(at) => format!(
                    "bump {at}, pass --version NEW, or leave the version out to get the next \
                     number"
                ),
                None => "pass --version NEW, or leave it out to get the next number".to_owned(),
            };
            publish::check_new(&spec.name, spec.kind, &release, config, &bump)?;
            let artifact = build_cmd(&spec, &args.build, config, &cache, &progress)?;
            publish::publish(&artifact, &release, config, &cache, &progress)?;
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
            config,
            &cache()?,
            &progress,
        )?,
        Command::Promote { package, version } => with_hint(config, &package, || {
            manage::promote(config, package.kind(), &package.name, &version)
        })?,
        Command::Versions { package } => {
            output::end_quietly_on_closed_pipe();
            with_hint(config, &package, || {
                manage::versions(config, package.kind(), &package.name)
            })?
        }
        Command::Pull {
            names,
            version,
            output: _,
            force,
            lib,
            unpack: Some(dir),
        } => {
            let [name] = &names[..] else {
                bail!("--unpack writes one package: name one");
            };
            let whole = runner::whole(
                config,
                &cache()?,
                kind(lib),
                name,
                version.as_deref(),
                &progress,
            )?;
            unpack::unpack(&whole, &dir, force, &progress)?
        }
        Command::Pull {
            names,
            version,
            output,
            force,
            lib,
            unpack: None,
        } => {
            let req = pull::Pull {
                names: &names,
                kind: kind(lib),
                version: version.as_deref(),
                output: output.as_deref(),
                force,
            };
            pull::pull(&req, config, &cache()?, &progress)?
        }
        Command::Init { package, localname } => with_hint(config, &package, || {
            manage::init(config, package.kind(), &package.name, &localname)
        })?,
        Command::Yank {
            package,
            version,
            undo,
            force,
        } => with_hint(config, &package, || {
            manage::yank(config, package.kind(), &package.name, &version, undo, force)
        })?,
        Command::Run { argv0, name, args } => {
            run_package(config, &cache()?, &name, argv0.as_deref(), &args, &progress)?
        }
        Command::External(mut words) => {
            let name = words.remove(0);
            let name = name.to_str().context("package names are ASCII")?;
            run_package(config, &cache()?, name, None, &words, &progress).map_err(|e| {
                match hints::closest_command(&Cli::command(), name) {
                    Some(command) => anyhow::anyhow!(
                        "`{name}` is not a pyk command (did you mean `pyk {command}`?), nor a \
                         package pyk could run: {e:#}"
                    ),
                    None => e,
                }
            })?;
        }
        Command::Install { name, dir } => install::launcher(config, &name, dir.as_deref())
            .map_err(|e| hints::wrong_kind(config, Kind::Run, &name, false, e))?,
        Command::List => {
            output::end_quietly_on_closed_pipe();
            manage::list(config)?
        }
        Command::Remove {
            package,
            version,
            force,
            yes,
        } => with_hint(config, &package, || {
            manage::remove(
                config,
                package.kind(),
                &package.name,
                version.as_deref(),
                force,
                yes,
            )
        })?,
        Command::Watch { package, once } => with_hint(config, &package, || {
            manage::watch(config, package.kind(), &package.name, once)
        })?,
        Command::Keygen { signing, output } => match signing {
            true => keygen::signing(output.as_deref(), &progress)?,
            false => println!("{}", pyk_crypto::Key::generate().as_str()),
        },
        Command::Serve(args) => serve(args, config)?,
        Command::Migrate { from, to } => migrate::migrate(config, &from, &to, &progress)?,
        Command::PythonSetup { python } => install::python_hook(&python)?,
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "pyk", &mut std::io::stdout())
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .context("cannot write the man page")?,
        Command::Resolve {
            kind,
            name,
            python,
            hold,
        } => {
            let kind: Kind = kind.parse()?;
            let cache = cache()?;
            let resolved = runner::resolve(config, &cache, kind, &name, None, &progress)
                .map_err(|e| hints::wrong_kind(config, kind, &name, false, e))?;
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
            if hold {
                // `resolved` holds the entries' locks until it is dropped, after this.
                println!();
                std::io::Write::flush(&mut std::io::stdout())?;
                std::io::copy(&mut std::io::stdin(), &mut std::io::sink())?;
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
        Command::Runtime(cmd) => {
            if matches!(cmd, cli::RuntimeCommand::List) {
                output::end_quietly_on_closed_pipe();
            }
            runtimes::run(cmd, config, &cache()?, &progress)?
        }
        Command::Trust(cli::TrustArgs {
            command: Some(cli::TrustCommand::Reset { package }),
            ..
        }) => manage::trust_reset(config, &cache()?, package.kind(), &package.name)?,
        Command::Trust(args) => {
            let package = cli::PackageArg {
                name: args.name.unwrap_or_default(),
                lib: args.lib,
            };
            let key = args.key.unwrap_or_default();
            manage::trust_key(config, &cache()?, package.kind(), &package.name, &key)?
        }
        Command::SelfCmd(cmd) => self_update::run(cmd, config)?,
    }
    Ok(())
}

/// Runs a command about one package; a "no package" error says so when the other kind
/// exists under that name.
fn with_hint(config: &Config, package: &PackageArg, f: impl FnOnce() -> Result<()>) -> Result<()> {
    f().map_err(|e| hints::wrong_kind(config, package.kind(), &package.name, true, e))
}

/// Where the cache is, from the environment (the only place the CLI reads it) and, for
/// the shared cache when `PYK_SHARED_CACHE` is not set, the config.
fn root_env(config: &Config) -> Result<RootEnv> {
    let mut env = RootEnv::read(|name| std::env::var_os(name));
    if env.shared_cache.as_ref().is_none_or(|v| v.is_empty()) {
        env.shared_cache = config.shared_cache()?.map(Into::into);
    }
    Ok(env)
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
    argv0: Option<&OsStr>,
    args: &[OsString],
    progress: &Progress,
) -> Result<()> {
    let resolved = runner::resolve(config, cache, Kind::Run, name, None, progress)
        .map_err(|e| hints::wrong_kind(config, Kind::Run, name, false, e))?;
    runner::exec(&resolved, argv0, args).map(drop)
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
        mirror: &|| config.python_mirror(),
        output: args.output.clone(),
        strip_stdlib: args.strip_stdlib,
        platform: build::Platform::parse(args.platform.as_deref())?,
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
    let (host, port) = match (args.host, args.port) {
        (Some(host), Some(port)) => (host, port),
        (host, port) => {
            let listen = config.listen()?;
            (host.unwrap_or(listen.0), port.unwrap_or(listen.1))
        }
    };
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .with_context(|| format!("cannot listen on {host}:{port}"))?
        .next()
        .with_context(|| format!("{host} resolves to no address"))?;
    let mut serve = pyk_server::ServeConfig::new(read_key);
    serve.addr = addr;
    serve.store = config.store()?.store(
        args.store.as_deref().or(args.path.as_deref()),
        pyk_server::DEFAULT_STORE,
    )?;
    serve.write_key = write_key;
    serve.max_upload = args.max_upload * 1024 * 1024;
    serve.verbose = args.verbose;
    serve.clients = args.clients;
    pyk_server::serve(serve)
}
