//! NATS subject names.
//!
//! - `mk.<cluster>.u.<h>`: one per online account; `<h>` is 16 lowercase hex digits of
//!   SipHash-2-4 of the normalised bare JID keyed by a key derived from the cluster secret.
//! - `mk.<cluster>.hb`: heartbeats (and graceful leaves) of every node.
//! - `mk.<cluster>.ctl`: reserved for cluster-wide control requests (admin commands).
//! - `mk.<cluster>.n.<h>`: reserved for requests to one node (`<h>` keyed hash of its name).
//! - `mk.<cluster>.b.<h>`: BOSH requests for the sessions of one node (`<h>` keyed hash of the
//!   node tag its BOSH sids end with, so any node can name it from a sid alone).
//!
//! Why SipHash rather than a truncated HMAC: the subject is computed for every routed stanza
//! that leaves the node, SipHash is a keyed PRF made for short inputs and costs tens of
//! nanoseconds where HMAC-SHA-256 costs about a microsecond; 64 bits are enough because the
//! name only has to hide the JID and spread accounts: a collision is harmless (the envelope
//! carries the full recipient JID and a node that does not hold it ignores the copy).
//! Keying means whoever reads the NATS server's subject list cannot test a guessed JID.

use crate::siphash::siphash24;

/// Longest cluster name accepted: a subject token of `[A-Za-z0-9_-]`.
pub const MAX_CLUSTER_NAME: usize = 32;

/// Whether `name` can be a cluster name (one NATS subject token, no wildcard or separator).
pub fn valid_cluster_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_CLUSTER_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The bare JID an account subject is computed from: the part before the first `/`, with the
/// domain part ASCII-lowercased. The caller passes JIDs the server already normalised
/// (nodeprep/nameprep); this makes `Alice@Example.com/x` and `Alice@example.com` agree anyway.
pub fn normalise_bare(jid: &str) -> String {
    let bare = jid.split_once('/').map_or(jid, |(b, _)| b);
    match bare.rsplit_once('@') {
        Some((local, domain)) => {
            let mut s = String::with_capacity(bare.len());
            s.push_str(local);
            s.push('@');
            s.push_str(&domain.to_ascii_lowercase());
            s
        }
        None => bare.to_ascii_lowercase(),
    }
}

/// Builds subject names for one cluster.
#[derive(Clone)]
pub struct Subjects {
    prefix: String,
    key: [u8; 16],
}

impl std::fmt::Debug for Subjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subjects").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl Subjects {
    /// `cluster` must satisfy [`valid_cluster_name`]; `key` comes from [`crate::Keys`].
    pub fn new(cluster: &str, key: [u8; 16]) -> Option<Self> {
        valid_cluster_name(cluster).then(|| Subjects { prefix: format!("mk.{cluster}"), key })
    }

    fn hashed(&self, kind: &str, data: &[u8]) -> String {
        let h = siphash24(&self.key, data);
        format!("{}.{kind}.{h:016x}", self.prefix)
    }

    /// Subject of the account `jid` (bare or full: the resource is ignored).
    pub fn account(&self, jid: &str) -> String {
        self.hashed("u", normalise_bare(jid).as_bytes())
    }

    /// Subject every node publishes its heartbeat on and listens to.
    pub fn heartbeat(&self) -> String {
        format!("{}.hb", self.prefix)
    }

    /// Cluster-wide control subject (reserved for admin requests).
    pub fn control(&self) -> String {
        format!("{}.ctl", self.prefix)
    }

    /// Control subject of one node (reserved for admin requests to that node).
    pub fn node(&self, node_name: &str) -> String {
        self.hashed("n", node_name.as_bytes())
    }

    /// Subject of the node whose tag is `tag` ([`node_tag`]) for BOSH requests. `tag` may come
    /// from a client: hashing keeps any bytes out of the subject's syntax.
    pub fn bosh(&self, tag: &str) -> String {
        self.hashed("b", tag.as_bytes())
    }
}

/// A node's tag: 8 hex digits of a hash of its name, appended to the ids it hands out
/// (Stream Management resumption ids, BOSH sids) so that another node knows whom they belong
/// to without asking. Unkeyed: the tag is public in those ids anyway. Two nodes of a cluster
/// share a tag with odds of about n^2 / 2^33 for n nodes.
pub fn node_tag(node_name: &str) -> String {
    format!("{:08x}", siphash24(&[7u8; 16], node_name.as_bytes()) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token_safe(subject: &str) -> bool {
        subject.split('.').all(|t| {
            !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
    }

    #[test]
    fn account_subject_is_token_safe_for_any_jid_bytes() {
        let s = Subjects::new("prod", [7; 16]).unwrap();
        for jid in [
            "alice@example.com",
            "a.b*c>d e\t\r\n@exa mple.com/res.with.dots",
            "\u{0}\u{7f}ü😀@x",
            "",
            "@",
            "/",
            ".*>",
        ] {
            let subj = s.account(jid);
            assert!(token_safe(&subj), "{subj:?}");
            assert!(subj.starts_with("mk.prod.u."));
            assert_eq!(subj.len(), "mk.prod.u.".len() + 16);
        }
        assert!(token_safe(&s.heartbeat()));
        assert!(token_safe(&s.node("node1@host name.*")));
        assert!(token_safe(&s.bosh("a.b*>")));
        assert_ne!(s.bosh(&node_tag("node1")), s.bosh(&node_tag("node2")));
        assert_eq!(node_tag("node1").len(), 8);
    }

    #[test]
    fn account_subject_is_stable_and_ignores_resource_and_domain_case() {
        let s = Subjects::new("c", [1; 16]).unwrap();
        let a = s.account("alice@example.com");
        assert_eq!(a, s.account("alice@example.com/phone"));
        assert_eq!(a, s.account("alice@EXAMPLE.com/Other/Slash"));
        assert_ne!(a, s.account("bob@example.com"));
        // The local part is not case-folded here (the server's nodeprep does that).
        assert_ne!(a, s.account("Alice@example.com"));
        // Stable across instances and releases: a fixed value.
        let fixed = Subjects::new("c", [0; 16]).unwrap();
        assert_eq!(
            fixed.account("alice@example.com"),
            format!("mk.c.u.{:016x}", siphash24(&[0; 16], b"alice@example.com"))
        );
        assert_eq!(fixed.account("x@y"), Subjects::new("c", [0; 16]).unwrap().account("x@y"));
    }

    #[test]
    fn account_subject_depends_on_the_key() {
        let a = Subjects::new("c", [1; 16]).unwrap();
        let b = Subjects::new("c", [2; 16]).unwrap();
        assert_ne!(a.account("alice@example.com"), b.account("alice@example.com"));
    }

    #[test]
    fn cluster_names_are_single_tokens() {
        assert!(Subjects::new("prod-1_a", [0; 16]).is_some());
        for bad in ["", "a.b", "a*", ">", "a b", &"x".repeat(33)] {
            assert!(Subjects::new(bad, [0; 16]).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn normalise() {
        assert_eq!(normalise_bare("a@B.c/r"), "a@b.c");
        assert_eq!(normalise_bare("B.c"), "b.c");
        assert_eq!(normalise_bare("a@b@C/r@x"), "a@b@c");
    }
}
