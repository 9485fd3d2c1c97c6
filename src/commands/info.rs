//! `pyk info NAME|FILE [MODULE[.NAME]]`: a package's modules, functions, classes and
//! signatures, from the tree `pyk build` recorded. For a published package it is read
//! from the repository (the manifest names the tree's blob): nothing of the package is
//! downloaded or run. Offline, the cached copy's tree is used.

use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context as _, Result};
use pyk_artifact::install;
use pyk_artifact::trailer::{Role, Trailer};
use pyk_cache::Cache;
use pyk_client::{Answer, Client, Packages, Trust};
use pyk_protocol::api::Manifest;
use pyk_protocol::{Kind, PackageRef};

use super::Context;
use crate::api::read_app_file;
use crate::api::tree::{Api, FILE};
use crate::output::Progress;
use crate::repo;

/// What `pyk info` was asked.
pub struct Query<'a> {
    /// A package name (`foo`, `foo@1.2`) or an artifact file.
    pub what: &'a str,
    pub kind: Kind,
    /// `MODULE[.NAME]`.
    pub select: Option<&'a str>,
    pub json: bool,
    /// `--diff FROM TO`: two versions to compare instead.
    pub diff: Option<&'a [String]>,
}

pub fn run(ctx: &Context, query: &Query) -> Result<()> {
    crate::output::end_quietly_on_closed_pipe();
    match query.diff {
        Some([from, to]) => diff(ctx, query, [from, to]),
        _ => show(ctx, query),
    }
    .map_err(|e| crate::hints::wrong_kind(ctx.config, query.kind, query.what, true, e))
}

fn show(ctx: &Context, query: &Query) -> Result<()> {
    let path = Path::new(query.what);
    let (title, api) = if crate::cli::names_a_file(query.what) {
        let trailer = read_trailer(path)?;
        let api = from_artifact(path)?.with_context(|| {
            format!(
                "{} has no API tree (built by an older pyk): rebuild it",
                path.display()
            )
        })?;
        let platform = trailer
            .platform
            .map_or_else(String::new, |p| format!(", {p}"));
        let title = format!(
            "{} {} ({}, Python {}.{}{platform})",
            trailer.kind.as_str(),
            trailer.name,
            path.display(),
            trailer.python.0,
            trailer.python.1
        );
        (title, api)
    } else {
        let (manifest, api) = published(ctx, query)?;
        let title = format!(
            "{} {} {} (Python {}; {})",
            manifest.kind,
            manifest.name,
            manifest.version,
            manifest.python,
            manifest.platform_names().join(", ")
        );
        (title, api)
    };
    print(&title, &api, query)
}

fn print(title: &str, api: &Api, query: &Query) -> Result<()> {
    let Some(select) = query.select else {
        if query.json {
            return emit(&format!("{}\n", serde_json::to_string_pretty(api)?));
        }
        return emit(&format!("{title}\n\n{}", api.render()));
    };
    let Some(found) = api.select(select) else {
        let modules: Vec<&str> = api.modules.iter().map(|m| m.name.as_str()).collect();
        bail!(
            "{}",
            escape_controls(&format!(
                "{title} has no module or public name {select} (its modules: {})",
                if modules.is_empty() {
                    "none".to_owned()
                } else {
                    modules.join(", ")
                }
            ))
        );
    };
    match query.json {
        true => emit(&format!("{}\n", found.json(api)?)),
        false => emit(&found.render()),
    }
}

/// Prints `text` with its control characters escaped; a reader that stops early (`| head`)
/// is not an error.
fn emit(text: &str) -> Result<()> {
    let text = escape_controls(text);
    match std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// `text` with every control character but newline and tab (and every bidirectional
/// override) written as `\u001b`: the tree
/// holds a package's docstrings, and an ESC or OSC sequence in one must not reach the
/// terminal (to move the cursor, retitle the window, hide text). The same escape is
/// JSON's, so `--json` output (where serde escaped C0 already, but not DEL or C1) stays
/// valid.
fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    // And the bidirectional overrides that make text read other than it is.
    let bidi = |c: char| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    let unsafe_char = |c: char| (c.is_control() && c != '\n' && c != '\t') || bidi(c);
    if !text.chars().any(unsafe_char) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            c if !unsafe_char(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04x}", u32::from(c))),
        }
    }
    out.into()
}

/// `pyk info NAME --diff FROM TO`: what changed in the API from one version to the other.
pub fn diff(ctx: &Context, query: &Query, versions: [&str; 2]) -> Result<()> {
    let (config, cache, progress) = (ctx.config, ctx.cache()?, &ctx.progress);
    if crate::cli::names_a_file(query.what) || query.what.contains('@') {
        bail!(
            "--diff compares two published versions of a package: name it without a version \
             or a path (pyk info NAME --diff 1 2)"
        );
    }
    let package = PackageRef::new(query.kind, query.what)?;
    let source = Source {
        client: &repo::client(config)?,
        trust: &config.trust(cache.root())?,
        cache,
    };
    let [from, to] = versions;
    let (_, before) = load(&source, &package, Some(from), progress)?;
    let (_, after) = load(&source, &package, Some(to), progress)?;
    let changes = crate::api::diff::diff(&before, &after);
    match query.json {
        true => emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({
                "kind": package.kind(),
                "name": package.name(),
                "from": from,
                "to": to,
                "changes": changes.changes,
            }))?
        )),
        false => emit(&format!(
            "{} {} {from} → {to}\n\n{}",
            package.kind(),
            package.name(),
            changes.render()
        )),
    }
}

