//! Values from the environment inside config files, tycho-station style:
//! `KEY = { env = "PYK_KEY", default = "…" }` or `KEY = "${PYK_KEY}"`, and a `dotenv`
//! file whose `NAME=value` lines count as environment (the real environment wins).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// The environment as config files see it.
#[derive(Default)]
pub struct Env {
    dotenv: HashMap<String, String>,
}

impl Env {
    pub fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| self.dotenv.get(name).cloned())
    }

    /// Loads a dotenv file: `NAME=value` lines, `#` comments, optional `export ` and quotes.
    pub fn load_dotenv(&mut self, path: &Path) -> Result<()> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read dotenv file {}", path.display()))?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let Some((name, value)) = line.split_once('=') else {
                bail!(
                    "dotenv file {}:{}: expected NAME=value",
                    path.display(),
                    i + 1
                );
            };
            let value = value.trim();
            let unquoted = ['"', '\'']
                .iter()
                .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
                .unwrap_or(value);
            self.dotenv
                .insert(name.trim().to_owned(), unquoted.to_owned());
        }
        Ok(())
    }

    /// Replaces `{ env = …, default = … }` tables and `${VAR}` references in a config
    /// table's values; `file` and the key name errors.
    pub fn resolve(&self, table: &mut toml::Table, file: &str) -> Result<()> {
        for (key, value) in table.iter_mut() {
            self.resolve_value(value, &format!("config {file}: `{key}`"))?;
        }
        Ok(())
    }

    fn resolve_value(&self, value: &mut toml::Value, what: &str) -> Result<()> {
        match value {
            toml::Value::Table(t) if t.contains_key("env") => {
                let Some(toml::Value::String(name)) = t.get("env") else {
                    bail!("{what}: `env` must name a variable");
                };
                let found = self
                    .get(name)
                    .map(toml::Value::String)
                    .or_else(|| t.get("default").cloned());
                *value = found.with_context(|| {
                    format!("{what}: ${name} is not set and there is no default")
                })?;
            }
            toml::Value::Table(t) => {
                for (k, v) in t.iter_mut() {
                    self.resolve_value(v, &format!("{what}.{k}"))?;
                }
            }
            toml::Value::String(s) if s.contains("${") => *s = self.substitute(s, what)?,
            _ => {}
        }
        Ok(())
    }

    fn substitute(&self, s: &str, what: &str) -> Result<String> {
        let mut out = String::new();
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(len) = rest[start + 2..].find('}') else {
                bail!("{what}: unclosed ${{ in {s:?}");
            };
            let name = &rest[start + 2..start + 2 + len];
            out.push_str(
                &self
                    .get(name)
                    .with_context(|| format!("{what}: ${{{name}}} is not set"))?,
            );
            rest = &rest[start + 3 + len..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_tables_references_and_dotenv() {
        let dir = tempfile::tempdir().unwrap();
        let dotenv = dir.path().join(".env");
        std::fs::write(
            &dotenv,
            "# comment\nexport PYK_TEST_A='from dotenv'\nPYK_TEST_B=b\n",
        )
        .unwrap();
        let mut env = Env::default();
        env.load_dotenv(&dotenv).unwrap();
        let mut t: toml::Table = toml::from_str(
            "a = { env = \"PYK_TEST_A\" }\nb = \"x-${PYK_TEST_B}-y\"\nc = { env = \"PYK_TEST_UNSET_C\", default = \"dflt\" }\n[pins]\nfoo = \"${PYK_TEST_B}\"\n",
        )
        .unwrap();
        env.resolve(&mut t, "f.toml").unwrap();
        assert_eq!(t["a"].as_str(), Some("from dotenv"));
        assert_eq!(t["b"].as_str(), Some("x-b-y"));
        assert_eq!(t["c"].as_str(), Some("dflt"));
        assert_eq!(t["pins"]["foo"].as_str(), Some("b"));
        let mut bad: toml::Table = toml::from_str("KEY = \"${PYK_TEST_UNSET_D}\"\n").unwrap();
        let e = env.resolve(&mut bad, "f.toml").unwrap_err().to_string();
        assert!(
            e.contains("f.toml") && e.contains("KEY") && e.contains("PYK_TEST_UNSET_D"),
            "{e}"
        );
    }
}
