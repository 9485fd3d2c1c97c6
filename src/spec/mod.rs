//! What to pack, read from every place a Python program declares it: pyk.toml (or
//! `[tool.pyk]`), pyproject.toml's `[project]`, a script's PEP 723 blocks, requirements
//! files and the command line.
//!
//! Everything is checked here, before anything is installed or written, and every error
//! names the file, the key and, where there is one, the line. Relative paths resolve against
//! the file that names them; paths given on the command line against the current directory.
//! [`Spec`] is the one validated description the build consumes.

mod options;
mod pep508;
mod pyk_toml;
mod pyproject;
mod requirements;
mod script;
mod source;

use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use pep440_rs::VersionSpecifiers;
use pyk_artifact::trailer::{valid_name, Kind};
use pyk_runtime_fetch::PythonRequest;
use toml::Spanned;

use crate::build::Platform;

pub use options::InstallOptions;
pub use pep508::parse as parse_requirement;
pub use requirements::hash_checking;

use pyk_toml::PykToml;
use pyproject::{ProjectTable, PyProject};
use script::ScriptBlock;
use source::Source;

/// A validated description of one package.
#[derive(Debug)]
pub struct Spec {
    pub name: String,
    pub kind: Kind,
    pub entry: Entry,
    /// Further modules and packages put at the app's top level.
    pub libraries: Vec<PathBuf>,
    /// Data files and directories copied into the app as they are.
    pub extras: Vec<PathBuf>,
    /// Third-party PEP 508 requirements, from every declaration.
    pub dependencies: Vec<String>,
    /// requirements.txt files (absolute), passed to the installer with `-r`.
    pub requirement_files: Vec<PathBuf>,
    /// The pyproject project, installed as a wheel as the app's own code.
    pub project: Option<Project>,
    pub python: PythonWant,
    pub install: InstallOptions,
    /// Where `dist/NAME` goes by default: the directory of the spec file (of the script
    /// given positionally), or the current directory for `--entry`.
    pub base: PathBuf,
    /// The version `pyk publish` gives this build (else the server numbers it): pyk's
    /// `version`, else pyproject's `[project] version`.
    pub version: Option<String>,
    /// Where a new version is written, for the advice of a version that exists: e.g.
    /// "`version` in pyk.toml". `None`: nowhere but `--version`.
    pub version_at: Option<String>,
    /// The file name `pyk pull` writes the package to.
    pub localname: Option<String>,
    /// Declarations pyk reads but cannot honour, said at build time.
    pub warnings: Vec<String>,
    /// `strip_stdlib = true`: shake the runtime's stdlib down to what the app reaches.
    pub strip_stdlib: bool,
    /// `keep = [...]`: stdlib modules a shaken runtime keeps whatever the import graph says.
    pub keep: Vec<String>,
    /// `platforms = [...]`: the machines `pyk publish` builds for when no `--platform` is
    /// given (empty: this machine).
    pub platforms: Vec<Platform>,
}

/// What the artifact runs (or, for a library, imports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A `.py` file or a package directory (absolute path), packed as it is.
    Path(PathBuf),
    /// A `[project.scripts]` entry of the installed project: `module:function` is called.
    Function {
        script: String,
        module: String,
        function: String,
    },
}

/// A pyproject project built and installed as a wheel (`uv pip install DIR`).
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory holding pyproject.toml (absolute).
    pub dir: PathBuf,
    /// `[project] name`, as written.
    pub name: String,
    /// `dependencies` is in `[project] dynamic`: only the build backend knows them, so the
    /// project is installed with its dependencies rather than `--no-deps`.
    pub dynamic_dependencies: bool,
}

impl Project {
    /// Whether an installed distribution is this project (names compared as PEP 503 does).
    pub fn owns(&self, distribution: &str) -> bool {
        normalize(distribution) == normalize(&self.name)
    }
}

/// A distribution name normalized as PEP 503 says: lower case, runs of `-_.` become `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The runtime the spec asks for.
#[derive(Debug, Default)]
pub struct PythonWant {
    /// `python = "3.X"`: a version to bundle.
    pub request: Option<Declared<PythonRequest>>,
    /// Every `requires-python` declared (pyk.toml, pyproject.toml, PEP 723): all must hold.
    pub requires: Vec<Declared<VersionSpecifiers>>,
}

