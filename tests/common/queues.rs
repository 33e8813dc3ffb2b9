//! Helpers for the async and trigger tests: which queue backend a server runs on, a callback
//! receiver, a private RabbitMQ node a test may stop and start, and status polling.

use super::{eventually, Server};
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The shared broker the test command starts (loopback only).
pub const RABBITMQ_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Embedded,
    RabbitMq,
}

impl Backend {
    /// Server arguments for this backend. Function names in these tests are unique per test
    /// (see [`unique`]), so tests can share the broker's default vhost without seeing each
    /// other's queues.
    /// Callbacks go to receivers on loopback ([`Callbacks`]), which the server must be told
    /// to allow.
    pub fn args(self) -> Vec<String> {
        let mut args = vec!["--callback-allow".to_string(), "127.0.0.1".to_string()];
        if let Backend::RabbitMq = self {
            args.extend(["--amqp-url".into(), RABBITMQ_URL.into()]);
        }
        args
    }

    pub fn start(self) -> Server {
        let args = self.args();
        Server::start_with(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

/// A name no other test (or earlier run against the same broker) uses.
pub fn unique(prefix: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded randomly per process and per instance.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    format!("{prefix}-{:012x}", h.finish() & 0xffff_ffff_ffff)
}

/// Sends an async event through the Lambda Invoke API; returns the HTTP status and request id.
pub fn send_event(server: &Server, function: &str, payload: &str, callback: Option<&str>) -> (u16, String) {
    let mut headers = vec![("X-Amz-Invocation-Type", "Event")];
    if let Some(url) = callback {
        headers.push(("X-Callback-Url", url));
    }
    let resp = server.invoke_with(function, payload.to_string(), &headers);
    let status = resp.status().as_u16();
    let id = resp.headers().get("x-amzn-requestid").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, id)
}

pub fn status(server: &Server, id: &str) -> Option<Value> {
    let resp = server.get(&format!("/v1/invocations/{id}"));
    (resp.status() == 200).then(|| resp.json().unwrap())
}

/// Waits until every id has reached `state`; returns the ids that did not.
pub fn wait_states(server: &Server, ids: &[String], state: &str, limit: Duration) -> Vec<String> {
    let mut pending: Vec<String> = ids.to_vec();
    eventually(limit, || {
        pending.retain(|id| status(server, id).is_none_or(|s| s["state"] != state));
        pending.is_empty()
    });
    pending
}

/// Receives `X-Callback-Url` POSTs on loopback and counts them per request id.
#[derive(Clone)]
pub struct Callbacks {
    pub url: String,
    seen: Arc<Mutex<HashMap<String, Vec<Value>>>>,
}

impl Callbacks {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/done", listener.local_addr().unwrap());
        let seen: Arc<Mutex<HashMap<String, Vec<Value>>>> = Arc::default();
        let store = seen.clone();
        // Ends with the test process; each connection is one request, answered 200.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(stream);
                let mut length = 0usize;
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let value: Value = serde_json::from_slice(&body).unwrap_or_default();
                let id = value["request_id"].as_str().unwrap_or_default().to_string();
                store.lock().unwrap().entry(id).or_default().push(value);
                let _ = reader.get_mut().write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            }
        });
        Self { url, seen }
    }

    /// (distinct request ids called back, total callbacks).
    pub fn counts(&self) -> (usize, usize) {
        let seen = self.seen.lock().unwrap();
        (seen.len(), seen.values().map(Vec::len).sum())
    }

    pub fn of(&self, id: &str) -> Vec<Value> {
        self.seen.lock().unwrap().get(id).cloned().unwrap_or_default()
    }
}

