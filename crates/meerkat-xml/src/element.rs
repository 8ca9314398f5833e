//! Owned XML element tree.

/// A child of an element: another element or character data (already unescaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data, unescaped.
    Text(String),
}

/// An XML element with its resolved namespace.
///
/// Attribute names are kept as written (`type`, `xml:lang`); namespace declarations (`xmlns`,
/// `xmlns:p`) are not attributes: they are resolved into [`Element::ns`] by the parser and
/// re-created by the writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Local name (without prefix).
    pub name: String,
    /// Resolved namespace URI ("" when none).
    pub ns: String,
    /// Attributes in document order, values unescaped.
    pub attrs: Vec<(String, String)>,
    /// Children in document order.
    pub children: Vec<Node>,
}

impl Element {
    /// A new empty element.
    pub fn new(name: impl Into<String>, ns: impl Into<String>) -> Self {
        Element { name: name.into(), ns: ns.into(), attrs: Vec::new(), children: Vec::new() }
    }

    /// Builder: sets attribute `name` (replacing an existing one).
    pub fn with_attr(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_attr(name, value);
        self
    }

    /// Builder: appends a child element.
    pub fn with_child(mut self, child: Element) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    /// Builder: appends character data.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.children.push(Node::Text(text.into()));
        self
    }

    /// True when the element has this local name and namespace.
    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name == name && self.ns == ns
    }

    /// Value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Sets attribute `name`, replacing an existing value.
    pub fn set_attr(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.attrs.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((name, value)),
        }
    }

    /// Removes attribute `name`, returning its value.
    pub fn remove_attr(&mut self, name: &str) -> Option<String> {
        let pos = self.attrs.iter().position(|(k, _)| k == name)?;
        Some(self.attrs.remove(pos).1)
    }

    /// Child elements in order.
    pub fn children(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// First child element with this name and namespace.
    pub fn get_child(&self, name: &str, ns: &str) -> Option<&Element> {
        self.children().find(|e| e.is(name, ns))
    }

    /// First child element with this name and namespace, mutable.
    pub fn get_child_mut(&mut self, name: &str, ns: &str) -> Option<&mut Element> {
        self.children.iter_mut().find_map(|n| match n {
            Node::Element(e) if e.is(name, ns) => Some(e),
            _ => None,
        })
    }

    /// True when a child element with this name and namespace exists.
    pub fn has_child(&self, name: &str, ns: &str) -> bool {
        self.get_child(name, ns).is_some()
    }

    /// Removes every child element with this name and namespace.
    pub fn remove_children(&mut self, name: &str, ns: &str) {
        self.children.retain(|n| !matches!(n, Node::Element(e) if e.is(name, ns)));
    }

    /// Concatenated direct character data.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                out.push_str(t);
            }
        }
        out
    }
}
