//! [`ArchiveStore`] on SQLite: rows of `mam_messages`, selected through the
//! `(host, username[, with_bare], id)` indexes, and one `mam_prefs` row per user.

use super::{backend, count_from_db, SqliteStore};
use crate::archive::{ArchivePage, ArchivePrefs, ArchiveQuery, ArchivedMessage, Cursor};
use crate::{ArchiveStore, DefaultMode, Result, StorageError};
use sqlx::{QueryBuilder, Row, Sqlite};

/// Rows per INSERT statement: 8 parameters each, well under SQLite's limit of 32766 bound
/// parameters per statement.
const ROWS_PER_INSERT: usize = 256;

/// Appends the WHERE clause of the query's filters (not its cursor).
fn push_filters(b: &mut QueryBuilder<'_, Sqlite>, host: &str, username: &str, q: &ArchiveQuery) {
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
        if ids.is_empty() {
            b.push(" AND 0");
        } else {
            b.push(" AND id IN (");
            let mut sep = b.separated(", ");
            for id in ids {
                sep.push_bind(*id);
            }
            b.push(")");
        }
    }
}

fn row_to_message(row: &sqlx::sqlite::SqliteRow) -> Result<ArchivedMessage> {
    let op = "archive_query";
    let outgoing: i64 = row.try_get("outgoing").map_err(backend(op))?;
    Ok(ArchivedMessage {
        id: row.try_get("id").map_err(backend(op))?,
        host: row.try_get("host").map_err(backend(op))?,
        username: row.try_get("username").map_err(backend(op))?,
        with_bare: row.try_get("with_bare").map_err(backend(op))?,
        with_resource: row.try_get("with_resource").map_err(backend(op))?,
        outgoing: outgoing != 0,
        stamp_ms: row.try_get("stamp_ms").map_err(backend(op))?,
        stanza: row.try_get("stanza").map_err(backend(op))?,
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
impl ArchiveStore for SqliteStore {
    async fn append(&self, messages: &[ArchivedMessage]) -> Result<()> {
        let op = "archive_append";
        if messages.is_empty() {
            return Ok(());
        }
        // Multi-row INSERTs: every statement is one hand-off to sqlx's SQLite worker thread,
        // and one per row made those hand-offs most of the CPU spent per archived message
        // (BENCHMARKS.md, "MAM regression").
        let mut tx = self.begin_write(op).await?;
        for chunk in messages.chunks(ROWS_PER_INSERT) {
            let mut b = QueryBuilder::<Sqlite>::new(
                "INSERT INTO mam_messages \
                 (id, host, username, with_bare, with_resource, outgoing, stamp_ms, stanza) ",
            );
            b.push_values(chunk, |mut row, m| {
                row.push_bind(m.id)
                    .push_bind(&m.host)
                    .push_bind(&m.username)
                    .push_bind(&m.with_bare)
                    .push_bind(&m.with_resource)
                    .push_bind(i64::from(m.outgoing))
                    .push_bind(m.stamp_ms)
                    .push_bind(&m.stanza);
            });
            b.build().execute(&mut *tx).await.map_err(backend(op))?;
        }
        tx.commit().await.map_err(backend(op))
    }

    async fn query(&self, host: &str, username: &str, q: &ArchiveQuery) -> Result<ArchivePage> {
        let op = "archive_query";
        let mut b = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM mam_messages");
        push_filters(&mut b, host, username, q);
        let count: i64 = b.build_query_scalar().fetch_one(&self.pool).await.map_err(backend(op))?;
        let count = count_from_db(op, count)?;
        if q.max == 0 {
            return Ok(ArchivePage { messages: Vec::new(), complete: count == 0, count });
        }
        let mut b = QueryBuilder::<Sqlite>::new(
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
        let rows = b.build().fetch_all(&self.pool).await.map_err(backend(op))?;
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
            sqlx::query("SELECT 1 FROM mam_messages WHERE id = ? AND host = ? AND username = ?")
                .bind(id)
                .bind(host)
                .bind(username)
                .fetch_optional(&self.pool)
                .await
                .map_err(backend("archive_contains"))?;
        Ok(row.is_some())
    }

    async fn max_id(&self) -> Result<i64> {
        let id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM mam_messages")
            .fetch_one(&self.pool)
            .await
            .map_err(backend("archive_max_id"))?;
        Ok(id.unwrap_or(0))
    }

    async fn get_prefs(&self, host: &str, username: &str) -> Result<Option<ArchivePrefs>> {
        let op = "archive_get_prefs";
        let row = sqlx::query(
            "SELECT default_mode, always_jids, never_jids FROM mam_prefs \
             WHERE host = ? AND username = ?",
        )
        .bind(host)
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend(op))?;
        let Some(row) = row else { return Ok(None) };
        let mode: String = row.try_get("default_mode").map_err(backend(op))?;
        let default = DefaultMode::parse(&mode)
            .ok_or_else(|| StorageError::Backend(format!("{op}: bad default mode {mode:?}")))?;
        let always: String = row.try_get("always_jids").map_err(backend(op))?;
        let never: String = row.try_get("never_jids").map_err(backend(op))?;
        Ok(Some(ArchivePrefs {
            default,
            always: jids_from_db(op, &always)?,
            never: jids_from_db(op, &never)?,
        }))
    }

    async fn set_prefs(&self, host: &str, username: &str, prefs: &ArchivePrefs) -> Result<()> {
        let op = "archive_set_prefs";
        sqlx::query(
            "INSERT INTO mam_prefs (host, username, default_mode, always_jids, never_jids) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (host, username) DO UPDATE SET \
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
        .map_err(backend(op))?;
        Ok(())
    }
}
