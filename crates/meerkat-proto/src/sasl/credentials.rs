//! SCRAM credentials (RFC 5802 §3): the only form in which passwords are stored.

/// Hash function of a SCRAM family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramHash {
    /// SCRAM-SHA-1 (RFC 5802).
    Sha1,
    /// SCRAM-SHA-256 (RFC 7677).
    Sha256,
}

/// Salted SCRAM keys for one hash: `StoredKey = H(ClientKey)`, `ServerKey`, salt and iteration
/// count. The password cannot be recovered from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    /// Random salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iteration count.
    pub iterations: u32,
    /// `H(HMAC(SaltedPassword, "Client Key"))`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

/// What is stored for one account: keys for both SCRAM hashes (PLAIN is verified against the
/// SHA-256 keys by deriving them from the offered password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredentials {
    /// Keys for SCRAM-SHA-1.
    pub sha1: ScramCredentials,
    /// Keys for SCRAM-SHA-256.
    pub sha256: ScramCredentials,
}

impl ScramCredentials {
    /// Derives keys from `password` (already SASLprep-normalised by the caller or not; see
    /// [`StoredCredentials::from_password`]) with a fresh random salt.
    pub fn derive(hash: ScramHash, password: &str, salt: &[u8], iterations: u32) -> Self {
        let _ = (hash, password, salt, iterations);
        todo!("meerkat-proto helper")
    }
}

impl StoredCredentials {
    /// Keys for both hashes from a password, with fresh random salts.
    pub fn from_password(password: &str, iterations: u32) -> Self {
        let _ = (password, iterations);
        todo!("meerkat-proto helper")
    }
}
