//! SCRAM server side (RFC 5802, RFC 7677) with channel binding (RFC 5929 `tls-server-end-point`,
//! RFC 9266 `tls-exporter`).
//!
//! ```text
//! C: gs2-header client-first-bare        n,,n=user,r=<cnonce>
//! S: server-first                        r=<cnonce><snonce>,s=<salt>,i=<iterations>
//! C: client-final                        c=<b64(gs2-header [+ cbind data])>,r=<nonce>,p=<proof>
//! S: server-final (in <success>)         v=<b64(ServerSignature)>
//! ```
//!
//! `AuthMessage = client-first-bare "," server-first "," client-final-without-proof`;
//! the client proves `ClientKey` with `ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage)`
//! and the server proves `ServerKey` with `ServerSignature = HMAC(ServerKey, AuthMessage)`.
//!
//! Parsing is strict: attributes in the RFC's order, `m=` (mandatory extensions) refused,
//! unknown optional extensions ignored as RFC 5802 §7 asks, but a defined attribute name out of
//! place is refused.

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use rand::RngCore;
use subtle::ConstantTimeEq;

use super::{ChannelBinding, SaslFailure, ScramCredentials, ScramHash, MAX_MESSAGE_BYTES};

/// Random bytes in a server nonce part (RFC 5802 only asks for "sufficiently random"; 24 bytes
/// give 32 base64 characters).
const SERVER_NONCE_BYTES: usize = 24;

/// Attribute names RFC 5802 defines; as "extensions" they are out of place.
const DEFINED_ATTRIBUTES: &[u8] = b"acemnprsv";

/// Channel binding types this server implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CbType {
    /// RFC 9266.
    TlsExporter,
    /// RFC 5929 §4.
    TlsServerEndPoint,
}

/// The GS2 channel binding flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CbindFlag {
    /// `n`: the client does not support channel binding.
    No,
    /// `y`: the client supports it but thinks the server does not.
    ClientSupports,
    /// `p=<type>`: the client binds to this type.
    Binding(CbType),
}

/// A parsed client-first message.
#[derive(Debug)]
pub(crate) struct ClientFirst {
    /// The bytes that `c=` must carry: the GS2 header, then the channel binding data when the
    /// client binds.
    expected_cbind_input: Vec<u8>,
    /// Authorization identity from `a=`, decoded.
    pub authzid: Option<String>,
    /// Username from `n=`, decoded and SASLprepped.
    pub username: String,
    /// `client-first-message-bare`, the first part of `AuthMessage`.
    bare: String,
    /// The client's nonce part.
    client_nonce: String,
}

/// State between server-first and client-final.
#[derive(Debug)]
pub(crate) struct AwaitFinal {
    hash: ScramHash,
    expected_cbind_input: Vec<u8>,
    username: String,
    /// `client-first-message-bare "," server-first-message ","`: the `AuthMessage` prefix.
    auth_message_prefix: String,
    /// `client nonce || server nonce`, which `r=` must repeat.
    nonce: String,
    credentials: ScramCredentials,
    /// False for an unknown user: the exchange fails at the end whatever the proof.
    known_user: bool,
}

/// True for a valid nonce: non-empty `printable` of RFC 5802 §7 (`%x21-2B / %x2D-7E`).
pub(crate) fn is_valid_nonce(nonce: &str) -> bool {
    !nonce.is_empty() && nonce.bytes().all(|b| matches!(b, 0x21..=0x2B | 0x2D..=0x7E))
}

/// A fresh random server nonce part.
pub(crate) fn random_nonce() -> String {
    let mut bytes = [0u8; SERVER_NONCE_BYTES];
    // `thread_rng` is a CSPRNG seeded from the OS.
    rand::thread_rng().fill_bytes(&mut bytes);
    // Standard base64 uses only `A-Za-z0-9+/=`: printable and comma-free, as a nonce must be.
    BASE64.encode(bytes)
}

