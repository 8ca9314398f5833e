//! Ad-Hoc Commands (XEP-0050) with the service administration commands of XEP-0133.
//!
//! Implemented: the command list as disco#items of node `http://jabber.org/protocol/commands`
//! on the server JID (admins see the commands, everyone else an empty list), disco#info of
//! each command node, the feature `http://jabber.org/protocol/commands`; execution with
//! `sessionid`, two-stage forms (`executing` with a data form, then `completed`), `cancel`
//! (`canceled`), and the errors of XEP-0050 §4.6 (`bad-request` with `<malformed-action/>`,
//! `<bad-action/>` or `<bad-sessionid/>`, `forbidden`, `item-not-found`). Sessions are bounded
//! (`modules.adhoc.max_sessions`, `resource-constraint` beyond), belong to the full JID that
//! started them and expire after `modules.adhoc.session_timeout_ms`.
//!
//! Commands (admins from `modules.adhoc.admins` only), through the same admin-operations layer
//! as the admin CLI and HTTP API ([`crate::admin_ops::NodeAdmin`]): XEP-0133 add-user,
//! delete-user, get-online-users-num and get-online-users-list.
//!
//! Not implemented: `prev`/`next` (no command has more than two stages), the other XEP-0133
//! commands, commands offered by accounts.

mod commands;
mod forms;
mod sessions;

pub use sessions::{AdhocSessions, CommandSession, StartError};

