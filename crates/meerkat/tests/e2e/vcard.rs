//! Issue 4: vCard-temp (XEP-0054) and vCard-based avatars (XEP-0153).

use crate::common::client::{assert_stanza_error, xml};
use crate::common::{Client, TestServer};
use meerkat_xml::Element;
use std::time::Duration;

const NS_UPDATE: &str = "vcard-temp:x:update";
/// base64 of "abc"; its SHA-1 is the FIPS 180 test vector below.
const PHOTO_B64: &str = "YWJj";
const PHOTO_SHA1: &str = "a9993e364706816aba3e25717850c26c9cd0d89d";

fn payload(e: &Element) -> String {
    e.children().next().map(xml).unwrap_or_default()
}

fn photo_of(p: &Element) -> Option<String> {
    p.get_child("x", NS_UPDATE).and_then(|x| x.get_child("photo", NS_UPDATE)).map(|p| p.text())
}

#[tokio::test]
async fn own_vcard_set_get_and_other_accounts_vcard() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob = server.login(&b, "r").await;
    // Nothing stored: an empty vCard, for the owner and for others (XEP-0054 §3.1).
    let r = alice.iq_result("get", None, "<vCard xmlns='vcard-temp'/>").await;
    assert_eq!(payload(&r), "<vCard xmlns='vcard-temp'/>");
    let r = bob.iq_result("get", Some(&a.bare()), "<vCard xmlns='vcard-temp'/>").await;
    assert_eq!(payload(&r), "<vCard xmlns='vcard-temp'/>");
    assert_eq!(r.attr("from"), Some(a.bare().as_str()), "{}", xml(&r));

    let card = "<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>al</NICKNAME></vCard>";
    let r = alice.iq("set", None, card).await;
    assert_eq!(
        xml(&r),
        format!("<iq type='result' id='{}' to='{}'/>", r.attr("id").unwrap_or(""), alice.jid)
    );
    let r = alice.iq_result("get", Some(&a.bare()), "<vCard xmlns='vcard-temp'/>").await;
    assert_eq!(payload(&r), card);
    let r = bob.iq_result("get", Some(&a.bare()), "<vCard xmlns='vcard-temp'/>").await;
    assert_eq!(payload(&r), card);

    // Setting someone else's vCard is forbidden.
    let r =
        bob.iq("set", Some(&a.bare()), "<vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard>").await;
    assert_stanza_error(&r, "iq", &["forbidden"]);
    let r = alice.iq_result("get", None, "<vCard xmlns='vcard-temp'/>").await;
    assert_eq!(payload(&r), card);
}

#[tokio::test]
async fn oversized_vcard_is_refused_with_text() {
    let server = TestServer::with("[modules.vcard]\nmax_bytes = 200\n").await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let big = "x".repeat(300);
    let r = alice
        .iq("set", None, &format!("<vCard xmlns='vcard-temp'><DESC>{big}</DESC></vCard>"))
        .await;
    let e = assert_stanza_error(&r, "iq", &["not-acceptable"]);
    let text = e.children().find(|c| c.name == "text").map(|t| t.text()).unwrap_or_default();
    assert!(text.contains("200"), "error text names the limit: {}", xml(&r));
    let r = alice.iq_result("get", None, "<vCard xmlns='vcard-temp'/>").await;
    assert_eq!(payload(&r), "<vCard xmlns='vcard-temp'/>");
}

#[tokio::test]
async fn photo_hash_is_added_to_presence_and_rebroadcast_after_set() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = server.login(&a, "r").await;
    let mut bob = server.login(&b, "r").await;
    let (ab, bb) = (a.bare(), b.bare());
    // bob subscribes to alice's presence.
    bob.send(&format!("<presence to='{ab}' type='subscribe'/>")).await;
    alice.recv_where("subscribe", |e| e.attr("type") == Some("subscribe")).await;
    alice.send(&format!("<presence to='{bb}' type='subscribed'/>")).await;
    alice.sync().await;
    bob.sync().await;
    alice.drain(Duration::from_millis(300)).await;
    bob.drain(Duration::from_millis(300)).await;

    // Set a vCard with a photo: the presence is sent again with the hash, to contacts and to
    // the user's own resources.
    alice
        .iq_result(
            "set",
            None,
            &format!("<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>{PHOTO_B64}</BINVAL></PHOTO></vCard>"),
        )
        .await;
    let p = bob.recv_presence_from(&alice.jid.clone()).await;
    assert_eq!(
        payload(&p),
        format!("<x xmlns='{NS_UPDATE}'><photo>{PHOTO_SHA1}</photo></x>"),
        "{}",
        xml(&p)
    );
    let own = alice.recv_presence_from(&alice.jid.clone()).await;
    assert_eq!(photo_of(&own).as_deref(), Some(PHOTO_SHA1), "{}", xml(&own));

    // A later presence without the element gets it added; one with an empty <photo/> too.
    alice.send("<presence><status>here</status></presence>").await;
    let p = bob.recv_presence_from(&alice.jid.clone()).await;
    assert_eq!(photo_of(&p).as_deref(), Some(PHOTO_SHA1), "{}", xml(&p));
    alice.send(&format!("<presence><x xmlns='{NS_UPDATE}'><photo/></x></presence>")).await;
    let p = bob.recv_presence_from(&alice.jid.clone()).await;
    assert_eq!(photo_of(&p).as_deref(), Some(PHOTO_SHA1), "{}", xml(&p));
    assert_eq!(p.children().filter(|c| c.ns == NS_UPDATE).count(), 1, "{}", xml(&p));

    // Removing the photo: an empty <photo/> (XEP-0153: no avatar).
    alice.iq_result("set", None, "<vCard xmlns='vcard-temp'><FN>A</FN></vCard>").await;
    let p = bob.recv_presence_from(&alice.jid.clone()).await;
    assert_eq!(payload(&p), format!("<x xmlns='{NS_UPDATE}'><photo/></x>"), "{}", xml(&p));

    // A new login of alice also gets the hash of the stored vCard (none now: empty photo).
    let mut second = Client::login(server.port(), &a, "second").await;
    let p = bob.recv_presence_from(&second.jid.clone()).await;
    assert_eq!(photo_of(&p).as_deref(), Some(""), "{}", xml(&p));
    second.sync().await;
}
