//! Receiving a blob: the bytes go to a staged file in the store while the same bytes are
//! decrypted on the fly, so a blob is accepted only if it decrypts with the read key
//! (the key every reader has) and its plaintext hashes to its id. One pass, constant
//! memory, whatever the size.

use std::io::{self, Read, Write};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use pyk_crypto::blob::{refusal, BlobReader};
use pyk_crypto::Key;
use tokio::sync::mpsc;

use pyk_protocol::Sha256;

use crate::store::{Store, StoreError};

/// Chunks in flight between the connection and the verifying thread: the backpressure
/// that keeps a fast client from filling memory.
const QUEUE: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The bytes are not a blob under this server's key.
    #[error("blob refused")]
    Refused(#[source] io::Error),
    /// The bytes are a blob, of another id.
    #[error("blob's plaintext sha256 is {got}, not its id {id}")]
    WrongId { got: Sha256, id: Sha256 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The sending half: the connection feeds it chunks, then calls [`Upload::finish`].
pub struct Upload {
    tx: mpsc::Sender<io::Result<Bytes>>,
    task: tokio::task::JoinHandle<Result<Stored, UploadError>>,
}

/// A verified, stored blob.
pub struct Stored {
    /// False if the blob was already stored (these bytes replaced it).
    pub created: bool,
    pub plaintext_len: u64,
    /// The stored blob's change stamp right after the commit, if it could be read.
    pub stamp: Option<String>,
}

impl Upload {
    pub fn start(store: Arc<Store>, key: Key, sha256: Sha256) -> Upload {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::task::spawn_blocking(move || receive(&store, &key, &sha256, rx));
        Upload { tx, task }
    }

    /// Passes on a chunk; false if the receiver has already given up (its error is
    /// then what [`Upload::finish`] returns).
    pub async fn send(&self, chunk: Bytes) -> bool {
        self.tx.send(Ok(chunk)).await.is_ok()
    }

    /// Abandons the upload: the staged bytes are discarded.
    pub async fn abort(self, why: &str) {
        // The receiver may be gone already; either way nothing is stored.
        let _ = self.tx.send(Err(io::Error::other(why.to_owned()))).await;
        drop(self.tx);
        let _ = self.task.await;
    }

    /// Ends the body and waits for the verdict.
    pub async fn finish(self) -> Result<Stored, UploadError> {
        drop(self.tx);
        self.task.await.map_err(StoreError::from)?
    }
}

fn receive(
    store: &Store,
    key: &Key,
    sha256: &Sha256,
    rx: mpsc::Receiver<io::Result<Bytes>>,
) -> Result<Stored, UploadError> {
    let mut staged = store.blobs().stage(sha256)?;
    let (plaintext_len, digest) = {
        let tee = Tee {
            source: Chunks {
                rx,
                current: Bytes::new(),
            },
            copy: &mut *staged,
        };
        let mut reader = BlobReader::new(key, tee);
        match io::copy(&mut reader, &mut io::sink()) {
            Ok(n) => (n, reader.sha256()),
            Err(e) if refusal(&e).is_some() => {
                return Err(UploadError::Refused(e));
            }
            Err(e) => return Err(StoreError::Io(e).into()),
        }
    };
    // The reader ends only after verifying the end frame, which carries the digest.
    let got = digest.expect("a blob read to its end has its digest");
    if got != *sha256 {
        return Err(UploadError::WrongId { got, id: *sha256 });
    }
    let created = staged.commit()?;
    let stamp = store.blobs().stat(sha256)?.map(|s| s.stamp);
    Ok(Stored {
        created,
        plaintext_len,
        stamp,
    })
}

/// The request body as a blocking reader.
struct Chunks {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

/// Writes everything read through it to `copy`: the encrypted bytes as they arrived.
struct Tee<'a, R> {
    source: R,
    copy: &'a mut dyn Write,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.source.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}
