//! The invoker's end of one container: a Unix socket only that container can reach, bind-mounted
//! at [`super::sandbox::SOCKET_PATH_IN_CONTAINER`]. The agent opens two kinds of connections on
//! it, told apart by their first byte (`socket.rs` dispatches them): `R` carries a relayed Runtime API connection (served by
//! [`super::runtime_api`]), `L` is the agent's single log connection (see the agent's `frames`).

use crate::MAX_LOG_BYTES;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot, watch};

/// Where a container's runtime is in its life.
#[derive(Debug, Clone)]
pub(crate) enum Status {
    Starting,
    /// The runtime asked for its first invocation: init is done.
    Ready,
    /// The runtime posted `/runtime/init/error` (the document is in [`Link::init_error`], which
    /// outlives this status when the runtime exits right after).
    InitFailed,
    Exited(Exit),
}

/// How the runtime process ended. `reported` is false when the agent vanished without saying
/// (it was killed with the container); then the engine's view has to be asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Exit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub oom: bool,
    pub reported: bool,
}

/// One invocation handed to the runtime by `/invocation/next`.
pub(crate) struct Job {
    pub request_id: String,
    pub payload: Bytes,
    pub deadline_ms: u64,
    pub trace_id: String,
    pub reply: oneshot::Sender<Reply>,
}

/// What the runtime said about an invocation.
#[derive(Debug)]
pub(crate) enum Reply {
    Response(Bytes),
    Error {
        document: Bytes,
        error_type: Option<String>,
    },
    /// The response exceeded the synchronous payload limit.
    TooLarge,
}

pub(crate) struct Link {
    pub(crate) arn: String,
    pub(crate) status: watch::Sender<Status>,
    /// Jobs wait here for the runtime's `/next`; the lock serialises concurrent `/next` calls.
    pub(crate) jobs: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    /// The invocation the runtime is working on: its id and where its reply goes.
    pub(crate) current: Mutex<Option<(String, oneshot::Sender<Reply>)>>,
    pub(crate) init_error: Mutex<Option<Bytes>>,
    logs: Mutex<Vec<u8>>,
    fences: Mutex<Fences>,
    fence_tx: OnceLock<mpsc::UnboundedSender<u64>>,
}

#[derive(Default)]
struct Fences {
    next: u64,
    waiting: HashMap<u64, oneshot::Sender<()>>,
}

const STDOUT_FRAME: u8 = 1;
const STDERR_FRAME: u8 = 2;
const FENCE_ACK_FRAME: u8 = 3;
const EXIT_FRAME: u8 = 4;

impl Link {
    pub(crate) fn new(arn: String) -> (Arc<Link>, mpsc::Sender<Job>) {
        let (tx, rx) = mpsc::channel(1);
        let link = Link {
            arn,
            status: watch::Sender::new(Status::Starting),
            jobs: tokio::sync::Mutex::new(rx),
            current: Mutex::new(None),
            init_error: Mutex::new(None),
            logs: Mutex::new(Vec::new()),
            fences: Mutex::new(Fences::default()),
            fence_tx: OnceLock::new(),
        };
        (Arc::new(link), tx)
    }

    /// Everything the runtime wrote since the last call, capped to the last [`MAX_LOG_BYTES`].
    pub(crate) fn take_logs(&self) -> Bytes {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        let all = std::mem::take(&mut *logs);
        let start = all.len().saturating_sub(MAX_LOG_BYTES);
        Bytes::from(all).slice(start..)
    }

