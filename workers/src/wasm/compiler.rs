//! Where guest code is compiled. The bounds scan refuses what is obviously too large, but a
//! module within them can still make Cranelift run for long or take much memory, and the server
//! must not pay for that: so the server compiles each deploy in a child process of its own binary
//! (`skiff compile-wasm`) under `RLIMIT_CPU` and `RLIMIT_DATA`, with a wall-clock deadline, and
//! refuses code that exceeds them with a 400 naming the limit. The child builds its engine from
//! the same [`EngineOptions`](super::EngineOptions), so its artifact is one this engine loads (and
//! loading re-checks the compatibility header).
//!
//! In-process compiling stays for tests and benchmarks, which have no `skiff` binary to run.

use super::precompile::precompile;
use crate::WorkerError;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use wasmtime::Engine;

/// What one compile may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    /// CPU seconds, all of the compiler's threads together.
    pub cpu_seconds: u64,
    /// The compiler's data (heap) in MiB.
    pub memory_mib: u64,
}

/// How deploys compile.
#[derive(Debug, Clone)]
pub enum Compiler {
    InProcess,
    /// `exe compile-wasm ...` with its limits; the child runs [`child_main`].
    Subprocess {
        exe: PathBuf,
        limits: CompileLimits,
    },
}

/// The child's exit codes: what it tells the parent about the code.
const EXIT_INVALID: i32 = 2;
const EXIT_ABI: i32 = 3;
/// The child's error output kept for the message (a panic's text, say).
const MAX_ERROR_TEXT: usize = 4096;

impl Compiler {
    /// Compiles `code` (binary Wasm or WAT) into an artifact for `engine`, whose settings
    /// `child_args` describe to a child.
    pub(crate) fn precompile(&self, engine: &Engine, child_args: &[String], code: &[u8]) -> Result<Vec<u8>, WorkerError> {
        match self {
            Compiler::InProcess => precompile(engine, code),
            Compiler::Subprocess { exe, limits } => in_child(exe, *limits, child_args, code),
        }
    }
}

fn in_child(exe: &PathBuf, limits: CompileLimits, args: &[String], code: &[u8]) -> Result<Vec<u8>, WorkerError> {
    let mut command = Command::new(exe);
    command.arg("compile-wasm").args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let (cpu, data) = (limits.cpu_seconds, limits.memory_mib << 20);
    // SAFETY: only async-signal-safe calls (setrlimit) between fork and exec.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(move || {
            set_limit(libc::RLIMIT_CPU, cpu)?;
            set_limit(libc::RLIMIT_DATA, data)
        });
    }
    let mut child = command.spawn().map_err(|e| WorkerError::Internal(format!("starting the compiler {}: {e}", exe.display())))?;
    let mut stdin = child.stdin.take().expect("piped");
    let code = code.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&code));
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut artifact = Vec::new();
        stdout.read_to_end(&mut artifact).map(|_| artifact)
    });
    let mut stderr = child.stderr.take().expect("piped");
    let errors = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stderr.by_ref().take(MAX_ERROR_TEXT as u64).read_to_end(&mut text);
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        String::from_utf8_lossy(&text).trim().to_string()
    });
    let (status, timed_out) = wait_until(&mut child, wall_deadline(limits))?;
    let _ = feeder.join();
    let artifact = reader.join().map_err(|_| WorkerError::Internal("compiler output reader panicked".into()))?;
    let errors = errors.join().unwrap_or_default();
    if timed_out {
        return Err(too_slow(limits));
    }
    judge(status, &errors, limits)?;
    artifact.map_err(|e| WorkerError::Internal(format!("reading the compiler's output: {e}")))
}

/// Twice the CPU allowance and some: a compiler that waits instead of working (it cannot, but a
/// stuck child must not hold a deploy forever) is killed here.
fn wall_deadline(limits: CompileLimits) -> Duration {
    Duration::from_secs(limits.cpu_seconds * 2 + 5)
}

