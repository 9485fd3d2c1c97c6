//! `pyk runtime …`: the runtime layers cached for builds (`<cache>/layers`) and the
//! runtimes unpacked by artifacts and builds (`<cache>/runtimes/<sha>`).
//!
//! An unpacked runtime's last use is the access time of its `bin/python3`, which the
//! kernel updates (under the default `relatime`) at most daily when an artifact execs it:
//! the stub's warm path stays a stat and an exec, with no bookkeeping writes.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use pyk_artifact::cache;
use pyk_runtime_fetch::{fetch_pbs, import_installed, Layer, LayerStore, Progress, PythonRequest};

use crate::cli::RuntimeCommand;
use crate::config::Config;
use crate::output::human_size;

pub fn run(cmd: RuntimeCommand, config: &Config, root: &Path, progress: &Progress) -> Result<()> {
    let store = LayerStore::open(root);
    match cmd {
        RuntimeCommand::Import { python } => {
            let layer = import_installed(&store, &python, progress)?;
            report(&layer);
        }
        RuntimeCommand::Fetch { version } => {
            let req: PythonRequest = version.parse()?;
            let layer = fetch_pbs(&store, &req, config.python_mirror.as_deref(), progress)?;
            report(&layer);
        }
        RuntimeCommand::List => list(&store, root)?,
        RuntimeCommand::Remove { which } => {
            let layers = select(&store, &which)?;
            for layer in layers {
                remove_unpacked(root, &layer.sha256)?;
                store.remove(&layer.sha256)?;
                println!(
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
                println!(
                    "removed layer {} (Python {})",
                    short(&layer.sha256),
                    layer.python
                );
            }
            for (sha, dir) in unpacked(root)? {
                if last_use(&dir).is_some_and(|t| t.elapsed().unwrap_or_default() > age) {
                    remove_unpacked(root, &sha)?;
                    println!("removed unpacked runtime {}", short(&sha));
                }
            }
        }
    }
    Ok(())
}

fn report(layer: &Layer) {
    println!(
        "{}  Python {}  {}  {}",
        short(&layer.sha256),
        layer.python,
        human_size(layer.size),
        layer.source
    );
}

fn short(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

fn list(store: &LayerStore, root: &Path) -> Result<()> {
    let layers = store.list()?;
    println!("Runtime layers (for builds) in {}:", store.dir().display());
    if layers.is_empty() {
        println!("  none: `pyk runtime import /usr/bin/python3.X` or `pyk runtime fetch 3.12`");
    }
    for layer in &layers {
        print!("  ");
        report(layer);
    }
    let unpacked = unpacked(root)?;
    println!(
        "Unpacked runtimes in {}:",
        cache::runtimes_dir(root).display()
    );
    if unpacked.is_empty() {
        println!("  none");
    }
    for (sha, dir) in unpacked {
        let days = last_use(&dir)
            .and_then(|t| t.elapsed().ok())
            .map(|d| d.as_secs() / 86_400);
        let python = layers
            .iter()
            .find(|l| l.sha256 == sha)
            .map(|l| format!("Python {}", l.python));
        println!(
            "  {}  {}  last used {}",
            short(&sha),
            python.unwrap_or_else(|| "(no layer cached)".into()),
            days.map_or("unknown".into(), |d| if d == 0 {
                "today".into()
            } else {
                format!("{d} days ago")
            })
        );
    }
    Ok(())
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

/// `(sha256, dir)` of every unpacked runtime.
fn unpacked(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let dir = cache::runtimes_dir(root);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    let mut out: Vec<_> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().into_string().ok().map(|n| (n, e.path())))
        .filter(|(n, _)| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    out.sort();
    Ok(out)
}

fn last_use(dir: &Path) -> Option<SystemTime> {
    fs::metadata(dir.join("bin/python3"))
        .and_then(|m| m.accessed())
        .ok()
}

/// Removes an unpacked runtime: renamed aside first, so no artifact starting at the same
/// moment sees a half-deleted tree.
fn remove_unpacked(root: &Path, sha: &str) -> Result<()> {
    let dir = cache::runtime_dir(root, sha);
    if !dir.exists() {
        return Ok(());
    }
    let aside = cache::runtimes_dir(root).join(format!(".{sha}.{}.tmp", std::process::id()));
    fs::rename(&dir, &aside).with_context(|| format!("cannot remove {}", dir.display()))?;
    fs::remove_dir_all(&aside).with_context(|| format!("cannot remove {}", aside.display()))
}
