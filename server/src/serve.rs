//! The server's life: bind, accept with limits, stop gracefully on SIGTERM/SIGINT.
//!
//! A hyper-util accept loop rather than `axum::serve`, because only hyper's own
//! connection builder has a header-read timeout (slowloris). The optional metrics
//! listener (`--metrics-addr`) serves only `/metrics` and `/healthz`, with no token: it
//! is meant for a loopback or monitoring-network address a scraper reaches.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use pyk_crypto::Key;
use pyk_protocol::api;
use pyk_protocol::valid_name;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::auth::{Auth, Binding, Denied, Keys};
use crate::binding::Bound;
use crate::catalog::Catalog;
use crate::dist::Dist;
use crate::handlers::observe;
use crate::http::ApiError;
use crate::limits::{HEADER_READ_TIMEOUT, MAX_UPLOADS, SHUTDOWN_GRACE};
use crate::log::{self, Line};
use crate::metrics::{Counted, Metered, Metrics, Received, Route};
use crate::nonces::{MemoryNonces, Nonces, DEFAULT_CAPACITY};
use crate::retention::GcSettings;
use crate::routes::router;
use crate::state::App;
use crate::store::{Store, StoreConfig};
use crate::verified::Verified;

pub const DEFAULT_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 7777);
pub const DEFAULT_STORE: &str = "pyk.db";
pub const DEFAULT_MAX_UPLOAD: u64 = 1 << 30;

pub struct ServeConfig {
    pub addr: SocketAddr,
    pub store: StoreConfig,
    pub read_key: Key,
    /// Needed for PUT/POST/DELETE; usually the read key.
    pub write_key: Key,
    pub max_upload: u64,
    /// One log line per request on stderr.
    pub verbose: bool,
    /// Where used request tokens are remembered: this process's memory unless several
    /// servers share a store.
    pub nonces: Arc<dyn Nonces>,
    /// `pyk-<platform>` binaries and their `.sig` files to hand out besides the
    /// server's own binary (`pyk serve --clients DIR`, see `dist`).
    pub clients: Option<PathBuf>,
    /// A second address serving `/metrics` and `/healthz` with no token.
    pub metrics_addr: Option<SocketAddr>,
    /// What `POST /v1/gc` (`pyk gc`) applies (see `retention`).
    pub gc: GcSettings,
}

impl ServeConfig {
    /// The defaults, with one key for reading and writing.
    pub fn new(key: Key) -> ServeConfig {
        ServeConfig {
            addr: DEFAULT_ADDR,
            store: StoreConfig::Embedded {
                path: DEFAULT_STORE.into(),
            },
            read_key: key.clone(),
            write_key: key,
            max_upload: DEFAULT_MAX_UPLOAD,
            verbose: false,
            nonces: Arc::new(MemoryNonces::new(DEFAULT_CAPACITY)),
            clients: None,
            metrics_addr: None,
            gc: GcSettings::default(),
        }
    }
}

/// Serves until SIGTERM or SIGINT, then lets requests in flight finish (up to a minute)
/// and returns. Blocking: it runs its own tokio runtime.
///
/// The accept loop runs as a task on a worker, not in `block_on` on this thread: a
/// connection it accepts is then spawned on the same worker and answered there, where
/// from this thread every connection woke a parked worker first (on a 2-vCPU VM that
/// hop was a good part of a warm `pyk foo`'s update check).
pub fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    runtime.block_on(async {
        tokio::spawn(run(config))
            .await
            .context("the server's accept loop stopped")?
    })
}

