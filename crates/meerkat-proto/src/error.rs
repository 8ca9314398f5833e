//! Stream errors (RFC 6120 §4.9) and stanza errors (RFC 6120 §8.3).
//!
//! Every internal failure that reaches the wire is mapped to one of these at one boundary, so a
//! failure always looks the same to the peer.

use crate::ns;
use meerkat_xml::Element;

macro_rules! conditions {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $wire:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum $name { $($variant),* }

        impl $name {
            /// Element name on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),* }
            }

            /// Parses an element name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($wire => Some($name::$variant),)* _ => None }
            }
        }
    };
}

conditions!(
    /// Stream error conditions, RFC 6120 §4.9.3.
    StreamErrorCondition {
        BadFormat => "bad-format",
        BadNamespacePrefix => "bad-namespace-prefix",
        Conflict => "conflict",
        ConnectionTimeout => "connection-timeout",
        HostGone => "host-gone",
        HostUnknown => "host-unknown",
        ImproperAddressing => "improper-addressing",
        InternalServerError => "internal-server-error",
        InvalidFrom => "invalid-from",
        InvalidNamespace => "invalid-namespace",
        InvalidXml => "invalid-xml",
        NotAuthorized => "not-authorized",
        NotWellFormed => "not-well-formed",
        PolicyViolation => "policy-violation",
        RemoteConnectionFailed => "remote-connection-failed",
        Reset => "reset",
        ResourceConstraint => "resource-constraint",
        RestrictedXml => "restricted-xml",
        SeeOtherHost => "see-other-host",
        SystemShutdown => "system-shutdown",
        UndefinedCondition => "undefined-condition",
        UnsupportedEncoding => "unsupported-encoding",
        UnsupportedFeature => "unsupported-feature",
        UnsupportedStanzaType => "unsupported-stanza-type",
        UnsupportedVersion => "unsupported-version",
    }
);

conditions!(
    /// Stanza error conditions, RFC 6120 §8.3.3.
    StanzaErrorCondition {
        BadRequest => "bad-request",
        Conflict => "conflict",
        FeatureNotImplemented => "feature-not-implemented",
        Forbidden => "forbidden",
        Gone => "gone",
        InternalServerError => "internal-server-error",
        ItemNotFound => "item-not-found",
        JidMalformed => "jid-malformed",
        NotAcceptable => "not-acceptable",
        NotAllowed => "not-allowed",
        NotAuthorized => "not-authorized",
        PolicyViolation => "policy-violation",
        RecipientUnavailable => "recipient-unavailable",
        Redirect => "redirect",
        RegistrationRequired => "registration-required",
        RemoteServerNotFound => "remote-server-not-found",
        RemoteServerTimeout => "remote-server-timeout",
        ResourceConstraint => "resource-constraint",
        ServiceUnavailable => "service-unavailable",
        SubscriptionRequired => "subscription-required",
        UndefinedCondition => "undefined-condition",
        UnexpectedRequest => "unexpected-request",
    }
);

conditions!(
    /// Stanza error types, RFC 6120 §8.3.2.
    ErrorType {
        Auth => "auth",
        Cancel => "cancel",
        Continue => "continue",
        Modify => "modify",
        Wait => "wait",
    }
);

impl StanzaErrorCondition {
    /// The type RFC 6120 §8.3.3 gives as usual for this condition.
    pub fn default_type(self) -> ErrorType {
        use StanzaErrorCondition::*;
        match self {
            BadRequest | JidMalformed | NotAcceptable | PolicyViolation | Redirect => {
                ErrorType::Modify
            }
            Forbidden | NotAuthorized | RegistrationRequired | SubscriptionRequired => {
                ErrorType::Auth
            }
            ResourceConstraint | RecipientUnavailable | RemoteServerTimeout | UnexpectedRequest => {
                ErrorType::Wait
            }
            _ => ErrorType::Cancel,
        }
    }
}

/// A stream-level error: sent as `<stream:error>`, then the stream is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    /// The defined condition.
    pub condition: StreamErrorCondition,
    /// Optional human-readable text.
    pub text: Option<String>,
}

impl StreamError {
    /// An error with no text.
    pub fn new(condition: StreamErrorCondition) -> Self {
        StreamError { condition, text: None }
    }

    /// An error with descriptive text.
    pub fn with_text(condition: StreamErrorCondition, text: impl Into<String>) -> Self {
        StreamError { condition, text: Some(text.into()) }
    }

    /// `<stream:error><condition xmlns='...streams'/><text/></stream:error>`.
    pub fn to_element(&self) -> Element {
        let mut el = Element::new("error", ns::STREAM)
            .with_child(Element::new(self.condition.as_str(), ns::STREAMS));
        if let Some(text) = &self.text {
            el = el.with_child(Element::new("text", ns::STREAMS).with_text(text.clone()));
        }
        el
    }
}

/// A stanza-level error: the stanza is bounced to its sender with `type='error'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaError {
    /// `type` attribute of `<error/>`.
    pub error_type: ErrorType,
    /// The defined condition.
    pub condition: StanzaErrorCondition,
    /// Optional human-readable text.
    pub text: Option<String>,
}

impl StanzaError {
    /// An error with the condition's usual type and no text.
    pub fn new(condition: StanzaErrorCondition) -> Self {
        StanzaError { error_type: condition.default_type(), condition, text: None }
    }

    /// Adds descriptive text.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Overrides the error type.
    pub fn with_type(mut self, error_type: ErrorType) -> Self {
        self.error_type = error_type;
        self
    }

    /// `<error type='...'><condition xmlns='...stanzas'/><text/></error>` in `stanza_ns`.
    pub fn to_element(&self, stanza_ns: &str) -> Element {
        let mut el = Element::new("error", stanza_ns)
            .with_attr("type", self.error_type.as_str())
            .with_child(Element::new(self.condition.as_str(), ns::STANZAS));
        if let Some(text) = &self.text {
            el = el.with_child(Element::new("text", ns::STANZAS).with_text(text.clone()));
        }
        el
    }

    /// Reads the error of a stanza of type `error`.
    pub fn from_stanza(stanza: &Element) -> Option<Self> {
        let err = stanza.children().find(|e| e.name == "error")?;
        let error_type = err.attr("type").and_then(ErrorType::from_name)?;
        let condition = err
            .children()
            .filter(|c| c.ns == ns::STANZAS)
            .find_map(|c| StanzaErrorCondition::from_name(&c.name))?;
        let text = err.get_child("text", ns::STANZAS).map(|t| t.text());
        Some(StanzaError { error_type, condition, text })
    }
}

/// The error reply to `stanza` (RFC 6120 §8.3.1): `from` and `to` swapped, `type='error'`, the
/// original payload kept for messages and presences (IQ replies keep none, to stay small), and
/// the `<error/>` appended. `None` when `stanza` is itself an error, which must never be
/// answered with another error.
pub fn error_reply(stanza: &Element, error: &StanzaError) -> Option<Element> {
    if stanza.attr("type") == Some("error") {
        return None;
    }
    let mut reply = Element::new(stanza.name.clone(), stanza.ns.clone());
    if let Some(id) = stanza.attr("id") {
        reply.set_attr("id", id);
    }
    if let Some(to) = stanza.attr("to") {
        reply.set_attr("from", to);
    }
    if let Some(from) = stanza.attr("from") {
        reply.set_attr("to", from);
    }
    reply.set_attr("type", "error");
    if stanza.name != "iq" {
        reply.children = stanza.children.clone();
    }
    reply.children.push(meerkat_xml::Node::Element(error.to_element(&stanza.ns)));
    Some(reply)
}
