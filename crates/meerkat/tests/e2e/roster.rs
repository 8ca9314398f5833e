//! Item 4: roster (RFC 6121 §2, XEP-0237 versioning), subscriptions (RFC 6121 §3) and presence
//! (RFC 6121 §4).

use crate::common::client::{assert_stanza_error, bare, xml, LoginOpts};
use crate::common::{ns, Client, Mech, TestServer, User};
use meerkat_xml::Element;
use std::time::Duration;

/// `<iq type='get'><query xmlns='jabber:iq:roster'/></iq>`; returns the result (asserted).
async fn roster_get(c: &mut Client, ver: Option<&str>) -> Element {
    let q = match ver {
        Some(v) => format!("<query xmlns='jabber:iq:roster' ver='{v}'/>"),
        None => "<query xmlns='jabber:iq:roster'/>".to_string(),
    };
    c.iq_result("get", None, &q).await
}

fn items(result: &Element) -> Vec<Element> {
    result
        .get_child("query", ns::ROSTER)
        .map(|q| q.children().filter(|i| i.is("item", ns::ROSTER)).cloned().collect())
        .unwrap_or_default()
}

fn item_for<'a>(list: &'a [Element], jid: &str) -> Option<&'a Element> {
    list.iter().find(|i| i.attr("jid") == Some(jid))
}

/// Waits for a roster push about `jid` whose item satisfies `pred`; checks `to` is this
/// resource's full JID and `from` is absent or the user's bare JID; answers it. Returns
/// `(push iq, item)`.
async fn recv_push(
    c: &mut Client,
    jid: &str,
    what: &str,
    pred: impl Fn(&Element) -> bool,
) -> (Element, Element) {
    let desc = format!("a roster push for {jid} ({what})");
    let iq = c
        .recv_where(&desc, |e| {
            e.name == "iq"
                && e.attr("type") == Some("set")
                && e.get_child("query", ns::ROSTER)
                    .and_then(|q| q.get_child("item", ns::ROSTER))
                    .is_some_and(|i| i.attr("jid") == Some(jid) && pred(i))
        })
        .await;
    assert_eq!(
        iq.attr("to"),
        Some(c.jid.as_str()),
        "push must be addressed to the full JID: {}",
        xml(&iq)
    );
    if let Some(from) = iq.attr("from") {
        assert_eq!(from, bare(&c.jid), "push `from` must be the user's bare JID: {}", xml(&iq));
    }
    let item = iq
        .get_child("query", ns::ROSTER)
        .and_then(|q| q.get_child("item", ns::ROSTER))
        .cloned()
        .expect("checked above");
    c.reply_result(&iq).await;
    (iq, item)
}

fn sub_is(i: &Element, sub: &str) -> bool {
    i.attr("subscription") == Some(sub)
}

/// Login followed by a roster get (so the resource is "interested" and receives pushes).
async fn online(server: &TestServer, u: &User, res: &str) -> Client {
    let mut c = server.login(u, res).await;
    roster_get(&mut c, None).await;
    c
}

