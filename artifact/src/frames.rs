//! A layer's zstd frames, and a stream of one frame's decoded bytes.
//!
//! The layer writer cuts its tar stream into frames at entry boundaries (a few MiB of tar
//! each, with the content size in every frame header), so frames can be decoded and written
//! out on several cores at once. A layer that is one frame (another writer's) still works,
//! on one core.
//!
//! A frame is decoded as a stream, never into one buffer: memory is the decoder's window
//! (at most [`WINDOW_LOG_MAX`], what zstd allows by default and what level 22 uses; the
//! frames pyk writes at its default levels need 4 to 8 MiB) whatever the frame or the
//! trailer claims, and a genuine 1 GiB file costs no more than a small one.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};

use zstd_safe::{DCtx, DParameter, InBuffer, OutBuffer};

/// Why a frame could not be split off or decoded (the extractor reports it as its own
/// `FrameError`: this module sits beneath it).
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("{0}")]
    Damaged(String),
    /// The frames decode to more than the layer's budget (`limit` bytes at the start).
    #[error("layer unpacks to more than the {limit} bytes its trailer declares")]
    TooBig { limit: u64 },
}

/// The largest decoder window accepted, as a power of two: 128 MiB.
pub const WINDOW_LOG_MAX: u32 = 27;

/// Splits a layer into its frames.
pub fn split(layer: &[u8]) -> Result<Vec<&[u8]>, FrameError> {
    let mut frames = Vec::new();
    let mut rest = layer;
    while !rest.is_empty() {
        let n =
            zstd_safe::find_frame_compressed_size(rest).map_err(|code| damaged("frame", code))?;
        if n == 0 || n > rest.len() {
            return Err(FrameError::Damaged("truncated zstd frame".into()));
        }
        let (frame, tail) = rest.split_at(n);
        frames.push(frame);
        rest = tail;
    }
    Ok(frames)
}

/// One frame's decoded bytes, drawn from a budget shared by the layer's frames: a small
/// frame must not be able to fill the disk.
pub struct Decoder<'a> {
    dctx: DCtx<'static>,
    frame: &'a [u8],
    pos: usize,
    done: bool,
    budget: &'a AtomicU64,
    limit: u64,
}

impl<'a> Decoder<'a> {
    /// A decoder of `frame`, whose output is taken from `budget` (`limit` is its starting
    /// value, for messages). A frame whose header declares more than is left is refused
    /// before anything is decoded.
    pub fn new(
        frame: &'a [u8],
        budget: &'a AtomicU64,
        limit: u64,
    ) -> Result<Decoder<'a>, FrameError> {
        match zstd_safe::get_frame_content_size(frame) {
            Ok(Some(n)) if n > budget.load(Ordering::Relaxed) => {
                return Err(FrameError::TooBig { limit })
            }
            Ok(_) => {}
            Err(_) => return Err(FrameError::Damaged("bad zstd frame header".into())),
        }
        let mut dctx = DCtx::create();
        dctx.set_parameter(DParameter::WindowLogMax(WINDOW_LOG_MAX))
            .map_err(|code| damaged("decoder", code))?;
        Ok(Decoder {
            dctx,
            frame,
            pos: 0,
            done: false,
            budget,
            limit,
        })
    }

    fn spend(&self, n: usize) -> Result<(), FrameError> {
        let left = self.budget.fetch_sub(n as u64, Ordering::Relaxed);
        if n as u64 > left {
            // Leave it spent, so other frames stop too.
            self.budget.store(0, Ordering::Relaxed);
            return Err(FrameError::TooBig { limit: self.limit });
        }
        Ok(())
    }
}

impl Read for Decoder<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.done || out.is_empty() {
            return Ok(0);
        }
        loop {
            let mut input = InBuffer::around(&self.frame[self.pos..]);
            let mut output = OutBuffer::around(&mut *out);
            let hint = self
                .dctx
                .decompress_stream(&mut output, &mut input)
                .map_err(|code| io::Error::other(damaged("data", code)))?;
            let (used, n) = (input.pos(), output.pos());
            self.pos += used;
            self.done = hint == 0;
            if n > 0 || self.done {
                self.spend(n).map_err(io::Error::other)?;
                return Ok(n);
            }
            if used == 0 {
                return Err(io::Error::other(FrameError::Damaged(
                    "truncated zstd frame".into(),
                )));
            }
        }
    }
}

fn damaged(what: &str, code: usize) -> FrameError {
    FrameError::Damaged(format!("zstd {what}: {}", zstd_safe::get_error_name(code)))
}
