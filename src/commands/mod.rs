//! One file per command: this module turns the parsed command line into a call of the
//! command's `run`, each given the [`Context`] (config, cache, progress) as one value.

mod build;
mod gc;
mod init;
mod latest;
mod list;
mod promote;
mod remove;
mod resolve;
mod run;
mod serve;
mod sign;
mod trust;
mod versions;
mod watch;
mod yank;

use std::cell::OnceCell;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use clap::CommandFactory;
use pyk_cache::{Cache, RootEnv};
use pyk_protocol::Kind;

use crate::cli::{self, Cli, Command, PackageArg};
use crate::config::Config;
use crate::output::Progress;
use crate::{
    cache_cmd, hints, info, inspect, install, keygen, migrate, publish, pull, runner, runtimes,
    self_update, shell, unpack,
};

/// What every command may use: the config, the cache (opened on first use, so commands
/// that never touch it work when it is unusable) and the progress reporter.
pub struct Context<'a> {
    pub config: &'a Config,
    pub progress: Progress,
    cache: OnceCell<Cache>,
}

impl<'a> Context<'a> {
    pub fn new(config: &'a Config, quiet: bool) -> Self {
        Context {
            config,
            progress: Progress::new(quiet),
            cache: OnceCell::new(),
        }
    }

    /// The cache, opened the first time a command asks for it.
    pub fn cache(&self) -> Result<&Cache> {
        if let Some(cache) = self.cache.get() {
            return Ok(cache);
        }
        let cache = self.root_env()?.open()?;
        Ok(self.cache.get_or_init(|| cache))
    }

    /// Where the cache is, from the environment (the only place the CLI reads it) and, for
    /// the shared cache when `PYK_SHARED_CACHE` is not set, the config.
    pub fn root_env(&self) -> Result<RootEnv> {
        let mut env = RootEnv::read(|name| std::env::var_os(name));
        if env.shared_cache.as_ref().is_none_or(|v| v.is_empty()) {
            env.shared_cache = self.config.shared_cache()?.map(Into::into);
        }
        Ok(env)
    }

    /// Runs a command about one package; a "no package" error says so when the other
    /// kind exists under that name.
    fn with_hint(&self, package: &PackageArg, f: impl FnOnce() -> Result<()>) -> Result<()> {
        f().map_err(|e| hints::wrong_kind(self.config, package.kind(), &package.name, true, e))
    }
}

pub fn kind(lib: bool) -> Kind {
    if lib {
        Kind::Lib
    } else {
        Kind::Run
    }
}

