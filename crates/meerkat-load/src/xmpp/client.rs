//! Client-side negotiation: stream, STARTTLS, SASL, resource binding (RFC 6120), initial
//! presence (RFC 6121 §4.2), and in-band registration (XEP-0077).
//!
//! Sequence of a login:
//! 1. stream header to the domain, `<stream:features/>`;
//! 2. with STARTTLS: `<starttls/>`, `<proceed/>`, TLS handshake, stream restart, features;
//! 3. SASL (PLAIN or SCRAM-SHA-1/-256 with cached keys), `<success/>`, stream restart;
//! 4. `<bind/>`, the legacy `<session/>` only when the server marks it mandatory;
//! 5. `<presence/>`.
//!
//! Only what every server of the test matrix (Meerkat, ejabberd, Prosody) needs is done.

use super::keycache::KeyCache;
use super::scram::{derive_keys, ScramClient, ScramError, ScramHash};
use super::stream::{escape, StreamError, XmppStream};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use meerkat_xml::{Element, NS_STREAM};
use std::sync::Arc;

const NS_TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
const NS_SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
const NS_REGISTER: &str = "jabber:iq:register";
const NS_CLIENT: &str = "jabber:client";

/// SASL mechanism choice.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
pub enum AuthMech {
    /// SASL PLAIN (cheapest for the server when it stores plain passwords, not for Meerkat).
    Plain,
    /// SCRAM-SHA-1.
    ScramSha1,
    /// SCRAM-SHA-256.
    ScramSha256,
    /// The strongest of SCRAM-SHA-256, SCRAM-SHA-1, PLAIN that the server offers.
    Auto,
}

/// Settings shared by every connection of a run.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// XMPP domain (the `to` of the stream header and the domain part of JIDs).
    pub domain: String,
    /// Negotiate STARTTLS; the login fails if the server does not offer it.
    pub starttls: bool,
    /// SASL mechanism.
    pub mech: AuthMech,
    /// Resource to bind.
    pub resource: String,
}

/// Everything a connection needs to log in: settings, TLS connector, SCRAM key cache.
pub struct ClientCtx {
    /// Settings.
    pub cfg: ClientConfig,
    /// TLS connector, present when `cfg.starttls`.
    pub tls: Option<tokio_rustls::TlsConnector>,
    /// SCRAM keys per user and salt.
    pub keys: KeyCache,
}

/// Why a login or registration failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Transport or XML error.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The server answered something unexpected.
    #[error("protocol: {0}")]
    Protocol(String),
    /// SASL `<failure/>`, with its condition.
    #[error("authentication failed: {0}")]
    AuthFailed(String),
    /// SCRAM exchange failed on our side.
    #[error("scram: {0}")]
    Scram(#[from] ScramError),
    /// Registration refused, with its stanza error condition.
    #[error("registration refused: {0}")]
    Register(String),
}

/// Result of an in-band registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// The account was created.
    Created,
    /// The account already existed (`<conflict/>`).
    AlreadyExists,
}

fn protocol(what: &str, el: &Element) -> ClientError {
    // A stream error names its condition: the one fact a failed run needs.
    let detail = if el.is("error", NS_STREAM) {
        format!(" ({})", condition(el, "urn:ietf:params:xml:ns:xmpp-streams"))
    } else {
        String::new()
    };
    ClientError::Protocol(format!("{what}: got <{} xmlns='{}'>{detail}", el.name, el.ns))
}

/// First child element's name, e.g. the condition inside `<failure/>` or `<error/>`.
fn condition(el: &Element, ns: &str) -> String {
    el.children().find(|c| c.ns == ns).map_or_else(|| "unknown".to_owned(), |c| c.name.clone())
}

/// Opens a stream (after a restart or initially) and returns its features.
async fn open_stream(s: &mut XmppStream, domain: &str) -> Result<Element, ClientError> {
    s.open(domain).await?;
    let features = s.next_stanza().await?;
    if !features.is("features", NS_STREAM) {
        return Err(protocol("expected stream features", &features));
    }
    Ok(features)
}

