//! The `http://jabber.org/protocol/pubsub` namespace of the service (XEP-0060 §6-§7, §8.1):
//! create, publish, retract, subscribe, unsubscribe, items, and the requester's own
//! subscriptions and affiliations.

use super::{check_access, check_name, load_node, node_attr, notify, Member, Service};
use crate::modules::pubsub::config::{SendLast, PUBLISH_OPTIONS};
use crate::modules::pubsub::error::PubsubError;
use crate::modules::pubsub::item;
use crate::server::ServerRef;
use meerkat_proto::error::{ErrorType, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_storage::{PubsubItem, StorageError};
use meerkat_xml::Element;

/// Runs one `<pubsub/>` request.
pub async fn handle(
    server: &ServerRef,
    service: &Service,
    domain: &str,
    who: &Member,
    ps: &Element,
    set: bool,
) -> Result<Option<Element>, PubsubError> {
    let Some(action) = ps.children().find(|c| {
        c.ns == ns::PUBSUB && !matches!(c.name.as_str(), "publish-options" | "configure")
    }) else {
        return Err(PubsubError::new(SEC::BadRequest));
    };
    match (set, action.name.as_str()) {
        (true, "create") => create(server, service, domain, who, ps, action).await,
        (true, "publish") => publish(server, service, domain, who, ps, action).await,
        (true, "retract") => retract(server, service, domain, who, action).await,
        (true, "subscribe") => subscribe(server, service, domain, who, action).await,
        (true, "unsubscribe") => unsubscribe(server, domain, who, action).await,
        (false, "items") => items(server, service, domain, who, action).await,
        (false, "subscriptions") => own_subscriptions(server, domain, who, action).await,
        (false, "affiliations") => own_affiliations(server, domain, who, action).await,
        (_, "options") => Err(PubsubError::unsupported("subscription-options")),
        (false, "default") => Err(PubsubError::new(SEC::BadRequest)),
        _ => Err(PubsubError::new(SEC::BadRequest)),
    }
}

/// The data form inside `<publish-options/>` or `<configure/>`, if any.
fn form_in(parent: Option<&Element>) -> Option<&Element> {
    parent?.get_child("x", ns::DATA_FORMS)
}

fn pubsub(child: Element) -> Option<Element> {
    Some(Element::new("pubsub", ns::PUBSUB).with_child(child))
}

/// Creates a node (§8.1.1), or an instant node without a name (§8.1.2); the creator becomes
/// its owner.
async fn create(
    server: &ServerRef,
    service: &Service,
    domain: &str,
    who: &Member,
    ps: &Element,
    action: &Element,
) -> Result<Option<Element>, PubsubError> {
    if !who.local {
        return Err(PubsubError::new(SEC::Forbidden).text("only local accounts may create nodes"));
    }
    let (node, instant) = match action.attr("node").filter(|n| !n.is_empty()) {
        Some(n) => (n.to_owned(), false),
        None => (format!("{:032x}", rand::random::<u128>()), true),
    };
    check_name(&node)?;
    let mut config = service.default_config();
    if let Some(x) = form_in(ps.get_child("configure", ns::PUBSUB)) {
        config.apply_form(x, &service.core.limits)?;
    }
    let r = server
        .storage
        .pubsub
        .create_node(domain, &node, &config.to_pairs(), service.config.max_nodes)
        .await;
    match r {
        Ok(()) => {}
        Err(StorageError::AlreadyExists) => return Err(PubsubError::new(SEC::Conflict)),
        Err(StorageError::LimitReached { .. }) => {
            return Err(PubsubError::new(SEC::ResourceConstraint)
                .typ(ErrorType::Wait)
                .text("the service has its maximum of nodes"))
        }
        Err(e) => return Err(e.into()),
    }
    server.storage.pubsub_members.set_affiliation(domain, &node, &who.bare, "owner").await?;
    tracing::debug!(what = "pubsub_node_created", service = domain, node);
    Ok(if instant {
        pubsub(Element::new("create", ns::PUBSUB).with_attr("node", node))
    } else {
        None
    })
}

/// Publishes one item (§7.1): owners and publishers; publish-options are preconditions.
async fn publish(
    server: &ServerRef,
    service: &Service,
    domain: &str,
    who: &Member,
    ps: &Element,
    action: &Element,
) -> Result<Option<Element>, PubsubError> {
    let node = node_attr(action)?;
    let n = load_node(server, service, domain, node).await?;
    if !matches!(n.affiliation(&who.bare), "owner" | "publisher") {
        return Err(PubsubError::new(SEC::Forbidden));
    }
    let options = form_in(ps.get_child("publish-options", ns::PUBSUB));
    if let Some(x) = options {
        let form_type = x
            .children()
            .find(|f| f.is("field", ns::DATA_FORMS) && f.attr("var") == Some("FORM_TYPE"))
            .and_then(|f| f.get_child("value", ns::DATA_FORMS))
            .map(|v| v.text());
        if form_type.is_some_and(|t| t != PUBLISH_OPTIONS) {
            return Err(PubsubError::app(SEC::BadRequest, "invalid-options"));
        }
        n.config.check_preconditions(x, &service.core.limits)?;
    }
    let items: Vec<&Element> = action.children().filter(|c| c.is("item", ns::PUBSUB)).collect();
    let [item_el] = items.as_slice() else {
        return Err(if items.is_empty() {
            PubsubError::app(SEC::BadRequest, "item-required")
        } else {
            PubsubError::app(SEC::BadRequest, "invalid-payload")
        });
    };
    let payloads: Vec<&Element> = item_el.children().collect();
    let [payload] = payloads.as_slice() else {
        return Err(if payloads.is_empty() {
            PubsubError::app(SEC::BadRequest, "item-required")
        } else {
            PubsubError::app(SEC::BadRequest, "invalid-payload")
        });
    };
    let id = match item_el.attr("id") {
        Some(id) => {
            check_name(id)?;
            id.to_owned()
        }
        None => format!("{:032x}", rand::random::<u128>()),
    };
    let xml = payload.to_xml();
    if xml.len() > service.config.max_item_bytes {
        return Err(PubsubError::app(SEC::NotAcceptable, "payload-too-big").typ(ErrorType::Modify));
    }
    let stored = PubsubItem {
        id: id.clone(),
        publisher: who.bare.clone(),
        published_at_ms: chrono::Utc::now().timestamp_millis(),
        payload: xml,
    };
    let r = server.storage.pubsub.publish_item(domain, node, &stored, n.config.kept_items()).await;
    match r {
        Ok(_trimmed) => {}
        Err(StorageError::NotFound) => return Err(PubsubError::not_found()),
        Err(e) => return Err(e.into()),
    }
    let full = item::item_element(&id, &who.bare, (*payload).clone());
    let ev_item = item::in_ns(&full, ns::PUBSUB_EVENT, n.config.deliver_payloads, true);
    let ev = Element::new("items", ns::PUBSUB_EVENT).with_attr("node", node).with_child(ev_item);
    notify::to_subscribers(server, domain, node, notify::event(ev)).await;
    Ok(pubsub(
        Element::new("publish", ns::PUBSUB)
            .with_attr("node", node)
            .with_child(Element::new("item", ns::PUBSUB).with_attr("id", id)),
    ))
}

/// Retracts one item (§7.2): owners and publishers; notified when asked and configured.
async fn retract(
    server: &ServerRef,
    service: &Service,
    domain: &str,
    who: &Member,
    action: &Element,
) -> Result<Option<Element>, PubsubError> {
    let node = node_attr(action)?;
    let n = load_node(server, service, domain, node).await?;
    if !matches!(n.affiliation(&who.bare), "owner" | "publisher") {
        return Err(PubsubError::new(SEC::Forbidden));
    }
    let ids: Vec<&str> = action
        .children()
        .filter(|c| c.is("item", ns::PUBSUB))
        .filter_map(|c| c.attr("id"))
        .collect();
    let [id] = ids.as_slice() else {
        return Err(PubsubError::app(SEC::BadRequest, "item-required"));
    };
    if !server.storage.pubsub.retract_item(domain, node, id).await? {
        return Err(PubsubError::not_found());
    }
    if matches!(action.attr("notify"), Some("true" | "1")) && n.config.notify_retract {
        let ev = Element::new("items", ns::PUBSUB_EVENT)
            .with_attr("node", node)
            .with_child(Element::new("retract", ns::PUBSUB_EVENT).with_attr("id", *id));
        notify::to_subscribers(server, domain, node, notify::event(ev)).await;
    }
    Ok(None)
}

/// The `jid` attribute, which must be the requester's bare JID or one of its full JIDs
/// (§6.1.3.1 `invalid-jid`).
fn own_jid<'a>(action: &'a Element, who: &Member) -> Result<&'a str, PubsubError> {
    let jid =
        action.attr("jid").ok_or_else(|| PubsubError::app(SEC::BadRequest, "jid-required"))?;
    let same = crate::addr::Addr::parse(jid).is_some_and(|a| a.bare() == who.bare);
    if !same {
        return Err(PubsubError::app(SEC::BadRequest, "invalid-jid"));
    }
    Ok(jid)
}