/// Runs the parsed command.
pub fn dispatch(cli: Cli, ctx: &Context) -> Result<()> {
    let (config, progress) = (ctx.config, &ctx.progress);
    match cli.command {
        Command::Build(args) => {
            let spec = build::load_spec(&args)?;
            build::run(ctx, &spec, &args)?;
        }
        Command::Inspect { what, lib } => {
            let path = Path::new(&what);
            crate::output::end_quietly_on_closed_pipe();
            if cli::names_a_file(&what) {
                inspect::inspect(path, &path.display())?;
            } else {
                // The whole file, fetched into a temp file: inspecting checks every byte.
                let cache = ctx.cache()?;
                let (m, client) = runner::manifest(config, cache, kind(lib), &what, None)
                    .map_err(|e| hints::wrong_kind(config, kind(lib), &what, true, e))?;
                let mut tmp = tempfile::NamedTempFile::new()?;
                pyk_client::Packages::new(cache).write_whole(
                    &client,
                    &m,
                    tmp.as_file_mut(),
                    progress,
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
            crate::output::end_quietly_on_closed_pipe();
            info::info(&query, config, ctx.cache()?, progress)
                .map_err(|e| hints::wrong_kind(config, kind(lib), &what, true, e))?
        }
        Command::Shell { package, args } | Command::Exec { package, args } => {
            ctx.with_hint(&package, || {
                let whole = runner::whole(
                    config,
                    ctx.cache()?,
                    package.kind(),
                    &package.name,
                    None,
                    progress,
                )?;
                shell::exec(&whole, &args).map(drop)
            })?
        }
        Command::Cache(cmd) => {
            if matches!(cmd, cli::CacheCommand::List) {
                crate::output::end_quietly_on_closed_pipe();
            }
            cache_cmd::run(cmd, &ctx.root_env()?, config, progress)?
        }
        Command::Publish(args) => {
            let cache = ctx.cache()?;
            let spec = build::load_spec(&args.build)?;
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
            let artifact = build::run(ctx, &spec, &args.build)?;
            publish::publish(&artifact, &release, config, cache, progress)?;
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
            ctx.cache()?,
            progress,
        )?,
        Command::Promote { package, version } => ctx.with_hint(&package, || {
            promote::run(ctx, package.kind(), &package.name, &version)
        })?,
        Command::Versions { package } => {
            crate::output::end_quietly_on_closed_pipe();
            ctx.with_hint(&package, || {
                versions::run(ctx, package.kind(), &package.name)
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
                ctx.cache()?,
                kind(lib),
                name,
                version.as_deref(),
                progress,
            )?;
            unpack::unpack(&whole, &dir, force, progress)?
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
            pull::pull(&req, config, ctx.cache()?, progress)?
        }
        Command::Init { package, localname } => ctx.with_hint(&package, || {
            init::run(ctx, package.kind(), &package.name, &localname)
        })?,
        Command::Yank {
            package,
            version,
            undo,
            force,
        } => ctx.with_hint(&package, || {
            yank::run(ctx, package.kind(), &package.name, &version, undo, force)
        })?,
        Command::Run { argv0, name, args } => run::run(ctx, &name, argv0.as_deref(), &args)?,
        Command::External(mut words) => {
            let name = words.remove(0);
            let name = name.to_str().context("package names are ASCII")?;
            run::run(ctx, name, None, &words).map_err(|e| {
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
            crate::output::end_quietly_on_closed_pipe();
            list::run(ctx)?
        }
        Command::Remove {
            package,
            version,
            force,
            yes,
        } => ctx.with_hint(&package, || {
            remove::run(
                ctx,
                package.kind(),
                &package.name,
                version.as_deref(),
                force,
                yes,
            )
        })?,
        Command::Gc { dry_run } => gc::run(ctx, dry_run)?,
        Command::Watch { package, once } => ctx.with_hint(&package, || {
            watch::run(ctx, package.kind(), &package.name, once)
        })?,
        Command::Keygen { signing, output } => match signing {
            true => keygen::signing(output.as_deref(), progress)?,
            false => println!("{}", pyk_crypto::Key::generate().as_str()),
        },
        Command::Serve(args) => serve::run(args, config)?,
        Command::Migrate { from, to } => migrate::migrate(config, &from, &to, progress)?,
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
        } => resolve::run(ctx, &kind, &name, python.as_deref(), hold)?,
        Command::Sign {
            method,
            path,
            body,
            count,
        } => sign::run(ctx, &method, &path, body.as_deref(), count)?,
        Command::Runtime(cmd) => {
            if matches!(cmd, cli::RuntimeCommand::List) {
                crate::output::end_quietly_on_closed_pipe();
            }
            runtimes::run(cmd, config, ctx.cache()?, progress)?
        }
        Command::Trust(cli::TrustArgs {
            command: Some(cli::TrustCommand::Reset { package }),
            ..
        }) => trust::reset(ctx, package.kind(), &package.name)?,
        Command::Trust(args) => {
            let package = cli::PackageArg {
                name: args.name.unwrap_or_default(),
                lib: args.lib,
            };
            let key = args.key.unwrap_or_default();
            trust::pin(ctx, package.kind(), &package.name, &key)?
        }
        Command::SelfCmd(cmd) => self_update::run(cmd, config)?,
    }
    Ok(())
}
