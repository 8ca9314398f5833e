//! Personal Eventing Protocol (XEP-0163): a XEP-0060 pubsub service on every account's bare
//! JID, built on [`crate::modules::pubsub`].
//!
//! - The owner (any of their resources) publishes, with auto-create and publish-options as
//!   preconditions; retracts; creates, configures and deletes nodes (owner namespace).
//! - Anyone may ask for items; the node's access model decides (open, presence, roster groups,
//!   whitelist = owner only), from the owner's roster.
//! - Notifications (`<message type='headline'><event/></message>`) go to the owner's
//!   resources and to contacts with a `from`/`both` subscription whose caps (XEP-0115) show
//!   `NODE+notify` and who are online, the access model permitting ([`notify`]).
//! - The last item of each node goes to a resource when its `+notify` interest becomes known
//!   from verified caps, i.e. when it becomes available with caps (presence received by the
//!   PEP service), for `send_last_published_item = on_sub_and_presence` nodes.
//! - Disco: the account's bare JID gets identity `pubsub/pep` and the pubsub features;
//!   disco#items lists the nodes the asker may see ([`disco`]).
//!
//! Not implemented: explicit subscriptions (PEP subscriptions are implied by presence and
//! `+notify`), whitelist members other than the owner, purge, item expiry, remote (s2s)
//! contacts, pubsub#publish_model other than the owner publishing.

pub mod disco;
pub mod notify;

use super::iq;
use super::pubsub::access::{self, Relation};
use super::pubsub::config::{Limits, NodeConfig, PUBLISH_OPTIONS};
use super::pubsub::error::PubsubError;
use super::pubsub::{item, PubsubCore};
use crate::addr::Addr;
use crate::server::ServerRef;
use meerkat_proto::error::StanzaErrorCondition as SEC;
use meerkat_proto::ns;
use meerkat_storage::Subscription;
use meerkat_xml::Element;

pub use notify::{deliver_fanout, interest_learned};

/// PEP state shared by the node: the pubsub core and its cache.
pub struct PepState {
    /// Pubsub core with bounds from `[modules.pep]`.
    pub core: PubsubCore,
}

impl PepState {
    /// State for `[modules.pep]`; a cluster member caches nothing (see
    /// [`crate::modules::pubsub::cache`]).
    pub fn new(cfg: &meerkat_config::PepModule, clustered: bool) -> Self {
        let limits = Limits {
            max_nodes: cfg.max_nodes_per_account,
            max_items: cfg.max_items_per_node,
            max_item_bytes: cfg.max_item_bytes,
        };
        let cache = if clustered { 0 } else { cfg.cache_accounts };
        PepState { core: PubsubCore::new(limits, cache) }
    }
}

/// The owner of a PEP service: `node@domain`.
pub(crate) struct Owner<'a> {
    pub node: &'a str,
    pub domain: &'a str,
    pub bare: String,
}

