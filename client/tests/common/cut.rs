//! A TCP proxy in front of a real server that passes every exchange through except the
//! body of a blob download, which it cuts off half-way: by closing the connection (a
//! server that dies) or by going silent (a server that stalls). Also used by the CLI's
//! end-to-end tests (`tests/repo.rs`).

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;

use pyk_test_http::{has_body, head, length, listen};

#[derive(Clone, Copy, Debug)]
pub enum Cut {
    /// Half the body, then the connection closes.
    Close,
    /// Half the body, then nothing, until the client hangs up.
    Stall,
}

/// Listens on 127.0.0.1 for as long as the test runs; returns its `http://` URL.
pub fn proxy(upstream: &str, cut: Cut) -> String {
    listen(upstream, move |client, upstream| {
        relay(client, upstream, cut);
    })
}

/// One connection: request after request (keep-alive), each head and body passed on.
fn relay(client: TcpStream, upstream: &str, cut: Cut) -> Option<()> {
    let server = TcpStream::connect(upstream).ok()?;
    let (mut to_client, mut to_server) = (client.try_clone().ok()?, server.try_clone().ok()?);
    let mut from_client = BufReader::new(client);
    let mut from_server = BufReader::new(server);
    loop {
        let request = head(&mut from_client)?;
        to_server.write_all(request.as_bytes()).ok()?;
        pass(&mut from_client, &mut to_server, length(&request))?;
        let response = head(&mut from_server)?;
        to_client.write_all(response.as_bytes()).ok()?;
        let len = match has_body(&request, &response) {
            true => length(&response),
            false => 0,
        };
        let blob = request.starts_with("GET /v1/blobs/") && response.starts_with("HTTP/1.1 200");
        if !blob {
            pass(&mut from_server, &mut to_client, len)?;
            continue;
        }
        pass(&mut from_server, &mut to_client, len / 2)?;
        to_client.flush().ok()?;
        match cut {
            Cut::Close => return None,
            Cut::Stall => {
                // Wait for the client to give up and hang up.
                let mut sink = [0u8; 1024];
                while from_client.read(&mut sink).ok()? > 0 {}
                return None;
            }
        }
    }
}

fn pass(from: &mut impl Read, to: &mut impl Write, len: u64) -> Option<()> {
    let copied = std::io::copy(&mut from.take(len), to).ok()?;
    (copied == len).then_some(())
}
