//! Requirement strings (PEP 508) and requirements files (`-r`), checked before the installer
//! runs so a typo is reported where it was written, not as an installer failure.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use toml::Spanned;

use super::source::Source;

/// Checks each string of a `dependencies` array; `key` names the array in errors.
pub fn check(src: &Source, key: &str, items: &[Spanned<String>]) -> Result<Vec<String>> {
    items
        .iter()
        .map(|item| {
            let text = item.get_ref().trim();
            match super::pep508::parse(text) {
                Ok(_) => Ok(text.to_owned()),
                Err(e) => Err(src.error(
                    &item.span(),
                    format!(
                        "`{key}` item {text:?} is not a PEP 508 requirement ({e}); write e.g. \"click>=8\""
                    ),
                )),
            }
        })
        .collect()
}

/// A requirements file to pass to the installer with `-r`.
pub fn file(path: PathBuf, named_in: &str) -> Result<PathBuf> {
    if !path.is_file() {
        bail!(
            "{named_in}: requirements file {} is not a file",
            path.display()
        );
    }
    Ok(path)
}

/// Whether any of these requirements files, or the files they include with `-r`/`-c`,
/// puts the install in hash-checking mode (a `--hash` or `--require-hashes`).
///
/// pip switches to hash-checking mode by itself; uv only checks the hashes it is given, so
/// it is told `--require-hashes` to refuse, as pip does, any requirement without one.
pub fn hash_checking(files: &[PathBuf]) -> Result<bool> {
    let mut seen = HashSet::new();
    let mut todo: Vec<PathBuf> = files.to_vec();
    while let Some(file) = todo.pop() {
        if !seen.insert(file.clone()) {
            continue;
        }
        let text = fs::read_to_string(&file)
            .with_context(|| format!("cannot read requirements file {}", file.display()))?;
        let dir = file.parent().unwrap_or(Path::new("."));
        for line in logical_lines(&text) {
            let mut words = line.split_whitespace();
            while let Some(word) = words.next() {
                if word.starts_with("--hash") || word == "--require-hashes" {
                    return Ok(true);
                }
                let included = match word {
                    "-r" | "--requirement" | "-c" | "--constraint" => words.next(),
                    _ => ["-r", "--requirement=", "-c", "--constraint="]
                        .iter()
                        .find_map(|flag| word.strip_prefix(flag))
                        .filter(|rest| !rest.is_empty()),
                };
                // Includes that are URLs or missing are the installer's to report.
                if let Some(inc) = included.filter(|i| !i.contains("://")) {
                    let inc = dir.join(inc);
                    if inc.is_file() {
                        todo.push(inc);
                    }
                }
            }
        }
    }
    Ok(false)
}

/// A requirements file's lines with `\` continuations joined and comments removed.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for raw in text.lines() {
        // A comment starts at `#` at the start of a line or after whitespace.
        let line = match raw.find(" #").or_else(|| raw.find("\t#")) {
            Some(i) => &raw[..i],
            None if raw.trim_start().starts_with('#') => "",
            None => raw,
        };
        match line.strip_suffix('\\') {
            Some(cont) => {
                current.push_str(cont);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_found_across_continuations_and_includes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("plain.txt"), "six==1.16.0  # --hash in a comment\n").unwrap();
        fs::write(
            d.join("hashed.txt"),
            "six==1.16.0 \\\n    --hash=sha256:8abb\n",
        )
        .unwrap();
        fs::create_dir(d.join("sub")).unwrap();
        fs::write(d.join("sub/top.txt"), "-r ../hashed.txt\n").unwrap();
        fs::write(d.join("req.txt"), "--requirement=sub/top.txt\n").unwrap();
        assert!(!hash_checking(&[d.join("plain.txt")]).unwrap());
        assert!(hash_checking(&[d.join("hashed.txt")]).unwrap());
        assert!(hash_checking(&[d.join("req.txt")]).unwrap());
        fs::write(d.join("opt.txt"), "--require-hashes\n").unwrap();
        assert!(hash_checking(&[d.join("opt.txt")]).unwrap());
    }

    #[test]
    fn bad_requirements_name_the_line() {
        let text = "dependencies = [\n  \"click>=8\",\n  \"clik>=>8\",\n]\n";
        let src = Source::file(Path::new("pyk.toml"), text.into());
        #[derive(serde::Deserialize)]
        struct T {
            dependencies: Vec<Spanned<String>>,
        }
        let t: T = src.parse().unwrap();
        let e = check(&src, "dependencies", &t.dependencies)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("pyk.toml:3: `dependencies` item \"clik>=>8\""),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        assert_eq!(
            check(&src, "dependencies", &t.dependencies[..1]).unwrap(),
            ["click>=8"]
        );
    }
}
