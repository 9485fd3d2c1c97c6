//! One file per command: this module turns the parsed command line into a call of the
//! command's `run`, each given the [`Context`] (config, cache, progress) as one value.

mod build;
mod cache;
mod gc;
mod info;
mod init;
mod inspect;
mod install;
pub mod keygen;
mod latest;
mod list;
mod migrate;
mod promote;
mod publish;
mod pull;
mod remove;
mod resolve;
mod run;
mod runtime;
mod self_update;
mod serve;
mod shell;
mod sign;
mod trust;
mod ui;
mod unpack;
mod versions;
mod watch;
mod yank;

use std::cell::OnceCell;

use anyhow::{Context as _, Result};
use clap::CommandFactory;
use pyk_cache::{Cache, RootEnv};
use pyk_protocol::Kind;

use crate::cli::{self, Cli, Command, PackageArg};
use crate::config::Config;
use crate::hints;
use crate::output::Progress;

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

    /// The same context over another cache: the shared cache `pyk cache seed` fills.
    pub fn with_cache(&self, cache: Cache) -> Context<'a> {
        Context {
            config: self.config,
            progress: self.progress.clone(),
            cache: OnceCell::from(cache),
        }
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
    match cli.command {
        Command::Build(args) => {
            let spec = build::load_spec(&args)?;
            build::run(ctx, &spec, &args)?;
        }
        Command::Lock(args) => {
            let spec = build::load_spec(&args)?;
            build::lock(ctx, &spec, &args)?;
        }
        Command::Inspect {
            what,
            lib,
            json,
            sbom,
            licenses,
        } => {
            let view = match (json, sbom, licenses) {
                (true, _, _) => inspect::View::Json,
                (_, true, _) => inspect::View::Sbom(crate::sbom::Show::Document),
                (_, _, true) => inspect::View::Sbom(crate::sbom::Show::Licenses),
                _ => inspect::View::Text,
            };
            inspect::run(ctx, &what, lib, view)?
        }
        Command::Info {
            what,
            select,
            lib,
            json,
            diff,
        } => info::run(
            ctx,
            &info::Query {
                what: &what,
                kind: kind(lib),
                select: select.as_deref(),
                json,
                diff: diff.as_deref(),
            },
        )?,
        Command::Shell { package, args } | Command::Exec { package, args } => {
            shell::run(ctx, &package, &args)?
        }
        Command::Cache(cmd) => cache::run(ctx, cmd)?,
        Command::Publish(args) => publish::run(ctx, &args)?,
        Command::Push {
            name,
            version,
            file,
            promote,
        } => publish::push(ctx, &name, &version, &file, promote)?,
        Command::Promote { package, version } => ctx.with_hint(&package, || {
            promote::run(ctx, package.kind(), &package.name, &version)
        })?,
        Command::Versions { package, json } => {
            crate::output::end_quietly_on_closed_pipe();
            ctx.with_hint(&package, || {
                versions::run(ctx, package.kind(), &package.name, json)
            })?
        }
        Command::Pull {
            names,
            version,
            output: _,
            force,
            lib,
            platform: _,
            unpack: Some(dir),
        } => unpack::run(
            ctx,
            &unpack::Unpack {
                names: &names,
                lib,
                version: version.as_deref(),
                dir: &dir,
                force,
            },
        )?,
        Command::Pull {
            names,
            version,
            output,
            force,
            lib,
            platform,
            unpack: None,
        } => pull::run(
            ctx,
            &pull::Pull {
                names: &names,
                kind: kind(lib),
                version: version.as_deref(),
                output: output.as_deref(),
                force,
                platform: platform.as_deref(),
            },
        )?,
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
                    Some(command) => e.context(format!(
                        "`{name}` is not a pyk command (did you mean `pyk {command}`?), nor a \
                         package pyk could run"
                    )),
                    None => e,
                }
            })?;
        }
        Command::Install { name, dir } => install::run(ctx, &name, dir.as_deref())?,
        Command::List { json } => {
            crate::output::end_quietly_on_closed_pipe();
            list::run(ctx, json)?
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
        Command::Gc { dry_run, retention } => gc::run(ctx, dry_run, retention.as_deref())?,
        Command::Watch { package, once } => ctx.with_hint(&package, || {
            watch::run(ctx, package.kind(), &package.name, once)
        })?,
        Command::Keygen { signing, output } => keygen::run(ctx, signing, output.as_deref())?,
        Command::Serve(args) => serve::run(args, ctx.config, cli.global.verbose > 0)?,
        Command::Ui(args) => ui::run(ctx, &args)?,
        Command::Migrate { from, to } => migrate::run(ctx, &from, &to)?,
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
        Command::Runtime(cmd) => runtime::run(ctx, cmd)?,
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
        Command::SelfCmd(cmd) => self_update::run(ctx, cmd)?,
    }
    Ok(())
}
