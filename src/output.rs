//! What the CLI prints beyond its commands' own lines: status lines and notes (silenced by
//! `-q`), warnings (never silenced), sizes, and progress on stderr (one line per step; bars and spinners only on a
//! terminal, so logs and CI output stay clean). The libraries report through
//! `pyk_protocol::progress::Progress`; this is its one implementation that draws.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use pyk_protocol::progress::{self, Meter};

/// `-q`: set once, before any command runs.
static QUIET: AtomicBool = AtomicBool::new(false);

pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Has a closed stdout end this process as it ends `ls | head`: quietly, by SIGPIPE,
/// rather than with a panic. For listings only: a command that writes to its children's
/// pipes wants the error instead.
pub fn end_quietly_on_closed_pipe() {
    // SAFETY: restoring a signal's default disposition, before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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

/// `pyk: warning: …` on stderr: the one voice of every warning, printed even with `-q`
/// (`-q` silences progress, status lines and notes only).
macro_rules! warning {
    ($($arg:tt)*) => {
        eprintln!("pyk: warning: {}", format_args!($($arg)*))
    };
}
pub(crate) use warning;

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

/// Progress on this process's stderr.
#[derive(Debug, Clone)]
pub struct Progress {
    quiet: bool,
    tty: bool,
    /// Where bars are drawn: transfers run side by side (a program's units download at
    /// once), and each keeps a line of its own.
    bars: MultiProgress,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress {
            quiet,
            tty: std::io::stderr().is_terminal(),
            bars: MultiProgress::new(),
        }
    }

    /// Whether bars and spinners are drawn.
    fn drawn(&self) -> bool {
        !self.quiet && self.tty
    }
}

impl progress::Progress for Progress {
    /// One step line ("  {msg}") on stderr unless quiet.
    fn step(&self, msg: &str) {
        if !self.quiet {
            eprintln!("  {msg}");
        }
    }

    /// A byte-count bar; hidden when quiet or when stderr is not a terminal.
    fn transfer(&self, total: u64, label: &str) -> Box<dyn Meter> {
        if !self.drawn() {
            return Box::new(progress::Quiet);
        }
        let bar = self.bars.add(ProgressBar::new(total));
        if let Ok(style) = ProgressStyle::with_template(
            "  {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label.to_string());
        Box::new(Bar(bar))
    }

    /// A spinner for steps of unknown length; hidden when quiet or not on a terminal.
    fn spinner(&self, label: &str) -> Box<dyn Meter> {
        if !self.drawn() {
            return Box::new(progress::Quiet);
        }
        let spinner = self.bars.add(ProgressBar::new_spinner());
        if let Ok(style) = ProgressStyle::with_template("  {spinner} {msg} {elapsed}") {
            spinner.set_style(style);
        }
        spinner.set_message(label.to_string());
        spinner.enable_steady_tick(Duration::from_millis(120));
        Box::new(Bar(spinner))
    }
}

/// A bar or spinner, cleared when the task it shows ends.
struct Bar(ProgressBar);

impl Meter for Bar {
    fn advance(&self, amount: u64) {
        self.0.inc(amount);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
