//! PostgreSQL backend: every store in one database that several nodes of a cluster share.
//!
//! # Layout
//! - this file: [`PgSettings`], [`open`], the pool, reconnection logging and error mapping;
//! - `users.rs`, `roster.rs`, `offline.rs`, `last.rs`, `archive.rs`, `pubsub.rs`,
//!   `blocking.rs`, `vcard.rs`, `private.rs`: one trait implementation each, all on the same
//!   `PgStore`, with the same semantics as the SQLite ones (the conformance suite in
//!   `testsuite` runs on both);
//! - the schema is in `migrations/postgres/*.sql`, embedded at compile time and applied by
//!   [`open`]. sqlx holds a PostgreSQL advisory lock while migrating, so nodes starting at once
//!   against a new database migrate it once.
//!
//! Adding a store: write its trait in the crate root, `migrations/postgres/NNNN_name.sql`
//! beside the SQLite one, a `name.rs` here with `impl NameStore for PgStore` (queries with
//! `$n` placeholders, errors through [`backend`]), and the field in [`open`]'s `Storage`.
//!
//! # Concurrency
//! Unlike SQLite, where one writer at a time holds the file's lock, PostgreSQL runs writers in
//! parallel, from several nodes. Every read-modify-write is therefore made atomic in the
//! database, never with a lock in the node:
//! - user creation is one `INSERT ... ON CONFLICT DO NOTHING` (the primary key decides);
//! - roster writes and the version bump share a transaction, and the bump is an upsert whose
//!   row lock orders concurrent writers of one roster (each gets its own version);
//! - the offline limit check and the insert run in a transaction holding a per-user advisory
//!   lock (`pg_advisory_xact_lock`), so two senders cannot both see room for one message; the
//!   same holds for the blocklist, private XML and pubsub node limits (one lock class each);
//! - pubsub publications lock their node's row, so trimming to `max_items` never races;
//! - archive ids are chosen by the nodes, each in its own residue class held with an advisory
//!   lock (`archive.rs`), so two nodes never choose the same id.
//!
//! # Connections
//! The pool opens at most `pool_size` connections and waits `connect_timeout` for one (to
//! connect, or for a busy pool to free one) before the request fails with
//! [`StorageError::Backend`]. Connections are checked before use, so after a PostgreSQL restart
//! the broken ones are dropped and new ones opened: the node recovers by itself. The first
//! failure to reach the server is logged once at `warn` (`storage_unreachable`), and the first
//! connection opened after it at `info` (`storage_reconnected`).
//!
//! A node with MAM enabled keeps one more connection, outside the pool, holding its archive id
//! slot (`archive.rs`). If that connection is lost (a PostgreSQL restart), the slot's lock goes
//! with it while the node keeps using the slot: a node started during that window could be
//! given the same slot. Not handled yet (it needs the node to re-claim, or stop using, its
//! slot); the primary key still refuses a clashing id, and the writer logs `mam_write_failed`.

mod archive;
mod blocking;
mod cluster;
mod last;
mod muc;
mod offline;
mod private;
mod pubsub;
mod pubsub_members;
mod roster;
mod upload;
mod users;
mod vcard;

#[cfg(test)]
mod tests;

use crate::{MiscStores, Result, Storage, StorageError};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgTransaction};
use sqlx::Connection as _;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The schema, embedded from `migrations/postgres` (`build.rs` makes cargo notice new files).
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How to reach the database. `Debug` never shows the password.
#[derive(Clone)]
pub struct PgSettings {
    /// `postgres://user@host:port/database` (libpq URL syntax, options such as `sslmode`
    /// allowed).
    pub url: String,
    /// The password, when not in the URL (read from a file by the caller).
    pub password: Option<String>,
    /// Most connections the pool opens.
    pub pool_size: u32,
    /// How long a request waits to connect or for a free connection.
    pub connect_timeout: Duration,
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("url", &redact_url(&self.url))
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// The URL with any password replaced, for logs and error messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, hostport)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:<redacted>@{hostport}{tail}")
        }
        _ => url.to_owned(),
    }
}

