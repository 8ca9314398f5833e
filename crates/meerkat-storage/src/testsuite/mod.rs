//! Conformance suite for storage backends: every backend's tests open a fresh [`Storage`] and
//! call these functions, so all backends behave the same behind the traits.
//!
//! The suite uses only the traits, never a backend's tables, and panics (like `assert!`) on the
//! first difference. Every function makes its own host names with [`unique_host`], so the
//! functions can run in parallel on one database and against a database that outlives the test
//! run (a shared PostgreSQL server), and never see each other's rows.
//!
//! Compiled into the library (hidden from the docs) rather than under `cfg(test)` so other
//! crates' tests, such as a future backend in another crate or the server's, can run it too.

mod archive;
mod cluster;
mod last;
mod misc;
mod muc;
mod offline;
mod pg_server;
mod pubsub;
mod pubsub_members;
mod roster;
mod upload;
mod users;

pub use archive::{
    archive_append_and_query, archive_filters, archive_paging, archive_prefs,
    archive_removed_with_user,
};
pub use cluster::{cluster_claims, cluster_nodes_and_sessions, cluster_one_claimer};
pub use last::last_activity;
pub use misc::{blocking_crud, misc_remove_cascades, private_crud, vcard_crud};
pub use muc::{muc_archive_tombstone, muc_room_claims, muc_rooms_crud};
pub use offline::{offline_concurrent_limit, offline_limit, offline_queue};
pub use pg_server::{PgServer, INSTALL_HINT};
pub use pubsub::{pubsub_items, pubsub_node_limit, pubsub_nodes, pubsub_removed_with_user};
pub use pubsub_members::{pubsub_affiliations, pubsub_subscriptions};
pub use roster::{
    roster_concurrent_versions, roster_crud, roster_fields_round_trip, roster_isolation,
    roster_versions,
};
pub use upload::{upload_concurrent_quota, upload_files_and_quota};
pub use users::{users_concurrent_create, users_crud, users_list_and_count, users_remove_cascades};

use crate::Storage;
use meerkat_proto::sasl::{ScramCredentials, StoredCredentials};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Runs every check of the suite, one after the other.
pub async fn run_all(storage: &Storage) {
    users_crud(storage).await;
    users_list_and_count(storage).await;
    users_remove_cascades(storage).await;
    users_concurrent_create(storage).await;
    roster_crud(storage).await;
    roster_versions(storage).await;
    roster_fields_round_trip(storage).await;
    roster_isolation(storage).await;
    roster_concurrent_versions(storage).await;
    offline_queue(storage).await;
    offline_limit(storage).await;
    offline_concurrent_limit(storage).await;
    last_activity(storage).await;
    archive_append_and_query(storage).await;
    archive_paging(storage).await;
    archive_filters(storage).await;
    archive_prefs(storage).await;
    archive_removed_with_user(storage).await;
    pubsub_nodes(storage).await;
    pubsub_items(storage).await;
    pubsub_node_limit(storage).await;
    pubsub_removed_with_user(storage).await;
    blocking_crud(storage).await;
    vcard_crud(storage).await;
    private_crud(storage).await;
    misc_remove_cascades(storage).await;
    pubsub_subscriptions(storage).await;
    pubsub_affiliations(storage).await;
    upload_files_and_quota(storage).await;
    upload_concurrent_quota(storage).await;
    muc_rooms_crud(storage).await;
    muc_archive_tombstone(storage).await;
    muc_room_claims(storage).await;
}

/// A host name that no other call returns, in this process or another one: the process id
/// and start time tell runs apart, a counter tells calls apart.
pub fn unique_host(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{label}-{}-{nanos}-{n}.test", std::process::id())
}

/// Distinct, recognisable credentials for `seed`, with key lengths of the real hashes (20
/// bytes for SHA-1, 32 for SHA-256) and bytes that are not valid UTF-8, so a backend that
/// stored them as text would fail.
pub fn credentials(seed: u8) -> StoredCredentials {
    let keys = |len: usize, tag: u8| ScramCredentials {
        salt: vec![0xff, seed, tag, 0x00, 0x80],
        iterations: 4096 + u32::from(seed),
        stored_key: (0..len).map(|i| seed.wrapping_add(tag).wrapping_add(i as u8)).collect(),
        server_key: (0..len).map(|i| 0xff - seed.wrapping_add(i as u8)).collect(),
    };
    StoredCredentials { sha1: keys(20, 1), sha256: keys(32, 2) }
}
