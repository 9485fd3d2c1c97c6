//! `pyk runtime …`: the runtime layers cached for builds (`<cache>/layers`) and the
//! runtimes unpacked by artifacts and builds (the cache's `runtimes` bucket).
//!
//! An unpacked runtime's last use is the access time the kernel keeps (see `pyk_cache`):
//! the launcher's warm path writes nothing. Runtimes a running program holds are kept.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use pyk_cache::{Bucket, Cache, Entry};
use pyk_runtime_fetch::{import_installed, Layer, LayerStore, PythonRequest};

use crate::cli::RuntimeCommand;
use crate::output::{human_size, note, quiet, status};

pub fn run(ctx: &super::Context, cmd: RuntimeCommand) -> Result<()> {
    if matches!(cmd, RuntimeCommand::List { .. }) {
        crate::output::end_quietly_on_closed_pipe();
    }
    let (config, cache, progress) = (ctx.config, ctx.cache()?, &ctx.progress);
    let store = crate::environ::layer_store(cache);
    match cmd {
        RuntimeCommand::Import { python, sysroot } => {
            let python = match &sysroot {
                // Another machine's interpreter: not run here to resolve a shim.
                Some(_) => python,
                None => interpreter(&python)?,
            };
            let layer = import_installed(&store, &python, sysroot.as_deref(), progress)?;
            if !quiet() {
                report(&layer);
            }
        }
        RuntimeCommand::Fetch { version } => {
            let req: PythonRequest = version.parse()?;
            let layer =
                crate::environ::fetch_pbs(
                &store,
                &req,
                config.python_mirror()?,
                pyk_runtime_fetch::host_triple()?,
                progress,
            )
                    .map_err(|e| {
                        let e = anyhow::Error::from(e);
                        anyhow::anyhow!(
                            "{e:#}: import an installed Python instead with `pyk runtime import \
                         PYTHON`, or set PYK_PYTHON_MIRROR to a mirror of python-build-standalone's \
                         releases"
                        )
                    })?;
            if !quiet() {
                report(&layer);
            }
        }
        RuntimeCommand::List { json: false } => list(&store, cache)?,
        RuntimeCommand::List { json: true } => list_json(&store, cache)?,
        RuntimeCommand::Remove { which } => {
            let layers = select(&store, &which)?;
            for layer in layers {
                if let Some(entry) = unpacked(cache)?.into_iter().find(|e| e.key == layer.sha256) {
                    if !cache.remove(&entry)? {
                        bail!(
                            "runtime {} is in use by a running program; try again when it has exited",
                            short(&layer.sha256)
                        );
                    }
                }
                store.remove(&layer.sha256)?;
                status!(
                    "removed {} (Python {}, {})",
                    short(&layer.sha256),
                    layer.python,
                    layer.source
                );
            }
        }
        RuntimeCommand::Prune { unused_for } => {
            let age = Duration::from_secs(unused_for * 86_400);
            for layer in store.prune(age)? {
                status!(
                    "removed layer {} (Python {})",
                    short(&layer.sha256),
                    layer.python
                );
            }
            for entry in unpacked(cache)? {
                let old = entry.last_use.elapsed().unwrap_or_default() > age;
                if old && cache.remove(&entry)? {
                    status!("removed unpacked runtime {}", short(&entry.key));
                }
            }
        }
    }
    Ok(())
}