/// alice subscribes to bob and bob approves (RFC 6121 §3.1), with every step asserted.
async fn subscribe_and_approve(alice: &mut Client, bob: &mut Client) {
    let (ab, bb) = (bare(&alice.jid).to_string(), bare(&bob.jid).to_string());
    alice.send(&format!("<presence to='{bb}' type='subscribe'/>")).await;
    // §3.1.2: the user's server pushes the pending item (ask='subscribe').
    let (_, item) =
        recv_push(alice, &bb, "ask='subscribe'", |i| i.attr("ask") == Some("subscribe")).await;
    assert!(matches!(item.attr("subscription"), Some("none") | Some("from")), "{}", xml(&item));
    // §3.1.3: the contact gets the request from the user's bare JID.
    let req = bob
        .recv_where("a subscription request", |e| {
            e.name == "presence" && e.attr("type") == Some("subscribe")
        })
        .await;
    assert_eq!(
        req.attr("from"),
        Some(ab.as_str()),
        "subscribe must come from the bare JID: {}",
        xml(&req)
    );
    bob.send(&format!("<presence to='{ab}' type='subscribed'/>")).await;
    // §3.1.5: the contact's roster now has subscription from (or both).
    recv_push(bob, &ab, "subscription from/both", |i| sub_is(i, "from") || sub_is(i, "both")).await;
    // §3.1.6: the user gets <subscribed/>, a push with to/both and no ask, then the contact's presence.
    let ok = alice
        .recv_where("<presence type='subscribed'/>", |e| {
            e.name == "presence" && e.attr("type") == Some("subscribed")
        })
        .await;
    assert_eq!(ok.attr("from"), Some(bb.as_str()), "{}", xml(&ok));
    let (_, item) =
        recv_push(alice, &bb, "subscription to/both", |i| sub_is(i, "to") || sub_is(i, "both"))
            .await;
    assert_eq!(item.attr("ask"), None, "ask must be gone after approval: {}", xml(&item));
    let bob_jid = bob.jid.clone();
    let p = alice.recv_presence_from(&bob_jid).await;
    assert_eq!(p.attr("type"), None, "expected bob's available presence: {}", xml(&p));
}

/// alice and bob subscribed both ways.
async fn make_mutual(alice: &mut Client, bob: &mut Client) {
    subscribe_and_approve(alice, bob).await;
    subscribe_and_approve(bob, alice).await;
    let bb = bare(&bob.jid).to_string();
    let r = roster_get(alice, None).await;
    let list = items(&r);
    let it =
        item_for(&list, &bb).unwrap_or_else(|| panic!("bob not in alice's roster: {}", xml(&r)));
    assert_eq!(it.attr("subscription"), Some("both"), "{}", xml(&r));
}

#[tokio::test]
async fn empty_roster_get_has_ver() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    let r = roster_get(&mut alice, None).await;
    let q = r.get_child("query", ns::ROSTER).unwrap_or_else(|| panic!("no <query/>: {}", xml(&r)));
    assert!(q.attr("ver").is_some(), "roster result without ver (XEP-0237): {}", xml(&r));
    assert!(items(&r).is_empty(), "{}", xml(&r));
}

#[tokio::test]
async fn roster_versioning_stream_feature_is_advertised() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut c = Client::connect(server.port(), "alice").await;
    c.open_stream().await;
    let f =
        c.auth(Mech::Plain, &a.name, &a.password).await.unwrap_or_else(|f| panic!("{}", xml(&f)));
    assert!(
        f.has_child("ver", ns::ROSTER_VER),
        "no <ver xmlns='{}'/>: {}",
        ns::ROSTER_VER,
        xml(&f)
    );
}

