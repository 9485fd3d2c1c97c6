//! Everything the server writes, in one place: its notes to the operator (start, stop,
//! failures it lives with: [`note`], [`warning`], each error with its causes on one
//! line by [`with_causes`]), and with `-v` one line per request, written when the
//! response body has been sent (or abandoned), so bytes and milliseconds cover the
//! whole exchange. All of it goes to stderr.

use std::fmt::Display;
use std::time::Instant;

use axum::http::StatusCode;

/// A line for the operator, as it is (the banner's second line).
pub fn say(line: impl Display) {
    eprintln!("{line}");
}

/// A note for the operator: `pyk: …`.
pub fn note(line: impl Display) {
    eprintln!("pyk: {line}");
}

/// Something failed that the server lives with: `pyk: warning: …`.
pub fn warning(line: impl Display) {
    eprintln!("pyk: warning: {line}");
}

/// An error and its causes on one line (a store error's cause is what an operator
/// needs: the database's or the file system's own message).
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut line = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        line.push_str(": ");
        line.push_str(&c.to_string());
        cause = c.source();
    }
    line
}

/// What the `-v` line says about one request, printed when its response body has been
/// sent or abandoned (see `metrics::Metered`).
pub struct Line {
    pub who: String,
    pub method: String,
    pub path: String,
    pub status: StatusCode,
    pub started: Instant,
}

impl Line {
    pub fn print(&self, sent: u64, received: u64) {
        note(format_args!(
            "{} {} {} {} sent={sent} received={received} {}ms",
            self.who,
            self.method,
            self.path,
            self.status.as_u16(),
            self.started.elapsed().as_millis()
        ));
    }
}
