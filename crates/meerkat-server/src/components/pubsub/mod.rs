//! The Publish-Subscribe service (XEP-0060) at `pubsub.<host>`, on the pubsub core PEP uses
//! (`modules::pubsub`: configuration forms, access models, items, errors) and its storage,
//! plus explicit subscriptions and affiliations ([`meerkat_storage::PubsubMemberStore`]).
//!
//! # Layout
//! - this file: the service's state, routing of stanzas, who the requester is to a node
//!   ([`Member`]), access checks, and service discovery (XEP-0060 §5).
//! - [`actions`]: the `pubsub` namespace: create (instant nodes too), publish, retract,
//!   subscribe, unsubscribe, items, and the requester's own subscriptions and affiliations.
//! - [`owner`]: the `pubsub#owner` namespace: configure, default, delete, purge, and the
//!   node's subscriptions and affiliations.
//! - [`notify`]: event notifications to subscribers.
//!
//! # State and clusters
//! Every request reads the node from storage (no node cache here, unlike PEP): on PostgreSQL
//! all nodes of a cluster see one service, and a configuration changed through one node holds
//! at once on the others. Notifications are routed with `router::route` from the service's
//! JID, so they reach subscribers on any node.
//!
//! # Who may do what
//! - Creating nodes: accounts of the served hosts; the creator becomes the node's owner.
//! - Publishing and retracting: owners and publishers. Configuring, deleting, purging and
//!   managing subscriptions and affiliations: owners.
//! - Subscribing and retrieving items: decided by the access model (open; presence or roster:
//!   from the owners' rosters; whitelist: owners, publishers and members). Outcasts never.
//!
//! Not implemented: the `authorize` access model (pending subscriptions), subscription
//! options, collections, auto-create on publish, item expiry, remote (s2s) subscribers.

pub mod actions;
pub mod notify;
pub mod owner;

use crate::addr::Addr;
use crate::modules::iq;
use crate::modules::pubsub::access::{self, Relation};
use crate::modules::pubsub::config::{AccessModel, Limits, NodeConfig, SendLast};
use crate::modules::pubsub::error::PubsubError;
use crate::modules::pubsub::PubsubCore;
use crate::server::ServerRef;
use meerkat_config::{Config, PubsubServiceModule};
use meerkat_proto::error::StanzaErrorCondition as SEC;
use meerkat_proto::ns;
use meerkat_storage::Subscription;
use meerkat_xml::Element;

/// Features of the service (each one implemented).
pub const FEATURES: &[&str] = &[
    "http://jabber.org/protocol/pubsub",
    "http://jabber.org/protocol/pubsub#access-open",
    "http://jabber.org/protocol/pubsub#access-presence",
    "http://jabber.org/protocol/pubsub#access-roster",
    "http://jabber.org/protocol/pubsub#access-whitelist",
    "http://jabber.org/protocol/pubsub#config-node",
    "http://jabber.org/protocol/pubsub#create-and-configure",
    "http://jabber.org/protocol/pubsub#create-nodes",
    "http://jabber.org/protocol/pubsub#delete-items",
    "http://jabber.org/protocol/pubsub#delete-nodes",
    "http://jabber.org/protocol/pubsub#instant-nodes",
    "http://jabber.org/protocol/pubsub#item-ids",
    "http://jabber.org/protocol/pubsub#manage-subscriptions",
    "http://jabber.org/protocol/pubsub#modify-affiliations",
    "http://jabber.org/protocol/pubsub#persistent-items",
    "http://jabber.org/protocol/pubsub#publish",
    "http://jabber.org/protocol/pubsub#publish-options",
    "http://jabber.org/protocol/pubsub#purge-nodes",
    "http://jabber.org/protocol/pubsub#retract-items",
    "http://jabber.org/protocol/pubsub#retrieve-affiliations",
    "http://jabber.org/protocol/pubsub#retrieve-default",
    "http://jabber.org/protocol/pubsub#retrieve-items",
    "http://jabber.org/protocol/pubsub#retrieve-subscriptions",
    "http://jabber.org/protocol/pubsub#subscribe",
];

/// The pubsub service of this node (one state for every served host's `pubsub.<host>`).
pub struct Service {
    /// The section, as configured.
    pub config: PubsubServiceModule,
    /// The shared core, for its bounds and item retrieval (its node cache is not used).
    pub core: PubsubCore,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("pubsub::Service").field("config", &self.config).finish()
    }
}

impl Service {
    /// The service the configuration enables, or `None`.
    pub fn new(config: &Config) -> Option<Service> {
        let c = &config.modules.pubsub_service;
        if !c.enabled {
            return None;
        }
        let limits = Limits {
            max_nodes: c.max_nodes,
            max_items: c.max_items_per_node,
            max_item_bytes: c.max_item_bytes,
        };
        Some(Service { config: c.clone(), core: PubsubCore::new(limits, 1) })
    }

