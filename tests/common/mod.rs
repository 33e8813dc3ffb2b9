//! Starts the real `skiff` binary on 127.0.0.1:0 with its own data dir, and talks to it over HTTP
//! and through the CLI.
#![allow(dead_code)]

pub mod cluster;
pub mod queues;

use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_skiff");

/// A deploy request: `settings` with the code file at `code` (if any) as `wasm_base64`.
pub fn deploy_body(code: Option<&Path>, mut settings: Value) -> Value {
    use base64::Engine as _;
    if let Some(path) = code {
        settings["wasm_base64"] = base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).unwrap()).into();
    }
    settings
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("functions/fixtures").join(format!("{name}.wat"))
}

/// An example function's build output; the test command builds them before running tests.
pub fn example(dir: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("functions").join(dir).join("build/hello.wasm");
    assert!(path.exists(), "{} is missing: run scripts/build-functions.sh (scripts/test.sh does)", path.display());
    path
}

pub struct Server {
    child: Option<Child>,
    pub url: String,
    pub data_dir: PathBuf,
    stderr_log: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    http: Client,
    /// Remove this server's leftover containers when it is dropped (not after a simulated crash,
    /// whose leftovers the next server on the data dir must find).
    sweep_on_drop: bool,
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(args: &[&str]) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let data_dir = tmp.path().join("data");
        let mut server = Self::start_in(&data_dir, args);
        server._tmp = Some(tmp);
        server
    }

    /// Starts a server on an existing data dir (to test restarts). The caller owns the dir.
    pub fn start_in(data_dir: &Path, args: &[&str]) -> Self {
        Self::try_start_in(data_dir, args).expect("server did not start")
    }

    pub fn try_start_in(data_dir: &Path, args: &[&str]) -> Result<Self, String> {
        Self::try_start_env(data_dir, args, &[])
    }

    /// Starts a server with extra environment variables (e.g. a `DOCKER_HOST`).
    pub fn try_start_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        Self::launch(data_dir, data_dir, None, args, env)
    }

    /// Starts a server in `cwd` with a relative `--data-dir` (the default `./.skiff` is relative).
    pub fn start_relative(cwd: &Path, data_dir: &str) -> Self {
        Self::launch(&cwd.join(data_dir), Path::new(data_dir), Some(cwd), &[], &[]).expect("server did not start")
    }

    fn launch(data_dir: &Path, data_dir_arg: &Path, cwd: Option<&Path>, args: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        std::fs::create_dir_all(data_dir).unwrap();
        let stderr_log = data_dir.with_extension(format!("stderr-{}.log", std::process::id() ^ rand_u32()));
        let mut command = Command::new(BIN);
        if let Some(cwd) = cwd {
            command.current_dir(cwd);
        }
        let mut child = command
            .args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir_arg)
            .args(args)
            .env_remove("SKIFF_TOKEN")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut first = String::new();
            let mut reader = BufReader::new(stdout);
            let _ = reader.read_line(&mut first);
            let _ = tx.send(first);
            // Keep draining so the server never blocks on a full pipe.
            let mut sink = String::new();
            while reader.read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {
                sink.clear();
            }
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let Some(url) = line.trim().strip_prefix("skiff listening on ").map(str::to_string) else {
            let _ = child.wait();
            return Err(std::fs::read_to_string(&stderr_log).unwrap_or_default());
        };
        Ok(Self {
            child: Some(child),
            url,
            data_dir: data_dir.to_path_buf(),
            stderr_log,
            _tmp: None,
            sweep_on_drop: true,
            http: Client::builder().timeout(Duration::from_secs(120)).build().unwrap(),
        })
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    pub fn http(&self) -> &Client {
        &self.http
    }

    /// `PUT /v1/functions/{name}` with the given code file and settings.
    pub fn deploy(&self, name: &str, code: Option<&Path>, settings: Value) -> Response {
        self.http.put(format!("{}/v1/functions/{name}", self.url)).json(&deploy_body(code, settings)).send().unwrap()
    }

    /// Deploys a WAT fixture and asserts it worked.
    pub fn deploy_fixture(&self, name: &str, fixture_name: &str, settings: Value) -> Value {
        let resp = self.deploy(name, Some(&fixture(fixture_name)), settings);
        let status = resp.status();
        let body: Value = resp.json().unwrap();
        assert!(status.is_success(), "deploy {name} failed: {status} {body}");
        body
    }

    /// Invokes through the Lambda Invoke API.
    pub fn invoke(&self, name: &str, payload: impl Into<reqwest::blocking::Body>) -> Response {
        self.invoke_with(name, payload, &[])
    }

    pub fn invoke_with(&self, name: &str, payload: impl Into<reqwest::blocking::Body>, headers: &[(&str, &str)]) -> Response {
        let mut req = self.http.post(format!("{}/2015-03-31/functions/{name}/invocations", self.url)).body(payload);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().unwrap()
    }

    pub fn get(&self, path: &str) -> Response {
        self.http.get(format!("{}{path}", self.url)).send().unwrap()
    }

    /// Runs the CLI against this server.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_stdin(args, None)
    }

    pub fn cli_with_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        use std::io::Write;
        let mut child = Command::new(BIN)
            .args(args)
            .env("SKIFF_URL", &self.url)
            .env_remove("SKIFF_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(data) = stdin {
            input.write_all(data).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    /// Sends SIGTERM and waits for the process to exit; returns its exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        signal(&child, "TERM");
        child.wait().unwrap()
    }

    /// Like [`Server::stop`], leaving its containers to the next server (service copies
    /// outlive a graceful stop).
    pub fn stop_leaving_containers(mut self) -> std::process::ExitStatus {
        self.sweep_on_drop = false;
        self.stop()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
}