/// The tree recorded in an artifact's app layer, if it has one.
fn from_artifact(path: &Path) -> Result<Option<Api>> {
    let Some(bytes) = read_app_file(path, FILE)? else {
        return Ok(None);
    };
    let api = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: the API tree is not valid", path.display()))?;
    Ok(Some(api))
}

/// The manifest of the package (latest, or `foo@VERSION`) and its tree.
fn published(ctx: &Context, query: &Query) -> Result<(Manifest, Api)> {
    let (config, cache) = (ctx.config, ctx.cache()?);
    let (name, version) = match query.what.split_once('@') {
        Some((name, version)) => (name, Some(version)),
        None => (query.what, None),
    };
    let package = PackageRef::new(query.kind, name)?;
    let source = Source {
        client: &repo::client(config)?,
        trust: &config.trust(cache.root())?,
        cache,
    };
    load(&source, &package, version, &ctx.progress)
}

/// Where published trees are read from: the repository, checked against what this
/// machine trusts, with the cache for blobs and the offline fallback.
pub struct Source<'a> {
    pub client: &'a Client,
    pub trust: &'a Trust,
    pub cache: &'a Cache,
}

/// The manifest of `package` (its latest, or `version`) and its tree, from the
/// repository; offline, from the cached copy.
pub fn load(
    source: &Source,
    package: &PackageRef,
    version: Option<&str>,
    progress: &Progress,
) -> Result<(Manifest, Api)> {
    let Source {
        client,
        trust,
        cache,
    } = *source;
    let name = package.name();
    let packages = Packages::new(cache);
    let answer = match version {
        Some(v) => client.version(package, v, None),
        None => client.current(package, None),
    };
    let manifest = match answer {
        Ok(Some(m)) => m,
        Ok(None) => bail!("the server answered 304 to a question pyk did not ask"),
        Err(e) if e.is_network() => {
            let Some(m) = packages.manifest(package, version, trust) else {
                return Err(anyhow::Error::from(e)
                    .context(format!("{package} has never been fetched on this machine")));
            };
            crate::output::warning!(
                "{:#}; showing the cached {name} version {}",
                anyhow::Error::from(e),
                m.version
            );
            // The tree's blob if an earlier `pyk info` kept it, else the one in the
            // version's unpacked app layer, else the one in its whole artifact.
            if let Some(path) = m.api.as_ref().and_then(|b| packages.blob(&b.sha256)) {
                let api = read_tree(&path, &m)?;
                return Ok((m, api));
            }
            let unpacked = packages
                .trailer(&m)
                .and_then(Result::ok)
                .and_then(|t| t.layer(Role::App).map(|app| app.key()))
                .and_then(|key| cache.hold(install::bucket(Role::App), &key))
                .map(|app| app.dir().join(FILE))
                .filter(|p| p.is_file());
            let api = match unpacked {
                Some(path) => read_tree(&path, &m)?,
                None => {
                    let whole = packages.blob(&m.artifact_sha256).with_context(|| {
                        format!("{package} has never been fetched on this machine")
                    })?;
                    from_artifact(&whole)?.with_context(|| no_tree(&m))?
                }
            };
            return Ok((m, api));
        }
        Err(e) => return Err(e.into()),
    };
    trust.verify(
        &manifest,
        if version.is_some() {
            Answer::Version
        } else {
            Answer::Latest
        },
    )?;
    let blob = manifest.api.as_ref().with_context(|| no_tree(&manifest))?;
    let sha256 = blob.sha256.parse().with_context(|| {
        format!(
            "{} sent a manifest with a malformed API tree blob",
            client.server()
        )
    })?;
    let path = match packages.blob(&blob.sha256) {
        Some(path) => path,
        None => client.download_blob(&sha256, blob.size, &packages.blobs_dir(), progress)?,
    };
    let api = read_tree(&path, &manifest)?;
    Ok((manifest, api))
}

/// The tree in a downloaded blob.
fn read_tree(path: &Path, m: &Manifest) -> Result<Api> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("the API tree of {} {} is not valid", m.name, m.version))
}

fn no_tree(m: &Manifest) -> String {
    format!(
        "{} {} version {} has no API tree (published by an older pyk, or a pushed file)",
        m.kind, m.name, m.version
    )
}

/// Reads the trailer of a built artifact (`pyk publish` reads it through here too).
pub fn read_trailer(path: &Path) -> Result<Trailer> {
    let file = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    Trailer::read(&file).with_context(|| path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("def f()\n\tdoc"), "def f()\n\tdoc");
        assert_eq!(
            escape_controls("a\x1b]0;owned\x07b\u{9b}31m\u{202e}c\x7f"),
            "a\\u001b]0;owned\\u0007b\\u009b31m\\u202ec\\u007f"
        );
    }
}