    /// The configuration of a new node: open access, `default_max_items` items, no last item
    /// on subscription (XEP-0060's defaults for a generic service).
    pub fn default_config(&self) -> NodeConfig {
        NodeConfig {
            access_model: AccessModel::Open,
            max_items: self.config.default_max_items,
            send_last: SendLast::Never,
            ..NodeConfig::pep_default()
        }
    }
}

/// A node as read from storage, with its affiliations.
pub struct LoadedNode {
    /// Configuration.
    pub config: NodeConfig,
    /// `(bare JID, affiliation)` pairs.
    pub affiliations: Vec<(String, String)>,
}

impl LoadedNode {
    /// `bare`'s affiliation (`none` when it has none).
    pub fn affiliation(&self, bare: &str) -> &str {
        self.affiliations.iter().find(|(j, _)| j == bare).map_or("none", |(_, a)| a.as_str())
    }

    /// The owners' bare JIDs.
    pub fn owners(&self) -> impl Iterator<Item = &str> {
        self.affiliations.iter().filter(|(_, a)| a == "owner").map(|(j, _)| j.as_str())
    }
}

/// The requester of one IQ.
pub struct Member {
    /// Bare JID.
    pub bare: String,
    /// Full JID as sent (the `from`).
    pub full: String,
    /// True for an account of a served host.
    pub local: bool,
}

/// Reads a node and its affiliations; `item-not-found` when absent.
pub async fn load_node(
    server: &ServerRef,
    service: &Service,
    domain: &str,
    node: &str,
) -> Result<LoadedNode, PubsubError> {
    let stored = server.storage.pubsub.get_node(domain, node).await?;
    let Some(stored) = stored else { return Err(PubsubError::not_found()) };
    let affiliations = server.storage.pubsub_members.node_affiliations(domain, node).await?;
    Ok(LoadedNode {
        config: NodeConfig::from_pairs(&stored.config, &service.core.limits),
        affiliations,
    })
}

/// May `who` subscribe to and read the node? Outcasts never; owners, publishers and members
/// always (they are the whitelist); others as the access model says, from the owners' rosters.
pub async fn check_access(
    server: &ServerRef,
    node: &LoadedNode,
    who: &Member,
) -> Result<(), PubsubError> {
    match node.affiliation(&who.bare) {
        "outcast" => return Err(PubsubError::new(SEC::Forbidden)),
        "owner" | "publisher" | "member" => return Ok(()),
        _ => {}
    }
    if matches!(node.config.access_model, AccessModel::Presence | AccessModel::Roster) {
        // Allowed when any owner's roster allows it.
        let mut first_err = None;
        for owner in node.owners() {
            let relation = roster_relation(server, owner, &who.bare).await;
            match access::check(&node.config, &relation) {
                Ok(()) => return Ok(()),
                Err(e) => first_err = first_err.or(Some(e)),
            }
        }
        return Err(first_err.unwrap_or_else(|| access_denied(&node.config)));
    }
    access::check(&node.config, &Relation::default())
}

/// The `pubsub#access_model` value of a configuration (as its stored form spells it).
fn access_model_name(config: &NodeConfig) -> String {
    config
        .to_pairs()
        .into_iter()
        .find(|(k, _)| k == "pubsub#access_model")
        .map(|(_, v)| v)
        .unwrap_or_default()
}

fn access_denied(config: &NodeConfig) -> PubsubError {
    access::check(config, &Relation::default())
        .err()
        .unwrap_or_else(|| PubsubError::new(SEC::Forbidden))
}

/// How `requester` appears in the roster of local account `owner` (both bare JIDs).
async fn roster_relation(server: &ServerRef, owner: &str, requester: &str) -> Relation {
    let Some(o) = Addr::parse(owner) else { return Relation::default() };
    let (Some(node), true) = (o.node.as_deref(), server.serves(&o.domain)) else {
        return Relation::default();
    };
    match server.storage.roster.get_item(&o.domain, node, requester).await {
        Ok(Some(i)) => Relation {
            owner: false,
            subscribed: matches!(i.subscription, Subscription::From | Subscription::Both),
            groups: i.groups,
        },
        Ok(None) => Relation::default(),
        Err(e) => {
            tracing::error!(what = "roster_read_failed", error = %e);
            Relation::default()
        }
    }
}

/// Handles a stanza addressed to the pubsub service.
pub async fn route(server: &ServerRef, stanza: Element, to: Addr) {
    if stanza.name != "iq" {
        if stanza.name == "message" && stanza.attr("type") != Some("error") {
            crate::router::bounce(
                server,
                &stanza,
                meerkat_proto::error::StanzaError::new(SEC::ServiceUnavailable),
            )
            .await;
        }
        return;
    }
    if !iq::is_request(&stanza) {
        return;
    }
    let reply = match server.components.pubsub() {
        Some(service) if to.node.is_none() && to.resource.is_none() => {
            answer(server, service, &to.domain, &stanza).await
        }
        _ => PubsubError::new(SEC::ServiceUnavailable).reply(&stanza),
    };
    if let Some(reply) = reply {
        crate::router::route(server, reply).await;
    }
}