/// Connects, runs the migrations, and returns every store backed by the database.
///
/// Fails with [`StorageError::Backend`] when the URL is malformed, the server cannot be reached
/// within the connect timeout, or a migration fails (for example a database migrated by a newer
/// Meerkat). The error names the redacted URL, never the password.
pub async fn open(settings: &PgSettings) -> Result<Storage> {
    Ok(PgStore::open(settings).await?.into_storage())
}

/// A pooled connection idle this long is tested (one round trip) before a query uses it, as is
/// one idle since before the last connection-level failure: the database may have restarted
/// meanwhile and left it broken. Under load connections never idle this long.
const RETEST_IDLE_AFTER: Duration = Duration::from_secs(1);

/// Takes a per-user transaction-level advisory lock: `$1` is the lock class (one per kind of
/// write), `$2`/`$3` the user's host and username. The key is a hash of the user: a collision
/// only serialises two users' writes, it never lets a limit be passed.
const USER_LOCK: &str = "SELECT pg_advisory_xact_lock($1, hashtext($2 || '/' || $3))";

/// Whether the last attempt to reach the server failed, shared by the pool's connect hook and
/// the error mapping so an outage is logged once and the recovery once; and when a connection
/// was last lost, so that connections idle since then are tested before use.
#[derive(Debug)]
struct Health {
    unreachable: AtomicBool,
    /// Origin of the millisecond stamps below.
    since: Instant,
    /// Milliseconds after `since`, plus one, of the last connection-level failure (0: none).
    lost_at: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            unreachable: AtomicBool::new(false),
            since: Instant::now(),
            lost_at: AtomicU64::new(0),
        }
    }
}

impl Health {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a connection idle for `idle_for` must be tested before use.
    fn must_retest(&self, idle_for: Duration) -> bool {
        if idle_for >= RETEST_IDLE_AFTER {
            return true;
        }
        let lost_at = self.lost_at.load(Ordering::Relaxed);
        let idle_ms = u64::try_from(idle_for.as_millis()).unwrap_or(u64::MAX);
        // Idle since at or before the failure (stamps are one more than the time).
        lost_at != 0 && self.now_ms().saturating_sub(idle_ms) < lost_at
    }

    /// Notes a failed request; logs the first connection-level failure of an outage.
    fn failed(&self, op: &'static str, error: &sqlx::Error) {
        let connection_lost =
            matches!(error, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_))
                || error.as_database_error().and_then(|e| e.code()).is_some_and(|code| {
                    // Class 08 (connection exception) and 57P01..57P03 (shutdown, cannot connect now).
                    code.starts_with("08") || code.starts_with("57P")
                });
        if connection_lost {
            self.lost_at.store(self.now_ms().saturating_add(1), Ordering::Relaxed);
        }
        if connection_lost && !self.unreachable.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                what = "storage_unreachable",
                backend = "postgres",
                op,
                error = %error,
                "PostgreSQL unreachable; requests fail until it is back"
            );
        }
    }

    /// Notes a new connection; logs the recovery after an outage.
    fn connected(&self) {
        if self.unreachable.swap(false, Ordering::Relaxed) {
            tracing::info!(
                what = "storage_reconnected",
                backend = "postgres",
                "PostgreSQL reachable again"
            );
        }
    }
}

/// Every store on one PostgreSQL connection pool. Cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub(crate) struct PgStore {
    pool: PgPool,
    health: Arc<Health>,
    /// The connection holding this node's archive id slot lock, once claimed (`archive.rs`).
    id_slot_holder: Arc<Mutex<Option<PgConnection>>>,
}

