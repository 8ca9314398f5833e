//! Test harness for the end-to-end suites: start the real `meerkat` binary and talk to it.
//!
//! # Layout
//! - this file: [`TestServer`] (a node started from a temp config, killed on drop), its
//!   builder [`ServerBuilder`], free ports, the admin CLI runner and fresh test users.
//! - [`client`]: [`client::Client`], a raw-XML XMPP client with STARTTLS, direct TLS, SASL
//!   (PLAIN, SCRAM-SHA-1, SCRAM-SHA-256), bind and presence, plus structural assertions.
//! - [`scram`]: the client side of SCRAM (RFC 5802 / RFC 7677).
//! - [`tls`]: a rustls client config that accepts any certificate (the node's self-signed one).
//! - [`websocket`]: the WebSocket upgrade (RFC 7395) under [`client::Client::connect_ws`].
//! - [`bosh`]: a BOSH client (XEP-0124/XEP-0206) over hand-written HTTP/1.1.
//!
//! Every test starts its own node on fresh loopback ports with its own data directory, so the
//! tests of one binary run in parallel and never see each other's users, rate limits or config.
//!
//! Storage preset: by default each node uses SQLite in its data directory. With
//! `MEERKAT_TEST_STORAGE=postgres` each node instead gets a database of its own in one
//! PostgreSQL server started once per test binary ([`meerkat_storage::testsuite::PgServer`]),
//! unless the test writes its own `[storage]` section. `scripts/test` runs the suite both ways.
#![allow(dead_code)]

pub mod bosh;
pub mod client;
pub mod nats;
pub mod node;
pub mod scram;
pub mod tls;
pub mod websocket;

use rand::Rng;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use client::{Client, Event, Mech};

/// The domain every test node serves.
pub const DOMAIN: &str = "localhost";

/// Namespaces used by the assertions, spelled out here so the tests stay black-box.
pub mod ns {
    pub const CLIENT: &str = "jabber:client";
    pub const STREAM: &str = "http://etherx.jabber.org/streams";
    pub const STREAMS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
    pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
    pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
    pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
    pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
    pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
    pub const ROSTER: &str = "jabber:iq:roster";
    pub const ROSTER_VER: &str = "urn:xmpp:features:rosterver";
    pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
    pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
    pub const PING: &str = "urn:xmpp:ping";
    pub const VERSION: &str = "jabber:iq:version";
    pub const TIME: &str = "urn:xmpp:time";
    pub const LAST: &str = "jabber:iq:last";
    pub const REGISTER: &str = "jabber:iq:register";
    pub const REGISTER_FEATURE: &str = "http://jabber.org/features/iq-register";
    pub const DELAY: &str = "urn:xmpp:delay";
    pub const MSGOFFLINE: &str = "msgoffline";
}

/// Path of the binary under test.
pub fn meerkat_bin() -> &'static str {
    env!("CARGO_BIN_EXE_meerkat")
}

/// A loopback port that was free a moment ago (bind port 0, read it, drop the listener).
pub fn free_port() -> u16 {
    // The kernel may hand the same port to two probes in a row once the first is closed: never
    // give a port twice in one test binary, so one node's c2s and admin ports cannot collide.
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local_addr").port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The ports of the `[[listen.http]]` sections of a rendered configuration.
fn http_ports(config: &str) -> Vec<u16> {
    let mut ports = Vec::new();
    let mut in_http = false;
    for line in config.lines().map(str::trim) {
        if line.starts_with('[') {
            in_http = line == "[[listen.http]]";
        } else if in_http {
            let port = line.strip_prefix("port").map(|r| r.trim_start().trim_start_matches('='));
            if let Some(p) = port.and_then(|r| r.trim().parse().ok()) {
                ports.push(p);
            }
        }
    }
    ports
}

/// A fresh lowercase name `base_xxxxxxxx`, so tests never share users.
pub fn unique(base: &str) -> String {
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    let tail: String = (0..8).map(|_| ALNUM[rng.gen_range(0..ALNUM.len())] as char).collect();
    format!("{base}_{tail}")
}

/// An account on the test node.
#[derive(Debug, Clone)]
pub struct User {
    /// Localpart.
    pub name: String,
    /// Password.
    pub password: String,
}

impl User {
    /// `name@localhost`.
    pub fn bare(&self) -> String {
        format!("{}@{}", self.name, DOMAIN)
    }

    /// `name@localhost/resource`.
    pub fn full(&self, resource: &str) -> String {
        format!("{}@{}/{}", self.name, DOMAIN, resource)
    }
}

/// TLS use of one listener, as written in the config (`tls_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    None,
    Starttls,
    StarttlsRequired,
    Tls,
}

