//! Which Debian package each file of a runtime came from, asked of dpkg when the runtime is
//! made (`dpkg-query --search`, then `--show` for the versions), so an artifact's SBOM can
//! name the package of its interpreter and of every shared library bundled with it. Only
//! what dpkg knows is recorded: on a machine without dpkg, or for a file no package
//! installed (a pyenv build, a python-build-standalone archive), nothing is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::layer::Sysroot;

/// A file of the runtime and the Debian package that installed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The file's path in the runtime (`bin/python3.11`, `lib/libz.so.1`).
    pub path: String,
    /// Where it was copied from on the machine that made the layer.
    pub from: String,
    pub package: String,
    pub version: String,
    /// dpkg's architecture (`amd64`, `arm64`).
    pub arch: String,
}

/// The packages of `files` (path in the runtime, path it was copied from), as the dpkg
/// database of this machine or of `sysroot` says. Never fails: what cannot be found is left
/// out.
pub(crate) fn origins(files: &[(String, PathBuf)], sysroot: Sysroot) -> Vec<Origin> {
    // dpkg knows a file by the path its package installed it at: on a merged-/usr system
    // `/usr/lib/x/libz.so.1` may be recorded as `/lib/x/libz.so.1`, and a library found
    // through a symlink by its link's path. Every spelling is asked for.
    let mut asked: BTreeMap<String, usize> = BTreeMap::new();
    for (i, (_, from)) in files.iter().enumerate() {
        let inside = match sysroot {
            Some(root) => match from.strip_prefix(root) {
                Ok(p) => Path::new("/").join(p),
                Err(_) => continue,
            },
            None => from.clone(),
        };
        let mut spellings = vec![inside.clone()];
        if let Ok(real) = std::fs::canonicalize(from) {
            let real = match sysroot {
                Some(root) => real.strip_prefix(root).map(|p| Path::new("/").join(p)).ok(),
                None => Some(real),
            };
            spellings.extend(real);
        }
        for s in spellings.clone() {
            let text = s.to_string_lossy().into_owned();
            match text.strip_prefix("/usr") {
                Some(rest) => spellings.push(PathBuf::from(rest)),
                None => spellings.push(Path::new("/usr").join(s.strip_prefix("/").unwrap_or(&s))),
            }
        }
        for s in spellings {
            asked.entry(s.to_string_lossy().into_owned()).or_insert(i);
        }
    }
    if asked.is_empty() {
        return Vec::new();
    }
    let Some(out) = dpkg_query(sysroot, "--search", asked.keys()) else {
        return Vec::new();
    };
    // `zlib1g:amd64: /lib/x86_64-linux-gnu/libz.so.1`; diversions and several packages
    // (`a, b: /path`) are not one package: left out.
    let mut package_of: BTreeMap<usize, String> = BTreeMap::new();
    for line in out.lines() {
        let Some((package, path)) = line.rsplit_once(": ") else {
            continue;
        };
        if package.contains(',') || package.starts_with("diversion") {
            continue;
        }
        if let Some(&i) = asked.get(path.trim()) {
            package_of
                .entry(i)
                .or_insert_with(|| package.trim().to_owned());
        }
    }
    let wanted: Vec<&String> = package_of.values().collect();
    let Some(shown) = dpkg_query(
        sysroot,
        "--showformat=${binary:Package} ${Architecture} ${Version}\\n",
        ["--show".to_owned()].iter().chain(wanted.iter().copied()),
    ) else {
        return Vec::new();
    };
    let versions: BTreeMap<String, (String, String)> = shown
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (p, a, v) = (parts.next()?, parts.next()?, parts.next()?);
            Some((p.to_owned(), (a.to_owned(), v.to_owned())))
        })
        .collect();
    let mut out = Vec::new();
    for (i, package) in package_of {
        // `--search` names a package with its architecture only when several are installed.
        let found = versions.get(&package).or_else(|| {
            versions
                .iter()
                .find(|(p, _)| p.split(':').next() == Some(package.as_str()))
                .map(|(_, v)| v)
        });
        let Some((arch, version)) = found else {
            continue;
        };
        let (path, from) = &files[i];
        out.push(Origin {
            path: path.clone(),
            from: from.to_string_lossy().into_owned(),
            package: package.split(':').next().unwrap_or(&package).to_owned(),
            version: version.clone(),
            arch: arch.clone(),
        });
    }
    out
}

/// `dpkg-query FLAG ARGS…` against this machine's database or the sysroot's; its standard
/// output, whatever the exit status (`--search` fails when any one path is unknown).
fn dpkg_query<'a>(
    sysroot: Sysroot,
    flag: &str,
    args: impl IntoIterator<Item = &'a String>,
) -> Option<String> {
    let mut cmd = Command::new("dpkg-query");
    if let Some(root) = sysroot {
        cmd.arg(format!(
            "--admindir={}",
            root.join("var/lib/dpkg").display()
        ));
    }
    cmd.arg(flag).args(args).env("LC_ALL", "C");
    let out = cmd.output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's own zlib, when dpkg knows it (a Debian or Ubuntu machine).
    #[test]
    fn finds_the_package_of_a_library_here() {
        let candidates = [
            "/lib/x86_64-linux-gnu/libz.so.1",
            "/usr/lib/x86_64-linux-gnu/libz.so.1",
            "/lib/aarch64-linux-gnu/libz.so.1",
        ];
        let Some(libz) = candidates.iter().map(PathBuf::from).find(|p| p.exists()) else {
            eprintln!("skipped: no libz.so.1 where Debian puts it");
            return;
        };
        if Command::new("dpkg-query")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("skipped: no dpkg-query on this machine");
            return;
        }
        let found = origins(&[("lib/libz.so.1".into(), libz)], None);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].package, "zlib1g");
        assert!(!found[0].version.is_empty());
        assert!(origins(&[("x".into(), "/nonexistent/libq.so".into())], None).is_empty());
    }
}
