//! Discussion history (XEP-0045 §7.2.15): the room keeps its last messages, bounded by
//! `history_max_stanzas` and `max_history_chars`, and sends a new occupant those its
//! `<history/>` asks for (`maxstanzas`, `maxchars`, `seconds`, `since`), each with a
//! XEP-0203 delay stamped by the room.

use crate::modules::services::xep0082;
use meerkat_proto::ns;
use meerkat_xml::Element;
use std::collections::VecDeque;

/// One remembered message.
#[derive(Debug, Clone)]
struct Entry {
    stamp_ms: i64,
    /// Characters of the serialised stanza (what `maxchars` counts).
    chars: usize,
    /// The message as broadcast, without `to`.
    stanza: Element,
}

/// The history of one room.
#[derive(Debug, Default)]
pub struct History {
    entries: VecDeque<Entry>,
    chars: usize,
}

/// What a joining occupant asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Request {
    /// Most messages.
    pub max_stanzas: Option<usize>,
    /// Most characters.
    pub max_chars: Option<usize>,
    /// Only messages not older than this (ms since the epoch), from `seconds` or `since`.
    pub since_ms: Option<i64>,
}

impl Request {
    /// Reads `<history/>` from the join's `<x xmlns='http://jabber.org/protocol/muc'/>`.
    /// Malformed attributes are ignored (the XEP's default applies), never an error.
    pub fn parse(x: Option<&Element>, now_ms: i64) -> Request {
        let Some(h) = x.and_then(|x| x.get_child("history", super::NS_MUC)) else {
            return Request::default();
        };
        let num = |a: &str| h.attr(a).and_then(|v| v.trim().parse::<u64>().ok());
        let mut since_ms = num("seconds").map(|s| {
            now_ms.saturating_sub(i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX))
        });
        if let Some(t) =
            h.attr("since").and_then(|s| chrono::DateTime::parse_from_rfc3339(s.trim()).ok())
        {
            let t = t.timestamp_millis();
            since_ms = Some(since_ms.map_or(t, |s| s.max(t)));
        }
        Request {
            max_stanzas: num("maxstanzas").map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            max_chars: num("maxchars").map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            since_ms,
        }
    }
}

impl History {
    /// Remembers `stanza` (without `to`), dropping the oldest beyond the limits.
    pub fn push(&mut self, stanza: Element, stamp_ms: i64, max_stanzas: usize, max_chars: usize) {
        if max_stanzas == 0 {
            return;
        }
        let chars = stanza.to_xml().chars().count();
        self.entries.push_back(Entry { stamp_ms, chars, stanza });
        self.chars = self.chars.saturating_add(chars);
        while self.entries.len() > max_stanzas
            || (self.chars > max_chars && !self.entries.is_empty())
        {
            if let Some(old) = self.entries.pop_front() {
                self.chars = self.chars.saturating_sub(old.chars);
            }
        }
    }

    /// Forgets the message with this stanza-id (a moderated message must not be replayed).
    pub fn remove_by_stanza_id(&mut self, id: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| {
            e.stanza
                .get_child("stanza-id", crate::modules::mam::NS_SID)
                .is_none_or(|s| s.attr("id") != Some(id))
        });
        let removed = before != self.entries.len();
        self.chars = self.entries.iter().map(|e| e.chars).sum();
        removed
    }

    /// The messages `req` asks for, oldest first, addressed to `to` and delayed by `room`.
    pub fn replay(&self, req: Request, room: &str, to: &str) -> Vec<Element> {
        let mut picked: Vec<&Entry> = Vec::new();
        let mut chars = 0usize;
        for e in self.entries.iter().rev() {
            if req.max_stanzas.is_some_and(|m| picked.len() >= m) {
                break;
            }
            if req.since_ms.is_some_and(|s| e.stamp_ms < s) {
                break;
            }
            chars = chars.saturating_add(e.chars);
            if req.max_chars.is_some_and(|m| chars > m) {
                break;
            }
            picked.push(e);
        }
        picked
            .into_iter()
            .rev()
            .map(|e| {
                let mut m = e.stanza.clone();
                m.set_attr("to", to);
                m.with_child(
                    Element::new("delay", ns::DELAY)
                        .with_attr("from", room)
                        .with_attr("stamp", xep0082(e.stamp_ms)),
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: usize) -> Element {
        Element::new("message", ns::CLIENT)
            .with_attr("type", "groupchat")
            .with_child(Element::new("body", ns::CLIENT).with_text(format!("m{n}")))
    }

    fn bodies(v: &[Element]) -> Vec<String> {
        v.iter()
            .map(|m| m.get_child("body", ns::CLIENT).map(|b| b.text()).unwrap_or_default())
            .collect()
    }

    #[test]
    fn bounded_and_filtered() {
        let mut h = History::default();
        for n in 0..5 {
            h.push(msg(n), 1_000 * n as i64, 3, 100_000);
        }
        let all = h.replay(Request::default(), "r@c", "u@h/x");
        assert_eq!(bodies(&all), ["m2", "m3", "m4"]);
        let two = h.replay(Request { max_stanzas: Some(2), ..Default::default() }, "r@c", "u@h/x");
        assert_eq!(bodies(&two), ["m3", "m4"]);
        let since = h.replay(Request { since_ms: Some(3_000), ..Default::default() }, "r@c", "u");
        assert_eq!(bodies(&since), ["m3", "m4"]);
        let one_len = msg(4).to_xml().chars().count();
        let chars =
            h.replay(Request { max_chars: Some(one_len), ..Default::default() }, "r@c", "u");
        assert_eq!(bodies(&chars), ["m4"]);
        let none = h.replay(Request { max_stanzas: Some(0), ..Default::default() }, "r@c", "u");
        assert!(none.is_empty());
        assert_eq!(all[0].attr("to"), Some("u@h/x"));
        assert!(all[0].get_child("delay", ns::DELAY).is_some());
    }

    #[test]
    fn request_parses_and_ignores_garbage() {
        let x = Element::new("x", crate::components::muc::NS_MUC).with_child(
            Element::new("history", crate::components::muc::NS_MUC)
                .with_attr("maxstanzas", "7")
                .with_attr("maxchars", "-1")
                .with_attr("seconds", "10"),
        );
        let r = Request::parse(Some(&x), 100_000);
        assert_eq!(r, Request { max_stanzas: Some(7), max_chars: None, since_ms: Some(90_000) });
    }
}
