//! Node configuration (XEP-0060 §16.4.4 `pubsub#node_config` subset): access model, roster
//! groups, persistence, item count, last-item sending, notification switches. Read from and
//! written as the `(var, value)` pairs storage keeps, and from data forms (configure,
//! publish-options).

use super::error::PubsubError;
use meerkat_proto::error::StanzaErrorCondition as SEC;
use meerkat_proto::ns;
use meerkat_xml::Element;

/// `FORM_TYPE` of node configuration forms.
pub const NODE_CONFIG: &str = "http://jabber.org/protocol/pubsub#node_config";
/// `FORM_TYPE` of publish options.
pub const PUBLISH_OPTIONS: &str = "http://jabber.org/protocol/pubsub#publish-options";

/// Bounds from `[modules.pep]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Nodes per service.
    pub max_nodes: usize,
    /// Items per node (what `max` means).
    pub max_items: usize,
    /// Payload bytes per item.
    pub max_item_bytes: usize,
}

/// `pubsub#access_model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessModel {
    /// Anyone.
    Open,
    /// Entities subscribed to the owner's presence.
    Presence,
    /// Contacts in allowed roster groups.
    Roster,
    /// The owner only (no whitelist management yet).
    Whitelist,
}

impl AccessModel {
    fn name(self) -> &'static str {
        match self {
            AccessModel::Open => "open",
            AccessModel::Presence => "presence",
            AccessModel::Roster => "roster",
            AccessModel::Whitelist => "whitelist",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => AccessModel::Open,
            "presence" => AccessModel::Presence,
            "roster" => AccessModel::Roster,
            "whitelist" => AccessModel::Whitelist,
            _ => return None,
        })
    }
}

/// `pubsub#send_last_published_item`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendLast {
    /// Never.
    Never,
    /// When subscribing.
    OnSub,
    /// When subscribing and when a subscriber becomes available (the PEP default).
    OnSubAndPresence,
}

impl SendLast {
    fn name(self) -> &'static str {
        match self {
            SendLast::Never => "never",
            SendLast::OnSub => "on_sub",
            SendLast::OnSubAndPresence => "on_sub_and_presence",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "never" => SendLast::Never,
            "on_sub" => SendLast::OnSub,
            "on_sub_and_presence" => SendLast::OnSubAndPresence,
            _ => return None,
        })
    }
}

/// A node's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// Who may retrieve items and get notifications.
    pub access_model: AccessModel,
    /// Roster groups allowed by [`AccessModel::Roster`].
    pub roster_groups_allowed: Vec<String>,
    /// Keep items (otherwise only the last one is kept, for last-item sending).
    pub persist_items: bool,
    /// Items kept, 1..=limit.
    pub max_items: usize,
    /// When the last item is sent.
    pub send_last: SendLast,
    /// Notify retractions.
    pub notify_retract: bool,
    /// Notify node deletion.
    pub notify_delete: bool,
    /// Include payloads in notifications.
    pub deliver_payloads: bool,
    /// `pubsub#title`.
    pub title: String,
}

impl NodeConfig {
    /// Defaults of a PEP node (XEP-0163 §4.1 and XEP-0060 defaults): presence access, one
    /// persistent item, last item on presence.
    pub fn pep_default() -> Self {
        NodeConfig {
            access_model: AccessModel::Presence,
            roster_groups_allowed: Vec::new(),
            persist_items: true,
            max_items: 1,
            send_last: SendLast::OnSubAndPresence,
            notify_retract: true,
            notify_delete: true,
            deliver_payloads: true,
            title: String::new(),
        }
    }

    /// Items the store keeps for this node.
    pub fn kept_items(&self) -> usize {
        if self.persist_items {
            self.max_items
        } else {
            1
        }
    }