async fn run(config: ServeConfig) -> anyhow::Result<()> {
    // Bound first: a port in use must not leave a new, empty store behind.
    let listener = TcpListener::bind(config.addr).await.map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                " (another server listens there: pick another with --port)"
            }
            _ => "",
        };
        anyhow::anyhow!("cannot listen on {}: {e}{hint}", config.addr)
    })?;
    let metrics_listener = match config.metrics_addr {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for metrics: {e}"))?,
        ),
        None => None,
    };
    let store =
        Store::open(&config.store).with_context(|| format!("opening store {}", config.store))?;
    let addr = listener.local_addr()?;
    // Handlers are installed before the banner, so a signal sent once it shows is
    // always a graceful stop.
    let mut stop = Box::pin(stop_signal()?);
    let (shutdown_tx, shutdown) = watch::channel(false);
    let described = store.description().to_owned();
    let shared = store.shared_nonces();
    let catalog = Arc::new(Catalog::new(Arc::new(store)));
    let keys = Keys {
        read: config.read_key,
        write: config.write_key,
    };
    let access = access_line(&keys);
    let app = Arc::new(App {
        catalog,
        auth: Auth {
            keys,
            nonces: config.nonces,
            shared,
        },
        max_upload: config.max_upload,
        uploads: tokio::sync::Semaphore::new(MAX_UPLOADS),
        verified: Verified::default(),
        metrics: Arc::new(Metrics::default()),
        gc: config.gc,
        shutdown,
    });
    // The binary this process runs, handed out for its platform (none if it is gone).
    let own = std::env::current_exe().ok().filter(|p| p.is_file());
    let entry = Arc::new(Entry {
        router: router(app.clone()),
        app: app.clone(),
        dist: Arc::new(Dist::new(own, config.clients)),
        verbose: config.verbose,
    });
    let reach = if addr.ip().is_loopback() {
        "listening on loopback: only this machine can reach it"
    } else {
        "listening on every interface, over plain HTTP: any machine that reaches this port \
         can (its keys guard reads and writes; put TLS in front across untrusted networks)"
    };
    log::note(format_args!("serving {described} on http://{addr}"));
    log::say(access);
    log::note(reach);
    if let Some(listener) = metrics_listener {
        let at = listener.local_addr()?;
        let router = metrics_router(app.clone());
        let mut down = app.shutdown.clone();
        tokio::spawn(async move {
            let stopped = async move {
                let _ = down.wait_for(|d| *d).await;
            };
            if let Err(e) = axum::serve(listener, router)
                .with_graceful_shutdown(stopped)
                .await
            {
                log::warning(format_args!("the metrics listener stopped: {e}"));
            }
        });
        log::note(format_args!(
            "metrics and health on http://{at}/metrics and /healthz, with no token"
        ));
    }

    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors, usually: back off rather than spin.
                        log::warning(format_args!("accept failed: {e}"));
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let entry = entry.clone();
                let service = service_fn(move |req| {
                    let entry = entry.clone();
                    async move { Ok::<_, std::convert::Infallible>(entry.handle(peer, req).await) }
                });
                let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    // A client hanging up or timing out is its own business.
                    let _ = conn.await;
                });
            }
            _ = &mut stop => break,
        }
    }
    drop(listener);
    let _ = shutdown_tx.send(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        log::note(format_args!(
            "requests still running after {} s; stopping anyway",
            SHUTDOWN_GRACE.as_secs()
        ));
    }
    log::note("stopped");
    Ok(())
}

/// What the banner says about access: whether writes need a key of their own, and which
/// keys are in force (by fingerprint, never the keys).
fn access_line(keys: &Keys) -> String {
    let (read, write) = (keys.read.fingerprint(), keys.write.fingerprint());
    if read == write {
        format!(
            "pyk: warning: one key ({read}) opens reads and writes: every reader can publish; \
             set `write_key` to keep them apart"
        )
    } else {
        format!("pyk: writes need the write key ({write}); reads take the read key ({read})")
    }
}

fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// What every request goes through before routing: authentication first (a request
/// without a valid token learns nothing, not even whether a route exists), then
/// counting for `/metrics` and, with `-v`, logging. The exceptions are `/healthz` and
/// pyk itself and its installer (`dist`), for machines with no key.
struct Entry {
    app: Arc<App>,
    router: Router,
    /// pyk itself and its installer: answered before authentication (see `dist`).
    dist: Arc<Dist>,
    verbose: bool,
}

/// The route label of requests no route answered: refused before routing, or unknown.
const NO_ROUTE: &str = "none";