/// A value and where it was declared (`pyk.toml:3`), for messages.
#[derive(Debug, Clone)]
pub struct Declared<T> {
    pub value: T,
    pub at: String,
}

/// What the command line says about the spec.
pub struct Args<'a> {
    /// A directory with pyk.toml or pyproject.toml, one of those files, or a script.
    pub path: &'a Path,
    /// `--entry`: a script or package directory, without a spec file.
    pub entry: Option<&'a Path>,
    /// `--script`: one of `[project.scripts]`.
    pub script: Option<&'a str>,
    /// `--name`.
    pub name: Option<&'a str>,
    /// `-r`: requirements files.
    pub requirements: &'a [PathBuf],
}

/// Reads and checks the spec the command line points at.
pub fn load(args: &Args) -> Result<Spec> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let mut spec = match args.entry {
        Some(entry) => from_entry(&cwd.join(entry), &cwd, args)?,
        None if args.path.extension().is_some_and(|e| e == "py") => from_script(args.path, args)?,
        None => from_files(args.path, args)?,
    };
    for file in args.requirements {
        spec.requirement_files
            .push(requirements::file(cwd.join(file), "-r")?);
    }
    if let Some(name) = args.name {
        spec.name = name.to_owned();
    }
    spec.check()?;
    Ok(spec)
}

/// `pyk build DIR` (or a pyk.toml / pyproject.toml file).
fn from_files(path: &Path, args: &Args) -> Result<Spec> {
    let is_pyproject = path.file_name().is_some_and(|n| n == "pyproject.toml");
    let (dir, pyk_file, pyproject_file) = if path.is_dir() {
        (
            path.to_path_buf(),
            path.join("pyk.toml"),
            path.join("pyproject.toml"),
        )
    } else {
        let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        if !path.exists() {
            bail!(
                "{} does not exist: give a directory with pyk.toml or pyproject.toml, one of those files, or a script",
                path.display()
            );
        }
        if is_pyproject {
            (dir, PathBuf::new(), path.to_path_buf())
        } else {
            let pyproject = dir.join("pyproject.toml");
            (dir, path.to_path_buf(), pyproject)
        }
    };
    let pyk_src = read_if_file(&pyk_file)?;
    let pyproject_src = read_if_file(&pyproject_file)?;
    let mut pyproject: Option<PyProject> = pyproject_src.as_ref().map(Source::parse).transpose()?;
    let tool_pyk = pyproject.as_mut().and_then(|p| p.tool.pyk.take());
    let keys = match (&pyk_src, tool_pyk) {
        (Some(src), None) => Some((src.parse::<PykToml>()?, src)),
        (None, Some(keys)) => Some((keys, pyproject_src.as_ref().expect("parsed"))),
        (Some(src), Some(_)) => bail!(
            "both {} and [tool.pyk] in {} describe the package: keep one",
            src.path.display(),
            pyproject_file.display()
        ),
        (None, None) => None,
    };
    let project = pyproject
        .and_then(|p| p.project)
        .map(|p| (p, pyproject_src.as_ref().expect("parsed")));
    if keys.is_none() && project.is_none() {
        let shown = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            &dir
        };
        match &pyproject_src {
            Some(src) => bail!(
                "{} has neither [project] nor [tool.pyk], and there is no pyk.toml beside it: add a [project] with [project.scripts], or write a pyk.toml (name = …, run = …)",
                src.path.display()
            ),
            None => bail!(
                "no pyk.toml or pyproject.toml in {}: write a pyk.toml (name = …, run = …) or a pyproject.toml with [project.scripts], or build a script with `pyk build --entry FILE`",
                shown.display()
            ),
        }
    }
    let parts = Parts {
        keys,
        project,
        script: None,
        default_entry: None,
        default_name: None,
        base: absolute(&dir)?,
        args,
    };
    parts.into_spec()
}

/// `pyk build tool.py`: a script with PEP 723 blocks (`# /// script`, `# /// pyk`).
fn from_script(script: &Path, args: &Args) -> Result<Spec> {
    let base = absolute(script.parent().unwrap_or(Path::new("")))?;
    script_spec(script, base, args)
}

