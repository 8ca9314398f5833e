//! Archive queries (XEP-0313 §4) with the extended fields and XEP-0059 paging.

use super::archive::{id_from_str, id_to_string};
use super::{writer, NS, NS_EXTENDED, NS_RSM};
use crate::addr::Addr;
use crate::modules::carbons::NS_FORWARD;
use crate::modules::services::xep0082;
use crate::modules::{iq, Me};
use crate::router;
use crate::server::ServerRef;
use meerkat_proto::error::{StanzaError, StanzaErrorCondition as SEC};
use meerkat_proto::ns;
use meerkat_storage::archive::{ArchiveQuery, Cursor};
use meerkat_xml::{Element, Node};

/// A parsed query: the storage query, the RSM cursor id to check, and `<flip-page/>`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Parsed {
    pub(crate) query: ArchiveQuery,
    /// Ids the client named as bounds or cursors: each must exist (else `item-not-found`).
    pub(crate) must_exist: Vec<i64>,
    pub(crate) flip: bool,
}

fn bad(text: &str) -> StanzaError {
    StanzaError::new(SEC::BadRequest).with_text(text.to_owned())
}

fn time_ms(s: &str) -> Result<i64, StanzaError> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|_| bad("start and end must be XEP-0082 DateTimes"))
}

fn archive_id(s: &str) -> Result<i64, StanzaError> {
    // Not one of our ids: it cannot be in the archive.
    id_from_str(s.trim()).ok_or_else(|| {
        StanzaError::new(SEC::ItemNotFound).with_text("no message with this id".to_owned())
    })
}

fn single_value(field: &Element) -> Result<String, StanzaError> {
    let mut values = field.children().filter(|c| c.is("value", ns::DATA_FORMS));
    let v = values.next().map(|v| v.text()).ok_or_else(|| bad("field without a value"))?;
    if values.next().is_some() {
        return Err(bad("field with more than one value"));
    }
    Ok(v)
}

/// Parses the `<query/>` of a set request against the limits of `cfg`.
pub(crate) fn parse(q: &Element, cfg: &meerkat_config::MamModule) -> Result<Parsed, StanzaError> {
    let mut p = Parsed::default();
    p.query.max = cfg.default_page_size;
    let mut stray_after = None;
    for child in q.children() {
        match (child.ns.as_str(), child.name.as_str()) {
            (ns::DATA_FORMS, "x") => parse_form(child, cfg, &mut p)?,
            (NS_RSM, "set") => parse_rsm(child, cfg, &mut p)?,
            (NS, "flip-page") => p.flip = true,
            // profanity 0.13 puts its RSM `<after/>` here, outside `<set/>` (and so in the MAM
            // namespace). Read as what it means: ignoring it repeated the page in its window,
            // refusing the query left the window without the newest page.
            (NS, "after") => stray_after = Some(archive_id(&child.text())?),
            // Ignored, as other servers do.
            (ns, name) => tracing::debug!(what = "mam_query_unknown_child", ns, name),
        }
    }
    if let (Some(id), Cursor::First) = (stray_after, &p.query.cursor) {
        p.must_exist.push(id);
        p.query.cursor = Cursor::After(id);
    }
    Ok(p)
}

