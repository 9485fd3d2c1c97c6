//! The API tree `pyk build` records in an app layer: its format, and reading it out of an
//! artifact without unpacking (what `pyk info` and `pyk publish` read).

pub mod diff;
mod layer;
pub mod tree;

pub use layer::read_app_file;