/// `pyk build --entry FILE|DIR`, pypack style: relative to the current directory.
fn from_entry(entry: &Path, cwd: &Path, args: &Args) -> Result<Spec> {
    if !entry.exists() {
        bail!("entry {} does not exist", entry.display());
    }
    if entry.is_dir() {
        if !entry.join("__main__.py").is_file() {
            bail!(
                "entry {} is a directory without __main__.py",
                entry.display()
            );
        }
        return Parts {
            keys: None,
            project: None,
            script: None,
            default_entry: Some(entry.to_path_buf()),
            default_name: Some(stem(entry)),
            base: cwd.to_path_buf(),
            args,
        }
        .into_spec();
    }
    script_spec(entry, cwd.to_path_buf(), args)
}

fn script_spec(script: &Path, base: PathBuf, args: &Args) -> Result<Spec> {
    let text =
        fs::read_to_string(script).with_context(|| format!("cannot read {}", script.display()))?;
    let pyk = script::block(script, &text, "pyk")?;
    let meta = script::block(script, &text, "script")?;
    let keys = pyk
        .as_ref()
        .map(|src| Ok::<_, anyhow::Error>((src.parse::<PykToml>()?, src)))
        .transpose()?;
    let script_block = meta
        .map(|src| Ok::<_, anyhow::Error>((src.parse::<ScriptBlock>()?, src)))
        .transpose()?;
    Parts {
        keys,
        project: None,
        script: script_block,
        default_entry: Some(absolute(script)?),
        default_name: Some(stem(script)),
        base,
        args,
    }
    .into_spec()
}

