//! `skiff-agent`: PID 1 of every container function.
//!
//! Skiff bind-mounts this static binary read-only into the container as its entrypoint, followed
//! by the image's own entrypoint and command as arguments. The agent
//!
//! 1. listens on the container's own loopback (`AWS_LAMBDA_RUNTIME_API`) and relays every
//!    connection byte for byte to the invoker's per-container Unix socket, so the container needs
//!    no network at all and can reach nothing but its own Runtime API;
//! 2. runs the image's command with stdout/stderr on pipes and forwards their output as frames on
//!    a "log" connection, answering the invoker's fences so that each invocation's log is complete
//!    when the invocation ends (see [`frames`]);
//! 3. reaps orphans, as PID 1 must, and when the runtime exits reports its status (with whether
//!    the cgroup's OOM killer fired) before exiting with the same code.
//!
//! Only `std` and `libc`: the binary is linked statically and must start in a few milliseconds.

mod frames;
mod relay;

use frames::LogWriter;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::Arc;

/// Where Skiff mounts the container's Unix socket (see `sandbox.rs` in skiff-workers).
const SOCKET: &str = "/opt/skiff/runtime.sock";
const DEFAULT_LISTEN: &str = "127.0.0.1:9001";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let socket = std::env::var("SKIFF_AGENT_SOCKET").unwrap_or_else(|_| SOCKET.to_string());
    let listen = std::env::var("AWS_LAMBDA_RUNTIME_API").unwrap_or_else(|_| DEFAULT_LISTEN.into());
    if let Err(e) = run(&args, &socket, &listen) {
        eprintln!("skiff-agent: {e}");
        std::process::exit(126);
    }
}

fn run(args: &[String], socket: &str, listen: &str) -> std::io::Result<()> {
    // Listen before the runtime starts, so its first connection can never be refused.
    let listener = std::net::TcpListener::bind(listen)?;
    let mut log = UnixStream::connect(socket)?;
    std::io::Write::write_all(&mut log, b"L")?;
    let writer = Arc::new(LogWriter::new(log.try_clone()?));

    let Some((program, rest)) = args.split_first() else {
        return fail(&writer, "no command to run: the image has neither ENTRYPOINT nor CMD");
    };
    let child = Command::new(program).args(rest).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return fail(&writer, &format!("cannot run {program}: {e}")),
    };
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    writer.set_sources(stdout.as_raw_fd(), stderr.as_raw_fd());

    let socket = socket.to_string();
    std::thread::spawn(move || relay::accept_loop(listener, &socket));
    let pump = writer.clone();
    std::thread::spawn(move || pump.pump(log, stdout, stderr));

    let status = reap_until(child.id() as libc::pid_t);
    let oom = oom_killed();
    let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    writer.finish(status.code(), status.signal(), oom);
    std::process::exit(code);
}

/// Reports a failure to start the runtime the way a runtime exit is reported, then exits 127.
fn fail(writer: &LogWriter, message: &str) -> std::io::Result<()> {
    writer.frame(frames::STDERR_FRAME, format!("skiff-agent: {message}\n").as_bytes());
    writer.finish(Some(127), None, false);
    std::process::exit(127);
}

/// Waits for any child (PID 1 inherits every orphan) until `pid` itself exits.
fn reap_until(pid: libc::pid_t) -> std::process::ExitStatus {
    loop {
        let mut status = 0;
        // SAFETY: plain waitpid on our own children with a valid out-pointer.
        let got = unsafe { libc::waitpid(-1, &mut status, 0) };
        if got == pid {
            return std::process::ExitStatus::from_raw(status);
        }
        if got < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // No children left at all: the runtime is gone without us seeing its status.
            return std::process::ExitStatus::from_raw(255 << 8);
        }
    }
}

/// Whether the container's memory cgroup has OOM-killed anything: cgroup v1 reports `oom_kill`
/// in `memory.oom_control`, v2 in `memory.events`. The kernel counts the kill before it delivers
/// SIGKILL, so by the time we reaped the runtime the counter is final.
fn oom_killed() -> bool {
    ["/sys/fs/cgroup/memory/memory.oom_control", "/sys/fs/cgroup/memory.events"].iter().any(|path| {
        let mut text = String::new();
        std::fs::File::open(path).and_then(|mut f| f.read_to_string(&mut text)).is_ok()
            && text.lines().any(|l| l.strip_prefix("oom_kill ").and_then(|n| n.trim().parse::<u64>().ok()).unwrap_or(0) > 0)
    })
}
