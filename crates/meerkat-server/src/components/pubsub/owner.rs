//! The `http://jabber.org/protocol/pubsub#owner` namespace of the service (XEP-0060 §8):
//! configure, default, delete, purge, and the node's subscriptions and affiliations. Every
//! action but `default` needs the requester to own the node.

use super::{load_node, node_attr, notify, LoadedNode, Member, Service};
use crate::modules::pubsub::error::PubsubError;
use meerkat_proto::error::{ErrorType, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_storage::StorageError;
use meerkat_xml::Element;

use crate::server::ServerRef;

/// Affiliations an owner may set (§8.9.2); `none` removes one.
const AFFILIATIONS: &[&str] = &["owner", "publisher", "member", "outcast", "none"];

fn owner_el(child: Element) -> Option<Element> {
    Some(Element::new("pubsub", ns::PUBSUB_OWNER).with_child(child))
}

/// Runs one `<pubsub xmlns='…#owner'/>` request.
pub async fn handle(
    server: &ServerRef,
    service: &Service,
    domain: &str,
    who: &Member,
    ps: &Element,
    set: bool,
) -> Result<Option<Element>, PubsubError> {
    let Some(action) = ps.children().next() else {
        return Err(PubsubError::new(SEC::BadRequest));
    };
    if (set, action.name.as_str()) == (false, "default") {
        // §8.3: the default configuration of a new node.
        return Ok(owner_el(
            Element::new("default", ns::PUBSUB_OWNER).with_child(service.default_config().form()),
        ));
    }
    let node = node_attr(action)?;
    let n = load_node(server, service, domain, node).await?;
    if n.affiliation(&who.bare) != "owner" {
        return Err(PubsubError::new(SEC::Forbidden));
    }
    match (set, action.name.as_str()) {
        (false, "configure") => Ok(owner_el(
            Element::new("configure", ns::PUBSUB_OWNER)
                .with_attr("node", node)
                .with_child(n.config.form()),
        )),
        (true, "configure") => {
            let Some(x) = action.get_child("x", ns::DATA_FORMS) else {
                return Err(PubsubError::new(SEC::BadRequest));
            };
            let mut config = n.config.clone();
            config.apply_form(x, &service.core.limits)?;
            match server.storage.pubsub.set_node_config(domain, node, &config.to_pairs()).await {
                Ok(()) => Ok(None),
                Err(StorageError::NotFound) => Err(PubsubError::not_found()),
                Err(e) => Err(e.into()),
            }
        }
        (true, "delete") => {
            // Subscribers are read before the node (and its subscriptions) go.
            let subs = server.storage.pubsub_members.node_subscriptions(domain, node).await?;
            if !server.storage.pubsub.delete_node(domain, node).await? {
                return Err(PubsubError::not_found());
            }
            if n.config.notify_delete {
                let ev = Element::new("delete", ns::PUBSUB_EVENT).with_attr("node", node);
                notify::broadcast(server, domain, &subs, notify::event(ev)).await;
            }
            Ok(None)
        }
        (true, "purge") => {
            // At most max_items_per_node items: one retraction each.
            for i in server.storage.pubsub.get_items(domain, node, None).await? {
                server.storage.pubsub.retract_item(domain, node, &i.id).await?;
            }
            let ev = Element::new("purge", ns::PUBSUB_EVENT).with_attr("node", node);
            notify::to_subscribers(server, domain, node, notify::event(ev)).await;
            Ok(None)
        }
        (false, "subscriptions") => {
            let mut out = Element::new("subscriptions", ns::PUBSUB_OWNER).with_attr("node", node);
            for (jid, state) in
                server.storage.pubsub_members.node_subscriptions(domain, node).await?
            {
                out = out.with_child(
                    Element::new("subscription", ns::PUBSUB_OWNER)
                        .with_attr("jid", jid)
                        .with_attr("subscription", state),
                );
            }
            Ok(owner_el(out))
        }
        (true, "subscriptions") => set_subscriptions(server, service, domain, node, action).await,
        (false, "affiliations") => {
            let mut out = Element::new("affiliations", ns::PUBSUB_OWNER).with_attr("node", node);
            for (jid, aff) in &n.affiliations {
                out = out.with_child(
                    Element::new("affiliation", ns::PUBSUB_OWNER)
                        .with_attr("jid", jid)
                        .with_attr("affiliation", aff),
                );
            }
            Ok(owner_el(out))
        }
        (true, "affiliations") => set_affiliations(server, domain, node, &n, action).await,
        _ => Err(PubsubError::new(SEC::BadRequest)),
    }
}

/// `(jid, value)` of each child named `child` with `attr`, the JID normalised; `bad-request`
/// for a malformed one.
fn entries(
    action: &Element,
    child: &str,
    attr: &str,
) -> Result<Vec<(String, String)>, PubsubError> {
    let mut out = Vec::new();
    for c in action.children().filter(|c| c.is(child, ns::PUBSUB_OWNER)) {
        let jid = c.attr("jid").and_then(crate::addr::Addr::parse);
        let (Some(jid), Some(value)) = (jid, c.attr(attr)) else {
            return Err(PubsubError::new(SEC::BadRequest));
        };
        out.push((jid.full(), value.to_owned()));
    }
    Ok(out)
}

/// Sets subscriptions (§8.8.2): `subscribed` adds or keeps one, `none` removes it.
async fn set_subscriptions(
    server: &ServerRef,
    service: &Service,
    domain: &str,
    node: &str,
    action: &Element,
) -> Result<Option<Element>, PubsubError> {
    let changes = entries(action, "subscription", "subscription")?;
    if changes.iter().any(|(_, s)| s != "subscribed" && s != "none") {
        return Err(PubsubError::new(SEC::NotAcceptable).typ(ErrorType::Modify));
    }
    let store = &server.storage.pubsub_members;
    let max = service.config.max_subscriptions_per_node;
    for (jid, state) in changes {
        if state == "none" {
            store.remove_subscription(domain, node, &jid).await?;
        } else {
            match store.set_subscription(domain, node, &jid, &state, max).await {
                Ok(()) => {}
                Err(StorageError::LimitReached { .. }) => {
                    return Err(PubsubError::new(SEC::ResourceConstraint).typ(ErrorType::Wait))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(None)
}

/// Sets affiliations (§8.9.2) of bare JIDs; a node always keeps an owner (`not-acceptable`
/// for a change that would leave none).
async fn set_affiliations(
    server: &ServerRef,
    domain: &str,
    node: &str,
    n: &LoadedNode,
    action: &Element,
) -> Result<Option<Element>, PubsubError> {
    let changes = entries(action, "affiliation", "affiliation")?;
    if changes.iter().any(|(j, a)| j.contains('/') || !AFFILIATIONS.contains(&a.as_str())) {
        return Err(PubsubError::new(SEC::NotAcceptable).typ(ErrorType::Modify));
    }
    let mut after: Vec<(String, String)> = n.affiliations.clone();
    for (jid, aff) in &changes {
        after.retain(|(j, _)| j != jid);
        after.push((jid.clone(), aff.clone()));
    }
    if !after.iter().any(|(_, a)| a == "owner") {
        return Err(PubsubError::new(SEC::NotAcceptable)
            .typ(ErrorType::Modify)
            .text("a node must keep an owner"));
    }
    let store = &server.storage.pubsub_members;
    for (jid, aff) in changes {
        store.set_affiliation(domain, node, &jid, &aff).await?;
        if aff == "outcast" {
            // An outcast loses its subscriptions (§4.1), full JIDs included.
            for (sub, _) in store.node_subscriptions(domain, node).await? {
                if sub.split('/').next() == Some(jid.as_str()) {
                    store.remove_subscription(domain, node, &sub).await?;
                }
            }
        }
    }
    Ok(None)
}
