//! JID helpers on top of the `jid` crate (RFC 7622 normalisation and length limits).

use meerkat_proto::jid::{Jid, NodePart, ResourcePart};

/// Normalised localpart, `None` when invalid.
pub fn normalize_node(s: &str) -> Option<String> {
    NodePart::new(s).ok().map(|p| p.as_str().to_owned())
}

/// Normalised resourcepart, `None` when invalid.
pub fn normalize_resource(s: &str) -> Option<String> {
    ResourcePart::new(s).ok().map(|p| p.as_str().to_owned())
}

/// Parses and normalises a JID from the wire.
pub fn parse(s: &str) -> Option<Jid> {
    Jid::new(s).ok()
}

/// A parsed address split the way routing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    /// Localpart, if any.
    pub node: Option<String>,
    /// Domainpart.
    pub domain: String,
    /// Resourcepart, if any.
    pub resource: Option<String>,
}

impl Addr {
    /// Parses a JID string.
    pub fn parse(s: &str) -> Option<Addr> {
        let jid = parse(s)?;
        Some(Addr {
            node: jid.node().map(|n| n.as_str().to_owned()),
            domain: jid.domain().as_str().to_owned(),
            resource: jid.resource().map(|r| r.as_str().to_owned()),
        })
    }

    /// `node@domain` or `domain`.
    pub fn bare(&self) -> String {
        match &self.node {
            Some(n) => format!("{n}@{}", self.domain),
            None => self.domain.clone(),
        }
    }

    /// The full form.
    pub fn full(&self) -> String {
        match &self.resource {
            Some(r) => format!("{}/{r}", self.bare()),
            None => self.bare(),
        }
    }
}
