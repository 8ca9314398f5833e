//! Issue 6, a real browser: Converse.js (npm `converse.js`, the web client nobody here wrote)
//! in headless Debian Chromium, driven by npm `playwright-core`
//! (`tests/interop/converse/run.mjs`): two users log in over WebSocket, chat one to one
//! through the client's UI, join a room (XEP-0045) and talk there, and one of them logs in
//! again over BOSH; the script checks each browser's DOM and keeps screenshots in
//! `<target>/tmp/interop-converse/` (`failed-*.png` when a step fails).
//!
//! Needs `/usr/bin/chromium` (Debian package `chromium`; scripts/test installs it when run as
//! root) and the pinned npm packages (`npm ci` in `tests/interop/converse`).

use crate::common::node::{package_dir, ready};
use crate::common::{free_port, ServerBuilder, TlsMode, DOMAIN};
use std::time::Duration;

#[tokio::test]
async fn converse_js_in_chromium_chats_joins_a_room_and_logs_in_over_bosh() {
    let dir = package_dir("converse");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).exists() {
        panic!("BROWSER TEST CANNOT RUN: {chromium} is missing: `apt-get install -y chromium`");
    }
    ready(&dir, "playwright-core").unwrap_or_else(|e| panic!("BROWSER TEST CANNOT RUN: {e}"));
    ready(&dir, "converse.js").unwrap_or_else(|e| panic!("BROWSER TEST CANNOT RUN: {e}"));
    let http = free_port();
    let server = ServerBuilder::new()
        .listeners(&[TlsMode::None])
        .extra(&format!("[[listen.http]]\nport = {http}\n"))
        .start()
        .await;
    let alice = server.new_user("alice").await;
    let bob = server.new_user("bob").await;
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("interop-converse");
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(dir.join("run.mjs"))
        .args(["--ws", &format!("ws://127.0.0.1:{http}/ws-xmpp"), "--domain", DOMAIN])
        .args(["--user1", &format!("{}:{}", alice.name, alice.password)])
        .args(["--user2", &format!("{}:{}", bob.name, bob.password)])
        .args(["--room", &format!("{}@conference.{DOMAIN}", crate::common::unique("browserroom"))])
        .args(["--bosh", &format!("http://127.0.0.1:{http}/http-bind")])
        .arg("--shots")
        .arg(&shots)
        .env("CHROMIUM", &chromium)
        .current_dir(&dir)
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(240), cmd.output())
        .await
        .expect("the browser test did not finish in 240 s")
        .expect("spawn node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for step in ["ok websocket-login", "ok chat-one-to-one", "ok groupchat", "ok bosh-login"] {
        assert!(
            out.status.success() && stdout.contains(step),
            "Converse.js: `{step}` missing ({}); screenshots in {}\nstdout: {stdout}\nstderr: {stderr}",
            out.status,
            shots.display()
        );
    }
    assert!(shots.join("chat-user2.png").is_file(), "no screenshot in {}", shots.display());
}