/// Parses a client-first message (the caller has bounded its size) and checks the channel
/// binding flag against the mechanism (`plus`) and the connection.
pub(crate) fn client_first(
    msg: &[u8],
    plus: bool,
    binding: &ChannelBinding,
) -> Result<ClientFirst, SaslFailure> {
    let msg = scram_text(msg)?;
    let (flag, rest) = msg.split_once(',').ok_or(SaslFailure::MalformedRequest)?;
    let (authz_field, bare) = rest.split_once(',').ok_or(SaslFailure::MalformedRequest)?;
    // The GS2 header is everything up to and including the second comma.
    let gs2_header_len = flag.len() + authz_field.len() + 2;
    let gs2_header = msg.get(..gs2_header_len).ok_or(SaslFailure::MalformedRequest)?;

    let flag = parse_cbind_flag(flag)?;
    let authzid = match authz_field {
        "" => None,
        field => Some(decode_saslname(attribute(field, b'a')?)?),
    };

    let mut fields = bare.split(',');
    let username_field = fields.next().ok_or(SaslFailure::MalformedRequest)?;
    // `m=` announces a mandatory extension we do not know: RFC 5802 §5.1 says fail.
    let username = decode_saslname(attribute(username_field, b'n')?)?;
    let username = match stringprep::saslprep(&username) {
        Ok(prepped) if !prepped.is_empty() => prepped.into_owned(),
        _ => return Err(SaslFailure::MalformedRequest),
    };
    let nonce_field = fields.next().ok_or(SaslFailure::MalformedRequest)?;
    let client_nonce = attribute(nonce_field, b'r')?;
    if !is_valid_nonce(client_nonce) {
        return Err(SaslFailure::MalformedRequest);
    }
    check_extensions(fields)?;

    // The flag is checked after the syntax, so a malformed message is always reported as such.
    let cbind_data: &[u8] = match (flag, plus) {
        (CbindFlag::Binding(_), false) => return Err(SaslFailure::MalformedRequest),
        (CbindFlag::No | CbindFlag::ClientSupports, true) => {
            return Err(SaslFailure::MalformedRequest)
        }
        // "y" while we offer -PLUS: someone removed -PLUS from the offer (RFC 5802 §6).
        (CbindFlag::ClientSupports, false) if binding.plus_offered => {
            return Err(SaslFailure::NotAuthorized)
        }
        (CbindFlag::No | CbindFlag::ClientSupports, false) => &[],
        (CbindFlag::Binding(cb_type), true) => {
            let data = match cb_type {
                CbType::TlsExporter => binding.tls_exporter.as_deref(),
                CbType::TlsServerEndPoint => binding.tls_server_end_point.as_deref(),
            };
            data.ok_or(SaslFailure::NotAuthorized)?
        }
    };
    let mut expected_cbind_input = Vec::with_capacity(gs2_header.len() + cbind_data.len());
    expected_cbind_input.extend_from_slice(gs2_header.as_bytes());
    expected_cbind_input.extend_from_slice(cbind_data);

    Ok(ClientFirst {
        expected_cbind_input,
        authzid,
        username,
        bare: bare.to_owned(),
        client_nonce: client_nonce.to_owned(),
    })
}

/// Builds the server-first message. `credentials` is `None` for an unknown user, who gets
/// deterministic fake ones so that repeated probes see the same salt.
pub(crate) fn server_first(
    first: ClientFirst,
    hash: ScramHash,
    credentials: Option<&ScramCredentials>,
    fake_iterations: u32,
    server_nonce: String,
) -> (AwaitFinal, Vec<u8>) {
    // Stored keys of the wrong length or a zero count are corrupt; such an account is treated
    // like an unknown one rather than sending the client values it must refuse.
    let usable = credentials.filter(|c| {
        c.iterations > 0
            && c.stored_key.len() == hash.output_len()
            && c.server_key.len() == hash.output_len()
    });
    let (credentials, known_user) = match usable {
        Some(c) => (c.clone(), true),
        None => (fake_credentials(hash, &first.username, fake_iterations), false),
    };
    let nonce = first.client_nonce + &server_nonce;
    let server_first =
        format!("r={nonce},s={},i={}", BASE64.encode(&credentials.salt), credentials.iterations);
    let auth_message_prefix = format!("{},{server_first},", first.bare);
    let next = AwaitFinal {
        hash,
        expected_cbind_input: first.expected_cbind_input,
        username: first.username,
        auth_message_prefix,
        nonce,
        credentials,
        known_user,
    };
    (next, server_first.into_bytes())
}

/// Checks a client-final message; on success gives the username and the server-final message.
pub(crate) fn client_final(st: AwaitFinal, msg: &[u8]) -> Result<(String, Vec<u8>), SaslFailure> {
    if msg.len() > MAX_MESSAGE_BYTES {
        return Err(SaslFailure::MalformedRequest);
    }
    let msg = scram_text(msg)?;
    // The proof is the last attribute; base64 has no commas, so the last comma ends the rest.
    let (without_proof, proof_field) = msg.rsplit_once(',').ok_or(SaslFailure::MalformedRequest)?;
    let proof = decode_base64(attribute(proof_field, b'p')?)?;
    let mut fields = without_proof.split(',');
    let cbind_field = fields.next().ok_or(SaslFailure::MalformedRequest)?;
    let cbind_input = decode_base64(attribute(cbind_field, b'c')?)?;
    let nonce_field = fields.next().ok_or(SaslFailure::MalformedRequest)?;
    let nonce = attribute(nonce_field, b'r')?;
    check_extensions(fields)?;

    if nonce != st.nonce {
        return Err(SaslFailure::NotAuthorized);
    }
    if !bool::from(cbind_input.ct_eq(&st.expected_cbind_input)) {
        return Err(SaslFailure::NotAuthorized);
    }
    if proof.len() != st.hash.output_len() {
        return Err(SaslFailure::NotAuthorized);
    }

    let auth_message = [st.auth_message_prefix.as_bytes(), without_proof.as_bytes()];
    let client_signature = st.hash.hmac(&st.credentials.stored_key, &auth_message);
    let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(p, s)| p ^ s).collect();
    let proof_ok: bool = st.hash.digest(&client_key).ct_eq(&st.credentials.stored_key).into();
    if !(proof_ok && st.known_user) {
        return Err(SaslFailure::NotAuthorized);
    }
    let server_signature = st.hash.hmac(&st.credentials.server_key, &auth_message);
    let server_final = format!("v={}", BASE64.encode(server_signature));
    Ok((st.username, server_final.into_bytes()))
}

