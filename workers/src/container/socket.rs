//! The container's Unix socket: accepts the agent's connections and hands each to its side by
//! the role byte it opens with — `R` to the relayed Runtime API, `L` to the log channel.
//!
//! Whoever speaks on this socket receives the function's events (with their secrets) and
//! answers for it, so two walls keep everyone else out: the socket is `0600` in a run directory
//! that is `0700` (no other local user reaches it), and every connection's peer is checked with
//! `SO_PEERCRED` to be a process of this very container — its pid namespace must be the one
//! of the container's first process — so not even another container, or a process of the
//! server's own user, can take its events.

use super::link::Link;
use super::runtime_api;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

/// How long a connection may wait for the container's identity to be known: the agent can
/// connect before the engine has told us the container's pid.
const IDENTITY_WAIT: Duration = Duration::from_secs(30);

/// The container whose processes may use the socket, told once the engine has started it.
pub(crate) struct Admit(watch::Sender<Option<u64>>);

impl Admit {
    /// Admits the processes sharing `pid`'s pid namespace (the container's first process).
    pub(crate) fn container(&self, pid: u32) -> std::io::Result<()> {
        let namespace = pid_namespace(pid)?;
        self.0.send_replace(Some(namespace));
        Ok(())
    }
}

/// Binds the container's socket and serves `link` on it until the returned handle is aborted.
/// No connection is served before [`Admit::container`] has named the container.
pub(crate) fn listen(link: &Arc<Link>, path: &Path) -> std::io::Result<(AbortHandle, Admit)> {
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let (admit, admitted) = watch::channel(None);
    let link = link.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(link.clone(), stream, admitted.clone()));
        }
    });
    Ok((task.abort_handle(), Admit(admit)))
}

async fn serve(link: Arc<Link>, mut stream: UnixStream, admitted: watch::Receiver<Option<u64>>) {
    if !from_the_container(&stream, admitted).await {
        return;
    }
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

/// Whether the peer is a process of the admitted container; a refusal is logged with the
/// peer's pid and uid, since it means someone tried to take a function's events.
async fn from_the_container(stream: &UnixStream, mut admitted: watch::Receiver<Option<u64>>) -> bool {
    let Ok(cred) = stream.peer_cred() else { return false };
    let Some(pid) = cred.pid().and_then(|p| u32::try_from(p).ok()) else { return false };
    let expected = match tokio::time::timeout(IDENTITY_WAIT, admitted.wait_for(Option::is_some)).await {
        Ok(Ok(namespace)) => *namespace,
        _ => None,
    };
    let peer = pid_namespace(pid).ok();
    let admitted = expected.is_some() && peer == expected;
    if !admitted {
        tracing::warn!(pid, uid = cred.uid(), "refused a runtime socket connection from outside the container");
    }
    admitted
}

/// The inode of `pid`'s pid namespace: equal for exactly the processes of one container.
fn pid_namespace(pid: u32) -> std::io::Result<u64> {
    Ok(std::fs::metadata(format!("/proc/{pid}/ns/pid"))?.ino())
}
