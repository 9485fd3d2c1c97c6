//! The runners' update check under load: `cargo test --release -p pyk-server --test bench
//! -- --ignored --nocapture`. 64 keep-alive connections ask for one manifest for 5 s
//! (the client shares the machine's cores with the server, as it would on a small box).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

const CONNECTIONS: usize = 64;
const RUN: Duration = Duration::from_secs(5);

/// One request after another on one connection; the latencies of each.
fn hammer(addr: &str, request: &[u8], expect: &str) -> Vec<Duration> {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut latencies = Vec::new();
    let start = Instant::now();
    let mut line = String::new();
    while start.elapsed() < RUN {
        let t = Instant::now();
        writer.write_all(request).unwrap();
        let mut length = 0usize;
        line.clear();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with(expect), "{line}");
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).unwrap();
        latencies.push(t.elapsed());
    }
    latencies
}

fn run(server: &Server, extra: &str, expect: &'static str) {
    let addr = server.base.trim_start_matches("http://").to_owned();
    let path = "/v1/packages/run/bench";
    let auth = pyk_crypto::token::authorization(&key(), "GET", path);
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {auth}\r\n{extra}\r\n")
            .into_bytes();
    let threads: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (addr, request) = (addr.clone(), request.clone());
            std::thread::spawn(move || hammer(&addr, &request, expect))
        })
        .collect();
    let mut all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "{expect}: {} requests, {:.0} req/s, p50 {:?}, p99 {:?}, max {:?}",
        all.len(),
        all.len() as f64 / RUN.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        all[all.len() - 1]
    );
}

#[test]
#[ignore = "a benchmark: run in release mode with --ignored --nocapture"]
fn manifest_check_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_quiet(dir.path(), &[]);
    let m = server
        .client()
        .publish_parts("run", "bench", &[&data(1, 1000), &data(2, 1000)]);
    let etag = format!("\"{}.{}\"", m.manifest.artifact_sha256, m.version);
    run(&server, "", "HTTP/1.1 200");
    run(
        &server,
        &format!("If-None-Match: {etag}\r\n"),
        "HTTP/1.1 304",
    );
}
