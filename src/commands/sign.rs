//! `pyk sign METHOD PATH`: prints the Authorization header a request would carry, for
//! curl and for tests of the server's token checks.

use std::io::Write;
use std::path::Path;

use anyhow::{Context as _, Result};

use super::Context;

pub fn run(ctx: &Context, method: &str, path: &str, body: Option<&Path>, count: u64) -> Result<()> {
    let body = match body {
        Some(file) => {
            std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?
        }
        None => Vec::new(),
    };
    let field = pyk_protocol::request::body_field(method, path, &body);
    let key = match method {
        "GET" | "HEAD" => ctx.config.read_key()?,
        _ => ctx.config.write_key()?,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for _ in 0..count {
        let token = pyk_crypto::token::authorization(key, method, path, field.as_ref());
        out.write_all(format!("{token}\n").as_bytes())?;
    }
    Ok(())
}