#[tokio::test]
async fn roster_set_pushes_to_all_interested_resources_then_get_and_remove() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut a1 = online(&server, &a, "one").await;
    let mut a2 = online(&server, &a, "two").await;
    let bb = b.bare();
    a1.iq_result(
        "set",
        None,
        &format!(
            "<query xmlns='jabber:iq:roster'><item jid='{bb}' name='Bob'><group>Friends</group></item></query>"
        ),
    )
    .await;
    let mut vers = Vec::new();
    for c in [&mut a1, &mut a2] {
        let (iq, item) = recv_push(c, &bb, "new item", |_| true).await;
        assert_eq!(item.attr("name"), Some("Bob"), "{}", xml(&iq));
        assert_eq!(item.attr("subscription"), Some("none"), "{}", xml(&iq));
        let groups: Vec<String> =
            item.children().filter(|g| g.is("group", ns::ROSTER)).map(|g| g.text()).collect();
        assert_eq!(groups, vec!["Friends".to_string()], "{}", xml(&iq));
        let ver = iq.get_child("query", ns::ROSTER).and_then(|q| q.attr("ver")).map(str::to_string);
        assert!(ver.is_some(), "roster push without ver (XEP-0237 §2.5): {}", xml(&iq));
        vers.push(ver.unwrap_or_default());
    }
    assert_eq!(vers[0], vers[1], "both resources must get the same version");

    let r = roster_get(&mut a2, None).await;
    let list = items(&r);
    let it = item_for(&list, &bb).unwrap_or_else(|| panic!("bob missing from roster: {}", xml(&r)));
    assert_eq!(it.attr("name"), Some("Bob"));
    assert_eq!(list.len(), 1, "{}", xml(&r));

    // XEP-0237 §2.3: a get with the current version returns an empty result.
    let r = roster_get(&mut a2, Some(&vers[0])).await;
    assert!(
        r.children().next().is_none(),
        "a get with the current ver must return an empty IQ result, got {}",
        xml(&r)
    );

    // Remove.
    a2.iq_result(
        "set",
        None,
        &format!(
            "<query xmlns='jabber:iq:roster'><item jid='{bb}' subscription='remove'/></query>"
        ),
    )
    .await;
    for c in [&mut a1, &mut a2] {
        let (iq, _) = recv_push(c, &bb, "subscription='remove'", |i| sub_is(i, "remove")).await;
        let ver = iq.get_child("query", ns::ROSTER).and_then(|q| q.attr("ver"));
        assert!(
            ver.is_some() && ver != Some(vers[0].as_str()),
            "remove push needs a new ver: {}",
            xml(&iq)
        );
    }
    let r = roster_get(&mut a1, None).await;
    assert!(items(&r).is_empty(), "bob still in roster after remove: {}", xml(&r));
    // The old version is no longer current: a get with it must not be empty.
    let r = roster_get(&mut a1, Some(&vers[0])).await;
    let stale_answered = r.get_child("query", ns::ROSTER).is_some();
    let pushes = a1
        .try_recv_where(Duration::from_millis(800), |e| {
            e.name == "iq" && e.attr("type") == Some("set") && e.has_child("query", ns::ROSTER)
        })
        .await;
    assert!(
        stale_answered || pushes.is_some(),
        "a get with a stale ver must return the roster or send pushes (XEP-0237 §2.3), got {}",
        xml(&r)
    );
}

#[tokio::test]
async fn roster_set_with_two_items_is_bad_request() {
    let server = TestServer::start().await;
    let (a, b, c) = (
        server.new_user("alice").await,
        server.new_user("bob").await,
        server.new_user("carol").await,
    );
    let mut alice = server.login(&a, "r").await;
    let r = alice
        .iq(
            "set",
            None,
            &format!(
                "<query xmlns='jabber:iq:roster'><item jid='{}'/><item jid='{}'/></query>",
                b.bare(),
                c.bare()
            ),
        )
        .await;
    // RFC 6121 §2.3.3.
    assert_stanza_error(&r, "iq", &["bad-request"]);
}

#[tokio::test]
async fn subscription_handshake_both_ways() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = online(&server, &a, "r").await;
    let mut bob = online(&server, &b, "r").await;
    make_mutual(&mut alice, &mut bob).await;
    // Presence broadcast: bob changes status, alice sees it.
    bob.send("<presence><show>away</show><status>lunch</status></presence>").await;
    let bob_jid = bob.jid.clone();
    let p = alice
        .recv_where("bob's away presence", |e| {
            e.name == "presence"
                && e.attr("from") == Some(bob_jid.as_str())
                && e.get_child("show", ns::CLIENT).is_some_and(|s| s.text() == "away")
        })
        .await;
    assert_eq!(
        p.get_child("status", ns::CLIENT).map(|s| s.text()).as_deref(),
        Some("lunch"),
        "{}",
        xml(&p)
    );
}

#[tokio::test]
async fn probes_on_login_bring_contacts_presence() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    {
        let mut alice = online(&server, &a, "r").await;
        let mut bob = online(&server, &b, "r").await;
        make_mutual(&mut alice, &mut bob).await;
        alice.close().await;
        bob.close().await;
    }
    let mut bob = server.login(&b, "later").await;
    let mut alice = server.login(&a, "later").await;
    // alice's initial presence makes the server probe bob and broadcast alice to bob (§4.2).
    let p = alice.recv_presence_from(&b.full("later")).await;
    assert_eq!(p.attr("type"), None, "{}", xml(&p));
    let p = bob.recv_presence_from(&a.full("later")).await;
    assert_eq!(p.attr("type"), None, "{}", xml(&p));
}

