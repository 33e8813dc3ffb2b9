//! A one-member etcd and Skiff nodes joined to it, for the cluster benchmarks.

use crate::server::Skiff;
use anyhow::Context;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) const LEASE_TTL_S: u64 = 3;

/// One etcd member on loopback ports of its own; killed when dropped.
pub(crate) struct Etcd {
    child: Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl Etcd {
    pub(crate) fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let (client, peer) = (free_port()?, free_port()?);
        let endpoint = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let child = Command::new("etcd")
            .args(["--data-dir"])
            .arg(dir.path())
            .args(["--listen-client-urls", &endpoint, "--advertise-client-urls", &endpoint])
            .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &format!("default={peer_url}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting etcd (scripts/install-deps.sh installs etcd-server)")?;
        let etcd = Self { child, endpoint, _dir: dir };
        crate::server::wait_listening("etcd", etcd.endpoint.trim_start_matches("http://"), Duration::from_secs(10))?;
        Ok(etcd)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub(crate) fn node(etcd: &Etcd, name: &str) -> anyhow::Result<Skiff> {
    let ttl = LEASE_TTL_S.to_string();
    Skiff::start_with(&["--etcd", &etcd.endpoint, "--node", name, "--cluster-secret", "bench", "--lease-ttl", &ttl])
}
