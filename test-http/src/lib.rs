//! What the tests' proxies share (the client's blob cutter, the CLI tests' man in the
//! middle): a listener on 127.0.0.1 that hands each connection to a relay on its own
//! thread, and just enough HTTP/1.1 to pass messages on: heads up to the blank line,
//! bodies by their Content-Length. A dev-dependency only.

use std::io::BufRead;
use std::net::{TcpListener, TcpStream};

/// Listens on 127.0.0.1 for as long as the test runs, handing each connection (and
/// `upstream`'s `host:port`) to `relay` on a thread of its own; returns its `http://`
/// URL.
pub fn listen<F>(upstream: &str, relay: F) -> String
where
    F: Fn(TcpStream, &str) + Clone + Send + 'static,
{
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let (upstream, relay) = (upstream.clone(), relay.clone());
            std::thread::spawn(move || relay(client, &upstream));
        }
    });
    url
}

/// A message head, up to and including the blank line; `None` at the end of the stream.
pub fn head(from: &mut impl BufRead) -> Option<String> {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        if from.read_line(&mut line).ok()? == 0 {
            return None;
        }
        text.push_str(&line);
        if line == "\r\n" {
            return Some(text);
        }
    }
}

/// The Content-Length a head declares (0 without one).
pub fn length(head: &str) -> u64 {
    head.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// Whether the response to `request` carries a body at all (HEAD, 304 and 204 do not,
/// whatever their Content-Length says).
pub fn has_body(request: &str, response: &str) -> bool {
    !(request.starts_with("HEAD ")
        || response.starts_with("HTTP/1.1 304")
        || response.starts_with("HTTP/1.1 204"))
}
