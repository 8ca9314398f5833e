//! Checks of [`crate::ArchiveStore`].

use super::{credentials, unique_host};
use crate::archive::{ArchiveQuery, Cursor};
use crate::{ArchivePrefs, ArchivedMessage, DefaultMode, Storage};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// Ids no other call returns, in this process or an earlier run on the same database: the
/// server's ids are node-wide, so the suite's must not collide between its functions either.
fn next_id() -> i64 {
    static NEXT: OnceLock<AtomicI64> = OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX / 2048))
            .unwrap_or(0);
        AtomicI64::new(micros.saturating_mul(1024))
    });
    next.fetch_add(1, Ordering::Relaxed)
}

fn message(
    host: &str,
    user: &str,
    with: &str,
    res: &str,
    stamp_ms: i64,
    body: &str,
) -> ArchivedMessage {
    ArchivedMessage {
        id: next_id(),
        host: host.to_owned(),
        username: user.to_owned(),
        with_bare: with.to_owned(),
        with_resource: res.to_owned(),
        outgoing: stamp_ms % 2 == 0,
        stamp_ms,
        stanza: format!("<message><body>{body} «ü» &amp;</body></message>"),
    }
}

fn query(max: usize) -> ArchiveQuery {
    ArchiveQuery { max, ..ArchiveQuery::default() }
}

/// Append in batches, read back in id order with every field intact, isolation between users
/// and hosts, `contains`, `max_id`, and an empty archive.
pub async fn archive_append_and_query(storage: &Storage) {
    let archive = &storage.archive;
    let host = unique_host("archive-basic");
    let empty = archive.query(&host, "alice", &query(10)).await.expect("empty");
    assert_eq!((empty.messages.len(), empty.complete, empty.count), (0, true, 0));

    let first: Vec<_> =
        (0..3).map(|i| message(&host, "alice", "bob@x.org", "phone", 1000 + i, "a")).collect();
    let other = vec![
        message(&host, "bob", "alice@x.org", "", 1000, "b"),
        message(&unique_host("archive-basic-other"), "alice", "bob@x.org", "", 1000, "c"),
    ];
    let second = vec![message(&host, "alice", "carol@y.org", "", 999, "d")];
    archive.append(&first).await.expect("append");
    archive.append(&other).await.expect("append others");
    archive.append(&second).await.expect("append more");
    archive.append(&[]).await.expect("append nothing");

    let page = archive.query(&host, "alice", &query(10)).await.expect("query");
    let expected: Vec<_> = first.iter().chain(second.iter()).cloned().collect();
    assert_eq!(page.messages, expected, "id order, all fields round-trip");
    assert!(page.complete);
    assert_eq!(page.count, 4);

    assert!(archive.contains(&host, "alice", first[1].id).await.expect("contains"));
    assert!(!archive.contains(&host, "alice", other[0].id).await.expect("other user's id"));
    assert!(!archive.contains(&host, "alice", 1).await.expect("unknown id"));
    let max = archive.max_id().await.expect("max id");
    assert!(max >= second[0].id, "max_id {max} below the newest id {}", second[0].id);

    // A duplicate id fails and writes nothing of its batch.
    let dup = vec![message(&host, "alice", "dave@z.org", "", 5, "e"), first[0].clone()];
    assert!(archive.append(&dup).await.is_err(), "duplicate id accepted");
    let page = archive.query(&host, "alice", &query(10)).await.expect("query after failure");
    assert_eq!(page.count, 4, "a failed batch is rolled back whole");
}

/// RSM paging: first, after, last, before, max 0, and `complete` at both ends.
pub async fn archive_paging(storage: &Storage) {
    let archive = &storage.archive;
    let host = unique_host("archive-paging");
    let all: Vec<_> =
        (0..10).map(|i| message(&host, "alice", "bob@x.org", "", 1000 + i, "p")).collect();
    archive.append(&all).await.expect("append");
    let ids = |p: &crate::archive::ArchivePage| p.messages.iter().map(|m| m.id).collect::<Vec<_>>();
    let want = |r: std::ops::Range<usize>| all[r].iter().map(|m| m.id).collect::<Vec<_>>();

    let p = archive.query(&host, "alice", &query(4)).await.expect("first");
    assert_eq!((ids(&p), p.complete, p.count), (want(0..4), false, 10));
    let q = ArchiveQuery { cursor: Cursor::After(all[3].id), ..query(4) };
    let p = archive.query(&host, "alice", &q).await.expect("after");
    assert_eq!((ids(&p), p.complete, p.count), (want(4..8), false, 10));
    let q = ArchiveQuery { cursor: Cursor::After(all[7].id), ..query(4) };
    let p = archive.query(&host, "alice", &q).await.expect("after to end");
    assert_eq!((ids(&p), p.complete, p.count), (want(8..10), true, 10));
    let q = ArchiveQuery { cursor: Cursor::After(all[5].id), ..query(4) };
    let p = archive.query(&host, "alice", &q).await.expect("exactly to end");
    assert_eq!(
        (ids(&p), p.complete),
        (want(6..10), true),
        "a page ending on the newest is complete"
    );

    let q = ArchiveQuery { cursor: Cursor::Last, ..query(3) };
    let p = archive.query(&host, "alice", &q).await.expect("last");
    assert_eq!((ids(&p), p.complete, p.count), (want(7..10), false, 10), "oldest first");
    let q = ArchiveQuery { cursor: Cursor::Before(all[7].id), ..query(3) };
    let p = archive.query(&host, "alice", &q).await.expect("before");
    assert_eq!((ids(&p), p.complete), (want(4..7), false));
    let q = ArchiveQuery { cursor: Cursor::Before(all[2].id), ..query(3) };
    let p = archive.query(&host, "alice", &q).await.expect("before to start");
    assert_eq!((ids(&p), p.complete), (want(0..2), true));

    let p = archive.query(&host, "alice", &query(0)).await.expect("count only");
    assert_eq!((ids(&p), p.count), (vec![], 10));
    let p = archive.query(&host, "alice", &query(10)).await.expect("exactly all");
    assert!(p.complete && p.messages.len() == 10);
}

