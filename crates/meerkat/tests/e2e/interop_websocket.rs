//! Interop over WebSocket: @xmpp/client (xmpp.js, a client library nobody here wrote) runs
//! `tests/interop/xmpp_client/ws_chat.mjs` under Node.js: it logs in over XMPP-over-WebSocket
//! (RFC 7395, its own SASL choice), and exchanges a message with a user logged in over TCP.
//!
//! The npm package is pinned by `tests/interop/xmpp_client/package-lock.json` and installed
//! there with `npm ci` when `node_modules` is missing (scripts/test does it up front). Node.js 20
//! needs `--experimental-websocket` for the global `WebSocket` xmpp.js uses; later versions have
//! it by default.

use crate::common::node::{package_dir, ready, works};
use crate::common::{free_port, ServerBuilder, TlsMode, DOMAIN};
use std::path::Path;
use std::time::Duration;

/// Node.js with @xmpp/client installed, and the flags it needs; an error says what to install.
fn node_with_xmpp_client(dir: &Path) -> Result<Vec<String>, String> {
    ready(dir, "@xmpp/client")?;
    let has_ws = |flags: &[&str]| {
        let mut args = flags.to_vec();
        args.extend(["-e", "process.exit(typeof WebSocket === 'function' ? 0 : 1)"]);
        works("node", &args)
    };
    if has_ws(&[]) {
        Ok(Vec::new())
    } else if has_ws(&["--experimental-websocket"]) {
        Ok(vec!["--experimental-websocket".into()])
    } else {
        Err("this Node.js has no WebSocket client (Node.js 20.10 or later is needed)".into())
    }
}

#[tokio::test]
async fn xmpp_js_over_websocket_chats_with_a_tcp_user() {
    let dir = package_dir("xmpp_client");
    let flags =
        node_with_xmpp_client(&dir).unwrap_or_else(|e| panic!("INTEROP TEST CANNOT RUN: {e}"));
    let http = free_port();
    let server = ServerBuilder::new()
        .listeners(&[TlsMode::None])
        .extra(&format!("[[listen.http]]\nport = {http}\n"))
        .start()
        .await;
    let alice = server.new_user("alice").await;
    let bob = server.new_user("bob").await;
    let mut b = server.login(&bob, "tcp").await;
    let mut cmd = tokio::process::Command::new("node");
    cmd.args(&flags)
        .arg(dir.join("ws_chat.mjs"))
        .args(["--url", &format!("ws://127.0.0.1:{http}/ws-xmpp"), "--domain", DOMAIN])
        .args(["--user", &alice.name, "--password", &alice.password])
        .args(["--peer", &bob.bare(), "--timeout", "20"])
        .current_dir(&dir)
        .kill_on_drop(true);
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn node");
    let m = b
        .try_recv_where(Duration::from_secs(20), |e| {
            e.name == "message"
                && e.get_child("body", crate::common::ns::CLIENT)
                    .is_some_and(|b| b.text() == "hello from xmpp.js")
        })
        .await;
    let Some(m) = m else {
        let out = child.wait_with_output().await.expect("node output");
        panic!(
            "no message from xmpp.js\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let from = m.attr("from").unwrap_or_default().to_string();
    assert_eq!(from, alice.full("xmppjs"));
    b.send(&format!("<message to='{from}' type='chat'><body>hello from tcp</body></message>"))
        .await;
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("xmpp.js did not exit")
        .expect("node output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("OK"),
        "xmpp.js failed ({})\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
