//! SASL PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`, all UTF-8.
//!
//! The password is checked by deriving SCRAM-SHA-256 keys from it with the stored salt and
//! iteration count and comparing `StoredKey` in constant time, so no password or password hash
//! other than the SCRAM keys is ever stored.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::scram::fake_credentials;
use super::{SaslFailure, ScramCredentials, ScramHash, StoredCredentials};

/// A parsed PLAIN message.
#[derive(Debug)]
pub(crate) struct ClientMessage {
    /// Authorization identity, `None` when empty.
    pub authzid: Option<String>,
    /// Authentication identity after SASLprep.
    pub username: String,
    /// The password as sent; wiped from memory when dropped.
    password: Zeroizing<String>,
}

/// Parses a PLAIN message. The caller has bounded its size.
pub(crate) fn parse(msg: &[u8]) -> Result<ClientMessage, SaslFailure> {
    // Exactly two NULs: a third would put a NUL inside the password, which RFC 4616 forbids.
    let mut parts = msg.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslFailure::MalformedRequest);
    };
    let (authzid, authcid) = (text(authzid)?, text(authcid)?);
    let password = Zeroizing::new(text(password)?.to_owned());
    if authcid.is_empty() || password.is_empty() {
        return Err(SaslFailure::MalformedRequest);
    }
    // RFC 4616 §2: the server prepares authcid with SASLprep; one it rejects cannot name a user.
    let username = match stringprep::saslprep(authcid) {
        Ok(prepped) if !prepped.is_empty() => prepped.into_owned(),
        _ => return Err(SaslFailure::MalformedRequest),
    };
    let authzid = (!authzid.is_empty()).then(|| authzid.to_owned());
    Ok(ClientMessage { authzid, username, password })
}

fn text(bytes: &[u8]) -> Result<&str, SaslFailure> {
    std::str::from_utf8(bytes).map_err(|_| SaslFailure::MalformedRequest)
}

/// True when the password matches `credentials`. For an unknown user the same derivation runs
/// against fake credentials, so the answer takes as long as for a known one.
pub(crate) fn verify(
    msg: &ClientMessage,
    credentials: Option<&StoredCredentials>,
    fake_iterations: u32,
) -> bool {
    let (stored, known) = match credentials {
        Some(c) => (c.sha256.clone(), true),
        None => (fake_credentials(ScramHash::Sha256, &msg.username, fake_iterations), false),
    };
    let offered =
        ScramCredentials::derive(ScramHash::Sha256, &msg.password, &stored.salt, stored.iterations);
    let matches: bool = offered.stored_key.ct_eq(&stored.stored_key).into();
    matches && known
}
