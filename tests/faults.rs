//! Faults an operator will meet, injected for real: a full disk (a small tmpfs the test mounts),
//! damaged and swapped files in the data dir, `kill -9` loops under async load, a broker node
//! killed mid-stream, containers killed and paused mid-call. Each test prints its counts
//! (accepted, processed, lost, duplicated) for the record.
//!
//! The broker node *stopped* mid-stream is `rabbitmq::a_broker_restart_mid_stream_loses_nothing_and_consumers_recover`.

mod common;

use common::queues::{metric, send_event, status, unique, wait_states, Backend, Callbacks, PrivateBroker};
use common::{eventually, fixture, json_body, Server};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A tmpfs of `size_mb` mounted for the test's lifetime.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, size_mb: u32) -> Self {
        std::fs::create_dir_all(path).unwrap();
        let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size_mb}m,mode=0700"), "tmpfs"]).arg(path).status().unwrap();
        assert!(mounted.success(), "mounting a tmpfs needs root");
        Self(path.to_path_buf())
    }

    /// Writes a file until the disk is full; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.0.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        for _ in 0..10_000 {
            if file.write_all(&chunk).and_then(|()| file.sync_all()).is_err() {
                return path;
            }
        }
        panic!("{} never filled", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn runs(server: &Server, function: &str) -> f64 {
    metric(server, &format!("skiff_invocations_total{{function=\"{function}\",outcome=\"success\"}}"))
}

fn event(server: &Server, function: &str, payload: &str) -> (u16, Value, String) {
    let resp = server.invoke_with(function, payload.to_string(), &[("X-Amz-Invocation-Type", "Event")]);
    let id = resp.headers().get("x-amzn-requestid").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let (code, body) = json_body(resp);
    (code, body, id)
}

/// Sends events until one is accepted again (after an outage); its request id.
fn accepted_again(server: &Server, function: &str, limit: Duration) -> Option<String> {
    let mut back = None;
    eventually(limit, || {
        let (code, _, id) = event(server, function, r#"{"after":true}"#);
        back = (code == 202).then_some(id);
        back.is_some()
    });
    back
}

#[test]
fn a_full_disk_refuses_with_503_repeats_no_run_and_recovers_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let disk = Tmpfs::mount(&data, 20);
    let server = Server::start_in(&data, &[]);
    let f = unique("full");
    server.deploy_fixture(&f, "echo", json!({}));
    let mut accepted: Vec<String> = (0..10).map(|i| send_event(&server, &f, &format!("{{\"i\":{i}}}"), None).1).collect();
    assert!(wait_states(&server, &accepted, "succeeded", Duration::from_secs(30)).is_empty());

    let filler = disk.fill();
    // Each event is accepted (the database found room in its file) or refused with a 503 that
    // says why — never a 500.
    let mut refused = 0;
    for i in 0..2_000 {
        let (code, body, id) = event(&server, &f, &format!("{{\"full\":{i}}}"));
        match code {
            202 => accepted.push(id),
            503 => {
                refused += 1;
                assert!(body["message"].as_str().unwrap_or_default().contains("cannot write"), "{body}");
            }
            other => panic!("an event on a full disk got {other}: {body}"),
        }
        if refused == 20 {
            break;
        }
    }
    assert_eq!(refused, 20, "the full disk never refused an event");
    let (code, body) = json_body(server.deploy(&unique("new"), Some(&fixture("noop")), json!({})));
    assert_eq!(code, 503, "a deploy on a full disk: {body}");
    let (code, body) = json_body(server.get(&format!("/v1/invocations/{}", accepted[0])));
    assert!(code == 200 || code == 503, "a status lookup on a full disk: {code} {body}");
    assert_eq!(metric(&server, "skiff_storage_writable{store=\"queue\"}"), 0.0);

    // No run repeats because its ack could not be written (this used to spin at ~2,400 runs/s).
    std::thread::sleep(Duration::from_secs(3));
    let while_full = runs(&server, &f);
    assert!(while_full <= accepted.len() as f64, "{while_full} runs for {} accepted events on a full disk", accepted.len());

    std::fs::remove_file(&filler).unwrap();
    let back = accepted_again(&server, &f, Duration::from_secs(30)).unwrap_or_else(|| panic!("no 202 after the disk was freed\n{}", server.stderr()));
    accepted.push(back);
    let lost = wait_states(&server, &accepted, "succeeded", Duration::from_secs(60));
    assert!(lost.is_empty(), "lost {} of {}: {lost:?}\n{}", lost.len(), accepted.len(), server.stderr());
    let (code, body) = json_body(server.deploy(&unique("new"), Some(&fixture("noop")), json!({})));
    assert_eq!(code, 201, "a deploy after the disk was freed: {body}");
    assert!(eventually(Duration::from_secs(10), || metric(&server, "skiff_storage_writable{store=\"queue\"}") == 1.0));
    let total = runs(&server, &f);
    let log = server.stderr().len();
    assert!(log < 1 << 20, "{log} bytes of log for one outage");
    println!(
        "full disk: {} accepted, {} refused (503), {} processed, {} lost, {} duplicated, {log} bytes of log",
        accepted.len(),
        refused,
        total,
        lost.len(),
        total - accepted.len() as f64
    );
    assert_eq!(total, accepted.len() as f64, "every accepted event ran exactly once");
}

/// The content-addressed file of `sha256` in `data`.
fn blob(data: &Path, sha256: &str) -> PathBuf {
    data.join("code").join(sha256)
}

fn compiled_artifacts(data: &Path, sha256: &str) -> Vec<PathBuf> {
    std::fs::read_dir(data.join("compiled"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(sha256) && p.extension().is_some_and(|e| e == "cwasm"))
        .collect()
}

#[test]
fn a_swapped_code_blob_is_refused_reported_and_repaired_by_a_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_in(&data, &[]);
    let echo = server.deploy_fixture("echo", "echo", json!({}));
    let other = server.deploy_fixture("other", "respond", json!({}));
    let (echo_sha, other_sha) = (echo["code"]["sha256"].as_str().unwrap().to_string(), other["code"]["sha256"].as_str().unwrap());
    assert!(server.stop().success());
    std::fs::copy(blob(&data, other_sha), blob(&data, &echo_sha)).unwrap();
    std::fs::remove_dir_all(data.join("compiled")).unwrap();

    let server = Server::start_in(&data, &[]);
    let (code, body) = json_body(server.invoke("echo", r#"{"who":"echo"}"#));
    assert_eq!(code, 500, "the swapped blob must not run: {body}");
    assert!(body["message"].as_str().unwrap().contains("corrupt"), "{body}");
    let (_, shown) = json_body(server.get("/v1/functions/echo"));
    assert!(shown["code_fault"].as_str().is_some_and(|f| f.contains(&echo_sha)), "{shown}");
    let cli = server.cli(&["get", "echo"]);
    assert!(String::from_utf8_lossy(&cli.stdout).contains("code fault"), "{}", String::from_utf8_lossy(&cli.stdout));

    // Deploying the same code again writes an intact copy.
    server.deploy_fixture("echo", "echo", json!({}));
    let (code, body) = json_body(server.invoke("echo", r#"{"who":"echo"}"#));
    assert_eq!((code, &body), (200, &json!({ "who": "echo" })));
    let (_, shown) = json_body(server.get("/v1/functions/echo"));
    assert!(shown.get("code_fault").is_none(), "{shown}");
}

#[test]
fn a_damaged_compiled_artifact_is_compiled_again_instead_of_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_in(&data, &[]);
    let echo = server.deploy_fixture("echo", "echo", json!({}));
    let sha = echo["code"]["sha256"].as_str().unwrap().to_string();
    assert_eq!(json_body(server.invoke("echo", "{}")).0, 200);
    assert!(server.stop().success());
    // Overwrite the native code with breakpoints (int3): mapped and run, this takes the whole
    // server down with SIGTRAP.
    let artifacts = compiled_artifacts(&data, &sha);
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    let mut bytes = std::fs::read(&artifacts[0]).unwrap();
    let text = elf_section(&bytes, ".text").expect("the artifact is an ELF file with a .text section");
    bytes[text].fill(0xCC);
    std::fs::write(&artifacts[0], &bytes).unwrap();

    let server = Server::start_in(&data, &[]);
    for i in 0..3 {
        let (code, body) = json_body(server.invoke("echo", format!("{{\"i\":{i}}}")));
        assert_eq!((code, body), (200, json!({ "i": i })));
    }
    assert!(server.stderr().contains("not loading a compiled artifact"), "{}", server.stderr());
    assert_ne!(std::fs::read(&artifacts[0]).unwrap(), bytes, "the damaged artifact was replaced");
}

/// The byte range of the section `name` in a 64-bit little-endian ELF file.
fn elf_section(elf: &[u8], name: &str) -> Option<std::ops::Range<usize>> {
    let u16_at = |at: usize| u16::from_le_bytes(elf[at..at + 2].try_into().unwrap()) as usize;
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap()) as usize;
    let (table, entry, count, names) = (u64_at(0x28), u16_at(0x3A), u16_at(0x3C), u16_at(0x3E));
    let header = |i: usize| table + i * entry;
    let strings = u64_at(header(names) + 0x18);
    (0..count).find_map(|i| {
        let at = strings + u32::from_le_bytes(elf[header(i)..header(i) + 4].try_into().unwrap()) as usize;
        let end = at + elf[at..].iter().position(|&b| b == 0)?;
        let (offset, size) = (u64_at(header(i) + 0x18), u64_at(header(i) + 0x20));
        (&elf[at..end] == name.as_bytes()).then_some(offset..offset + size)
    })
}

/// Where the test cuts a database file: past redb's header page, inside what it holds.
const TRUNCATED_TO: usize = 4096;

#[test]
fn a_damaged_database_stops_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_in(&data, &[]);
    server.deploy_fixture("echo", "echo", json!({}));
    let (code, _) = send_event(&server, "echo", "{}", None);
    assert_eq!(code, 202);
    assert!(server.stop().success());
    for file in ["skiff.redb", "queue.redb", "invocations.redb"] {
        let path = data.join(file);
        let intact = std::fs::read(&path).unwrap();
        for damage in ["truncated", "flipped header"] {
            match damage {
                // Cut to the header page: redb keeps slack past its last region, so cutting
                // half a file can drop only unused space, which is no damage at all.
                "truncated" => std::fs::write(&path, &intact[..TRUNCATED_TO]).unwrap(),
                _ => {
                    let mut flipped = intact.clone();
                    flipped[0] ^= 0xff;
                    std::fs::write(&path, flipped).unwrap();
                }
            }
            let refused = Server::try_start_in(&data, &[]).err().unwrap_or_else(|| panic!("started on a {damage} {file}"));
            assert!(refused.contains(&format!("{file} is damaged")) && refused.contains("move it aside"), "{damage} {file}:\n{refused}");
            assert!(!refused.contains("panicked") && !refused.contains("RUST_BACKTRACE"), "{damage} {file}:\n{refused}");
        }
        std::fs::write(&path, intact).unwrap();
    }
    let server = Server::start_in(&data, &[]);
    assert_eq!(json_body(server.invoke("echo", "{}")).0, 200);
}

/// Events running on this server now.
fn running(server: &Server, ids: &[String]) -> Vec<String> {
    ids.iter().filter(|id| status(server, id).is_some_and(|s| s["state"] == "running")).cloned().collect()
}

fn attempts(server: &Server, id: &str) -> u64 {
    status(server, id).and_then(|s| s["attempts"].as_u64()).unwrap_or(0)
}

fn kill_9_loop(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = backend.args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let callbacks = Callbacks::start();
    let mut server = Server::start_in(&data, &args);
    let f = unique("crashing");
    server.deploy_fixture(&f, "slow", json!({ "concurrency": 2 }));
    let (mut accepted, mut cut_off) = (Vec::new(), Vec::new());
    let rounds = 3;
    for round in 0..rounds {
        let ids: Vec<String> = (0..10).map(|i| send_event(&server, &f, &format!("{{\"round\":{round},\"i\":{i}}}"), Some(&callbacks.url)).1).collect();
        let mut now = Vec::new();
        assert!(eventually(Duration::from_secs(30), || {
            now = running(&server, &ids);
            !now.is_empty()
        }));
        server.kill9();
        accepted.extend(ids);
        cut_off.extend(now);
        server = Server::start_in(&data, &args);
    }
    let lost = wait_states(&server, &accepted, "succeeded", Duration::from_secs(120));
    assert!(lost.is_empty(), "lost {} of {}: {lost:?}\n{}", lost.len(), accepted.len(), server.stderr());
    assert!(eventually(Duration::from_secs(20), || callbacks.counts().0 == accepted.len()));
    let (distinct, total) = callbacks.counts();
    // A run a crash cut off runs again, and its record says so; so does every repeated run.
    let counted = cut_off.iter().filter(|id| attempts(&server, id) >= 2).count();
    let repeated: Vec<&String> = accepted.iter().filter(|id| callbacks.of(id).len() > 1).collect();
    let hidden: Vec<&&String> = repeated.iter().filter(|id| attempts(&server, id) < 2).collect();
    assert!(hidden.is_empty(), "runs repeated with records that say one attempt: {hidden:?}");
    println!(
        "kill -9 loop ({backend:?}, {rounds} crashes): {} accepted, {distinct} processed, {} lost, {} duplicated; {} runs cut off, {counted} of them counted as a second attempt",
        accepted.len(),
        lost.len(),
        total - distinct,
        cut_off.len()
    );
    assert!(counted >= rounds, "runs cut off by a crash are not counted: {counted} of {}", cut_off.len());
}

#[test]
fn a_kill_9_loop_under_async_load_loses_nothing_embedded() {
    kill_9_loop(Backend::Embedded);
}

#[test]
fn a_kill_9_loop_under_async_load_loses_nothing_rabbitmq() {
    kill_9_loop(Backend::RabbitMq);
}

/// A broker of two nodes (each on its own port): the node the server talks to dies with
/// `kill -9` mid-stream and comes back. A *single* RabbitMQ 3.10 node killed this way leaves its
/// quorum queues without a leader after restart until an operator forces an election
/// (rabbitmq-server#10070), which no client can do; with a second node the election happens by
/// itself when the killed node returns.
#[test]
fn a_broker_node_killed_mid_stream_loses_nothing_and_counts_the_cut_off_runs() {
    let (first, second) = (PrivateBroker::start(), PrivateBroker::start());
    second.join(&first);
    let server = Server::start_with(&["--amqp-url", &format!("{},{}", first.url, second.url)]);
    let f = unique("steady");
    server.deploy_fixture(&f, "slow", json!({ "concurrency": 2 }));
    let mut accepted: Vec<String> = (0..20).map(|i| send_event(&server, &f, &format!("{{\"i\":{i}}}"), None).1).collect();
    let mut cut_off = Vec::new();
    assert!(eventually(Duration::from_secs(30), || {
        cut_off = running(&server, &accepted);
        !cut_off.is_empty()
    }));
    first.kill9();
    first.up();
    let back = accepted_again(&server, &f, Duration::from_secs(90)).unwrap_or_else(|| panic!("no 202 after the broker node came back\n{}", server.stderr()));
    accepted.push(back);
    let lost = wait_states(&server, &accepted, "succeeded", Duration::from_secs(120));
    assert!(lost.is_empty(), "lost {} of {}: {lost:?}\n{}", lost.len(), accepted.len(), server.stderr());
    let total = runs(&server, &f);
    let duplicated = total as usize - accepted.len();
    let counted = cut_off.iter().filter(|id| attempts(&server, id) >= 2).count();
    let visible = accepted.iter().filter(|id| attempts(&server, id) >= 2).count();
    let metered = metric(&server, &format!("skiff_async_runs_cut_off_total{{function=\"{f}\"}}"));
    println!(
        "broker node kill -9: {} accepted, {total} processed, {} lost, {duplicated} duplicated; {} runs cut off, {counted} counted as a second attempt; {visible} records and {metered} in the metric show a repeated run",
        accepted.len(),
        lost.len(),
        cut_off.len()
    );
    assert!(counted >= 1, "runs cut off by the broker node's death are not counted: {counted} of {}", cut_off.len());
    assert!(visible >= duplicated && metered >= duplicated as f64, "{duplicated} runs repeated, {visible} records and {metered} in the metric say so");
}

const PROBE: &str = "skiff-tests/probe:latest";

/// What a docker command did to the container of a call in flight.
struct Disturbed {
    container: String,
    status: u16,
    error: Option<String>,
    body: Value,
}

/// Deploys the probe as `name` (a warm container, `timeout_s`), starts a call that sleeps
/// `sleep_ms`, runs `docker <action> CONTAINER` `after` into it, and returns the call's answer;
/// then checks that the next call is served by a new container.
fn disturb_a_call(name: &str, timeout_s: u32, sleep_ms: u64, after: Duration, action: &str) -> (Server, Disturbed) {
    let server = Server::start();
    let (code, body) = json_body(server.deploy(name, None, json!({ "image": PROBE, "timeout_s": timeout_s })));
    assert!(code == 200 || code == 201, "{body}");
    assert_eq!(json_body(server.invoke(name, r#"{"op":"echo"}"#)).0, 200);
    let (http, url) = (server.http().clone(), format!("{}/2015-03-31/functions/{name}/invocations", server.url));
    let call = std::thread::spawn(move || http.post(url).body(json!({ "op": "sleep", "ms": sleep_ms }).to_string()).send().unwrap());
    std::thread::sleep(after);
    let containers = server.containers(&[("skiff.function", name)]);
    assert_eq!(containers.len(), 1, "{containers:?}");
    let out = Command::new("docker").args([action, &containers[0]]).output().unwrap();
    assert!(out.status.success(), "docker {action}: {}", String::from_utf8_lossy(&out.stderr));
    let resp = call.join().unwrap();
    let error = resp.headers().get("x-amz-function-error").map(|v| v.to_str().unwrap().to_string());
    let (status, body) = json_body(resp);
    let (code, next) = json_body(server.invoke(name, r#"{"op":"echo"}"#));
    assert_eq!(code, 200, "the next call runs in a new container: {next}");
    (server, Disturbed { container: containers[0].clone(), status, error, body })
}

#[test]
fn a_container_killed_mid_call_reports_the_signal_and_is_replaced() {
    let (_server, killed) = disturb_a_call("victim", 30, 10_000, Duration::from_secs(1), "kill");
    let answer = (killed.status, killed.error.as_deref(), killed.body["errorType"].as_str());
    assert_eq!(answer, (200, Some("Unhandled"), Some("Runtime.ExitError")), "{}", killed.body);
    let message = killed.body["errorMessage"].as_str().unwrap();
    assert!(message.contains("signal: killed") && message.contains("from outside"), "{message}");
    println!("container killed mid-call: {message}");
}

#[test]
fn a_container_paused_mid_call_times_out_and_is_replaced() {
    // Unpaused, the call would end well inside its timeout; the pause (two docker commands,
    // slow while other tests load the machine) has 1.3 s to land.
    let (server, paused) = disturb_a_call("frozen", 3, 1500, Duration::from_millis(200), "pause");
    let answer = (paused.status, paused.error.as_deref(), paused.body["errorType"].as_str());
    assert_eq!(answer, (200, Some("Unhandled"), Some("Sandbox.Timedout")), "{}", paused.body);
    let gone = eventually(Duration::from_secs(20), || !server.containers(&[("skiff.function", "frozen")]).contains(&paused.container));
    assert!(gone, "the paused container was left behind");
    println!("container paused mid-call: {}", paused.body["errorMessage"]);
}
