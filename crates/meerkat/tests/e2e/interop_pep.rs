//! Interop: slixmpp (xep_0060, xep_0163, xep_0115, xep_0084) publishes and receives a user
//! avatar through Meerkat's PEP, with `+notify` learned from slixmpp's own caps
//! (`tests/interop/slixmpp_pep_avatar.py`).

use super::pep::mutual;
use crate::common::TestServer;

#[tokio::test]
async fn slixmpp_avatar_published_notified_and_fetched() {
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
    let stdout = super::interop::run_two_user_script(
        "slixmpp_pep_avatar.py",
        &server,
        &a,
        &b,
        20,
        "slixmpp PEP avatar interop",
    )
    .await;
    assert!(stdout.contains("equal: True"), "the fetched avatar differs:\n{stdout}");
}