    /// The stored form.
    pub fn to_pairs(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("pubsub#access_model".to_owned(), self.access_model.name().to_owned()),
            ("pubsub#persist_items".to_owned(), bool_str(self.persist_items).to_owned()),
            ("pubsub#max_items".to_owned(), self.max_items.to_string()),
            ("pubsub#send_last_published_item".to_owned(), self.send_last.name().to_owned()),
            ("pubsub#notify_retract".to_owned(), bool_str(self.notify_retract).to_owned()),
            ("pubsub#notify_delete".to_owned(), bool_str(self.notify_delete).to_owned()),
            ("pubsub#deliver_payloads".to_owned(), bool_str(self.deliver_payloads).to_owned()),
            ("pubsub#title".to_owned(), self.title.clone()),
        ];
        for g in &self.roster_groups_allowed {
            v.push(("pubsub#roster_groups_allowed".to_owned(), g.clone()));
        }
        v
    }

    /// Reads the stored form; unknown or unreadable pairs keep the default (a value written
    /// by a newer version must not make the node unusable).
    pub fn from_pairs(pairs: &[(String, String)], limits: &Limits) -> Self {
        let mut c = NodeConfig::pep_default();
        let mut groups = Vec::new();
        for (k, v) in pairs {
            if k == "pubsub#roster_groups_allowed" {
                groups.push(v.clone());
            } else {
                let _ = c.set(k, std::slice::from_ref(v), limits);
            }
        }
        c.roster_groups_allowed = groups;
        c
    }

    /// Sets one field from form values. `Ok(false)` for a field this implementation does not
    /// know (ignored); `not-acceptable` for a bad value.
    fn set(&mut self, var: &str, values: &[String], limits: &Limits) -> Result<bool, PubsubError> {
        let one = values.first().map(String::as_str).unwrap_or("");
        let bad = || PubsubError::new(SEC::NotAcceptable).text(&format!("invalid value for {var}"));
        match var {
            "pubsub#access_model" => self.access_model = AccessModel::parse(one).ok_or_else(bad)?,
            "pubsub#roster_groups_allowed" => self.roster_groups_allowed = values.to_vec(),
            "pubsub#persist_items" => self.persist_items = parse_bool(one).ok_or_else(bad)?,
            "pubsub#max_items" => self.max_items = parse_max_items(one, limits)?,
            "pubsub#send_last_published_item" => {
                self.send_last = SendLast::parse(one).ok_or_else(bad)?
            }
            "pubsub#notify_retract" => self.notify_retract = parse_bool(one).ok_or_else(bad)?,
            "pubsub#notify_delete" => self.notify_delete = parse_bool(one).ok_or_else(bad)?,
            "pubsub#deliver_payloads" => self.deliver_payloads = parse_bool(one).ok_or_else(bad)?,
            "pubsub#title" => self.title = one.to_owned(),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Applies a submitted configuration form (`pubsub#node_config` or publish-options).
    pub fn apply_form(&mut self, x: &Element, limits: &Limits) -> Result<(), PubsubError> {
        if x.attr("type") == Some("cancel") {
            return Ok(());
        }
        for (var, values) in form_fields(x) {
            self.set(&var, &values, limits)?;
        }
        Ok(())
    }

    /// Checks publish-options as preconditions against this (existing) node's configuration
    /// (XEP-0060 §7.1.5): a known option with another value fails with
    /// `conflict`/`precondition-not-met`; unknown options are ignored.
    pub fn check_preconditions(&self, x: &Element, limits: &Limits) -> Result<(), PubsubError> {
        for (var, values) in form_fields(x) {
            let mut wanted = self.clone();
            match wanted.set(&var, &values, limits) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => return Err(PubsubError::precondition(&var)),
            }
            if var == "pubsub#roster_groups_allowed" {
                let mut a = wanted.roster_groups_allowed.clone();
                let mut b = self.roster_groups_allowed.clone();
                a.sort();
                b.sort();
                if a != b {
                    return Err(PubsubError::precondition(&var));
                }
            } else if wanted != *self {
                return Err(PubsubError::precondition(&var));
            }
        }
        Ok(())
    }

    /// The configuration form (XEP-0060 §8.2.1), `type='form'`.
    pub fn form(&self) -> Element {
        let mut x = Element::new("x", ns::DATA_FORMS).with_attr("type", "form");
        x = x.with_child(field("FORM_TYPE", "hidden", None, &[NODE_CONFIG.to_owned()]));
        let list = |name: &str| name.to_owned();
        x = x.with_child(
            field(
                "pubsub#access_model",
                "list-single",
                Some("Who may subscribe and retrieve items"),
                &[self.access_model.name().to_owned()],
            )
            .with_children_options(&["open", "presence", "roster", "whitelist"].map(list)),
        );
        x = x.with_child(field(
            "pubsub#roster_groups_allowed",
            "list-multi",
            Some("Roster groups allowed to subscribe"),
            &self.roster_groups_allowed,
        ));
        x = x.with_child(field(
            "pubsub#persist_items",
            "boolean",
            Some("Persist items to storage"),
            &[bool_str(self.persist_items).to_owned()],
        ));
        x = x.with_child(field(
            "pubsub#max_items",
            "text-single",
            Some("Max number of items to persist"),
            &[self.max_items.to_string()],
        ));
        x = x.with_child(
            field(
                "pubsub#send_last_published_item",
                "list-single",
                Some("When to send the last published item"),
                &[self.send_last.name().to_owned()],
            )
            .with_children_options(&["never", "on_sub", "on_sub_and_presence"].map(list)),
        );
        x = x.with_child(field(
            "pubsub#notify_retract",
            "boolean",
            Some("Notify subscribers when items are removed from the node"),
            &[bool_str(self.notify_retract).to_owned()],
        ));
        x = x.with_child(field(
            "pubsub#notify_delete",
            "boolean",
            Some("Notify subscribers when the node is deleted"),
            &[bool_str(self.notify_delete).to_owned()],
        ));
        x = x.with_child(field(
            "pubsub#deliver_payloads",
            "boolean",
            Some("Deliver payloads with event notifications"),
            &[bool_str(self.deliver_payloads).to_owned()],
        ));
        x.with_child(field(
            "pubsub#title",
            "text-single",
            Some("A friendly name for the node"),
            std::slice::from_ref(&self.title),
        ))
    }
}