/// A RabbitMQ node of the test's own (own port, own data dir), so the test can stop and start
/// it without disturbing other tests. Stopped when dropped.
pub struct PrivateBroker {
    pub url: String,
    port: u16,
    node: String,
    env: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

impl PrivateBroker {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let dist = free_port();
        let node = format!("skiff-test-{port}@localhost");
        let path = |p: &str| -> String { dir.path().join(p).to_string_lossy().into_owned() };
        std::fs::write(dir.path().join("enabled_plugins"), "[].\n").unwrap();
        // The server scripts drop from root to the rabbitmq user, which must own the node's files.
        let owned = Command::new("chown").args(["-R", "rabbitmq:rabbitmq"]).arg(dir.path()).status().unwrap();
        assert!(owned.success(), "chown of the private broker's dir failed");
        let env = vec![
            ("RABBITMQ_NODENAME".into(), node.clone()),
            ("RABBITMQ_NODE_PORT".into(), port.to_string()),
            ("RABBITMQ_NODE_IP_ADDRESS".into(), "127.0.0.1".into()),
            ("RABBITMQ_DIST_PORT".into(), dist.to_string()),
            ("ERL_EPMD_ADDRESS".into(), "127.0.0.1".into()),
            ("RABBITMQ_MNESIA_BASE".into(), path("mnesia")),
            ("RABBITMQ_LOG_BASE".into(), path("log")),
            ("RABBITMQ_PID_FILE".into(), path("rabbit.pid")),
            ("RABBITMQ_ENABLED_PLUGINS_FILE".into(), path("enabled_plugins")),
            ("RABBITMQ_CONFIG_FILE".into(), path("rabbitmq")),
        ];
        let broker = Self { url: format!("amqp://guest:guest@127.0.0.1:{port}/%2f"), port, node, env, _dir: dir };
        broker.up();
        broker
    }

    /// Runs `rabbitmqctl` against this node; on failure, what it printed.
    fn ctl(&self, args: &[&str]) -> Result<(), String> {
        let out = Command::new("rabbitmqctl").arg("-n").arg(&self.node).args(args).envs(self.env.clone()).output();
        match out {
            Ok(o) if o.status.success() => Ok(()),
            Ok(o) => Err(format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))),
            Err(e) => Err(e.to_string()),
        }
    }

    /// `ctl`, retried: on a loaded machine the CLI's own distribution connection can time out
    /// while the node is fine, so one failure says little.
    fn ctl_retried(&self, args: &[&str]) {
        let mut last = String::new();
        for _ in 0..5 {
            match self.ctl(args) {
                Ok(()) => return,
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        panic!("rabbitmqctl {args:?} on {} failed: {last}", self.node);
    }

    /// Starts the node (again) on the same data and waits until it serves.
    pub fn up(&self) {
        let started = Command::new("rabbitmq-server").arg("-detached").envs(self.env.clone()).status().unwrap();
        assert!(started.success(), "rabbitmq-server -detached failed");
        let serving = eventually(Duration::from_secs(90), || std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok());
        assert!(serving, "private RabbitMQ node did not start");
    }

    /// Makes this (fresh) node a member of `seed`'s cluster.
    pub fn join(&self, seed: &PrivateBroker) {
        self.ctl_retried(&["await_startup", "--timeout", "60"]);
        seed.ctl_retried(&["await_startup", "--timeout", "60"]);
        self.ctl_retried(&["stop_app"]);
        self.ctl_retried(&["join_cluster", &seed.node]);
        self.ctl_retried(&["start_app"]);
    }

    /// `kill -9` of the node's Erlang VM: no goodbye to its clients or its cluster.
    pub fn kill9(&self) {
        let pid_file = self.env.iter().find(|(k, _)| k == "RABBITMQ_PID_FILE").map(|(_, v)| v.clone()).unwrap();
        let pid = std::fs::read_to_string(&pid_file).expect("the node's pid file").trim().to_string();
        assert!(Command::new("kill").args(["-9", &pid]).status().unwrap().success());
        let closed = eventually(Duration::from_secs(30), || std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err());
        assert!(closed, "RabbitMQ node still serving after kill -9");
    }

    /// Stops the whole node: every connection drops, and it refuses new ones until `up`.
    pub fn down(&self) {
        self.ctl_retried(&["stop"]);
        let closed = eventually(Duration::from_secs(30), || std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err());
        assert!(closed, "private RabbitMQ node still serving after stop");
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        let _ = self.ctl(&["stop"]);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The value of one metric series (exact name and labels as rendered), 0 when absent.
pub fn metric(server: &Server, series: &str) -> f64 {
    let text = server.get("/metrics").text().unwrap();
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' '))).map_or(0.0, |v| v.trim().parse().unwrap())
}
