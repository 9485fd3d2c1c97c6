//! The repository this machine's config names, as a client.

use std::time::Duration;

use anyhow::Result;
use pyk_client::Client;

use crate::config::Config;

/// For commands a person waits on (publish, list, promote, pull…): writes are signed
/// with the write key, and a silent server is given 10 s.
pub fn client(config: &Config) -> Result<Client> {
    Ok(Client::new(
        config.server()?,
        config.read_key()?,
        config.write_key()?,
        config.node()?,
        Duration::from_secs(10),
    ))
}

/// For what creates versions or moves `latest` (publish, push, promote, yank,
/// remove): like [`client`], signing with the config's `signing_key`. Without one the
/// change goes unsigned, with a warning: machines that trust keys will refuse it.
pub fn writer(config: &Config) -> Result<Client> {
    let client = client(config)?;
    Ok(match config.signing_key()? {
        Some(key) => client.with_signer(key),
        None => {
            eprintln!(
                "pyk: warning: no signing_key configured: this change is not signed, and \
                 machines that trust keys will refuse what it publishes (`pyk keygen --signing`)"
            );
            client
        }
    })
}

/// For `pyk foo`: reads only, and the config's `timeout` (2 s unless set) before the
/// cached copy runs instead.
pub fn runner(config: &Config) -> Result<Client> {
    let key = config.read_key()?;
    Ok(Client::new(
        config.server()?,
        key,
        key,
        config.node()?,
        config.timeout()?,
    ))
}
