//! vCard-temp (XEP-0054) with the avatar hash of XEP-0153.

use crate::Result;

/// One stored vCard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVcard {
    /// The `<vCard xmlns='vcard-temp'>` element, serialised.
    pub xml: String,
    /// SHA-1 (lowercase hex) of the PHOTO's binary value, `None` without a photo.
    pub photo_sha1: Option<String>,
}

/// vCards of local users, one per account.
#[async_trait::async_trait]
pub trait VcardStore: Send + Sync {
    /// The user's vCard, `None` when never set.
    async fn get_vcard(&self, host: &str, username: &str) -> Result<Option<StoredVcard>>;
    /// Stores (replaces) the user's vCard.
    async fn set_vcard(&self, host: &str, username: &str, vcard: &StoredVcard) -> Result<()>;
}
