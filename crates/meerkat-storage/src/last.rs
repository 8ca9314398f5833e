//! Last activity (XEP-0012): when a user last logged out, and the status then.

use crate::Result;

/// The last logout of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastActivity {
    /// Logout time, seconds since the Unix epoch.
    pub seconds: i64,
    /// The status text of the last unavailable presence ("" if none).
    pub status: String,
}

/// Last-activity records of local users.
#[async_trait::async_trait]
pub trait LastStore: Send + Sync {
    /// Records a logout.
    async fn set_last(&self, host: &str, username: &str, activity: &LastActivity) -> Result<()>;
    /// Records many logouts of distinct accounts, (host, username, activity) each; backends
    /// write them in one statement or transaction.
    async fn set_last_many(&self, batch: &[(String, String, LastActivity)]) -> Result<()> {
        for (host, username, activity) in batch {
            self.set_last(host, username, activity).await?;
        }
        Ok(())
    }
    /// The last logout, `None` when never recorded.
    async fn get_last(&self, host: &str, username: &str) -> Result<Option<LastActivity>>;
}
