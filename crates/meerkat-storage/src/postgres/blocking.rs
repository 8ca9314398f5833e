//! [`BlockingStore`] on PostgreSQL: rows of `blocklist_items`.

use super::{PgStore, USER_LOCK};
use crate::{BlockingStore, Result, StorageError};

/// First key of the per-user advisory locks taken by [`BlockingStore::block`].
const BLOCK_LOCK_CLASS: i32 = 0x6d6b_626c; // "mkbl"

#[async_trait::async_trait]
impl BlockingStore for PgStore {
    async fn get_blocklist(&self, host: &str, username: &str) -> Result<Vec<String>> {
        sqlx::query_scalar(
            "SELECT jid FROM blocklist_items WHERE host = $1 AND username = $2 ORDER BY jid",
        )
        .bind(host)
        .bind(username)
        .fetch_all(&self.pool)
        .await
        .map_err(self.backend("get_blocklist"))
    }

    async fn block(
        &self,
        host: &str,
        username: &str,
        jids: &[String],
        max_items: usize,
    ) -> Result<()> {
        let op = "block";
        let mut tx = self.begin(op).await?;
        // Blockers of one user run one at a time until commit, so two cannot both fit under
        // the limit with their own inserts and pass it together.
        sqlx::query(USER_LOCK)
            .bind(BLOCK_LOCK_CLASS)
            .bind(host)
            .bind(username)
            .execute(&mut *tx)
            .await
            .map_err(self.backend(op))?;
        sqlx::query(
            "INSERT INTO blocklist_items (host, username, jid) \
             SELECT $1, $2, jid FROM UNNEST($3::TEXT[]) AS jid ON CONFLICT DO NOTHING",
        )
        .bind(host)
        .bind(username)
        .bind(jids)
        .execute(&mut *tx)
        .await
        .map_err(self.backend(op))?;
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM blocklist_items WHERE host = $1 AND username = $2",
        )
        .bind(host)
        .bind(username)
        .fetch_one(&mut *tx)
        .await
        .map_err(self.backend(op))?;
        if usize::try_from(count).unwrap_or(usize::MAX) > max_items {
            // Dropping the transaction rolls the inserts back.
            return Err(StorageError::LimitReached { limit: max_items });
        }
        tx.commit().await.map_err(self.backend(op))
    }

    async fn unblock(&self, host: &str, username: &str, jids: &[String]) -> Result<()> {
        sqlx::query(
            "DELETE FROM blocklist_items WHERE host = $1 AND username = $2 AND jid = ANY($3)",
        )
        .bind(host)
        .bind(username)
        .bind(jids)
        .execute(&self.pool)
        .await
        .map_err(self.backend("unblock"))?;
        Ok(())
    }

    async fn unblock_all(&self, host: &str, username: &str) -> Result<()> {
        sqlx::query("DELETE FROM blocklist_items WHERE host = $1 AND username = $2")
            .bind(host)
            .bind(username)
            .execute(&self.pool)
            .await
            .map_err(self.backend("unblock_all"))?;
        Ok(())
    }
}
