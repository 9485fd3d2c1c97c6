//! `pyk build`: spec → runtime → dependencies (deps layer) → the app, the project's own
//! wheel and the boot module (app layer) → `.pyc` → artifact.

mod api;
mod assemble;
mod boot;
mod compile;
mod deps;
mod lock;
mod locked;
mod platform;
mod runtime;
mod sbom;
mod shake;
mod stage;
mod units;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use pyk_artifact::trailer::{Role, PART_SBOM};
use pyk_cache::Cache;
use pyk_runtime_fetch::PythonRequest;
use pyk_static::EnvVars;

pub use platform::Platform;

use crate::output::human_size;
use crate::output::Progress;
use crate::spec::{Declared, Spec};
use pyk_protocol::progress::Progress as _;

/// Everything `pyk build` needs besides the spec.
pub struct Options<'a> {
    pub cache: &'a Cache,
    /// `--python`; when absent, the spec's `python`, else `$PYK_PYTHON`.
    pub python: Option<String>,
    /// `--runtime`: archives to take the runtime from, the one built for the platform.
    pub runtime_archives: &'a [PathBuf],
    /// `python_mirror` from the config, read when a runtime must be downloaded.
    pub mirror: runtime::Mirror<'a>,
    /// `-o`; when absent, `dist/NAME` in the spec's directory.
    pub output: Option<PathBuf>,
    /// The build time recorded in the trailer (`SOURCE_DATE_EPOCH`, else now).
    pub built: u64,
    /// zstd level of the deps and app layers.
    pub level: i32,
    /// `--strip-stdlib` (the spec's `strip_stdlib` turns it on too).
    pub strip_stdlib: bool,
    /// `--platform`: the machine the artifact is for.
    pub platform: Platform,
    /// `--locked`: a lock beside the spec must exist and match it.
    pub locked: bool,
}

/// An artifact `build` wrote.
pub struct Built {
    pub path: PathBuf,
    pub platform: Platform,
    /// A library with no native code in its app and dependency layers: what an importing
    /// Python uses is the same on every machine, so it is published once, for any.
    pub pure: bool,
}

