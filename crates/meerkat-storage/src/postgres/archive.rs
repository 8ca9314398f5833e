//! [`ArchiveStore`] on PostgreSQL: rows of `mam_messages`, selected through the
//! `(host, username[, with_bare], id)` indexes, and one `mam_prefs` row per user.
//!
//! # Ids across nodes
//! The server chooses archive ids (time in ms times 4096 plus a counter, above [`max_id`] read
//! at start-up), so two nodes sharing the database would choose the same id for messages
//! archived in the same millisecond. [`claim_id_slot`] gives each node one of
//! [`SLOT_COUNT`] residues for the low bits of its ids: it takes a session-level advisory lock
//! `(ID_SLOT_LOCK_CLASS, slot)` on the first free slot, on a connection detached from the pool
//! and kept open for the node's lifetime, so no two running nodes hold the same slot (a
//! crashed node's lock goes with its connection). All nodes' ids still follow the clock, so
//! they stay increasing in arrival order across nodes as far as the nodes' clocks agree.
//!
//! [`max_id`]: ArchiveStore::max_id
//! [`claim_id_slot`]: ArchiveStore::claim_id_slot

use super::{count_from_db, decode, PgStore};
use crate::archive::{ArchivePage, ArchivePrefs, ArchiveQuery, ArchivedMessage, Cursor, IdSlot};
use crate::{ArchiveStore, DefaultMode, Result, StorageError};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

/// First key of the advisory locks naming the id slots held by running nodes.
const ID_SLOT_LOCK_CLASS: i32 = 0x6d6b_6964; // "mkid"
/// Low bits of an id naming the node: 64 nodes, each with 64 ids per millisecond before its
/// ids run ahead of the clock.
const SLOT_BITS: u8 = 6;
/// How many nodes can share one database.
const SLOT_COUNT: u16 = 1 << SLOT_BITS;

/// Appends the WHERE clause of the query's filters (not its cursor).
fn push_filters(b: &mut QueryBuilder<'_, Postgres>, host: &str, username: &str, q: &ArchiveQuery) {
    b.push(" WHERE host = ").push_bind(host.to_owned());
    b.push(" AND username = ").push_bind(username.to_owned());
    if let Some(w) = &q.with_bare {
        b.push(" AND with_bare = ").push_bind(w.clone());
    }
    if let Some(r) = &q.with_resource {
        b.push(" AND with_resource = ").push_bind(r.clone());
    }
    if let Some(t) = q.start_ms {
        b.push(" AND stamp_ms >= ").push_bind(t);
    }
    if let Some(t) = q.end_ms {
        b.push(" AND stamp_ms <= ").push_bind(t);
    }
    if let Some(id) = q.after_id {
        b.push(" AND id > ").push_bind(id);
    }
    if let Some(id) = q.before_id {
        b.push(" AND id < ").push_bind(id);
    }
    if let Some(ids) = &q.ids {
        // One array parameter, however many ids (an empty array matches nothing).
        b.push(" AND id = ANY(").push_bind(ids.clone()).push(")");
    }
}

fn row_to_message(row: &PgRow) -> Result<ArchivedMessage> {
    let op = "archive_query";
    Ok(ArchivedMessage {
        id: row.try_get("id").map_err(decode(op))?,
        host: row.try_get("host").map_err(decode(op))?,
        username: row.try_get("username").map_err(decode(op))?,
        with_bare: row.try_get("with_bare").map_err(decode(op))?,
        with_resource: row.try_get("with_resource").map_err(decode(op))?,
        outgoing: row.try_get("outgoing").map_err(decode(op))?,
        stamp_ms: row.try_get("stamp_ms").map_err(decode(op))?,
        stanza: row.try_get("stanza").map_err(decode(op))?,
    })
}

fn jids_from_db(op: &'static str, text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text)
        .map_err(|e| StorageError::Backend(format!("{op}: bad JID list: {e}")))
}

fn jids_to_db(op: &'static str, jids: &[String]) -> Result<String> {
    serde_json::to_string(jids).map_err(|e| StorageError::Backend(format!("{op}: {e}")))
}

#[async_trait::async_trait]
impl ArchiveStore for PgStore {
    async fn append(&self, messages: &[ArchivedMessage]) -> Result<()> {
        let op = "archive_append";
        if messages.is_empty() {
            return Ok(());
        }
        // One statement for the batch (all or none): column arrays unnested into rows.
        let mut ids = Vec::with_capacity(messages.len());
        let mut hosts = Vec::with_capacity(messages.len());
        let mut users = Vec::with_capacity(messages.len());
        let mut bares = Vec::with_capacity(messages.len());
        let mut resources = Vec::with_capacity(messages.len());
        let mut outgoing = Vec::with_capacity(messages.len());
        let mut stamps = Vec::with_capacity(messages.len());
        let mut stanzas = Vec::with_capacity(messages.len());
        for m in messages {
            ids.push(m.id);
            hosts.push(m.host.as_str());
            users.push(m.username.as_str());
            bares.push(m.with_bare.as_str());
            resources.push(m.with_resource.as_str());
            outgoing.push(m.outgoing);
            stamps.push(m.stamp_ms);
            stanzas.push(m.stanza.as_str());
        }
        sqlx::query(
            "INSERT INTO mam_messages \
             (id, host, username, with_bare, with_resource, outgoing, stamp_ms, stanza) \
             SELECT * FROM UNNEST($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], \
                                  $6::BOOLEAN[], $7::BIGINT[], $8::TEXT[])",
        )
        .bind(ids)
        .bind(hosts)
        .bind(users)
        .bind(bares)
        .bind(resources)
        .bind(outgoing)
        .bind(stamps)
        .bind(stanzas)
        .execute(&self.pool)
        .await
        .map_err(self.backend(op))?;
        Ok(())
    }

