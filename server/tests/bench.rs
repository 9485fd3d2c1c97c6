//! The runners' update check under load: `cargo test --release -p pyk-server --test bench
//! -- --ignored --nocapture`. 64 keep-alive connections ask for one manifest for up to
//! 5 s (the client shares the machine's cores with the server, as it would on a small
//! box). Every request carries its own token (a token is good once), made before the
//! clock starts, so the figures are the server's work: checking the token, remembering
//! its nonce, answering.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;

const CONNECTIONS: usize = 64;
const RUN: Duration = Duration::from_secs(5);
/// Requests made ready per connection (a run ends early when they are used up).
const PER_CONNECTION: usize = 8_000;

/// One request after another on one connection; the latencies of each.
fn hammer(addr: &str, requests: &[Vec<u8>], expect: &str) -> Vec<Duration> {
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
    for request in requests {
        if start.elapsed() >= RUN {
            break;
        }
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
    let key = key();
    let requests: Vec<Vec<Vec<u8>>> = (0..CONNECTIONS)
        .map(|_| {
            (0..PER_CONNECTION)
                .map(|_| {
                    let auth = pyk_crypto::token::authorization(&key, "GET", path, None);
                    format!(
                        "GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: {auth}\r\n{extra}\r\n"
                    )
                    .into_bytes()
                })
                .collect()
        })
        .collect();
    let start = Instant::now();
    let threads: Vec<_> = requests
        .into_iter()
        .map(|requests| {
            let addr = addr.clone();
            std::thread::spawn(move || hammer(&addr, &requests, expect))
        })
        .collect();
    let mut all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let elapsed = start.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "{expect}: {} requests in {elapsed:.1?}, {:.0} req/s, p50 {:?}, p99 {:?}, max {:?}",
        all.len(),
        all.len() as f64 / elapsed.as_secs_f64(),
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
