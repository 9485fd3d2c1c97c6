//! Talking to a pyk repository over HTTP: signed requests, bounded waits, streamed and
//! verified blobs; or, with no server, to a repository in an S3-compatible bucket
//! ([`Client::serverless`]), through the same calls with the same checks.
//!
//! Every request carries a fresh, single-use token bound to its method, path, query and
//! body (see `pyk_crypto::token`), made with the read key for reads and the write key
//! for the rest. A client given a signing key signs the versions it publishes and every
//! move of `latest` it asks for; [`Trust`] checks those signatures before anything a
//! repository served runs or is imported. Waits are bounded: connecting, waiting for an
//! answer and any pause inside a body each get the client's timeout, and a runner's
//! client also bounds each answer in all and each download by its size ([`Deadlines`]). Everything that comes back is checked before it
//! is returned: manifests against what was asked for, blobs by decrypting them and
//! hashing their plaintext as they stream.
//!
//! Failures are one [`Error`] whose variants say what went wrong for the caller to act
//! on: the network ([`Error::is_network`]), the key, the server's refusal, damage,
//! or this machine's files; [`Error::distrusts_answer`] says when a cached version may
//! serve instead.

mod blobs;
mod bucket;
mod client;
mod error;
mod gc;
mod local;
mod packages;
mod raw;
mod resolve;
mod trust;
mod whole;

pub use client::{Client, Deadlines};
pub use error::{Damage, Error};
pub use local::{decode_trailer, here, Contents, Packages, Unpacked};
pub use pyk_protocol::progress::{Meter, Progress, Quiet};
pub use raw::{Body, Reply};
pub use resolve::{Request, Resolved, Resolver};
pub use trust::{Answer, Trust, TrustError, Verdict};