async fn answer(
    server: &ServerRef,
    service: &Service,
    domain: &str,
    req: &Element,
) -> Option<Element> {
    let Some(from) = req.attr("from").and_then(Addr::parse) else {
        return PubsubError::new(SEC::BadRequest).reply(req);
    };
    let who = Member {
        bare: from.bare(),
        full: from.full(),
        local: from.node.is_some() && server.serves(&from.domain),
    };
    let payload = iq::payload(req)?;
    let set = req.attr("type") == Some("set");
    let r = match payload.ns.as_str() {
        ns::PUBSUB => actions::handle(server, service, domain, &who, payload, set).await,
        ns::PUBSUB_OWNER => owner::handle(server, service, domain, &who, payload, set).await,
        ns::DISCO_INFO if !set => disco_info(server, service, domain, &who, payload).await,
        ns::DISCO_ITEMS if !set => disco_items(server, service, domain, &who, payload).await,
        _ => Err(PubsubError::new(SEC::ServiceUnavailable)),
    };
    match r {
        Ok(el) => Some(iq::result(req, el)),
        Err(e) => e.reply(req),
    }
}

/// disco#info of the service (identity `pubsub/service`) or of a node (`pubsub/leaf` with
/// the XEP-0060 §5.4 meta-data form).
async fn disco_info(
    server: &ServerRef,
    service: &Service,
    domain: &str,
    _who: &Member,
    q: &Element,
) -> Result<Option<Element>, PubsubError> {
    let mut out = Element::new("query", ns::DISCO_INFO);
    let identity = |typ: &str| {
        Element::new("identity", ns::DISCO_INFO)
            .with_attr("category", "pubsub")
            .with_attr("type", typ)
    };
    let feature = |var: &str| Element::new("feature", ns::DISCO_INFO).with_attr("var", var);
    match q.attr("node") {
        None => {
            out = out
                .with_child(identity("service").with_attr("name", "Publish-Subscribe"))
                .with_child(feature(ns::DISCO_INFO))
                .with_child(feature(ns::DISCO_ITEMS));
            for f in FEATURES {
                out = out.with_child(feature(f));
            }
        }
        Some(node) => {
            let n = load_node(server, service, domain, node).await?;
            out.set_attr("node", node);
            let field = |var: &str, value: &str| {
                Element::new("field", ns::DATA_FORMS)
                    .with_attr("var", var)
                    .with_child(Element::new("value", ns::DATA_FORMS).with_text(value))
            };
            let mut form =
                Element::new("x", ns::DATA_FORMS).with_attr("type", "result").with_child(
                    field("FORM_TYPE", "http://jabber.org/protocol/pubsub#meta-data")
                        .with_attr("type", "hidden"),
                );
            form = form
                .with_child(field("pubsub#title", &n.config.title))
                .with_child(field("pubsub#access_model", &access_model_name(&n.config)));
            for owner in n.owners() {
                form = form.with_child(field("pubsub#owner", owner));
            }
            out = out
                .with_child(identity("leaf"))
                .with_child(feature(ns::DISCO_INFO))
                .with_child(feature(ns::PUBSUB))
                .with_child(form);
        }
    }
    Ok(Some(out))
}

/// disco#items of the service (its nodes) or of a node (its item ids, access permitting).
async fn disco_items(
    server: &ServerRef,
    service: &Service,
    domain: &str,
    who: &Member,
    q: &Element,
) -> Result<Option<Element>, PubsubError> {
    let mut out = Element::new("query", ns::DISCO_ITEMS);
    match q.attr("node") {
        None => {
            for n in server.storage.pubsub.list_nodes(domain).await? {
                let config = NodeConfig::from_pairs(&n.config, &service.core.limits);
                let mut item = Element::new("item", ns::DISCO_ITEMS)
                    .with_attr("jid", domain)
                    .with_attr("node", &n.node);
                if !config.title.is_empty() {
                    item.set_attr("name", config.title);
                }
                out = out.with_child(item);
            }
        }
        Some(node) => {
            let n = load_node(server, service, domain, node).await?;
            check_access(server, &n, who).await?;
            out.set_attr("node", node);
            let items = server.storage.pubsub.get_items(domain, node, None).await?;
            for i in items.iter().rev() {
                out = out.with_child(
                    Element::new("item", ns::DISCO_ITEMS)
                        .with_attr("jid", domain)
                        .with_attr("name", &i.id),
                );
            }
        }
    }
    Ok(Some(out))
}

/// The `node` attribute of an action, `nodeid-required` when missing.
pub fn node_attr(el: &Element) -> Result<&str, PubsubError> {
    el.attr("node")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| PubsubError::app(SEC::BadRequest, "nodeid-required"))
}

/// A node or item name within bounds.
pub fn check_name(name: &str) -> Result<(), PubsubError> {
    if name.is_empty() || name.len() > crate::modules::pubsub::MAX_NAME_BYTES {
        return Err(
            PubsubError::new(SEC::BadRequest).text("node name or item id empty or too long")
        );
    }
    Ok(())
}
