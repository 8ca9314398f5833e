//! Interop: slixmpp (xep_0060, xep_0163, xep_0115, xep_0084) publishes and receives a user
//! avatar through Meerkat's PEP, with `+notify` learned from slixmpp's own caps
//! (`tests/interop/slixmpp_pep_avatar.py`).

use super::pep::mutual;
use crate::common::{TestServer, DOMAIN};
use std::path::PathBuf;
use std::time::Duration;

#[tokio::test]
async fn slixmpp_avatar_published_notified_and_fetched() {
    let python = super::interop::python_with_slixmpp()
        .unwrap_or_else(|e| panic!("INTEROP TEST CANNOT RUN: {e}"));
    // See interop.rs: slixmpp's failed -PLUS attempts count against the login limit.
    let server = TestServer::with("[auth]\nmax_failures_per_minute = 100\n").await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    {
        let mut ca = server.login(&a, "setup").await;
        let mut cb = server.login(&b, "setup").await;
        mutual(&mut ca, &mut cb).await;
        ca.close().await;
        cb.close().await;
    }
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/slixmpp_pep_avatar.py");
    let port = server.port().to_string();
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(&script)
        .args(["--port", &port, "--domain", DOMAIN, "--timeout", "20"])
        .args(["--user1", &a.name, "--password1", &a.password])
        .args(["--user2", &b.name, "--password2", &b.password])
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{} did not finish within 60 s", script.display()))
        .unwrap_or_else(|e| panic!("cannot run {python} {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("equal: True"),
        "slixmpp PEP avatar interop failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
}
