//! The log connection between agent and invoker.
//!
//! Agent -> invoker frames are `[kind: u8][len: u32 LE][payload]`: runtime stdout, stderr, a fence
//! acknowledgement (payload: the fence id, u64 LE) and the runtime's exit (see [`LogWriter::finish`]).
//! Invoker -> agent messages are bare fence ids (u64 LE).
//!
//! Fences make per-invocation logs exact without timing guesses: the runtime writes its output
//! *before* it posts the invocation's response, so when the invoker, having received that
//! response, sends a fence, everything the runtime wrote for that invocation is already in the
//! pipes. The agent drains the pipes without blocking, sends the data, then the acknowledgement,
//! all under one lock, so the invoker has the full log when the acknowledgement arrives.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::process::{ChildStderr, ChildStdout};
use std::sync::Mutex;

pub const STDOUT_FRAME: u8 = 1;
pub const STDERR_FRAME: u8 = 2;
pub const FENCE_ACK_FRAME: u8 = 3;
pub const EXIT_FRAME: u8 = 4;

pub struct LogWriter {
    inner: Mutex<Inner>,
}

struct Inner {
    stream: UnixStream,
    /// The runtime's stdout and stderr pipes (non-blocking), until they reach end of file.
    sources: [Option<RawFd>; 2],
}

impl LogWriter {
    pub fn new(stream: UnixStream) -> Self {
        Self { inner: Mutex::new(Inner { stream, sources: [None, None] }) }
    }

    pub fn set_sources(&self, stdout: RawFd, stderr: RawFd) {
        for fd in [stdout, stderr] {
            // SAFETY: fcntl on file descriptors we own.
            unsafe {
                let flags = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
        self.lock().sources = [Some(stdout), Some(stderr)];
    }

    pub fn frame(&self, kind: u8, payload: &[u8]) {
        self.lock().send(kind, payload);
    }

    /// Forwards runtime output as it arrives and answers fences, until the invoker goes away —
    /// then the container has no reason to live, and the agent exits. The pipes are taken by value
    /// only to keep their descriptors open for as long as the pump reads them.
    pub fn pump(&self, mut log: UnixStream, _stdout: ChildStdout, _stderr: ChildStderr) {
        let control = log.as_raw_fd();
        loop {
            let sources = self.lock().sources;
            let mut fds = vec![libc::pollfd { fd: control, events: libc::POLLIN, revents: 0 }];
            fds.extend(sources.iter().flatten().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }));
            // SAFETY: fds is a valid array of pollfd for the duration of the call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if n < 0 {
                continue; // EINTR
            }
            if fds[1..].iter().any(|p| p.revents != 0) {
                self.lock().drain();
            }
            if fds[0].revents != 0 {
                let mut id = [0u8; 8];
                if log.read_exact(&mut id).is_err() {
                    std::process::exit(0);
                }
                let mut inner = self.lock();
                inner.drain();
                inner.send(FENCE_ACK_FRAME, &id);
            }
        }
    }

    /// Sends the runtime's last output, then its exit: `[has_code][code i32][has_signal][signal i32][oom]`.
    pub fn finish(&self, code: Option<i32>, signal: Option<i32>, oom: bool) {
        let mut inner = self.lock();
        inner.drain();
        let mut payload = Vec::with_capacity(11);
        payload.push(code.is_some() as u8);
        payload.extend_from_slice(&code.unwrap_or(0).to_le_bytes());
        payload.push(signal.is_some() as u8);
        payload.extend_from_slice(&signal.unwrap_or(0).to_le_bytes());
        payload.push(oom as u8);
        inner.send(EXIT_FRAME, &payload);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    fn send(&mut self, kind: u8, payload: &[u8]) {
        let mut header = [0u8; 5];
        header[0] = kind;
        header[1..].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        // A failed write means the invoker is gone; the pump notices and exits.
        let _ = self.stream.write_all(&header).and_then(|_| self.stream.write_all(payload));
    }

    /// Reads whatever the pipes hold right now, without blocking.
    fn drain(&mut self) {
        let mut buf = vec![0u8; 64 * 1024];
        for (slot, kind) in [(0, STDOUT_FRAME), (1, STDERR_FRAME)] {
            while let Some(fd) = self.sources[slot] {
                // SAFETY: reading into a buffer we own from a descriptor we own.
                let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
                match n {
                    0 => self.sources[slot] = None,
                    n if n > 0 => self.send(kind, &buf[..n as usize]),
                    _ => {
                        let err = std::io::Error::last_os_error().raw_os_error();
                        if err != Some(libc::EINTR) {
                            if err != Some(libc::EAGAIN) {
                                self.sources[slot] = None;
                            }
                            break;
                        }
                    }
                }
            }
        }
    }
}