impl TlsMode {
    fn as_str(self) -> &'static str {
        match self {
            TlsMode::None => "none",
            TlsMode::Starttls => "starttls",
            TlsMode::StarttlsRequired => "starttls_required",
            TlsMode::Tls => "tls",
        }
    }
}

/// Builds the config of a test node.
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    listeners: Vec<TlsMode>,
    extra: String,
    general: String,
    nofile: Option<u64>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            listeners: vec![TlsMode::Starttls],
            extra: String::new(),
            general: String::new(),
            nofile: None,
        }
    }
}

impl ServerBuilder {
    /// One c2s listener with STARTTLS offered (the default).
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the listeners (in order; [`TestServer::port`] indexes them).
    pub fn listeners(mut self, modes: &[TlsMode]) -> Self {
        self.listeners = modes.to_vec();
        self
    }

    /// Appends raw TOML (whole sections such as `[limits]`; the base config has only
    /// `[general]`, `[[listen.c2s]]` and `[admin]`).
    pub fn extra(mut self, toml: &str) -> Self {
        self.extra.push_str(toml);
        self.extra.push('\n');
        self
    }

    /// Adds `key = value` lines to the `[general]` section (e.g. `node_name`).
    pub fn general(mut self, toml_lines: &str) -> Self {
        self.general.push_str(toml_lines);
        self.general.push('\n');
        self
    }

    /// Starts the node with this open-file limit (soft and hard), to test running out of
    /// descriptors.
    pub fn nofile_limit(mut self, limit: u64) -> Self {
        self.nofile = Some(limit);
        self
    }

    fn render(&self, data_dir: &Path, ports: &[u16], admin_port: u16) -> String {
        let mut s =
            format!("[general]\nhosts = [\"{DOMAIN}\"]\ndata_dir = \"{}\"\n", data_dir.display());
        s.push_str(&self.general);
        s.push('\n');
        for (mode, port) in self.listeners.iter().zip(ports) {
            s.push_str(&format!(
                "[[listen.c2s]]\nip_address = \"127.0.0.1\"\nport = {port}\ntls_mode = \"{}\"\n\n",
                mode.as_str()
            ));
        }
        s.push_str(&format!("[admin]\nport = {admin_port}\n\n"));
        // Other endpoints with a fixed default port (e.g. [metrics] on 9091) would collide
        // between parallel test nodes: give each a free port unless the test sets it. The
        // sections are read from `meerkat print-config`, so this works whether or not the
        // binary under test has them.
        for section in extra_port_sections() {
            if !self.extra.contains(&format!("[{section}]")) {
                s.push_str(&format!("[{section}]\nport = {}\n\n", free_port()));
            }
        }
        s.push_str(&self.extra);
        s
    }

    /// Starts the node and waits until every listener and the admin API accept connections.
    pub async fn start(self) -> TestServer {
        let mut last_err = String::new();
        for _attempt in 0..3 {
            match TestServer::try_start(&self).await {
                Ok(s) => return s,
                // Most likely a port taken between our probe and the node's bind: retry.
                Err(e) => last_err = e,
            }
        }
        panic!("meerkat did not start (3 attempts); last attempt:\n{last_err}");
    }
}

/// Top-level config sections other than `[admin]` that have a `port` key, read once from
/// `meerkat print-config` (the defaults), so the harness keeps up as endpoints are added.
pub fn extra_port_sections() -> &'static [String] {
    static SECTIONS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SECTIONS.get_or_init(|| {
        let out = Command::new(meerkat_bin())
            .arg("print-config")
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .output();
        let Ok(out) = out else { return Vec::new() };
        let text = String::from_utf8_lossy(&out.stdout);
        let mut found: Vec<String> = Vec::new();
        let mut current: Option<String> = None;
        for line in text.lines().map(str::trim) {
            if line.starts_with("[[") {
                current = None;
            } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = (!name.contains('.') && name != "admin").then(|| name.to_string());
            } else if let Some(name) = &current {
                let key = line.split('=').next().unwrap_or_default().trim();
                if key == "port" && !found.contains(name) {
                    found.push(name.clone());
                }
            }
        }
        found
    })
}

/// `[section]\nport = N` for every fixed-port endpoint section (see [`extra_port_sections`]).
pub fn free_port_sections() -> String {
    extra_port_sections()
        .iter()
        .map(|section| format!("[{section}]\nport = {}\n\n", free_port()))
        .collect()
}

