//! The `[install]` table: what a private index or an air-gapped network needs the installer
//! to be told. Passed to uv and to the pip fallback alike (`build::deps`).

use std::path::PathBuf;

use anyhow::Result;
use serde::Deserialize;
use toml::Spanned;

use super::source::Source;

/// Installer options, with paths made absolute against the file that named them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InstallOptions {
    /// Replaces PyPI (`--index-url`).
    pub index_url: Option<String>,
    pub extra_index_urls: Vec<String>,
    /// Directories of wheels/sdists (absolute paths) or URLs of pages linking to them.
    pub find_links: Vec<String>,
    /// Use no index at all, only `find_links` (air-gapped builds).
    pub no_index: bool,
    /// `:all:`, `:none:` or distribution names, as pip and uv take them.
    pub only_binary: Vec<String>,
    pub no_binary: Vec<String>,
    /// Constraints files (absolute paths).
    pub constraints: Vec<PathBuf>,
    /// Hosts reached over plain HTTP or with a certificate the build machine does not
    /// trust (pip's `--trusted-host`, uv's `--allow-insecure-host`).
    pub trusted_hosts: Vec<String>,
    /// Allow pre-releases.
    pub pre: bool,
    /// Hash-checking mode even when no requirements file has a `--hash`.
    pub require_hashes: bool,
}

/// `[install]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InstallToml {
    index_url: Option<Spanned<String>>,
    #[serde(default, alias = "extra-index-url")]
    extra_index_urls: Vec<Spanned<String>>,
    #[serde(default)]
    find_links: Vec<Spanned<String>>,
    #[serde(default)]
    no_index: bool,
    #[serde(default)]
    only_binary: Vec<String>,
    #[serde(default)]
    no_binary: Vec<String>,
    #[serde(default)]
    constraints: Vec<Spanned<String>>,
    #[serde(default)]
    trusted_hosts: Vec<String>,
    #[serde(default)]
    pre: bool,
    #[serde(default)]
    require_hashes: bool,
}

fn is_url(s: &str) -> bool {
    s.contains("://")
}

impl InstallToml {
    pub fn resolve(self, src: &Source) -> Result<InstallOptions> {
        let existing = |key: &str, item: &Spanned<String>| -> Result<PathBuf> {
            let path = src.dir().join(item.get_ref());
            if !path.exists() {
                return Err(src.error(
                    &item.span(),
                    format!(
                        "`install.{key}` names {:?}, which does not exist in {}",
                        item.get_ref(),
                        src.dir().display()
                    ),
                ));
            }
            Ok(std::path::absolute(&path).unwrap_or(path))
        };
        // An index may be a local directory laid out as a simple index; the installers
        // want a URL for it.
        let index = |key: &str, item: &Spanned<String>| -> Result<String> {
            if is_url(item.get_ref()) {
                return Ok(item.get_ref().clone());
            }
            let dir = existing(key, item)?;
            url::Url::from_directory_path(&dir)
                .map(String::from)
                .map_err(|()| {
                    src.error(
                        &item.span(),
                        format!("`install.{key}` is neither a URL nor a directory"),
                    )
                })
        };
        Ok(InstallOptions {
            index_url: self
                .index_url
                .as_ref()
                .map(|i| index("index-url", i))
                .transpose()?,
            extra_index_urls: self
                .extra_index_urls
                .iter()
                .map(|i| index("extra-index-urls", i))
                .collect::<Result<_>>()?,
            find_links: self
                .find_links
                .iter()
                .map(|f| {
                    if is_url(f.get_ref()) {
                        Ok(f.get_ref().clone())
                    } else {
                        existing("find-links", f).map(|p| p.display().to_string())
                    }
                })
                .collect::<Result<_>>()?,
            no_index: self.no_index,
            only_binary: self.only_binary,
            no_binary: self.no_binary,
            constraints: self
                .constraints
                .iter()
                .map(|c| existing("constraints", c))
                .collect::<Result<_>>()?,
            trusted_hosts: self.trusted_hosts,
            pre: self.pre,
            require_hashes: self.require_hashes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[derive(Deserialize)]
    struct T {
        install: InstallToml,
    }

    fn options(dir: &std::path::Path, text: &str) -> Result<InstallOptions> {
        let src = Source::file(&dir.join("pyk.toml"), text.into());
        src.parse::<T>()?.install.resolve(&src)
    }

    #[test]
    fn paths_resolve_against_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("wheels")).unwrap();
        fs::create_dir_all(dir.path().join("simple")).unwrap();
        fs::write(dir.path().join("c.txt"), "").unwrap();
        let o = options(
            dir.path(),
            "[install]\nfind-links = [\"wheels\", \"https://x/links\"]\nno-index = true\nconstraints = [\"c.txt\"]\nindex-url = \"simple\"\nextra-index-url = [\"https://y/simple\"]\nonly-binary = [\":all:\"]\n",
        )
        .unwrap();
        assert_eq!(
            o.find_links,
            [
                dir.path().join("wheels").display().to_string(),
                "https://x/links".into()
            ]
        );
        assert_eq!(o.constraints, [dir.path().join("c.txt")]);
        assert!(o.index_url.unwrap().starts_with("file:///"));
        assert_eq!(o.extra_index_urls, ["https://y/simple"]);
        assert!(o.no_index);
    }

    #[test]
    fn errors_name_the_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let e = options(
            dir.path(),
            "[install]\nno-index = true\nfind-links = [\"nope\"]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("pyk.toml:3") && e.contains("install.find-links") && e.contains("nope"),
            "{e}"
        );
        let e = options(dir.path(), "[install]\nindex = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("pyk.toml:2") && e.contains("index"), "{e}");
    }
}