/// Builds the artifact.
pub fn build(spec: &Spec, opts: &Options, progress: &Progress) -> Result<Built> {
    let started = Instant::now();
    // Before any work: an artifact for another machine needs its launcher.
    let stub = opts.platform.stub()?;
    for warning in &spec.warnings {
        crate::output::warning!("{warning}");
    }
    let lock_file = locked::Lock::find(spec);
    let third_party = !spec.dependencies.is_empty() || !spec.requirement_files.is_empty();
    if opts.locked && third_party && lock_file.is_none() {
        bail!(
            "--locked: no {} or {} beside the spec in {} (make one with `pyk lock`)",
            locked::PYLOCK,
            locked::UV_LOCK,
            spec.base.display()
        );
    }
    // Drift is found before any work.
    let lock_scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let from_lock = match &lock_file {
        Some(lock) => {
            let installer = deps::Installer::find()?;
            let uv = installer.uv().map(|u| u.as_os_str());
            let (file, warning) =
                locked::prepare(lock, spec, uv, opts.locked, lock_scratch.path())?;
            if let Some(w) = warning {
                crate::output::warning!("{w}");
            }
            progress.step(&format!(
                "Locked: installing what {} says",
                lock.path().display()
            ));
            Some(file)
        }
        None => None,
    };
    let runtime = runtime_for(spec, opts, progress)?;
    let python = runtime.layer.python;
    progress.step(&format!(
        "Runtime: Python {python} {} ({})",
        runtime.layer.arch, runtime.layer.source
    ));
    if opts.platform.foreign() {
        runtime::check_runs(&runtime, opts.platform)?;
    }

    // tempfile makes it 0700: nothing staged is visible to other users.
    let staging = tempfile::Builder::new()
        .prefix("pyk-stage-")
        .tempdir()
        .context("cannot create a staging directory")?;
    let deps_dir = staging.path().join("deps");
    let app = staging.path().join("app");
    std::fs::create_dir(&deps_dir)?;
    std::fs::create_dir(&app)?;
    let mut lock = None;
    let mut dists = Vec::new();
    let mut own_sources = 0;
    if spec.installs() {
        let installer = deps::Installer::find()?;
        let n = spec.dependencies.len();
        let mut what: Vec<String> = Vec::new();
        if n > 0 {
            what.push(format!("{n} dependenc{}", if n == 1 { "y" } else { "ies" }));
        }
        if !spec.requirement_files.is_empty() {
            what.push("requirements".into());
        }
        if let Some(project) = &spec.project {
            what.push(format!("project {}", project.name));
        }
        let what = what.join(" and ");
        let spinner = progress.spinner(&format!("Installing {what} with {}", installer.name()));
        // Third-party distributions into the deps layer, the project's own into the app's.
        let request = deps::Request {
            spec,
            python: &runtime.python(),
            version: &python,
            platform: opts.platform,
            glibc: runtime.layer.glibc,
            deps_target: &deps_dir,
            app_target: &app,
            lock: from_lock.as_deref(),
        };
        let installed = installer.install(&request)?;
        drop(spinner);
        progress.step(&format!(
            "Installed {what} with {}, {} ({} distributions)",
            installer.name(),
            installer.tags(&request),
            installed.dists.len()
        ));
        for warning in &installed.warnings {
            crate::output::warning!("{warning}");
        }
        for dist in installed.dists.iter().filter(|d| d.own) {
            for file in dist.files()? {
                own_sources += usize::from(file.extension().is_some_and(|e| e == "py"));
            }
        }
        lock = lock::pylock(&installed.dists);
        dists = installed.dists;
    }
    let has_deps = std::fs::read_dir(&deps_dir)?.next().is_some();
    let deps = has_deps.then_some(deps_dir.as_path());
    let copied = stage::stage(spec, &app, deps)? + own_sources;

    let (compiled, failures) = compile::compile_tree(&runtime.python(), &app)?;
    if let Some(f) = failures.first() {
        bail!(
            "{} does not compile for Python {}.{}: {}",
            f.file,
            python.major,
            python.minor,
            f.why
        );
    }
    // The API tree of the app's own modules, for `pyk info` (read after compiling, which
    // reports a syntax error better).
    match api::record(&runtime.python(), &app) {
        Ok(tree) => {
            let (functions, classes) = tree.modules.iter().fold((0, 0), |(f, c), m| {
                (f + m.functions.len(), c + m.classes.len())
            });
            progress.step(&format!(
                "API tree: {} modules, {functions} functions, {classes} classes (`pyk info`)",
                tree.modules.len()
            ));
        }
        Err(e) => crate::output::warning!("no API tree recorded: {e:#}"),
    }
    let mut total = compiled;
    if let Some(deps) = deps {
        let (compiled, failures) = compile::compile_tree(&runtime.python(), deps)?;
        total += compiled;
        for f in &failures {
            crate::output::warning!("{} left as source (does not compile: {})", f.file, f.why);
        }
    }
    progress.step(&format!(
        "Compiled {total} Python files ({copied} from the app)"
    ));

    let shaken = if opts.strip_stdlib || spec.strip_stdlib {
        let trees: Vec<&Path> = deps.into_iter().chain([app.as_path()]).collect();
        Some(shake::shake(
            opts.cache, &runtime, &trees, &spec.keep, progress,
        )?)
    } else {
        if !spec.keep.is_empty() {
            crate::output::warning!(
                "`keep` has no effect without strip_stdlib = true (or --strip-stdlib)"
            );
        }
        None
    };
    let (runtime_layer, runtime_unpacked) = match &shaken {
        Some((layer, unpacked)) => (layer, *unpacked),
        None => (&runtime.layer, runtime.unpacked),
    };

    let runtime_paths = match &shaken {
        Some((layer, unpacked)) => Some(layer_paths(layer, *unpacked)?),
        None => None,
    };
    let sbom_started = Instant::now();
    let sbom = sbom::document(&sbom::Inputs {
        name: &spec.name,
        built: opts.built,
        runtime: runtime_layer,
        runtime_dir: &runtime.dir,
        runtime_paths: runtime_paths.as_deref(),
        dists: &dists,
    })?;
    progress.step(&format!(
        "SBOM: {} components, {} (CycloneDX 1.6, the artifact's `{PART_SBOM}` part) in {} ms",
        dists.iter().filter(|d| !d.own).count() + 1,
        human_size(sbom.len() as u64),
        sbom_started.elapsed().as_millis()
    ));

    // The artifact's glibc floor: the runtime's (recorded when its layer was made) and
    // every ELF file of the layers built here.
    let mut floor = runtime_layer.glibc;
    let mut native = false;
    for tree in deps.into_iter().chain([app.as_path()]) {
        floor = floor.max(pyk_runtime_fetch::glibc_floor(tree)?);
        native |= pyk_runtime_fetch::has_elf(tree);
    }

    let output = opts
        .output
        .clone()
        .unwrap_or_else(|| spec.base.join("dist").join(&spec.name));
    let units = units::Units::of(&dists)?;
    let parts = assemble::Parts {
        name: &spec.name,
        kind: spec.kind,
        python: (python.major, python.minor),
        platform: opts.platform,
        stub,
        extras: &[(PART_SBOM, sbom.as_bytes())],
        runtime: runtime_layer,
        runtime_unpacked,
        glibc: floor.map(|g| (u32::from(g.major), u32::from(g.minor))),
        built: opts.built,
        entry: boot::describe(spec),
        deps: deps.map(|d| (d, &units)),
        app: &app,
        lock: lock.as_deref(),
        level: opts.level,
    };
    let (size, trailer) = assemble::write(&parts, &output)?;
    let layers: Vec<String> = trailer
        .layers
        .iter()
        .filter(|l| l.role != Role::Unit)
        .map(|l| format!("{} {}", l.role.as_str(), human_size(l.span.len)))
        .chain(trailer.has_units().then(|| {
            let units: Vec<_> = trailer.units().collect();
            let len = units.iter().map(|u| u.span.len).sum();
            format!("{} units {}", units.len(), human_size(len))
        }))
        .collect();
    progress.step(&format!(
        "Built {} ({}, {}, Python {}.{}, {}: {}) in {:.1} s",
        output.display(),
        spec.kind.as_str(),
        opts.platform.name(),
        python.major,
        python.minor,
        human_size(size),
        layers.join(", "),
        started.elapsed().as_secs_f64()
    ));
    Ok(Built {
        path: output,
        platform: opts.platform,
        pure: spec.kind == pyk_protocol::Kind::Lib && !native,
    })
}

