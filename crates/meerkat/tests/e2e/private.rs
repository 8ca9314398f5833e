//! Issue 4: Private XML storage (XEP-0049) and legacy bookmarks (XEP-0048).

use crate::common::client::{assert_stanza_error, xml};
use crate::common::TestServer;
use meerkat_xml::Element;

fn payload(e: &Element) -> String {
    e.children().next().map(xml).unwrap_or_default()
}

#[tokio::test]
async fn conference_bookmarks_are_stored_and_fetched() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    // Nothing stored yet: the empty element asked for comes back.
    let r = alice
        .iq_result(
            "get",
            None,
            "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>",
        )
        .await;
    assert_eq!(
        payload(&r),
        "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>"
    );
    let bookmarks = "<storage xmlns='storage:bookmarks'>\
        <conference name='Council of Oberon' autojoin='true' jid='council@conference.example'>\
        <nick>Puck</nick><password>secret</password></conference>\
        <url name='Complete Works' url='http://example.org/works'/></storage>";
    let r = alice
        .iq("set", None, &format!("<query xmlns='jabber:iq:private'>{bookmarks}</query>"))
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    assert!(r.children().next().is_none(), "{}", xml(&r));
    // Fetched from a new session: stored, not cached.
    alice.close().await;
    let mut alice = server.login(&a, "other").await;
    let r = alice
        .iq_result(
            "get",
            None,
            "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>",
        )
        .await;
    assert_eq!(payload(&r), format!("<query xmlns='jabber:iq:private'>{bookmarks}</query>"));
    // Another namespace is independent.
    let r = alice
        .iq_result(
            "get",
            None,
            "<query xmlns='jabber:iq:private'><notes xmlns='storage:rosternotes'/></query>",
        )
        .await;
    assert_eq!(
        payload(&r),
        "<query xmlns='jabber:iq:private'><notes xmlns='storage:rosternotes'/></query>"
    );
}

#[tokio::test]
async fn private_storage_errors() {
    let server = TestServer::with("[modules.private]\nmax_item_bytes = 100\nmax_items = 1\n").await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob = server.login(&b, "r").await;
    // Reserved namespaces.
    for reserved in ["jabber:iq:private", "jabber:client", "vcard-temp"] {
        let r = alice
            .iq(
                "get",
                None,
                &format!("<query xmlns='jabber:iq:private'><x xmlns='{reserved}'/></query>"),
            )
            .await;
        assert_stanza_error(&r, "iq", &["not-acceptable"]);
    }
    // Not exactly one child.
    let r = alice.iq("get", None, "<query xmlns='jabber:iq:private'/>").await;
    assert_stanza_error(&r, "iq", &["bad-request"]);
    let r = alice
        .iq(
            "set",
            None,
            "<query xmlns='jabber:iq:private'><a xmlns='a:a'/><b xmlns='b:b'/></query>",
        )
        .await;
    assert_stanza_error(&r, "iq", &["bad-request"]);
    // Per item and per account bounds.
    let big = "x".repeat(200);
    let r = alice
        .iq(
            "set",
            None,
            &format!("<query xmlns='jabber:iq:private'><a xmlns='a:a'>{big}</a></query>"),
        )
        .await;
    assert_stanza_error(&r, "iq", &["not-acceptable"]);
    let r = alice
        .iq(
            "get",
            None,
            "<query xmlns='jabber:iq:private'><a xmlns='a:a'/><a2 xmlns='a:a'/></query>",
        )
        .await;
    assert_stanza_error(&r, "iq", &["bad-request"]);
    // A set may carry several elements of one namespace; they come back together.
    alice
        .iq_result(
            "set",
            None,
            "<query xmlns='jabber:iq:private'><a xmlns='a:a'>1</a><a2 xmlns='a:a'/></query>",
        )
        .await;
    let r = alice
        .iq_result("get", None, "<query xmlns='jabber:iq:private'><a xmlns='a:a'/></query>")
        .await;
    assert_eq!(
        payload(&r),
        "<query xmlns='jabber:iq:private'><a xmlns='a:a'>1</a><a2 xmlns='a:a'/></query>"
    );
    let r =
        alice.iq("set", None, "<query xmlns='jabber:iq:private'><b xmlns='b:b'/></query>").await;
    assert_stanza_error(&r, "iq", &["resource-constraint"]);
    alice
        .iq_result("set", None, "<query xmlns='jabber:iq:private'><a xmlns='a:a'>2</a></query>")
        .await;
    // Someone else's storage: forbidden, for get and set.
    for typ in ["get", "set"] {
        let r = bob
            .iq(typ, Some(&a.bare()), "<query xmlns='jabber:iq:private'><a xmlns='a:a'/></query>")
            .await;
        assert_stanza_error(&r, "iq", &["forbidden"]);
    }
    let r = alice
        .iq_result("get", None, "<query xmlns='jabber:iq:private'><a xmlns='a:a'/></query>")
        .await;
    assert_eq!(payload(&r), "<query xmlns='jabber:iq:private'><a xmlns='a:a'>2</a></query>");
}
