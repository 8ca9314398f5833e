//! End-to-end: the `meerkat-load` binary against a real `meerkat` node on loopback.
//!
//! The node binary is looked up beside ours (`target/<profile>/meerkat`) and in the other
//! profile's directory; when neither exists (nobody built `-p meerkat` into this target dir)
//! the server tests print a loud SKIPPED message and pass, since this crate cannot build
//! another package's binary from its own tests.

use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn load_bin() -> &'static str {
    env!("CARGO_BIN_EXE_meerkat-load")
}

/// `target/<profile>/meerkat`, trying our own profile first.
fn meerkat_bin() -> Option<PathBuf> {
    let ours = Path::new(load_bin());
    let dir = ours.parent()?;
    let target = dir.parent()?;
    [dir.join("meerkat"), target.join("debug/meerkat"), target.join("release/meerkat")]
        .into_iter()
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// A running node, killed on drop.
struct Node {
    child: Child,
    port: u16,
    /// The HTTP listener (XMPP over WebSocket at /ws-xmpp).
    http: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(bin: &Path) -> Node {
    let dir = tempfile::tempdir().expect("tempdir");
    // Every port free: nodes of parallel tests (and a benchmark node) would collide on the
    // fixed defaults, e.g. [metrics] on 9091.
    let (port, admin, metrics, http) = (free_port(), free_port(), free_port(), free_port());
    let config = format!(
        "[general]\nhosts = [\"localhost\"]\ndata_dir = \"{}\"\n\n\
         [[listen.c2s]]\nip_address = \"127.0.0.1\"\nport = {port}\ntls_mode = \"starttls\"\n\n\
         [[listen.http]]\nip_address = \"127.0.0.1\"\nport = {http}\n\n\
         [admin]\nport = {admin}\n\n[metrics]\nport = {metrics}\n",
        dir.path().join("data").display()
    );
    let cfg_path = dir.path().join("meerkat.toml");
    std::fs::write(&cfg_path, config).expect("write config");
    let log = std::fs::File::create(dir.path().join("log")).expect("log file");
    let child = Command::new(bin)
        .arg("--config")
        .arg(&cfg_path)
        .arg("live")
        .stdout(Stdio::from(log.try_clone().expect("dup log")))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start meerkat");
    let node = Node { child, port, http, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "meerkat did not listen on {port} within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    node
}

fn run_load(port: u16, args: &[&str]) -> (Output, Value) {
    run_load_on(&format!("127.0.0.1:{port}"), args)
}

fn run_load_on(servers: &str, args: &[&str]) -> (Output, Value) {
    let out = Command::new(load_bin())
        .args(["--server", servers, "--quiet", "--json"])
        .args(["--prefix", "e2euser"])
        .args(args)
        .output()
        .expect("run meerkat-load");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "meerkat-load {args:?} failed:\n{stderr}");
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("bad JSON from {args:?}: {e}\nstderr:\n{stderr}"));
    (out, json)
}

#[test]
fn refuses_non_loopback_targets() {
    let out = Command::new(load_bin())
        .args(["--server", "192.0.2.1:5222", "connect", "-n", "1"])
        .output()
        .expect("run meerkat-load");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("only connects to loopback"), "{stderr}");
    let out = Command::new(load_bin())
        .args(["--source-ips", "10.0.0.1", "connect", "-n", "1"])
        .output()
        .expect("run meerkat-load");
    assert!(!out.status.success());
}

