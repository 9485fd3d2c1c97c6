//! The artifact's SBOM: a CycloneDX 1.6 JSON document of what it is made of, written as
//! the artifact's `sbom` part (`pyk_artifact::trailer::PART_SBOM`), outside the layers: it
//! names the platform's runtime and wheels, and in the app layer it would make a
//! pure-Python app layer differ between platforms. The trailer records its sha256, and the
//! publisher's signature of the version covers the blob it is published in; `pyk inspect
//! --sbom` reads it back.
//!
//! It lists the runtime (CPython's version, where it came from and the Debian package
//! where dpkg knew it) with the shared libraries bundled in its `lib/` (soname, sha256,
//! package); every third-party distribution (name, version, `pkg:pypi` purl, the sha256 and
//! URL of the file it was installed from, its licence as an SPDX expression where the
//! metadata gives one, and where its licence texts are in the deps layer) with the shared
//! libraries its wheel vendors (auditwheel's `NAME.libs/`, e.g. numpy's openblas). The
//! document depends only on the build's inputs: its timestamp is the build time
//! (`SOURCE_DATE_EPOCH`) and its serial number is derived from its content.

mod license;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use pyk_protocol::Sha256;
use pyk_runtime_fetch::Layer as RuntimeLayer;
use serde_json::{json, Value};

use super::deps::{ArchiveKind, Dist};
use crate::spec::normalize;

/// Where each tree of the build ends up: prefixes of the paths the SBOM gives.
const RUNTIME_PREFIX: &str = "runtime/";
const DEPS_PREFIX: &str = "deps/";
const APP_PREFIX: &str = "app/";

/// What the SBOM describes.
pub struct Inputs<'a> {
    pub name: &'a str,
    pub built: u64,
    /// The runtime layer the artifact embeds (maybe shaken for the app) …
    pub runtime: &'a RuntimeLayer,
    /// … the full runtime it comes from, unpacked …
    pub runtime_dir: &'a Path,
    /// … and the paths the embedded layer holds, when it is not the full one.
    pub runtime_paths: Option<&'a [PathBuf]>,
    /// Every installed distribution, the project's own included.
    pub dists: &'a [Dist],
}

/// The SBOM's text.
pub fn document(inputs: &Inputs) -> Result<String> {
    let mut app = json!({
        "type": "application",
        "bom-ref": "app",
        "name": inputs.name,
    });
    let mut components = vec![runtime(inputs)?];
    let mut refs = vec![Value::from("runtime")];
    for dist in inputs.dists {
        let license = license::read(&metadata(dist)?, &dist.dist_info);
        let prefix = if dist.own { APP_PREFIX } else { DEPS_PREFIX };
        if dist.own {
            app["version"] = dist.version.clone().into();
            set_license(&mut app, &license, prefix);
            continue;
        }
        let component = distribution(dist, &license)?;
        refs.push(component["bom-ref"].clone());
        components.push(component);
    }
    let timestamp = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(inputs.built),
    )
    .to_string();
    let mut bom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{
                "type": "application",
                "name": "pyk",
                "version": env!("CARGO_PKG_VERSION"),
            }]},
            "component": app,
        },
        "components": components,
        "dependencies": [{"ref": "app", "dependsOn": refs}],
    });
    // The serial number names this content: a UUID (version 5 layout) cut from its sha256.
    let digest = Sha256::of(serde_json::to_string(&bom)?.as_bytes()).to_string();
    let mut hex: Vec<char> = digest[..32].chars().collect();
    hex[12] = '5';
    hex[16] = ['8', '9', 'a', 'b'][hex[16].to_digit(16).unwrap_or(0) as usize % 4];
    let hex: String = hex.into_iter().collect();
    bom["serialNumber"] = format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
    .into();
    Ok(serde_json::to_string_pretty(&bom)? + "\n")
}

/// The runtime: CPython, with the libraries in its `lib/` as its components.
fn runtime(inputs: &Inputs) -> Result<Value> {
    let layer = inputs.runtime;
    let origin = |path: &str| layer.origins.iter().find(|o| o.path == path);
    let interpreter = layer.origins.iter().find(|o| o.path.starts_with("bin/"));
    let mut properties = vec![
        property("pyk:source", &layer.source),
        property("pyk:layer-sha256", &layer.sha256),
        property("pyk:arch", &layer.arch),
    ];
    let lib = inputs.runtime_dir.join("lib");
    let mut names: Vec<String> = fs::read_dir(&lib)
        .with_context(|| format!("cannot list {}", lib.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".so"))
        .collect();
    let embedded = |rel: &Path| {
        inputs
            .runtime_paths
            .is_none_or(|paths| paths.iter().any(|p| p == rel))
    };
    names.retain(|n| embedded(&Path::new("lib").join(n)));
    names.sort();
    let mut libraries = Vec::new();
    for name in names {
        let path = lib.join(&name);
        if !path.is_file() {
            continue;
        }
        let rel = format!("lib/{name}");
        let mut c = shared_library(&path, &format!("runtime:{rel}"), RUNTIME_PREFIX, &rel)?;
        if let Some(o) = origin(&rel) {
            c["purl"] = deb_purl(o).into();
            push_property(&mut c, "pyk:debian-package", &o.package);
        }
        libraries.push(c);
    }
    let text = ["LICENSE.txt", "LICENSE"].iter().find_map(|f| {
        let rel = format!(
            "lib/python{}.{}/{f}",
            layer.python.major, layer.python.minor
        );
        (inputs.runtime_dir.join(&rel).is_file() && embedded(Path::new(&rel)))
            .then(|| format!("{RUNTIME_PREFIX}{rel}"))
    });
    if let Some(text) = text {
        properties.push(property("pyk:license-file", &text));
    }
    let mut c = json!({
        "type": "platform",
        "bom-ref": "runtime",
        "name": "cpython",
        "version": layer.python.to_string(),
        "description": format!("CPython {} ({})", layer.python, layer.source),
        "licenses": [{"expression": "PSF-2.0"}],
        "properties": properties,
        "components": libraries,
    });
    if let Some(o) = interpreter {
        c["purl"] = deb_purl(o).into();
        push_property(&mut c, "pyk:debian-package", &o.package);
    }
    Ok(c)
}

