//! HTTP File Upload (XEP-0363): the files stored by each account, for quotas and expiry.
//!
//! The bytes live on the disk of the node that stored them (`node`); this table is what every
//! node agrees on: who owns how many bytes (quotas are cluster-wide on PostgreSQL), which
//! file an id names, and which files are old enough to delete.

use crate::Result;

/// One stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedFile {
    /// The random id in the file's URL (unique).
    pub id: String,
    /// Owner's host.
    pub host: String,
    /// Owner's username (normalised localpart).
    pub username: String,
    /// `general.node_name` of the node holding the bytes.
    pub node: String,
    /// File name as the client asked for it (UTF-8, no `/`).
    pub filename: String,
    /// Content type announced in the slot request (`""` when none).
    pub content_type: String,
    /// Size in bytes.
    pub size_bytes: u64,
    /// When the upload completed, seconds since the Unix epoch.
    pub created_s: i64,
}

/// Uploaded files of local users.
#[async_trait::async_trait]
pub trait UploadStore: Send + Sync {
    /// Bytes currently stored by the user.
    async fn used_bytes(&self, host: &str, username: &str) -> Result<u64>;
    /// Records a file, atomically checking that the owner's stored bytes stay within
    /// `quota_bytes`: [`crate::StorageError::LimitReached`] when they would not,
    /// [`crate::StorageError::AlreadyExists`] when the id is taken. Nothing is stored then.
    async fn add_file(&self, file: &UploadedFile, quota_bytes: u64) -> Result<()>;
    /// The file with this id.
    async fn get_file(&self, id: &str) -> Result<Option<UploadedFile>>;
    /// Forgets a file; false when there was none.
    async fn remove_file(&self, id: &str) -> Result<bool>;
    /// Files held by `node` created at or before `created_before_s`, oldest first, at most
    /// `limit`.
    async fn expired_files(
        &self,
        node: &str,
        created_before_s: i64,
        limit: usize,
    ) -> Result<Vec<UploadedFile>>;
}
