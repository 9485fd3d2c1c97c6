//! `pyk inspect --sbom` and `--licenses`: the CycloneDX SBOM the build wrote as the
//! artifact's `sbom` part (`build::sbom`), its hash checked against the trailer's.

use std::fs::File;
use std::path::Path;

use anyhow::{bail, Context, Result};
use pyk_artifact::trailer::{Trailer, PART_SBOM};
use serde_json::Value;

/// Where pyk wrote the SBOM before it was a part of its own: the top of the app layer.
pub const IN_APP_LAYER: &str = "__pyk_sbom__.cdx.json";

/// The SBOM of the artifact at `path`: its `sbom` part, or for an artifact built while
/// the SBOM was in the app layer, that file; `None` for one built before SBOMs.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>> {
    let shown = path.display();
    let file = File::open(path).with_context(|| format!("cannot read {shown}"))?;
    let trailer = Trailer::read(&file).with_context(|| format!("{shown}"))?;
    match trailer
        .read_part(&file, PART_SBOM)
        .with_context(|| format!("{shown}"))?
    {
        Some(bytes) => Ok(Some(bytes)),
        None => crate::api::read_app_file(path, IN_APP_LAYER),
    }
}

/// What to show of the SBOM.
#[derive(Clone, Copy)]
pub enum Show {
    /// The document itself, as stored.
    Document,
    /// Each component's licence and where its text is.
    Licenses,
}

/// Prints the SBOM of the artifact at `path`, calling it `shown`.
pub fn show(path: &Path, shown: &dyn std::fmt::Display, what: Show) -> Result<()> {
    let Some(bytes) = read(path)? else {
        bail!("{shown} has no SBOM (it was built by a pyk older than SBOMs: build it again)");
    };
    // Checked before a byte is printed: what a hand-made trailer calls an SBOM may be
    // anything, terminal escapes included.
    let bom: Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{shown}: its SBOM is not JSON"))?;
    match what {
        Show::Document => {
            std::io::Write::write_all(&mut std::io::stdout().lock(), &bytes)?;
            Ok(())
        }
        Show::Licenses => {
            print_licenses(&bom);
            Ok(())
        }
    }
}

/// One line a component: name, version, licence, then where its texts are (paths in the
/// artifact's layers: `runtime/`, `deps/`, `app/`).
fn print_licenses(bom: &Value) {
    let mut rows = Vec::new();
    let mut add = |c: &Value, parent: Option<&str>| {
        let field = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
        let license = c
            .get("licenses")
            .and_then(Value::as_array)
            .and_then(|l| l.first())
            .and_then(|l| {
                l.get("expression")
                    .or_else(|| l.pointer("/license/id"))
                    .or_else(|| l.pointer("/license/name"))
            })
            .and_then(Value::as_str)
            .unwrap_or("(not declared)")
            .to_owned();
        let texts: Vec<&str> = c
            .get("properties")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|p| p["name"] == "pyk:license-file")
            .filter_map(|p| p["value"].as_str())
            .collect();
        let package = c
            .get("properties")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "pyk:debian-package")
            .and_then(|p| p["value"].as_str());
        let texts = match (texts.is_empty(), package, parent) {
            (false, _, _) => texts.join(", "),
            (true, Some(p), _) => format!("Debian package {p} (its copyright file is not shipped)"),
            (true, None, Some(parent)) => format!("vendored by {parent}: see its texts"),
            (true, None, None) => "no text shipped".into(),
        };
        rows.push((
            format!(
                "{}{}",
                if parent.is_some() { "  " } else { "" },
                field("name")
            ),
            field("version").to_owned(),
            license,
            texts,
        ));
    };
    if let Some(app) = bom.pointer("/metadata/component") {
        add(app, None);
    }
    for c in bom["components"].as_array().into_iter().flatten() {
        add(c, None);
        for sub in c["components"].as_array().into_iter().flatten() {
            add(sub, c["name"].as_str());
        }
    }
    let width =
        |f: fn(&(String, String, String, String)) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let (w0, w1, w2) = (
        width(|r| r.0.chars().count()),
        width(|r| r.1.chars().count()),
        width(|r| r.2.chars().count()),
    );
    for (name, version, license, texts) in &rows {
        println!("{name:<w0$}  {version:<w1$}  {license:<w2$}  {texts}");
    }
}
