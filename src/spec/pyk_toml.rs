//! The keys of pyk.toml, which may also be written as `[tool.pyk]` in pyproject.toml or as a
//! script's `# /// pyk` block. Unknown keys are errors: a typo must not pass silently.

use serde::Deserialize;
use toml::Spanned;

use super::options::InstallToml;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PykToml {
    /// The package name (default: the console script's, the project's or the script's).
    pub name: Option<Spanned<String>>,
    /// A script (or package with `__main__.py`) run as `__main__` …
    pub run: Option<Spanned<String>>,
    /// … or a module/package to import …
    pub lib: Option<Spanned<String>>,
    /// … or one of pyproject.toml's `[project.scripts]`, the project installed as a wheel.
    pub script: Option<Spanned<String>>,
    #[serde(default)]
    pub libraries: Vec<Spanned<String>>,
    /// PEP 508 requirements.
    #[serde(default)]
    pub dependencies: Vec<Spanned<String>>,
    /// requirements.txt files.
    #[serde(default)]
    pub requirements: Vec<Spanned<String>>,
    #[serde(default)]
    pub extras: Vec<Spanned<String>>,
    /// `3.X` or `3.X.Y`: the runtime to bundle.
    pub python: Option<Spanned<String>>,
    /// PEP 440 specifiers the runtime must satisfy.
    pub requires_python: Option<Spanned<String>>,
    pub version: Option<String>,
    pub localname: Option<String>,
    #[serde(default)]
    pub install: InstallToml,
    /// Leave out the stdlib modules the import graph never reaches (`--strip-stdlib`).
    #[serde(default, alias = "strip_stdlib")]
    pub strip_stdlib: bool,
    /// Stdlib modules kept although nothing imports them by name (dynamic imports).
    #[serde(default)]
    pub keep: Vec<Spanned<String>>,
    /// The machines `pyk publish` builds for, one artifact each (`--platform`).
    #[serde(default)]
    pub platforms: Vec<Spanned<String>>,
}