#[tokio::test]
async fn initial_presence_is_echoed_to_own_resource() {
    let server = TestServer::start().await;
    let a = server.new_user("alice").await;
    let mut alice = server.login(&a, "r").await;
    // RFC 6121 §4.2.2: broadcast to all of the user's available resources, including itself.
    let own = alice.jid.clone();
    alice.recv_presence_from(&own).await;
    // ... and a second resource's initial presence reaches the first one too.
    let mut alice2 = server.login(&a, "r2").await;
    alice.recv_presence_from(&a.full("r2")).await;
    let r2 = alice2.jid.clone();
    alice2.recv_presence_from(&r2).await;
}

#[tokio::test]
async fn subscription_request_to_offline_contact_is_delivered_on_each_login_until_answered() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = online(&server, &a, "r").await;
    alice.send(&format!("<presence to='{}' type='subscribe'/>", b.bare())).await;
    recv_push(&mut alice, &b.bare(), "ask='subscribe'", |i| i.attr("ask") == Some("subscribe"))
        .await;
    for round in 0..2 {
        let mut bob = server.login(&b, "r").await;
        let req = bob
            .recv_where(&format!("the pending subscribe (login {round})"), |e| {
                e.name == "presence" && e.attr("type") == Some("subscribe")
            })
            .await;
        assert_eq!(req.attr("from"), Some(a.bare().as_str()), "{}", xml(&req));
        bob.close().await;
    }
    // Approving now completes the subscription.
    let mut bob = online(&server, &b, "r").await;
    bob.send(&format!("<presence to='{}' type='subscribed'/>", a.bare())).await;
    recv_push(&mut alice, &b.bare(), "subscription to", |i| sub_is(i, "to") || sub_is(i, "both"))
        .await;
    alice.recv_presence_from(&bob.jid.clone()).await;
    drop(bob);
    // And it is not delivered again.
    let mut bob = server.login(&b, "again").await;
    bob.expect_none("a subscribe after approval", Duration::from_millis(800), |e| {
        e.name == "presence" && e.attr("type") == Some("subscribe")
    })
    .await;
}

#[tokio::test]
async fn subscription_request_to_bound_but_not_yet_available_contact_is_delivered_on_presence() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    // bob has bound a resource but sent no presence yet (a client fetching its roster first).
    let mut bob =
        Client::login_with(server.port(), &b, LoginOpts { presence: None, ..Default::default() })
            .await;
    roster_get(&mut bob, None).await;
    let mut alice = online(&server, &a, "r").await;
    alice.send(&format!("<presence to='{}' type='subscribe'/>", b.bare())).await;
    recv_push(&mut alice, &b.bare(), "ask='subscribe'", |i| i.attr("ask") == Some("subscribe"))
        .await;
    // RFC 6121 §3.1.3: with no available resource the request is kept and delivered when the
    // contact becomes available.
    bob.send("<presence/>").await;
    let req = bob
        .recv_where("the subscribe sent before bob's initial presence", |e| {
            e.name == "presence" && e.attr("type") == Some("subscribe")
        })
        .await;
    assert_eq!(req.attr("from"), Some(a.bare().as_str()), "{}", xml(&req));
}