    async fn query(&self, host: &str, username: &str, q: &ArchiveQuery) -> Result<ArchivePage> {
        let op = "archive_query";
        let mut b = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM mam_messages");
        push_filters(&mut b, host, username, q);
        let count: i64 =
            b.build_query_scalar().fetch_one(&self.pool).await.map_err(self.backend(op))?;
        let count = count_from_db(op, count)?;
        if q.max == 0 {
            return Ok(ArchivePage { messages: Vec::new(), complete: count == 0, count });
        }
        let mut b = QueryBuilder::<Postgres>::new(
            "SELECT id, host, username, with_bare, with_resource, outgoing, stamp_ms, stanza \
             FROM mam_messages",
        );
        push_filters(&mut b, host, username, q);
        let backward = matches!(q.cursor, Cursor::Last | Cursor::Before(_));
        match q.cursor {
            Cursor::After(id) => {
                b.push(" AND id > ").push_bind(id);
            }
            Cursor::Before(id) => {
                b.push(" AND id < ").push_bind(id);
            }
            Cursor::First | Cursor::Last => {}
        }
        b.push(if backward { " ORDER BY id DESC" } else { " ORDER BY id ASC" });
        // One row more than asked tells whether the page reaches the end.
        let limit = i64::try_from(q.max).unwrap_or(i64::MAX - 1).saturating_add(1);
        b.push(" LIMIT ").push_bind(limit);
        let rows = b.build().fetch_all(&self.pool).await.map_err(self.backend(op))?;
        let mut messages = rows.iter().map(row_to_message).collect::<Result<Vec<_>>>()?;
        let complete = messages.len() <= q.max;
        messages.truncate(q.max);
        if backward {
            messages.reverse();
        }
        Ok(ArchivePage { messages, complete, count })
    }

    async fn contains(&self, host: &str, username: &str, id: i64) -> Result<bool> {
        let row =
            sqlx::query("SELECT 1 FROM mam_messages WHERE id = $1 AND host = $2 AND username = $3")
                .bind(id)
                .bind(host)
                .bind(username)
                .fetch_optional(&self.pool)
                .await
                .map_err(self.backend("archive_contains"))?;
        Ok(row.is_some())
    }

    async fn max_id(&self) -> Result<i64> {
        // The primary-key index answers MAX(id) from its last entry.
        let id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM mam_messages")
            .fetch_one(&self.pool)
            .await
            .map_err(self.backend("archive_max_id"))?;
        Ok(id.unwrap_or(0))
    }

    async fn claim_id_slot(&self) -> Result<IdSlot> {
        let op = "archive_claim_id_slot";
        // A connection of its own, out of the pool: the session-level lock lives as long as it.
        let conn = self.pool.acquire().await.map_err(self.backend(op))?;
        let mut conn = conn.detach();
        for slot in 0..SLOT_COUNT {
            let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
                .bind(ID_SLOT_LOCK_CLASS)
                .bind(i32::from(slot))
                .fetch_one(&mut conn)
                .await
                .map_err(self.backend(op))?;
            if taken {
                // Replacing an earlier holder closes its connection, releasing its slot.
                *self.id_slot_holder.lock().unwrap_or_else(|e| e.into_inner()) = Some(conn);
                tracing::info!(what = "mam_id_slot", backend = "postgres", slot, "archive id slot");
                return Ok(IdSlot { slot, bits: SLOT_BITS });
            }
        }
        Err(StorageError::Backend(format!(
            "{op}: all {SLOT_COUNT} archive id slots are held by running nodes"
        )))
    }

    async fn get_prefs(&self, host: &str, username: &str) -> Result<Option<ArchivePrefs>> {
        let op = "archive_get_prefs";
        let row = sqlx::query(
            "SELECT default_mode, always_jids::text AS always_jids, \
                    never_jids::text AS never_jids \
             FROM mam_prefs WHERE host = $1 AND username = $2",
        )
        .bind(host)
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.backend(op))?;
        let Some(row) = row else { return Ok(None) };
        let mode: String = row.try_get("default_mode").map_err(decode(op))?;
        let default = DefaultMode::parse(&mode)
            .ok_or_else(|| StorageError::Backend(format!("{op}: bad default mode {mode:?}")))?;
        let always: String = row.try_get("always_jids").map_err(decode(op))?;
        let never: String = row.try_get("never_jids").map_err(decode(op))?;
        Ok(Some(ArchivePrefs {
            default,
            always: jids_from_db(op, &always)?,
            never: jids_from_db(op, &never)?,
        }))
    }

    async fn set_prefs(&self, host: &str, username: &str, prefs: &ArchivePrefs) -> Result<()> {
        let op = "archive_set_prefs";
        // An upsert: two nodes setting one user's preferences at once both succeed, the later
        // wins whole (never a mix of both).
        sqlx::query(
            "INSERT INTO mam_prefs (host, username, default_mode, always_jids, never_jids) \
             VALUES ($1, $2, $3, $4::jsonb, $5::jsonb) ON CONFLICT (host, username) DO UPDATE SET \
             default_mode = excluded.default_mode, always_jids = excluded.always_jids, \
             never_jids = excluded.never_jids",
        )
        .bind(host)
        .bind(username)
        .bind(prefs.default.as_str())
        .bind(jids_to_db(op, &prefs.always)?)
        .bind(jids_to_db(op, &prefs.never)?)
        .execute(&self.pool)
        .await
        .map_err(self.backend(op))?;
        Ok(())
    }
}