/// True when the suite runs on the PostgreSQL preset (`MEERKAT_TEST_STORAGE=postgres`).
pub fn postgres_preset() -> bool {
    match std::env::var("MEERKAT_TEST_STORAGE").as_deref() {
        Ok("postgres") => true,
        Ok("" | "sqlite") | Err(_) => false,
        Ok(other) => panic!("MEERKAT_TEST_STORAGE={other:?}: expected \"sqlite\" or \"postgres\""),
    }
}

/// The `[storage]` section of the preset: empty for SQLite (the default config), a fresh
/// database in the binary's shared PostgreSQL server for the postgres preset.
pub async fn preset_storage() -> String {
    if !postgres_preset() {
        return String::new();
    }
    postgres_storage(&shared_postgres().create_database("e2e").await)
}

/// The shared PostgreSQL server of this test binary, started on first use (a second or two).
pub fn shared_postgres() -> &'static meerkat_storage::testsuite::PgServer {
    meerkat_storage::testsuite::PgServer::shared()
}

/// A `[storage]` section using PostgreSQL at `url`.
pub fn postgres_storage(url: &str) -> String {
    format!("[storage]\nbackend = \"postgres\"\npostgres_url = \"{url}\"\n\n")
}

/// A running node; killed (SIGKILL) and its data directory removed on drop. When the test is
/// panicking, the node's log is printed to help read the failure.
pub struct TestServer {
    child: Option<Child>,
    /// Temp directory holding the config, the data directory and the log.
    pub dir: tempfile::TempDir,
    /// The config file.
    pub config_path: PathBuf,
    /// c2s ports, in the order of [`ServerBuilder::listeners`].
    pub ports: Vec<u16>,
    /// Admin API port.
    pub admin_port: u16,
    log_path: PathBuf,
}

/// How long a node may take to start accepting connections.
const START_TIMEOUT: Duration = Duration::from_secs(20);

impl TestServer {
    /// A node with the default test config.
    pub async fn start() -> TestServer {
        ServerBuilder::new().start().await
    }

    /// A node with this extra TOML.
    pub async fn with(extra: &str) -> TestServer {
        ServerBuilder::new().extra(extra).start().await
    }

    /// One attempt at starting the node. [`ServerBuilder::start`] retries it; callers that fix a
    /// port in the configuration themselves retry with a fresh port instead.
    pub async fn try_start(b: &ServerBuilder) -> Result<TestServer, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let data_dir = dir.path().join("data");
        let ports: Vec<u16> = b.listeners.iter().map(|_| free_port()).collect();
        let admin_port = free_port();
        let config_path = dir.path().join("meerkat.toml");
        let mut config = b.render(&data_dir, &ports, admin_port);
        if !b.extra.contains("[storage]") {
            config.push_str(&preset_storage().await);
        }
        let http_ports = http_ports(&config);
        std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
        let log_path = dir.path().join("meerkat.log");
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(meerkat_bin());
        cmd.arg("--config")
            .arg(&config_path)
            .arg("live")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        if let Some(limit) = b.nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let l = libc::rlimit { rlim_cur: limit, rlim_max: limit };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().map_err(|e| format!("cannot spawn {}: {e}", meerkat_bin()))?;
        let mut server =
            TestServer { child: Some(child), dir, config_path, ports, admin_port, log_path };
        let deadline = Instant::now() + START_TIMEOUT;
        let mut waiting: Vec<u16> = server.ports.clone();
        waiting.push(admin_port);
        // HTTP listeners are bound after the c2s ones: a test's first request must not race them.
        waiting.extend(http_ports);
        while !waiting.is_empty() {
            if let Some(status) = server.exited() {
                return Err(format!(
                    "meerkat exited with {status} before listening; log:\n{}",
                    server.log()
                ));
            }
            if Instant::now() > deadline {
                let log = server.log();
                return Err(format!(
                    "ports {waiting:?} not accepting after {START_TIMEOUT:?}; log:\n{log}"
                ));
            }
            let port = waiting[0];
            match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                Ok(_) => {
                    waiting.remove(0);
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        Ok(server)
    }

    /// The first c2s port.
    pub fn port(&self) -> u16 {
        self.ports[0]
    }

    /// Process id of the node.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The node's exit status if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Kills the node with SIGKILL (no leave message, no session cleanup) and waits for it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Panics when the node process is gone.
    pub fn assert_alive(&mut self) {
        if let Some(status) = self.exited() {
            panic!("meerkat died ({status}); log:\n{}", self.log());
        }
    }

    /// The node's stdout and stderr so far (last 200 lines).
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(200);
        lines[from..].join("\n")
    }