/// A shared library file: its soname (else its file name) and sha256.
fn shared_library(path: &Path, bom_ref: &str, prefix: &str, rel: &str) -> Result<Value> {
    let bytes = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    let soname = goblin::elf::Elf::parse(&bytes)
        .ok()
        .and_then(|elf| elf.soname.map(str::to_owned));
    let mut c = json!({
        "type": "library",
        "bom-ref": bom_ref,
        "name": soname.clone().unwrap_or_else(|| file.clone().into_owned()),
        "hashes": [{"alg": "SHA-256", "content": Sha256::of(&bytes).to_string()}],
        "properties": [property("pyk:path", &format!("{prefix}{rel}"))],
    });
    if let Some(soname) = soname {
        push_property(&mut c, "pyk:soname", &soname);
    }
    Ok(c)
}

/// A third-party distribution, with the shared libraries its wheel vendors.
fn distribution(dist: &Dist, license: &license::License) -> Result<Value> {
    let norm = normalize(&dist.name);
    let bom_ref = format!("pypi:{norm}");
    let mut c = json!({
        "type": "library",
        "bom-ref": bom_ref,
        "name": dist.name,
        "version": dist.version,
        "purl": format!("pkg:pypi/{norm}@{}", purl_escape(&dist.version)),
    });
    set_license(&mut c, license, DEPS_PREFIX);
    if let Some(source) = &dist.source {
        if let Some(sha) = &source.sha256 {
            c["hashes"] = json!([{"alg": "SHA-256", "content": sha}]);
        }
        let kind = match source.kind {
            ArchiveKind::Wheel => "wheel",
            ArchiveKind::Sdist => "sdist",
            ArchiveKind::Directory => "directory",
        };
        c["externalReferences"] = json!([{
            "type": "distribution",
            "url": source.url,
            "comment": kind,
        }]);
    }
    let mut vendored: Vec<PathBuf> = dist
        .files()?
        .into_iter()
        .filter(|f| {
            let mut parts = f.components();
            let top = parts
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned());
            top.is_some_and(|t| t.ends_with(".libs"))
                && f.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(".so"))
        })
        .collect();
    vendored.sort();
    let mut libraries = Vec::new();
    for rel in vendored {
        let path = dist.root().join(&rel);
        if path.is_file() {
            let rel = rel.to_string_lossy();
            libraries.push(shared_library(
                &path,
                &format!("{bom_ref}:{rel}"),
                DEPS_PREFIX,
                &rel,
            )?);
        }
    }
    if !libraries.is_empty() {
        c["components"] = libraries.into();
    }
    Ok(c)
}

fn set_license(c: &mut Value, license: &license::License, prefix: &str) {
    match (&license.expression, &license.name) {
        (Some(expr), _) => c["licenses"] = json!([{"expression": expr}]),
        (None, Some(name)) => c["licenses"] = json!([{"license": {"name": name}}]),
        (None, None) => {}
    }
    for file in &license.files {
        push_property(c, "pyk:license-file", &format!("{prefix}{file}"));
    }
}

fn metadata(dist: &Dist) -> Result<String> {
    let path = dist.dist_info.join("METADATA");
    fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))
}

fn deb_purl(o: &pyk_runtime_fetch::Origin) -> String {
    format!(
        "pkg:deb/debian/{}@{}?arch={}",
        o.package,
        purl_escape(&o.version),
        o.arch
    )
}

/// A purl version: percent-encoded where the purl spec reserves the character.
fn purl_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn property(name: &str, value: &str) -> Value {
    json!({"name": name, "value": value})
}

fn push_property(c: &mut Value, name: &str, value: &str) {
    match c.get_mut("properties").and_then(Value::as_array_mut) {
        Some(list) => list.push(property(name, value)),
        None => c["properties"] = json!([property(name, value)]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purl_versions_are_escaped() {
        assert_eq!(
            purl_escape("1:1.2.13.dfsg-1+deb12u1"),
            "1%3A1.2.13.dfsg-1%2Bdeb12u1"
        );
        assert_eq!(purl_escape("2.1.3"), "2.1.3");
    }
}
