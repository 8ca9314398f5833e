//! Checks of [`crate::MucStore`].

use super::unique_host;
use crate::{ArchivedMessage, Storage, StoredRoom};

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

/// Store, read back, replace (affiliations replaced whole), list, count, delete, isolation
/// between services.
pub async fn muc_rooms_crud(storage: &Storage) {
    let m = &storage.misc.muc;
    let service = unique_host("conference");
    let other = unique_host("conference");
    assert_eq!(m.get_room(&service, "lobby").await.expect("absent"), None);
    assert_eq!(m.count_rooms(&service).await.expect("count"), 0);
    let mut room = StoredRoom {
        service: service.clone(),
        name: "lobby".into(),
        config: pairs(&[("roomname", "The «Lobby» & co"), ("persistent", "1"), ("maxusers", "50")]),
        subject: "Welcome ü".into(),
        subject_by: "alice".into(),
        affiliations: pairs(&[("alice@x.org", "owner"), ("bob@x.org", "member")]),
    };
    m.put_room(&room).await.expect("put");
    assert_eq!(m.get_room(&service, "lobby").await.expect("get"), Some(room.clone()));
    assert_eq!(m.get_room(&other, "lobby").await.expect("other service"), None);
    room.affiliations = pairs(&[("alice@x.org", "owner"), ("eve@x.org", "outcast")]);
    room.subject = String::new();
    room.config = pairs(&[("persistent", "1")]);
    m.put_room(&room).await.expect("replace");
    assert_eq!(m.get_room(&service, "lobby").await.expect("get"), Some(room.clone()));
    let second = StoredRoom { name: "attic".into(), affiliations: Vec::new(), ..room.clone() };
    m.put_room(&second).await.expect("put second");
    let listed = m.list_rooms(&service, 10).await.expect("list");
    let names: Vec<&str> = listed.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["attic", "lobby"]);
    assert!(listed.iter().all(|r| r.affiliations.is_empty()), "listing leaves affiliations out");
    assert_eq!(listed[1].config, room.config);
    assert_eq!(m.list_rooms(&service, 1).await.expect("limited").len(), 1);
    assert_eq!(m.count_rooms(&service).await.expect("count"), 2);
    m.delete_room(&service, "lobby").await.expect("delete");
    m.delete_room(&service, "lobby").await.expect("deleting again is harmless");
    assert_eq!(m.get_room(&service, "lobby").await.expect("gone"), None);
    assert_eq!(m.count_rooms(&service).await.expect("count"), 1);
    // Re-created after delete: no stale affiliations come back.
    let fresh = StoredRoom { affiliations: Vec::new(), ..room };
    m.put_room(&fresh).await.expect("recreate");
    assert_eq!(m.get_room(&service, "lobby").await.expect("get"), Some(fresh));
}

/// A room archive is the message archive under `(service, room)`; a tombstone replaces one
/// message's stanza and touches nothing else.
pub async fn muc_archive_tombstone(storage: &Storage) {
    let service = unique_host("conference");
    let id = storage.archive.max_id().await.expect("max id") + 1_000_003;
    let msg = |id: i64, room: &str| ArchivedMessage {
        id,
        host: service.clone(),
        username: room.to_owned(),
        with_bare: format!("{room}@{service}"),
        with_resource: "alice".into(),
        outgoing: false,
        stamp_ms: 1_000,
        stanza: "<message type='groupchat'><body>oops</body></message>".into(),
    };
    storage.archive.append(&[msg(id, "lobby"), msg(id + 1, "lobby")]).await.expect("append");
    let m = &storage.misc.muc;
    let tomb =
        "<message type='groupchat'><retracted xmlns='urn:xmpp:message-retract:1'/></message>";
    assert!(m.replace_archived(&service, "lobby", id, tomb).await.expect("replace"));
    assert!(!m.replace_archived(&service, "attic", id + 1, tomb).await.expect("other room"));
    assert!(!m.replace_archived(&service, "lobby", id + 99, tomb).await.expect("absent id"));
    let page = storage
        .archive
        .query(&service, "lobby", &crate::archive::ArchiveQuery { max: 10, ..Default::default() })
        .await
        .expect("query");
    let stanzas: Vec<&str> = page.messages.iter().map(|m| m.stanza.as_str()).collect();
    assert_eq!(stanzas, [tomb, "<message type='groupchat'><body>oops</body></message>"]);
}

/// Cluster placement: the first running node to claim a room holds it; others learn the
/// holder; a stopped node's claim is taken over; release frees it. Without cluster support
/// (SQLite) every claim is the caller's own.
pub async fn muc_room_claims(storage: &Storage) {
    let m = &storage.misc.muc;
    let service = unique_host("conference");
    let (n1, n2) = (unique_host("n1"), unique_host("n2"));
    if storage.cluster.register_node(&n1, "127.0.0.2:1", 7).await.is_err() {
        assert_eq!(m.claim_room(&service, "r", &n1).await.expect("claim"), n1);
        assert_eq!(m.claim_room(&service, "r", &n2).await.expect("claim"), n2);
        return;
    }
    storage.cluster.register_node(&n2, "127.0.0.2:2", 7).await.expect("register");
    assert_eq!(m.claim_room(&service, "r", &n1).await.expect("first"), n1);
    assert_eq!(m.claim_room(&service, "r", &n2).await.expect("held"), n1);
    assert_eq!(m.claim_room(&service, "r", &n1).await.expect("again"), n1);
    m.release_room(&service, "r", &n2).await.expect("not the holder: no-op");
    assert_eq!(m.claim_room(&service, "r", &n2).await.expect("still held"), n1);
    assert_eq!(m.claim_room(&service, "other", &n2).await.expect("other room"), n2);
    // n1 stops (or is declared dead): its room moves to the next claimer.
    storage.cluster.mark_stopped(&n1, 7).await.expect("stop");
    assert_eq!(m.claim_room(&service, "r", &n2).await.expect("take over"), n2);
    m.release_room(&service, "r", &n2).await.expect("release");
    storage.cluster.register_node(&n1, "127.0.0.2:1", 8).await.expect("restart");
    assert_eq!(m.claim_room(&service, "r", &n1).await.expect("free again"), n1);
}
