//! The container's Unix socket: accepts the agent's connections and hands each to its side by
//! the role byte it opens with — `R` to the relayed Runtime API, `L` to the log channel.
//!
//! Whoever speaks on this socket receives the function's events (with their secrets) and
//! answers for it, so two walls keep everyone else out: the socket is `0600`, owned by the
//! container's user (the unprivileged one by default), in a run directory that is `0700` (no
//! other local user reaches it), and every connection's peer is checked with
//! `SO_PEERCRED` to be a process of this very container — its cgroup must be the container's,
//! which names the container's id — so not even another container, or a process of the
//! server's own user, can take its events. The peer's cgroup is read the moment its connection
//! is accepted (a runtime that fails its init may be gone a moment later, and its last log
//! lines with it); the container's id is known from its creation, before anything in it runs.

use super::link::Link;
use super::runtime_api;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

/// How long a connection may wait for the container's identity to be known (it is told right
/// after the container is created, before it starts: this only bounds a stray connection).
const IDENTITY_WAIT: Duration = Duration::from_secs(30);

/// The container whose processes may use the socket.
pub(crate) struct Admit(watch::Sender<Option<String>>);

impl Admit {
    /// Admits the processes of the container `id` (the engine's full 64-hex id).
    pub(crate) fn container(&self, id: &str) {
        self.0.send_replace(Some(id.to_string()));
    }
}

/// Binds the container's socket and serves `link` on it until the returned handle is aborted.
/// No connection is served before [`Admit::container`] has named the container.
pub(crate) fn listen(link: &Arc<Link>, path: &Path, user: &str) -> std::io::Result<(AbortHandle, Admit)> {
    let listener = UnixListener::bind(path)?;
    match numeric_user(user) {
        Some((uid, gid)) => {
            std::os::unix::fs::chown(path, Some(uid), gid)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        // A user the image names (`USER app`) has a uid only inside the image: the socket is
        // open to any user, still behind the run directory's 0700 and the peer check.
        None => std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?,
    }
    let (admit, admitted) = watch::channel(None);
    let link = link.clone();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(link.clone(), stream, admitted.clone()));
        }
    });
    Ok((task.abort_handle(), Admit(admit)))
}

/// `uid[:gid]` of a container user given by number (`root` is uid 0); `None` for a name.
fn numeric_user(user: &str) -> Option<(u32, Option<u32>)> {
    if user == "root" {
        return Some((0, Some(0)));
    }
    let (uid, gid) = match user.split_once(':') {
        Some((uid, gid)) => (uid, Some(gid.parse().ok()?)),
        None => (user, None),
    };
    Some((uid.parse().ok()?, gid))
}

async fn serve(link: Arc<Link>, mut stream: UnixStream, admitted: watch::Receiver<Option<String>>) {
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
async fn from_the_container(stream: &UnixStream, mut admitted: watch::Receiver<Option<String>>) -> bool {
    let Ok(cred) = stream.peer_cred() else { return false };
    let Some(pid) = cred.pid() else { return false };
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let expected = match tokio::time::timeout(IDENTITY_WAIT, admitted.wait_for(Option::is_some)).await {
        Ok(Ok(id)) => id.clone(),
        _ => None,
    };
    let admitted = expected.is_some_and(|id| in_container(&cgroup, &id));
    if !admitted {
        tracing::warn!(pid, uid = cred.uid(), "refused a runtime socket connection from outside the container");
    }
    admitted
}

/// Whether a process whose `/proc/PID/cgroup` reads `cgroup` belongs to container `id`: the
/// engine names each container's cgroup by its id (`/docker/<id>`, `docker-<id>.scope`).
fn in_container(cgroup: &str, id: &str) -> bool {
    id.len() == 64 && cgroup.lines().any(|line| line.contains(id))
}

#[cfg(test)]
mod tests {
    use super::{in_container, numeric_user};

    #[test]
    fn users_given_by_number_own_their_socket() {
        assert_eq!(numeric_user("993:990"), Some((993, Some(990))));
        assert_eq!(numeric_user("1000"), Some((1000, None)));
        assert_eq!(numeric_user("root"), Some((0, Some(0))));
        assert_eq!(numeric_user("app"), None);
        assert_eq!(numeric_user("app:staff"), None);
    }

    #[test]
    fn a_process_is_in_the_container_its_cgroup_names() {
        let id = "a25466a5f92227e3422a81f5a315ffc44767f0545e463b83a3fab03575bf8dd4";
        assert!(in_container(&format!("0::/docker/{id}\n"), id));
        assert!(in_container(&format!("0::/system.slice/docker-{id}.scope\n"), id));
        assert!(!in_container("0::/user.slice/user-0.slice/session-1.scope\n", id));
        assert!(!in_container(&format!("0::/docker/{id}"), "a25466a5f922"), "a short id is never enough");
    }
}
