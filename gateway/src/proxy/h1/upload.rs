//! A request body sent to a copy as the client sends it, while the copy's answer is read.
//!
//! The two directions run at once, as hyper's client runs them. A copy may answer before it
//! has the whole body — 413 for an upload it will not take, 401 before reading it, or an echo
//! that streams each chunk back as it arrives — and a proxy that reads the answer only once the
//! body is through would report a copy that refused and closed as a 502, and would stall an
//! echo whose answer fills the socket buffers. The client gets the answer as the copy sends
//! it. If the answer ends before the body is through, the client's connection closes after it:
//! the rest of its body is never read.

use super::framing::{BodyCursor, ChunkError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes read from either side at a time.
pub(crate) const READ_CHUNK: usize = 16 * 1024;

/// How sending failed.
#[derive(Debug)]
pub(super) enum UploadError {
    /// The first write failed: the copy's connection was closed (a kept one, gone stale).
    Stale,
    /// The client closed its connection, or reading from it failed, mid-body.
    Client,
    MalformedBody(ChunkError),
}

/// The request body as far as it has been sent: what the client has sent of it, and the
/// piece read from the client and not yet all written to the copy.
pub(super) struct Upload {
    body: BodyCursor,
    pending: Vec<u8>,
    written: usize,
    /// A write to the copy failed: nothing more is sent.
    failed: bool,
}

impl Upload {
    /// Writes `head` and the body's bytes already in `inbound` (taking them from it).
    pub(super) async fn start<W: AsyncWrite + Unpin>(copy: &mut W, head: &[u8], mut body: BodyCursor, inbound: &mut Vec<u8>) -> Result<Self, UploadError> {
        let ready = body.advance(inbound).map_err(UploadError::MalformedBody)?;
        let mut out = Vec::with_capacity(head.len() + ready);
        out.extend_from_slice(head);
        out.extend_from_slice(&inbound[..ready]);
        inbound.drain(..ready);
        copy.write_all(&out).await.map_err(|_| UploadError::Stale)?;
        Ok(Self { body, pending: Vec::new(), written: 0, failed: false })
    }

    /// The whole body has been sent.
    pub(super) fn is_done(&self) -> bool {
        self.body.is_done() && self.written == self.pending.len()
    }

    /// More of the body is to be sent: it is not through, and the copy's connection has not
    /// failed.
    pub(super) fn is_sending(&self) -> bool {
        !self.failed && !self.is_done()
    }

    /// Sends the rest of the body as the client sends it, until it is through or a write to the
    /// copy fails (then nothing more is sent, [`Upload::is_sending`] turns false, and the copy's
    /// answer, if any, is still to be read); bytes the client sends after the body go to
    /// `inbound`. Cancel-safe: dropped at any await, it loses nothing, and a later
    /// call goes on where it stopped (it waits only in one read or one write).
    pub(super) async fn send_rest<R, W>(&mut self, client: &mut R, copy: &mut W, inbound: &mut Vec<u8>) -> Result<(), UploadError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        loop {
            while self.written < self.pending.len() && !self.failed {
                match copy.write(&self.pending[self.written..]).await {
                    Ok(n) if n > 0 => self.written += n,
                    _ => self.failed = true,
                }
            }
            if self.failed || self.body.is_done() {
                return Ok(());
            }
            let mut chunk = Vec::with_capacity(READ_CHUNK);
            if client.read_buf(&mut chunk).await.map_err(|_| UploadError::Client)? == 0 {
                return Err(UploadError::Client);
            }
            let part = self.body.advance(&chunk).map_err(UploadError::MalformedBody)?;
            inbound.extend_from_slice(&chunk[part..]);
            chunk.truncate(part);
            (self.pending, self.written) = (chunk, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::framing::Framing;
    use super::*;

    #[tokio::test]
    async fn the_body_goes_on_where_a_dropped_send_stopped_and_what_follows_it_stays() {
        let (mut client, mut from_client) = tokio::io::duplex(64);
        let (mut to_copy, mut copy) = tokio::io::duplex(4);
        let mut inbound = b"ab".to_vec();
        let mut upload = Upload::start(&mut to_copy, b"H", BodyCursor::new(&Framing::Length(10)), &mut inbound).await.unwrap();
        assert!(inbound.is_empty() && !upload.is_done());
        client.write_all(b"cdefghijNEXT").await.unwrap();
        // The copy reads 3 bytes ("Hab") and stops: the send cannot finish, and is dropped.
        let mut got = vec![0; 3];
        copy.read_exact(&mut got).await.unwrap();
        let stalled = tokio::time::timeout(std::time::Duration::from_millis(50), upload.send_rest(&mut from_client, &mut to_copy, &mut inbound));
        assert!(stalled.await.is_err(), "the copy's side is full");
        let reader = tokio::spawn(async move {
            let mut rest = vec![0; 8];
            copy.read_exact(&mut rest).await.unwrap();
            rest
        });
        upload.send_rest(&mut from_client, &mut to_copy, &mut inbound).await.unwrap();
        assert!(upload.is_done());
        assert_eq!(reader.await.unwrap(), b"cdefghij", "no byte lost or sent twice");
        assert_eq!(inbound, b"NEXT", "what follows the body is the next request's");
    }

    #[tokio::test]
    async fn a_client_gone_mid_body_and_a_copy_gone_mid_body_are_told_apart() {
        let (client, mut from_client) = tokio::io::duplex(64);
        let (mut to_copy, copy) = tokio::io::duplex(64);
        let mut inbound = Vec::new();
        let mut upload = Upload::start(&mut to_copy, b"H", BodyCursor::new(&Framing::Length(4)), &mut inbound).await.unwrap();
        drop(client);
        assert!(matches!(upload.send_rest(&mut from_client, &mut to_copy, &mut inbound).await, Err(UploadError::Client)));
        let (mut client, mut from_client) = tokio::io::duplex(64);
        client.write_all(b"wxyz").await.unwrap();
        drop(copy);
        assert!(matches!(upload.send_rest(&mut from_client, &mut to_copy, &mut inbound).await, Ok(())));
        assert!(!upload.is_sending() && !upload.is_done(), "nothing more is sent to a failed copy");
    }
}
