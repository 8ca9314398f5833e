//! [`UploadStore`] on SQLite: one row per file in `upload_files`. The quota check and the
//! insert share a write transaction, which SQLite runs one at a time.

use super::{backend, count_from_db, SqliteStore};
use crate::{Result, StorageError, UploadStore, UploadedFile};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

/// The columns [`from_row`] reads.
const COLUMNS: &str = "id, host, username, node, filename, content_type, size_bytes, created_s";

fn from_row(op: &'static str, row: &SqliteRow) -> Result<UploadedFile> {
    let size: i64 = row.try_get("size_bytes").map_err(backend(op))?;
    Ok(UploadedFile {
        id: row.try_get("id").map_err(backend(op))?,
        host: row.try_get("host").map_err(backend(op))?,
        username: row.try_get("username").map_err(backend(op))?,
        node: row.try_get("node").map_err(backend(op))?,
        filename: row.try_get("filename").map_err(backend(op))?,
        content_type: row.try_get("content_type").map_err(backend(op))?,
        size_bytes: count_from_db(op, size)?,
        created_s: row.try_get("created_s").map_err(backend(op))?,
    })
}

/// A size as SQLite's signed integer (sizes are bounded by the config far below i64::MAX).
fn size_to_db(op: &'static str, size: u64) -> Result<i64> {
    i64::try_from(size).map_err(|_| StorageError::Backend(format!("{op}: size {size} too large")))
}

#[async_trait::async_trait]
impl UploadStore for SqliteStore {
    async fn used_bytes(&self, host: &str, username: &str) -> Result<u64> {
        let op = "upload_used_bytes";
        let used: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(size_bytes), 0) FROM upload_files WHERE host = ? AND username = ?",
        )
        .bind(host)
        .bind(username)
        .fetch_one(&self.pool)
        .await
        .map_err(backend(op))?;
        count_from_db(op, used)
    }

    async fn add_file(&self, file: &UploadedFile, quota_bytes: u64) -> Result<()> {
        let op = "upload_add_file";
        let size = size_to_db(op, file.size_bytes)?;
        let mut tx = self.begin_write(op).await?;
        let used: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(size_bytes), 0) FROM upload_files WHERE host = ? AND username = ?",
        )
        .bind(&file.host)
        .bind(&file.username)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend(op))?;
        if count_from_db(op, used)?.saturating_add(file.size_bytes) > quota_bytes {
            return Err(StorageError::LimitReached {
                limit: usize::try_from(quota_bytes).unwrap_or(usize::MAX),
            });
        }
        let inserted = sqlx::query(
            "INSERT INTO upload_files \
             (id, host, username, node, filename, content_type, size_bytes, created_s) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&file.id)
        .bind(&file.host)
        .bind(&file.username)
        .bind(&file.node)
        .bind(&file.filename)
        .bind(&file.content_type)
        .bind(size)
        .bind(file.created_s)
        .execute(&mut *tx)
        .await
        .map_err(backend(op))?;
        if inserted.rows_affected() == 0 {
            return Err(StorageError::AlreadyExists);
        }
        tx.commit().await.map_err(backend(op))
    }

    async fn get_file(&self, id: &str) -> Result<Option<UploadedFile>> {
        let op = "upload_get_file";
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM upload_files WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend(op))?;
        row.map(|r| from_row(op, &r)).transpose()
    }

    async fn remove_file(&self, id: &str) -> Result<bool> {
        let op = "upload_remove_file";
        let done = sqlx::query("DELETE FROM upload_files WHERE id = ?")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(backend(op))?;
        Ok(done.rows_affected() > 0)
    }

    async fn expired_files(
        &self,
        node: &str,
        created_before_s: i64,
        limit: usize,
    ) -> Result<Vec<UploadedFile>> {
        let op = "upload_expired_files";
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM upload_files WHERE node = ? AND created_s <= ? \
             ORDER BY created_s LIMIT ?"
        ))
        .bind(node)
        .bind(created_before_s)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(backend(op))?;
        rows.iter().map(|r| from_row(op, r)).collect()
    }
}
