//! What the CLI prints beyond its commands' own lines: sizes, and progress bars for the
//! client's transfers.

use indicatif::ProgressBar;
use pyk_runtime_fetch::Progress;

/// `7.1 MiB`, `12.0 KiB`, `512 B`.
pub fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// The client's transfers drawn as the CLI's progress bars.
pub struct Bars<'a>(pub &'a Progress);

impl pyk_client::Progress for Bars<'_> {
    fn transfer(&self, total: u64, label: &str) -> Box<dyn pyk_client::Meter> {
        Box::new(Bar(self.0.bar(total, label)))
    }
}

struct Bar(ProgressBar);

impl pyk_client::Meter for Bar {
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