impl PgStore {
    /// Opens the pool (one connection, to fail early) and applies pending migrations.
    pub(crate) async fn open(settings: &PgSettings) -> Result<Self> {
        let shown = redact_url(&settings.url);
        if !(settings.url.starts_with("postgres://") || settings.url.starts_with("postgresql://")) {
            return Err(StorageError::Backend(format!(
                "invalid PostgreSQL URL {shown}: must start with postgres:// or postgresql://"
            )));
        }
        let mut options = PgConnectOptions::from_str(&settings.url)
            .map_err(|e| StorageError::Backend(format!("invalid PostgreSQL URL {shown}: {e}")))?
            .application_name("meerkat");
        if let Some(password) = &settings.password {
            options = options.password(password);
        }
        let health = Arc::new(Health::default());
        let hook = health.clone();
        let retest = health.clone();
        let connect = PgPoolOptions::new()
            .max_connections(settings.pool_size.max(1))
            .acquire_timeout(settings.connect_timeout)
            // sqlx tests a connection both when it is taken (a Sync round trip, by default)
            // and when it is given back (always): three round trips per query. Busy
            // connections were just tested on release, so only one idle long enough for the
            // database to have restarted meanwhile is tested again before use.
            .test_before_acquire(false)
            .before_acquire(move |conn, meta| {
                let test = retest.must_retest(meta.idle_for);
                Box::pin(async move {
                    if test {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |_conn, _meta| {
                hook.connected();
                Box::pin(async { Ok(()) })
            })
            .connect_with(options);
        // The acquire timeout bounds the pool's own connect; this bounds the whole call.
        let pool = tokio::time::timeout(settings.connect_timeout, connect)
            .await
            .map_err(|_| {
                StorageError::Backend(format!(
                    "connecting to PostgreSQL {shown}: no answer within {} ms",
                    settings.connect_timeout.as_millis()
                ))
            })?
            .map_err(|e| StorageError::Backend(format!("connecting to PostgreSQL {shown}: {e}")))?;
        MIGRATOR.run(&pool).await.map_err(|e| {
            StorageError::Backend(format!("migrating PostgreSQL database {shown}: {e}"))
        })?;
        tracing::info!(
            what = "storage_opened",
            backend = "postgres",
            url = %shown,
            pool_size = settings.pool_size,
            "database opened"
        );
        Ok(PgStore { pool, health, id_slot_holder: Arc::default() })
    }

    /// Every store of the bundle backed by this one.
    pub(crate) fn into_storage(self) -> Storage {
        let store = Arc::new(self);
        Storage {
            users: store.clone(),
            roster: store.clone(),
            offline: store.clone(),
            last: store.clone(),
            archive: store.clone(),
            pubsub: store.clone(),
            misc: MiscStores {
                blocking: store.clone(),
                vcard: store.clone(),
                private: store.clone(),
                muc: store.clone(),
            },
            cluster: store.clone(),
            upload: store.clone(),
            pubsub_members: store,
        }
    }

    /// Maps an sqlx error to [`StorageError::Backend`] naming the operation, and notes
    /// connection losses for the outage log.
    fn backend(&self, op: &'static str) -> impl FnOnce(sqlx::Error) -> StorageError + '_ {
        move |e| {
            self.health.failed(op, &e);
            StorageError::Backend(format!("{op}: {e}"))
        }
    }

    /// Starts a transaction (READ COMMITTED, PostgreSQL's default; the writes that need more
    /// take row or advisory locks themselves).
    async fn begin(&self, op: &'static str) -> Result<PgTransaction<'static>> {
        self.pool.begin().await.map_err(self.backend(op))
    }

    /// Closes every connection, waiting for statements in flight. Later calls fail.
    #[cfg(test)]
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// Converts a stored count (PostgreSQL's `COUNT` is a signed BIGINT) to the traits' `u64`.
fn count_from_db(op: &'static str, count: i64) -> Result<u64> {
    u64::try_from(count).map_err(|_| StorageError::Backend(format!("{op}: negative count {count}")))
}

/// Maps a decoding error of a row already fetched (no connection involved).
fn decode(op: &'static str) -> impl FnOnce(sqlx::Error) -> StorageError {
    move |e| StorageError::Backend(format!("{op}: {e}"))
}
