//! The container's Unix socket: accepts the agent's connections and hands each to its side by
//! the role byte it opens with — `R` to the relayed Runtime API, `L` to the log channel.

use super::link::Link;
use super::runtime_api;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::task::AbortHandle;

/// Binds the container's socket and serves `link` on it until the returned handle is aborted.
/// The socket is world-writable because the image may run as any user; only this container
/// has it mounted.
pub(crate) fn listen(link: &Arc<Link>, path: &Path) -> std::io::Result<AbortHandle> {
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    let link = link.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(link.clone(), stream));
        }
    });
    Ok(task.abort_handle())
}

async fn serve(link: Arc<Link>, mut stream: UnixStream) {
    let mut role = [0u8];
    if stream.read_exact(&mut role).await.is_err() {
        return;
    }
    match role[0] {
        b'R' => runtime_api::serve(link, stream).await,
        b'L' => link.log_channel(stream).await,
        _ => {}
    }
}
