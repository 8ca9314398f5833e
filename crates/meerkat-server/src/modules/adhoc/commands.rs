//! The XEP-0133 commands offered, run through the admin-operations layer shared with the
//! admin CLI and HTTP API ([`crate::admin_ops::NodeAdmin`]).

use super::forms::{self, field, form};
use super::status;
use crate::addr::Addr;
use crate::admin_ops::NodeAdmin;
use crate::modules::iq;
use crate::server::ServerRef;
use meerkat_admin::{AdminError, AdminOps};
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_xml::Element;

/// Most JIDs one delete-user request may name, and most JIDs get-online-users-list returns.
pub const MAX_JIDS: usize = 1000;

/// One command.
pub struct Command {
    /// Its node.
    pub node: &'static str,
    /// Its name in the command list.
    pub name: &'static str,
    /// The form of its first stage; `None` for single-stage commands.
    pub form: Option<fn() -> Element>,
}

const ADD_USER: &str = "http://jabber.org/protocol/admin#add-user";
const DELETE_USER: &str = "http://jabber.org/protocol/admin#delete-user";
const ONLINE_NUM: &str = "http://jabber.org/protocol/admin#get-online-users-num";
const ONLINE_LIST: &str = "http://jabber.org/protocol/admin#get-online-users-list";

/// Every command, in the order of the command list.
pub const ALL: &[Command] = &[
    Command { node: ADD_USER, name: "Add a User", form: Some(add_user_form) },
    Command { node: DELETE_USER, name: "Delete a User", form: Some(delete_user_form) },
    Command { node: ONLINE_NUM, name: "Get Number of Online Users", form: None },
    Command { node: ONLINE_LIST, name: "Get List of Online Users", form: None },
];

/// The command with this node.
pub fn find(node: &str) -> Option<&'static Command> {
    ALL.iter().find(|c| c.node == node)
}

fn add_user_form() -> Element {
    form("form", "Adding a User", Some("Fill out this form to add a user."))
        .with_child(field(
            "jid-single",
            "accountjid",
            Some("The Jabber ID for the account to be added"),
            &[],
            true,
        ))
        .with_child(field(
            "text-private",
            "password",
            Some("The password for this account"),
            &[],
            true,
        ))
        .with_child(field("text-private", "password-verify", Some("Retype password"), &[], true))
}

fn delete_user_form() -> Element {
    form("form", "Deleting a User", Some("Fill out this form to delete a user.")).with_child(field(
        "jid-multi",
        "accountjids",
        Some("The Jabber ID(s) to delete"),
        &[],
        true,
    ))
}

fn err(req: &Element, cond: SEC, text: &str) -> Option<Element> {
    iq::error(req, StanzaError::new(cond).with_text(text.to_owned()))
}

fn admin_error(req: &Element, e: AdminError) -> Option<Element> {
    match e {
        AdminError::NotFound(t) => err(req, SEC::ItemNotFound, &t),
        AdminError::AlreadyExists(t) => err(req, SEC::Conflict, &format!("{t} exists already")),
        AdminError::BadRequest(t) => err(req, SEC::NotAcceptable, &t),
        AdminError::Internal(_) => iq::error(req, StanzaError::new(SEC::InternalServerError)),
    }
}

/// A local account JID from a form value: `(user, host)`.
fn account(s: &str) -> Option<(String, String)> {
    let a = Addr::parse(s)?;
    Some((a.node?, a.domain))
}

/// Runs `cmd`: its last stage with the submitted form, or single-stage commands at once.
pub async fn run(
    server: &ServerRef,
    req: &Element,
    cmd: &Command,
    sid: &str,
    submitted: Option<&Element>,
) -> Option<Element> {
    let ops = NodeAdmin { server: server.clone() };
    let done = status(cmd.node, sid, "completed");
    match (cmd.node, submitted) {
        (ADD_USER, Some(x)) => {
            let Some((user, host)) = forms::value(x, "accountjid").as_deref().and_then(account)
            else {
                return err(req, SEC::JidMalformed, "accountjid must be a user@host JID");
            };
            let password = forms::value(x, "password").unwrap_or_default();
            if forms::value(x, "password-verify").unwrap_or_default() != password {
                return err(req, SEC::NotAcceptable, "Passwords do not match");
            }
            match ops.register(&user, &host, &password).await {
                Ok(()) => Some(iq::result(req, Some(done))),
                Err(e) => admin_error(req, e),
            }
        }
        (DELETE_USER, Some(x)) => {
            let jids = forms::values(x, "accountjids", MAX_JIDS + 1);
            if jids.is_empty() || jids.len() > MAX_JIDS {
                return err(req, SEC::NotAcceptable, "Name between 1 and 1000 accounts");
            }
            for jid in &jids {
                let Some((user, host)) = account(jid) else {
                    return err(req, SEC::JidMalformed, jid);
                };
                if let Err(e) = ops.unregister(&user, &host).await {
                    return admin_error(req, e);
                }
            }
            Some(iq::result(req, Some(done)))
        }
        (ONLINE_NUM | ONLINE_LIST, _) => {
            let host = req.attr("to").unwrap_or_default().to_owned();
            let mut users: Vec<String> = ops
                .sessions()
                .await
                .into_iter()
                .filter_map(|full| {
                    Addr::parse(&full).filter(|a| a.domain == host).map(|a| a.bare())
                })
                .collect();
            users.sort();
            users.dedup();
            let result = if cmd.node == ONLINE_NUM {
                let n = users.len().to_string();
                form("result", "Number of Online Users", None).with_child(field(
                    "text-single",
                    "onlineusersnum",
                    Some("The number of online users"),
                    &[n.as_str()],
                    false,
                ))
            } else {
                users.truncate(MAX_JIDS);
                let refs: Vec<&str> = users.iter().map(String::as_str).collect();
                form("result", "List of Online Users", None).with_child(field(
                    "jid-multi",
                    "onlineuserjids",
                    Some("The list of all online users"),
                    &refs,
                    false,
                ))
            };
            Some(iq::result(req, Some(done.with_child(result))))
        }
        _ => err(req, SEC::BadRequest, "A data form submission is expected"),
    }
}
