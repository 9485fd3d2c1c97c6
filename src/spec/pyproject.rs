//! pyproject.toml: `[project]` (PEP 621: name, dependencies, requires-python, scripts) and
//! `[tool.pyk]` (the keys of pyk.toml, for projects that keep one file).

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde::Deserialize;
use toml::Spanned;

use super::pyk_toml::PykToml;
use super::source::Source;
use super::Entry;

#[derive(Deserialize)]
pub struct PyProject {
    pub project: Option<ProjectTable>,
    #[serde(default)]
    pub tool: Tools,
}

/// `[tool]`: only pyk's table is read; other tools' are theirs.
#[derive(Deserialize, Default)]
pub struct Tools {
    pub pyk: Option<PykToml>,
}

/// The `[project]` keys pyk reads; the others (description, authors, …) are the build
/// backend's business.
#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ProjectTable {
    pub name: Option<Spanned<String>>,
    /// The project's version: the published one unless pyk's keys or `--version` say.
    pub version: Option<String>,
    #[serde(default)]
    pub dependencies: Vec<Spanned<String>>,
    pub requires_python: Option<Spanned<String>>,
    #[serde(default)]
    pub scripts: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    pub dynamic: Vec<String>,
}

impl ProjectTable {
    pub fn name(&self, src: &Source) -> Result<String> {
        match &self.name {
            Some(name) => Ok(name.get_ref().clone()),
            None => Err(src.error_whole("[project] has no `name` (PEP 621 requires one)")),
        }
    }

    /// Whether `dependencies` is left to the build backend (`dynamic = ["dependencies"]`).
    pub fn dynamic_dependencies(&self) -> bool {
        self.dynamic.iter().any(|d| d == "dependencies")
    }

    /// The console script to run: the one named (by `--script` or a `script` key, said in
    /// `how`), else the only one there is.
    pub fn script(&self, src: &Source, wanted: Option<(&str, &str)>) -> Result<Entry> {
        let names = || {
            self.scripts
                .keys()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (name, value) = match wanted {
            Some((name, how)) => match self.scripts.get_key_value(name) {
                Some(found) => found,
                None if self.scripts.is_empty() => bail!(
                    "{how} names script {name:?}, but {} has no [project.scripts]",
                    src.path.display()
                ),
                None => bail!(
                    "{how} names script {name:?}, which is not in [project.scripts] of {} (it has: {})",
                    src.path.display(),
                    names()
                ),
            },
            None => match self.scripts.len() {
                1 => self.scripts.iter().next().expect("one entry"),
                0 => return Err(src.error_whole(
                    "[project] has no [project.scripts] entry to run: add one (`[project.scripts]` / `NAME = \"package.module:function\"`), or write a pyk.toml beside it with `run = \"FILE.py\"`",
                )),
                n => {
                    let first = self.scripts.values().next().expect("several entries");
                    return Err(src.error(
                        &first.span(),
                        format!(
                            "[project.scripts] has {n} entries ({}): pick one with `pyk build --script NAME`, or `script = \"NAME\"` in pyk.toml or [tool.pyk]",
                            names()
                        ),
                    ));
                }
            },
        };
        parse_entry_point(name, value.get_ref()).map_err(|why| {
            src.error(
                &value.span(),
                format!("[project.scripts] {name} = {:?}: {why}", value.get_ref()),
            )
        })
    }
}

/// `package.module:function` (an entry point object reference; `[extras]` are ignored).
fn parse_entry_point(script: &str, value: &str) -> Result<Entry, String> {
    let value = value.split('[').next().unwrap_or_default().trim();
    let Some((module, function)) = value.split_once(':') else {
        return Err("expected \"package.module:function\"".into());
    };
    let (module, function) = (module.trim(), function.trim());
    let dotted = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|part| {
                part.chars()
                    .next()
                    .is_some_and(|c| c.is_alphabetic() || c == '_')
                    && part.chars().all(|c| c.is_alphanumeric() || c == '_')
            })
    };
    if !dotted(module) || !dotted(function) {
        return Err("expected \"package.module:function\" with Python identifiers".into());
    }
    Ok(Entry::Function {
        script: script.to_owned(),
        module: module.to_owned(),
        function: function.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn project(text: &str) -> (ProjectTable, Source) {
        let src = Source::file(Path::new("pyproject.toml"), text.into());
        let p: PyProject = src.parse().unwrap();
        (p.project.unwrap(), src)
    }

    #[test]
    fn one_script_is_the_entry() {
        let (p, src) = project(
            "[project]\nname = \"a\"\ndynamic = [\"version\"]\n[project.scripts]\na = \"a.cli:main [x]\"\n",
        );
        assert!(!p.dynamic_dependencies());
        match p.script(&src, None).unwrap() {
            Entry::Function {
                script,
                module,
                function,
            } => {
                assert_eq!(
                    (script.as_str(), module.as_str(), function.as_str()),
                    ("a", "a.cli", "main")
                )
            }
            Entry::Path(_) => panic!(),
        }
    }

    #[test]
    fn several_scripts_are_listed_with_the_way_to_pick() {
        let (p, src) = project(
            "[project]\nname = \"h\"\n\n[project.scripts]\nhttp = \"h.core:main\"\nhttps = \"h.core:main_s\"\n",
        );
        let e = p.script(&src, None).unwrap_err().to_string();
        assert!(
            e.starts_with("pyproject.toml:5: [project.scripts] has 2 entries (http, https)")
                && e.contains("--script NAME")
                && e.contains("script = \"NAME\""),
            "{e}"
        );
        assert!(p.script(&src, Some(("https", "--script"))).is_ok());
        let e = p
            .script(&src, Some(("htp", "--script")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("it has: http, https"), "{e}");
    }

    #[test]
    fn bad_entry_points_name_the_line() {
        let (p, src) = project("[project]\nname = \"x\"\nscripts = { x = \"x.main\" }\n");
        let e = p.script(&src, None).unwrap_err().to_string();
        assert!(
            e.starts_with("pyproject.toml:3: [project.scripts] x = \"x.main\""),
            "{e}"
        );
        let (p, src) = project("[project]\nname = \"x\"\n");
        let e = p.script(&src, None).unwrap_err().to_string();
        assert!(
            e.contains("no [project.scripts]") && e.contains("run = "),
            "{e}"
        );
    }
}
