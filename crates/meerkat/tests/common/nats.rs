//! Cluster fixtures: a throwaway `nats-server` (Debian package `nats-server`) on a free
//! loopback port, and [`ClusterFixture`], nodes of the real binary sharing one PostgreSQL
//! database and that NATS server.

use super::{postgres_storage, shared_postgres, ServerBuilder, TestServer};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `nats-server` binary, or a panic that says how to get it.
pub fn nats_binary() -> PathBuf {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file());
    match found {
        Some(p) => p,
        None => panic!(
            "nats-server not found on PATH, /usr/sbin or /usr/bin: the cluster tests need it \
             (apt-get install nats-server; scripts/test installs it when run as root)"
        ),
    }
}

/// A running `nats-server`, killed on drop.
pub struct Nats {
    child: Option<Child>,
    /// Client port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Nats {
    /// Starts one on a free port and waits until it accepts connections.
    pub fn start() -> Nats {
        let dir = tempfile::tempdir().expect("temp dir for nats-server");
        for _attempt in 0..3 {
            let port = super::free_port();
            if let Some(child) = spawn(dir.path(), port) {
                return Nats { child: Some(child), port, dir };
            }
        }
        let log = std::fs::read_to_string(dir.path().join("nats.log")).unwrap_or_default();
        panic!("nats-server did not start (3 attempts); log:\n{log}");
    }

    /// Kills the server (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (after [`Nats::kill`]).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(child) = spawn(self.dir.path(), self.port) {
                self.child = Some(child);
                return;
            }
            assert!(Instant::now() < deadline, "nats-server did not restart on {}", self.port);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `nats-server` on `port`; `None` when it exits or does not listen within 10 s.
fn spawn(dir: &std::path::Path, port: u16) -> Option<Child> {
    let bin = nats_binary();
    let mut child = Command::new(&bin)
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-l"])
        .arg(dir.join("nats.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .current_dir(dir)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(child);
        }
        if child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Nodes `node1`, `node2`, ... of one cluster: one database, one NATS server, one secret.
pub struct ClusterFixture {
    /// The nodes, in start order (`nodes[0]` is `node1`).
    pub nodes: Vec<TestServer>,
    /// The NATS server they share (dropped after the nodes).
    pub nats: Nats,
    /// Each node's `/metrics` port, in node order.
    pub metrics_ports: Vec<u16>,
    /// Each node's `[[listen.http]]` port (WebSocket and BOSH), when started with one.
    pub http_ports: Vec<u16>,
    _secret_dir: tempfile::TempDir,
}

impl ClusterFixture {
    /// Starts `n` nodes. No wait for heartbeats: NATS routes by subject, so a node takes part
    /// as soon as it listens.
    pub async fn start(n: usize) -> ClusterFixture {
        Self::start_with(n, false).await
    }

    /// [`ClusterFixture::start`], each node also with an HTTP listener when `http` is set.
    pub async fn start_with(n: usize, http: bool) -> ClusterFixture {
        let nats = Nats::start();
        let url = shared_postgres().create_database("e2e_cluster").await;
        let secret_dir = tempfile::tempdir().expect("temp dir for the secret");
        let secret = secret_dir.path().join("cluster.secret");
        std::fs::write(&secret, format!("{}\n", super::unique("cluster-secret-0123456789")))
            .expect("write secret");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600))
                .expect("chmod secret");
        }
        let mut nodes = Vec::with_capacity(n);
        let mut metrics_ports = Vec::with_capacity(n);
        let mut http_ports = Vec::new();
        for i in 1..=n {
            // The metrics port is fixed in the configuration here, so a port taken between the
            // probe and the node's bind needs a fresh port on the retry, not the same one.
            let mut last_err = String::new();
            let mut started = None;
            for _attempt in 0..3 {
                let metrics_port = super::free_port();
                let http_port = super::free_port();
                let http_section = if http {
                    format!("[[listen.http]]\nport = {http_port}\n")
                } else {
                    String::new()
                };
                let builder = ServerBuilder::new()
                    .extra(&http_section)
                    .general(&format!("node_name = \"node{i}\""))
                    .extra(&postgres_storage(&url))
                    .extra(&format!("[metrics]\nport = {metrics_port}\n"))
                    .extra(&format!(
                        "[cluster]\nenabled = true\nname = \"e2e\"\nsecret_file = \"{}\"\n\
                         nats_urls = [\"{}\"]\nheartbeat_ms = 200\nnode_timeout_ms = 1000\n\
                         request_timeout_ms = 1000\n",
                        secret.display(),
                        nats.url()
                    ));
                match TestServer::try_start(&builder).await {
                    Ok(node) => {
                        started = Some((node, metrics_port, http_port));
                        break;
                    }
                    Err(e) => last_err = e,
                }
            }
            let Some((node, metrics_port, http_port)) = started else {
                panic!("cluster node {i} did not start (3 attempts); last attempt:\n{last_err}")
            };
            metrics_ports.push(metrics_port);
            if http {
                http_ports.push(http_port);
            }
            nodes.push(node);
        }
        ClusterFixture { nodes, nats, metrics_ports, http_ports, _secret_dir: secret_dir }
    }

    /// The value of metric `name` (a line `name value`; 0 when absent) on node `i`.
    pub async fn metric(&self, i: usize, name: &str) -> f64 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let port = self.metrics_ports[i - 1];
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("metrics");
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").await.expect("write");
        let mut text = String::new();
        s.read_to_string(&mut text).await.expect("read metrics");
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0.0)
    }

    /// Node `i` (1-based, as named).
    pub fn node(&self, i: usize) -> &TestServer {
        &self.nodes[i - 1]
    }
}
