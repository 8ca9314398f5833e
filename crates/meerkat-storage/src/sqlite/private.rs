//! [`PrivateStore`] on SQLite: rows of `private_storage`.

use super::{backend, SqliteStore};
use crate::{PrivateStore, Result, StorageError};

#[async_trait::async_trait]
impl PrivateStore for SqliteStore {
    async fn get_private(
        &self,
        host: &str,
        username: &str,
        namespace: &str,
    ) -> Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT xml FROM private_storage WHERE host = ? AND username = ? AND namespace = ?",
        )
        .bind(host)
        .bind(username)
        .bind(namespace)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend("get_private"))
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
        let mut tx = self.begin_write(op).await?;
        let updated = sqlx::query(
            "UPDATE private_storage SET xml = ? WHERE host = ? AND username = ? AND namespace = ?",
        )
        .bind(xml)
        .bind(host)
        .bind(username)
        .bind(namespace)
        .execute(&mut *tx)
        .await
        .map_err(backend(op))?;
        if updated.rows_affected() == 0 {
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM private_storage WHERE host = ? AND username = ?",
            )
            .bind(host)
            .bind(username)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend(op))?;
            if usize::try_from(count).unwrap_or(usize::MAX) >= max_namespaces {
                return Err(StorageError::LimitReached { limit: max_namespaces });
            }
            sqlx::query(
                "INSERT INTO private_storage (host, username, namespace, xml) VALUES (?, ?, ?, ?)",
            )
            .bind(host)
            .bind(username)
            .bind(namespace)
            .bind(xml)
            .execute(&mut *tx)
            .await
            .map_err(backend(op))?;
        }
        tx.commit().await.map_err(backend(op))
    }
}
