//! A request body checked against the digest its token names, as it is read: a body
//! that is not the one the token was made for fails at its end, before any handler
//! acts on it (handlers act only on whole bodies).

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use pyk_protocol::digest::Hasher;
use pyk_protocol::Sha256;

/// What a body that is not its token's fails with.
#[derive(Debug, thiserror::Error)]
#[error("the request token was made for another body")]
pub struct BodyMismatch;

/// Whether a body error is a [`BodyMismatch`].
pub fn is_mismatch(e: axum::Error) -> bool {
    e.into_inner().downcast::<BodyMismatch>().is_ok()
}

pub struct Bound {
    inner: Body,
    expected: Option<Sha256>,
    hasher: Hasher,
}

impl Bound {
    pub fn new(inner: Body, expected: Option<Sha256>) -> Bound {
        Bound {
            inner,
            expected,
            hasher: Hasher::new(),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl HttpBody for Bound {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if self.expected.is_none() && !data.is_empty() {
                        return Poll::Ready(Some(Err(Box::new(BodyMismatch))));
                    }
                    self.hasher.update(data);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => match self.expected {
                Some(want) if self.hasher.digest() != want => {
                    Poll::Ready(Some(Err(Box::new(BodyMismatch))))
                }
                _ => Poll::Ready(None),
            },
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        // The end must be polled, where the digest is checked.
        false
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
