//! Accounts (RFC 6120 §6 authentication data). Passwords are never stored: only SCRAM keys.

use crate::Result;
use meerkat_proto::sasl::StoredCredentials;

/// Accounts of the hosts served.
#[async_trait::async_trait]
pub trait UserStore: Send + Sync {
    /// Creates an account; [`crate::StorageError::AlreadyExists`] when taken.
    async fn create_user(
        &self,
        host: &str,
        username: &str,
        credentials: &StoredCredentials,
    ) -> Result<()>;
    /// Credentials of an account, `None` when it does not exist.
    async fn get_credentials(
        &self,
        host: &str,
        username: &str,
    ) -> Result<Option<StoredCredentials>>;
    /// Replaces the credentials (password change); [`crate::StorageError::NotFound`] when absent.
    async fn set_credentials(
        &self,
        host: &str,
        username: &str,
        credentials: &StoredCredentials,
    ) -> Result<()>;
    /// Removes an account and everything stored for it (roster, offline messages, last
    /// activity, ...) in one transaction; [`crate::StorageError::NotFound`] when absent.
    async fn remove_user(&self, host: &str, username: &str) -> Result<()>;
    /// True when the account exists.
    async fn user_exists(&self, host: &str, username: &str) -> Result<bool>;
    /// Usernames of a host, sorted.
    async fn list_users(&self, host: &str) -> Result<Vec<String>>;
    /// Number of accounts of a host.
    async fn count_users(&self, host: &str) -> Result<u64>;
}
