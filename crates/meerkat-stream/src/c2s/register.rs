//! In-band registration before authentication (XEP-0077 §3.1): the decisions about one
//! `jabber:iq:register` request. Whether the account already exists, and creating it, are the
//! caller's (see [`super::Action::Register`]).

use meerkat_proto::error::{error_reply, StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_xml::Element;

pub use meerkat_proto::register::MAX_PASSWORD_BYTES;

/// Why an account could not be created (the answer to [`super::Action::Register`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The username is taken: `conflict`.
    #[error("account exists")]
    Conflict,
    /// Storage or key derivation failed: `internal-server-error`.
    #[error("account could not be stored")]
    Internal,
}

/// What to do with one registration request.
#[derive(Debug)]
pub(super) enum Decision {
    /// Answer with this IQ.
    Reply(Element),
    /// Answer with this IQ: an address not allowed to register tried to create an account
    /// (worth a warning in the log).
    Refused(Element),
    /// Create this account, then answer with [`answer`].
    Create {
        /// Normalised localpart.
        user: String,
        /// Password as sent.
        password: String,
    },
}

/// What the registration settings allow this connection.
#[derive(Debug, Clone, Copy)]
pub(super) struct Policy {
    /// `[modules.register] enabled`.
    pub enabled: bool,
    /// The peer's address may create accounts and the stream may (TLS is not still required).
    pub allowed: bool,
    /// Shortest password accepted.
    pub min_password_len: usize,
}

pub(super) use meerkat_proto::iq::result as iq_result;
use meerkat_proto::register::{field, form};

/// The error reply to `req`; an IQ of type `error` gets an empty result instead, because an
/// error is never answered with an error and this IQ must still end the client's wait.
fn reply_err(req: &Element, c: SEC) -> Element {
    error_reply(req, &StanzaError::new(c)).unwrap_or_else(|| iq_result(req, None))
}

/// Decides what a registration IQ on an unauthenticated stream gets.
pub(super) fn decide(req: &Element, policy: Policy) -> Decision {
    let err = |c| Decision::Reply(reply_err(req, c));
    if !policy.enabled {
        return err(SEC::ServiceUnavailable);
    }
    let Some(q) = req.get_child("query", ns::REGISTER) else { return err(SEC::BadRequest) };
    match req.attr("type") {
        Some("get") if !policy.allowed => err(SEC::NotAllowed),
        Some("get") => Decision::Reply(iq_result(req, Some(form()))),
        Some("set") if !policy.allowed => Decision::Refused(reply_err(req, SEC::NotAllowed)),
        Some("set") => {
            // Removing an account needs an authenticated stream (XEP-0077 §3.2).
            if q.has_child("remove", ns::REGISTER) {
                return err(SEC::NotAuthorized);
            }
            let (Some(user), Some(password)) = (field(q, "username"), field(q, "password")) else {
                return err(SEC::NotAcceptable);
            };
            let Some(user) = normalize_node(&user).filter(|u| !u.is_empty()) else {
                return err(SEC::JidMalformed);
            };
            if password.len() < policy.min_password_len.max(1)
                || password.len() > MAX_PASSWORD_BYTES
            {
                return err(SEC::NotAcceptable);
            }
            Decision::Create { user, password }
        }
        _ => err(SEC::BadRequest),
    }
}

/// The reply once the account was created, or not.
pub(super) fn answer(req: &Element, result: Result<(), RegisterError>) -> Element {
    match result {
        Ok(()) => iq_result(req, None),
        Err(RegisterError::Conflict) => reply_err(req, SEC::Conflict),
        Err(RegisterError::Internal) => reply_err(req, SEC::InternalServerError),
    }
}

/// Normalised localpart (RFC 7622 nodeprep), `None` when invalid.
pub(super) fn normalize_node(s: &str) -> Option<String> {
    meerkat_proto::jid::NodePart::new(s).ok().map(|p| p.as_str().to_owned())
}