/// The interpreter binary `python` names. A script in its place (a pyenv or asdf shim, a
/// wrapper) is asked for `sys.executable`, the binary it ends up running.
fn interpreter(python: &Path) -> Result<PathBuf> {
    let mut head = [0u8; 4];
    let n = File::open(python)
        .and_then(|mut f| f.read(&mut head))
        .with_context(|| format!("cannot read {}", python.display()))?;
    if n < 2 || &head[..2] != b"#!" {
        return Ok(python.to_path_buf());
    }
    let out = Command::new(python)
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    let real = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if !out.status.success() || !real.is_absolute() {
        bail!(
            "{} is a script (a pyenv shim?), not a Python interpreter, and asking it for \
             sys.executable failed: {}; name the interpreter itself, e.g. \
             ~/.pyenv/versions/3.12.1/bin/python3",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    note!(
        "{} is a script (a pyenv shim?): importing the interpreter it runs, {}",
        python.display(),
        real.display()
    );
    Ok(real)
}

fn report(layer: &Layer) {
    println!(
        "{}  Python {} {}  {}  {}",
        short(&layer.sha256),
        layer.python,
        layer.arch,
        human_size(layer.size),
        layer.source
    );
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn list(store: &LayerStore, cache: &Cache) -> Result<()> {
    let layers = store.list()?;
    println!("Runtime layers (for builds) in {}:", store.dir().display());
    if layers.is_empty() {
        println!("  none: `pyk runtime import /usr/bin/python3.X` or `pyk runtime fetch 3.12`");
    }
    for layer in &layers {
        print!("  ");
        report(layer);
    }
    let unpacked = unpacked(cache)?;
    println!(
        "Unpacked runtimes in {}:",
        cache.bucket(Bucket::Runtimes).display()
    );
    if unpacked.is_empty() {
        println!("  none");
    }
    for entry in unpacked {
        let days = SystemTime::now()
            .duration_since(entry.last_use)
            .map(|d| d.as_secs() / 86_400)
            .unwrap_or(0);
        let python = layers
            .iter()
            .find(|l| l.sha256 == entry.key)
            .map(|l| format!("Python {}", l.python));
        println!(
            "  {}  {}  last used {}{}",
            short(&entry.key),
            python.unwrap_or_else(|| "(no layer cached)".into()),
            match days {
                0 => "today".into(),
                d => format!("{d} days ago"),
            },
            if cache.in_use(&entry) { ", in use" } else { "" }
        );
    }
    Ok(())
}

/// What `pyk runtime list --json` prints: the same two lists.
fn list_json(store: &LayerStore, cache: &Cache) -> Result<()> {
    let layers = store.list()?;
    let cached: Vec<_> = layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "sha256": l.sha256,
                "python": l.python.to_string(),
                "arch": l.arch,
                "glibc": l.glibc.map(|g| g.to_string()),
                "source": l.source,
                "size": l.size,
                "created": l.created,
            })
        })
        .collect();
    let unpacked: Vec<_> = unpacked(cache)?
        .iter()
        .map(|entry| {
            let python = layers.iter().find(|l| l.sha256 == entry.key);
            serde_json::json!({
                "sha256": entry.key,
                "python": python.map(|l| l.python.to_string()),
                "size": entry.size,
                "last_use": crate::json::unix(entry.last_use),
                "in_use": cache.in_use(entry),
            })
        })
        .collect();
    crate::json::print(serde_json::json!({
        "layers_dir": store.dir(),
        "layers": cached,
        "unpacked_dir": cache.bucket(Bucket::Runtimes),
        "unpacked": unpacked,
    }))
}

/// Layers named by a sha256 prefix or matching a version request.
fn select(store: &LayerStore, which: &str) -> Result<Vec<Layer>> {
    if which.len() >= 8 && which.bytes().all(|b| b.is_ascii_hexdigit()) {
        return match store.find(which)? {
            Some(layer) => Ok(vec![layer]),
            None => bail!("no cached runtime with sha256 {which}…"),
        };
    }
    let req: PythonRequest = which
        .parse()
        .with_context(|| format!("{which:?} is neither a sha256 prefix nor a version"))?;
    let layers: Vec<_> = store
        .list()?
        .into_iter()
        .filter(|l| req.matches(&l.python))
        .collect();
    if layers.is_empty() {
        bail!("no cached runtime for Python {which}");
    }
    Ok(layers)
}

/// The unpacked runtimes of the cache.
fn unpacked(cache: &Cache) -> Result<Vec<Entry>> {
    Ok(cache
        .entries()?
        .into_iter()
        .filter(|e| e.bucket == Bucket::Runtimes)
        .collect())
}