#[test]
fn scenarios_against_meerkat() {
    let Some(bin) = meerkat_bin() else {
        eprintln!(
            "\n*** SKIPPED scenarios_against_meerkat: no meerkat binary beside {} \
             (build it with `cargo build -p meerkat` into the same target dir) ***\n",
            load_bin()
        );
        return;
    };
    let node = start_node(&bin);
    let keys = tempfile::tempdir().expect("tempdir");
    let key_cache = keys.path().join("scram.keys");
    let key_cache = key_cache.to_str().expect("utf-8 path");

    let (_, reg) = run_load(node.port, &["register", "-n", "12", "--concurrency", "4"]);
    let r = &reg["register"];
    assert_eq!(r["created"].as_u64(), Some(12), "{reg}");
    // Registering again: every account exists, which counts as success.
    let (_, reg) = run_load(node.port, &["register", "-n", "12"]);
    assert_eq!(reg["register"]["already_existed"].as_u64(), Some(12), "{reg}");

    // STARTTLS + SCRAM-SHA-256 with a key cache file, twice: the second run reads the cache.
    for _ in 0..2 {
        let (_, con) = run_load(
            node.port,
            &[
                "--starttls",
                "--auth",
                "scram-sha256",
                "--key-cache",
                key_cache,
                "connect",
                "-n",
                "12",
                "--login-rate",
                "100",
                "--duration",
                "1s",
            ],
        );
        assert_eq!(con["counters"]["logins_ok"].as_u64(), Some(12), "{con}");
        assert_eq!(con["counters"]["login_failures"].as_u64(), Some(0), "{con}");
    }
    let cached = std::fs::read_to_string(key_cache).expect("key cache written");
    assert_eq!(cached.lines().count(), 12, "one cached key per user:\n{cached}");

    // Chat over PLAIN: 12 users, 24 msgs/s, every message delivered.
    let plot = keys.path().join("chat.svg");
    let (_, chat) = run_load(
        node.port,
        &[
            "--auth",
            "plain",
            "--plot",
            plot.to_str().expect("utf-8 path"),
            "chat",
            "-n",
            "12",
            "--msg-rate",
            "24",
            "--duration",
            "3s",
            "--grace",
            "2s",
        ],
    );
    let m = &chat["messages"];
    assert!(m["sent"].as_u64().unwrap_or(0) >= 30, "{chat}");
    assert_eq!(m["lost"].as_u64(), Some(0), "{chat}");
    assert_eq!(m["sent"], m["received"], "{chat}");
    assert!(chat["latency"]["p99_ms"].as_f64().unwrap_or(0.0) > 0.0, "{chat}");
    assert_eq!(chat["login_latency"]["count"].as_u64(), Some(12), "{chat}");
    assert!(chat["login_latency"]["p99_ms"].as_f64().unwrap_or(0.0) > 0.0, "{chat}");
    assert!(std::fs::read_to_string(&plot).expect("plot").starts_with("<svg"));

    // Throughput with the server sampled from /proc.
    let pid = node.child.id().to_string();
    let (_, tp) = run_load(
        node.port,
        &[
            "--server-pid",
            &pid,
            "throughput",
            "--pairs",
            "4",
            "--window",
            "4",
            "--warmup",
            "1s",
            "--duration",
            "2s",
        ],
    );
    assert!(tp["throughput"]["msgs_per_s"].as_f64().unwrap_or(0.0) > 10.0, "{tp}");
    assert!(tp["server_usage"]["cpu_us_per_msg"].as_f64().is_some(), "{tp}");

    // Worker processes: two workers of 6 users each, chat across the same report.
    let (_, w) = run_load(
        node.port,
        &[
            "--workers",
            "2",
            "chat",
            "-n",
            "12",
            "--msg-rate",
            "12",
            "--duration",
            "2s",
            "--grace",
            "2s",
        ],
    );
    assert_eq!(w["processes"].as_u64(), Some(2), "{w}");
    assert_eq!(w["counters"]["logins_ok"].as_u64(), Some(12), "{w}");
    assert_eq!(w["messages"]["lost"].as_u64(), Some(0), "{w}");
    assert!(w["messages"]["received"].as_u64().unwrap_or(0) > 0, "{w}");
}

