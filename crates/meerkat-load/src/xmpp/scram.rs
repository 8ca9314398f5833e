//! SCRAM client side (RFC 5802, SCRAM-SHA-256 per RFC 7677), without channel binding (`n,,`).
//!
//! The exchange is split so that the expensive step, PBKDF2 over the password (`Hi()`), is done
//! by [`derive_keys`] outside the state machine: the caller looks the keys up in a
//! [`super::keycache::KeyCache`] first, as RFC 5802 §5.1 allows ("the client can cache the
//! ClientKey/ServerKey ... for the same salt and iteration count"). A load tool logging in
//! thousands of users would otherwise spend most of its CPU in PBKDF2.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::distributions::Alphanumeric;
use rand::Rng;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Largest iteration count accepted from a server: bounds the CPU a server can make us spend.
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// Hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramHash {
    /// SCRAM-SHA-1 (RFC 5802).
    Sha1,
    /// SCRAM-SHA-256 (RFC 7677).
    Sha256,
}

impl ScramHash {
    /// IANA mechanism name.
    pub fn mechanism(self) -> &'static str {
        match self {
            ScramHash::Sha1 => "SCRAM-SHA-1",
            ScramHash::Sha256 => "SCRAM-SHA-256",
        }
    }

    /// Parses an IANA mechanism name.
    pub fn from_mechanism(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-1" => Some(ScramHash::Sha1),
            "SCRAM-SHA-256" => Some(ScramHash::Sha256),
            _ => None,
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // new_from_slice only fails for fixed-size keys; HMAC accepts any key length.
        match self {
            ScramHash::Sha1 => {
                let mut m = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            ScramHash::Sha256 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => Sha1::digest(data).to_vec(),
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
        }
    }
}

/// The keys derived from a password, salt and iteration count (RFC 5802 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramKeys {
    /// `Hi(Normalize(password), salt, i)`.
    pub salted_password: Vec<u8>,
    /// `HMAC(SaltedPassword, "Client Key")`.
    pub client_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

/// Runs PBKDF2 and derives the client and server keys. Expensive by design: cache the result.
///
/// The password is used as given (no SASLprep): the tool generates ASCII passwords, for which
/// SASLprep is the identity.
pub fn derive_keys(hash: ScramHash, password: &[u8], salt: &[u8], iterations: u32) -> ScramKeys {
    let salted_password = match hash {
        ScramHash::Sha1 => {
            let mut out = vec![0u8; 20];
            pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out);
            out
        }
        ScramHash::Sha256 => {
            let mut out = vec![0u8; 32];
            pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
            out
        }
    };
    let client_key = hash.hmac(&salted_password, b"Client Key");
    let server_key = hash.hmac(&salted_password, b"Server Key");
    ScramKeys { salted_password, client_key, server_key }
}

/// Why a SCRAM exchange failed on the client side.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScramError {
    /// The server-first-message lacks a field or is malformed.
    #[error("malformed server-first-message: {0}")]
    BadServerFirst(&'static str),
    /// The server's nonce does not start with ours (RFC 5802 §5.1).
    #[error("server nonce does not extend the client nonce")]
    NonceMismatch,
    /// The iteration count is zero or above [`MAX_ITERATIONS`].
    #[error("iteration count {0} out of range")]
    Iterations(u32),
    /// The server-final-message carried `e=`.
    #[error("server reported error: {0}")]
    ServerError(String),
    /// The server signature is missing or wrong: the server does not know the password.
    #[error("server signature mismatch")]
    BadServerSignature,
}

/// What the server-first-message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerFirst {
    /// Combined nonce (client nonce + server part).
    pub nonce: String,
    /// Decoded salt.
    pub salt: Vec<u8>,
    /// Iteration count.
    pub iterations: u32,
}

/// One SCRAM exchange, client side.
#[derive(Debug)]
pub struct ScramClient {
    hash: ScramHash,
    client_first_bare: String,
    client_nonce: String,
    /// Set by [`ScramClient::client_final`]: the signature the server must prove.
    expected_server_signature: Option<Vec<u8>>,
}

