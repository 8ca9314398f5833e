//! XEP-0045 Multi-User Chat at `conference.localhost` over real sockets: instant and reserved
//! room creation, occupant presence with status codes, groupchat with stanza-id (XEP-0359) and
//! occupant-id (XEP-0421), private messages, history on join, subject, nick changes and
//! conflicts, leaving and temporary rooms vanishing. Admin, configuration and limits are in
//! [`super::muc_admin`]; disco, invitations, self-ping, moderation and MAM in
//! [`super::muc_extras`].

use crate::common::client::{xml, Client};
use crate::common::{unique, TestServer};
use meerkat_xml::Element;
use std::time::Duration;

pub const MUC_DOMAIN: &str = "conference.localhost";
pub const NS_MUC: &str = "http://jabber.org/protocol/muc";
pub const NS_USER: &str = "http://jabber.org/protocol/muc#user";
pub const NS_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
pub const NS_OWNER: &str = "http://jabber.org/protocol/muc#owner";
pub const NS_OID: &str = "urn:xmpp:occupant-id:0";
pub const NS_SID: &str = "urn:xmpp:sid:0";
pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const QUIET: Duration = Duration::from_millis(400);

/// A fresh room JID.
pub fn new_room(base: &str) -> String {
    format!("{}@{MUC_DOMAIN}", unique(base))
}

/// The element without its `id` attribute and without the children in `strip` namespaces
/// (values the room chooses at random), rendered.
pub fn shape(e: &Element, strip: &[&str]) -> String {
    let mut e = e.clone();
    e.remove_attr("id");
    e.children.retain(|n| match n {
        meerkat_xml::Node::Element(c) => !strip.contains(&c.ns.as_str()),
        meerkat_xml::Node::Text(_) => true,
    });
    xml(&e)
}

/// The stanza's error condition, if it is an error.
pub fn error_condition(e: &Element) -> Option<String> {
    if e.attr("type") != Some("error") {
        return None;
    }
    let err = e.children().find(|c| c.name == "error")?;
    err.children().find(|c| c.ns == STANZAS && c.name != "text").map(|c| c.name.clone())
}