/// The declarations found, before they are merged into a [`Spec`].
struct Parts<'a> {
    keys: Option<(PykToml, &'a Source)>,
    project: Option<(ProjectTable, &'a Source)>,
    script: Option<(ScriptBlock, Source)>,
    /// The script or package given itself (script and `--entry` builds).
    default_entry: Option<PathBuf>,
    default_name: Option<String>,
    base: PathBuf,
    args: &'a Args<'a>,
}

impl Parts<'_> {
    /// Where the version is declared, else where it would go, for advice.
    fn version_at(&self, keys_src: Option<&Source>, in_keys: bool) -> Option<String> {
        let file = |src: &Source| {
            src.path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        };
        let project = self.project.as_ref();
        let project_at = |src: &Source| format!("`version` in {}'s [project]", file(src));
        match (keys_src, project) {
            (_, Some((table, src))) if !in_keys && table.version.is_some() => Some(project_at(src)),
            (Some(src), _) if file(src) == "pyk.toml" => Some("`version` in pyk.toml".into()),
            (Some(src), _) if file(src) == "pyproject.toml" => {
                Some("`version` in pyproject.toml's [tool.pyk]".into())
            }
            (Some(src), _) => Some(format!("`version` in {}'s `# /// pyk` block", file(src))),
            (None, Some((_, src))) => Some(project_at(src)),
            (None, None) => match &self.default_entry {
                Some(entry) if entry.is_file() => Some(format!(
                    "`version = \"…\"` in a `# /// pyk` block of {}",
                    entry
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                )),
                _ => None,
            },
        }
    }

    fn into_spec(self) -> Result<Spec> {
        let version_at = self.version_at(
            self.keys.as_ref().map(|(_, src)| *src),
            self.keys.as_ref().is_some_and(|(k, _)| k.version.is_some()),
        );
        let (keys, keys_src) = match self.keys {
            Some((keys, src)) => (keys, Some(src)),
            None => (PykToml::default(), None),
        };
        let at = |span: &std::ops::Range<usize>| keys_src.map_or_else(String::new, |s| s.at(span));
        let mut warnings = Vec::new();

        // What runs: `run`/`lib` (a path), `script`/--script (a console script of the
        // project), else the script or package given, else the project's only script.
        let wanted_script = match (self.args.script, &keys.script) {
            (Some(name), _) => Some((name.to_owned(), "--script".to_owned())),
            (None, Some(s)) => Some((s.get_ref().clone(), format!("{}: `script`", at(&s.span())))),
            (None, None) => None,
        };
        let path_keys = [("run", &keys.run), ("lib", &keys.lib)];
        let set: Vec<_> = path_keys
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| *k)
            .collect();
        if set.len() == 2 || (!set.is_empty() && wanted_script.is_some()) {
            let what = if wanted_script.is_some() && self.args.script.is_some() {
                format!("`{}` and --script", set[0])
            } else {
                let mut all: Vec<String> = set.iter().map(|k| format!("`{k}`")).collect();
                if keys.script.is_some() {
                    all.push("`script`".into());
                }
                all.join(" and ")
            };
            bail!(
                "{}: set one of `run` (a script to run), `lib` (a module to import) or `script` (a [project.scripts] entry), not {what}",
                keys_src.map_or_else(|| "the spec".to_owned(), |s| s.path.display().to_string())
            );
        }
        let resolve = |key: &str, p: &Spanned<String>| -> Result<PathBuf> {
            let src = keys_src.expect("keys have a source");
            let full = src.dir().join(p.get_ref());
            if !full.exists() {
                return Err(src.error(
                    &p.span(),
                    format!(
                        "`{key}` names {:?}, which does not exist in {}",
                        p.get_ref(),
                        display_dir(src.dir())
                    ),
                ));
            }
            absolute(&full)
        };
        let mut project = None;
        let (kind, entry) = if let Some(run) = &keys.run {
            (Kind::Run, Entry::Path(resolve("run", run)?))
        } else if let Some(lib) = &keys.lib {
            (Kind::Lib, Entry::Path(resolve("lib", lib)?))
        } else if let Some((table, src)) = &self.project {
            let wanted = wanted_script
                .as_ref()
                .map(|(n, how)| (n.as_str(), how.as_str()));
            let entry = table.script(src, wanted)?;
            project = Some(Project {
                dir: self.base.clone(),
                name: table.name(src)?,
                dynamic_dependencies: table.dynamic_dependencies(),
            });
            (Kind::Run, entry)
        } else if let Some((name, how)) = &wanted_script {
            bail!("{how} names script {name:?}, but there is no pyproject.toml with [project] here to take it from");
        } else if let Some(default) = &self.default_entry {
            (Kind::Run, Entry::Path(default.clone()))
        } else {
            let src = keys_src.expect("a spec file was found");
            return Err(src.error_whole(
                "missing key `run` (a script to run), `lib` (a module to import) or `script` (a [project.scripts] entry of pyproject.toml)",
            ));
        };

        // The name: `name`, else the console script's, else the project's, else the file's.
        let name = match (&keys.name, &entry, &self.project) {
            (Some(n), _, _) => n.get_ref().clone(),
            (None, Entry::Function { script, .. }, _) => script.clone(),
            (None, _, Some((table, src))) if table.name.is_some() => table.name(src)?,
            (None, _, _) => match &self.default_name {
                Some(n) => n.clone(),
                None => {
                    let src = keys_src.expect("a spec file was found");
                    return Err(src.error_whole("missing key `name` (the package name)"));
                }
            },
        };

        let mut dependencies = Vec::new();
        let mut python = PythonWant::default();
        if let Some((table, src)) = &self.project {
            if table.dynamic_dependencies() {
                if project.is_none() {
                    warnings.push(format!(
                        "{} lists `dependencies` in [project] dynamic, which only its build backend can read: they are not installed (list them in pyk.toml `dependencies`, or build the project with `script =`)",
                        src.path.display()
                    ));
                }
            } else {
                dependencies.extend(requirements::check(
                    src,
                    "project.dependencies",
                    &table.dependencies,
                )?);
            }
            if let Some(rp) = &table.requires_python {
                python
                    .requires
                    .push(specifiers(src, "project.requires-python", rp)?);
            }
        }
        if let Some(src) = keys_src {
            dependencies.extend(requirements::check(
                src,
                "dependencies",
                &keys.dependencies,
            )?);
            if let Some(rp) = &keys.requires_python {
                python
                    .requires
                    .push(specifiers(src, "requires-python", rp)?);
            }
            if let Some(v) = &keys.python {
                let value = PythonRequest::from_str(v.get_ref())
                    .map_err(|e| src.error(&v.span(), format!("`python`: {e}")))?;
                python.request = Some(Declared {
                    value,
                    at: src.at(&v.span()),
                });
            }
        }
        if let Some((block, src)) = &self.script {
            dependencies.extend(requirements::check(
                src,
                "dependencies",
                &block.dependencies,
            )?);
            if let Some(rp) = &block.requires_python {
                python
                    .requires
                    .push(specifiers(src, "requires-python", rp)?);
            }
        }
        let requirement_files = keys
            .requirements
            .iter()
            .map(|r| {
                let src = keys_src.expect("keys have a source");
                if !src.dir().join(r.get_ref()).is_file() {
                    return Err(src.error(
                        &r.span(),
                        format!(
                            "`requirements` names {:?}, which is not a file in {}",
                            r.get_ref(),
                            display_dir(src.dir())
                        ),
                    ));
                }
                absolute(&src.dir().join(r.get_ref()))
            })
            .collect::<Result<_>>()?;
        let install = match keys_src {
            Some(src) => keys.install.resolve(src)?,
            None => InstallOptions::default(),
        };
        let keep = keys
            .keep
            .iter()
            .map(|k| {
                let name = k.get_ref();
                if name.split('.').all(is_identifier) {
                    Ok(name.clone())
                } else {
                    let src = keys_src.expect("keys have a source");
                    Err(src.error(
                        &k.span(),
                        format!("`keep` names {name:?}, which is not a module name (e.g. \"json\" or \"xml.dom.minidom\")"),
                    ))
                }
            })
            .collect::<Result<_>>()?;
        let platforms = keys
            .platforms
            .iter()
            .map(|p| {
                Platform::from_name(p.get_ref()).ok_or_else(|| {
                    let src = keys_src.expect("keys have a source");
                    src.error(
                        &p.span(),
                        format!(
                            "`platforms` names {:?}: pyk builds for {}",
                            p.get_ref(),
                            Platform::NAMES
                        ),
                    )
                })
            })
            .collect::<Result<_>>()?;
        Ok(Spec {
            version_at,
            libraries: keys
                .libraries
                .iter()
                .map(|p| resolve("libraries", p))
                .collect::<Result<_>>()?,
            extras: keys
                .extras
                .iter()
                .map(|p| resolve("extras", p))
                .collect::<Result<_>>()?,
            name,
            kind,
            entry,
            dependencies,
            requirement_files,
            project,
            python,
            install,
            base: self.base,
            version: keys
                .version
                .or_else(|| self.project.as_ref().and_then(|(t, _)| t.version.clone())),
            localname: keys.localname,
            warnings,
            strip_stdlib: keys.strip_stdlib,
            keep,
            platforms,
        })
    }
}

