//! The dependencies as units: which installed distribution each file of the deps tree
//! belongs to, so that each distribution is a layer of its own (see
//! `pyk_artifact::trailer`), shared by every app and version that installs the same files.
//!
//! A file belongs to the distribution whose RECORD lists it; bytecode the build compiled
//! (`x/__pycache__/m.cpython-311.pyc`, in no RECORD) to the owner of its source `x/m.py`.
//! What no distribution claims (files the staging added, bytecode of an unlisted source) is
//! the last unit, `other`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use pyk_artifact::trailer::valid_unit_name;

use super::deps::Dist;
use crate::spec::normalize;

/// The name of the unit of files no distribution claims.
const OTHER: &str = "other";

/// The units of one deps tree.
pub struct Units {
    /// Each unit's name (`numpy-2.1.3`), `other` last.
    pub names: Vec<String>,
    /// The unit of each file a RECORD lists, by its path in the tree.
    owner: HashMap<PathBuf, usize>,
}

impl Units {
    /// The units of the third-party distributions in `dists` (installed in the deps tree).
    pub fn of(dists: &[Dist]) -> Result<Units> {
        let mut names = Vec::new();
        let mut owner = HashMap::new();
        for dist in dists.iter().filter(|d| !d.own) {
            let i = names.len();
            names.push(unit_name(&dist.name, &dist.version));
            for file in dist.files()? {
                owner.entry(file).or_insert(i);
            }
        }
        names.push(OTHER.to_owned());
        Ok(Units { names, owner })
    }

    /// The unit `rel` (a path in the deps tree) belongs to.
    pub fn group(&self, rel: &Path) -> usize {
        let other = self.names.len() - 1;
        if let Some(&i) = self.owner.get(rel) {
            return i;
        }
        source_of_bytecode(rel)
            .and_then(|source| self.owner.get(&source).copied())
            .unwrap_or(other)
    }
}

/// `x/m.py` for `x/__pycache__/m.cpython-311.pyc` (and `.opt-1.pyc`).
fn source_of_bytecode(rel: &Path) -> Option<PathBuf> {
    let name = rel.file_name()?.to_str()?;
    let cache = rel.parent()?;
    if cache.file_name()? != "__pycache__" || !name.ends_with(".pyc") {
        return None;
    }
    let module = name.split('.').next()?;
    Some(cache.parent()?.join(format!("{module}.py")))
}

/// `numpy-2.1.3`: the normalized name and the version, with what a unit name may not hold
/// (an epoch's `!`) made `_`.
fn unit_name(name: &str, version: &str) -> String {
    let raw = format!("{}-{version}", normalize(name));
    let clean: String = raw
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() || "._+-".contains(c) {
            true => c,
            false => '_',
        })
        .take(100)
        .collect();
    match valid_unit_name(&clean) {
        true => clean,
        false => "dist".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytecode_belongs_to_its_source() {
        assert_eq!(
            source_of_bytecode(Path::new("np/core/__pycache__/a.cpython-311.opt-1.pyc")),
            Some(PathBuf::from("np/core/a.py"))
        );
        assert_eq!(source_of_bytecode(Path::new("np/a.pyc")), None);
        assert_eq!(
            source_of_bytecode(Path::new("__pycache__/a.cpython-311.pyc")),
            Some(PathBuf::from("a.py"))
        );
    }

    #[test]
    fn unit_names_are_valid() {
        assert_eq!(
            unit_name("Python_Dateutil", "2.9.0.post0"),
            "python-dateutil-2.9.0.post0"
        );
        assert_eq!(unit_name("x", "1!2.0+local"), "x-1_2.0+local");
    }
}
