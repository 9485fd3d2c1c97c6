//! A man in the middle for the end-to-end tests: a TCP proxy on 127.0.0.1 in front of a
//! real server that passes every exchange through, after letting the test rewrite the
//! request head (`on_request`) and the response body (`on_response`), and, with
//! [`paced`], sending chosen responses a byte at a time. It speaks just enough HTTP/1.1
//! for pyk's runners: bodies with a Content-Length, keep-alive.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use pyk_test_http::{has_body, head, length, listen};

/// Rewrites a request head (request line and headers, up to the blank line).
pub type OnRequest = Arc<dyn Fn(&mut String) + Send + Sync>;
/// Given the request head, rewrites the response head and body (the proxy sets the
/// Content-Length to fit).
pub type OnResponse = Arc<dyn Fn(&str, &mut String, &mut Vec<u8>) + Send + Sync>;

/// Given the request head, the pause after each byte of its response (`None`: sent
/// whole).
pub type Pace = Arc<dyn Fn(&str) -> Option<Duration> + Send + Sync>;

/// Listens for as long as the test runs; returns its `http://` URL.
pub fn proxy(upstream: &str, on_request: OnRequest, on_response: OnResponse) -> String {
    paced(upstream, on_request, on_response, Arc::new(|_| None))
}

/// [`proxy`], sending each response `pace` gives a pause for one byte at a time: a
/// server (or a proxy in front of it) that trickles, never quite silent.
pub fn paced(upstream: &str, on_request: OnRequest, on_response: OnResponse, pace: Pace) -> String {
    listen(upstream, move |client, upstream| {
        relay(client, upstream, &*on_request, &*on_response, &*pace);
    })
}

fn relay(
    client: TcpStream,
    upstream: &str,
    on_request: &dyn Fn(&mut String),
    on_response: &dyn Fn(&str, &mut String, &mut Vec<u8>),
    pace: &dyn Fn(&str) -> Option<Duration>,
) -> Option<()> {
    let mut to_client = client.try_clone().ok()?;
    let mut from_client = BufReader::new(client);
    let mut server = None;
    loop {
        let mut request = head(&mut from_client)?;
        let mut body = vec![0u8; length(&request) as usize];
        from_client.read_exact(&mut body).ok()?;
        on_request(&mut request);
        // The server may have closed an idle keep-alive connection while the client was
        // busy (a slow machine): open a new one, as a client would, rather than hang up.
        let (mut response, mut from_server) =
            match exchange(server.take(), upstream, &request, &body) {
                Some(answer) => answer,
                None => exchange(None, upstream, &request, &body)?,
            };
        let mut body = vec![
            0u8;
            match has_body(&request, &response) {
                true => length(&response) as usize,
                false => 0,
            }
        ];
        from_server.read_exact(&mut body).ok()?;
        server = Some(from_server);
        on_response(&request, &mut response, &mut body);
        if has_body(&request, &response) {
            response = with_length(&response, body.len());
        }
        let whole = [response.as_bytes(), &body].concat();
        match pace(&request) {
            None => to_client.write_all(&whole).ok()?,
            Some(pause) => {
                for byte in whole.chunks(1) {
                    to_client.write_all(byte).ok()?;
                    std::thread::sleep(pause);
                }
            }
        }
    }
}

/// Sends one request upstream (on `server`, else on a new connection) and reads the
/// response head.
fn exchange(
    server: Option<BufReader<TcpStream>>,
    upstream: &str,
    request: &str,
    body: &[u8],
) -> Option<(String, BufReader<TcpStream>)> {
    let mut server = match server {
        Some(server) => server,
        None => BufReader::new(TcpStream::connect(upstream).ok()?),
    };
    server.get_mut().write_all(request.as_bytes()).ok()?;
    server.get_mut().write_all(body).ok()?;
    Some((head(&mut server)?, server))
}

fn with_length(head: &str, len: usize) -> String {
    let mut lines: Vec<String> = head
        .lines()
        .filter(|l| {
            !l.is_empty()
                && !l
                    .split_once(':')
                    .is_some_and(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        })
        .map(str::to_owned)
        .collect();
    lines.push(format!("content-length: {len}"));
    lines.join("\r\n") + "\r\n\r\n"
}
