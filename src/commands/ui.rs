//! `pyk ui`: a read-only web page of the repository, served by this process on 127.0.0.1
//! and opened in the browser (as `jupyter` does).
//!
//! Local rather than served by `pyk serve`, because then the page holds no secret: this
//! process reads the repository with the user's config exactly as `pyk list` and `pyk info`
//! do (keys, trusted signers, certificates, a server or a bucket read directly), and the
//! browser only ever talks to it. It is read-only by construction: every route is a GET
//! that calls the client's reading methods. Two guards keep other sites' pages out: it
//! listens on 127.0.0.1 only, and it answers only requests whose `Host` is a loopback
//! name, so a DNS name rebound to 127.0.0.1 gets nothing.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context as _, Result};
use axum::extract::{Path as Route, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pyk_artifact::extract::{self, Limits};
use pyk_artifact::trailer::{Role, Trailer, PART_SBOM};
use pyk_cache::Cache;
use pyk_client::{Answer, Client, Packages, Trust, Verdict};
use pyk_protocol::api::{BlobRef, Manifest, FORMAT_PYK};
use pyk_protocol::{PackageRef, Sha256};
use serde::Deserialize;
use serde_json::{json, Value};

use super::info;
use super::Context;
use crate::api::diff;
use crate::cli::UiArgs;
use crate::output::Progress;
use crate::repo;
use crate::spec::normalize;

/// The page: HTML, CSS and script in one file, built into the binary (no CDN, no build).
const PAGE: &str = include_str!("ui.html");

/// The most bytes of one source file the page shows.
const MAX_SOURCE: u64 = 4 << 20;

/// What every request reads through: the repository's client, what this machine trusts
/// and its cache (for blobs already fetched).
struct Viewer {
    client: Client,
    trust: Trust,
    cache: Cache,
}

pub fn run(ctx: &Context, args: &UiArgs) -> Result<()> {
    let config = ctx.config;
    let cache = ctx.cache()?.clone();
    let viewer = Arc::new(Viewer {
        client: repo::client(config)?,
        trust: config.trust(cache.root())?,
        cache,
    });
    let server = config.server()?.to_owned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the page's server")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, args.port))
            .await
            .with_context(|| {
                format!(
                    "cannot listen on 127.0.0.1:{} (pass --port N, or --port 0 for any free \
                     port)",
                    args.port
                )
            })?;
        let url = format!("http://127.0.0.1:{}/", listener.local_addr()?.port());
        println!("pyk ui: {url} (reading {server}; Ctrl-C stops)");
        std::io::stdout().flush()?;
        if !args.no_browser {
            open_browser(&url);
        }
        axum::serve(listener, routes(viewer))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("the page's server stopped")
    })
}

fn routes(viewer: Arc<Viewer>) -> Router {
    let p = "/api/packages/{kind}/{name}";
    Router::new()
        .route("/", get(page))
        .route("/api/packages", get(packages))
        .route(&format!("{p}/versions"), get(versions))
        .route(&format!("{p}/versions/{{version}}"), get(version))
        .route(&format!("{p}/versions/{{version}}/api"), get(api))
        .route(&format!("{p}/versions/{{version}}/source"), get(source))
        .route(&format!("{p}/diff"), get(difference))
        .with_state(viewer)
        .layer(middleware::from_fn(loopback_only))
}

/// Refuses a request addressed to any name but a loopback one (DNS rebinding), and
/// marks every answer as not to be cached, sniffed or framed.
async fn loopback_only(request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    if !matches!(name, "127.0.0.1" | "localhost" | "[::1]") {
        return (
            StatusCode::FORBIDDEN,
            "pyk ui answers only requests addressed to 127.0.0.1 or localhost\n",
        )
            .into_response();
    }
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // Everything from here: a package's docstrings are text, never markup or script.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                 connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'",
            ),
        ],
        PAGE,
    )
        .into_response()
}

