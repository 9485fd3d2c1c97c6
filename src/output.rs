//! What the CLI prints beyond its commands' own lines: sizes, and progress bars for the
//! client's transfers.

use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::ProgressBar;
use pyk_runtime_fetch::Progress;

/// `-q`: set once, before any command runs.
static QUIET: AtomicBool = AtomicBool::new(false);

pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// A status line on stdout (what a command did: "wrote …", "removed …"), silenced by `-q`.
/// What a command is asked to show (a list, a key, a path) uses `println!`: `-q` keeps it.
macro_rules! status {
    ($($arg:tt)*) => {
        if !$crate::output::quiet() {
            println!($($arg)*);
        }
    };
}
pub(crate) use status;

/// `pyk: note: …` on stderr, silenced by `-q` (warnings and errors are not).
macro_rules! note {
    ($($arg:tt)*) => {
        if !$crate::output::quiet() {
            eprintln!("pyk: note: {}", format_args!($($arg)*));
        }
    };
}
pub(crate) use note;

/// `1.4 GiB`, `7.1 MiB`, `12.0 KiB`, `512 B`: binary units, the only ones pyk prints (its
/// progress bars too).
pub fn human_size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / f64::from(1 << 30)),
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
