//! SCRAM credentials (RFC 5802 §3): the only form in which passwords are stored.
//!
//! From a password and a salt, PBKDF2 (`Hi`) gives `SaltedPassword`; from that come
//! `ClientKey = HMAC(SaltedPassword, "Client Key")`, `StoredKey = H(ClientKey)` and
//! `ServerKey = HMAC(SaltedPassword, "Server Key")`. The server keeps salt, iteration count,
//! `StoredKey` and `ServerKey`: enough to check a SCRAM proof or a PLAIN password, not enough to
//! log in as the user (that needs `ClientKey`).

use std::borrow::Cow;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// PBKDF2 iteration count used when the caller has no policy of its own: the minimum RFC 7677
/// §4 recommends, and the count the fake credentials of unknown users default to.
pub const DEFAULT_ITERATIONS: u32 = 4096;

/// Length of the random salts made by [`StoredCredentials::from_password`] (RFC 5802 asks for
/// a random salt per user; 16 bytes is the usual size).
pub const SALT_BYTES: usize = 16;

/// Hash function of a SCRAM family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScramHash {
    /// SCRAM-SHA-1 (RFC 5802).
    Sha1,
    /// SCRAM-SHA-256 (RFC 7677).
    Sha256,
}

impl ScramHash {
    /// Output length of the hash in bytes (the length of keys, proofs and signatures).
    pub fn output_len(self) -> usize {
        match self {
            ScramHash::Sha1 => 20,
            ScramHash::Sha256 => 32,
        }
    }

    /// Short name, used to separate the two hashes in derived values.
    pub(crate) fn label(self) -> &'static [u8] {
        match self {
            ScramHash::Sha1 => b"SHA-1",
            ScramHash::Sha256 => b"SHA-256",
        }
    }

    /// `H(data)`.
    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => Sha1::digest(data).to_vec(),
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    /// `HMAC(key, part1 || part2 || ...)`; taking parts avoids building `AuthMessage` twice.
    pub(crate) fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        // HMAC takes keys of any length (long ones are hashed), so `new_from_slice` cannot fail.
        match self {
            ScramHash::Sha1 => {
                let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key)
                    .expect("HMAC accepts keys of any length");
                parts.iter().for_each(|p| mac.update(p));
                mac.finalize().into_bytes().to_vec()
            }
            ScramHash::Sha256 => {
                let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
                    .expect("HMAC accepts keys of any length");
                parts.iter().for_each(|p| mac.update(p));
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    /// `Hi(password, salt, i)` of RFC 5802 §2.2, which is PBKDF2 with HMAC and one output block.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.output_len()];
        match self {
            ScramHash::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out),
            ScramHash::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out)
            }
        }
        out
    }
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

/// SASLprep (RFC 4013) of a password, as RFC 5802 §2.2 `Normalize` asks. A password SASLprep
/// rejects (one with control or unassigned characters, say) is used as it is: clients do the
/// same, so such a password still works over both SCRAM and PLAIN instead of locking the user
/// out.
pub(crate) fn normalize_password(password: &str) -> Cow<'_, str> {
    stringprep::saslprep(password).unwrap_or(Cow::Borrowed(password))
}

impl ScramCredentials {
    /// Derives keys from `password` with the given salt and iteration count. The password is
    /// normalised here with SASLprep (falling back to the raw string when SASLprep rejects it),
    /// so callers pass what the user typed. Costs `iterations` HMAC rounds: the caller's
    /// iteration count is its CPU budget per login.
    pub fn derive(hash: ScramHash, password: &str, salt: &[u8], iterations: u32) -> Self {
        let password = normalize_password(password);
        // SaltedPassword and ClientKey each suffice to log in as the user: wipe them after use.
        let salted = Zeroizing::new(hash.salted_password(password.as_bytes(), salt, iterations));
        let client_key = Zeroizing::new(hash.hmac(&salted, &[b"Client Key"]));
        ScramCredentials {
            salt: salt.to_vec(),
            iterations,
            stored_key: hash.digest(&client_key),
            server_key: hash.hmac(&salted, &[b"Server Key"]),
        }
    }
}

impl StoredCredentials {
    /// Keys for both hashes from a password, with fresh random salts ([`SALT_BYTES`] each,
    /// different for the two hashes so one does not hint at the other).
    pub fn from_password(password: &str, iterations: u32) -> Self {
        StoredCredentials {
            sha1: ScramCredentials::derive(ScramHash::Sha1, password, &random_salt(), iterations),
            sha256: ScramCredentials::derive(
                ScramHash::Sha256,
                password,
                &random_salt(),
                iterations,
            ),
        }
    }

    /// The keys for `hash`.
    pub fn for_hash(&self, hash: ScramHash) -> &ScramCredentials {
        match hash {
            ScramHash::Sha1 => &self.sha1,
            ScramHash::Sha256 => &self.sha256,
        }
    }
}

fn random_salt() -> [u8; SALT_BYTES] {
    // `thread_rng` is a CSPRNG seeded from the OS; salts need uniqueness more than secrecy.
    let mut salt = [0u8; SALT_BYTES];
    rand::thread_rng().fill_bytes(&mut salt);
    salt
}
