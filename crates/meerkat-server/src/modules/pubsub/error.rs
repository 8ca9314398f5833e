//! Pubsub errors and their wire form (XEP-0060: a stanza error plus, often, an
//! application-specific condition in `http://jabber.org/protocol/pubsub#errors`).

use meerkat_proto::error::{error_reply, ErrorType, StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_xml::{Element, Node};

/// A failed pubsub request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PubsubError {
    /// The stanza error.
    pub error: StanzaError,
    /// The pubsub#errors condition element name, if any.
    pub app: Option<&'static str>,
    /// `feature` attribute of `<unsupported/>`.
    pub feature: Option<&'static str>,
}

impl PubsubError {
    /// A plain stanza error.
    pub fn new(cond: SEC) -> Self {
        PubsubError { error: StanzaError::new(cond), app: None, feature: None }
    }

    /// A stanza error with a pubsub#errors condition.
    pub fn app(cond: SEC, app: &'static str) -> Self {
        PubsubError { error: StanzaError::new(cond), app: Some(app), feature: None }
    }

    /// With human-readable text.
    pub fn text(mut self, text: &str) -> Self {
        self.error = self.error.with_text(text);
        self
    }

    /// With an error type other than the condition's usual one.
    pub fn typ(mut self, t: ErrorType) -> Self {
        self.error = self.error.with_type(t);
        self
    }

    /// `feature-not-implemented` with `<unsupported feature='...'/>`.
    pub fn unsupported(feature: &'static str) -> Self {
        PubsubError {
            error: StanzaError::new(SEC::FeatureNotImplemented),
            app: Some("unsupported"),
            feature: Some(feature),
        }
    }

    /// `item-not-found`.
    pub fn not_found() -> Self {
        Self::new(SEC::ItemNotFound)
    }

    /// `conflict` with `precondition-not-met` (XEP-0060 §7.1.5).
    pub fn precondition(what: &str) -> Self {
        Self::app(SEC::Conflict, "precondition-not-met")
            .text(&format!("publish option {what} does not match the node configuration"))
    }

    /// `internal-server-error` after a storage failure (logged by the caller).
    pub fn internal() -> Self {
        Self::new(SEC::InternalServerError)
    }

    /// The error reply to `req`.
    pub fn reply(&self, req: &Element) -> Option<Element> {
        let mut reply = error_reply(req, &self.error)?;
        if let Some(app) = self.app {
            let mut el = Element::new(app, ns::PUBSUB_ERRORS);
            if let Some(f) = self.feature {
                el.set_attr("feature", f);
            }
            if let Some(Node::Element(err)) = reply.children.last_mut() {
                // The application condition comes after the defined condition and text.
                err.children.push(Node::Element(el));
            }
        }
        Some(reply)
    }
}

impl From<meerkat_storage::StorageError> for PubsubError {
    fn from(e: meerkat_storage::StorageError) -> Self {
        tracing::error!(what = "pubsub_storage_failed", error = %e);
        PubsubError::internal()
    }
}