/// Subscribes (§6.1), the access model permitting; sends the last item when the node's
/// `send_last_published_item` asks for it.
async fn subscribe(
    server: &ServerRef,
    service: &Service,
    domain: &str,
    who: &Member,
    action: &Element,
) -> Result<Option<Element>, PubsubError> {
    let node = node_attr(action)?;
    let jid = own_jid(action, who)?;
    let jid = crate::addr::Addr::parse(jid).map(|a| a.full()).unwrap_or_else(|| jid.to_owned());
    let n = load_node(server, service, domain, node).await?;
    check_access(server, &n, who).await?;
    let max = service.config.max_subscriptions_per_node;
    match server
        .storage
        .pubsub_members
        .set_subscription(domain, node, &jid, "subscribed", max)
        .await
    {
        Ok(()) => {}
        Err(StorageError::NotFound) => return Err(PubsubError::not_found()),
        Err(StorageError::LimitReached { .. }) => {
            return Err(PubsubError::new(SEC::ResourceConstraint)
                .typ(ErrorType::Wait)
                .text("the node has its maximum of subscriptions"))
        }
        Err(e) => return Err(e.into()),
    }
    if n.config.send_last != SendLast::Never {
        let last = server.storage.pubsub.get_items(domain, node, Some(1)).await?;
        if let Some(i) = last.first().and_then(item::parse_item) {
            let ev = Element::new("items", ns::PUBSUB_EVENT)
                .with_attr("node", node)
                .with_child(item::in_ns(&i, ns::PUBSUB_EVENT, n.config.deliver_payloads, true));
            notify::send(server, domain, &jid, notify::event(ev)).await;
        }
    }
    Ok(pubsub(
        Element::new("subscription", ns::PUBSUB)
            .with_attr("node", node)
            .with_attr("jid", jid)
            .with_attr("subscription", "subscribed"),
    ))
}

