//! The repository this machine's config names, as a client: a server (`http://…`), or a
//! bucket read directly (`s3://bucket/prefix`, reached as `[store]` says).

use std::time::Duration;

use anyhow::Result;
use pyk_client::Client;
use pyk_crypto::Key;
use pyk_s3::{Bucket, Location};

use crate::config::Config;

/// For commands a person waits on (publish, list, promote, pull…): writes are signed
/// with the write key, and a silent server is given 10 s.
pub fn client(config: &Config) -> Result<Client> {
    connect(config, config.write_key()?, Duration::from_secs(10))
}

/// For what creates versions or moves `latest` (publish, push, promote, yank,
/// remove): like [`client`], signing with the config's `signing_key`, else with this
/// publisher's own key (`pyk keygen --signing`'s default file), made on first use;
/// `signing_key = "none"` signs nothing.
pub fn writer(config: &Config) -> Result<Client> {
    let client = client(config)?;
    let key = match config.signing_key()? {
        Some(key) => key,
        None if config.signs_nothing() => {
            crate::output::warning!(
                "`signing_key = \"none\"`: this change is not signed, and machines that pinned \
                 or trust a key refuse what it publishes"
            );
            return Ok(client);
        }
        None => crate::config::own_key()?,
    };
    Ok(client.with_signer(key, config.trusted_keys()?))
}

/// For `pyk foo` (and the Python hook's `pyk resolve`): reads only, and the config's
/// `timeout` (2 s unless set) for each wait, `deadline` for each answer in all and
/// `min_rate` for each download, before the cached copy runs instead.
pub fn runner(config: &Config) -> Result<Client> {
    let deadlines = config.deadlines()?;
    Ok(connect(config, config.read_key()?, config.timeout()?)?.with_deadlines(deadlines))
}

fn connect(config: &Config, write_key: &Key, timeout: Duration) -> Result<Client> {
    let server = config.server()?;
    let key = config.read_key()?;
    match Location::parse(server) {
        // A bucket's own credentials decide who may write; blobs are encrypted with
        // the read key, which every reader has.
        Some(location) => {
            let location = location?;
            let store = config.store()?;
            let settings = store.settings(&location.bucket, timeout);
            Ok(Client::serverless(
                Bucket::new(&settings)?,
                location,
                store.mode(),
                key,
                config.node()?,
            ))
        }
        None => Ok(Client::new(server, key, write_key, config.node()?, timeout)),
    }
}
