//! `pyk gc [--dry-run]`: asks the server (with the write key) to apply its retention
//! policy (`pyk serve --retention FILE`) and collect the blobs no version references;
//! `--dry-run` lists what would go and changes nothing. A serverless repository (a
//! bucket) has no server to hold a policy: `pyk gc --retention FILE` applies one to it
//! from here, deciding and sweeping as a server does.

use std::path::Path;

use anyhow::{bail, Result};
use pyk_client::{Body, Client};
use pyk_protocol::api::{ErrorBody, GcRequest, GcResponse};

use super::Context;
use crate::output::status;
use crate::repo::client;

pub fn run(ctx: &Context, dry_run: bool, retention: Option<&Path>) -> Result<()> {
    let client = client(ctx.config)?;
    let answer = match retention {
        Some(file) => {
            let settings = pyk_server::retention::read(file)?;
            client.collect(&settings.retention, settings.blob_grace, dry_run)?
        }
        None if client.is_serverless() => bail!(
            "{} is a bucket, with no server to hold a retention policy: give one with \
             `pyk gc --retention FILE`",
            client.server()
        ),
        None => ask_server(&client, dry_run)?,
    };
    let verb = if dry_run { "would remove" } else { "removed" };
    for v in &answer.removed {
        status!("{verb} {} {} version {}", v.kind, v.name, v.version);
    }
    if answer.removed.is_empty() {
        status!("the retention policy keeps every version");
    }
    if !dry_run {
        status!(
            "collected {} unreferenced blob(s), {}",
            answer.blobs,
            bytesize::ByteSize(answer.bytes)
        );
    }
    Ok(())
}

/// `POST /v1/gc`: the server applies its own policy.
fn ask_server(client: &Client, dry_run: bool) -> Result<GcResponse> {
    let body = serde_json::to_vec(&GcRequest { dry_run })?;
    let reply = client.send(
        "POST",
        "/v1/gc",
        &[("Content-Type", "application/json")],
        Body::Bytes(body),
    )?;
    if reply.status != 200 {
        let why = serde_json::from_slice::<ErrorBody>(&reply.body)
            .map_or_else(|_| format!("status {}", reply.status), |e| e.error);
        bail!("the server refused gc: {why}");
    }
    Ok(serde_json::from_slice(&reply.body)?)
}
