//! What to pack: read from `pyk.toml`, or from pypack-style flags (`--entry`, `-r`).
//!
//! Everything is checked here, before anything is installed or written, and every error
//! names the file, the key and, where there is one, the line.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use pyk_artifact::trailer::{valid_name, Kind};
use serde::Deserialize;

/// A validated description of one package.
#[derive(Debug)]
pub struct Spec {
    pub name: String,
    pub kind: Kind,
    /// The module run as `__main__` (`run`) or imported (`lib`): a `.py` file or a package dir.
    pub entry: PathBuf,
    /// Further modules and packages put at the payload's top level.
    pub libraries: Vec<PathBuf>,
    /// Data files and directories copied into the payload as they are.
    pub extras: Vec<PathBuf>,
    /// PEP 508 requirement strings.
    pub dependencies: Vec<String>,
    /// requirements.txt files (pypack style `-r`).
    pub requirement_files: Vec<PathBuf>,
    /// `python = "3.X"` from the spec, if given.
    pub python: Option<String>,
    /// The version `pyk publish` gives this build (else the server numbers it).
    pub version: Option<String>,
    /// The file name `pyk pull` writes the package to.
    pub localname: Option<String>,
}

/// The keys of `pyk.toml`. Unknown keys are errors: a typo must not pass silently.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PykToml {
    name: String,
    run: Option<String>,
    lib: Option<String>,
    #[serde(default)]
    libraries: Vec<String>,
    #[serde(default)]
    dependencies: Vec<String>,
    #[serde(default)]
    extras: Vec<String>,
    python: Option<String>,
    version: Option<String>,
    localname: Option<String>,
}

