//! [`UploadStore`] on PostgreSQL: one row per file in `upload_files`, shared by the nodes of
//! a cluster so quotas count every node's files. The quota check and the insert run in one
//! transaction holding a per-user advisory lock, so two uploads finishing at once on two
//! nodes cannot both fit into the same remaining room.

use super::{count_from_db, decode, PgStore, USER_LOCK};
use crate::{Result, StorageError, UploadStore, UploadedFile};
use sqlx::postgres::PgRow;
use sqlx::Row;

/// Lock class of the per-user quota lock.
const UPLOAD_LOCK_CLASS: i32 = 0x6d6b_7570; // "mkup"

/// The columns [`from_row`] reads.
const COLUMNS: &str = "id, host, username, node, filename, content_type, size_bytes, created_s";

fn from_row(op: &'static str, row: &PgRow) -> Result<UploadedFile> {
    let size: i64 = row.try_get("size_bytes").map_err(decode(op))?;
    Ok(UploadedFile {
        id: row.try_get("id").map_err(decode(op))?,
        host: row.try_get("host").map_err(decode(op))?,
        username: row.try_get("username").map_err(decode(op))?,
        node: row.try_get("node").map_err(decode(op))?,
        filename: row.try_get("filename").map_err(decode(op))?,
        content_type: row.try_get("content_type").map_err(decode(op))?,
        size_bytes: count_from_db(op, size)?,
        created_s: row.try_get("created_s").map_err(decode(op))?,
    })
}

#[async_trait::async_trait]
impl UploadStore for PgStore {
    async fn used_bytes(&self, host: &str, username: &str) -> Result<u64> {
        let op = "upload_used_bytes";
        let used: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(size_bytes), 0)::BIGINT FROM upload_files \
             WHERE host = $1 AND username = $2",
        )
        .bind(host)
        .bind(username)
        .fetch_one(&self.pool)
        .await
        .map_err(self.backend(op))?;
        count_from_db(op, used)
    }

    async fn add_file(&self, file: &UploadedFile, quota_bytes: u64) -> Result<()> {
        let op = "upload_add_file";
        let size = i64::try_from(file.size_bytes)
            .map_err(|_| StorageError::Backend(format!("{op}: size too large")))?;
        let mut tx = self.begin(op).await?;
        sqlx::query(USER_LOCK)
            .bind(UPLOAD_LOCK_CLASS)
            .bind(&file.host)
            .bind(&file.username)
            .execute(&mut *tx)
            .await
            .map_err(self.backend(op))?;
        let used: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(size_bytes), 0)::BIGINT FROM upload_files \
             WHERE host = $1 AND username = $2",
        )
        .bind(&file.host)
        .bind(&file.username)
        .fetch_one(&mut *tx)
        .await
        .map_err(self.backend(op))?;
        if count_from_db(op, used)?.saturating_add(file.size_bytes) > quota_bytes {
            return Err(StorageError::LimitReached {
                limit: usize::try_from(quota_bytes).unwrap_or(usize::MAX),
            });
        }
        let inserted = sqlx::query(
            "INSERT INTO upload_files \
             (id, host, username, node, filename, content_type, size_bytes, created_s) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
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
        .map_err(self.backend(op))?;
        if inserted.rows_affected() == 0 {
            return Err(StorageError::AlreadyExists);
        }
        tx.commit().await.map_err(self.backend(op))
    }

    async fn get_file(&self, id: &str) -> Result<Option<UploadedFile>> {
        let op = "upload_get_file";
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM upload_files WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.backend(op))?;
        row.map(|r| from_row(op, &r)).transpose()
    }

    async fn remove_file(&self, id: &str) -> Result<bool> {
        let op = "upload_remove_file";
        let done = sqlx::query("DELETE FROM upload_files WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(self.backend(op))?;
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
            "SELECT {COLUMNS} FROM upload_files WHERE node = $1 AND created_s <= $2 \
             ORDER BY created_s LIMIT $3"
        ))
        .bind(node)
        .bind(created_before_s)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(self.backend(op))?;
        rows.iter().map(|r| from_row(op, r)).collect()
    }
}