use super::iq;
use crate::addr::Addr;
use crate::server::ServerRef;
use meerkat_proto::error::{error_reply, StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_xml::{Element, Node};
use std::time::{Duration, Instant};

/// The ad-hoc commands namespace (and the node of the command list).
pub const NS: &str = "http://jabber.org/protocol/commands";

/// True when the requester (a full or bare JID) is an administrator.
pub fn is_admin(server: &ServerRef, requester: &str) -> bool {
    let Some(bare) = Addr::parse(requester).map(|a| a.bare()) else { return false };
    server
        .config
        .modules
        .adhoc
        .admins
        .iter()
        .any(|a| Addr::parse(a).is_some_and(|a| a.bare() == bare))
}

/// disco#info / disco#items for the server JID: the command nodes are answered here;
/// everything else (features included) is [`super::disco::server`]'s.
pub fn server_disco(server: &ServerRef, req: &Element) -> Option<Element> {
    let node = iq::payload(req).and_then(|q| q.attr("node")).map(str::to_owned);
    if let Some(node) = node {
        if server.config.modules.adhoc.enabled && req.attr("type") == Some("get") {
            if let Some(reply) = node_disco(server, req, &node) {
                return Some(reply);
            }
        }
    }
    super::disco::server(server, req)
}

fn node_disco(server: &ServerRef, req: &Element, node: &str) -> Option<Element> {
    let q = iq::payload(req)?;
    let requester = req.attr("from").unwrap_or_default();
    let admin = is_admin(server, requester);
    if node == NS {
        if q.ns == ns::DISCO_ITEMS {
            let mut items = Element::new("query", ns::DISCO_ITEMS).with_attr("node", NS);
            if admin {
                for c in commands::ALL {
                    items = items.with_child(
                        Element::new("item", ns::DISCO_ITEMS)
                            .with_attr("jid", server_jid(req))
                            .with_attr("node", c.node)
                            .with_attr("name", c.name),
                    );
                }
            }
            return Some(iq::result(req, Some(items)));
        }
        let info = Element::new("query", ns::DISCO_INFO).with_attr("node", NS).with_child(
            Element::new("identity", ns::DISCO_INFO)
                .with_attr("category", "automation")
                .with_attr("type", "command-list"),
        );
        return Some(iq::result(req, Some(info)));
    }
    let cmd = commands::find(node)?;
    if !admin {
        return iq::error(req, StanzaError::new(SEC::ItemNotFound));
    }
    if q.ns == ns::DISCO_ITEMS {
        let items = Element::new("query", ns::DISCO_ITEMS).with_attr("node", cmd.node);
        return Some(iq::result(req, Some(items)));
    }
    let info = Element::new("query", ns::DISCO_INFO)
        .with_attr("node", cmd.node)
        .with_child(
            Element::new("identity", ns::DISCO_INFO)
                .with_attr("category", "automation")
                .with_attr("type", "command-node")
                .with_attr("name", cmd.name),
        )
        .with_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", NS))
        .with_child(Element::new("feature", ns::DISCO_INFO).with_attr("var", ns::DATA_FORMS));
    Some(iq::result(req, Some(info)))
}

/// The server JID the request was addressed to.
fn server_jid(req: &Element) -> String {
    req.attr("to").unwrap_or_default().to_owned()
}

/// A `bad-request` (or other) error with an XEP-0050 §4.6 application condition.
fn command_error(req: &Element, cond: SEC, app: Option<&str>) -> Option<Element> {
    let mut reply = error_reply(req, &StanzaError::new(cond))?;
    if let Some(app) = app {
        let stanza_ns = reply.ns.clone();
        if let Some(err) = reply.get_child_mut("error", &stanza_ns) {
            err.children.push(Node::Element(Element::new(app, NS)));
        }
    }
    Some(reply)
}

/// Answers `<command/>` IQs to the server JID.
pub async fn answer(server: &ServerRef, req: &Element) -> Option<Element> {
    if server.config.modules.adhoc.enabled {
        execute(server, req).await
    } else {
        iq::error(req, StanzaError::new(SEC::ServiceUnavailable))
    }
}

async fn execute(server: &ServerRef, req: &Element) -> Option<Element> {
    let cmd_el = iq::payload(req).filter(|p| p.is("command", NS))?;
    if req.attr("type") != Some("set") {
        return iq::error(req, StanzaError::new(SEC::BadRequest));
    }
    let Some(node) = cmd_el.attr("node") else {
        return iq::error(req, StanzaError::new(SEC::BadRequest).with_text("No command node"));
    };
    let Some(cmd) = commands::find(node) else {
        return iq::error(req, StanzaError::new(SEC::ItemNotFound));
    };
    let requester = req.attr("from").unwrap_or_default().to_owned();
    if !is_admin(server, &requester) {
        return iq::error(req, StanzaError::new(SEC::Forbidden));
    }
    let action = cmd_el.attr("action").unwrap_or("execute");
    if !matches!(action, "execute" | "cancel" | "complete" | "next" | "prev") {
        return command_error(req, SEC::BadRequest, Some("malformed-action"));
    }
    let cfg = &server.config.modules.adhoc;
    let timeout = Duration::from_millis(cfg.session_timeout_ms);
    let now = Instant::now();
    let Some(sid) = cmd_el.attr("sessionid") else {
        if action != "execute" {
            return command_error(req, SEC::BadRequest, Some("bad-sessionid"));
        }
        return match cmd.form {
            None => commands::run(server, req, cmd, &crate::c2s::conn::new_stream_id(), None).await,
            Some(form) => {
                let sessions = &server.misc.adhoc;
                match sessions.start(&requester, cmd.node, now, timeout, cfg.max_sessions) {
                    Ok(sid) => Some(iq::result(req, Some(form_stage(cmd.node, &sid, form())))),
                    Err(StartError::Full) => iq::error(
                        req,
                        StanzaError::new(SEC::ResourceConstraint)
                            .with_text("Too many commands in progress"),
                    ),
                }
            }
        };
    };
    if server.misc.adhoc.take(sid, &requester, cmd.node, now, timeout).is_none() {
        return command_error(req, SEC::BadRequest, Some("bad-sessionid"));
    }
    match action {
        "cancel" => Some(iq::result(req, Some(status(cmd.node, sid, "canceled")))),
        "execute" | "complete" => {
            let submitted =
                cmd_el.get_child("x", ns::DATA_FORMS).filter(|x| x.attr("type") == Some("submit"));
            match submitted {
                Some(x) => commands::run(server, req, cmd, sid, Some(x)).await,
                None => command_error(req, SEC::BadRequest, Some("bad-payload")),
            }
        }
        _ => command_error(req, SEC::BadRequest, Some("bad-action")),
    }
}

/// `<command node sessionid status/>`.
fn status(node: &str, sid: &str, status: &str) -> Element {
    Element::new("command", NS)
        .with_attr("node", node.to_owned())
        .with_attr("sessionid", sid.to_owned())
        .with_attr("status", status)
}

/// The first stage: `executing` with the form to fill and `complete` as the only action.
fn form_stage(node: &str, sid: &str, form: Element) -> Element {
    status(node, sid, "executing")
        .with_child(
            Element::new("actions", NS)
                .with_attr("execute", "complete")
                .with_child(Element::new("complete", NS)),
        )
        .with_child(form)
}