/// Unsubscribes (§6.2); `unexpected-request`/`not-subscribed` without a subscription.
async fn unsubscribe(
    server: &ServerRef,
    domain: &str,
    who: &Member,
    action: &Element,
) -> Result<Option<Element>, PubsubError> {
    let node = node_attr(action)?;
    let jid = own_jid(action, who)?;
    let jid = crate::addr::Addr::parse(jid).map(|a| a.full()).unwrap_or_else(|| jid.to_owned());
    if server.storage.pubsub.get_node(domain, node).await?.is_none() {
        return Err(PubsubError::not_found());
    }
    if !server.storage.pubsub_members.remove_subscription(domain, node, &jid).await? {
        return Err(
            PubsubError::app(SEC::UnexpectedRequest, "not-subscribed").typ(ErrorType::Cancel)
        );
    }
    Ok(None)
}

/// Items (§6.5): all, the last `max_items`, or by id; the access model permitting.
async fn items(
    server: &ServerRef,
    service: &Service,
    domain: &str,
    who: &Member,
    action: &Element,
) -> Result<Option<Element>, PubsubError> {
    let node = node_attr(action)?;
    let n = load_node(server, service, domain, node).await?;
    check_access(server, &n, who).await?;
    let max = match action.attr("max_items") {
        None => None,
        Some(m) => Some(m.trim().parse::<usize>().map_err(|_| PubsubError::new(SEC::BadRequest))?),
    };
    let ids: Vec<String> = action
        .children()
        .filter(|c| c.is("item", ns::PUBSUB))
        .filter_map(|c| c.attr("id").map(str::to_owned))
        .collect();
    let found = service.core.items(&server.storage, domain, node, max, &ids).await?;
    let mut out = Element::new("items", ns::PUBSUB).with_attr("node", node);
    for i in found {
        out = out.with_child(i);
    }
    Ok(pubsub(out))
}

/// The requester's subscriptions (§5.6), optionally for one node.
async fn own_subscriptions(
    server: &ServerRef,
    domain: &str,
    who: &Member,
    action: &Element,
) -> Result<Option<Element>, PubsubError> {
    let only = action.attr("node");
    let mut out = Element::new("subscriptions", ns::PUBSUB);
    if let Some(n) = only {
        out.set_attr("node", n);
    }
    for (node, jid, state) in
        server.storage.pubsub_members.subscriptions_of(domain, &who.bare).await?
    {
        if only.is_some_and(|o| o != node) {
            continue;
        }
        out = out.with_child(
            Element::new("subscription", ns::PUBSUB)
                .with_attr("node", node)
                .with_attr("jid", jid)
                .with_attr("subscription", state),
        );
    }
    Ok(pubsub(out))
}

/// The requester's affiliations (§5.7), optionally for one node.
async fn own_affiliations(
    server: &ServerRef,
    domain: &str,
    who: &Member,
    action: &Element,
) -> Result<Option<Element>, PubsubError> {
    let only = action.attr("node");
    let mut out = Element::new("affiliations", ns::PUBSUB);
    if let Some(n) = only {
        out.set_attr("node", n);
    }
    for (node, aff) in server.storage.pubsub_members.affiliations_of(domain, &who.bare).await? {
        if only.is_some_and(|o| o != node) {
            continue;
        }
        out = out.with_child(
            Element::new("affiliation", ns::PUBSUB)
                .with_attr("node", node)
                .with_attr("affiliation", aff),
        );
    }
    Ok(pubsub(out))
}