/// Several `--server`s: worker i logs its users in to server i mod n. Each node only knows the
/// accounts registered on it, so a user sent to the wrong node would fail to log in.
#[test]
fn several_standalone_nodes_each_get_their_own_workers_users() {
    let Some(bin) = meerkat_bin() else {
        eprintln!("*** skipped: no meerkat binary beside {} ***", load_bin());
        return;
    };
    let (a, b) = (start_node(&bin), start_node(&bin));
    run_load(a.port, &["register", "--first", "1", "-n", "4"]);
    run_load(b.port, &["register", "--first", "5", "-n", "4"]);
    let both = format!("127.0.0.1:{},127.0.0.1:{}", a.port, b.port);
    let (_, chat) = run_load_on(
        &both,
        &["chat", "-n", "8", "--msg-rate", "16", "--duration", "2s", "--grace", "2s"],
    );
    assert_eq!(chat["processes"].as_u64(), Some(2), "{chat}");
    assert_eq!(chat["counters"]["logins_ok"].as_u64(), Some(8), "{chat}");
    assert_eq!(chat["counters"]["login_failures"].as_u64(), Some(0), "{chat}");
    assert_eq!(chat["messages"]["lost"].as_u64(), Some(0), "{chat}");
    assert!(chat["messages"]["received"].as_u64().unwrap_or(0) > 0, "{chat}");
    assert_eq!(chat["server"].as_str(), Some(both.as_str()), "{chat}");
    // Scenarios whose users must reach each other through one server refuse several.
    let out = Command::new(load_bin())
        .args(["--server", &both, "--quiet", "register", "-n", "1"])
        .output()
        .expect("run meerkat-load");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("takes one --server"));
}

/// `--websocket`: the same users register, log in and chat over XMPP-over-WebSocket (RFC 7395)
/// at the node's HTTP listener.
#[test]
fn websocket_option_registers_logs_in_and_chats() {
    let Some(bin) = meerkat_bin() else {
        eprintln!("*** skipped: no meerkat binary beside {} ***", load_bin());
        return;
    };
    let node = start_node(&bin);
    let ws = ["--websocket", "/ws-xmpp"];
    let (_, reg) = run_load(node.http, &[&ws[..], &["register", "-n", "6"]].concat());
    assert_eq!(reg["register"]["created"].as_u64(), Some(6), "{reg}");
    let (_, chat) = run_load(
        node.http,
        &[&ws[..], &["chat", "-n", "6", "--msg-rate", "12", "--duration", "2s", "--grace", "2s"]]
            .concat(),
    );
    assert_eq!(chat["counters"]["logins_ok"].as_u64(), Some(6), "{chat}");
    assert_eq!(chat["messages"]["lost"].as_u64(), Some(0), "{chat}");
    assert!(chat["messages"]["received"].as_u64().unwrap_or(0) >= 12, "{chat}");
}

/// `muc`: users fill rooms of three (the first occupant creates an instant room), and every
/// groupchat message reaches the two other occupants.
#[test]
fn muc_scenario_fans_messages_out_to_every_occupant() {
    let Some(bin) = meerkat_bin() else {
        eprintln!("*** skipped: no meerkat binary beside {} ***", load_bin());
        return;
    };
    let node = start_node(&bin);
    run_load(node.port, &["register", "-n", "6"]);
    let (_, muc) = run_load(
        node.port,
        &[
            "muc",
            "-n",
            "6",
            "--room-size",
            "3",
            "--msg-rate",
            "12",
            "--duration",
            "3s",
            "--grace",
            "2s",
        ],
    );
    let m = &muc["messages"];
    assert_eq!(muc["scenario"].as_str(), Some("muc"), "{muc}");
    assert_eq!(muc["counters"]["logins_ok"].as_u64(), Some(6), "{muc}");
    assert!(m["sent"].as_u64().unwrap_or(0) >= 12, "{muc}");
    // Each message has two other occupants once the rooms are full. While they fill, a sender
    // may not have seen an occupant's presence yet that already gets its message: received can
    // exceed expected by those, never fall short.
    let (sent, expected) = (m["sent"].as_u64().unwrap_or(0), m["expected"].as_u64().unwrap_or(0));
    assert!(expected >= sent, "{muc}");
    assert!(m["received"].as_u64().unwrap_or(0) >= expected, "{muc}");
    assert_eq!(m["lost"].as_u64(), Some(0), "{muc}");
}
