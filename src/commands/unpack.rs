//! `pyk pull --unpack DIR foo`: a package as a directory, for tools that want an
//! environment rather than a file (IDEs, Jupyter kernels, `DIR/bin/python script.py`).
//!
//! DIR is a venv (`pyvenv.cfg`, `bin/python`, `lib/python3.X/site-packages`) over its own
//! copy of the runtime:
//!
//! ```text
//! DIR/pyvenv.cfg                       home = DIR/runtime/bin; `pyk = …` names the package
//! DIR/runtime/                         the runtime layer (bin/python3, the stdlib)
//! DIR/lib/python3.X/site-packages/     the dependency layer, then the app layer
//! DIR/bin/python, python3, python3.X   links to the runtime's interpreter
//! DIR/bin/NAME                         runs the package's entry
//! DIR/bin/activate                     `. DIR/bin/activate` puts DIR/bin first on PATH
//! ```
//! Every layer is unpacked from the artifact, after its hash is checked, so DIR keeps
//! working when the artifact and the cache are gone. Like a venv it names its own path
//! (`home`): moved elsewhere, it must be made again. It is written beside DIR and renamed
//! into place whole.

use std::fs::{self, File};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use memmap2::Mmap;
use pyk_artifact::extract::{self, Limits};
use pyk_artifact::launch::BOOT_MODULE;
use pyk_artifact::trailer::{Layer, Role, Trailer};
use pyk_artifact::view;
use pyk_protocol::progress::Progress as _;
use pyk_protocol::Sha256;

use super::{kind, Context};
use crate::fetch;

/// The line of `pyvenv.cfg` that says pyk wrote the directory (and may replace it).
const MARK: &str = "pyk = ";

/// What `pyk pull --unpack DIR` was asked.
pub struct Unpack<'a> {
    pub names: &'a [String],
    pub lib: bool,
    pub version: Option<&'a str>,
    pub dir: &'a Path,
    pub force: bool,
}

pub fn run(ctx: &Context, req: &Unpack) -> Result<()> {
    let [name] = req.names else {
        bail!("--unpack writes one package: name one");
    };
    let resolved = fetch::whole(ctx, kind(req.lib), name, req.version)?;
    let (dir, force, progress) = (req.dir, req.force, &ctx.progress);
    let m = &resolved.manifest;
    if m.format != pyk_protocol::api::FORMAT_PYK {
        bail!(
            "{} {} is a pushed file, not a pyk package: `pyk pull` writes it out",
            m.name,
            m.version
        );
    }
    let dir =
        std::path::absolute(dir).with_context(|| format!("cannot resolve {}", dir.display()))?;
    let replacing = check_target(&dir, force)?;
    let parent = dir
        .parent()
        .with_context(|| format!("{} has no parent directory", dir.display()))?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let work = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.",
            dir.file_name().unwrap_or_default().to_string_lossy()
        ))
        .suffix(".tmp")
        .tempdir_in(parent)
        .with_context(|| format!("cannot create a directory in {}", parent.display()))?;
    fs::set_permissions(work.path(), fs::Permissions::from_mode(0o755))?;

    let spinner = progress.spinner(&format!("Unpacking {} {}", m.name, m.version));
    let python = fill(&resolved.path, work.path(), &dir)?;
    let cfg = format!(
        "home = {}\ninclude-system-site-packages = false\nversion = {python}\n{MARK}{} {} {}\n",
        dir.join("runtime/bin").display(),
        m.kind,
        m.name,
        m.version
    );
    fs::write(work.path().join("pyvenv.cfg"), cfg)?;
    drop(spinner);

    // Into place: the old one (pyk's own, with --force) goes only once the new one is
    // whole.
    let work = work.keep();
    let old = if replacing {
        let old = work.with_extension("old");
        fs::rename(&dir, &old).with_context(|| format!("cannot move {}", dir.display()))?;
        Some(old)
    } else {
        None
    };
    fs::rename(&work, &dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if let Some(old) = old {
        fs::remove_dir_all(&old).with_context(|| format!("cannot remove {}", old.display()))?;
    }
    progress.step(&format!(
        "{} {} {} → {} (Python {python}: {}/bin/python)",
        m.kind,
        m.name,
        m.version,
        dir.display(),
        dir.display()
    ));
    Ok(())
}

/// Whether `dir` is there to be replaced; refuses anything but an empty directory or,
/// with `force`, one pyk unpacked.
fn check_target(dir: &Path, force: bool) -> Result<bool> {
    let Ok(mut entries) = fs::read_dir(dir) else {
        if dir.exists() {
            bail!("{} exists and is not a directory", dir.display());
        }
        return Ok(false);
    };
    if entries.next().is_none() {
        fs::remove_dir(dir).with_context(|| format!("cannot replace {}", dir.display()))?;
        return Ok(false);
    }
    let ours = fs::read_to_string(dir.join("pyvenv.cfg"))
        .is_ok_and(|cfg| cfg.lines().any(|l| l.starts_with(MARK)));
    match (ours, force) {
        (true, true) => Ok(true),
        (true, false) => bail!(
            "{} holds a package already: pass --force to replace it",
            dir.display()
        ),
        (false, _) => bail!(
            "{} is not empty and pyk did not write it: name a new directory",
            dir.display()
        ),
    }
}