/// The paths a (shaken) runtime layer holds, read from its entries.
fn layer_paths(
    layer: &pyk_runtime_fetch::Layer,
    unpacked: pyk_artifact::extract::Unpacked,
) -> Result<Vec<PathBuf>> {
    let bytes = std::fs::read(&layer.path)
        .with_context(|| format!("cannot read {}", layer.path.display()))?;
    let limits = pyk_artifact::extract::Limits {
        size: unpacked.size,
        files: unpacked.files,
    };
    pyk_artifact::extract::paths(&bytes, limits)
        .with_context(|| format!("cannot read the runtime layer {}", layer.path.display()))
}

/// The runtime the build uses: `--python`, else the spec's `python`, else `$PYK_PYTHON`,
/// else the newest that satisfies `requires-python`.
fn runtime_for(spec: &Spec, opts: &Options, progress: &Progress) -> Result<runtime::Runtime> {
    let asked = |value: &str, how: String| -> Result<Declared<PythonRequest>> {
        let value = value
            .parse()
            .with_context(|| format!("{how}: not a Python version"))?;
        Ok(Declared { value, at: how })
    };
    let request = match (&opts.python, &spec.python.request) {
        (Some(v), _) => Some(asked(v, format!("--python {v}"))?),
        (None, Some(declared)) => Some(Declared {
            value: declared.value,
            at: format!("`python = \"{}\"` ({})", declared.value, declared.at),
        }),
        (None, None) => match std::env::var(EnvVars::PYK_PYTHON)
            .ok()
            .filter(|s| !s.is_empty())
        {
            Some(v) => Some(asked(&v, format!("PYK_PYTHON={v}"))?),
            None => None,
        },
    };
    let choice = runtime::Choice {
        request,
        requires: &spec.python.requires,
    };
    runtime::resolve(
        opts.cache,
        &choice,
        opts.runtime_archives,
        opts.mirror,
        opts.platform,
        progress,
    )
}

/// `pyk lock`: resolves the spec's requirements for its runtime and target platform into
/// `pylock.toml` beside the spec (see [`locked`]); returns its path.
pub fn lock(spec: &Spec, opts: &Options, progress: &Progress) -> Result<PathBuf> {
    let requirements = locked::requirements(spec)?;
    if requirements.is_empty() {
        bail!("the spec declares no dependencies: there is nothing to lock");
    }
    let installer = deps::Installer::find()?;
    let Some(uv) = installer.uv() else {
        bail!("`pyk lock` needs uv (install uv, or set PYK_UV)");
    };
    let runtime = runtime_for(spec, opts, progress)?;
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    let inputs = scratch.path().join("requirements.in");
    std::fs::write(&inputs, spec.dependencies.join("\n") + "\n")?;
    let mut files: Vec<&Path> = vec![&inputs];
    files.extend(spec.requirement_files.iter().map(PathBuf::as_path));
    let out_file = scratch.path().join(locked::PYLOCK);
    let request = deps::Request {
        spec,
        python: &runtime.python(),
        version: &runtime.layer.python,
        platform: opts.platform,
        glibc: runtime.layer.glibc,
        deps_target: scratch.path(),
        app_target: scratch.path(),
        lock: None,
    };
    let spinner = progress.spinner("Resolving with uv");
    let out = deps::lock_command(uv, &request, &files, &out_file)
        .output()
        .context("cannot run uv")?;
    drop(spinner);
    if !out.status.success() {
        bail!(
            "cannot lock the dependencies (uv failed):\n{}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = std::fs::read_to_string(&out_file)? + &locked::record_requirements(&requirements);
    let packages = toml::from_str::<toml::Table>(&text)
        .ok()
        .and_then(|t| t.get("packages").and_then(|p| p.as_array()).map(Vec::len))
        .unwrap_or(0);
    let path = spec.base.join(locked::PYLOCK);
    pyk_cache::write_file(&path, 0o644, pyk_cache::Existing::Replace, |f| {
        std::io::Write::write_all(f, text.as_bytes())
    })
    .with_context(|| format!("cannot write {}", path.display()))?;
    progress.step(&format!(
        "Locked {packages} packages for Python {} ({}) in {}",
        runtime.layer.python,
        opts.platform.name(),
        path.display()
    ));
    Ok(path)
}
