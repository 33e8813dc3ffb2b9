//! nginx as a reverse proxy in front of a service copy: the baseline `/svc` is measured against
//! (Debian's nginx, the way it is run in front of an upstream in production — upstream
//! keep-alive, HTTP/1.1 to the upstream, no access log, one worker per core). Keep-alive
//! connections are not recycled after 1000 requests (nginx's default on both sides), as the
//! gateway does not recycle them either and the load generator keeps its connections.

use anyhow::Context;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) struct Nginx {
    child: Child,
    pub(crate) addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    /// SIGTERM, so the master stops its workers: a SIGKILLed master leaves them running, holding
    /// the port and the bench's stderr (a pipe reading it then never ends). SIGKILL only if the
    /// master has not exited within a few seconds.
    fn drop(&mut self) {
        // SAFETY: kill(2) on the pid of a child this process spawned and has not reaped yet.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// Starts nginx on a free loopback port, proxying everything to `upstream` (`IP:PORT`).
    pub(crate) fn start(upstream: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let conf = dir.path().join("nginx.conf");
        let prefix = dir.path().display();
        std::fs::write(
            &conf,
            format!(
                "worker_processes auto;\ndaemon off;\npid {prefix}/nginx.pid;\nerror_log stderr error;\n\
                 events {{ worker_connections 4096; }}\n\
                 http {{\n  access_log off;\n  keepalive_requests 100000000;\n  keepalive_timeout 300s;\n  client_body_temp_path {prefix}/body;\n  proxy_temp_path {prefix}/proxy;\n\
                 fastcgi_temp_path {prefix}/fcgi;\n  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n\
                 upstream copy {{ server {upstream}; keepalive 64; keepalive_requests 100000000; keepalive_timeout 300s; }}\n\
                 server {{\n    listen 127.0.0.1:{port};\n    location / {{\n      proxy_pass http://copy;\n\
                 proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      proxy_buffering off;\n    }}\n  }}\n}}\n"
            ),
        )?;
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg("stderr")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting nginx (scripts/install-deps.sh installs it)")?;
        let addr = format!("127.0.0.1:{port}");
        let nginx = Self { child, addr, _dir: dir };
        crate::server::wait_listening("nginx", &nginx.addr, Duration::from_secs(10))?;
        Ok(nginx)
    }
}
