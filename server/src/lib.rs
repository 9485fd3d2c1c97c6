//! `pyk serve`: the package repository.
//!
//! A package is a list of immutable versions and a `latest` pointer that can be moved
//! (promote, rollback, yank); each version is a manifest listing content-addressed
//! blobs, of a pyk executable or of any file. Blobs arrive encrypted with
//! the repository key, are verified by decrypting them as they are stored, and are kept
//! and served exactly as uploaded. Every request carries a single-use token bound to
//! its method, path, query and body ([`nonces`] remembers the used ones). Versions and
//! moves of `latest` may carry their publisher's ed25519 signatures, which the server
//! checks for consistency and stores; clients decide which keys they trust.
//!
//! - [`store`]: a blob store and a registry behind two traits, opened together from a
//!   [`StoreConfig`](store::StoreConfig), and their embedded implementation.
//! - [`serve`]: the server itself; `routes` and `handlers` on `http` (errors,
//!   extractors, JSON, ETags) and `state`; everything it prints goes through `log`.
//! - `dist`: the pyk binaries it hands out, and `install.sh` (no token needed).
//!
//! The protocol it speaks (bodies, rules, the ETag) is `pyk-protocol`'s.

mod auth;
mod binding;
mod catalog;
mod dist;
mod handlers;
mod http;
mod limits;
mod log;
mod metrics;
pub mod nonces;
pub mod retention;
mod routes;
mod serve;
mod state;
pub mod store;
mod upload;
mod verified;

pub use serve::{serve, ServeConfig, DEFAULT_ADDR, DEFAULT_MAX_UPLOAD, DEFAULT_STORE};
