//! What an operator's tools see: `/healthz` with no token, 200 while the store answers
//! and 503 once it is gone (a directory moved away; a bucket whose service stops
//! answering), and `/metrics`, parsed by the Prometheus project's own Python parser
//! (`prometheus_client`, installed by scripts/setup.sh), whose counters move by exactly
//! the requests the test made.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use pyk_s3::seaweedfs;

/// Every sample of a scrape, `name{label="v",…}` (labels sorted) to its value, as
/// `prometheus_client.parser` reads the text; `None` (said on stderr) when the Python
/// package is not installed.
fn parse(text: &str) -> Option<HashMap<String, f64>> {
    const SCRIPT: &str = r#"
import json, sys
try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit(3)
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        out[f"{s.name}{{{labels}}}"] = s.value
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.code() == Some(3) {
        eprintln!(
            "skipping the /metrics parse: Python's prometheus_client is not installed \
             (scripts/setup.sh installs prometheus-client==0.26.0)"
        );
        return None;
    }
    assert!(out.status.success(), "the parser refused:\n{text}");
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn scrape(c: &Client) -> Option<HashMap<String, f64>> {
    let r = c.get("/metrics");
    assert_eq!(r.status, 200);
    parse(std::str::from_utf8(&r.body).unwrap())
}

fn get(m: &HashMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

fn requests(method: &str, route: &str, status: u16) -> String {
    format!("pyk_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}}")
}

fn moved(before: &HashMap<String, f64>, after: &HashMap<String, f64>, series: &str) -> f64 {
    get(after, series) - get(before, series)
}

fn health(c: &Client) -> (u16, String) {
    let r = c.send_raw("GET", "/healthz", None, &[], ());
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

#[test]
fn health_and_metrics_on_a_directory_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let server = Server::start(&store, &[]);
    let c = server.client();
    assert_eq!(health(&c), (200, "ok\n".to_owned()));
    // /metrics wants the read key here.
    assert_eq!(c.send_raw("GET", "/metrics", None, &[], ()).status, 401);
    let Some(before) = scrape(&c) else {
        return;
    };

    for _ in 0..3 {
        assert_eq!(c.get("/v1/packages/run/absent").status, 404);
    }
    let (sha_a, a) = encrypt(&c.blob_key, b"runtime bytes");
    let (sha_b, b) = encrypt(&c.blob_key, b"app bytes, version 1");
    assert_eq!(c.put_blob(&sha_a, &a).status, 201);
    assert_eq!(c.put_blob(&sha_b, &b).status, 201);
    let mut request = request(
        sha256_hex(b"runtime bytesapp bytes, version 1"),
        33,
        vec![
            pyk_protocol::api::BlobRef {
                sha256: sha_a,
                size: 13,
            },
            pyk_protocol::api::BlobRef {
                sha256: sha_b,
                size: 20,
            },
        ],
    );
    request.version = Some("1".into());
    assert_eq!(c.publish("run", "app", &request).status, 201);
    assert_eq!(c.publish("run", "app", &request).status, 409);
    assert_eq!(c.send_raw("GET", "/v1/packages", None, &[], ()).status, 401);
    let made = 3 + 2 + 2 + 1;

    // Latency and bytes are recorded when a response body ends, just after the client
    // has it: wait for the two uploads' to land.
    let put = "method=\"PUT\",route=\"/v1/blobs/{sha256}\"";
    let duration = format!("pyk_http_request_duration_seconds_count{{{put}}}");
    let start = Instant::now();
    let after = loop {
        let m = scrape(&c).unwrap();
        if moved(&before, &m, &duration) >= 2.0 || start.elapsed() > Duration::from_secs(5) {
            break m;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let scrapes = get(&after, &requests("GET", "/metrics", 200))
        - get(&before, &requests("GET", "/metrics", 200));
    let expect = [
        (requests("GET", "/v1/packages/{kind}/{name}", 404), 3.0),
        (requests("PUT", "/v1/blobs/{sha256}", 201), 2.0),
        (requests("POST", "/v1/packages/{kind}/{name}", 201), 1.0),
        (requests("POST", "/v1/packages/{kind}/{name}", 409), 1.0),
        (requests("GET", "none", 401), 1.0),
        (
            "pyk_refusals_total{kind=\"version-exists\"}".to_owned(),
            1.0,
        ),
        (
            "pyk_auth_denials_total{kind=\"unauthorized\"}".to_owned(),
            1.0,
        ),
        (duration.clone(), 2.0),
        (
            format!("pyk_http_received_bytes_total{{{put}}}"),
            (a.len() + b.len()) as f64,
        ),
        ("pyk_store_errors_total{}".to_owned(), 0.0),
    ];
    for (series, by) in &expect {
        assert_eq!(moved(&before, &after, series), *by, "{series}");
    }
    // Every request counted once: those above, and the scrapes before the last.
    let total = |m: &HashMap<String, f64>| {
        m.iter()
            .filter(|(k, _)| k.starts_with("pyk_http_requests_total{"))
            .map(|(_, v)| v)
            .sum::<f64>()
    };
    assert_eq!(total(&after) - total(&before), made as f64 + scrapes);
    // No package name reaches a label.
    assert!(!after
        .keys()
        .any(|k| k.contains("app") || k.contains("absent")));

    // The store moved away under the server: unhealthy, and counted.
    std::fs::rename(&store, dir.path().join("moved")).unwrap();
    assert_eq!(health(&c), (503, "unavailable\n".to_owned()));
    let gone = scrape(&c).unwrap();
    assert_eq!(moved(&after, &gone, "pyk_store_errors_total{}"), 1.0);
    assert!(server.log().contains("health check: the store fails"));
}

/// The line the server prints about its metrics listener, once it has.
fn metrics_base(server: &Server) -> String {
    let start = Instant::now();
    loop {
        if let Some(at) = server.log().lines().find_map(|l| {
            l.strip_prefix("pyk: metrics and health on ")
                .and_then(|rest| rest.split("/metrics").next())
                .map(str::to_owned)
        }) {
            return at;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_metrics_listener_needs_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd_server = Server::start_with_args(
        &dir.path().join("store"),
        &[],
        &["--metrics-addr=127.0.0.1:0"],
    );
    let base = metrics_base(&cmd_server);
    let open = Client::new(&base, key());
    let r = open.send_raw("GET", "/metrics", None, &[], ());
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    if let Some(m) = parse(&text) {
        assert!(m.contains_key("pyk_store_errors_total{}"), "{text}");
    }
    assert_eq!(health(&open), (200, "ok\n".to_owned()));
    // Only those two: no package route without a token, there or anywhere.
    assert_eq!(
        open.send_raw("GET", "/v1/packages", None, &[], ()).status,
        404
    );
    cmd_server.signal("TERM");
    assert!(cmd_server.wait_exit(Duration::from_secs(10)).is_some());
}

/// A TCP forwarder in front of the bucket's service: stopping it is, for the server,
/// the service gone (connections refused, open ones cut).
struct Forwarder {
    addr: String,
    stop: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Forwarder {
    fn new(to: &str) -> Forwarder {
        let to = to.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (stopping, conns) = (stop.clone(), open.clone());
        std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let upstream = TcpStream::connect(&to).unwrap();
                        let mut conns = conns.lock().unwrap();
                        conns.push(client.try_clone().unwrap());
                        conns.push(upstream.try_clone().unwrap());
                        for (mut from, mut to) in [
                            (client.try_clone().unwrap(), upstream.try_clone().unwrap()),
                            (upstream, client),
                        ] {
                            std::thread::spawn(move || {
                                let _ = std::io::copy(&mut from, &mut to);
                                let _ = to.shutdown(Shutdown::Write);
                            });
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            // The listener is dropped here: new connections are refused.
        });
        Forwarder { addr, stop, open }
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for c in self.open.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn health_on_a_bucket_whose_service_stops() {
    let Some(weed) = seaweedfs::shared() else {
        return;
    };
    let forwarder = Forwarder::new(weed.endpoint());
    let env = [
        ("AWS_ENDPOINT_URL", forwarder.addr.as_str()),
        ("AWS_ACCESS_KEY_ID", seaweedfs::ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", seaweedfs::SECRET_KEY),
    ];
    let store = format!("s3://{}/observe-tests/health", seaweedfs::BUCKET);
    let server = Server::start(Path::new(&store), &env);
    let c = server.client();
    assert_eq!(health(&c), (200, "ok\n".to_owned()));
    forwarder.stop();
    assert_eq!(health(&c), (503, "unavailable\n".to_owned()));
    assert!(server.log().contains("health check: the store fails"));
}
