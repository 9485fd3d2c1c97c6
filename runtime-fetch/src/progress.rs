//! Terse progress output on stderr: one line per step, and bars/spinners only on a terminal so
//! logs and CI output stay clean.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Clone)]
pub struct Progress {
    quiet: bool,
    tty: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress {
            quiet,
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// Print one step line ("  {msg}") to stderr unless quiet.
    pub fn step(&self, msg: &str) {
        if !self.quiet {
            eprintln!("  {msg}");
        }
    }

    /// A byte-count bar; hidden when quiet or when stderr is not a terminal.
    pub fn bar(&self, total: u64, msg: &str) -> ProgressBar {
        if self.quiet || !self.tty {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(
            "  {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(msg.to_string());
        bar
    }

    /// A spinner for steps of unknown length; hidden when quiet or not on a terminal.
    pub fn spinner(&self, msg: &str) -> ProgressBar {
        if self.quiet || !self.tty {
            return ProgressBar::hidden();
        }
        let spinner = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("  {spinner} {msg} {elapsed}") {
            spinner.set_style(style);
        }
        spinner.set_message(msg.to_string());
        spinner.enable_steady_tick(Duration::from_millis(120));
        spinner
    }
}