trait WithOptions {
    fn with_children_options(self, options: &[String]) -> Element;
}

impl WithOptions for Element {
    fn with_children_options(mut self, options: &[String]) -> Element {
        for o in options {
            self = self.with_child(
                Element::new("option", ns::DATA_FORMS)
                    .with_child(Element::new("value", ns::DATA_FORMS).with_text(o.clone())),
            );
        }
        self
    }
}

fn field(var: &str, typ: &str, label: Option<&str>, values: &[String]) -> Element {
    let mut f = Element::new("field", ns::DATA_FORMS).with_attr("var", var).with_attr("type", typ);
    if let Some(l) = label {
        f.set_attr("label", l);
    }
    for v in values {
        f = f.with_child(Element::new("value", ns::DATA_FORMS).with_text(v.clone()));
    }
    f
}

/// Fields of a submitted form other than FORM_TYPE, with their values.
fn form_fields(x: &Element) -> Vec<(String, Vec<String>)> {
    x.children()
        .filter(|f| f.is("field", ns::DATA_FORMS))
        .filter_map(|f| {
            let var = f.attr("var")?;
            (var != "FORM_TYPE").then(|| {
                let values =
                    f.children().filter(|v| v.is("value", ns::DATA_FORMS)).map(|v| v.text());
                (var.to_owned(), values.collect())
            })
        })
        .collect()
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim() {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

/// `max` or a number in 1..=limit.
fn parse_max_items(s: &str, limits: &Limits) -> Result<usize, PubsubError> {
    let s = s.trim();
    if s == "max" {
        return Ok(limits.max_items);
    }
    let n: usize = s.parse().map_err(|_| {
        PubsubError::new(SEC::NotAcceptable).text("pubsub#max_items must be a number or max")
    })?;
    if n == 0 || n > limits.max_items {
        return Err(PubsubError::new(SEC::NotAcceptable)
            .text(&format!("pubsub#max_items must be between 1 and {}", limits.max_items)));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_nodes: 10, max_items: 50, max_item_bytes: 1000 };

    fn form(fields: &[(&str, &[&str])]) -> Element {
        let mut x = Element::new("x", ns::DATA_FORMS).with_attr("type", "submit");
        x = x.with_child(field("FORM_TYPE", "hidden", None, &[PUBLISH_OPTIONS.to_owned()]));
        for (var, values) in fields {
            let values: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
            x = x.with_child(field(var, "text-single", None, &values));
        }
        x
    }

    #[test]
    fn pairs_round_trip() {
        let mut c = NodeConfig::pep_default();
        c.apply_form(
            &form(&[
                ("pubsub#access_model", &["roster"]),
                ("pubsub#roster_groups_allowed", &["friends", "family"]),
                ("pubsub#max_items", &["max"]),
                ("pubsub#send_last_published_item", &["never"]),
                ("pubsub#unknown", &["x"]),
            ]),
            &LIMITS,
        )
        .expect("apply");
        assert_eq!(c.access_model, AccessModel::Roster);
        assert_eq!(c.max_items, 50);
        assert_eq!(NodeConfig::from_pairs(&c.to_pairs(), &LIMITS), c);
    }

    #[test]
    fn bad_values_are_not_acceptable() {
        let mut c = NodeConfig::pep_default();
        for (var, v) in [
            ("pubsub#access_model", "authorize"),
            ("pubsub#max_items", "51"),
            ("pubsub#max_items", "0"),
            ("pubsub#persist_items", "yes"),
        ] {
            let e = c.apply_form(&form(&[(var, &[v])]), &LIMITS).expect_err(var);
            assert_eq!(e.error.condition, SEC::NotAcceptable);
        }
    }

    #[test]
    fn preconditions() {
        let mut c = NodeConfig::pep_default();
        c.apply_form(
            &form(&[("pubsub#access_model", &["whitelist"]), ("pubsub#max_items", &["max"])]),
            &LIMITS,
        )
        .expect("apply");
        c.check_preconditions(
            &form(&[
                ("pubsub#access_model", &["whitelist"]),
                ("pubsub#max_items", &["max"]),
                ("x#y", &["z"]),
            ]),
            &LIMITS,
        )
        .expect("same");
        let e = c
            .check_preconditions(&form(&[("pubsub#access_model", &["open"])]), &LIMITS)
            .expect_err("diff");
        assert_eq!((e.error.condition, e.app), (SEC::Conflict, Some("precondition-not-met")));
        let e =
            c.check_preconditions(&form(&[("pubsub#max_items", &["3"])]), &LIMITS).expect_err("n");
        assert_eq!(e.app, Some("precondition-not-met"));
        let e = c
            .check_preconditions(&form(&[("pubsub#persist_items", &["bogus"])]), &LIMITS)
            .expect_err("bad");
        assert_eq!(e.app, Some("precondition-not-met"));
    }
}