/// Escapes a username for the `n=` attribute (RFC 5802 §5.1: `=` and `,` are encoded).
fn saslname(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

impl ScramClient {
    /// Starts an exchange with a fresh random nonce.
    pub fn new(hash: ScramHash, user: &str) -> Self {
        let nonce: String =
            rand::thread_rng().sample_iter(&Alphanumeric).take(24).map(char::from).collect();
        Self::with_nonce(hash, user, &nonce)
    }

    /// Starts an exchange with a given nonce (tests use the RFC's).
    pub fn with_nonce(hash: ScramHash, user: &str, nonce: &str) -> Self {
        ScramClient {
            hash,
            client_first_bare: format!("n={},r={}", saslname(user), nonce),
            client_nonce: nonce.to_owned(),
            expected_server_signature: None,
        }
    }

    /// client-first-message: GS2 header `n,,` (no channel binding, no authzid) and the bare part.
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// Parses and checks the server-first-message.
    pub fn parse_server_first(&self, msg: &str) -> Result<ServerFirst, ScramError> {
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for part in msg.split(',') {
            if let Some(v) = part.strip_prefix("r=") {
                nonce = Some(v);
            } else if let Some(v) = part.strip_prefix("s=") {
                salt = Some(B64.decode(v).map_err(|_| ScramError::BadServerFirst("salt"))?);
            } else if let Some(v) = part.strip_prefix("i=") {
                iterations = Some(
                    v.parse::<u32>().map_err(|_| ScramError::BadServerFirst("iteration count"))?,
                );
            } else if part.starts_with("m=") {
                // RFC 5802 §5.1: a mandatory extension we do not know must fail the exchange.
                return Err(ScramError::BadServerFirst("unsupported mandatory extension"));
            }
        }
        let nonce = nonce.ok_or(ScramError::BadServerFirst("nonce"))?;
        let salt = salt.ok_or(ScramError::BadServerFirst("salt"))?;
        let iterations = iterations.ok_or(ScramError::BadServerFirst("iteration count"))?;
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err(ScramError::NonceMismatch);
        }
        if iterations == 0 || iterations > MAX_ITERATIONS {
            return Err(ScramError::Iterations(iterations));
        }
        Ok(ServerFirst { nonce: nonce.to_owned(), salt, iterations })
    }

    /// client-final-message for the server-first-message `server_first_raw` (as received) and
    /// its parsed form, given the keys for its salt and iteration count.
    pub fn client_final(
        &mut self,
        server_first_raw: &str,
        first: &ServerFirst,
        keys: &ScramKeys,
    ) -> String {
        // c=biws is base64("n,,"): the GS2 header repeated, no channel binding.
        let without_proof = format!("c=biws,r={}", first.nonce);
        let auth_message =
            format!("{},{},{}", self.client_first_bare, server_first_raw, without_proof);
        let stored_key = self.hash.hash(&keys.client_key);
        let client_signature = self.hash.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> =
            keys.client_key.iter().zip(&client_signature).map(|(k, s)| k ^ s).collect();
        self.expected_server_signature =
            Some(self.hash.hmac(&keys.server_key, auth_message.as_bytes()));
        format!("{},p={}", without_proof, B64.encode(proof))
    }

    /// Checks the server-final-message (`v=` signature), proving the server knows the password.
    pub fn verify_server_final(&self, msg: &str) -> Result<(), ScramError> {
        if let Some(e) = msg.strip_prefix("e=") {
            return Err(ScramError::ServerError(e.to_owned()));
        }
        let v = msg
            .split(',')
            .find_map(|p| p.strip_prefix("v="))
            .ok_or(ScramError::BadServerSignature)?;
        let got = B64.decode(v).map_err(|_| ScramError::BadServerSignature)?;
        match &self.expected_server_signature {
            Some(expected) if *expected == got => Ok(()),
            _ => Err(ScramError::BadServerSignature),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3 example exchange.
    #[test]
    fn rfc7677_sha256_vectors() {
        let mut c = ScramClient::with_nonce(ScramHash::Sha256, "user", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(c.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let sf = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                  s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let first = c.parse_server_first(sf).expect("server first");
        assert_eq!(first.iterations, 4096);
        let keys = derive_keys(ScramHash::Sha256, b"pencil", &first.salt, first.iterations);
        let fin = c.client_final(sf, &first, &keys);
        assert_eq!(
            fin,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        c.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .expect("server signature");
        assert_eq!(c.verify_server_final("v=AAAA"), Err(ScramError::BadServerSignature));
    }

    /// RFC 5802 §5 example exchange (SCRAM-SHA-1).
    #[test]
    fn rfc5802_sha1_vectors() {
        let mut c = ScramClient::with_nonce(ScramHash::Sha1, "user", "fyko+d2lbbFgONRv9qkxdawL");
        let sf = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
        let first = c.parse_server_first(sf).expect("server first");
        let keys = derive_keys(ScramHash::Sha1, b"pencil", &first.salt, first.iterations);
        let fin = c.client_final(sf, &first, &keys);
        assert_eq!(
            fin,
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
        );
        c.verify_server_final("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=").expect("server signature");
    }

    #[test]
    fn rejects_foreign_nonce_and_bad_iterations() {
        let c = ScramClient::with_nonce(ScramHash::Sha256, "u", "abc");
        assert_eq!(c.parse_server_first("r=xyz1,s=QQ==,i=4096"), Err(ScramError::NonceMismatch));
        assert_eq!(c.parse_server_first("r=abc,s=QQ==,i=4096"), Err(ScramError::NonceMismatch));
        assert_eq!(c.parse_server_first("r=abcd,s=QQ==,i=0"), Err(ScramError::Iterations(0)));
        assert!(matches!(
            c.parse_server_first("r=abcd,i=4096"),
            Err(ScramError::BadServerFirst("salt"))
        ));
        assert!(matches!(
            c.parse_server_first("m=x,r=abcd,s=QQ==,i=1"),
            Err(ScramError::BadServerFirst(_))
        ));
    }

    #[test]
    fn escapes_username() {
        let c = ScramClient::with_nonce(ScramHash::Sha256, "a=b,c", "n");
        assert_eq!(c.client_first(), "n,,n=a=3Db=2Cc,r=n");
    }

    #[test]
    fn server_error_is_reported() {
        let c = ScramClient::with_nonce(ScramHash::Sha256, "u", "n");
        assert_eq!(
            c.verify_server_final("e=invalid-proof"),
            Err(ScramError::ServerError("invalid-proof".into()))
        );
    }
}
