//! XEP-0045 owner and admin use cases over real sockets: the configuration form, reserved
//! rooms, persistent rooms kept after the last occupant leaves, members-only and
//! password-protected rooms, moderated rooms and voice, kick (307), ban (301), affiliation
//! lists with their privilege rules, destruction, and every limit of `[modules.muc]`.

use super::muc::*;
use crate::common::client::xml;
use crate::common::TestServer;
use meerkat_xml::Element;

fn field<'a>(form: &'a Element, var: &str) -> Option<&'a Element> {
    form.children().find(|f| f.name == "field" && f.attr("var") == Some(var))
}

fn value(form: &Element, var: &str) -> Option<String> {
    field(form, var).and_then(|f| f.children().find(|v| v.name == "value")).map(|v| v.text())
}

#[tokio::test]
async fn reserved_room_form_persistence_and_destroy() {
    let server = TestServer::start().await;
    let (ua, ub) = (server.new_user("alice").await, server.new_user("bob").await);
    let mut a = server.login(&ua, "pc").await;
    let mut b = server.login(&ub, "pc").await;
    let room = new_room("reserved");
    enter(&mut a, &room, "Alice").await;

    // Reserved room: the owner fetches the form, fills it in.
    let r = a.iq_result("get", Some(&room), &format!("<query xmlns='{NS_OWNER}'/>")).await;
    let form = r
        .get_child("query", NS_OWNER)
        .and_then(|q| q.get_child("x", "jabber:x:data"))
        .expect("form");
    assert_eq!(form.attr("type"), Some("form"));
    assert_eq!(
        value(form, "FORM_TYPE").as_deref(),
        Some("http://jabber.org/protocol/muc#roomconfig")
    );
    assert_eq!(value(form, "muc#roomconfig_persistentroom").as_deref(), Some("0"));
    assert_eq!(value(form, "muc#roomconfig_whois").as_deref(), Some("moderators"));
    assert_eq!(value(form, "muc#roomconfig_maxusers").as_deref(), Some("200"));
    // Non-owners may not.
    assert_eq!(join_error(&mut b, &room, "Bob", "").await, "item-not-found");
    let e = b.iq("get", Some(&room), &format!("<query xmlns='{NS_OWNER}'/>")).await;
    assert_eq!(error_condition(&e).as_deref(), Some("forbidden"), "{}", xml(&e));

    let r = configure(
        &mut a,
        &room,
        &[
            ("muc#roomconfig_roomname", "Reserved Room"),
            ("muc#roomconfig_persistentroom", "1"),
            ("muc#roomconfig_whois", "anyone"),
        ],
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));

    // Non-anonymous now: Bob is told so (100) and sees real JIDs.
    let got = enter(&mut b, &room, "Bob").await;
    let alice_p = got
        .iter()
        .find(|e| e.attr("from") == Some(format!("{room}/Alice").as_str()))
        .expect("alice");
    let item =
        alice_p.get_child("x", NS_USER).and_then(|x| x.get_child("item", NS_USER)).expect("item");
    assert_eq!(item.attr("jid"), Some(a.jid.as_str()));
    let own =
        got.iter().find(|e| e.attr("from") == Some(format!("{room}/Bob").as_str())).expect("own");
    assert_eq!(codes(own), ["100", "110", "170"]);

    // A configuration change is announced with 104 (and 173 going semi-anonymous).
    let r = configure(&mut a, &room, &[("muc#roomconfig_whois", "moderators")]).await;
    assert_eq!(r.attr("type"), Some("result"));
    let m = b.recv_where("104", |e| e.name == "message" && !codes(e).is_empty()).await;
    assert_eq!(
        shape(&m, &[]),
        format!("<message from='{room}' type='groupchat' to='{}'><x xmlns='{NS_USER}'><status code='104'/><status code='173'/></x></message>", b.jid)
    );

    // Subject, then everyone leaves: a persistent room stays, with name, subject and config.
    a.send(&format!("<message to='{room}' type='groupchat'><subject>Kept</subject></message>"))
        .await;
    b.recv_where("subject", |e| e.get_child("subject", "jabber:client").is_some()).await;
    for (c, n) in [(&mut a, "Alice"), (&mut b, "Bob")] {
        c.send(&format!("<presence to='{room}/{n}' type='unavailable'/>")).await;
        c.recv_where("own unavailable", |e| {
            e.name == "presence"
                && e.attr("type") == Some("unavailable")
                && codes(e).contains(&"110".to_owned())
        })
        .await;
    }
    let info = b
        .iq_result("get", Some(&room), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
        .await;
    let q = info.get_child("query", "http://jabber.org/protocol/disco#info").expect("query");
    assert_eq!(
        q.get_child("identity", "http://jabber.org/protocol/disco#info")
            .and_then(|i| i.attr("name")),
        Some("Reserved Room")
    );
    let feats: Vec<&str> =
        q.children().filter(|f| f.name == "feature").filter_map(|f| f.attr("var")).collect();
    assert!(feats.contains(&"muc_persistent") && feats.contains(&"muc_semianonymous"), "{feats:?}");
    // Listed by the service.
    let items = b
        .iq_result(
            "get",
            Some(MUC_DOMAIN),
            "<query xmlns='http://jabber.org/protocol/disco#items'/>",
        )
        .await;
    assert!(
        xml(&items).contains(&format!("<item jid='{room}' name='Reserved Room'/>")),
        "{}",
        xml(&items)
    );
    let got = enter(&mut b, &room, "Bob").await;
    let subject = got.last().expect("subject");
    assert_eq!(
        subject.get_child("subject", "jabber:client").map(|s| s.text()).as_deref(),
        Some("Kept")
    );
    // Not the owner any more than before: Bob enters as none/participant, no 201.
    let own =
        got.iter().find(|e| e.attr("from") == Some(format!("{room}/Bob").as_str())).expect("own");
    assert!(!codes(own).contains(&"201".to_owned()));

    // Destroy: occupants are told, with the alternate venue and reason; the room is gone.
    a.drain(QUIET).await;
    enter(&mut a, &room, "Alice").await;
    b.drain(QUIET).await;
    let r = a.iq("set", Some(&room), &format!("<query xmlns='{NS_OWNER}'><destroy jid='elsewhere@{MUC_DOMAIN}'><reason>Moved</reason></destroy></query>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    let p = b.recv_presence_from(&format!("{room}/Bob")).await;
    assert_eq!(
        xml(&p),
        format!("<presence from='{room}/Bob' to='{}' type='unavailable'><x xmlns='{NS_USER}'><item affiliation='none' role='none'/><destroy jid='elsewhere@{MUC_DOMAIN}'><reason>Moved</reason></destroy></x></presence>", b.jid)
    );
    let r =
        b.iq("get", Some(&room), "<query xmlns='http://jabber.org/protocol/disco#info'/>").await;
    assert_eq!(error_condition(&r).as_deref(), Some("item-not-found"));
}

#[tokio::test]
async fn persistent_room_survives_a_restart() {
    // Two runs of the node on one database: the room comes back from storage.
    let dir = tempfile::tempdir().expect("tmp");
    let storage = if crate::common::postgres_preset() {
        crate::common::postgres_storage(
            &crate::common::shared_postgres().create_database("muc").await,
        )
    } else {
        format!("[storage]\nsqlite_path = \"{}\"\n", dir.path().join("shared.db").display())
    };
    let room = new_room("restart");
    let ua;
    {
        let server = TestServer::with(&storage).await;
        ua = server.new_user("alice").await;
        let mut a = server.login(&ua, "pc").await;
        enter(&mut a, &room, "Alice").await;
        let r = configure(
            &mut a,
            &room,
            &[
                ("muc#roomconfig_persistentroom", "1"),
                ("muc#roomconfig_roomname", "Survivor"),
                ("muc#roomconfig_membersonly", "1"),
            ],
        )
        .await;
        assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
        a.iq_result("set", Some(&room), &format!("<query xmlns='{NS_ADMIN}'><item affiliation='member' jid='bob@localhost'/></query>")).await;
        a.send(&format!(
            "<message to='{room}' type='groupchat'><subject>Before</subject></message>"
        ))
        .await;
        a.send(&format!(
            "<message to='{room}' type='groupchat'><body>before the restart</body></message>"
        ))
        .await;
        recv_groupchat(&mut a, &room).await;
        // The archive writer batches for writer_linger_ms (100) before writing.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        // Killed with Alice still inside (no goodbye): storage is all that is left.
    }
    let server = TestServer::with(&storage).await;
    let mut a = server.login(&ua, "pc").await;
    let got = enter(&mut a, &room, "Alice").await;
    let bodies: Vec<String> =
        got.iter().filter_map(|e| e.get_child("body", "jabber:client")).map(|b| b.text()).collect();
    assert_eq!(bodies, ["before the restart"]);
    let subject =
        got.last().and_then(|m| m.get_child("subject", "jabber:client")).map(|s| s.text());
    assert_eq!(subject.as_deref(), Some("Before"));
    let own = got.iter().find(|e| codes(e).contains(&"110".to_owned())).expect("own");
    assert!(xml(own).contains("affiliation='owner'"), "{}", xml(own));
    let r = a
        .iq_result(
            "get",
            Some(&room),
            &format!("<query xmlns='{NS_ADMIN}'><item affiliation='member'/></query>"),
        )
        .await;
    assert!(xml(&r).contains("jid='bob@localhost'"), "{}", xml(&r));
    let info = a
        .iq_result("get", Some(&room), "<query xmlns='http://jabber.org/protocol/disco#info'/>")
        .await;
    assert!(
        xml(&info).contains("name='Survivor'") && xml(&info).contains("muc_membersonly"),
        "{}",
        xml(&info)
    );
}

#[tokio::test]
async fn persistent_room_comes_back_from_storage() {
    let server = TestServer::start().await;
    let ua = server.new_user("alice").await;
    let mut a = server.login(&ua, "pc").await;
    let room = new_room("kept");
    enter(&mut a, &room, "Alice").await;
    configure(
        &mut a,
        &room,
        &[("muc#roomconfig_persistentroom", "1"), ("muc#roomconfig_roomdesc", "desc")],
    )
    .await;
    a.send(&format!("<message to='{room}' type='groupchat'><body>remember me</body></message>"))
        .await;
    recv_groupchat(&mut a, &room).await;
    a.send(&format!("<presence to='{room}/Alice' type='unavailable'/>")).await;
    a.drain(QUIET).await;
    // Back from storage (and its history from the archive) on the next entry.
    let got = enter(&mut a, &room, "Alice").await;
    let bodies: Vec<String> =
        got.iter().filter_map(|e| e.get_child("body", "jabber:client")).map(|b| b.text()).collect();
    assert_eq!(bodies, ["remember me"]);
    // The owner is still the owner.
    let own =
        got.iter().find(|e| e.attr("from") == Some(format!("{room}/Alice").as_str())).expect("own");
    let item =
        own.get_child("x", NS_USER).and_then(|x| x.get_child("item", NS_USER)).expect("item");
    assert_eq!(item.attr("affiliation"), Some("owner"));
    // Switching persistence off removes it from storage: it ends with its last occupant.
    configure(&mut a, &room, &[("muc#roomconfig_persistentroom", "0")]).await;
    a.send(&format!("<presence to='{room}/Alice' type='unavailable'/>")).await;
    a.drain(QUIET).await;
    let r =
        a.iq("get", Some(&room), "<query xmlns='http://jabber.org/protocol/disco#info'/>").await;
    assert_eq!(error_condition(&r).as_deref(), Some("item-not-found"));
}

#[tokio::test]
async fn members_only_password_and_bans() {
    let server = TestServer::start().await;
    let (ua, ub, uc) = (
        server.new_user("alice").await,
        server.new_user("bob").await,
        server.new_user("carol").await,
    );
    let mut a = server.login(&ua, "pc").await;
    let mut b = server.login(&ub, "pc").await;
    let mut c = server.login(&uc, "pc").await;
    let room = new_room("private");
    enter(&mut a, &room, "Alice").await;
    let r = configure(&mut a, &room, &[("muc#roomconfig_membersonly", "1")]).await;
    assert_eq!(r.attr("type"), Some("result"));
    assert_eq!(join_error(&mut b, &room, "Bob", "").await, "registration-required");
    // Alice makes Bob a member; Bob enters.
    a.iq_result(
        "set",
        Some(&room),
        &format!(
            "<query xmlns='{NS_ADMIN}'><item affiliation='member' jid='{}'/></query>",
            ub.bare()
        ),
    )
    .await;
    enter(&mut b, &room, "Bob").await;
    // The member list, for admins and owners only.
    let r = a
        .iq_result(
            "get",
            Some(&room),
            &format!("<query xmlns='{NS_ADMIN}'><item affiliation='member'/></query>"),
        )
        .await;
    assert_eq!(
        xml(r.get_child("query", NS_ADMIN).expect("query")),
        format!(
            "<query xmlns='{NS_ADMIN}'><item affiliation='member' jid='{}'/></query>",
            ub.bare()
        )
    );
    let e = b
        .iq(
            "get",
            Some(&room),
            &format!("<query xmlns='{NS_ADMIN}'><item affiliation='member'/></query>"),
        )
        .await;
    assert_eq!(error_condition(&e).as_deref(), Some("forbidden"));
    // Members may not change affiliations; an admin may not touch owners; the last owner stays.
    let e = b
        .iq(
            "set",
            Some(&room),
            &format!(
                "<query xmlns='{NS_ADMIN}'><item affiliation='member' jid='{}'/></query>",
                uc.bare()
            ),
        )
        .await;
    assert_eq!(error_condition(&e).as_deref(), Some("forbidden"));
    let e = a
        .iq(
            "set",
            Some(&room),
            &format!(
                "<query xmlns='{NS_ADMIN}'><item affiliation='none' jid='{}'/></query>",
                ua.bare()
            ),
        )
        .await;
    assert_eq!(error_condition(&e).as_deref(), Some("conflict"));
    a.iq_result(
        "set",
        Some(&room),
        &format!(
            "<query xmlns='{NS_ADMIN}'><item affiliation='admin' jid='{}'/></query>",
            ub.bare()
        ),
    )
    .await;
    let p = a
        .recv_where("bob became admin", |e| {
            e.attr("from") == Some(format!("{room}/Bob").as_str())
                && xml(e).contains("affiliation='admin' role='moderator'")
        })
        .await;
    assert_eq!(p.attr("type"), None);
    let e = b
        .iq(
            "set",
            Some(&room),
            &format!(
                "<query xmlns='{NS_ADMIN}'><item affiliation='outcast' jid='{}'/></query>",
                ua.bare()
            ),
        )
        .await;
    assert_eq!(error_condition(&e).as_deref(), Some("not-allowed"));
    // Removing Bob's membership in a members-only room removes him (321); as a moderator until
    // then, he sees his real JID in it.
    a.iq_result("set", Some(&room), &format!("<query xmlns='{NS_ADMIN}'><item affiliation='none' jid='{}'><reason>bye</reason></item></query>", ub.bare())).await;
    let p = b
        .recv_where("321", |e| {
            e.attr("type") == Some("unavailable") && codes(e).contains(&"321".to_owned())
        })
        .await;
    assert_eq!(
        shape(&p, &[NS_OID]),
        format!("<presence from='{room}/Bob' to='{}' type='unavailable'><x xmlns='{NS_USER}'><item affiliation='none' role='none' jid='{}'><actor nick='Alice'/><reason>bye</reason></item><status code='110'/><status code='321'/></x></presence>", b.jid, b.jid)
    );

    // Password protection: a secret is required with it; wrong or missing: not-authorized.
    let r = configure(
        &mut a,
        &room,
        &[("muc#roomconfig_membersonly", "0"), ("muc#roomconfig_passwordprotectedroom", "1")],
    )
    .await;
    assert_eq!(error_condition(&r).as_deref(), Some("not-acceptable"), "{}", xml(&r));
    let r = configure(
        &mut a,
        &room,
        &[
            ("muc#roomconfig_membersonly", "0"),
            ("muc#roomconfig_passwordprotectedroom", "1"),
            ("muc#roomconfig_roomsecret", "s3cret"),
        ],
    )
    .await;
    assert_eq!(r.attr("type"), Some("result"), "{}", xml(&r));
    assert_eq!(join_error(&mut c, &room, "Carol", "").await, "not-authorized");
    assert_eq!(
        join_error(&mut c, &room, "Carol", "<password>nope</password>").await,
        "not-authorized"
    );
    let got = join(&mut c, &room, "Carol", "<password>s3cret</password>").await;
    assert!(got.iter().any(|e| codes(e).contains(&"110".to_owned())), "{got:?}");
    a.drain(QUIET).await;

    // Ban: Carol is removed with 301 and cannot come back.
    a.iq_result(
        "set",
        Some(&room),
        &format!(
            "<query xmlns='{NS_ADMIN}'><item affiliation='outcast' jid='{}'/></query>",
            uc.bare()
        ),
    )
    .await;
    let p = c.recv_where("301", |e| e.attr("type") == Some("unavailable")).await;
    assert_eq!(codes(&p), ["110", "301"]);
    let seen = a.recv_where("301 to others", |e| e.attr("type") == Some("unavailable")).await;
    assert_eq!(codes(&seen), ["301"]);
    assert_eq!(
        join_error(&mut c, &room, "Carol", "<password>s3cret</password>").await,
        "forbidden"
    );
    let r = a
        .iq_result(
            "get",
            Some(&room),
            &format!("<query xmlns='{NS_ADMIN}'><item affiliation='outcast'/></query>"),
        )
        .await;
    assert!(xml(&r).contains(&format!("jid='{}'", uc.bare())), "{}", xml(&r));
}

#[tokio::test]
async fn moderated_room_voice_and_kick() {
    let server = TestServer::start().await;
    let (ua, ub, uc) = (
        server.new_user("alice").await,
        server.new_user("bob").await,
        server.new_user("carol").await,
    );
    let mut a = server.login(&ua, "pc").await;
    let mut b = server.login(&ub, "pc").await;
    let mut c = server.login(&uc, "pc").await;
    let room = new_room("moderated");
    enter(&mut a, &room, "Alice").await;
    configure(
        &mut a,
        &room,
        &[("muc#roomconfig_moderatedroom", "1"), ("muc#roomconfig_changesubject", "0")],
    )
    .await;
    let got = enter(&mut b, &room, "Bob").await;
    assert!(xml(got.iter().find(|e| codes(e).contains(&"110".to_owned())).expect("own"))
        .contains("role='visitor'"));
    enter(&mut c, &room, "Carol").await;
    // Visitors have no voice.
    b.send(&format!("<message to='{room}' type='groupchat' id='v1'><body>hi</body></message>"))
        .await;
    let e = b.recv_where("no voice", |e| e.attr("id") == Some("v1")).await;
    assert_eq!(error_condition(&e).as_deref(), Some("forbidden"), "{}", xml(&e));
    // Only moderators change roles.
    let e = c
        .iq(
            "set",
            Some(&room),
            &format!("<query xmlns='{NS_ADMIN}'><item nick='Bob' role='participant'/></query>"),
        )
        .await;
    assert_eq!(error_condition(&e).as_deref(), Some("forbidden"));
    // Voice granted: everyone sees Bob become a participant; he may talk.
    a.iq_result(
        "set",
        Some(&room),
        &format!("<query xmlns='{NS_ADMIN}'><item nick='Bob' role='participant'/></query>"),
    )
    .await;
    let p = c
        .recv_where("voice", |e| {
            e.attr("from") == Some(format!("{room}/Bob").as_str())
                && xml(e).contains("role='participant'")
        })
        .await;
    assert_eq!(
        shape(&p, &[NS_OID]),
        format!("<presence from='{room}/Bob' to='{}'><x xmlns='{NS_USER}'><item affiliation='none' role='participant'><actor nick='Alice'/></item></x></presence>", c.jid)
    );
    b.send(&format!("<message to='{room}' type='groupchat'><body>now I can</body></message>"))
        .await;
    recv_groupchat(&mut a, &room).await;
    // The voice list (participants), for moderators.
    let r = a
        .iq_result(
            "get",
            Some(&room),
            &format!("<query xmlns='{NS_ADMIN}'><item role='participant'/></query>"),
        )
        .await;
    assert!(xml(&r).contains("nick='Bob'") && !xml(&r).contains("nick='Carol'"), "{}", xml(&r));
    // Participants may not change the subject when changesubject is off.
    b.send(&format!(
        "<message to='{room}' type='groupchat' id='s1'><subject>mine</subject></message>"
    ))
    .await;
    let e = b.recv_where("subject refused", |e| e.attr("id") == Some("s1")).await;
    assert_eq!(error_condition(&e).as_deref(), Some("forbidden"));
    // Kick: 307 with actor and reason, to the kicked (110) and the others.
    a.iq_result("set", Some(&room), &format!("<query xmlns='{NS_ADMIN}'><item nick='Carol' role='none'><reason>Out</reason></item></query>")).await;
    let p = c.recv_where("kicked", |e| e.attr("type") == Some("unavailable")).await;
    assert_eq!(
        shape(&p, &[NS_OID]),
        format!("<presence from='{room}/Carol' to='{}' type='unavailable'><x xmlns='{NS_USER}'><item affiliation='none' role='none'><actor nick='Alice'/><reason>Out</reason></item><status code='110'/><status code='307'/></x></presence>", c.jid)
    );
    let seen = b.recv_where("kick seen", |e| e.attr("type") == Some("unavailable")).await;
    assert_eq!(codes(&seen), ["307"]);
    // Nobody kicks the owner; unknown nicks are item-not-found.
    a.iq_result(
        "set",
        Some(&room),
        &format!("<query xmlns='{NS_ADMIN}'><item nick='Bob' role='moderator'/></query>"),
    )
    .await;
    let e = b
        .iq(
            "set",
            Some(&room),
            &format!("<query xmlns='{NS_ADMIN}'><item nick='Alice' role='none'/></query>"),
        )
        .await;
    assert_eq!(error_condition(&e).as_deref(), Some("not-allowed"), "{}", xml(&e));
    let e = a
        .iq(
            "set",
            Some(&room),
            &format!("<query xmlns='{NS_ADMIN}'><item nick='Ghost' role='none'/></query>"),
        )
        .await;
    assert_eq!(error_condition(&e).as_deref(), Some("item-not-found"));
}

#[tokio::test]
async fn limits_are_enforced() {
    let server = TestServer::with(
        "[modules.muc]\nmax_occupants = 2\nmax_rooms = 3\nmax_rooms_per_user = 2\nmax_affiliations = 3\nmax_text_chars = 20\nhistory_max_stanzas = 2\n",
    )
    .await;
    let (ua, ub, uc) = (
        server.new_user("alice").await,
        server.new_user("bob").await,
        server.new_user("carol").await,
    );
    let mut a = server.login(&ua, "pc").await;
    let mut b = server.login(&ub, "pc").await;
    let mut c = server.login(&uc, "pc").await;
    let room = new_room("small");
    create_instant(&mut a, &room, "Alice").await;
    enter(&mut b, &room, "Bob").await;
    // max_occupants: the room is full.
    assert_eq!(join_error(&mut c, &room, "Carol", "").await, "service-unavailable");
    // A room may not be configured beyond the service's ceiling.
    let r = configure(&mut a, &room, &[("muc#roomconfig_maxusers", "3")]).await;
    assert_eq!(error_condition(&r).as_deref(), Some("not-acceptable"), "{}", xml(&r));
    let r = configure(&mut a, &room, &[("muc#roomconfig_maxusers", "many")]).await;
    assert_eq!(error_condition(&r).as_deref(), Some("bad-request"), "{}", xml(&r));
    // Texts are bounded.
    let r = configure(&mut a, &room, &[("muc#roomconfig_roomname", "x123456789x123456789x")]).await;
    assert_eq!(error_condition(&r).as_deref(), Some("not-acceptable"));
    a.send(&format!("<message to='{room}' type='groupchat' id='t1'><subject>x123456789x123456789x</subject></message>")).await;
    let e = a
        .recv_where("long subject", |e| {
            e.attr("id") == Some("t1") && e.attr("type") == Some("error")
        })
        .await;
    assert_eq!(error_condition(&e).as_deref(), Some("not-acceptable"));
    // Affiliation lists: the owner plus two more fill three entries.
    let add = |jid: String| {
        format!("<query xmlns='{NS_ADMIN}'><item affiliation='member' jid='{jid}'/></query>")
    };
    a.iq_result("set", Some(&room), &add("m1@localhost".into())).await;
    a.iq_result("set", Some(&room), &add("m2@localhost".into())).await;
    let e = a.iq("set", Some(&room), &add("m3@localhost".into())).await;
    assert_eq!(error_condition(&e).as_deref(), Some("resource-constraint"), "{}", xml(&e));
    // Invitations per message.
    let many: String = (0..11).map(|i| format!("<invite to='u{i}@localhost'/>")).collect();
    a.send(&format!("<message to='{room}' id='inv'><x xmlns='{NS_USER}'>{many}</x></message>"))
        .await;
    let e = a.recv_where("too many invites", |e| e.attr("id") == Some("inv")).await;
    assert_eq!(error_condition(&e).as_deref(), Some("policy-violation"));
    // History keeps history_max_stanzas.
    for i in 0..4 {
        a.send(&format!("<message to='{room}' type='groupchat'><body>h{i}</body></message>")).await;
        recv_groupchat(&mut a, &room).await;
    }
    let room2 = new_room("second");
    let got = enter(&mut a, &room2, "Alice").await;
    assert!(!got.is_empty());
    // max_rooms_per_user: Alice owns two live rooms.
    let room3 = new_room("third");
    assert_eq!(join_error(&mut a, &room3, "Alice", "").await, "resource-constraint");
    // max_rooms: a third room is allowed (Carol), a fourth is not.
    enter(&mut c, &room3, "Carol").await;
    let room4 = new_room("fourth");
    assert_eq!(join_error(&mut c, &room4, "Carol", "").await, "resource-constraint");
    b.drain(QUIET).await;
    let got = join(&mut c, &room, "Carol2", "").await;
    assert_eq!(
        error_condition(got.last().expect("answer")).as_deref(),
        Some("service-unavailable")
    );
    // Bob leaves: Carol fits, and gets the last two messages only.
    b.send(&format!("<presence to='{room}/Bob' type='unavailable'/>")).await;
    b.drain(QUIET).await;
    let got = enter(&mut c, &room, "Carol2").await;
    let bodies: Vec<String> =
        got.iter().filter_map(|e| e.get_child("body", "jabber:client")).map(|b| b.text()).collect();
    assert_eq!(bodies, ["h2", "h3"]);
}