impl Entry {
    async fn handle(&self, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
        let started = Instant::now();
        let method = req.method().clone();
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path(), |p| p.as_str())
            .to_owned();
        let line = self.verbose.then(|| Line {
            who: req
                .headers()
                .get("x-pyk-node")
                .and_then(|v| v.to_str().ok())
                .filter(|v| valid_name(v))
                .map_or_else(|| peer.ip().to_string(), str::to_owned),
            method: method.to_string(),
            path: target.clone(),
            status: StatusCode::OK,
            started,
        });
        let (req, received) = {
            let (parts, body) = req.into_parts();
            let (body, count) = Received::new(body);
            (Request::from_parts(parts, Body::new(body)), count)
        };
        let response = self.answer(&target, req).await;
        let route = response
            .extensions()
            .get::<Route>()
            .map_or_else(|| Arc::from(NO_ROUTE), |r| r.0.clone());
        let metrics = &self.app.metrics;
        metrics.answered(
            &method,
            &route,
            response.status(),
            response.extensions().get::<Counted>().copied(),
        );
        let (parts, body) = response.into_parts();
        let line = line.map(|l| Line {
            status: parts.status,
            ..l
        });
        let metrics = metrics.clone();
        let done = move |sent: u64| {
            let received = received.load(std::sync::atomic::Ordering::Relaxed);
            metrics.finished(&method, &route, started, received, sent);
            if let Some(line) = line {
                line.print(sent, received);
            }
        };
        Response::from_parts(parts, Body::new(Metered::new(body, done)))
    }

    /// The answer, marked with its [`Route`] where one answered.
    async fn answer(&self, target: &str, req: Request<Body>) -> Response<Body> {
        let get = req.method() == axum::http::Method::GET;
        if get && req.uri().path() == "/healthz" {
            return routed(observe::health(&self.app).await, "/healthz");
        }
        if get {
            if let Some(response) = self.dist.answer(req.uri().path(), req.headers()).await {
                return routed(response, "dist");
            }
        }
        let admitted = self
            .app
            .auth
            .check(
                req.method(),
                target,
                req.headers().get(axum::http::header::AUTHORIZATION),
                unix_now(),
            )
            .await;
        match admitted {
            // GET and HEAD bodies are never read.
            Ok(Binding::Body(expected))
                if req.method() != axum::http::Method::GET
                    && req.method() != axum::http::Method::HEAD =>
            {
                self.route(req.map(|body| Body::new(Bound::new(body, expected))))
                    .await
            }
            Ok(_) => self.route(req).await,
            Err(denied) => {
                self.app.metrics.denied(denied.kind());
                if matches!(denied, Denied::Busy(_)) {
                    self.app.metrics.store_error();
                }
                refuse(denied)
            }
        }
    }

    async fn route(&self, req: Request<Body>) -> Response<Body> {
        match self.router.clone().oneshot(req).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
    }
}

/// Marks a response answered outside the router with its route label.
fn routed(mut response: Response<Body>, route: &str) -> Response<Body> {
    response.extensions_mut().insert(Route(Arc::from(route)));
    response
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn refuse(denied: Denied) -> Response<Body> {
    let error = match denied {
        Denied::Unauthorized => {
            let mut r = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "a valid token for this request is required",
            )
            .into_response();
            r.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Pyk"),
            );
            return r;
        }
        Denied::Forbidden => ApiError::new(StatusCode::FORBIDDEN, "this needs the write key"),
        Denied::Clock(skew) => {
            let mut e = ApiError::new(StatusCode::UNAUTHORIZED, skew.to_string())
                .with_code(Some(api::CODE_CLOCK));
            e.skew = Some(skew.0);
            e
        }
        Denied::Replayed => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this request token was used before: every request needs a fresh one",
        )
        .with_code(Some(api::CODE_REPLAYED)),
        Denied::Busy(e) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    };
    error.into_response()
}

/// The metrics listener's routes: no token, nothing else.
fn metrics_router(app: Arc<App>) -> Router {
    let health = app.clone();
    Router::new()
        .route("/metrics", axum::routing::get(observe::scrape))
        .route(
            "/healthz",
            axum::routing::get(move || async move { observe::health(&health).await }),
        )
        .with_state(app)
}
