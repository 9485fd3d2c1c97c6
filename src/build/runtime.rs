//! Choosing the runtime layer for a build, and unpacking it so its interpreter can
//! install dependencies and compile the layers.
//!
//! Order: `--runtime ARCHIVE`; else a cached layer satisfying the version asked for
//! (`--python`, `python =`, `$PYK_PYTHON`), downloading from python-build-standalone only
//! when none is cached; with no version asked for, the newest cached layer that satisfies
//! every `requires-python` (an error listing the cached ones when none does), and only with
//! an empty cache a download. Whatever is chosen must satisfy every `requires-python`.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use memmap2::Mmap;
use pep440_rs::{Version, VersionSpecifiers};
use pyk_artifact::extract::{self, Unpacked};
use pyk_artifact::install;
use pyk_artifact::trailer::{self, Role, Span};
use pyk_cache::{Cache, Held};
use pyk_runtime_fetch::{
    import_archive, Layer, LayerStore, PyVersion, PythonRequest, SUPPORTED_MINORS,
};

use crate::build::Platform;
use crate::output::Progress;
use crate::spec::Declared;

/// The Python release downloaded when nothing is asked for and nothing is cached.
pub const DEFAULT_PYTHON: PythonRequest = PythonRequest {
    major: 3,
    minor: 13,
    patch: None,
};

/// A runtime layer and the directory it is unpacked in (held while the build uses it).
pub struct Runtime {
    pub layer: Layer,
    /// What the layer unpacks to: the caps its trailer line declares.
    pub unpacked: Unpacked,
    pub dir: PathBuf,
    _held: Held,
}

impl Runtime {
    pub fn python(&self) -> PathBuf {
        self.dir.join("bin/python3")
    }
}

/// What the build asks of its runtime.
pub struct Choice<'a> {
    /// A version to bundle, and how it was asked for (`--python 3.11`, …).
    pub request: Option<Declared<PythonRequest>>,
    /// `requires-python` declarations: all must hold.
    pub requires: &'a [Declared<VersionSpecifiers>],
}

/// The runtime layer of the `--runtime` archive built for `platform` (each imported once,
/// by its bytes), with its path; `None` without archives.
fn from_archives<'a>(
    store: &LayerStore,
    archives: &'a [PathBuf],
    platform: Platform,
    progress: &Progress,
) -> Result<Option<(&'a Path, Layer)>> {
    if archives.is_empty() {
        return Ok(None);
    }
    let mut held = Vec::new();
    for archive in archives {
        let layer = import_archive(store, archive, progress)?;
        if layer.arch == platform.arch() {
            return Ok(Some((archive, layer)));
        }
        held.push(format!("{} holds {}", archive.display(), layer.arch));
    }
    bail!(
        "no --runtime archive holds a Python for {} ({})",
        platform.name(),
        held.join(", ")
    )
}