/// Opens the stream and negotiates STARTTLS when configured; returns the features to go on with.
pub async fn negotiate_transport(
    ctx: &ClientCtx,
    s: &mut XmppStream,
) -> Result<Element, ClientError> {
    let domain = &ctx.cfg.domain;
    let features = open_stream(s, domain).await?;
    let Some(connector) = ctx.tls.as_ref().filter(|_| ctx.cfg.starttls) else {
        return Ok(features);
    };
    if !features.has_child("starttls", NS_TLS) {
        return Err(ClientError::Protocol("server does not offer STARTTLS".into()));
    }
    s.send_raw(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>").await?;
    let reply = s.next_stanza().await?;
    if !reply.is("proceed", NS_TLS) {
        return Err(protocol("STARTTLS refused", &reply));
    }
    s.start_tls(connector, domain).await?;
    open_stream(s, domain).await
}

/// Registers `user` with `password` (XEP-0077 §3.1) on a fresh connection; `conflict` means the
/// account exists, which a load run counts as success.
pub async fn register(
    ctx: &ClientCtx,
    s: &mut XmppStream,
    user: &str,
    password: &str,
) -> Result<Registered, ClientError> {
    negotiate_transport(ctx, s).await?;
    let iq = format!(
        "<iq type='set' id='reg1'><query xmlns='{NS_REGISTER}'><username>{}</username>\
         <password>{}</password></query></iq>",
        escape(user),
        escape(password)
    );
    s.send_raw(iq.as_bytes()).await?;
    loop {
        let reply = s.next_stanza().await?;
        if !reply.is("iq", NS_CLIENT) || reply.attr("id") != Some("reg1") {
            continue;
        }
        return match reply.attr("type") {
            Some("result") => Ok(Registered::Created),
            Some("error") => {
                let cond = reply
                    .get_child("error", NS_CLIENT)
                    .map_or_else(|| "unknown".to_owned(), |e| condition(e, NS_STANZAS));
                if cond == "conflict" {
                    Ok(Registered::AlreadyExists)
                } else {
                    Err(ClientError::Register(cond))
                }
            }
            _ => Err(protocol("registration reply", &reply)),
        };
    }
}

/// Logs `user` in: transport, SASL, bind, session if mandatory, initial presence.
pub async fn login(
    ctx: &ClientCtx,
    s: &mut XmppStream,
    user: &str,
    password: &str,
) -> Result<(), ClientError> {
    let features = negotiate_transport(ctx, s).await?;
    let offered: Vec<String> = features
        .get_child("mechanisms", NS_SASL)
        .map(|m| m.children().filter(|c| c.name == "mechanism").map(|c| c.text()).collect())
        .unwrap_or_default();
    let has = |name: &str| offered.iter().any(|m| m == name);
    let mech = match ctx.cfg.mech {
        AuthMech::Auto if has("SCRAM-SHA-256") => AuthMech::ScramSha256,
        AuthMech::Auto if has("SCRAM-SHA-1") => AuthMech::ScramSha1,
        AuthMech::Auto => AuthMech::Plain,
        m => m,
    };
    match mech {
        AuthMech::ScramSha256 => scram(ctx, s, ScramHash::Sha256, user, password).await?,
        AuthMech::ScramSha1 => scram(ctx, s, ScramHash::Sha1, user, password).await?,
        AuthMech::Plain | AuthMech::Auto => plain(s, user, password).await?,
    }
    let features = open_stream(s, &ctx.cfg.domain).await?;
    if !features.has_child("bind", NS_BIND) {
        return Err(ClientError::Protocol("server does not offer resource binding".into()));
    }
    let bind = format!(
        "<iq type='set' id='bind1'><bind xmlns='{NS_BIND}'><resource>{}</resource></bind></iq>",
        escape(&ctx.cfg.resource)
    );
    s.send_raw(bind.as_bytes()).await?;
    expect_result(s, "bind1").await?;
    // RFC 3921 sessions: only servers that still require them (no <optional/>) get one.
    if let Some(sess) = features.get_child("session", NS_SESSION) {
        if !sess.has_child("optional", NS_SESSION) {
            s.send_raw(b"<iq type='set' id='sess1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
                .await?;
            expect_result(s, "sess1").await?;
        }
    }
    s.send_raw(b"<presence/>").await?;
    Ok(())
}

async fn expect_result(s: &mut XmppStream, id: &str) -> Result<(), ClientError> {
    loop {
        let reply = s.next_stanza().await?;
        if !reply.is("iq", NS_CLIENT) || reply.attr("id") != Some(id) {
            continue;
        }
        return match reply.attr("type") {
            Some("result") => Ok(()),
            _ => Err(protocol(&format!("iq {id} failed"), &reply)),
        };
    }
}

async fn plain(s: &mut XmppStream, user: &str, password: &str) -> Result<(), ClientError> {
    let creds = B64.encode(format!("\0{user}\0{password}"));
    let auth = format!("<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{creds}</auth>");
    s.send_raw(auth.as_bytes()).await?;
    let reply = s.next_stanza().await?;
    match reply.name.as_str() {
        "success" if reply.ns == NS_SASL => Ok(()),
        "failure" if reply.ns == NS_SASL => {
            Err(ClientError::AuthFailed(condition(&reply, NS_SASL)))
        }
        _ => Err(protocol("SASL PLAIN reply", &reply)),
    }
}

fn sasl_payload(el: &Element) -> Result<String, ClientError> {
    let text = el.text();
    let text = text.trim();
    if text.is_empty() || text == "=" {
        return Ok(String::new());
    }
    let bytes = B64.decode(text).map_err(|_| ClientError::Protocol("bad base64 in SASL".into()))?;
    String::from_utf8(bytes).map_err(|_| ClientError::Protocol("SASL payload not UTF-8".into()))
}

async fn scram(
    ctx: &ClientCtx,
    s: &mut XmppStream,
    hash: ScramHash,
    user: &str,
    password: &str,
) -> Result<(), ClientError> {
    let mut client = ScramClient::new(hash, user);
    let auth = format!(
        "<auth xmlns='{NS_SASL}' mechanism='{}'>{}</auth>",
        hash.mechanism(),
        B64.encode(client.client_first())
    );
    s.send_raw(auth.as_bytes()).await?;
    let challenge = s.next_stanza().await?;
    if challenge.is("failure", NS_SASL) {
        return Err(ClientError::AuthFailed(condition(&challenge, NS_SASL)));
    }
    if !challenge.is("challenge", NS_SASL) {
        return Err(protocol("SCRAM challenge", &challenge));
    }
    let server_first = sasl_payload(&challenge)?;
    let first = client.parse_server_first(&server_first)?;
    let keys = match ctx.keys.get(hash, user, &first.salt, first.iterations) {
        Some(k) => k,
        None => {
            // PBKDF2 is CPU-bound for milliseconds: keep it off the I/O threads.
            let (pw, salt, it) = (password.to_owned(), first.salt.clone(), first.iterations);
            let keys =
                tokio::task::spawn_blocking(move || derive_keys(hash, pw.as_bytes(), &salt, it))
                    .await
                    .map_err(|e| ClientError::Protocol(format!("key derivation task: {e}")))?;
            let keys = Arc::new(keys);
            ctx.keys.insert(hash, user, &first.salt, first.iterations, keys.clone());
            keys
        }
    };
    let fin = client.client_final(&server_first, &first, &keys);
    let resp = format!("<response xmlns='{NS_SASL}'>{}</response>", B64.encode(fin));
    s.send_raw(resp.as_bytes()).await?;
    let mut reply = s.next_stanza().await?;
    if reply.is("challenge", NS_SASL) {
        // Servers that send the verifier as a challenge expect an empty response (RFC 6120
        // §6.3.10 allows both forms).
        client.verify_server_final(&sasl_payload(&reply)?)?;
        s.send_raw(format!("<response xmlns='{NS_SASL}'/>").as_bytes()).await?;
        reply = s.next_stanza().await?;
        if reply.is("success", NS_SASL) {
            return Ok(());
        }
    }
    if reply.is("failure", NS_SASL) {
        return Err(ClientError::AuthFailed(condition(&reply, NS_SASL)));
    }
    if !reply.is("success", NS_SASL) {
        return Err(protocol("SCRAM outcome", &reply));
    }
    client.verify_server_final(&sasl_payload(&reply)?)?;
    Ok(())
}