impl Spec {
    fn check(&self) -> Result<()> {
        if !valid_name(&self.name) {
            bail!(
                "invalid package name {:?}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                self.name
            );
        }
        let Entry::Path(entry) = &self.entry else {
            return Ok(());
        };
        let is_module = |p: &Path| p.is_dir() || p.extension().is_some_and(|e| e == "py");
        if !is_module(entry) {
            bail!(
                "{} is neither a .py file nor a package directory",
                entry.display()
            );
        }
        if entry.is_dir()
            && !entry.join("__init__.py").is_file()
            && !entry.join("__main__.py").is_file()
        {
            bail!(
                "{} is a directory without __init__.py or __main__.py",
                entry.display()
            );
        }
        Ok(())
    }

    /// The importable module name of the entry (`foo` for `foo.py` or `foo/`, the module
    /// of a console script).
    pub fn entry_module(&self) -> String {
        match &self.entry {
            Entry::Path(path) => {
                let stem = if path.is_dir() {
                    path.file_name()
                } else {
                    path.file_stem()
                };
                stem.map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default()
            }
            Entry::Function { module, .. } => module.clone(),
        }
    }

    /// Whether anything is to be installed.
    pub fn installs(&self) -> bool {
        !self.dependencies.is_empty()
            || !self.requirement_files.is_empty()
            || self.project.is_some()
    }
}

fn specifiers(
    src: &Source,
    key: &str,
    value: &Spanned<String>,
) -> Result<Declared<VersionSpecifiers>> {
    let parsed = VersionSpecifiers::from_str(value.get_ref()).map_err(|e| {
        src.error(
            &value.span(),
            format!(
                "`{key}` {:?} is not a PEP 440 version specifier ({}); write e.g. \">=3.10\"",
                value.get_ref(),
                e.to_string().lines().next().unwrap_or_default()
            ),
        )
    })?;
    Ok(Declared {
        value: parsed,
        at: src.at(&value.span()),
    })
}

/// A Python identifier as module names use them (ASCII: the stdlib's are).
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn read_if_file(path: &Path) -> Result<Option<Source>> {
    if path.as_os_str().is_empty() || !path.is_file() {
        return Ok(None);
    }
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Some(Source::file(path, text)))
}

fn absolute(path: &Path) -> Result<PathBuf> {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))
}

fn display_dir(dir: &Path) -> String {
    if dir == Path::new(".") {
        "the current directory".into()
    } else {
        dir.display().to_string()
    }
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
