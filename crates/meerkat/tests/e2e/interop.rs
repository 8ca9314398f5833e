//! Interop: slixmpp (Debian's python3-slixmpp), a client library nobody here wrote, runs
//! `tests/interop/slixmpp_chat.py` against a node: STARTTLS, SASL, roster, subscriptions both
//! ways, presence, and chat both ways.

use crate::common::{TestServer, User, DOMAIN};
use std::path::PathBuf;
use std::time::Duration;

/// A Python 3 that can import slixmpp: `$MEERKAT_PYTHON`, else Debian's `/usr/bin/python3`
/// (where apt installs python3-slixmpp), else `python3` on PATH.
pub(crate) fn python_with_slixmpp() -> Result<String, String> {
    let mut candidates = Vec::new();
    if let Ok(p) = std::env::var("MEERKAT_PYTHON") {
        candidates.push(p);
    }
    candidates.push("/usr/bin/python3".into());
    candidates.push("python3".into());
    let mut tried = Vec::new();
    for c in candidates {
        let ok = std::process::Command::new(&c)
            .args(["-c", "import slixmpp"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(c);
        }
        tried.push(c);
    }
    Err(format!(
        "no Python with slixmpp found (tried {tried:?}). Install it with \
         `apt-get install -y python3-slixmpp` (scripts/test does this when run as root), \
         or point MEERKAT_PYTHON at a python3 that has it"
    ))
}

/// Runs `tests/interop/SCRIPT` (a two-user slixmpp script taking `--port --domain --timeout
/// --user1 --password1 --user2 --password2`) against `server`, waits at most `timeout_s` + 30 s,
/// and panics with both outputs, naming `what`, unless it exits 0. Returns its stdout.
pub(crate) async fn run_two_user_script(
    script: &str,
    server: &TestServer,
    a: &User,
    b: &User,
    timeout_s: u64,
    what: &str,
) -> String {
    let python = python_with_slixmpp().unwrap_or_else(|e| panic!("INTEROP TEST CANNOT RUN: {e}"));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop").join(script);
    let (port, limit) = (server.port().to_string(), timeout_s.to_string());
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(&script)
        .args(["--port", &port, "--domain", DOMAIN, "--timeout", &limit])
        .args(["--user1", &a.name, "--password1", &a.password])
        .args(["--user2", &b.name, "--password2", &b.password])
        .kill_on_drop(true);
    let wait = Duration::from_secs(timeout_s + 30);
    let out = tokio::time::timeout(wait, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{} did not finish within {wait:?}", script.display()))
        .unwrap_or_else(|e| panic!("cannot run {python} {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        out.status
    );
    stdout
}

#[tokio::test]
async fn slixmpp_clients_subscribe_see_presence_and_chat_over_starttls() {
    // slixmpp 1.8.3 offers channel binding type tls-unique, which TLS 1.3 lacks (RFC 9266), so
    // each of its logins fails SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, then SCRAM-SHA-256 and
    // SCRAM-SHA-1 (gs2 flag 'y' while the node offers -PLUS: a downgrade, refused per
    // RFC 5802 §6) before PLAIN succeeds. Those 4 failures per login count against the
    // per-address limit (10 per minute by default); raise it so reruns within a minute pass.
    let server = TestServer::with("[auth]\nmax_failures_per_minute = 100\n").await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    run_two_user_script("slixmpp_chat.py", &server, &a, &b, 30, "slixmpp interop").await;
}
