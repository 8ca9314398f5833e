//! Interop over BOSH: Strophe.js (the library under Converse.js, which nobody here wrote) runs
//! `tests/interop/strophe/bosh_chat.mjs` under Node.js: it logs in over BOSH (XEP-0206, its own
//! SASL choice and request pattern), exchanges a message with a user logged in over TCP, and
//! ends the session with an unavailable presence and a terminate body.
//!
//! The npm packages are pinned by `tests/interop/strophe/package-lock.json` and installed there
//! with `npm ci` when `node_modules` is missing (scripts/test does it up front).

use crate::common::{free_port, ns, ServerBuilder, TlsMode, DOMAIN};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn package_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/strophe")
}

/// Node.js with Strophe.js installed; an error says what to install.
fn node_with_strophe(dir: &Path) -> Result<(), String> {
    let works = |cmd: &str, args: &[&str]| {
        Command::new(cmd).args(args).output().is_ok_and(|o| o.status.success())
    };
    if !works("node", &["--version"]) || !works("npm", &["--version"]) {
        return Err("Node.js and npm are needed: `apt-get install -y nodejs npm` \
                    (scripts/test does this when run as root)"
            .into());
    }
    if !dir.join("node_modules/strophe.js").is_dir() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir)
            .output()
            .map_err(|e| format!("npm ci: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`npm ci` in {} failed (registry unreachable?):\n{}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(())
}

#[tokio::test]
async fn strophe_js_over_bosh_chats_with_a_tcp_user() {
    let dir = package_dir();
    node_with_strophe(&dir).unwrap_or_else(|e| panic!("INTEROP TEST CANNOT RUN: {e}"));
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
    cmd.arg(dir.join("bosh_chat.mjs"))
        .arg(format!("http://127.0.0.1:{http}/http-bind"))
        .arg(format!("{}@{DOMAIN}/strophe", alice.name))
        .arg(&alice.password)
        .arg(&b.jid)
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
                && e.get_child("body", ns::CLIENT).is_some_and(|b| b.text() == "hello from strophe")
        })
        .await;
    let Some(m) = m else {
        let out = child.wait_with_output().await.expect("node output");
        panic!(
            "no message from Strophe.js\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let from = m.attr("from").unwrap_or_default().to_string();
    assert_eq!(from, alice.full("strophe"));
    b.send(&format!("<message to='{from}' type='chat'><body>hello from tcp</body></message>"))
        .await;
    let out = tokio::time::timeout(Duration::from_secs(40), child.wait_with_output())
        .await
        .expect("Strophe.js did not exit")
        .expect("node output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success()
            && stdout.contains("GOT hello from tcp")
            && stdout.contains("DISCONNECTED"),
        "Strophe.js failed ({})\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
