//! Closing a connection whose client may still be sending a request body that will not be read
//! (an answer given before the body was through, or a refusal of the request).
//!
//! Closing a socket with unread bytes makes the kernel answer with a reset, and a client still
//! writing its body then fails its write, often without reading the answer that was already
//! sent to it (curl reports the reset, not the 413). So the server's side is shut first, and
//! what the client still sends is read and dropped until it closes too, for a bounded time, as
//! nginx's `lingering_close` does.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

/// The longest a closing connection is read from.
const LINGER_FOR: Duration = Duration::from_secs(5);
/// A client that sends nothing for this long is not waited for.
const LINGER_IDLE: Duration = Duration::from_secs(1);

/// Shuts the server's side of `stream`, then drops what the client sends until it closes its
/// side, goes quiet for [`LINGER_IDLE`], or [`LINGER_FOR`] has passed.
pub(super) async fn linger(stream: &mut TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let end = Instant::now() + LINGER_FOR;
    let mut sink = vec![0; 64 * 1024];
    loop {
        let wait = end.min(Instant::now() + LINGER_IDLE);
        match timeout_at(wait, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A client writes a body far larger than the socket buffers, and reads the answer only
    /// after; the server answers first and closes, lingering or not.
    async fn upload_then_read(lingers: bool) -> (std::io::Result<()>, Vec<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let closing = tokio::spawn(async move {
            server.write_all(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await.unwrap();
            if lingers {
                linger(&mut server).await;
            }
        });
        let wrote = client.write_all(&vec![b'x'; 32 << 20]).await;
        let mut answer = Vec::new();
        let _ = client.read_to_end(&mut answer).await;
        closing.await.unwrap();
        (wrote, answer)
    }

    #[tokio::test]
    async fn a_client_still_sending_its_body_gets_to_read_the_answer() {
        let (wrote, answer) = upload_then_read(true).await;
        assert!(wrote.is_ok(), "the client's body was taken in: {wrote:?}");
        assert!(answer.starts_with(b"HTTP/1.1 413 "), "{}", String::from_utf8_lossy(&answer));
        // Without lingering the same client's write fails on the reset.
        let (wrote, _) = upload_then_read(false).await;
        assert!(wrote.is_err(), "closing with unread bytes resets the connection");
    }
}
