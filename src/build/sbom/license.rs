//! A distribution's licence, read from its `.dist-info`: the SPDX expression its metadata
//! gives, and the licence texts it carries.
//!
//! PEP 639's `License-Expression` is taken as written. Older metadata says it with a
//! `License :: …` classifier or a free-text `License:` field: either is mapped to an SPDX
//! identifier only when it names exactly one licence without doubt (`MIT License` is MIT;
//! `BSD License` could be any of several BSD licences and `GNU General Public License v3`
//! either "only" or "or later", so they are not mapped). What is not mapped keeps its
//! text as the licence's name. The texts are the `License-File:` paths (under
//! `licenses/` for PEP 639, at the top of the `.dist-info` before it), else the
//! `LICENSE*`, `COPYING*` and `NOTICE*` files found there.

use std::fs;
use std::path::Path;

/// What a distribution says of its licence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct License {
    /// An SPDX licence expression, when the metadata gives one or names one unambiguously.
    pub expression: Option<String>,
    /// Otherwise the metadata's own words (a classifier or the `License:` field's first
    /// line), if any.
    pub name: Option<String>,
    /// The licence texts, relative to the directory the distribution is installed in.
    pub files: Vec<String>,
}

/// Classifiers and `License:` values that name one SPDX licence.
const KNOWN: &[(&str, &str)] = &[
    ("MIT License", "MIT"),
    ("MIT", "MIT"),
    ("MIT No Attribution License (MIT-0)", "MIT-0"),
    ("Apache Software License", "Apache-2.0"),
    ("Apache 2.0", "Apache-2.0"),
    ("Apache License 2.0", "Apache-2.0"),
    ("Apache License, Version 2.0", "Apache-2.0"),
    ("Apache-2.0", "Apache-2.0"),
    ("ISC License (ISCL)", "ISC"),
    ("ISC", "ISC"),
    ("Python Software Foundation License", "PSF-2.0"),
    ("PSF", "PSF-2.0"),
    ("Mozilla Public License 2.0 (MPL 2.0)", "MPL-2.0"),
    ("MPL-2.0", "MPL-2.0"),
    ("The Unlicense (Unlicense)", "Unlicense"),
    ("Unlicense", "Unlicense"),
    ("zlib/libpng License", "Zlib"),
    ("BSD-2-Clause", "BSD-2-Clause"),
    ("BSD-3-Clause", "BSD-3-Clause"),
    ("0BSD", "0BSD"),
    (
        "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication",
        "CC0-1.0",
    ),
    ("CC0-1.0", "CC0-1.0"),
    ("Boost Software License 1.0 (BSL-1.0)", "BSL-1.0"),
    ("Historical Permission Notice and Disclaimer (HPND)", "HPND"),
    ("HPND", "HPND"),
    (
        "GNU Lesser General Public License v2 or later (LGPLv2+)",
        "LGPL-2.0-or-later",
    ),
    (
        "GNU Lesser General Public License v3 or later (LGPLv3+)",
        "LGPL-3.0-or-later",
    ),
    (
        "GNU General Public License v2 or later (GPLv2+)",
        "GPL-2.0-or-later",
    ),
    (
        "GNU General Public License v3 or later (GPLv3+)",
        "GPL-3.0-or-later",
    ),
];

fn known(words: &str) -> Option<&'static str> {
    let words = words.trim();
    KNOWN.iter().find(|(k, _)| *k == words).map(|(_, id)| *id)
}

