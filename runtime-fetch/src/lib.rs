//! Obtain CPython runtimes and turn them into cached, compressed runtime layers.
//!
//! A runtime layer is a deterministic `.tar.zst` of a relocatable CPython tree with paths
//! relative to the runtime root (`bin/python3`, `lib/python3.X/...`) that needs nothing from
//! the machine but glibc (its floor is recorded on the [`Layer`]). The launcher unpacks it to
//! `<cache>/runtimes/<sha256>/` and runs `bin/python3 -I`. Layers come from
//! python-build-standalone ([`fetch_pbs_release`]), a local archive ([`import_archive`]) or an installed
//! CPython ([`import_installed`]), and are kept in a [`LayerStore`].

mod archive;
mod bundle;
mod download;
mod dpkg;
mod elf;
mod error;
mod installed;
mod layer;
mod pbs;
mod shake;
mod store;
mod strip;
mod version;

pub use archive::import_archive;
pub use dpkg::Origin;
pub use elf::{glibc_floor, glibc_needed, has_elf, machine, GlibcVersion};
pub use error::FetchError;
pub use installed::import_installed;
pub use layer::PYK_PTH;
pub use pbs::{
    checksum_from_sums, fetch_pbs_release, host_triple, resolve, PbsAsset, DEFAULT_BASE_URL,
    PINNED_RELEASE,
};
pub use pyk_protocol::progress::{Meter, Progress, Quiet};
pub use shake::{shake_runtime, Shake};
pub use store::{Layer, LayerStore, Shaken};
pub use version::{PyVersion, PythonRequest, SUPPORTED_MINORS};