fn parse_form(
    x: &Element,
    cfg: &meerkat_config::MamModule,
    p: &mut Parsed,
) -> Result<(), StanzaError> {
    if !matches!(x.attr("type"), Some("submit") | None) {
        return Err(bad("the form must be of type submit"));
    }
    for f in x.children() {
        if !f.is("field", ns::DATA_FORMS) {
            continue;
        }
        let var = f.attr("var").unwrap_or_default();
        match var {
            "FORM_TYPE" => {
                if single_value(f)?.trim() != NS {
                    return Err(bad("FORM_TYPE must be urn:xmpp:mam:2"));
                }
            }
            "with" => {
                let v = single_value(f)?;
                let a = Addr::parse(v.trim()).ok_or_else(|| {
                    StanzaError::new(SEC::JidMalformed).with_text("with is not a JID".to_owned())
                })?;
                p.query.with_bare = Some(a.bare());
                p.query.with_resource = a.resource;
            }
            "start" => p.query.start_ms = Some(time_ms(&single_value(f)?)?),
            "end" => p.query.end_ms = Some(time_ms(&single_value(f)?)?),
            "after-id" => {
                let id = archive_id(&single_value(f)?)?;
                p.query.after_id = Some(id);
                p.must_exist.push(id);
            }
            "before-id" => {
                let id = archive_id(&single_value(f)?)?;
                p.query.before_id = Some(id);
                p.must_exist.push(id);
            }
            "ids" => {
                let values: Vec<String> = f
                    .children()
                    .filter(|c| c.is("value", ns::DATA_FORMS))
                    .map(|v| v.text())
                    .collect();
                if values.len() > cfg.max_page_size {
                    return Err(StanzaError::new(SEC::PolicyViolation)
                        .with_text(format!("at most {} ids per query", cfg.max_page_size)));
                }
                // An id that is not ours matches nothing, like an id of ours that is gone.
                p.query.ids = Some(values.iter().filter_map(|v| id_from_str(v.trim())).collect());
            }
            _ => return Err(bad("unsupported field in the query form")),
        }
    }
    Ok(())
}

fn parse_rsm(
    set: &Element,
    cfg: &meerkat_config::MamModule,
    p: &mut Parsed,
) -> Result<(), StanzaError> {
    let mut cursor = None;
    for c in set.children() {
        if c.ns != NS_RSM {
            return Err(bad("unknown element in <set/>"));
        }
        match c.name.as_str() {
            "max" => {
                let max: usize = c
                    .text()
                    .trim()
                    .parse()
                    .map_err(|_| bad("max must be a non-negative integer"))?;
                // XEP-0313 §4.1.4 (via XEP-0059): a larger page than allowed is lowered.
                p.query.max = max.min(cfg.max_page_size);
            }
            "after" | "before" if cursor.is_some() => {
                return Err(bad("only one of <after/> and <before/>"));
            }
            "after" => {
                let id = archive_id(&c.text())?;
                p.must_exist.push(id);
                cursor = Some(Cursor::After(id));
            }
            "before" => {
                let t = c.text();
                if t.trim().is_empty() {
                    cursor = Some(Cursor::Last);
                } else {
                    let id = archive_id(&t)?;
                    p.must_exist.push(id);
                    cursor = Some(Cursor::Before(id));
                }
            }
            "index" => {
                return Err(StanzaError::new(SEC::FeatureNotImplemented)
                    .with_text("RSM <index/> is not supported".to_owned()))
            }
            _ => return Err(bad("unknown element in <set/>")),
        }
    }
    if let Some(c) = cursor {
        p.query.cursor = c;
    }
    Ok(())
}

/// The form a client fills in (§5: form discovery).
pub(crate) fn form() -> Element {
    let field = |var: &str, kind: &str| {
        Element::new("field", ns::DATA_FORMS).with_attr("var", var).with_attr("type", kind)
    };
    Element::new("query", NS).with_child(
        Element::new("x", ns::DATA_FORMS)
            .with_attr("type", "form")
            .with_child(
                field("FORM_TYPE", "hidden")
                    .with_child(Element::new("value", ns::DATA_FORMS).with_text(NS)),
            )
            .with_child(field("with", "jid-single"))
            .with_child(field("start", "text-single"))
            .with_child(field("end", "text-single"))
            .with_child(field("before-id", "text-single"))
            .with_child(field("after-id", "text-single"))
            .with_child(
                field("ids", "list-multi").with_child(
                    Element::new("validate", "http://jabber.org/protocol/xdata-validate")
                        .with_attr("datatype", "xs:string")
                        .with_child(Element::new(
                            "open",
                            "http://jabber.org/protocol/xdata-validate",
                        )),
                ),
            ),
    )
}

pub(crate) fn parse_stored(xml: &str) -> Option<Element> {
    let mut p = meerkat_xml::StreamParser::new(meerkat_xml::Limits {
        max_stanza_bytes: xml.len().saturating_add(1024),
        ..meerkat_xml::Limits::default()
    });
    p.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    p.feed(xml.as_bytes());
    while let Ok(Some(ev)) = p.next_event() {
        if let meerkat_xml::StreamEvent::Stanza(el) = ev {
            return Some(el);
        }
    }
    None
}