/// Credentials for a user that does not exist. The salt is an HMAC of the username under a
/// per-process random secret: stable within the process (a probe twice sees the same salt, as
/// for a real user) but unpredictable, so it cannot be told apart from a real random salt.
/// The keys are random-looking values no password produces on purpose.
pub(crate) fn fake_credentials(
    hash: ScramHash,
    username: &str,
    iterations: u32,
) -> ScramCredentials {
    let secret = process_secret();
    let derive = |label: &[u8]| {
        ScramHash::Sha256.hmac(secret, &[label, hash.label(), b"\0", username.as_bytes()])
    };
    let mut salt = derive(b"meerkat fake salt ");
    salt.truncate(super::credentials::SALT_BYTES);
    let mut stored_key = derive(b"meerkat fake stored key ");
    stored_key.truncate(hash.output_len());
    let mut server_key = derive(b"meerkat fake server key ");
    server_key.truncate(hash.output_len());
    ScramCredentials { salt, iterations: iterations.max(1), stored_key, server_key }
}

/// A random secret made once per process for [`fake_credentials`].
fn process_secret() -> &'static [u8; 32] {
    static SECRET: OnceLock<[u8; 32]> = OnceLock::new();
    SECRET.get_or_init(|| {
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        secret
    })
}

/// A SCRAM message as text: UTF-8 with no NUL (no SCRAM attribute allows one).
fn scram_text(msg: &[u8]) -> Result<&str, SaslFailure> {
    if msg.contains(&0) {
        return Err(SaslFailure::MalformedRequest);
    }
    std::str::from_utf8(msg).map_err(|_| SaslFailure::MalformedRequest)
}

/// The value of `field` if it is attribute `name` (`name=value`).
fn attribute(field: &str, name: u8) -> Result<&str, SaslFailure> {
    match field.as_bytes() {
        [n, b'=', ..] if *n == name => field.get(2..).ok_or(SaslFailure::MalformedRequest),
        _ => Err(SaslFailure::MalformedRequest),
    }
}

/// Parses the GS2 channel binding flag: `n`, `y` or `p=<cb-name>`.
fn parse_cbind_flag(flag: &str) -> Result<CbindFlag, SaslFailure> {
    match flag {
        "n" => Ok(CbindFlag::No),
        "y" => Ok(CbindFlag::ClientSupports),
        _ => {
            let name = attribute(flag, b'p')?;
            // cb-name = 1*(ALPHA / DIGIT / "." / "-") (RFC 5802 §7).
            let well_formed = !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if !well_formed {
                return Err(SaslFailure::MalformedRequest);
            }
            match name {
                "tls-exporter" => Ok(CbindFlag::Binding(CbType::TlsExporter)),
                "tls-server-end-point" => Ok(CbindFlag::Binding(CbType::TlsServerEndPoint)),
                // A well-formed type we do not implement (`tls-unique`, say): the client asked
                // for a binding we cannot verify, so it cannot authenticate this way.
                _ => Err(SaslFailure::NotAuthorized),
            }
        }
    }
}

/// Decodes a `saslname` (RFC 5802 §7): non-empty, `=2C` for `,` and `=3D` for `=`, any other
/// `=` refused.
fn decode_saslname(value: &str) -> Result<String, SaslFailure> {
    if value.is_empty() {
        return Err(SaslFailure::MalformedRequest);
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(pos) = rest.find('=') {
        out.push_str(rest.get(..pos).ok_or(SaslFailure::MalformedRequest)?);
        let escape = rest.get(pos..pos + 3);
        match escape {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(SaslFailure::MalformedRequest),
        }
        rest = rest.get(pos + 3..).ok_or(SaslFailure::MalformedRequest)?;
    }
    out.push_str(rest);
    Ok(out)
}

/// Optional extensions (`ALPHA "=" 1*value-char`) are ignored, as RFC 5802 §7 asks, but must be
/// well formed and must not reuse a defined attribute name.
fn check_extensions<'a>(fields: impl Iterator<Item = &'a str>) -> Result<(), SaslFailure> {
    for field in fields {
        match field.as_bytes() {
            [name, b'=', _, ..]
                if name.is_ascii_alphabetic() && !DEFINED_ATTRIBUTES.contains(name) => {}
            _ => return Err(SaslFailure::MalformedRequest),
        }
    }
    Ok(())
}

/// Strict standard base64 (padding required, no stray bits).
fn decode_base64(value: &str) -> Result<Vec<u8>, SaslFailure> {
    BASE64.decode(value).map_err(|_| SaslFailure::MalformedRequest)
}
