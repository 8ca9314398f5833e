//! Around XEP-0045 rooms, over real sockets: disco of the service and of rooms, mediated
//! invitations and declines (§7.8.2), XEP-0249 direct invitations, XEP-0410 self-ping,
//! XEP-0425 moderation with its archive tombstone, and room archives (XEP-0313).

use super::muc::*;
use crate::common::client::xml;
use crate::common::{TestServer, DOMAIN};
use meerkat_xml::Element;

const INFO: &str = "http://jabber.org/protocol/disco#info";
const ITEMS: &str = "http://jabber.org/protocol/disco#items";
const MAM: &str = "urn:xmpp:mam:2";

fn features(r: &Element) -> Vec<String> {
    r.get_child("query", INFO)
        .map(|q| {
            q.children()
                .filter(|f| f.name == "feature")
                .filter_map(|f| f.attr("var").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn disco_of_the_service_and_rooms() {
    let server = TestServer::start().await;
    let ua = server.new_user("alice").await;
    let mut a = server.login(&ua, "pc").await;
    // The server lists its conference service.
    let r = a.iq_result("get", Some(DOMAIN), &format!("<query xmlns='{ITEMS}'/>")).await;
    assert!(xml(&r).contains(&format!("<item jid='{MUC_DOMAIN}'/>")), "{}", xml(&r));
    let r = a.iq_result("get", Some(MUC_DOMAIN), &format!("<query xmlns='{INFO}'/>")).await;
    let q = r.get_child("query", INFO).expect("query");
    assert_eq!(
        xml(q.children().next().expect("identity")),
        format!("<identity xmlns='{INFO}' category='conference' type='text' name='Chatrooms'/>")
    );
    assert!(features(&r).contains(&NS_MUC.to_owned()));

    let public = new_room("public");
    let hidden = new_room("hidden");
    create_instant(&mut a, &public, "Alice").await;
    enter(&mut a, &hidden, "Alice").await;
    configure(
        &mut a,
        &hidden,
        &[("muc#roomconfig_publicroom", "0"), ("muc#roomconfig_roomdesc", "secret place")],
    )
    .await;
    let r = a.iq_result("get", Some(MUC_DOMAIN), &format!("<query xmlns='{ITEMS}'/>")).await;
    assert!(xml(&r).contains(&format!("<item jid='{public}'/>")), "{}", xml(&r));
    assert!(!xml(&r).contains(&hidden), "hidden rooms are not listed: {}", xml(&r));

    let r = a.iq_result("get", Some(&hidden), &format!("<query xmlns='{INFO}'/>")).await;
    let f = features(&r);
    for want in [
        NS_MUC,
        "muc_hidden",
        "muc_temporary",
        "muc_open",
        "muc_unmoderated",
        "muc_unsecured",
        "muc_semianonymous",
        NS_OID,
        MAM,
        NS_SID,
        "urn:xmpp:message-moderate:1",
        "http://jabber.org/protocol/muc#self-ping-optimization",
    ] {
        assert!(f.contains(&want.to_owned()), "{want} missing from {f:?}");
    }
    let form = r
        .get_child("query", INFO)
        .and_then(|q| q.get_child("x", "jabber:x:data"))
        .expect("roominfo");
    assert!(xml(form).contains("<field var='muc#roominfo_description' type='text-single'><value>secret place</value></field>"), "{}", xml(form));
    assert!(
        xml(form).contains(
            "<field var='muc#roominfo_occupants' type='text-single'><value>1</value></field>"
        ),
        "{}",
        xml(form)
    );
    // A node on a room is not there.
    let r = a.iq("get", Some(&public), &format!("<query xmlns='{INFO}' node='x'/>")).await;
    assert_eq!(error_condition(&r).as_deref(), Some("item-not-found"));
    // Unknown IQs to the service or room.
    let r = a.iq("get", Some(MUC_DOMAIN), "<query xmlns='jabber:iq:version'/>").await;
    assert_eq!(error_condition(&r).as_deref(), Some("service-unavailable"));
    let r = a.iq("get", Some(&public), "<query xmlns='jabber:iq:version'/>").await;
    assert_eq!(error_condition(&r).as_deref(), Some("service-unavailable"));
}

#[tokio::test]
async fn invitations_mediated_declined_and_direct() {
    let server = TestServer::start().await;
    let (ua, ub, uc) = (
        server.new_user("alice").await,
        server.new_user("bob").await,
        server.new_user("carol").await,
    );
    let mut a = server.login(&ua, "pc").await;
    let mut b = server.login(&ub, "pc").await;
    let mut c = server.login(&uc, "pc").await;
    let room = new_room("party");
    enter(&mut a, &room, "Alice").await;
    configure(
        &mut a,
        &room,
        &[
            ("muc#roomconfig_membersonly", "1"),
            ("muc#roomconfig_passwordprotectedroom", "1"),
            ("muc#roomconfig_roomsecret", "pw"),
        ],
    )
    .await;
    // Mediated: the room invites Bob on Alice's behalf, with the password; being an owner's
    // invitation to a members-only room, it makes Bob a member.
    a.send(&format!("<message to='{room}' id='i1'><x xmlns='{NS_USER}'><invite to='{}'><reason>Come</reason></invite></x></message>", ub.bare())).await;
    let m = b
        .recv_where("invitation", |e| e.name == "message" && e.get_child("x", NS_USER).is_some())
        .await;
    assert_eq!(
        shape(&m, &[]),
        format!("<message from='{room}' to='{}'><x xmlns='{NS_USER}'><invite from='{}'><reason>Come</reason></invite><password>pw</password></x></message>", ub.bare(), a.jid)
    );
    enter_with_password(&mut b, &room).await;
    // Bob (a member, no moderator, allowinvites off) may not invite.
    b.send(&format!(
        "<message to='{room}' id='i2'><x xmlns='{NS_USER}'><invite to='{}'/></x></message>",
        uc.bare()
    ))
    .await;
    let e = b.recv_where("invite refused", |e| e.attr("id") == Some("i2")).await;
    assert_eq!(error_condition(&e).as_deref(), Some("forbidden"), "{}", xml(&e));
    // Carol declines an invitation: the inviter learns it.
    c.send(&format!("<message to='{room}'><x xmlns='{NS_USER}'><decline to='{}'><reason>Busy</reason></decline></x></message>", a.jid)).await;
    let d = a.recv_where("decline", |e| e.name == "message" && xml(e).contains("decline")).await;
    assert_eq!(
        shape(&d, &[]),
        format!("<message from='{room}' to='{}'><x xmlns='{NS_USER}'><decline from='{}'><reason>Busy</reason></decline></x></message>", a.jid, uc.bare())
    );
    // XEP-0249 direct invitation: user to user, untouched.
    a.send(&format!("<message to='{}' id='d1'><x xmlns='jabber:x:conference' jid='{room}' password='pw' reason='Join us'/></message>", uc.bare())).await;
    let m = c
        .recv_where("direct invitation", |e| e.get_child("x", "jabber:x:conference").is_some())
        .await;
    assert_eq!(
        xml(m.get_child("x", "jabber:x:conference").expect("x")),
        format!("<x xmlns='jabber:x:conference' jid='{room}' password='pw' reason='Join us'/>")
    );
}

async fn enter_with_password(c: &mut crate::common::client::Client, room: &str) {
    let got = join(c, room, "Bob", "<password>pw</password>").await;
    assert!(got.iter().any(|e| codes(e).contains(&"110".to_owned())), "{got:?}");
}

#[tokio::test]
async fn self_ping_and_iq_to_occupants() {
    let server = TestServer::start().await;
    let (ua, ub) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut a = server.login(&ua, "pc").await;
    let mut b = server.login(&ub, "pc").await;
    let room = new_room("ping");
    create_instant(&mut a, &room, "Alice").await;
    // XEP-0410: a ping to one's own occupant JID is answered by the room.
    let r = a.iq("get", Some(&format!("{room}/Alice")), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    assert_eq!(r.attr("from"), Some(format!("{room}/Alice").as_str()));
    // Not joined: not-acceptable, the signal to rejoin.
    let r = b.iq("get", Some(&format!("{room}/Alice")), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(error_condition(&r).as_deref(), Some("not-acceptable"), "{}", xml(&r));
    // Other IQs to an occupant go to the occupant's client under the sender's occupant JID,
    // and its answer comes back the same way.
    enter(&mut b, &room, "Bob").await;
    b.send(&format!(
        "<iq type='get' id='v1' to='{room}/Alice'><query xmlns='jabber:iq:version'/></iq>"
    ))
    .await;
    let q = a.recv_where("forwarded iq", |e| e.name == "iq" && e.attr("id") == Some("v1")).await;
    assert_eq!(
        xml(&q),
        format!("<iq type='get' id='v1' to='{}' from='{room}/Bob'><query xmlns='jabber:iq:version'/></iq>", a.jid)
    );
    a.send(&format!("<iq type='result' id='v1' to='{room}/Bob'><query xmlns='jabber:iq:version'><name>T</name></query></iq>")).await;
    let r =
        b.recv_where("forwarded answer", |e| e.name == "iq" && e.attr("id") == Some("v1")).await;
    assert_eq!(
        xml(&r),
        format!("<iq type='result' id='v1' to='{}' from='{room}/Alice'><query xmlns='jabber:iq:version'><name>T</name></query></iq>", b.jid)
    );
}

#[tokio::test]
async fn moderation_retracts_and_archive_keeps_a_tombstone() {
    let server = TestServer::start().await;
    let (ua, ub, uc) = (
        server.new_user("alice").await,
        server.new_user("bob").await,
        server.new_user("carol").await,
    );
    let mut a = server.login(&ua, "pc").await;
    let mut b = server.login(&ub, "pc").await;
    let room = new_room("modroom");
    create_instant(&mut a, &room, "Alice").await;
    enter(&mut b, &room, "Bob").await;
    b.send(&format!("<message to='{room}' type='groupchat'><body>spam</body></message>")).await;
    b.send(&format!("<message to='{room}' type='groupchat'><body>fine</body></message>")).await;
    let spam = recv_groupchat(&mut a, &room).await;
    recv_groupchat(&mut a, &room).await;
    let sid =
        spam.get_child("stanza-id", NS_SID).and_then(|s| s.attr("id")).expect("sid").to_owned();
    let bob_oid =
        spam.get_child("occupant-id", NS_OID).and_then(|s| s.attr("id")).expect("oid").to_owned();
    b.drain(QUIET).await;
    let moderate = format!("<moderate xmlns='urn:xmpp:message-moderate:1' id='{sid}'><retract xmlns='urn:xmpp:message-retract:1'/><reason>No spam</reason></moderate>");
    // Participants may not moderate; unknown ids are item-not-found.
    let e = b.iq("set", Some(&room), &moderate).await;
    assert_eq!(error_condition(&e).as_deref(), Some("forbidden"), "{}", xml(&e));
    let e = a.iq("set", Some(&room), "<moderate xmlns='urn:xmpp:message-moderate:1' id='0000000000000001'><retract xmlns='urn:xmpp:message-retract:1'/></moderate>").await;
    assert_eq!(error_condition(&e).as_deref(), Some("item-not-found"));
    a.iq_result("set", Some(&room), &moderate).await;
    let m = b.recv_where("retraction", |e| e.name == "message" && xml(e).contains("retract")).await;
    let retract = m.get_child("retract", "urn:xmpp:message-retract:1").expect("retract");
    assert_eq!(retract.attr("id"), Some(sid.as_str()));
    let moderated =
        retract.get_child("moderated", "urn:xmpp:message-moderate:1").expect("moderated");
    assert_eq!(moderated.attr("by"), Some(format!("{room}/Alice").as_str()));
    assert_eq!(
        retract.get_child("reason", "urn:xmpp:message-moderate:1").map(|r| r.text()).as_deref(),
        Some("No spam")
    );
    assert_eq!(m.attr("from"), Some(room.as_str()));

    // The archive: the spam is a tombstone (sender and ids kept), the rest intact.
    let r = mam_query(&mut a, &room).await;
    assert_eq!(r.len(), 3, "{r:?}");
    let first = &r[0];
    assert_eq!(first.attr("from"), Some(format!("{room}/Bob").as_str()));
    assert!(first.get_child("body", "jabber:client").is_none(), "{}", xml(first));
    assert!(first.get_child("retracted", "urn:xmpp:message-retract:1").is_some(), "{}", xml(first));
    assert_eq!(
        first.get_child("occupant-id", NS_OID).and_then(|o| o.attr("id")),
        Some(bob_oid.as_str())
    );
    assert_eq!(r[1].get_child("body", "jabber:client").map(|b| b.text()).as_deref(), Some("fine"));
    assert!(r[2].get_child("retract", "urn:xmpp:message-retract:1").is_some());
    // And a newcomer's history no longer holds it.
    let mut c = server.login(&uc, "pc").await;
    let got = enter(&mut c, &room, "Carol").await;
    let bodies: Vec<String> =
        got.iter().filter_map(|e| e.get_child("body", "jabber:client")).map(|b| b.text()).collect();
    assert_eq!(bodies, ["fine"]);
}

/// The messages of a MAM query to the room (all pages of up to 50), asserting the `<fin/>`.
async fn mam_query(c: &mut crate::common::client::Client, room: &str) -> Vec<Element> {
    let qid = "q1";
    let r = c.iq("set", Some(room), &format!("<query xmlns='{MAM}' queryid='{qid}'/>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    let fin = r.get_child("fin", MAM).expect("fin");
    assert_eq!(fin.attr("complete"), Some("true"));
    let mut out = Vec::new();
    while let Some(m) = c
        .try_recv_where(std::time::Duration::from_millis(10), |e| {
            e.name == "message" && e.get_child("result", MAM).is_some()
        })
        .await
    {
        let result = m.get_child("result", MAM).expect("result");
        assert_eq!(result.attr("queryid"), Some(qid));
        assert_eq!(m.attr("from"), Some(room));
        let fwd = result.get_child("forwarded", "urn:xmpp:forward:0").expect("forwarded");
        assert!(fwd.get_child("delay", "urn:xmpp:delay").is_some());
        out.push(fwd.get_child("message", "jabber:client").expect("message").clone());
    }
    out
}

#[tokio::test]
async fn room_archive_queries_and_access() {
    let server = TestServer::start().await;
    let (ua, ub) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut a = server.login(&ua, "pc").await;
    let mut b = server.login(&ub, "pc").await;
    let room = new_room("archive");
    create_instant(&mut a, &room, "Alice").await;
    for i in 0..3 {
        a.send(&format!("<message to='{room}' type='groupchat'><body>a{i}</body></message>")).await;
        recv_groupchat(&mut a, &room).await;
    }
    // Anyone who may enter may read the archive of an open room, without joining.
    let msgs = mam_query(&mut b, &room).await;
    let bodies: Vec<String> = msgs
        .iter()
        .filter_map(|m| m.get_child("body", "jabber:client"))
        .map(|b| b.text())
        .collect();
    assert_eq!(bodies, ["a0", "a1", "a2"]);
    assert!(msgs.iter().all(|m| m.attr("from") == Some(format!("{room}/Alice").as_str())));
    // Paging: the last page of one.
    let r = b.iq("set", Some(&room), &format!("<query xmlns='{MAM}'><set xmlns='http://jabber.org/protocol/rsm'><max>1</max><before/></set></query>")).await;
    let fin = r.get_child("fin", MAM).expect("fin");
    assert_eq!(fin.attr("complete"), Some("false"));
    assert!(xml(fin).contains("<count>3</count>"), "{}", xml(fin));
    let m = b.recv_where("one result", |e| e.get_child("result", MAM).is_some()).await;
    assert!(xml(&m).contains("<body>a2</body>"), "{}", xml(&m));
    // Outcasts may not; members-only rooms keep outsiders out.
    a.iq_result(
        "set",
        Some(&room),
        &format!(
            "<query xmlns='{NS_ADMIN}'><item affiliation='outcast' jid='{}'/></query>",
            ub.bare()
        ),
    )
    .await;
    let r = b.iq("set", Some(&room), &format!("<query xmlns='{MAM}'/>")).await;
    assert_eq!(error_condition(&r).as_deref(), Some("forbidden"));
    // With archiving off, the room has no archive.
    configure(&mut a, &room, &[("muc#roomconfig_enablearchiving", "0")]).await;
    let r = a.iq("set", Some(&room), &format!("<query xmlns='{MAM}'/>")).await;
    assert_eq!(error_condition(&r).as_deref(), Some("service-unavailable"));
}

/// slixmpp (xep_0045) on both ends: create and configure a room, history on join, talk
/// both ways, occupant list and room disco (`tests/interop/slixmpp_muc.py`).
#[tokio::test]
async fn slixmpp_clients_meet_in_a_room() {
    // See interop.rs: slixmpp's failed -PLUS attempts count against the login limit.
    let server = TestServer::with("[auth]\nmax_failures_per_minute = 100\n").await;
    let (a, b) = (server.new_user("alice").await, server.new_user("bob").await);
    let stdout = super::interop::run_two_user_script(
        "slixmpp_muc.py",
        &server,
        &a,
        &b,
        30,
        "slixmpp MUC interop",
    )
    .await;
    assert!(stdout.contains("result: True"), "{stdout}");
}
