//! What installers leave in a `--target` directory that is no part of the program: uv's
//! empty `.lock`, console scripts in `bin/` (they name the build machine's interpreter),
//! bytecode compiled on the build host, uv's cache notes and PEP 610 records of local
//! paths. RECORD files stop listing what is removed, and what lies outside the tree (pip
//! lists scripts as `../../bin/NAME`), so the tree stays reproducible.

use std::collections::HashSet;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

use super::dists::record_path;

/// Files in a `.dist-info` that only describe the build machine.
const INSTALLER_NOTES: &[&str] = &["uv_cache.json", "uv_build.json"];

pub fn debris(target: &Path) -> Result<()> {
    let mut removed: HashSet<String> = HashSet::new();
    let lock = target.join(".lock");
    if lock.is_file() {
        fs::remove_file(&lock).with_context(|| format!("cannot remove {}", lock.display()))?;
    }
    let bin = target.join("bin");
    if bin.is_dir() && !bin.join("__init__.py").exists() {
        fs::remove_dir_all(&bin).with_context(|| format!("cannot remove {}", bin.display()))?;
        removed.insert("bin/".into());
    }
    remove_pycache(target, target, &mut removed)?;
    let mut infos = Vec::new();
    for entry in
        fs::read_dir(target).with_context(|| format!("cannot list {}", target.display()))?
    {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "dist-info") && path.is_dir() {
            infos.push(path);
        }
    }
    for info in &infos {
        let dir_name = info
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        for note in INSTALLER_NOTES {
            if info.join(note).is_file() {
                fs::remove_file(info.join(note))?;
                removed.insert(format!("{dir_name}/{note}"));
            }
        }
        let direct = info.join("direct_url.json");
        let local = fs::read_to_string(&direct).is_ok_and(|t| t.contains("\"file://"));
        if local {
            fs::remove_file(&direct)?;
            removed.insert(format!("{dir_name}/direct_url.json"));
        }
    }
    if removed.is_empty() {
        return Ok(());
    }
    for info in &infos {
        let record = info.join("RECORD");
        let Ok(text) = fs::read_to_string(&record) else {
            continue;
        };
        let kept: String = text
            .split_inclusive('\n')
            .filter(|line| {
                record_path(line.trim_end()).is_none_or(|p| {
                    !removed.contains(&p)
                        && !removed
                            .iter()
                            .any(|r| r.ends_with('/') && p.starts_with(r.as_str()))
                        && !p.split('/').any(|c| c == "__pycache__" || c == "..")
                })
            })
            .collect();
        if kept != text {
            fs::write(&record, kept)
                .with_context(|| format!("cannot write {}", record.display()))?;
        }
    }
    Ok(())
}

fn remove_pycache(root: &Path, dir: &Path, removed: &mut HashSet<String>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        if !entry.file_type()?.is_dir() {
            continue;
        }
        let path = entry.path();
        if entry.file_name() == "__pycache__" {
            fs::remove_dir_all(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
            let rel = path.strip_prefix(root).unwrap_or(&path);
            removed.insert(format!("{}/", rel.display()));
        } else {
            remove_pycache(root, &path, removed)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_installer_debris_and_its_record_lines() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path();
        let info = t.join("app-1.0.dist-info");
        fs::create_dir_all(&info).unwrap();
        fs::create_dir_all(t.join("app/__pycache__")).unwrap();
        fs::create_dir_all(t.join("bin")).unwrap();
        for (path, text) in [
            (".lock", ""),
            ("bin/app", "#!/build/host/python\n"),
            ("app/__init__.py", ""),
            ("app/__pycache__/__init__.cpython-311.pyc", "x"),
            ("app-1.0.dist-info/uv_cache.json", "{\"timestamp\":1}"),
            ("app-1.0.dist-info/direct_url.json", "{\"url\":\"file:///home/me/app\",\"dir_info\":{}}"),
            ("app-1.0.dist-info/RECORD", "bin/app,sha256=a,1\n../../bin/app,sha256=a,1\napp/__init__.py,sha256=b,0\napp/__pycache__/__init__.cpython-311.pyc,,\napp-1.0.dist-info/uv_cache.json,sha256=c,15\napp-1.0.dist-info/direct_url.json,sha256=d,40\napp-1.0.dist-info/RECORD,,\n"),
        ] {
            fs::write(t.join(path), text).unwrap();
        }
        debris(t).unwrap();
        let mut left: Vec<String> = walk(t);
        left.sort();
        assert_eq!(left, ["app-1.0.dist-info/RECORD", "app/__init__.py"]);
        assert_eq!(
            fs::read_to_string(info.join("RECORD")).unwrap(),
            "app/__init__.py,sha256=b,0\napp-1.0.dist-info/RECORD,,\n"
        );
    }

    fn walk(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                for sub in walk(&p) {
                    out.push(format!(
                        "{}/{sub}",
                        p.file_name().unwrap().to_string_lossy()
                    ));
                }
            } else {
                out.push(p.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
        out
    }
}
