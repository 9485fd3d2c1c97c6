//! How transfers report their progress. The client only counts bytes; the CLI turns the
//! counts into bars on a terminal, and tests and scripts pass [`Quiet`].

use std::io::{self, Read};

/// Told when a transfer starts.
pub trait Progress: Sync {
    /// A transfer of `total` bytes begins (`label`: "downloading", "uploading"); the
    /// meter is told each chunk and dropped when the transfer ends, however it ends.
    fn transfer(&self, total: u64, label: &str) -> Box<dyn Meter>;
}

/// Told how many more bytes a transfer has moved.
pub trait Meter: Send {
    fn advance(&self, bytes: u64);
}

/// No progress reporting.
pub struct Quiet;

impl Progress for Quiet {
    fn transfer(&self, _total: u64, _label: &str) -> Box<dyn Meter> {
        Box::new(Quiet)
    }
}

impl Meter for Quiet {
    fn advance(&self, _bytes: u64) {}
}

/// Tells a meter about every byte read through it.
pub(crate) struct Metered<R> {
    pub inner: R,
    pub meter: Box<dyn Meter>,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.advance(n as u64);
        Ok(n)
    }
}
