//! A cluster on one machine for the tests: a 3-member etcd (Debian's `etcd-server`) on
//! loopback ports of its own, and Skiff nodes joined to it, each with its own data dir.

use super::{eventually, Server};
use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const SECRET: &str = "test-cluster-secret";
/// Short, so loss is seen quickly in tests.
pub const LEASE_TTL_S: u64 = 3;

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Etcd {
    members: Vec<Option<Child>>,
    pub client_urls: Vec<String>,
    dir: tempfile::TempDir,
}

impl Etcd {
    /// Starts three members and waits until the cluster has a leader. A port picked free can be
    /// taken by another test before a member binds it, so a cluster that does not come up is
    /// started again on new ports (the members' logs say why).
    pub fn start() -> Self {
        for _ in 0..2 {
            match Self::try_start() {
                Ok(etcd) => return etcd,
                Err(logs) => eprintln!("etcd did not become healthy; starting it again on new ports:\n{logs}"),
            }
        }
        Self::try_start().unwrap_or_else(|logs| panic!("etcd did not become healthy:\n{logs}"))
    }

    fn try_start() -> Result<Self, String> {
        let dir = tempfile::tempdir().unwrap();
        let peers: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let clients: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let initial: Vec<String> = peers.iter().enumerate().map(|(i, p)| format!("e{i}=http://127.0.0.1:{p}")).collect();
        let members = (0..3)
            .map(|i| {
                let log = std::fs::File::create(dir.path().join(format!("e{i}.log"))).unwrap();
                let client = format!("http://127.0.0.1:{}", clients[i]);
                let peer = format!("http://127.0.0.1:{}", peers[i]);
                Some(
                    Command::new("etcd")
                        .args(["--name", &format!("e{i}"), "--data-dir"])
                        .arg(dir.path().join(format!("e{i}")))
                        .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
                        .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
                        .args(["--initial-cluster", &initial.join(","), "--initial-cluster-state", "new"])
                        .args(["--initial-cluster-token", &format!("skiff-test-{}", std::process::id())])
                        .args(["--auto-compaction-mode", "revision", "--auto-compaction-retention", "1000"])
                        .stdout(Stdio::null())
                        .stderr(log)
                        .spawn()
                        .expect("etcd runs (scripts/install-deps.sh installs etcd-server)"),
                )
            })
            .collect();
        let etcd = Self { members, client_urls: clients.iter().map(|p| format!("http://127.0.0.1:{p}")).collect(), dir };
        if eventually(Duration::from_secs(30), || etcd.healthy()) {
            return Ok(etcd);
        }
        let tails = (0..3).map(|i| {
            let log = std::fs::read_to_string(etcd.dir.path().join(format!("e{i}.log"))).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(3).collect();
            format!("e{i}: {}", tail.into_iter().rev().collect::<Vec<_>>().join("\n    "))
        });
        Err(tails.collect::<Vec<_>>().join("\n"))
    }

    pub fn endpoints(&self) -> String {
        self.client_urls.join(",")
    }

    fn healthy(&self) -> bool {
        Command::new("etcdctl")
            .args(["--endpoints", &self.endpoints(), "--dial-timeout", "1s", "--command-timeout", "2s", "endpoint", "health"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// `kill -9` of member `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("e{i}.log"))).unwrap_or_default()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// Starts a node named `name` on `data_dir`, joined to `etcd`, with `extra` flags.
pub fn start_node(etcd: &Etcd, name: &str, data_dir: &Path, extra: &[&str]) -> Server {
    start_node_via(&etcd.endpoints(), name, data_dir, extra)
}

/// Like [`start_node`], reaching etcd only through `endpoints`.
pub fn start_node_via(endpoints: &str, name: &str, data_dir: &Path, extra: &[&str]) -> Server {
    let ttl = LEASE_TTL_S.to_string();
    // Test callbacks go to receivers on loopback.
    let mut args = vec!["--etcd", endpoints, "--node", name, "--cluster-secret", SECRET, "--lease-ttl", &ttl, "--callback-allow", "127.0.0.1"];
    args.extend_from_slice(extra);
    Server::start_in(data_dir, &args)
}

/// Three nodes `a`, `b`, `c`, each on its own data dir under `root`, once each sees all three
/// ready.
pub fn start_nodes(etcd: &Etcd, root: &Path) -> Vec<Server> {
    let nodes: Vec<Server> = ["a", "b", "c"].iter().map(|n| start_node(etcd, n, &node_dir(root, n), &[])).collect();
    wait_all_ready(&nodes.iter().collect::<Vec<_>>());
    nodes
}

/// Whether `server` lists exactly `n` nodes, all ready.
pub fn all_ready(server: &Server, n: usize) -> bool {
    let states = node_states(server);
    states.len() == n && states.iter().all(|(_, s)| s == "ready")
}

/// Waits until every one of `nodes` sees all of them ready.
pub fn wait_all_ready(nodes: &[&Server]) {
    for n in nodes {
        assert!(eventually(Duration::from_secs(5), || all_ready(n, nodes.len())), "{:?}", node_states(n));
    }
}

pub fn node_dir(root: &Path, name: &str) -> PathBuf {
    root.join(name)
}

/// `GET /v1/nodes` as (name, state) pairs.
pub fn node_states(server: &Server) -> Vec<(String, String)> {
    let body: Value = server.get("/v1/nodes").json().unwrap();
    body["nodes"].as_array().unwrap().iter().map(|n| (n["name"].as_str().unwrap().to_string(), n["state"].as_str().unwrap().to_string())).collect()
}

/// The node named in a response's `X-Skiff-Node`.
pub fn executed_on(resp: &reqwest::blocking::Response) -> String {
    resp.headers().get("x-skiff-node").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// Drops this machine's packets to a loopback port while it lives (an iptables rule, removed
/// when dropped): what a node using that port sees when the network between it and the peer
/// behind it fails.
pub struct Cut {
    rule: Vec<String>,
}

impl Cut {
    pub fn port(port: u16) -> Self {
        let rule: Vec<String> = ["OUTPUT", "-p", "tcp", "-d", "127.0.0.1", "--dport", &port.to_string(), "-j", "DROP"].iter().map(|s| s.to_string()).collect();
        let added = Command::new("iptables").arg("-I").args(&rule).status().unwrap();
        assert!(added.success(), "iptables -I failed");
        Self { rule }
    }
}

impl Drop for Cut {
    fn drop(&mut self) {
        let _ = Command::new("iptables").arg("-D").args(&self.rule).status();
    }
}