    /// Waits until the agent has forwarded everything the runtime wrote before now. Bounded:
    /// a wedged agent costs `within`, never a hung call.
    pub(crate) async fn fence(&self, within: Duration) -> bool {
        let Some(tx) = self.fence_tx.get() else { return false };
        let (done, wait) = oneshot::channel();
        let id = {
            let mut fences = self.fences.lock().unwrap_or_else(|p| p.into_inner());
            fences.next += 1;
            let id = fences.next;
            fences.waiting.insert(id, done);
            id
        };
        if tx.send(id).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(within, wait).await, Ok(Ok(())))
    }

    fn append_log(&self, bytes: &[u8]) {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        if logs.len() + bytes.len() > 2 * MAX_LOG_BYTES {
            let keep = MAX_LOG_BYTES.saturating_sub(bytes.len());
            let cut = logs.len().saturating_sub(keep);
            logs.drain(..cut);
        }
        logs.extend_from_slice(&bytes[bytes.len().saturating_sub(2 * MAX_LOG_BYTES)..]);
    }

    /// Serves the agent's log connection: frames of output, fence acks and the runtime's exit.
    pub(crate) async fn log_channel(self: Arc<Self>, stream: UnixStream) {
        let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
        if self.fence_tx.set(tx).is_err() {
            return; // Only the agent's first log connection counts.
        }
        let (mut reader, mut writer) = stream.into_split();
        tokio::spawn(async move {
            while let Some(id) = rx.recv().await {
                if writer.write_all(&id.to_le_bytes()).await.is_err() {
                    break;
                }
            }
        });
        let mut exit = Exit::default();
        let mut header = [0u8; 5];
        while reader.read_exact(&mut header).await.is_ok() {
            let len = u32::from_le_bytes(header[1..].try_into().expect("4 bytes")) as usize;
            let mut payload = vec![0u8; len.min(1 << 20)];
            if len > payload.len() || reader.read_exact(&mut payload).await.is_err() {
                break;
            }
            match Frame::decode(header[0], &payload) {
                Frame::Output(bytes) => self.append_log(bytes),
                Frame::FenceAck(id) => {
                    let mut fences = self.fences.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(done) = fences.waiting.remove(&id) {
                        let _ = done.send(());
                    }
                }
                Frame::Exit(reported) => exit = reported,
                Frame::Nothing => {}
            }
        }
        self.fences.lock().unwrap_or_else(|p| p.into_inner()).waiting.clear();
        self.status.send_replace(Status::Exited(exit));
    }
}

/// What one frame from the agent says. The container is not trusted: a frame of an unknown kind
/// or the wrong length says nothing, and decoding never panics.
#[derive(Debug, PartialEq)]
pub(crate) enum Frame<'a> {
    Output(&'a [u8]),
    FenceAck(u64),
    Exit(Exit),
    Nothing,
}

impl<'a> Frame<'a> {
    pub(crate) fn decode(kind: u8, payload: &'a [u8]) -> Self {
        match kind {
            STDOUT_FRAME | STDERR_FRAME => Frame::Output(payload),
            FENCE_ACK_FRAME => payload.try_into().map_or(Frame::Nothing, |id| Frame::FenceAck(u64::from_le_bytes(id))),
            EXIT_FRAME if payload.len() == 11 => {
                let int = |at: usize| i32::from_le_bytes([payload[at], payload[at + 1], payload[at + 2], payload[at + 3]]);
                Frame::Exit(Exit { code: (payload[0] == 1).then(|| int(1)), signal: (payload[5] == 1).then(|| int(6)), oom: payload[10] == 1, reported: true })
            }
            _ => Frame::Nothing,
        }
    }
}

#[cfg(test)]
mod fuzz {
    use super::*;

    /// Input: the frame's kind byte, then its payload.
    #[test]
    fn agent_frames_never_panic_and_say_only_what_they_can() {
        skiff_fuzz::run("agent_frames", skiff_fuzz::ROUNDS, |input| {
            let Some((&kind, payload)) = input.split_first() else { return };
            match Frame::decode(kind, payload) {
                Frame::FenceAck(_) => assert_eq!(payload.len(), 8),
                Frame::Exit(exit) => assert!(payload.len() == 11 && exit.reported),
                Frame::Output(bytes) => assert_eq!(bytes, payload),
                Frame::Nothing => {}
            }
        });
    }
}
