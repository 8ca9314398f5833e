//! [`PrivateStore`] on PostgreSQL: rows of `private_storage`.

use super::{PgStore, USER_LOCK};
use crate::{PrivateStore, Result, StorageError};

/// First key of the per-user advisory locks taken by [`PrivateStore::set_private`].
const PRIVATE_LOCK_CLASS: i32 = 0x6d6b_7076; // "mkpv"

#[async_trait::async_trait]
impl PrivateStore for PgStore {
    async fn get_private(
        &self,
        host: &str,
        username: &str,
        namespace: &str,
    ) -> Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT xml FROM private_storage \
             WHERE host = $1 AND username = $2 AND namespace = $3",
        )
        .bind(host)
        .bind(username)
        .bind(namespace)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.backend("get_private"))
    }

    async fn set_private(
        &self,
        host: &str,
        username: &str,
        namespace: &str,
        xml: &str,
        max_namespaces: usize,
    ) -> Result<()> {
        let op = "set_private";
        let mut tx = self.begin(op).await?;
        // Writers of one user run one at a time until commit: two new namespaces cannot both
        // see room for the last one, and an update never races an insert of the same key.
        sqlx::query(USER_LOCK)
            .bind(PRIVATE_LOCK_CLASS)
            .bind(host)
            .bind(username)
            .execute(&mut *tx)
            .await
            .map_err(self.backend(op))?;
        let updated = sqlx::query(
            "UPDATE private_storage SET xml = $1 \
             WHERE host = $2 AND username = $3 AND namespace = $4",
        )
        .bind(xml)
        .bind(host)
        .bind(username)
        .bind(namespace)
        .execute(&mut *tx)
        .await
        .map_err(self.backend(op))?;
        if updated.rows_affected() == 0 {
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM private_storage WHERE host = $1 AND username = $2",
            )
            .bind(host)
            .bind(username)
            .fetch_one(&mut *tx)
            .await
            .map_err(self.backend(op))?;
            if usize::try_from(count).unwrap_or(usize::MAX) >= max_namespaces {
                return Err(StorageError::LimitReached { limit: max_namespaces });
            }
            sqlx::query(
                "INSERT INTO private_storage (host, username, namespace, xml) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(host)
            .bind(username)
            .bind(namespace)
            .bind(xml)
            .execute(&mut *tx)
            .await
            .map_err(self.backend(op))?;
        }
        tx.commit().await.map_err(self.backend(op))
    }
}
