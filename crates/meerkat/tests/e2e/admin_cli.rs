//! Item 7: the admin commands of the `meerkat` binary (mongooseimctl-style), talking to a
//! running node through its admin API.

use crate::common::client::xml;
use crate::common::{free_port, ns, run_ctl, Client, Mech, TestServer, User, DOMAIN};
use std::time::{Duration, Instant};

#[tokio::test]
async fn register_and_registered_users() {
    let server = TestServer::start().await;
    let (u1, u2) = (crate::common::unique("alice"), crate::common::unique("bob"));
    server.ctl(&["register", &u1, DOMAIN, "pw1"]).await.assert_ok();
    server.ctl(&["register", &u2, DOMAIN, "pw2"]).await.assert_ok();
    let out = server.ctl(&["registered_users", DOMAIN]).await;
    out.assert_ok();
    let lines = out.lines();
    assert!(lines.contains(&u1), "{u1} not listed: {}", out.describe());
    assert!(lines.contains(&u2), "{u2} not listed: {}", out.describe());
    // The account works.
    let mut c = Client::connect(server.port(), "c").await;
    c.open_stream().await;
    c.auth(Mech::Plain, &u1, "pw1").await.unwrap_or_else(|f| panic!("{}", xml(&f)));
}

#[tokio::test]
async fn register_existing_user_and_unknown_host_fail() {
    let server = TestServer::start().await;
    let u = crate::common::unique("alice");
    server.ctl(&["register", &u, DOMAIN, "pw"]).await.assert_ok();
    server.ctl(&["register", &u, DOMAIN, "pw"]).await.assert_failed();
    server.ctl(&["register", &u, "not-served.example", "pw"]).await.assert_failed();
}

#[tokio::test]
async fn sessions_lists_a_logged_in_full_jid_and_kick_closes_it() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "desk").await;
    let out = server.ctl(&["sessions"]).await;
    out.assert_ok();
    assert!(out.lines().contains(&alice.jid), "{} not in sessions: {}", alice.jid, out.describe());

    let out = server.ctl(&["kick", &alice.jid]).await;
    out.assert_ok();
    alice.expect_stream_end(Duration::from_secs(5)).await;

    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let out = server.ctl(&["sessions"]).await;
        out.assert_ok();
        if !out.lines().contains(&a.full("desk")) {
            break;
        }
        assert!(Instant::now() < deadline, "kicked session still listed: {}", out.describe());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn kick_unknown_session_fails() {
    let server = TestServer::start().await;
    server.ctl(&["kick", &format!("nobody@{DOMAIN}/x")]).await.assert_failed();
}

#[tokio::test]
async fn change_password() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    server.ctl(&["change_password", &a.name, DOMAIN, "brand-new"]).await.assert_ok();
    let new = User { name: a.name.clone(), password: "brand-new".into() };
    let mut c = Client::connect(server.port(), "new").await;
    c.open_stream().await;
    c.auth(Mech::ScramSha1, &new.name, &new.password)
        .await
        .unwrap_or_else(|f| panic!("new password refused: {}", xml(&f)));
    let mut c = Client::connect(server.port(), "old").await;
    c.open_stream().await;
    let f = c.auth(Mech::Plain, &a.name, &a.password).await.unwrap_err();
    assert!(f.has_child("not-authorized", ns::SASL), "{}", xml(&f));
}

#[tokio::test]
async fn unregister_removes_the_account_and_closes_its_sessions() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    server.ctl(&["unregister", &a.name, DOMAIN]).await.assert_ok();
    alice.expect_stream_end(Duration::from_secs(5)).await;
    let out = server.ctl(&["registered_users", DOMAIN]).await;
    out.assert_ok();
    assert!(!out.lines().contains(&a.name), "still listed: {}", out.describe());
    let mut c = Client::connect(server.port(), "c").await;
    c.open_stream().await;
    let f = c.auth(Mech::Plain, &a.name, &a.password).await.unwrap_err();
    assert!(f.has_child("not-authorized", ns::SASL), "{}", xml(&f));
    server.ctl(&["unregister", &a.name, DOMAIN]).await.assert_failed();
}

#[tokio::test]
async fn status_of_a_running_node() {
    let server = TestServer::start().await;
    let out = server.ctl(&["status"]).await;
    out.assert_ok();
    assert!(out.stdout.contains(DOMAIN), "status does not mention the host: {}", out.describe());
}

#[tokio::test]
async fn status_and_started_without_a_node_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = write_config(dir.path(), free_port(), free_port());
    let out = run_ctl(&cfg, &["status"]).await;
    out.assert_failed();
    let out = run_ctl(&cfg, &["started", "--timeout", "1"]).await;
    out.assert_failed();
}

fn write_config(dir: &std::path::Path, c2s: u16, admin: u16) -> std::path::PathBuf {
    let path = dir.join("meerkat.toml");
    let text = format!(
        "[general]\nhosts = [\"{DOMAIN}\"]\ndata_dir = \"{}\"\n\n\
         [[listen.c2s]]\nip_address = \"127.0.0.1\"\nport = {c2s}\ntls_mode = \"starttls\"\n\n\
         [admin]\nport = {admin}\n\n{}",
        dir.join("data").display(),
        crate::common::free_port_sections()
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// Stops a node started in the background when the test ends, however it ends.
struct Background {
    config: std::path::PathBuf,
    pid: Option<i32>,
}

impl Drop for Background {
    fn drop(&mut self) {
        let stopped = std::process::Command::new(crate::common::meerkat_bin())
            .arg("--config")
            .arg(&self.config)
            .args(["stop", "--timeout", "10"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !stopped {
            if let Some(pid) = self.pid {
                let _ = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
    }
}

#[tokio::test]
async fn start_started_stop_in_background() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c2s = free_port();
    let cfg = write_config(dir.path(), c2s, free_port());
    let out = run_ctl(&cfg, &["start"]).await;
    let pid = out.stdout.trim().lines().last().and_then(|l| l.trim().parse::<i32>().ok());
    let _guard = Background { config: cfg.clone(), pid };
    out.assert_ok();
    assert!(pid.is_some(), "`start` should print the pid: {}", out.describe());

    run_ctl(&cfg, &["started", "--timeout", "20"]).await.assert_ok();
    run_ctl(&cfg, &["status"]).await.assert_ok();
    // It serves XMPP.
    let u = User { name: crate::common::unique("bg"), password: "pw".into() };
    run_ctl(&cfg, &["register", &u.name, DOMAIN, &u.password]).await.assert_ok();
    let mut c = Client::login(c2s, &u, "r").await;
    c.sync().await;

    // A second start is refused while it runs.
    run_ctl(&cfg, &["start"]).await.assert_failed();

    run_ctl(&cfg, &["stop"]).await.assert_ok();
    c.expect_stream_end(Duration::from_secs(5)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", c2s)).await.is_ok() {
        assert!(Instant::now() < deadline, "c2s port still open 10 s after stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    run_ctl(&cfg, &["status"]).await.assert_failed();
}
