//! Client configuration: `/etc/pyk/config.toml`, then `~/.config/pyk/config.toml`, then
//! environment variables; later sources override earlier ones. Unknown keys are kept for
//! other commands, so one file serves every pyk command.

use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Default, Debug)]
pub struct Config {
    /// Base URL of a python-build-standalone mirror (`python_mirror`, `$PYK_PYTHON_MIRROR`).
    pub python_mirror: Option<String>,
}

#[derive(Deserialize)]
struct File {
    python_mirror: Option<String>,
}

impl Config {
    pub fn load() -> Result<Config> {
        let mut config = Config::default();
        for path in Self::files() {
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("cannot read config {}", path.display())),
            };
            let file: File = toml::from_str(&text).map_err(|e| {
                anyhow::anyhow!("config {}: {}", path.display(), e.message().trim())
            })?;
            if file.python_mirror.is_some() {
                config.python_mirror = file.python_mirror;
            }
        }
        if let Some(mirror) = std::env::var("PYK_PYTHON_MIRROR").ok().filter(|s| !s.is_empty()) {
            config.python_mirror = Some(mirror);
        }
        Ok(config)
    }

    fn files() -> Vec<PathBuf> {
        let mut files = vec![PathBuf::from("/etc/pyk/config.toml")];
        let user = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
        files.extend(user.map(|d| d.join("pyk/config.toml")));
        files
    }
}