fn wait_until(child: &mut std::process::Child, within: Duration) -> Result<(ExitStatus, bool), WorkerError> {
    let deadline = Instant::now() + within;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok((status, false)),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let status = child.wait().map_err(|e| WorkerError::Internal(format!("waiting for the compiler: {e}")))?;
                return Ok((status, true));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(WorkerError::Internal(format!("waiting for the compiler: {e}"))),
        }
    }
}

/// What the child's end says about the code: its own verdict, or the limit that stopped it.
fn judge(status: ExitStatus, errors: &str, limits: CompileLimits) -> Result<(), WorkerError> {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => Ok(()),
        (Some(EXIT_INVALID), _) => Err(WorkerError::InvalidCode(errors.to_string())),
        (Some(EXIT_ABI), _) => Err(WorkerError::Abi(errors.to_string())),
        (_, Some(libc::SIGXCPU)) | (_, Some(libc::SIGKILL)) => Err(too_slow(limits)),
        _ if out_of_memory(errors) => {
            Err(WorkerError::InvalidCode(format!("compiling the code needs more than the server's limit of {} MiB of memory", limits.memory_mib)))
        }
        _ => Err(WorkerError::Internal(format!("the compiler failed ({status}): {errors}"))),
    }
}

fn too_slow(limits: CompileLimits) -> WorkerError {
    WorkerError::InvalidCode(format!("compiling the code takes more than the server's limit of {} s of CPU time", limits.cpu_seconds))
}

/// Rust's allocation-failure message, or the compiler's own report of failed allocations.
fn out_of_memory(errors: &str) -> bool {
    errors.contains("memory allocation of") || errors.contains("out of memory") || errors.contains("Cannot allocate memory")
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) -> std::io::Result<()> {
    let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
    // SAFETY: setrlimit reads the struct it is given and nothing else.
    match unsafe { libc::setrlimit(resource, &limit) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// The child: code on stdin, the artifact on stdout, and on failure the reason on stderr with
/// an exit code the parent reads (2: invalid code, 3: ABI, 1: anything else).
pub fn child_main(engine: &Engine) -> i32 {
    let mut code = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut code) {
        eprintln!("reading the code: {e}");
        return 1;
    }
    match precompile(engine, &code) {
        Ok(artifact) => match std::io::stdout().write_all(&artifact) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("writing the artifact: {e}");
                1
            }
        },
        Err(WorkerError::InvalidCode(m)) => {
            eprint!("{m}");
            EXIT_INVALID
        }
        Err(WorkerError::Abi(m)) => {
            eprint!("{m}");
            EXIT_ABI
        }
        Err(e) => {
            eprint!("{e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    const LIMITS: CompileLimits = CompileLimits { cpu_seconds: 5, memory_mib: 256 };

    #[test]
    fn the_childs_end_names_the_limit_it_hit() {
        let code = |c: i32| ExitStatus::from_raw(c << 8);
        let signal = ExitStatus::from_raw;
        assert!(judge(code(0), "", LIMITS).is_ok());
        assert!(matches!(judge(code(EXIT_INVALID), "bad magic", LIMITS), Err(WorkerError::InvalidCode(m)) if m == "bad magic"));
        assert!(matches!(judge(code(EXIT_ABI), "no _start", LIMITS), Err(WorkerError::Abi(_))));
        let slow = judge(signal(libc::SIGXCPU), "", LIMITS).unwrap_err().to_string();
        assert!(slow.contains("5 s of CPU time"), "{slow}");
        let big = judge(signal(libc::SIGABRT), "memory allocation of 8388608 bytes failed", LIMITS).unwrap_err().to_string();
        assert!(big.contains("256 MiB of memory"), "{big}");
        assert!(matches!(judge(signal(libc::SIGSEGV), "", LIMITS), Err(WorkerError::Internal(_))));
    }
}
