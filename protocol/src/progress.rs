//! How libraries report progress: the client's transfers, the runtime store's downloads and
//! long steps. Defined once, here, the lowest crate both depend on; the libraries only count
//! and name, and the CLI draws (its terminal bars live in `src/output.rs`). Tests and
//! scripts pass [`Quiet`].

use std::io::{self, Read};

/// Told what a library is doing.
pub trait Progress: Sync {
    /// One line saying what is being done ("downloading …", "using cached …").
    fn step(&self, msg: &str);
    /// A transfer of `total` bytes begins (`label`: "downloading", "uploading"); the meter
    /// is told each chunk and dropped when the transfer ends, however it ends.
    fn transfer(&self, total: u64, label: &str) -> Box<dyn Meter>;
    /// A step of unknown length begins ("compressing"); it ends when the meter is dropped.
    fn spinner(&self, label: &str) -> Box<dyn Meter>;
}

/// Told how much more of a task is done.
pub trait Meter: Send {
    fn advance(&self, amount: u64);
}

/// No progress reporting.
pub struct Quiet;

impl Progress for Quiet {
    fn step(&self, _msg: &str) {}
    fn transfer(&self, _total: u64, _label: &str) -> Box<dyn Meter> {
        Box::new(Quiet)
    }
    fn spinner(&self, _label: &str) -> Box<dyn Meter> {
        Box::new(Quiet)
    }
}

impl Meter for Quiet {
    fn advance(&self, _amount: u64) {}
}

/// Tells a meter about every byte read through it.
pub struct Metered<R> {
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