/// Status codes of a MUC stanza.
pub fn codes(e: &Element) -> Vec<String> {
    e.get_child("x", NS_USER)
        .map(|x| {
            x.children()
                .filter(|s| s.name == "status")
                .filter_map(|s| s.attr("code").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Sends a join with `x_inner` inside `<x xmlns=muc/>` and collects what the room sends up to
/// the subject message (or an error presence).
pub async fn join(c: &mut Client, room: &str, nick: &str, x_inner: &str) -> Vec<Element> {
    c.send(&format!("<presence to='{room}/{nick}'><x xmlns='{NS_MUC}'>{x_inner}</x></presence>"))
        .await;
    let mut got = Vec::new();
    let prefix = room.to_owned();
    loop {
        let e = c
            .recv_where("the room's answer to a join", |e| {
                e.attr("from").is_some_and(|f| f.starts_with(prefix.as_str())) && e.name != "iq"
            })
            .await;
        let done = (e.name == "message"
            && e.get_child("subject", "jabber:client").is_some()
            && e.get_child("body", "jabber:client").is_none())
            || e.attr("type") == Some("error");
        got.push(e);
        if done {
            return got;
        }
    }
}

/// Joins and asserts success (the self-presence with 110 came); returns the stanzas.
pub async fn enter(c: &mut Client, room: &str, nick: &str) -> Vec<Element> {
    let got = join(c, room, nick, "").await;
    let own = format!("{room}/{nick}");
    assert!(
        got.iter().any(|e| e.name == "presence"
            && e.attr("from") == Some(own.as_str())
            && codes(e).contains(&"110".to_owned())),
        "{}: joining {own} failed: {}",
        c.name,
        got.iter().map(xml).collect::<Vec<_>>().join("\n")
    );
    got
}

/// The join error condition.
pub async fn join_error(c: &mut Client, room: &str, nick: &str, x_inner: &str) -> String {
    let got = join(c, room, nick, x_inner).await;
    let last = got.last().expect("an answer");
    error_condition(last).unwrap_or_else(|| panic!("expected a join error, got {}", xml(last)))
}

/// Creates an instant room (join, then accept the default configuration).
pub async fn create_instant(c: &mut Client, room: &str, nick: &str) -> Vec<Element> {
    let got = enter(c, room, nick).await;
    c.iq_result(
        "set",
        Some(room),
        &format!("<query xmlns='{NS_OWNER}'><x xmlns='jabber:x:data' type='submit'/></query>"),
    )
    .await;
    got
}

/// Submits configuration fields to the room.
pub async fn configure(c: &mut Client, room: &str, fields: &[(&str, &str)]) -> Element {
    let mut x = String::from("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>");
    for (k, v) in fields {
        x.push_str(&format!("<field var='{k}'><value>{v}</value></field>"));
    }
    x.push_str("</x>");
    c.iq("set", Some(room), &format!("<query xmlns='{NS_OWNER}'>{x}</query>")).await
}

/// The next groupchat message with a body from the room.
pub async fn recv_groupchat(c: &mut Client, room: &str) -> Element {
    let room = room.to_owned();
    c.recv_where("a groupchat message", move |e| {
        e.name == "message"
            && e.attr("type") == Some("groupchat")
            && e.attr("from").is_some_and(|f| f.starts_with(room.as_str()))
            && e.get_child("body", "jabber:client").is_some()
    })
    .await
}

#[tokio::test]
async fn instant_room_join_talk_and_leave() {
    let server = TestServer::start().await;
    let (ua, ub) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut a = server.login(&ua, "pc").await;
    let mut b = server.login(&ub, "phone").await;
    let room = new_room("lobby");

    // A new room: the creator is its owner and moderator, told 110 (self), 170 (archived) and
    // 201 (created); the subject (empty) closes the join.
    let got = join(&mut a, &room, "Alice", "").await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        shape(&got[0], &[NS_OID]),
        format!("<presence from='{room}/Alice' to='{}'><x xmlns='{NS_USER}'><item affiliation='owner' role='moderator' jid='{}'/><status code='110'/><status code='170'/><status code='201'/></x></presence>", a.jid, a.jid)
    );
    let oid_a = got[0]
        .get_child("occupant-id", NS_OID)
        .and_then(|o| o.attr("id"))
        .expect("occupant-id")
        .to_owned();
    assert_eq!(
        shape(&got[1], &[]),
        format!("<message from='{room}' to='{}' type='groupchat'><subject/></message>", a.jid)
    );

    // Locked until configured: others do not find it.
    assert_eq!(join_error(&mut b, &room, "Bob", "").await, "item-not-found");
    let r =
        b.iq("get", Some(&room), "<query xmlns='http://jabber.org/protocol/disco#info'/>").await;
    assert_eq!(error_condition(&r).as_deref(), Some("item-not-found"), "{}", xml(&r));

    // Instant room: the owner accepts the defaults.
    a.iq_result(
        "set",
        Some(&room),
        &format!("<query xmlns='{NS_OWNER}'><x xmlns='jabber:x:data' type='submit'/></query>"),
    )
    .await;

    // Bob enters: Alice's presence first (no real JID: semi-anonymous, Bob no moderator), his
    // own last; Alice, a moderator, sees Bob's real JID.
    let got = enter(&mut b, &room, "Bob").await;
    assert_eq!(
        shape(&got[0], &[NS_OID]),
        format!("<presence from='{room}/Alice' to='{}'><x xmlns='{NS_USER}'><item affiliation='owner' role='moderator'/></x></presence>", b.jid)
    );
    assert_eq!(
        got[0].get_child("occupant-id", NS_OID).and_then(|o| o.attr("id")),
        Some(oid_a.as_str())
    );
    assert_eq!(
        shape(&got[1], &[NS_OID]),
        format!("<presence from='{room}/Bob' to='{}'><x xmlns='{NS_USER}'><item affiliation='none' role='participant'/><status code='110'/><status code='170'/></x></presence>", b.jid)
    );
    let p = a.recv_presence_from(&format!("{room}/Bob")).await;
    assert_eq!(
        shape(&p, &[NS_OID]),
        format!("<presence from='{room}/Bob' to='{}'><x xmlns='{NS_USER}'><item affiliation='none' role='participant' jid='{}'/></x></presence>", a.jid, b.jid)
    );

    // Groupchat: reflected to everyone with the sender's id, a stanza-id by the room and the
    // sender's occupant-id.
    a.send(&format!("<message to='{room}' type='groupchat' id='g1'><body>Hello</body></message>"))
        .await;
    for c in [&mut a, &mut b] {
        let m = recv_groupchat(c, &room).await;
        assert_eq!(m.attr("id"), Some("g1"));
        assert_eq!(
            shape(&m, &[NS_SID, NS_OID]),
            format!("<message from='{room}/Alice' type='groupchat' to='{}'><body>Hello</body></message>", c.jid)
        );
        let sid = m.get_child("stanza-id", NS_SID).expect("stanza-id");
        assert_eq!(sid.attr("by"), Some(room.as_str()));
        assert_eq!(sid.attr("id").map(str::len), Some(16));
        assert_eq!(
            m.get_child("occupant-id", NS_OID).and_then(|o| o.attr("id")),
            Some(oid_a.as_str())
        );
    }

    // A forged stanza-id by the room or occupant-id is replaced, not passed on.
    b.send(&format!("<message to='{room}' type='groupchat'><body>x</body><stanza-id xmlns='{NS_SID}' by='{room}' id='forged'/><occupant-id xmlns='{NS_OID}' id='{oid_a}'/></message>")).await;
    let m = recv_groupchat(&mut a, &room).await;
    let sids: Vec<&Element> = m.children().filter(|c| c.is("stanza-id", NS_SID)).collect();
    assert_eq!(sids.len(), 1, "{}", xml(&m));
    assert_ne!(sids[0].attr("id"), Some("forged"));
    assert_ne!(m.get_child("occupant-id", NS_OID).and_then(|o| o.attr("id")), Some(oid_a.as_str()));
    recv_groupchat(&mut b, &room).await;

    // Private message, under the sender's occupant JID.
    b.send(&format!("<message to='{room}/Alice' type='chat' id='pm1'><body>psst</body></message>"))
        .await;
    let pm = a
        .recv_where("a private message", |e| e.name == "message" && e.attr("type") == Some("chat"))
        .await;
    // (The stanza-id is Alice's own archive's, by her bare JID.)
    assert_eq!(
        shape(&pm, &[NS_SID]),
        format!("<message from='{room}/Bob' to='{}' type='chat'><body>psst</body><x xmlns='{NS_USER}'/></message>", a.jid)
    );
    assert_eq!(pm.attr("id"), Some("pm1"));
    // To a nick nobody has: item-not-found. Groupchat to an occupant: bad-request.
    b.send(&format!("<message to='{room}/Nobody' type='chat' id='pm2'><body>?</body></message>"))
        .await;
    let e = b.recv_where("pm error", |e| e.attr("id") == Some("pm2")).await;
    assert_eq!(error_condition(&e).as_deref(), Some("item-not-found"), "{}", xml(&e));
    b.send(&format!(
        "<message to='{room}/Alice' type='groupchat' id='pm3'><body>?</body></message>"
    ))
    .await;
    let e = b.recv_where("groupchat-to-occupant error", |e| e.attr("id") == Some("pm3")).await;
    assert_eq!(error_condition(&e).as_deref(), Some("bad-request"), "{}", xml(&e));

    // Non-occupants may not send to the room.
    let uc = server.new_user("carol").await;
    let mut c = server.login(&uc, "pc").await;
    c.send(&format!("<message to='{room}' type='groupchat' id='n1'><body>hi</body></message>"))
        .await;
    let e = c.recv_where("non-occupant error", |e| e.attr("id") == Some("n1")).await;
    assert_eq!(error_condition(&e).as_deref(), Some("not-acceptable"), "{}", xml(&e));

    // Bob leaves: both get the unavailable presence, Bob with 110.
    b.send(&format!(
        "<presence to='{room}/Bob' type='unavailable'><status>bye</status></presence>"
    ))
    .await;
    let own = b.recv_presence_from(&format!("{room}/Bob")).await;
    assert_eq!(
        shape(&own, &[NS_OID]),
        format!("<presence from='{room}/Bob' to='{}' type='unavailable'><status>bye</status><x xmlns='{NS_USER}'><item affiliation='none' role='none'/><status code='110'/></x></presence>", b.jid)
    );
    let seen = a.recv_presence_from(&format!("{room}/Bob")).await;
    assert_eq!(seen.attr("type"), Some("unavailable"));

    // Alice disconnects: her directed presence ends, the temporary room is gone.
    a.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r =
        b.iq("get", Some(&room), "<query xmlns='http://jabber.org/protocol/disco#info'/>").await;
    assert_eq!(error_condition(&r).as_deref(), Some("item-not-found"), "{}", xml(&r));
}

#[tokio::test]
async fn history_subject_nick_change_and_conflicts() {
    let server = TestServer::start().await;
    let (ua, ub, uc) = (
        server.new_user("alice").await,
        server.new_user("bob").await,
        server.new_user("carol").await,
    );
    let mut a = server.login(&ua, "pc").await;
    let mut b = server.login(&ub, "pc").await;
    let mut c = server.login(&uc, "pc").await;
    let room = new_room("hist");
    create_instant(&mut a, &room, "Alice").await;
    for i in 1..=3 {
        a.send(&format!("<message to='{room}' type='groupchat'><body>m{i}</body></message>")).await;
        recv_groupchat(&mut a, &room).await;
    }
    // Subject (allowed to participants by default), sent with the nick that set it.
    a.send(&format!(
        "<message to='{room}' type='groupchat'><subject>Topic one</subject></message>"
    ))
    .await;
    a.recv_where("subject", |e| e.get_child("subject", "jabber:client").is_some()).await;

    // History: the last two only, delayed by the room, then the subject.
    let got = join(&mut b, &room, "Bob", "<history maxstanzas='2'/>").await;
    let msgs: Vec<&Element> = got.iter().filter(|e| e.name == "message").collect();
    assert_eq!(msgs.len(), 3, "{got:?}");
    for (m, body) in msgs.iter().zip(["m2", "m3"]) {
        assert_eq!(m.get_child("body", "jabber:client").map(|b| b.text()).as_deref(), Some(body));
        let delay = m.get_child("delay", "urn:xmpp:delay").expect("delay");
        assert_eq!(delay.attr("from"), Some(room.as_str()));
        assert_eq!(m.attr("to"), Some(b.jid.as_str()));
    }
    assert_eq!(
        shape(msgs[2], &[]),
        format!("<message from='{room}/Alice' to='{}' type='groupchat'><subject>Topic one</subject></message>", b.jid)
    );
    // No history when asked for none.
    let got = join(&mut c, &room, "Carol", "<history maxchars='0'/>").await;
    assert_eq!(got.iter().filter(|e| e.name == "message").count(), 1, "subject only: {got:?}");
    // Since a time in the future: none either.
    a.drain(QUIET).await;
    b.drain(QUIET).await;

    // Nick conflict on entering and on changing.
    let ud = server.new_user("dave").await;
    let mut d = server.login(&ud, "pc").await;
    assert_eq!(join_error(&mut d, &room, "Bob", "").await, "conflict");
    c.send(&format!("<presence to='{room}/Bob'/>")).await;
    let e = c
        .recv_where("nick change conflict", |e| {
            e.name == "presence" && e.attr("type") == Some("error")
        })
        .await;
    assert_eq!(error_condition(&e).as_deref(), Some("conflict"));
    assert_eq!(e.attr("from"), Some(format!("{room}/Bob").as_str()));

    // Nick change: unavailable from the old nick with the new one and 303, then available.
    b.send(&format!("<presence to='{room}/Robert'/>")).await;
    let old = a.recv_presence_from(&format!("{room}/Bob")).await;
    assert_eq!(
        shape(&old, &[NS_OID]),
        format!("<presence from='{room}/Bob' to='{}' type='unavailable'><x xmlns='{NS_USER}'><item affiliation='none' role='participant' jid='{}' nick='Robert'/><status code='303'/></x></presence>", a.jid, b.jid)
    );
    let new = a.recv_presence_from(&format!("{room}/Robert")).await;
    assert_eq!(new.attr("type"), None);
    let own_old = b.recv_presence_from(&format!("{room}/Bob")).await;
    assert_eq!(codes(&own_old), ["110", "303"]);
    let own_new = b.recv_presence_from(&format!("{room}/Robert")).await;
    assert_eq!(codes(&own_new), ["110"]);
    // Messages now come from the new nick.
    b.send(&format!("<message to='{room}' type='groupchat'><body>renamed</body></message>")).await;
    let m = recv_groupchat(&mut a, &room).await;
    assert_eq!(m.attr("from"), Some(format!("{room}/Robert").as_str()));

    // A presence without a nick is malformed.
    d.send(&format!("<presence to='{room}'><x xmlns='{NS_MUC}'/></presence>")).await;
    let e = d
        .recv_where("nickless join", |e| e.name == "presence" && e.attr("type") == Some("error"))
        .await;
    assert_eq!(error_condition(&e).as_deref(), Some("jid-malformed"));

    // Status updates are broadcast with the payload.
    c.send(&format!("<presence to='{room}/Carol'><show>away</show></presence>")).await;
    let p = a.recv_presence_from(&format!("{room}/Carol")).await;
    assert_eq!(p.get_child("show", "jabber:client").map(|s| s.text()).as_deref(), Some("away"));
}