/// Unpacks the artifact's layers into `work` (which becomes `dir`); returns the runtime's
/// `X.Y.Z`.
fn fill(artifact: &Path, work: &Path, dir: &Path) -> Result<String> {
    let shown = artifact.display();
    let file = File::open(artifact).with_context(|| format!("cannot read {shown}"))?;
    let trailer = Trailer::read(&file).with_context(|| format!("{shown}"))?;
    // SAFETY: cached artifacts are content-named and never modified once in place.
    let map = unsafe { Mmap::map(&file) }.with_context(|| format!("cannot map {shown}"))?;
    let (major, minor) = trailer.python;
    let site = work.join(format!("lib/python{major}.{minor}/site-packages"));
    fs::create_dir_all(&site)?;
    let runtime = work.join("runtime");
    let app = work.join(".app");
    let units = work.join(".units");
    for layer in &trailer.layers {
        let dest = match layer.role {
            Role::Runtime => runtime.clone(),
            Role::Deps => site.clone(),
            Role::App => app.clone(),
            Role::Unit => units.join(layer.key()),
        };
        fs::create_dir_all(&dest)?;
        unpack_layer(&map, layer, &dest).with_context(|| format!("{shown}"))?;
    }
    // Units merge into site-packages as they do into a view (links within this directory,
    // which become its only names once the units' own are removed).
    if trailer.has_units() {
        let dirs: Vec<_> = trailer.units().map(|u| (u, units.join(u.key()))).collect();
        let dirs: Vec<_> = dirs.iter().map(|(u, d)| (*u, d.as_path())).collect();
        view::assemble(&dirs, &site).with_context(|| format!("{shown}"))?;
        fs::remove_file(site.join(pyk_cache::VIEW_UNITS))?;
        fs::remove_dir_all(&units)?;
    }
    // The app beside its dependencies, as pip would install it (the build refused any
    // name both have).
    for entry in fs::read_dir(&app)? {
        let entry = entry?;
        let to = site.join(entry.file_name());
        if to.exists() {
            bail!(
                "{shown}: the app and a dependency both have {:?}",
                entry.file_name()
            );
        }
        fs::rename(entry.path(), to)?;
    }
    fs::remove_dir(&app)?;

    let bin = work.join("bin");
    fs::create_dir(&bin)?;
    let interpreter = ["python3", &format!("python{major}.{minor}")]
        .iter()
        .map(|n| runtime.join("bin").join(n))
        .find(|p| p.exists())
        .with_context(|| format!("{shown}: the runtime has no bin/python3"))?;
    let target = PathBuf::from("../runtime/bin").join(interpreter.file_name().unwrap_or_default());
    for name in ["python", "python3", &format!("python{major}.{minor}")] {
        symlink(&target, bin.join(name))?;
    }
    let program = format!(
        "#!/bin/sh\n# Runs {name}'s entry (written by `pyk pull --unpack`).\n\
         exec \"$(dirname -- \"$0\")/python\" -I -c \"import {BOOT_MODULE}\" \"$0\" \"$@\"\n",
        name = trailer.name
    );
    if !matches!(trailer.name.as_str(), "python" | "python3" | "activate") {
        write_mode(&bin.join(&trailer.name), &program, 0o755)?;
    }
    let activate = format!(
        "# `. {dir}/bin/activate`: this environment's bin first on PATH; `deactivate` undoes it.\n\
         VIRTUAL_ENV='{dir}'\nexport VIRTUAL_ENV\n_PYK_OLD_PATH=\"$PATH\"\n\
         PATH=\"$VIRTUAL_ENV/bin:$PATH\"\nexport PATH\n\
         deactivate() {{\n    PATH=\"$_PYK_OLD_PATH\"\n    export PATH\n    unset VIRTUAL_ENV _PYK_OLD_PATH\n    unset -f deactivate\n    hash -r 2>/dev/null\n}}\n\
         hash -r 2>/dev/null\n",
        dir = dir.display()
    );
    write_mode(&bin.join("activate"), &activate, 0o644)?;
    Ok(trailer.runtime_version.clone())
}

/// Checks a layer's hash, then unpacks it into `dest` (an empty directory).
fn unpack_layer(map: &[u8], layer: &Layer, dest: &Path) -> Result<()> {
    let role = layer.role.as_str();
    let bytes = usize::try_from(layer.span.offset)
        .ok()
        .zip(usize::try_from(layer.span.end()).ok())
        .and_then(|(start, end)| map.get(start..end))
        .with_context(|| format!("truncated {role} layer"))?;
    let actual = Sha256::of(bytes);
    if actual != layer.sha256 {
        bail!(
            "corrupt {role} layer: sha256 is {actual}, the trailer says {}",
            layer.key()
        );
    }
    let limits = Limits {
        size: layer.size,
        files: layer.files,
    };
    extract::extract(bytes, dest, limits)?;
    Ok(())
}

fn write_mode(path: &Path, text: &str, mode: u32) -> Result<()> {
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(())
}
