//! [`OfflineStore`] on PostgreSQL: rows of `offline_messages`, read and trimmed through the
//! `(host, username, id)` index.

use super::{count_from_db, decode, PgStore};
use crate::{OfflineMessage, OfflineStore, Result, StorageError};
use sqlx::Row;

/// First key of the two-key advisory locks taken by [`OfflineStore::store`], so they never
/// collide with locks other code takes on the same database (sqlx's migration lock uses the
/// one-key form).
const OFFLINE_LOCK_CLASS: i32 = 0x6d6b_6f66; // "mkof"

#[async_trait::async_trait]
impl OfflineStore for PgStore {
    async fn store(
        &self,
        host: &str,
        username: &str,
        from: &str,
        stored_at_ms: i64,
        stanza: &str,
        max_messages: usize,
    ) -> Result<i64> {
        let op = "offline_store";
        // A limit beyond i64 cannot be reached by a COUNT; saturating keeps it "no limit".
        let limit = i64::try_from(max_messages).unwrap_or(i64::MAX);
        let mut tx = self.begin(op).await?;
        // Senders on any node store for one user one at a time: the lock is held until the
        // transaction ends, so no insert slips between this sender's count and its insert
        // (READ COMMITTED alone would let two senders both count limit - 1). It also makes a
        // user's ids increase in commit order. The key is a hash of the user: a collision
        // only serialises two users' stores, it never lets a limit be passed.
        sqlx::query(super::USER_LOCK)
            .bind(OFFLINE_LOCK_CLASS)
            .bind(host)
            .bind(username)
            .execute(&mut *tx)
            .await
            .map_err(self.backend(op))?;
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM offline_messages WHERE host = $1 AND username = $2",
        )
        .bind(host)
        .bind(username)
        .fetch_one(&mut *tx)
        .await
        .map_err(self.backend(op))?;
        if count >= limit {
            // Dropping the transaction rolls it back and releases the lock.
            return Err(StorageError::LimitReached { limit: max_messages });
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO offline_messages (host, username, from_jid, stored_at_ms, stanza) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(host)
        .bind(username)
        .bind(from)
        .bind(stored_at_ms)
        .bind(stanza)
        .fetch_one(&mut *tx)
        .await
        .map_err(self.backend(op))?;
        tx.commit().await.map_err(self.backend(op))?;
        Ok(id)
    }

    async fn fetch(&self, host: &str, username: &str) -> Result<Vec<OfflineMessage>> {
        let op = "offline_fetch";
        let rows = sqlx::query(
            "SELECT id, from_jid, stored_at_ms, stanza FROM offline_messages \
             WHERE host = $1 AND username = $2 ORDER BY id",
        )
        .bind(host)
        .bind(username)
        .fetch_all(&self.pool)
        .await
        .map_err(self.backend(op))?;
        rows.iter()
            .map(|row| {
                Ok(OfflineMessage {
                    id: row.try_get("id").map_err(decode(op))?,
                    from: row.try_get("from_jid").map_err(decode(op))?,
                    stored_at_ms: row.try_get("stored_at_ms").map_err(decode(op))?,
                    stanza: row.try_get("stanza").map_err(decode(op))?,
                })
            })
            .collect()
    }

    async fn remove_up_to(&self, host: &str, username: &str, up_to_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM offline_messages WHERE host = $1 AND username = $2 AND id <= $3")
            .bind(host)
            .bind(username)
            .bind(up_to_id)
            .execute(&self.pool)
            .await
            .map_err(self.backend("offline_remove_up_to"))?;
        Ok(())
    }

    async fn count(&self, host: &str, username: &str) -> Result<u64> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM offline_messages WHERE host = $1 AND username = $2",
        )
        .bind(host)
        .bind(username)
        .fetch_one(&self.pool)
        .await
        .map_err(self.backend("offline_count"))?;
        count_from_db("offline_count", count)
    }
}
