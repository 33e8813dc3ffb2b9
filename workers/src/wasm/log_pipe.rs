//! The stdout and stderr of an instance that may serve many calls: each call takes what it
//! wrote at its end, without copying what earlier calls wrote, and output past a call's cap is
//! dropped rather than refused (a guest must not fail for logging too much; only a log's tail
//! is ever shown).

use bytes::{Bytes, BytesMut};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// How much a guest may hand over in one write: any amount is taken (past the cap, dropped).
const WRITE_PERMIT: usize = 64 * 1024;

#[derive(Clone)]
pub(crate) struct LogPipe {
    /// Bytes kept per call.
    cap: usize,
    buffer: Arc<Mutex<BytesMut>>,
}

impl LogPipe {
    pub(crate) fn new(cap: usize) -> Self {
        Self { cap, buffer: Arc::default() }
    }

    /// What was written since the last take.
    pub(crate) fn take(&self) -> Bytes {
        self.buffer.lock().unwrap_or_else(PoisonError::into_inner).split().freeze()
    }

    fn append(&self, bytes: &[u8]) {
        let mut buffer = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        let room = self.cap.saturating_sub(buffer.len());
        buffer.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl OutputStream for LogPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogPipe {
    async fn ready(&mut self) {}
}

impl AsyncWrite for LogPipe {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_take_has_what_was_written_since_the_last_up_to_the_cap() {
        let mut pipe = LogPipe::new(8);
        pipe.write(Bytes::from_static(b"first ")).unwrap();
        assert_eq!(pipe.take(), "first ");
        pipe.write(Bytes::from_static(b"second call")).unwrap();
        pipe.write(Bytes::from_static(b"!")).unwrap();
        assert_eq!(pipe.take(), "second c", "past the cap, output is dropped, not refused");
        assert_eq!(pipe.check_write().unwrap(), WRITE_PERMIT);
        assert!(pipe.take().is_empty());
    }
}