impl Server {
    /// The id that labels this server's containers (made once per data dir).
    pub fn owner(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("owner-id")).unwrap_or_default().trim().to_string()
    }

    /// Ids of this server's containers (running or not), optionally narrowed by more labels.
    pub fn containers(&self, labels: &[(&str, &str)]) -> Vec<String> {
        owned_containers(&self.owner(), labels)
    }

    /// Kills the server without letting it clean up (a crash).
    pub fn kill9(mut self) {
        self.sweep_on_drop = false;
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// Containers labelled with `owner` (and `labels`), through the docker CLI: what an operator sees.
pub fn owned_containers(owner: &str, labels: &[(&str, &str)]) -> Vec<String> {
    try_owned_containers(owner, labels).expect("docker ps failed")
}

fn try_owned_containers(owner: &str, labels: &[(&str, &str)]) -> Option<Vec<String>> {
    if owner.is_empty() {
        return Some(Vec::new());
    }
    let all: Vec<(&str, &str)> = [("skiff.owner", owner)].into_iter().chain(labels.iter().copied()).collect();
    labelled_containers(&all)
}

/// Containers (running or not) carrying every one of `labels`, through the docker CLI.
fn labelled_containers(labels: &[(&str, &str)]) -> Option<Vec<String>> {
    let mut cmd = Command::new("docker");
    cmd.args(["ps", "-aq", "--no-trunc"]);
    for (k, v) in labels {
        cmd.arg("--filter").arg(format!("label={k}={v}"));
    }
    let out = cmd.output().ok().filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect())
}

fn remove_containers(ids: &[String]) {
    if !ids.is_empty() {
        let _ = Command::new("docker").args(["rm", "-f"]).args(ids).output();
    }
}

/// Removes, when dropped, every container carrying the label `.0` = `.1`, whoever owns it: for
/// containers a killed node leaves on the engine and no node will come back to remove.
pub struct RemoveOnDrop(pub &'static str, pub String);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        remove_containers(&labelled_containers(&[(self.0, &self.1)]).unwrap_or_default());
    }
}

/// Polls `f` every 100 ms until it is true or `limit` passes; returns whether it became true.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Drop for Server {
    /// Stops the server gracefully (it removes its containers), falling back to a kill, and
    /// sweeps any container it left, so tests never leak containers into each other.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, "TERM");
            let stopped = eventually(Duration::from_secs(15), || matches!(child.try_wait(), Ok(Some(_))));
            if !stopped {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let leftovers = match self.sweep_on_drop {
            true => try_owned_containers(&self.owner(), &[]).unwrap_or_default(),
            false => Vec::new(),
        };
        remove_containers(&leftovers);
        let _ = std::fs::remove_file(&self.stderr_log);
    }
}

pub fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
}

fn rand_u32() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()
}

/// The parsed body of a response, with its status for assertion messages.
pub fn json_body(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text })))
}

/// A raw connection to `url` whose reads give up after 10 s, and the `host:port` it is to.
fn raw_connection(url: &str) -> (std::net::TcpStream, &str) {
    let host = url.trim_start_matches("http://");
    let conn = std::net::TcpStream::connect(host).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (conn, host)
}

/// Reads from `conn` into `seen` until it holds `needle`; panics, naming `awaited`, if the
/// connection ends or 10 s pass first.
fn read_until(conn: &mut std::net::TcpStream, seen: &mut Vec<u8>, needle: &str, awaited: &str) {
    use std::io::Read as _;
    while !String::from_utf8_lossy(seen).contains(needle) {
        let mut buf = [0u8; 4096];
        match conn.read(&mut buf) {
            Ok(0) => panic!("the response ended before {awaited}: {}", String::from_utf8_lossy(seen)),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) => panic!("no {awaited} within 10 s ({e}): {}", String::from_utf8_lossy(seen)),
        }
    }
}

/// Sends `METHOD path` to `url` with a chunked body, one chunk at a time over a raw connection,
/// and checks that the response echoes each chunk before the next one is sent (a full-duplex
/// exchange, as the `hello-http-py` example's `/duplex` route answers). Returns the whole raw
/// response once the body is ended.
pub fn duplex_exchange(url: &str, method: &str, path: &str, chunks: &[&str]) -> String {
    use std::io::{Read as _, Write as _};
    let (mut conn, host) = raw_connection(url);
    write!(conn, "{method} {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").unwrap();
    let mut seen = Vec::new();
    for chunk in chunks {
        write!(conn, "{:x}\r\n{chunk}\r\n", chunk.len()).unwrap();
        conn.flush().unwrap();
        read_until(&mut conn, &mut seen, chunk, &format!("echo of {chunk:?} before the next chunk was sent"));
    }
    write!(conn, "0\r\n\r\n").unwrap();
    conn.read_to_end(&mut seen).unwrap();
    String::from_utf8_lossy(&seen).into_owned()
}

/// Sends `POST path` with `Expect: 100-continue` (as curl does for bodies over 1 KiB) and the
/// body only once the server said `100 Continue`; returns the final response, raw. Panics if no
/// `100 Continue` comes within 10 s.
pub fn expect_continue_exchange(url: &str, path: &str, body: &str) -> String {
    use std::io::{Read as _, Write as _};
    let (mut conn, host) = raw_connection(url);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    let mut seen = Vec::new();
    read_until(&mut conn, &mut seen, "\r\n\r\n", "100 Continue");
    let interim = String::from_utf8_lossy(&seen).into_owned();
    assert!(interim.starts_with("HTTP/1.1 100"), "the first answer is not 100 Continue: {interim}");
    let rest = interim.split_once("\r\n\r\n").map(|(_, r)| r.to_string()).unwrap_or_default();
    conn.write_all(body.as_bytes()).unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).unwrap();
    rest + &String::from_utf8_lossy(&answer)
}