/// `with` (bare and full), time range, id range and id list filters, alone and together; the
/// count follows the filters but not the cursor.
pub async fn archive_filters(storage: &Storage) {
    let archive = &storage.archive;
    let host = unique_host("archive-filters");
    let msgs = vec![
        message(&host, "alice", "bob@x.org", "phone", 100, "0"),
        message(&host, "alice", "carol@y.org", "", 200, "1"),
        message(&host, "alice", "bob@x.org", "pc", 300, "2"),
        message(&host, "alice", "bob@x.org", "phone", 400, "3"),
        message(&host, "alice", "carol@y.org", "", 500, "4"),
    ];
    archive.append(&msgs).await.expect("append");
    let ids = |p: crate::archive::ArchivePage| p.messages.iter().map(|m| m.id).collect::<Vec<_>>();
    let pick = |is: &[usize]| is.iter().map(|&i| msgs[i].id).collect::<Vec<_>>();
    let run = |q: ArchiveQuery| {
        let host = host.clone();
        async move { archive.query(&host, "alice", &q).await.expect("query") }
    };

    let with = ArchiveQuery { with_bare: Some("bob@x.org".into()), ..query(10) };
    assert_eq!(ids(run(with.clone()).await), pick(&[0, 2, 3]));
    let full = ArchiveQuery { with_resource: Some("phone".into()), ..with.clone() };
    assert_eq!(ids(run(full).await), pick(&[0, 3]));
    let time = ArchiveQuery { start_ms: Some(200), end_ms: Some(400), ..query(10) };
    assert_eq!(ids(run(time).await), pick(&[1, 2, 3]), "start and end are inclusive");
    let range =
        ArchiveQuery { after_id: Some(msgs[0].id), before_id: Some(msgs[4].id), ..query(10) };
    assert_eq!(ids(run(range).await), pick(&[1, 2, 3]), "after-id and before-id are exclusive");
    let list =
        ArchiveQuery { ids: Some(pick(&[4, 1]).into_iter().chain([1]).collect()), ..query(10) };
    assert_eq!(ids(run(list).await), pick(&[1, 4]), "unknown ids are skipped");
    let none = ArchiveQuery { ids: Some(vec![]), ..query(10) };
    assert_eq!(run(none).await.count, 0);
    let both = ArchiveQuery { start_ms: Some(150), ..with.clone() };
    assert_eq!(ids(run(both).await), pick(&[2, 3]));
    let paged = ArchiveQuery { cursor: Cursor::After(msgs[2].id), ..with };
    let p = run(paged).await;
    assert_eq!((p.count, p.messages.len()), (3, 1), "the cursor does not change the count");
    let other = archive.query(&host, "bob", &query(10)).await.expect("bob");
    assert_eq!(other.count, 0);
}

/// Preferences: none until set, set, replace, per user.
pub async fn archive_prefs(storage: &Storage) {
    let archive = &storage.archive;
    let host = unique_host("archive-prefs");
    assert_eq!(archive.get_prefs(&host, "alice").await.expect("none"), None);
    let prefs = ArchivePrefs {
        default: DefaultMode::Roster,
        always: vec!["a@x.org".into(), "b@x.org".into()],
        never: vec!["«ü»@y.org".into()],
    };
    archive.set_prefs(&host, "alice", &prefs).await.expect("set");
    assert_eq!(archive.get_prefs(&host, "alice").await.expect("get"), Some(prefs.clone()));
    let replaced = ArchivePrefs { default: DefaultMode::Never, always: vec![], never: vec![] };
    archive.set_prefs(&host, "alice", &replaced).await.expect("replace");
    assert_eq!(archive.get_prefs(&host, "alice").await.expect("get"), Some(replaced));
    archive
        .set_prefs(&host, "bob", &ArchivePrefs { default: DefaultMode::Always, ..prefs })
        .await
        .expect("bob");
    let bob = archive.get_prefs(&host, "bob").await.expect("bob").expect("set");
    assert_eq!(bob.default, DefaultMode::Always);
    assert_eq!(archive.get_prefs(&host, "carol").await.expect("carol"), None);
}

/// Removing a user removes their archive and preferences, and nobody else's.
pub async fn archive_removed_with_user(storage: &Storage) {
    let host = unique_host("archive-remove");
    let prefs = ArchivePrefs { default: DefaultMode::Never, always: vec![], never: vec![] };
    for name in ["victim", "bystander"] {
        storage.users.create_user(&host, name, &credentials(2)).await.expect("create");
        let m = message(&host, name, "x@y.org", "", 1, "r");
        storage.archive.append(&[m]).await.expect("append");
        storage.archive.set_prefs(&host, name, &prefs).await.expect("prefs");
    }
    storage.users.remove_user(&host, "victim").await.expect("remove");
    let q = query(10);
    assert_eq!(storage.archive.query(&host, "victim", &q).await.expect("victim").count, 0);
    assert_eq!(storage.archive.get_prefs(&host, "victim").await.expect("victim prefs"), None);
    assert_eq!(storage.archive.query(&host, "bystander", &q).await.expect("other").count, 1);
    assert!(storage.archive.get_prefs(&host, "bystander").await.expect("prefs").is_some());
}
