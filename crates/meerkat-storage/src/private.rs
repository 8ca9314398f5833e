//! Private XML storage (XEP-0049): one XML fragment per (user, namespace).

use crate::Result;

/// Private XML of local users.
#[async_trait::async_trait]
pub trait PrivateStore: Send + Sync {
    /// The fragment stored under `namespace`, serialised; `None` when absent.
    async fn get_private(
        &self,
        host: &str,
        username: &str,
        namespace: &str,
    ) -> Result<Option<String>>;
    /// Stores (replaces) the fragment under `namespace`. Fails with
    /// [`crate::StorageError::LimitReached`] and stores nothing when it is a new namespace and
    /// the user already has `max_namespaces`.
    async fn set_private(
        &self,
        host: &str,
        username: &str,
        namespace: &str,
        xml: &str,
        max_namespaces: usize,
    ) -> Result<()>;
}
