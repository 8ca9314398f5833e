//! Item 5: offline messages (XEP-0160) with delayed-delivery stamps (XEP-0203).

use crate::common::client::{assert_stanza_error, xml, LoginOpts};
use crate::common::{ns, Client, TestServer, DOMAIN};
use meerkat_xml::Element;
use std::time::Duration;

fn body(e: &Element) -> Option<String> {
    e.get_child("body", ns::CLIENT).map(|b| b.text())
}

/// `YYYY-MM-DDThh:mm:ss[.fff]Z` (XEP-0082 DateTime in UTC).
fn is_xep82_utc(s: &str) -> bool {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    let basic = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !basic || !s.ends_with('Z') {
        return false;
    }
    let frac = &s[19..s.len() - 1];
    frac.is_empty()
        || (frac.starts_with('.')
            && frac.len() > 1
            && frac[1..].bytes().all(|c| c.is_ascii_digit()))
}

#[tokio::test]
async fn messages_to_offline_user_arrive_in_order_with_delay_on_next_presence() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    for i in 1..=3 {
        alice
            .send(&format!(
                "<message to='{}' type='chat' id='o{i}'><body>offline {i}</body></message>",
                b.bare()
            ))
            .await;
    }
    alice.sync().await;
    alice
        .expect_none("an error for stored messages", Duration::from_millis(500), |e| {
            e.attr("type") == Some("error")
        })
        .await;

    // Logged in but no presence yet: nothing delivered (XEP-0160 §3: on available presence).
    let mut bob =
        Client::login_with(server.port(), &b, LoginOpts { presence: None, ..Default::default() })
            .await;
    bob.expect_no_message(Duration::from_millis(500)).await;
    bob.send("<presence/>").await;
    for i in 1..=3 {
        let m = bob.recv_message().await;
        assert_eq!(
            body(&m).as_deref(),
            Some(format!("offline {i}").as_str()),
            "order: {}",
            xml(&m)
        );
        assert_eq!(m.attr("from"), Some(alice.jid.as_str()), "{}", xml(&m));
        assert_eq!(m.attr("type"), Some("chat"), "{}", xml(&m));
        let d = m
            .get_child("delay", ns::DELAY)
            .unwrap_or_else(|| panic!("no <delay xmlns='urn:xmpp:delay'/>: {}", xml(&m)));
        assert_eq!(d.attr("from"), Some(DOMAIN), "delay from: {}", xml(&m));
        let stamp = d.attr("stamp").unwrap_or_default();
        assert!(is_xep82_utc(stamp), "delay stamp {stamp:?} is not an XEP-0082 UTC DateTime");
    }
    bob.expect_no_message(Duration::from_millis(500)).await;

    // Delivered once only.
    bob.close().await;
    let mut bob = server.login(&b, "again").await;
    bob.expect_no_message(Duration::from_millis(800)).await;
}

#[tokio::test]
async fn offline_storage_limit_returns_an_error_to_the_sender() {
    let server = TestServer::with("[modules.offline]\nmax_messages = 3\n").await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    for i in 1..=3 {
        alice
            .send(&format!("<message to='{}' id='l{i}'><body>keep {i}</body></message>", b.bare()))
            .await;
    }
    alice.sync().await;
    alice
        .expect_none("an error within the limit", Duration::from_millis(500), |e| {
            e.attr("type") == Some("error")
        })
        .await;
    alice
        .send(&format!("<message to='{}' id='l4'><body>one too many</body></message>", b.bare()))
        .await;
    let e = alice
        .recv_where("the error for message 4", |e| {
            e.name == "message" && e.attr("id") == Some("l4")
        })
        .await;
    assert_stanza_error(&e, "message", &["resource-constraint", "service-unavailable"]);

    let mut bob = server.login(&b, "r").await;
    for i in 1..=3 {
        let m = bob.recv_message().await;
        assert_eq!(body(&m).as_deref(), Some(format!("keep {i}").as_str()), "{}", xml(&m));
    }
    bob.expect_no_message(Duration::from_millis(500)).await;
}

#[test]
fn stamp_format_check() {
    assert!(is_xep82_utc("2024-01-02T03:04:05Z"));
    assert!(is_xep82_utc("2024-01-02T03:04:05.123456Z"));
    assert!(!is_xep82_utc("2024-01-02 03:04:05Z"));
    assert!(!is_xep82_utc("2024-01-02T03:04:05+00:00"));
}
