//! What a build resolved, as a PEP 751 `pylock.toml`: every installed third-party
//! distribution with its version and the file it came from (URL and sha256, where the
//! installer said). The artifact carries it (the trailer's `lock`); `pyk inspect` prints it.

use super::deps::{ArchiveKind, Dist};

/// The lock of `dists` (the project's own distribution is the app, not a dependency);
/// `None` when there is no third-party distribution.
pub fn pylock(dists: &[Dist]) -> Option<String> {
    let mut dists: Vec<&Dist> = dists.iter().filter(|d| !d.own).collect();
    if dists.is_empty() {
        return None;
    }
    dists.sort_by_key(|d| d.name.to_lowercase());
    let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
    let mut out = String::from("lock-version = \"1.0\"\ncreated-by = \"pyk\"\n");
    for d in dists {
        out.push_str(&format!(
            "\n[[packages]]\nname = {}\nversion = {}\n",
            q(&d.name.to_lowercase()),
            q(&d.version)
        ));
        let Some(source) = &d.source else {
            continue;
        };
        let mut file = format!("url = {}", q(&source.url));
        if let Some(size) = source.size {
            file.push_str(&format!(", size = {size}"));
        }
        if let Some(sha) = &source.sha256 {
            file.push_str(&format!(", hashes = {{ sha256 = {} }}", q(sha)));
        }
        out.push_str(&match source.kind {
            ArchiveKind::Wheel => format!("wheels = [{{ {file} }}]\n"),
            ArchiveKind::Sdist => format!("sdist = {{ {file} }}\n"),
            ArchiveKind::Directory => format!("directory = {{ path = {} }}\n", q(&source.url)),
        });
    }
    Some(out)
}