pub fn resolve(
    cache: &Cache,
    choice: &Choice,
    archives: &[PathBuf],
    mirror: Mirror,
    platform: Platform,
    progress: &Progress,
) -> Result<Runtime> {
    let store = crate::environ::layer_store(cache);
    let arch = platform.arch();
    let archive = from_archives(&store, archives, platform, progress)?;
    let (layer, chosen_by) = match (archive, &choice.request) {
        (Some((archive, layer)), _) => {
            if let Some(req) = &choice.request {
                if !req.value.matches(&layer.python) {
                    bail!(
                        "{} holds Python {}, but Python {} was asked for ({})",
                        archive.display(),
                        layer.python,
                        req.value,
                        req.at
                    );
                }
            }
            (layer, format!("--runtime {}", archive.display()))
        }
        (None, Some(req)) => {
            let layer = match store.best_match(&req.value, arch)? {
                Some(layer) => layer,
                None => download(&store, &req.value, mirror, platform, progress)?,
            };
            (layer, req.at.clone())
        }
        (None, None) => {
            let cached: Vec<_> = store
                .list()?
                .into_iter()
                .filter(|l| l.arch == arch)
                .collect();
            let newest = cached
                .iter()
                .filter(|l| satisfies(choice.requires, &l.python))
                .max_by_key(|l| (l.python, l.created))
                .cloned();
            match newest {
                Some(layer) => (layer, "the newest cached runtime".to_owned()),
                None if cached.is_empty() => {
                    let want = download_choice(choice.requires)?;
                    let layer = download(&store, &want, mirror, platform, progress)?;
                    (layer, "the download".to_owned())
                }
                None => bail!(
                    "no cached runtime satisfies requires-python {} (cached: {}); get one with `pyk runtime fetch {}` or `pyk runtime import PYTHON`",
                    shown(choice.requires),
                    cached
                        .iter()
                        .map(|l| format!("{} {}", l.python, l.source))
                        .collect::<Vec<_>>()
                        .join(", "),
                    download_choice(choice.requires)?
                ),
            }
        }
    };
    for req in choice.requires {
        if !req.value.contains(&version(&layer.python)) {
            bail!(
                "Python {}, chosen by {chosen_by}, does not satisfy requires-python {} ({})",
                layer.python,
                req.value,
                req.at
            );
        }
    }
    store.touch(&layer);
    let file =
        File::open(&layer.path).with_context(|| format!("cannot read {}", layer.path.display()))?;
    // SAFETY: cached layers are written once (renamed into place) and never modified.
    let map = unsafe { Mmap::map(&file) }
        .with_context(|| format!("cannot map {}", layer.path.display()))?;
    // Layers stored by an older pyk do not record what they unpack to: measured then.
    let unpacked = match layer.unpacked {
        Some(unpacked) => unpacked,
        None => extract::measure(&map)
            .with_context(|| format!("cannot read {}", layer.path.display()))?,
    };
    let record = trailer::Layer {
        role: Role::Runtime,
        span: Span {
            offset: 0,
            len: map.len() as u64,
        },
        sha256: layer
            .sha256
            .parse()
            .context("the runtime cache holds a layer with a malformed name")?,
        size: unpacked.size,
        files: unpacked.files,
        name: String::new(),
    };
    let held = install::install(cache, &record, &map)?;
    let dir = held.dir().to_path_buf();
    Ok(Runtime {
        layer,
        unpacked,
        dir,
        _held: held,
    })
}

/// Runs another machine's runtime once before the build steps that need it (installing,
/// compiling, the API tree): they run it under qemu-user through binfmt_misc, as they would
/// on that machine. Emulation rather than this machine's Python of the same version: the
/// `.pyc` and the API tree are then the target interpreter's own, and uv asks it for its tags.
pub fn check_runs(runtime: &Runtime, platform: Platform) -> Result<()> {
    let python = runtime.python();
    let ran = crate::build::compile::clean_python(&python)
        .args(["-c", "pass"])
        .output();
    match ran {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => bail!(
            "the {} runtime's interpreter does not run here ({}: {}): register qemu-user with binfmt_misc and install that machine's C library (on Debian: `apt-get install qemu-user-static libc6:{}` after `dpkg --add-architecture {}`)",
            platform.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            debian_arch(platform),
            debian_arch(platform),
        ),
        Err(e) => bail!(
            "the {} runtime's interpreter cannot run here ({e}): register qemu-user with binfmt_misc (on Debian: `apt-get install qemu-user-static`, then `mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc` if it is not mounted)",
            platform.name()
        ),
    }
}

fn debian_arch(platform: Platform) -> &'static str {
    match platform {
        Platform::X86_64 => "amd64",
        Platform::Aarch64 => "arm64",
    }
}

/// The download mirror from the config, read only when a download is needed (so a bad
/// `python_mirror` does not stop builds from cached runtimes).
pub type Mirror<'a> = &'a dyn Fn() -> Result<Option<&'a str>>;