/// Runs `f` (which reads from the repository, blocking) off the async threads and
/// answers its JSON, or `{"error": "one line"}`.
async fn answer(
    viewer: Arc<Viewer>,
    f: impl FnOnce(&Viewer) -> Result<Value> + Send + 'static,
) -> Response {
    let done = tokio::task::spawn_blocking(move || f(&viewer)).await;
    match done {
        Ok(Ok(value)) => Json(value).into_response(),
        Ok(Err(e)) => {
            let line = format!("{e:#}").replace(['\n', '\r'], " ");
            (StatusCode::BAD_GATEWAY, Json(json!({ "error": line }))).into_response()
        }
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": "pyk ui failed to answer this request" })),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct Package {
    kind: String,
    name: String,
}

impl Package {
    fn parse(&self) -> Result<PackageRef> {
        let kind = self
            .kind
            .parse()
            .with_context(|| format!("no package kind {:?} (run or lib)", self.kind))?;
        Ok(PackageRef::new(kind, &self.name)?)
    }
}

#[derive(Deserialize)]
struct Versioned {
    kind: String,
    name: String,
    version: String,
}

impl Versioned {
    fn parse(&self) -> Result<(PackageRef, String)> {
        let package = Package {
            kind: self.kind.clone(),
            name: self.name.clone(),
        };
        Ok((package.parse()?, self.version.clone()))
    }
}

async fn packages(State(v): State<Arc<Viewer>>) -> Response {
    answer(v, |v| {
        let packages = v.client.list()?;
        Ok(json!({ "server": v.client.server(), "packages": packages }))
    })
    .await
}

async fn versions(State(v): State<Arc<Viewer>>, Route(p): Route<Package>) -> Response {
    answer(v, move |v| {
        Ok(serde_json::to_value(v.client.versions(&p.parse()?)?)?)
    })
    .await
}

async fn version(State(v): State<Arc<Viewer>>, Route(p): Route<Versioned>) -> Response {
    answer(v, move |v| {
        let (package, version) = p.parse()?;
        v.detail(&package, &version)
    })
    .await
}

async fn api(State(v): State<Arc<Viewer>>, Route(p): Route<Versioned>) -> Response {
    answer(v, move |v| {
        let (package, version) = p.parse()?;
        let (_, api) = info::load(&v.source(), &package, Some(&version), &quiet())?;
        Ok(serde_json::to_value(api)?)
    })
    .await
}

#[derive(Deserialize)]
struct Pair {
    from: String,
    to: String,
}

async fn difference(
    State(v): State<Arc<Viewer>>,
    Route(p): Route<Package>,
    Query(pair): Query<Pair>,
) -> Response {
    answer(v, move |v| {
        let package = p.parse()?;
        let load = |version: &str| info::load(&v.source(), &package, Some(version), &quiet());
        let ((_, before), (_, after)) = (load(&pair.from)?, load(&pair.to)?);
        let changes: Vec<Value> = diff::diff(&before, &after)
            .changes
            .into_iter()
            .map(|c| {
                let notes = c.parameters.as_ref().map(|p| p.describe());
                let mut value = serde_json::to_value(&c).unwrap_or(Value::Null);
                if let (Some(notes), Some(map)) = (notes, value.as_object_mut()) {
                    map.insert("notes".into(), json!(notes));
                }
                value
            })
            .collect();
        Ok(json!({ "from": pair.from, "to": pair.to, "changes": changes }))
    })
    .await
}

#[derive(Deserialize)]
struct File {
    file: String,
}

async fn source(
    State(v): State<Arc<Viewer>>,
    Route(p): Route<Versioned>,
    Query(file): Query<File>,
) -> Response {
    answer(v, move |v| {
        let (package, version) = p.parse()?;
        let text = v.source_file(&package, &version, &file.file)?;
        Ok(json!({ "file": file.file, "text": text }))
    })
    .await
}

fn quiet() -> Progress {
    Progress::new(true)
}

impl Viewer {
    fn source(&self) -> info::Source<'_> {
        info::Source {
            client: &self.client,
            trust: &self.trust,
            cache: &self.cache,
        }
    }

    /// A version's manifest, checked against what this machine trusts.
    fn manifest(&self, package: &PackageRef, version: &str) -> Result<(Manifest, Verdict)> {
        let manifest = self
            .client
            .version(package, version, None)?
            .context("the server answered 304 to a question pyk did not ask")?;
        let verdict = self.trust.verify(&manifest, Answer::Version)?;
        Ok((manifest, verdict))
    }

    /// What the page shows of one version: who published and signed it, what it runs
    /// on, and the dependencies its lock records.
    fn detail(&self, package: &PackageRef, version: &str) -> Result<Value> {
        let (m, verdict) = self.manifest(package, version)?;
        let signer = m.signature.as_ref().map(|s| s.key.clone());
        let trusted = matches!(verdict, Verdict::Signed(_));
        let mut out = json!({
            "kind": m.kind,
            "name": m.name,
            "version": m.version,
            "published": m.published,
            "publisher": m.publisher,
            "size": m.size,
            "python": m.python,
            "yanked": m.yanked,
            "format": m.format,
            "signer": signer,
            "trusted": trusted,
            "api": m.api.is_some(),
            "localname": m.signed_localname.as_ref().or(m.localname.as_ref()),
            "platforms": m.platform_names(),
        });
        if m.format == FORMAT_PYK {
            let (trailer, blob) = self.trailer(&m)?;
            let glibc = trailer.glibc.map(|(a, b)| format!("{a}.{b}"));
            let map = out.as_object_mut().context("an object")?;
            map.insert("runtime".into(), json!(trailer.runtime_version));
            map.insert("glibc".into(), json!(glibc));
            map.insert("built".into(), json!(trailer.built));
            map.insert("entry".into(), json!(trailer.entry));
            let mut deps = dependencies(&shown_artifact(&m)?, &trailer, &blob)?;
            // A lock seldom names licences; the SBOM the build wrote does.
            let licenses = self.sbom_licenses(&m, &trailer)?;
            for d in deps.iter_mut().filter(|d| d["license"].is_null()) {
                let name = normalize(d["name"].as_str().unwrap_or_default());
                if let Some(license) = licenses.get(&name) {
                    d["license"] = json!(license);
                }
            }
            map.insert("dependencies".into(), json!(deps));
        }
        Ok(out)
    }

    /// The version's trailer and the bytes of its blob (`[pylock.toml][trailer]`),
    /// downloaded once into the cache.
    fn trailer(&self, m: &Manifest) -> Result<(Trailer, Vec<u8>)> {
        let m = &shown_artifact(m)?;
        let bytes = self.kept_blob(m.blobs.last().context("the manifest lists no blobs")?)?;
        let trailer = pyk_client::decode_trailer(m, &bytes)?;
        Ok((trailer, bytes))
    }

    /// The bytes of one of a version's blobs, downloaded (and checked against its name)
    /// into the cache's blobs the first time, read from there after.
    fn kept_blob(&self, blob: &BlobRef) -> Result<Vec<u8>> {
        let packages = Packages::new(&self.cache);
        let path = match packages.blob(&blob.sha256) {
            Some(path) => path,
            None => {
                let sha256: Sha256 = blob.sha256.parse().context("a malformed blob name")?;
                let dir = packages.blobs_dir();
                self.client
                    .download_blob(&sha256, blob.size, &dir, &quiet())?
            }
        };
        std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
    }

    /// `file` from the version's app layer as source.
    fn source_file(&self, package: &PackageRef, version: &str, file: &str) -> Result<String> {
        let (m, _) = self.manifest(package, version)?;
        let (trailer, _) = self.trailer(&m)?;
        let Some(text) = self.app_file(&trailer, file)? else {
            bail!("{file} is not in the app layer as source (compiled to bytecode only)");
        };
        String::from_utf8(text).with_context(|| format!("{file} is not UTF-8 text"))
    }

    /// `file` from the version's app layer, if it is there (the layer's blob alone is
    /// downloaded, into a temp file, and read as extraction reads it).
    fn app_file(&self, trailer: &Trailer, file: &str) -> Result<Option<Vec<u8>>> {
        let layer = trailer
            .layer(Role::App)
            .context("this version has no app layer")?;
        let dir = Packages::new(&self.cache).blobs_dir();
        let tmp = self
            .client
            .download_blob_temp(&layer.sha256, layer.span.len, &dir, &quiet())?;
        let bytes = std::fs::read(tmp.path()).context("cannot read the app layer")?;
        let limits = Limits {
            size: layer.size,
            files: layer.files,
        };
        Ok(extract::read_file(
            &bytes,
            limits,
            Path::new(file),
            MAX_SOURCE,
        )?)
    }

    /// The version's SBOM: its `sbom` part, which is in the first blob (kept like the
    /// trailer's, checked against the manifest's name of it, the part then against the
    /// trailer's hash), or the file in the app layer of a version built while it was kept
    /// there; `None` for a version built before SBOMs.
    fn sbom(&self, m: &Manifest, trailer: &Trailer) -> Result<Option<Vec<u8>>> {
        let Some(part) = trailer.part(PART_SBOM) else {
            return self.app_file(trailer, crate::sbom::IN_APP_LAYER);
        };
        let m = shown_artifact(m)?;
        let blob = self.kept_blob(m.blobs.first().context("the manifest lists no blobs")?)?;
        // The first blob is the artifact's first bytes, and holds every extra part.
        let bytes = usize::try_from(part.span.offset)
            .ok()
            .zip(usize::try_from(part.span.end()).ok())
            .and_then(|(start, end)| blob.get(start..end))
            .context("the SBOM lies outside the version's first blob")?;
        part.check(bytes)?;
        Ok(Some(bytes.to_vec()))
    }

    /// Each distribution's licence as the version's SBOM records it (SPDX expression, else
    /// the licence's name), by distribution name; empty for a version built before SBOMs.
    fn sbom_licenses(&self, m: &Manifest, trailer: &Trailer) -> Result<HashMap<String, String>> {
        let Some(bytes) = self.sbom(m, trailer)? else {
            return Ok(HashMap::new());
        };
        let sbom: Value =
            serde_json::from_slice(&bytes).context("the version's SBOM is not JSON")?;
        let components = sbom["components"].as_array().cloned().unwrap_or_default();
        Ok(components
            .iter()
            .filter_map(|c| {
                let license = &c["licenses"][0];
                let text = license["expression"]
                    .as_str()
                    .or_else(|| license["license"]["id"].as_str())
                    .or_else(|| license["license"]["name"].as_str())?;
                Some((normalize(c["name"].as_str()?), text.to_owned()))
            })
            .collect())
    }
}

