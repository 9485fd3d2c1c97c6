//! `pyk serve`: runs the repository server (pyk-server) with this machine's config.

use anyhow::{Context as _, Result};

use crate::cli::ServeArgs;
use crate::config::Config;

/// `verbose` (`-v`): one line per request answered.
pub fn run(args: ServeArgs, config: &Config, verbose: bool) -> Result<()> {
    let read_key = config.read_key()?.clone();
    let write_key = config.write_key()?.clone();
    let (host, port) = match (args.host, args.port) {
        (Some(host), Some(port)) => (host, port),
        (host, port) => {
            let listen = config.listen()?;
            (host.unwrap_or(listen.0), port.unwrap_or(listen.1))
        }
    };
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .with_context(|| format!("cannot listen on {host}:{port}"))?
        .next()
        .with_context(|| format!("{host} resolves to no address"))?;
    let mut serve = pyk_server::ServeConfig::new(read_key);
    serve.addr = addr;
    serve.store = config.store()?.store(
        args.store.as_deref().or(args.path.as_deref()),
        pyk_server::DEFAULT_STORE,
    )?;
    serve.write_key = write_key;
    serve.max_upload = args.max_upload * 1024 * 1024;
    serve.verbose = verbose;
    serve.clients = args.clients;
    serve.metrics_addr = args.metrics_addr;
    if let Some(file) = &args.retention {
        serve.gc = pyk_server::retention::read(file)?;
    }
    pyk_server::serve(serve)
}