    /// Runs `meerkat --config FILE ARGS...` (the admin CLI) with a 30 s limit.
    pub async fn ctl(&self, args: &[&str]) -> CtlOutput {
        run_ctl(&self.config_path, args).await
    }

    /// Creates a fresh account `base_xxxxxxxx` with a random password.
    ///
    /// Uses the admin CLI (`meerkat register`). When the CLI fails, falls back to in-band
    /// registration so the other suites still say something; the CLI's own tests report
    /// its failure.
    pub async fn new_user(&self, base: &str) -> User {
        let user = User { name: unique(base), password: unique("pw") };
        let out = self.ctl(&["register", &user.name, DOMAIN, &user.password]).await;
        if out.success() {
            return user;
        }
        eprintln!(
            "WARNING: `meerkat register` failed ({}); falling back to in-band registration",
            out.describe()
        );
        let mut c = Client::connect(self.port(), "reg").await;
        c.open_stream().await;
        c.register_in_band(&user.name, &user.password).await;
        user
    }

    /// Logs a fresh connection in as `user` with resource `res` and initial presence.
    pub async fn login(&self, user: &User, res: &str) -> Client {
        Client::login(self.port(), user, res).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "----- meerkat log ({}) -----\n{}\n-----",
                self.log_path.display(),
                self.log()
            );
        }
    }
}

/// What an admin CLI run printed.
#[derive(Debug)]
pub struct CtlOutput {
    /// The command line, for messages.
    pub cmd: String,
    /// Exit code (`None` when killed by a signal or the 30 s limit).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CtlOutput {
    /// Exited with 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// One line for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "`{}` exited {:?}\nstdout: {}\nstderr: {}",
            self.cmd, self.code, self.stdout, self.stderr
        )
    }

    /// Panics unless the command exited 0.
    pub fn assert_ok(&self) -> &Self {
        assert!(self.success(), "expected success: {}", self.describe());
        self
    }

    /// Panics when the command exited 0.
    pub fn assert_failed(&self) -> &Self {
        assert!(!self.success(), "expected a non-zero exit: {}", self.describe());
        self
    }

    /// Lines of standard output, trimmed, empty ones dropped.
    pub fn lines(&self) -> Vec<String> {
        self.stdout.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect()
    }
}

/// Runs `meerkat --config CONFIG ARGS...` with a 30 s limit.
pub async fn run_ctl(config: &Path, args: &[&str]) -> CtlOutput {
    run_meerkat(Some(config), args, Duration::from_secs(30)).await
}

/// Runs the binary with optional `--config` and a time limit; kills it at the limit.
///
/// Output goes to anonymous temp files rather than pipes, so a command that leaves a daemon
/// behind (`meerkat start`) does not keep us waiting for the pipe to close.
pub async fn run_meerkat(config: Option<&Path>, args: &[&str], limit: Duration) -> CtlOutput {
    use std::io::{Read, Seek};
    let mut cmd = tokio::process::Command::new(meerkat_bin());
    let mut shown = String::from("meerkat");
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
        shown.push_str(&format!(" --config {}", c.display()));
    }
    for a in args {
        shown.push(' ');
        shown.push_str(a);
    }
    let mut out_file = tempfile::tempfile().expect("temp file");
    let mut err_file = tempfile::tempfile().expect("temp file");
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(out_file.try_clone().expect("clone"))
        .stderr(err_file.try_clone().expect("clone"))
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot spawn {shown}: {e}"));
    let code = match tokio::time::timeout(limit, child.wait()).await {
        Ok(Ok(status)) => status.code(),
        Ok(Err(e)) => panic!("{shown}: {e}"),
        Err(_) => {
            let _ = child.kill().await;
            None
        }
    };
    let read = |f: &mut std::fs::File| {
        let mut s = String::new();
        let _ = f.rewind();
        let mut bytes = Vec::new();
        let _ = f.read_to_end(&mut bytes);
        s.push_str(&String::from_utf8_lossy(&bytes));
        s
    };
    let stdout = read(&mut out_file);
    let mut stderr = read(&mut err_file);
    if code.is_none() {
        stderr.push_str(&format!("\n(no exit code: killed by a signal or after {limit:?})"));
    }
    CtlOutput { cmd: shown, code, stdout, stderr }
}