/// The one artifact of `m` the page describes: this machine's platform's, else the first
/// the version lists (a version for aarch64 only is still shown on x86_64).
fn shown_artifact(m: &Manifest) -> Result<Manifest> {
    let here = pyk_protocol::dist::platform();
    let names = m.platform_names();
    let shown = match names.iter().any(|p| *p == here) {
        true => here.as_str(),
        false => names.first().copied().unwrap_or(here.as_str()),
    };
    m.for_platform(shown)
        .map_err(|why| anyhow::anyhow!("{} {} version {} {why}", m.kind, m.name, m.version))
}

/// The distributions of the version's lock (`pylock.toml`, checked against the hash the
/// trailer records), each with its licence when the lock names one.
fn dependencies(m: &Manifest, trailer: &Trailer, blob: &[u8]) -> Result<Vec<Value>> {
    let Some(lock) = &trailer.lock else {
        return Ok(Vec::new());
    };
    // The blob is the artifact's last bytes.
    let start = m.size.saturating_sub(blob.len() as u64);
    let bytes = lock
        .span
        .offset
        .checked_sub(start)
        .and_then(|at| usize::try_from(at).ok())
        .zip(usize::try_from(lock.span.len).ok())
        .and_then(|(at, len)| blob.get(at..at.checked_add(len)?))
        .context("the lock lies outside the trailer blob")?;
    if Sha256::of(bytes) != lock.sha256 {
        bail!("the version's lock does not match the hash its trailer records");
    }
    let table: toml::Table = toml::from_str(&String::from_utf8_lossy(bytes))
        .context("the version's lock is not valid TOML")?;
    let packages = table
        .get("packages")
        .and_then(|p| p.as_array())
        .cloned()
        .unwrap_or_default();
    Ok(packages
        .iter()
        .map(|p| {
            let field = |k: &str| p.get(k).and_then(|v| v.as_str());
            let license = field("license").or_else(|| {
                p.get("license")
                    .and_then(|l| l.get("text").or_else(|| l.get("expression")))
                    .and_then(|v| v.as_str())
            });
            json!({ "name": field("name"), "version": field("version"), "license": license })
        })
        .collect())
}

/// Opens `url` with `xdg-open` when there is one; otherwise the printed address is all.
fn open_browser(url: &str) {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|d| d.join("xdg-open").is_file()))
        .unwrap_or(false);
    if !found {
        println!("open {url} in a browser (no xdg-open here)");
        return;
    }
    let child = std::process::Command::new("xdg-open")
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match child {
        // Reaped on a thread of its own: the browser may outlive the wait.
        Ok(mut child) => drop(std::thread::spawn(move || child.wait())),
        Err(e) => println!("open {url} in a browser (xdg-open: {e})"),
    }
}
