//! The pyk artifact: its trailer and layer table, verified exactly-once extraction of a
//! layer into its cache bucket, the dependency view assembled from units, the deterministic layer writer (feature `write`), and the
//! exec contract. The launcher and the CLI share this code, so they agree on the bytes
//! because they run the same code.

pub mod extract;
mod frames;
pub mod glibc;
pub mod install;
pub mod launch;
pub mod side_by_side;
pub mod trailer;
pub mod view;
#[cfg(feature = "write")]
pub mod write;