/// How `requester` (a bare JID) relates to the owner, from the owner's roster.
pub(crate) async fn relation(server: &ServerRef, owner: &Owner<'_>, requester: &str) -> Relation {
    if requester == owner.bare {
        return Relation { owner: true, ..Relation::default() };
    }
    let item = server.storage.roster.get_item(owner.domain, owner.node, requester).await;
    match item {
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

/// True when `node` is a PEP request this module answers.
pub fn handles(server: &ServerRef, payload_ns: &str) -> bool {
    server.config.modules.pep.enabled
        && (payload_ns == ns::PUBSUB || payload_ns == ns::PUBSUB_OWNER)
}

/// Answers a pubsub IQ to the account `node@domain` (from the owner or anyone else).
pub async fn handle_iq(
    server: &ServerRef,
    req: &Element,
    node: &str,
    domain: &str,
) -> Option<Element> {
    let owner = Owner { node, domain, bare: format!("{node}@{domain}") };
    let Some(from) = req.attr("from").and_then(Addr::parse) else {
        return PubsubError::new(SEC::BadRequest).reply(req);
    };
    let who = relation(server, &owner, &from.bare()).await;
    let payload = iq::payload(req)?;
    let set = req.attr("type") == Some("set");
    let r = if payload.ns == ns::PUBSUB {
        pubsub(server, &owner, &who, payload, set).await
    } else {
        owner_ns(server, &owner, &who, payload, set).await
    };
    match r {
        Ok(el) => Some(iq::result(req, el)),
        Err(e) => e.reply(req),
    }
}

fn node_attr(el: &Element) -> Result<&str, PubsubError> {
    el.attr("node")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| PubsubError::app(SEC::BadRequest, "nodeid-required"))
}

fn owner_only(who: &Relation) -> Result<(), PubsubError> {
    if who.owner {
        Ok(())
    } else {
        Err(PubsubError::new(SEC::Forbidden))
    }
}

/// The data form inside `<publish-options/>` or `<configure/>`, if any.
fn form_in(parent: Option<&Element>) -> Option<&Element> {
    parent?.get_child("x", ns::DATA_FORMS)
}

async fn pubsub(
    server: &ServerRef,
    owner: &Owner<'_>,
    who: &Relation,
    ps: &Element,
    set: bool,
) -> Result<Option<Element>, PubsubError> {
    let core = &server.pep.core;
    let storage = &server.storage;
    let Some(action) = ps.children().find(|c| {
        c.ns == ns::PUBSUB && !matches!(c.name.as_str(), "publish-options" | "configure")
    }) else {
        return Err(PubsubError::new(SEC::BadRequest));
    };
    match (set, action.name.as_str()) {
        (true, "publish") => {
            owner_only(who)?;
            let node = node_attr(action)?;
            let options = form_in(ps.get_child("publish-options", ns::PUBSUB));
            if let Some(x) = options {
                let ft = x
                    .children()
                    .find(|f| f.is("field", ns::DATA_FORMS) && f.attr("var") == Some("FORM_TYPE"))
                    .and_then(|f| f.get_child("value", ns::DATA_FORMS))
                    .map(|v| v.text());
                if ft.is_some_and(|t| t != PUBLISH_OPTIONS) {
                    return Err(PubsubError::app(SEC::BadRequest, "invalid-options"));
                }
            }
            let items: Vec<&Element> =
                action.children().filter(|c| c.is("item", ns::PUBSUB)).collect();
            if items.len() > 1 {
                return Err(PubsubError::app(SEC::BadRequest, "invalid-payload"));
            }
            let published = core
                .publish(storage, &owner.bare, node, &owner.bare, items.first().copied(), options)
                .await?;
            let ev_item = item::in_ns(
                &published.item,
                ns::PUBSUB_EVENT,
                published.config.deliver_payloads,
                true,
            );
            let event = Element::new("event", ns::PUBSUB_EVENT).with_child(
                Element::new("items", ns::PUBSUB_EVENT).with_attr("node", node).with_child(ev_item),
            );
            notify::broadcast(server, owner, node, &published.config, event).await;
            let id = published.item.attr("id").unwrap_or_default().to_owned();
            Ok(Some(
                Element::new("pubsub", ns::PUBSUB).with_child(
                    Element::new("publish", ns::PUBSUB)
                        .with_attr("node", node)
                        .with_child(Element::new("item", ns::PUBSUB).with_attr("id", id)),
                ),
            ))
        }
        (true, "retract") => {
            owner_only(who)?;
            let node = node_attr(action)?;
            let ids: Vec<&str> = action
                .children()
                .filter(|c| c.is("item", ns::PUBSUB))
                .filter_map(|c| c.attr("id"))
                .collect();
            let [id] = ids.as_slice() else {
                return Err(PubsubError::app(SEC::BadRequest, "item-required"));
            };
            let config = core.retract(storage, &owner.bare, node, id).await?;
            let notify = matches!(action.attr("notify"), Some("true" | "1"));
            if notify {
                let event = Element::new("event", ns::PUBSUB_EVENT).with_child(
                    Element::new("items", ns::PUBSUB_EVENT)
                        .with_attr("node", node)
                        .with_child(Element::new("retract", ns::PUBSUB_EVENT).with_attr("id", *id)),
                );
                notify::broadcast(server, owner, node, &config, event).await;
            }
            Ok(None)
        }
        (true, "create") => {
            owner_only(who)?;
            let node = node_attr(action)?;
            let mut config = NodeConfig::pep_default();
            if let Some(x) = form_in(ps.get_child("configure", ns::PUBSUB)) {
                config.apply_form(x, &core.limits)?;
            }
            core.create(storage, &owner.bare, node, &config).await?;
            Ok(None)
        }
        (false, "items") => {
            let node = node_attr(action)?;
            let snapshot = core.node(storage, &owner.bare, node).await?;
            access::check(&snapshot.config, who)?;
            let max = match action.attr("max_items") {
                None => None,
                Some(m) => {
                    Some(m.trim().parse::<usize>().map_err(|_| PubsubError::new(SEC::BadRequest))?)
                }
            };
            let ids: Vec<String> = action
                .children()
                .filter(|c| c.is("item", ns::PUBSUB))
                .filter_map(|c| c.attr("id").map(str::to_owned))
                .collect();
            let found = core.items(storage, &owner.bare, node, max, &ids).await?;
            let mut items = Element::new("items", ns::PUBSUB).with_attr("node", node);
            for i in found {
                items = items.with_child(i);
            }
            Ok(Some(Element::new("pubsub", ns::PUBSUB).with_child(items)))
        }
        (
            _,
            "subscribe" | "unsubscribe" | "options" | "subscriptions" | "affiliations" | "default",
        ) => Err(PubsubError::unsupported(match action.name.as_str() {
            "subscribe" => "subscribe",
            "unsubscribe" => "subscribe",
            "options" => "subscription-options",
            "subscriptions" => "retrieve-subscriptions",
            "affiliations" => "retrieve-affiliations",
            _ => "retrieve-default",
        })),
        _ => Err(PubsubError::new(SEC::BadRequest)),
    }
}

async fn owner_ns(
    server: &ServerRef,
    owner: &Owner<'_>,
    who: &Relation,
    ps: &Element,
    set: bool,
) -> Result<Option<Element>, PubsubError> {
    owner_only(who)?;
    let core = &server.pep.core;
    let storage = &server.storage;
    let Some(action) = ps.children().next() else {
        return Err(PubsubError::new(SEC::BadRequest));
    };
    match (set, action.name.as_str()) {
        (true, "delete") => {
            let node = node_attr(action)?;
            let config = core.delete(storage, &owner.bare, node).await?;
            if config.notify_delete {
                let event = Element::new("event", ns::PUBSUB_EVENT)
                    .with_child(Element::new("delete", ns::PUBSUB_EVENT).with_attr("node", node));
                notify::broadcast(server, owner, node, &config, event).await;
            }
            Ok(None)
        }
        (false, "configure") => {
            let node = node_attr(action)?;
            let snapshot = core.node(storage, &owner.bare, node).await?;
            Ok(Some(
                Element::new("pubsub", ns::PUBSUB_OWNER).with_child(
                    Element::new("configure", ns::PUBSUB_OWNER)
                        .with_attr("node", node)
                        .with_child(snapshot.config.form()),
                ),
            ))
        }
        (true, "configure") => {
            let node = node_attr(action)?;
            let Some(x) = action.get_child("x", ns::DATA_FORMS) else {
                return Err(PubsubError::new(SEC::BadRequest));
            };
            core.configure(storage, &owner.bare, node, x).await?;
            Ok(None)
        }
        (_, "purge") => Err(PubsubError::unsupported("purge-nodes")),
        (_, "subscriptions" | "affiliations") => {
            Err(PubsubError::unsupported("manage-subscriptions"))
        }
        _ => Err(PubsubError::new(SEC::BadRequest)),
    }
}