/// Downloads a runtime for `platform` because none cached fits; when that fails, says what
/// else would do.
fn download(
    store: &LayerStore,
    req: &PythonRequest,
    mirror: Mirror,
    platform: Platform,
    progress: &Progress,
) -> Result<Layer> {
    crate::environ::fetch_pbs(store, req, mirror()?, platform.triple(), progress).map_err(|e| {
        let e = anyhow::Error::from(e);
        let import = if platform.foreign() {
            format!(
                "import one with `pyk runtime import --sysroot DIR DIR/usr/bin/python3.X` (DIR \
                 holding {}'s Python and libraries)",
                platform.name()
            )
        } else {
            "import an installed one with `pyk runtime import PYTHON` (e.g. /usr/bin/python3)"
                .to_owned()
        };
        anyhow::anyhow!(
            "no Python {req} runtime is cached, and none could be downloaded for {} ({e:#}): \
             {import}, build with `--runtime ARCHIVE` (a python-build-standalone {} archive), \
             or set PYK_PYTHON_MIRROR to a mirror of python-build-standalone's releases",
            platform.name(),
            platform.triple()
        )
    })
}

fn version(v: &PyVersion) -> Version {
    Version::new([u64::from(v.major), u64::from(v.minor), u64::from(v.patch)])
}

fn satisfies(requires: &[Declared<VersionSpecifiers>], v: &PyVersion) -> bool {
    requires.iter().all(|r| r.value.contains(&version(v)))
}

fn shown(requires: &[Declared<VersionSpecifiers>]) -> String {
    requires
        .iter()
        .map(|r| format!("{} ({})", r.value, r.at))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// The minor to download for `requires-python`: the default if some release of it
/// satisfies, else the supported minor nearest to it (the older on a tie, for wheels).
fn download_choice(requires: &[Declared<VersionSpecifiers>]) -> Result<PythonRequest> {
    let fits = |minor: u8| {
        (0..=40).any(|patch| {
            satisfies(
                requires,
                &PyVersion {
                    major: 3,
                    minor,
                    patch,
                },
            )
        })
    };
    SUPPORTED_MINORS
        .filter(|m| fits(*m))
        .min_by_key(|m| (m.abs_diff(DEFAULT_PYTHON.minor), *m))
        .map(|minor| PythonRequest {
            major: 3,
            minor,
            patch: None,
        })
        .with_context(|| {
            format!(
                "requires-python {} allows no Python pyk supports (3.{}-3.{})",
                shown(requires),
                SUPPORTED_MINORS.start(),
                SUPPORTED_MINORS.end()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn req(s: &str) -> Vec<Declared<VersionSpecifiers>> {
        vec![Declared {
            value: VersionSpecifiers::from_str(s).unwrap(),
            at: "pyproject.toml:3".into(),
        }]
    }

    fn v(s: &str) -> PyVersion {
        s.parse().unwrap()
    }

    #[test]
    fn pep_440_specifiers_choose() {
        assert!(satisfies(&req(">=3.10,<3.13"), &v("3.12.1")));
        assert!(!satisfies(&req(">=3.10,<3.13"), &v("3.13.0")));
        assert!(satisfies(&req("~=3.11"), &v("3.13.0")));
        assert!(!satisfies(&req("~=3.11.0"), &v("3.12.1")));
        assert!(satisfies(&req("==3.12.*"), &v("3.12.1")));
        assert!(!satisfies(&req("==3.12.*"), &v("3.11.2")));
        assert!(satisfies(&[], &v("3.9.0")));
    }

    #[test]
    fn download_prefers_the_default_then_the_nearest() {
        assert_eq!(download_choice(&req(">=3.9")).unwrap().to_string(), "3.13");
        assert_eq!(download_choice(&req(">=3.14")).unwrap().to_string(), "3.14");
        assert_eq!(download_choice(&req("<3.12")).unwrap().to_string(), "3.11");
        assert_eq!(
            download_choice(&req(">3.12.2,<3.13")).unwrap().to_string(),
            "3.12"
        );
        let e = download_choice(&req("<3.0")).unwrap_err().to_string();
        assert!(e.contains("<3.0") && e.contains("pyproject.toml:3"), "{e}");
    }
}