#[tokio::test]
async fn unsubscribe_and_unsubscribed() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = online(&server, &a, "r").await;
    let mut bob = online(&server, &b, "r").await;
    make_mutual(&mut alice, &mut bob).await;
    let (ab, bb) = (a.bare(), b.bare());
    let (alice_jid, bob_jid) = (alice.jid.clone(), bob.jid.clone());

    // §3.3: alice stops her subscription to bob.
    alice.send(&format!("<presence to='{bb}' type='unsubscribe'/>")).await;
    recv_push(&mut alice, &bb, "subscription from", |i| sub_is(i, "from")).await;
    let u = bob
        .recv_where("<presence type='unsubscribe'/>", |e| {
            e.name == "presence" && e.attr("type") == Some("unsubscribe")
        })
        .await;
    assert_eq!(u.attr("from"), Some(ab.as_str()), "{}", xml(&u));
    recv_push(&mut bob, &ab, "subscription to", |i| sub_is(i, "to")).await;
    // §3.3.3: alice gets unavailable presence from bob's resources.
    let p = alice
        .recv_where("unavailable from bob", |e| {
            e.name == "presence"
                && e.attr("from") == Some(bob_jid.as_str())
                && e.attr("type") == Some("unavailable")
        })
        .await;
    drop(p);

    // §3.2: alice cancels bob's subscription to her.
    alice.send(&format!("<presence to='{bb}' type='unsubscribed'/>")).await;
    recv_push(&mut alice, &bb, "subscription none", |i| sub_is(i, "none")).await;
    let u = bob
        .recv_where("<presence type='unsubscribed'/>", |e| {
            e.name == "presence" && e.attr("type") == Some("unsubscribed")
        })
        .await;
    assert_eq!(u.attr("from"), Some(ab.as_str()), "{}", xml(&u));
    recv_push(&mut bob, &ab, "subscription none", |i| sub_is(i, "none")).await;
    bob.recv_where("unavailable from alice", |e| {
        e.name == "presence"
            && e.attr("from") == Some(alice_jid.as_str())
            && e.attr("type") == Some("unavailable")
    })
    .await;

    // No more presence flows either way.
    alice.send("<presence><status>still here</status></presence>").await;
    bob.expect_none("presence from alice", Duration::from_millis(800), |e| {
        e.name == "presence" && e.attr("from") == Some(alice_jid.as_str())
    })
    .await;
}

#[tokio::test]
async fn directed_presence_to_non_contact_and_unavailable_on_disconnect() {
    let server = TestServer::start().await;
    let (a, c) = (server.new_user("alice").await, server.new_user("carol").await);
    let mut alice = server.login(&a, "r").await;
    let mut carol = server.login(&c, "r").await;
    let alice_jid = alice.jid.clone();
    alice.send(&format!("<presence to='{}'><status>hi carol</status></presence>", carol.jid)).await;
    let p = carol.recv_presence_from(&alice_jid).await;
    assert_eq!(p.attr("type"), None, "{}", xml(&p));
    // RFC 6121 §4.6.3 / §4.5.2: on disconnect, those who got directed presence get unavailable.
    alice.close().await;
    let p = carol
        .recv_where("unavailable from alice", |e| {
            e.name == "presence"
                && e.attr("from") == Some(alice_jid.as_str())
                && e.attr("type").is_some()
        })
        .await;
    assert_eq!(p.attr("type"), Some("unavailable"), "{}", xml(&p));
}

#[tokio::test]
async fn abrupt_disconnect_broadcasts_unavailable_to_contacts() {
    let server = TestServer::start().await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut alice = online(&server, &a, "r").await;
    let mut bob = online(&server, &b, "r").await;
    make_mutual(&mut alice, &mut bob).await;
    let alice_jid = alice.jid.clone();
    alice.drop_abruptly();
    let p = bob
        .recv_where("unavailable from alice after TCP drop", |e| {
            e.name == "presence"
                && e.attr("from") == Some(alice_jid.as_str())
                && e.attr("type").is_some()
        })
        .await;
    assert_eq!(p.attr("type"), Some("unavailable"), "{}", xml(&p));
}

#[tokio::test]
async fn presence_is_not_leaked_to_non_contacts() {
    let server = TestServer::start().await;
    let (a, c) = (server.new_user("alice").await, server.new_user("carol").await);
    let mut carol = server.login(&c, "r").await;
    let alice = Client::login_with(server.port(), &a, LoginOpts::default()).await;
    let alice_jid = alice.jid.clone();
    carol
        .expect_none("presence from a non-contact", Duration::from_millis(800), |e| {
            e.name == "presence" && e.attr("from") == Some(alice_jid.as_str())
        })
        .await;
}