/// Serves a query: form discovery (`get`) or a search (`set`).
pub async fn handle(server: &ServerRef, me: &Me, req: &Element) {
    let reply = match (req.attr("type"), iq::payload(req)) {
        (Some("get"), Some(q)) if q.name == "query" => Some(iq::result(req, Some(form()))),
        (Some("set"), Some(q)) if q.name == "query" => search(server, me, req, q).await,
        _ => iq::error(req, StanzaError::new(SEC::BadRequest)),
    };
    if let Some(r) = reply {
        router::route(server, r).await;
    }
}

async fn search(server: &ServerRef, me: &Me, req: &Element, q: &Element) -> Option<Element> {
    let cfg = &server.config.modules.mam;
    let parsed = match parse(q, cfg) {
        Ok(p) => p,
        Err(e) => return iq::error(req, e),
    };
    writer::flush(server).await;
    let archive = &server.storage.archive;
    for id in &parsed.must_exist {
        match archive.contains(&me.host, &me.user, *id).await {
            Ok(true) => {}
            Ok(false) => {
                return iq::error(
                    req,
                    StanzaError::new(SEC::ItemNotFound)
                        .with_text(format!("no message {} in the archive", id_to_string(*id))),
                )
            }
            Err(e) => {
                tracing::error!(what = "mam_query_failed", error = %e);
                return iq::error(req, StanzaError::new(SEC::InternalServerError));
            }
        }
    }
    let page = match archive.query(&me.host, &me.user, &parsed.query).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(what = "mam_query_failed", error = %e);
            return iq::error(req, StanzaError::new(SEC::InternalServerError));
        }
    };
    let first = page.messages.first().map(|m| id_to_string(m.id));
    let last = page.messages.last().map(|m| id_to_string(m.id));
    let session = server.sessions.get(&me.bare, &me.resource).filter(|e| e.sid == me.sid);
    let queryid = q.attr("queryid");
    let mut msgs = page.messages;
    if parsed.flip {
        msgs.reverse();
    }
    for m in msgs {
        let Some(original) = parse_stored(&m.stanza) else {
            tracing::error!(what = "mam_stanza_unreadable", id = m.id);
            continue;
        };
        let mut fwd = Element::new("forwarded", NS_FORWARD)
            .with_child(Element::new("delay", ns::DELAY).with_attr("stamp", xep0082(m.stamp_ms)));
        fwd.children.push(Node::Element(original));
        let mut result = Element::new("result", NS);
        if let Some(qid) = queryid {
            result.set_attr("queryid", qid);
        }
        result.set_attr("id", id_to_string(m.id));
        let out = Element::new("message", ns::CLIENT)
            .with_attr("to", me.full())
            .with_child(result.with_child(fwd));
        // Results go to the asking session only; if it is gone, so is the point of them.
        let Some(e) = &session else { return None };
        if server.deliver(e, out).is_err() {
            return None;
        }
    }
    let mut set = Element::new("set", NS_RSM);
    if let (Some(f), Some(l)) = (first, last) {
        let (f, l) = if parsed.flip { (l, f) } else { (f, l) };
        set = set
            .with_child(Element::new("first", NS_RSM).with_text(f))
            .with_child(Element::new("last", NS_RSM).with_text(l));
    }
    set = set.with_child(Element::new("count", NS_RSM).with_text(page.count.to_string()));
    let fin = Element::new("fin", NS)
        .with_attr("complete", if page.complete { "true" } else { "false" })
        .with_child(set);
    let _ = NS_EXTENDED;
    Some(iq::result(req, Some(fin)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> meerkat_config::MamModule {
        meerkat_config::MamModule::default()
    }

    fn field(var: &str, values: &[&str]) -> Element {
        values.iter().fold(Element::new("field", ns::DATA_FORMS).with_attr("var", var), |f, v| {
            f.with_child(Element::new("value", ns::DATA_FORMS).with_text(*v))
        })
    }

    fn query(fields: Vec<Element>) -> Element {
        let x = fields.into_iter().fold(
            Element::new("x", ns::DATA_FORMS)
                .with_attr("type", "submit")
                .with_child(field("FORM_TYPE", &[NS])),
            |x, f| x.with_child(f),
        );
        Element::new("query", NS).with_child(x)
    }

    fn err(q: &Element) -> String {
        match parse(q, &cfg()) {
            Ok(p) => panic!("accepted: {p:?}"),
            Err(e) => format!("{:?}", e.condition),
        }
    }

    #[test]
    fn form_fields_parse() {
        let id = id_to_string(5 << 20);
        let q = query(vec![
            field("with", &["Bob@Example.org/Phone"]),
            field("start", &["2010-06-07T00:00:00Z"]),
            field("end", &["2010-07-07T13:23:54.5+02:00"]),
            field("after-id", &[&id]),
        ])
        .with_child(
            Element::new("set", NS_RSM)
                .with_child(Element::new("max", NS_RSM).with_text("1000"))
                .with_child(Element::new("before", NS_RSM)),
        )
        .with_child(Element::new("flip-page", NS));
        let p = parse(&q, &cfg()).expect("parse");
        assert_eq!(p.query.with_bare.as_deref(), Some("bob@example.org"));
        assert_eq!(p.query.with_resource.as_deref(), Some("Phone"));
        assert_eq!(p.query.start_ms, Some(1_275_868_800_000));
        assert_eq!(p.query.end_ms, Some(1_278_501_834_500));
        assert_eq!(p.query.after_id, Some(5 << 20));
        assert_eq!(p.query.max, 250, "clamped to the cap");
        assert_eq!(p.query.cursor, Cursor::Last);
        assert!(p.flip);
        assert_eq!(p.must_exist, vec![5 << 20]);
    }

    #[test]
    fn bad_forms_are_refused() {
        assert_eq!(err(&query(vec![field("start", &["yesterday"])])), "BadRequest");
        assert_eq!(err(&query(vec![field("colour", &["red"])])), "BadRequest");
        assert_eq!(err(&query(vec![field("with", &["a@b", "c@d"])])), "BadRequest");
        assert_eq!(err(&query(vec![field("FORM_TYPE", &["urn:xmpp:mam:1"])])), "BadRequest");
        assert_eq!(err(&query(vec![field("after-id", &["nope"])])), "ItemNotFound");
        let many: Vec<String> = (0..251).map(|i| id_to_string(i + 1)).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(err(&query(vec![field("ids", &many)])), "PolicyViolation");
        let rsm = |kids: Vec<Element>| {
            kids.into_iter().fold(Element::new("set", NS_RSM), |s, k| s.with_child(k))
        };
        let q = query(vec![]).with_child(rsm(vec![Element::new("max", NS_RSM).with_text("-1")]));
        assert_eq!(err(&q), "BadRequest");
        let q = query(vec![]).with_child(rsm(vec![
            Element::new("after", NS_RSM).with_text(id_to_string(7)),
            Element::new("before", NS_RSM),
        ]));
        assert_eq!(err(&q), "BadRequest");
    }

    #[test]
    fn unknown_children_of_the_query_are_ignored() {
        let q = query(vec![field("with", &["bob@example.org"])])
            .with_child(
                Element::new("set", NS_RSM).with_child(Element::new("max", NS_RSM).with_text("10")),
            )
            .with_child(Element::new("unknown", "urn:example"));
        let p = parse(&q, &cfg()).expect("parse");
        assert_eq!((p.query.max, p.query.with_bare.as_deref()), (10, Some("bob@example.org")));
        assert_eq!(p.query.cursor, Cursor::First);
    }

    #[test]
    fn profanitys_after_outside_the_rsm_set_is_the_rsm_after() {
        // profanity 0.13.1's query when it has a last id: <after/> in the MAM namespace.
        let q = query(vec![field("with", &["bob@example.org"])])
            .with_child(Element::new("after", NS).with_text(id_to_string(9)));
        let p = parse(&q, &cfg()).expect("parse");
        assert_eq!(p.query.cursor, Cursor::After(9));
        assert_eq!(p.must_exist, vec![9]);
    }
}
