//! A layer's zstd frames, and decoding one of them.
//!
//! The layer writer cuts its tar stream into frames at entry boundaries (a few MiB of tar
//! each, with the content size in every frame header), so frames can be decoded and written
//! out on several cores at once. A layer that is one frame (another writer's) still works,
//! on one core.

use zstd_safe::{DCtx, InBuffer, OutBuffer};

use crate::extract::ExtractError;

/// Splits a layer into its frames.
pub fn split(layer: &[u8]) -> Result<Vec<&[u8]>, ExtractError> {
    let mut frames = Vec::new();
    let mut rest = layer;
    while !rest.is_empty() {
        let n =
            zstd_safe::find_frame_compressed_size(rest).map_err(|code| damaged("frame", code))?;
        if n == 0 || n > rest.len() {
            return Err(ExtractError::Format("truncated zstd frame".into()));
        }
        let (frame, tail) = rest.split_at(n);
        frames.push(frame);
        rest = tail;
    }
    Ok(frames)
}

/// Decodes one frame into `buf` (cleared first), refusing to produce more than `budget`
/// bytes: a small frame must not be able to fill the disk or the memory.
pub fn decode(frame: &[u8], budget: u64, buf: &mut Vec<u8>) -> Result<(), ExtractError> {
    buf.clear();
    let too_big = || ExtractError::TooBig {
        what: "bytes",
        limit: budget,
    };
    match zstd_safe::get_frame_content_size(frame) {
        Ok(Some(n)) => {
            if n > budget {
                return Err(too_big());
            }
            buf.reserve(usize::try_from(n).map_err(|_| too_big())?);
            let got = zstd_safe::decompress(buf, frame).map_err(|code| damaged("data", code))?;
            if got as u64 != n {
                return Err(ExtractError::Format(
                    "frame size does not match its header".into(),
                ));
            }
            Ok(())
        }
        Ok(None) => decode_streaming(frame, budget, buf),
        Err(_) => Err(ExtractError::Format("bad zstd frame header".into())),
    }
}

/// For frames whose header does not say how much they hold.
fn decode_streaming(frame: &[u8], budget: u64, buf: &mut Vec<u8>) -> Result<(), ExtractError> {
    const CHUNK: usize = 4 << 20;
    let mut dctx = DCtx::create();
    let mut input = InBuffer::around(frame);
    loop {
        if buf.capacity() - buf.len() < CHUNK {
            buf.reserve(CHUNK);
        }
        let before = (buf.len(), input.pos());
        let pos = buf.len();
        let hint = {
            let mut out = OutBuffer::around_pos(buf, pos);
            dctx.decompress_stream(&mut out, &mut input)
                .map_err(|code| damaged("data", code))?
        };
        if buf.len() as u64 > budget {
            return Err(ExtractError::TooBig {
                what: "bytes",
                limit: budget,
            });
        }
        if hint == 0 {
            return Ok(());
        }
        if (buf.len(), input.pos()) == before {
            return Err(ExtractError::Format("truncated zstd frame".into()));
        }
    }
}

fn damaged(what: &str, code: usize) -> ExtractError {
    ExtractError::Format(format!("zstd {what}: {}", zstd_safe::get_error_name(code)))
}