impl Spec {
    /// Reads `pyk.toml` in `dir` (or the file itself when `path` is a file).
    pub fn from_toml(path: &Path) -> Result<Spec> {
        let file = if path.is_dir() {
            path.join("pyk.toml")
        } else {
            path.to_path_buf()
        };
        if !file.exists() {
            bail!(
                "no pyk.toml at {}: write one (name = …, run = …), or build a script with `pyk build --entry FILE`",
                path.display()
            );
        }
        let text =
            fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let shown = file.display();
        let raw: PykToml = toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| format!(":{}", line_of(&text, s.start)));
            anyhow::anyhow!(
                "{shown}{}: {}",
                line.unwrap_or_default(),
                e.message().trim()
            )
        })?;
        let base = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Spec::from_raw(raw, base, &shown.to_string())
    }

    fn from_raw(raw: PykToml, base: &Path, shown: &str) -> Result<Spec> {
        let (kind, entry) = match (raw.run, raw.lib) {
            (Some(run), None) => (Kind::Run, run),
            (None, Some(lib)) => (Kind::Lib, lib),
            (Some(_), Some(_)) => bail!("{shown}: set `run` or `lib`, not both"),
            (None, None) => {
                bail!("{shown}: missing key `run` (a script to run) or `lib` (a module to import)")
            }
        };
        let resolve = |key: &str, p: &str| -> Result<PathBuf> {
            let full = base.join(p);
            if !full.exists() {
                bail!(
                    "{shown}: `{key}` names {p:?}, which does not exist in {}",
                    base.display()
                );
            }
            Ok(full)
        };
        let spec = Spec {
            entry: resolve(kind.as_str(), &entry)?,
            libraries: raw
                .libraries
                .iter()
                .map(|p| resolve("libraries", p))
                .collect::<Result<_>>()?,
            extras: raw
                .extras
                .iter()
                .map(|p| resolve("extras", p))
                .collect::<Result<_>>()?,
            name: raw.name,
            kind,
            dependencies: raw.dependencies,
            requirement_files: Vec::new(),
            python: raw.python,
            version: raw.version,
            localname: raw.localname,
        };
        spec.check().with_context(|| shown.to_owned())?;
        Ok(spec)
    }

    /// A script carrying its spec in a `# /// pyk` block (PEP 723 style), e.g.
    ///
    /// ```python
    /// # /// pyk
    /// # name = "foo"
    /// # dependencies = ["rich"]
    /// # ///
    /// ```
    /// `run` defaults to the script itself and `name` to its stem; a PEP 723
    /// `# /// script` block's `dependencies` are honoured too.
    pub fn from_script(script: &Path) -> Result<Spec> {
        let text = fs::read_to_string(script)
            .with_context(|| format!("cannot read {}", script.display()))?;
        let shown = script.display();
        let stem = script
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file_name = script
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut table = match comment_block(&text, "pyk") {
            Some((line, body)) => toml::from_str::<toml::Table>(&body).map_err(|e| {
                anyhow::anyhow!(
                    "{shown}:{}: in the `# /// pyk` block: {}",
                    line + e.span().map_or(0, |s| line_of(&body, s.start)),
                    e.message().trim()
                )
            })?,
            None => toml::Table::new(),
        };
        if let Some((line, body)) = comment_block(&text, "script") {
            let pep723: toml::Table = toml::from_str(&body).map_err(|e| {
                anyhow::anyhow!(
                    "{shown}:{line}: in the `# /// script` block: {}",
                    e.message().trim()
                )
            })?;
            if let Some(deps) = pep723.get("dependencies") {
                table.entry("dependencies").or_insert_with(|| deps.clone());
            }
        }
        if !table.contains_key("run") && !table.contains_key("lib") {
            table.insert("run".into(), file_name.into());
        }
        table.entry("name").or_insert_with(|| stem.into());
        // Resolve paths against the script's directory, as a pyk.toml beside it would.
        let base = script
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let raw: PykToml = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                anyhow::anyhow!("{shown}: in the `# /// pyk` block: {}", e.message().trim())
            })?;
        Spec::from_raw(raw, base, &shown.to_string())
    }

    /// pypack style: `--entry app/` (a package with `__main__.py`) or `--entry script.py`.
    pub fn from_entry(
        entry: &Path,
        name: Option<&str>,
        requirement_files: Vec<PathBuf>,
    ) -> Result<Spec> {
        if !entry.exists() {
            bail!("entry {} does not exist", entry.display());
        }
        if entry.is_dir() && !entry.join("__main__.py").is_file() {
            bail!(
                "entry {} is a directory without __main__.py",
                entry.display()
            );
        }
        for req in &requirement_files {
            if !req.is_file() {
                bail!("requirements file {} does not exist", req.display());
            }
        }
        let stem = entry
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let spec = Spec {
            name: name.map(str::to_owned).unwrap_or(stem),
            kind: Kind::Run,
            entry: entry.to_path_buf(),
            libraries: Vec::new(),
            extras: Vec::new(),
            dependencies: Vec::new(),
            requirement_files,
            python: None,
            version: None,
            localname: None,
        };
        spec.check()?;
        Ok(spec)
    }

    fn check(&self) -> Result<()> {
        if !valid_name(&self.name) {
            bail!(
                "invalid package name {:?}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                self.name
            );
        }
        let is_module = |p: &Path| p.is_dir() || p.extension().is_some_and(|e| e == "py");
        if !is_module(&self.entry) {
            bail!(
                "{} is neither a .py file nor a package directory",
                self.entry.display()
            );
        }
        if self.entry.is_dir()
            && !self.entry.join("__init__.py").is_file()
            && !self.entry.join("__main__.py").is_file()
        {
            bail!(
                "{} is a directory without __init__.py or __main__.py",
                self.entry.display()
            );
        }
        Ok(())
    }

    /// The importable module name of the entry (`foo` for `foo.py` or `foo/`).
    pub fn entry_module(&self) -> String {
        let stem = if self.entry.is_dir() {
            self.entry.file_name()
        } else {
            self.entry.file_stem()
        };
        stem.map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// The body of a `# /// TYPE` … `# ///` comment block (its `# ` prefixes removed) and
/// the line number of its first line.
fn comment_block(text: &str, kind: &str) -> Option<(usize, String)> {
    let mut lines = text.lines().enumerate();
    let open = format!("# /// {kind}");
    let (start, _) = lines.find(|(_, l)| l.trim_end() == open)?;
    let mut body = String::new();
    for (_, line) in lines {
        if line.trim_end() == "# ///" {
            return Some((start + 2, body));
        }
        let content = line.strip_prefix("# ").or_else(|| line.strip_prefix('#'))?;
        body.push_str(content);
        body.push('\n');
    }
    None
}

fn line_of(text: &str, byte: usize) -> usize {
    text.as_bytes()[..byte.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, toml: &str) -> PathBuf {
        fs::write(dir.join("pyk.toml"), toml).unwrap();
        fs::write(dir.join("foo.py"), "print('hi')\n").unwrap();
        dir.to_path_buf()
    }

    fn err(toml: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        format!(
            "{:#}",
            Spec::from_toml(&write(dir.path(), toml)).unwrap_err()
        )
    }

    #[test]
    fn reads_the_original_keys() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("README.md"), "x").unwrap();
        let spec = Spec::from_toml(&write(
            dir.path(),
            "name = \"foo\"\nrun = \"foo.py\"\ndependencies = [\"click\"]\nextras = [\"README.md\"]\n",
        ))
        .unwrap();
        assert_eq!((spec.name.as_str(), spec.kind), ("foo", Kind::Run));
        assert_eq!(spec.entry_module(), "foo");
        assert_eq!(spec.dependencies, ["click"]);
    }

    #[test]
    fn script_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("tool.py");
        fs::write(&script, "#!/usr/bin/env python3\n# /// pyk\n# name = \"t\"\n# ///\n# /// script\n# dependencies = [\"rich\"]\n# ///\nprint(1)\n").unwrap();
        let spec = Spec::from_script(&script).unwrap();
        assert_eq!(
            (spec.name.as_str(), spec.kind, spec.entry_module().as_str()),
            ("t", Kind::Run, "tool")
        );
        assert_eq!(spec.dependencies, ["rich"]);
        fs::write(&script, "# /// pyk\n# name = \"t\"\n# bogus = 1\n# ///\n").unwrap();
        let e = format!("{:#}", Spec::from_script(&script).unwrap_err());
        assert!(e.contains("bogus"), "{e}");
        fs::write(&script, "print(1)\n").unwrap();
        assert_eq!(Spec::from_script(&script).unwrap().name, "tool");
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let e = err("name = \"foo\"\nrun = \"foo.py\"\nlibaries = []\n");
        assert!(e.contains("pyk.toml:3") && e.contains("libaries"), "{e}");
        let e = err("name = \"foo\"\nrun = 3\n");
        assert!(e.contains("pyk.toml:2"), "{e}");
        let e = err("name = \"foo\"\n");
        assert!(e.contains("`run`"), "{e}");
        let e = err("name = \"foo\"\nrun = \"missing.py\"\n");
        assert!(
            e.contains("missing.py") && e.contains("does not exist"),
            "{e}"
        );
        let e = err("name = \"../x\"\nrun = \"foo.py\"\n");
        assert!(e.contains("invalid package name"), "{e}");
        let e = err("name = \"foo\"\nrun = \"foo.py\"\nlib = \"foo.py\"\n");
        assert!(e.contains("not both"), "{e}");
    }
}