/// The licence of the distribution whose `.dist-info` is `dist_info`, given its METADATA.
pub fn read(metadata: &str, dist_info: &Path) -> License {
    let headers: Vec<(&str, &str)> = metadata
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect();
    let all = |key: &'static str| {
        headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    };
    let mut license = License::default();
    if let Some(expr) = all("License-Expression").next().filter(|e| !e.is_empty()) {
        license.expression = Some(expr.to_owned());
    } else {
        let classifiers: Vec<&str> = all("Classifier")
            .filter_map(|c| c.strip_prefix("License ::"))
            .map(|c| c.rsplit("::").next().unwrap_or(c).trim())
            .filter(|c| *c != "OSI Approved")
            .collect();
        let field = all("License").next().filter(|f| !f.is_empty());
        let ids: Vec<&str> = classifiers.iter().filter_map(|c| known(c)).collect();
        license.expression = match (&ids[..], field.and_then(known)) {
            ([id], _) if ids.len() == classifiers.len() => Some((*id).to_owned()),
            ([], Some(id)) if classifiers.is_empty() => Some(id.to_owned()),
            _ => None,
        };
        if license.expression.is_none() {
            license.name = classifiers
                .first()
                .map(|c| (*c).to_owned())
                .or_else(|| field.and_then(|f| f.lines().next()).map(short));
        }
    }
    let dir_name = dist_info
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for declared in all("License-File") {
        let under = format!("licenses/{declared}");
        let found = [under.as_str(), declared]
            .into_iter()
            .find(|p| safe(p) && dist_info.join(p).is_file());
        if let Some(p) = found {
            license.files.push(format!("{dir_name}/{p}"));
        }
    }
    if license.files.is_empty() {
        license.files = conventional(dist_info, &dir_name);
    }
    license
}

/// A declared path that stays inside the `.dist-info`.
fn safe(path: &str) -> bool {
    Path::new(path)
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)))
}

/// `LICENSE*`, `COPYING*`, `NOTICE*` and `AUTHORS*` at the top of the `.dist-info` or in
/// its `licenses/`, for metadata that names none.
fn conventional(dist_info: &Path, dir_name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["", "licenses/"] {
        let Ok(entries) = fs::read_dir(dist_info.join(sub)) else {
            continue;
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                let upper = n.to_ascii_uppercase();
                ["LICENSE", "LICENCE", "COPYING", "NOTICE", "AUTHORS"]
                    .iter()
                    .any(|p| upper.starts_with(p))
            })
            .collect();
        names.sort();
        out.extend(names.into_iter().map(|n| format!("{dir_name}/{sub}{n}")));
    }
    out
}

/// A free-text licence field, cut to a name's length.
fn short(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(metadata: &str, files: &[&str]) -> License {
        let dir = tempfile::tempdir().unwrap();
        let info = dir.path().join("x-1.0.dist-info");
        for f in files {
            let p = info.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, "text").unwrap();
        }
        fs::create_dir_all(&info).unwrap();
        read(metadata, &info)
    }

    #[test]
    fn pep_639_expression_and_files() {
        let l = with(
            "Name: x\nLicense-Expression: BSD-3-Clause AND MIT\nLicense-File: LICENSE.txt\nLicense-File: vendor/COPYING\n\nbody",
            &["licenses/LICENSE.txt", "licenses/vendor/COPYING"],
        );
        assert_eq!(l.expression.as_deref(), Some("BSD-3-Clause AND MIT"));
        assert_eq!(
            l.files,
            [
                "x-1.0.dist-info/licenses/LICENSE.txt",
                "x-1.0.dist-info/licenses/vendor/COPYING"
            ]
        );
    }

    #[test]
    fn classifiers_map_only_without_doubt() {
        let mit = with(
            "Name: x\nClassifier: License :: OSI Approved :: MIT License\nLicense-File: LICENSE\n",
            &["LICENSE"],
        );
        assert_eq!(mit.expression.as_deref(), Some("MIT"));
        assert_eq!(mit.files, ["x-1.0.dist-info/LICENSE"]);
        let bsd = with(
            "Name: x\nClassifier: License :: OSI Approved :: BSD License\n",
            &["COPYING.md"],
        );
        assert_eq!(bsd.expression, None);
        assert_eq!(bsd.name.as_deref(), Some("BSD License"));
        assert_eq!(bsd.files, ["x-1.0.dist-info/COPYING.md"]);
        let two = with(
            "Name: x\nClassifier: License :: OSI Approved :: MIT License\nClassifier: License :: OSI Approved :: BSD License\n",
            &[],
        );
        assert_eq!(two.expression, None);
        let field = with("Name: x\nLicense: Apache 2.0\n", &[]);
        assert_eq!(field.expression.as_deref(), Some("Apache-2.0"));
        let prose = with("Name: x\nLicense: Copyright the authors, all rights\n", &[]);
        assert_eq!(prose.expression, None);
        assert!(prose.name.unwrap().starts_with("Copyright"));
    }

    #[test]
    fn declared_paths_stay_inside() {
        let l = with("Name: x\nLicense-File: ../../etc/passwd\n", &[]);
        assert!(l.files.is_empty());
    }
}
