use super::*;
use crate::{Node, NS_STREAM, NS_XML};

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

/// Feeds `chunks` one after another, draining events after each; stops at the first error.
fn run_chunks<'a>(
    limits: Limits,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (Vec<StreamEvent>, Option<XmlError>) {
    let mut p = StreamParser::new(limits);
    let mut events = Vec::new();
    for chunk in chunks {
        p.feed(chunk);
        loop {
            match p.next_event() {
                Ok(Some(e)) => events.push(e),
                Ok(None) => break,
                Err(e) => {
                    // Poisoned: the same error again, and feeding changes nothing.
                    assert_eq!(p.next_event(), Err(e.clone()));
                    p.feed(b"<x/>");
                    assert_eq!(p.next_event(), Err(e.clone()));
                    assert_eq!(p.buffered_bytes(), 0);
                    return (events, Some(e));
                }
            }
        }
    }
    (events, None)
}

/// Runs `input` fed whole, byte by byte and in 7-byte chunks; all must agree.
fn run_with(limits: Limits, input: &[u8]) -> (Vec<StreamEvent>, Option<XmlError>) {
    let whole = run_chunks(limits, [input]);
    let bytewise = run_chunks(limits, input.chunks(1));
    let sevens = run_chunks(limits, input.chunks(7));
    assert_eq!(whole, bytewise, "whole vs byte-at-a-time for {:?}", String::from_utf8_lossy(input));
    assert_eq!(whole, sevens, "whole vs 7-byte chunks for {:?}", String::from_utf8_lossy(input));
    whole
}

fn run(input: &[u8]) -> (Vec<StreamEvent>, Option<XmlError>) {
    run_with(Limits::default(), input)
}

/// The stanzas of `HEADER + body`, which must parse without error.
fn stanzas(body: &str) -> Vec<Element> {
    let (events, err) = run(format!("{HEADER}{body}").as_bytes());
    assert_eq!(err, None, "unexpected error for {body:?}");
    let mut it = events.into_iter();
    assert!(matches!(it.next(), Some(StreamEvent::Open(_))));
    it.map(|e| match e {
        StreamEvent::Stanza(s) => s,
        other => panic!("unexpected {other:?}"),
    })
    .collect()
}

fn stanza(body: &str) -> Element {
    let mut v = stanzas(body);
    assert_eq!(v.len(), 1, "expected one stanza in {body:?}");
    v.remove(0)
}

/// The error for `HEADER + body` (the header itself must be fine).
fn err_bytes(body: &[u8]) -> XmlError {
    let mut input = HEADER.as_bytes().to_vec();
    input.extend_from_slice(body);
    let (events, err) = run(&input);
    assert!(matches!(events.first(), Some(StreamEvent::Open(_))));
    err.unwrap_or_else(|| panic!("no error for {:?}", String::from_utf8_lossy(body)))
}

fn err(body: &str) -> XmlError {
    err_bytes(body.as_bytes())
}

fn is_nwf(e: &XmlError) -> bool {
    matches!(e, XmlError::NotWellFormed(_))
}

/// The error for a whole input starting before the header.
fn header_err(input: &[u8]) -> XmlError {
    let (events, err) = run(input);
    assert!(events.is_empty(), "{events:?}");
    err.unwrap_or_else(|| panic!("no error for {:?}", String::from_utf8_lossy(input)))
}

#[test]
fn parser_is_small() {
    // Inline state of every idle connection: keep an eye on growth.
    assert_eq!(std::mem::size_of::<StreamParser>(), 112);
    assert_eq!(std::mem::size_of::<Scan>(), 2);
}

#[test]
fn stream_header() {
    let (events, err) = run(HEADER.as_bytes());
    assert_eq!(err, None);
    let [StreamEvent::Open(open)] = &events[..] else { panic!("{events:?}") };
    assert_eq!(open.default_ns.as_deref(), Some("jabber:client"));
    assert!(open.element.is("stream", NS_STREAM));
    assert_eq!(
        open.element.attrs,
        vec![("to".to_string(), "example.com".to_string()), ("version".into(), "1.0".into())]
    );
    assert!(open.element.children.is_empty());
}

#[test]
fn stream_header_variants() {
    for input in [
        // No XML declaration, xml:lang, double quotes.
        "<stream:stream xmlns=\"jabber:client\" xmlns:stream=\"http://etherx.jabber.org/streams\" \
         xml:lang=\"en\" version=\"1.0\">",
        // Full declaration, whitespace before the header.
        "<?xml version=\"1.0\" encoding=\"utf-8\" standalone='yes' ?>\n  <stream:stream \
         xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client'>",
        // Byte order mark.
        "\u{FEFF}<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams'>",
        // Leading whitespace, no declaration.
        "\n<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
        // Another prefix for the streams namespace.
        "<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'>",
    ] {
        let (events, err) = run(input.as_bytes());
        assert_eq!(err, None, "{input}");
        let [StreamEvent::Open(open)] = &events[..] else { panic!("{input}: {events:?}") };
        assert_eq!(open.default_ns.as_deref(), Some("jabber:client"), "{input}");
        assert!(open.element.is("stream", NS_STREAM));
    }
    let (events, _) =
        run(b"<stream:stream xml:lang='en' xmlns:stream='http://etherx.jabber.org/streams'>");
    let [StreamEvent::Open(open)] = &events[..] else { panic!("{events:?}") };
    assert_eq!(open.default_ns, None);
    assert_eq!(open.element.attr("xml:lang"), Some("en"));
}

#[test]
fn stream_header_errors() {
    let wrong_ns = "<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong'>";
    assert_eq!(header_err(wrong_ns.as_bytes()), XmlError::InvalidNamespace);
    let wrong_name = "<stream:flow xmlns:stream='http://etherx.jabber.org/streams'>";
    assert_eq!(header_err(wrong_name.as_bytes()), XmlError::InvalidNamespace);
    let unprefixed = "<stream xmlns='jabber:client'>";
    assert_eq!(header_err(unprefixed.as_bytes()), XmlError::InvalidNamespace);
    let undeclared = "<stream:stream xmlns='jabber:client'>";
    assert!(is_nwf(&header_err(undeclared.as_bytes())));

    let tail = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>";
    for (prolog, restricted) in [
        ("<?xml version='1.0' encoding='ISO-8859-1'?>", false),
        ("<?xml version='2.0'?>", false),
        ("<?xml encoding='UTF-8'?>", false),
        ("<?xml?>", false),
        ("<?xml version='1.0' bogus='1'?>", false),
        ("<?xml standalone='yes' version='1.0'?>", false),
        ("<?XML version='1.0'?>", false),
        ("junk", false),
        ("\u{FEFF}\u{FEFF}", false),
        ("<?xml-stylesheet href='a'?>", true),
        ("<?php echo 1 ?>", true),
        ("<!DOCTYPE stream>", true),
        ("<!-- hello -->", true),
        (" <?xml version='1.0'?>", true),
        ("<?xml version='1.0'?><?xml version='1.0'?>", true),
    ] {
        let e = header_err(format!("{prolog}{tail}").as_bytes());
        if restricted {
            assert!(matches!(e, XmlError::RestrictedXml(_)), "{prolog}: {e:?}");
        } else {
            assert!(is_nwf(&e), "{prolog}: {e:?}");
        }
    }
    assert!(is_nwf(&header_err(b"</stream:stream>")));
    assert!(is_nwf(&header_err(b"<stream:stream \xff xmlns:stream='x'>")));
    assert!(is_nwf(&header_err(b"<stream:stream to=example.com>")));
    assert!(is_nwf(&header_err(
        b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' a='1' a='2'>"
    )));
}

#[test]
fn header_then_stanzas_then_close() {
    let input = format!(
        "{HEADER}<message to='romeo@example.net' type='chat'><body>hi</body></message>\n \
         <presence/>\t<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq></stream:stream>"
    );
    let (events, err) = run(input.as_bytes());
    assert_eq!(err, None);
    assert_eq!(events.len(), 5);
    let StreamEvent::Stanza(m) = &events[1] else { panic!() };
    assert!(m.is("message", "jabber:client"));
    assert_eq!(m.attr("to"), Some("romeo@example.net"));
    assert_eq!(m.get_child("body", "jabber:client").map(Element::text).as_deref(), Some("hi"));
    assert_eq!(events[2], StreamEvent::Stanza(Element::new("presence", "jabber:client")));
    let StreamEvent::Stanza(iq) = &events[3] else { panic!() };
    assert!(iq.has_child("ping", "urn:xmpp:ping"));
    assert_eq!(events[4], StreamEvent::Close);
}

#[test]
fn many_stanzas_in_one_feed() {
    let body: String =
        (0..500).map(|i| format!("<message id='m{i}'><body>{i}</body></message> ")).collect();
    let mut p = StreamParser::new(Limits::default());
    p.feed(format!("{HEADER}{body}").as_bytes());
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Open(_)))));
    for i in 0..500 {
        let Ok(Some(StreamEvent::Stanza(m))) = p.next_event() else { panic!("stanza {i}") };
        assert_eq!(m.attr("id"), Some(format!("m{i}").as_str()));
    }
    assert_eq!(p.next_event(), Ok(None));
    assert_eq!(p.buffered_bytes(), 0);
}

#[test]
fn keepalive_whitespace_is_consumed() {
    let mut p = StreamParser::new(Limits::default());
    p.feed(HEADER.as_bytes());
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Open(_)))));
    for _ in 0..100_000 {
        p.feed(b" \n");
        assert_eq!(p.next_event(), Ok(None));
    }
    assert_eq!(p.buffered_bytes(), 0);
    assert!(p.buf.capacity() <= RETAIN_CAPACITY_BYTES);
    p.feed(b"<presence/>");
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Stanza(_)))));
}

#[test]
fn self_closed_header_opens_and_closes() {
    let (events, err) = run(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>  ");
    assert_eq!(err, None);
    assert!(matches!(&events[..], [StreamEvent::Open(_), StreamEvent::Close]));
}

#[test]
fn after_close() {
    let (events, e) = run(format!("{HEADER}</stream:stream>\n\t ").as_bytes());
    assert_eq!(e, None);
    assert_eq!(events.last(), Some(&StreamEvent::Close));
    assert!(is_nwf(&err("</stream:stream><presence/>")));
    assert!(is_nwf(&err("</stream:stream>x")));
    assert!(is_nwf(&err("</stream:streamx>")));
    assert!(is_nwf(&err("</stream>")));
    assert!(is_nwf(&err("</s:stream>")));
    let (events, e) = run(format!("{HEADER}</stream:stream  >").as_bytes());
    assert_eq!((events.len(), e), (2, None));
}

#[test]
fn text_and_references() {
    let m = stanza("<message><body>a &lt;b&gt; &amp; &apos;c&apos; &quot;d&quot; &#65;&#x42;&#x1F600;</body></message>");
    assert_eq!(m.get_child("body", "jabber:client").unwrap().text(), "a <b> & 'c' \"d\" AB😀");
    let m = stanza("<m a='&lt;&#x26;&#10;&#9;' b=\"it's\" c='say \"hi\"'/>");
    assert_eq!(m.attr("a"), Some("<&\n\t"));
    assert_eq!(m.attr("b"), Some("it's"));
    assert_eq!(m.attr("c"), Some("say \"hi\""));
    // `>` and quotes are fine in text; non-ASCII passes through.
    let m = stanza("<m>x > y \"q\" 'a' — ünïcödé</m>");
    assert_eq!(m.text(), "x > y \"q\" 'a' — ünïcödé");
}

#[test]
fn line_ends_and_attribute_normalisation() {
    let m = stanza("<m a='x\ty\nz\r\nw\rv'>l1\r\nl2\rl3\n</m>");
    assert_eq!(m.attr("a"), Some("x y z w v"));
    assert_eq!(m.text(), "l1\nl2\nl3\n");
}

#[test]
fn cdata_is_text() {
    let m = stanza("<m>a<![CDATA[<b>&amp;]]]]>c<![CDATA[]]><![CDATA[x]y]>z\r\n]]></m>");
    assert_eq!(m.children, vec![Node::Text("a<b>&amp;]]cx]y]>z\n".into())]);
    assert_eq!(err("<![CDATA[x]]>"), XmlError::TextOutsideStanza);
    assert!(is_nwf(&err("<m><![CDAT[x]]></m>")));
    assert!(is_nwf(&err("<m><![cdata[x]]></m>")));
}

#[test]
fn mixed_content_and_whitespace_kept_inside_stanzas() {
    let m = stanza("<m>\n  <a/>text<b>x</b>\n</m>");
    assert_eq!(
        m.children,
        vec![
            Node::Text("\n  ".into()),
            Node::Element(Element::new("a", "jabber:client")),
            Node::Text("text".into()),
            Node::Element(Element::new("b", "jabber:client").with_text("x")),
            Node::Text("\n".into()),
        ]
    );
}

#[test]
fn restricted_xml() {
    for body in [
        "<!-- comment -->",
        "<m><!-- c --></m>",
        "<m><!---></m>",
        "<?pi x?>",
        "<m><?pi x?></m>",
        "<m><?xml version='1.0'?></m>",
        "<!DOCTYPE m>",
        "<m><!DOCTYPE x></m>",
        "<m><!ENTITY x 'y'></m>",
        "<m><!ELEMENT x ANY></m>",
    ] {
        assert!(matches!(err(body), XmlError::RestrictedXml(_)), "{body}: {:?}", err(body));
    }
}

#[test]
fn not_well_formed() {
    for body in [
        // References.
        "<m>&nbsp;</m>",
        "<m>&foo;</m>",
        "<m>& </m>",
        "<m>&amp</m>",
        "<m>&#;</m>",
        "<m>&#x;</m>",
        "<m>&#+65;</m>",
        "<m>&#x-41;</m>",
        "<m>&#65a;</m>",
        "<m>&#0;</m>",
        "<m>&#1;</m>",
        "<m>&#xFFFE;</m>",
        "<m>&#xFFFF;</m>",
        "<m>&#xD800;</m>",
        "<m>&#x110000;</m>",
        "<m>&#99999999999999999999;</m>",
        "<m a='&bogus;'/>",
        // Tags and attributes.
        "<m></n>",
        "<m><a></m></a>",
        "<m a='1' a='2'/>",
        "<m a=1/>",
        "<m a/>",
        "<m a='1'b='2'/>",
        "<m a='x<y'/>",
        "<m / >",
        "<m/ >",
        "< m/>",
        "<1m/>",
        "<-m/>",
        "<m><1/></m>",
        "<a:b:c xmlns:a='x'/>",
        "<a: xmlns:a='x'/>",
        "<m :a='1'/>",
        "<m>]]></m>",
        "<m>a <</m>",
        "<m><></m>",
        "<m><!x></m>",
        "<m><!></m>",
        "</m>",
        "<m></m/>",
        // Namespaces.
        "<foo:m/>",
        "<m foo:a='1'/>",
        "<m xmlns:foo=''/>",
        "<m xmlns:xml='urn:other'/>",
        "<m xmlns:x='http://www.w3.org/XML/1998/namespace'/>",
        "<m xmlns:xmlns='urn:x'/>",
        "<m xmlns='http://www.w3.org/2000/xmlns/'/>",
        "<xmlns:m/>",
        "<xml:m/>",
        "<m><xml:lang/></m>",
        "<m xmlns:a='u' xmlns:b='u' a:x='1' b:x='2'/>",
        "<m><foo:a xmlns:foo='u'/><foo:b/></m>",
    ] {
        assert!(is_nwf(&err(body)), "{body}: {:?}", err(body));
    }
}

#[test]
fn invalid_bytes() {
    for body in [
        &b"<m>\xff</m>"[..],
        b"<m>\xc3</m>",
        b"<m>\xed\xa0\x80</m>", // UTF-8 encoded surrogate
        b"<m>\xc0\xaf</m>",     // overlong
        b"<m a='\xfe'/>",
        b"<m\xff/>",
        b"<m>\x00</m>",
        b"<m>\x01</m>",
        b"<m>\x1b[31m</m>",
        b"<m a='\x0c'/>",
        b"<m>\xef\xbf\xbe</m>", // U+FFFE
        b"<m>\xef\xbf\xbf</m>", // U+FFFF
    ] {
        assert!(is_nwf(&err_bytes(body)), "{:?}", String::from_utf8_lossy(body));
    }
    // Allowed: tab, LF, CR, DEL, C1 controls and astral characters.
    let m = stanza("<m>\t\u{7f}\u{85}\u{10FFFF}</m>");
    assert_eq!(m.text(), "\t\u{7f}\u{85}\u{10FFFF}");
}

#[test]
fn text_outside_stanza() {
    assert_eq!(err("hello"), XmlError::TextOutsideStanza);
    assert_eq!(err("<presence/> x <presence/>"), XmlError::TextOutsideStanza);
    assert_eq!(err("&amp;"), XmlError::TextOutsideStanza);
    assert_eq!(err("\u{a0}"), XmlError::TextOutsideStanza);
    // Whitespace, including CR, is fine.
    assert_eq!(stanzas("\r\n\t <presence/>\r\n").len(), 1);
}

#[test]
fn namespaces_resolved_and_scoped() {
    let iq = stanza(
        "<iq type='result' xml:lang='en'>\
           <query xmlns='jabber:iq:roster' ver='1'>\
             <item jid='a@b'><group>G</group></item>\
           </query>\
           <x:data xmlns:x='jabber:x:data'><x:field/><plain/></x:data>\
           <empty xmlns=''><inner/></empty>\
           <back/>\
         </iq>",
    );
    assert!(iq.is("iq", "jabber:client"));
    assert_eq!(iq.attrs, vec![("type".into(), "result".into()), ("xml:lang".into(), "en".into())]);
    let q = iq.get_child("query", "jabber:iq:roster").unwrap();
    assert_eq!(q.attrs, vec![("ver".to_string(), "1".to_string())]);
    let item = q.get_child("item", "jabber:iq:roster").unwrap();
    assert!(item.has_child("group", "jabber:iq:roster"));
    let data = iq.get_child("data", "jabber:x:data").unwrap();
    assert!(data.attrs.is_empty());
    assert!(data.has_child("field", "jabber:x:data"));
    assert!(data.has_child("plain", "jabber:client"));
    let empty = iq.get_child("empty", "").unwrap();
    assert!(empty.has_child("inner", ""));
    assert!(iq.has_child("back", "jabber:client"));
}

#[test]
fn header_prefixes_are_in_scope() {
    let header =
        "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' \
                  xmlns:db='jabber:server:dialback'>";
    let input = format!("{header}<db:result from='a' to='b'>key</db:result><stream:features/>");
    let (events, e) = run(input.as_bytes());
    assert_eq!(e, None);
    let StreamEvent::Stanza(r) = &events[1] else { panic!("{events:?}") };
    assert!(r.is("result", "jabber:server:dialback"));
    assert_eq!(r.text(), "key");
    assert_eq!(events[2], StreamEvent::Stanza(Element::new("features", NS_STREAM)));
}

#[test]
fn prefixed_attribute_keeps_its_declaration() {
    let m = stanza("<m xmlns:p='urn:p' p:a='1' xml:lang='de'><c p:b='2'/></m>");
    assert_eq!(
        m.attrs,
        vec![
            ("p:a".to_string(), "1".to_string()),
            ("xml:lang".into(), "de".into()),
            ("xmlns:p".into(), "urn:p".into())
        ]
    );
    let c = m.get_child("c", "jabber:client").unwrap();
    assert_eq!(c.attrs, vec![("p:b".into(), "2".into()), ("xmlns:p".into(), "urn:p".into())]);
    // Written where it is used, it stays in its place.
    let m = stanza("<m p:a='1' xmlns:p='urn:p'/>");
    assert_eq!(m.attrs, vec![("p:a".into(), "1".into()), ("xmlns:p".into(), "urn:p".into())]);
    // The xml prefix needs no declaration.
    let m = stanza("<m xml:lang='en' xmlns:xml='http://www.w3.org/XML/1998/namespace'/>");
    assert_eq!(m.attrs, vec![("xml:lang".into(), "en".into())]);
    let _ = NS_XML;
}

#[test]
fn stanza_size_limit() {
    let limits = Limits { max_stanza_bytes: 64, ..Limits::default() };
    let exact = format!("<m>{}</m>", "x".repeat(64 - 7));
    assert_eq!(exact.len(), 64);
    let input = format!("{HEADER}   {exact}  {exact}");
    let (events, e) = run_with(limits, input.as_bytes());
    assert_eq!((events.len(), e), (3, None));

    let over = format!("<m>{}</m>", "x".repeat(64 - 6));
    let (events, e) = run_with(limits, format!("{HEADER}{over}").as_bytes());
    assert_eq!(events.len(), 1);
    assert_eq!(e, Some(XmlError::LimitExceeded("stanza size")));

    // Detected while the stanza is still incomplete, and the buffer stays bounded.
    let mut p = StreamParser::new(limits);
    p.feed(HEADER.as_bytes());
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Open(_)))));
    p.feed(b"<message>");
    let mut fed = 9;
    loop {
        p.feed(b"0123456789");
        fed += 10;
        assert!(p.buffered_bytes() <= 64 + 10);
        match p.next_event() {
            Ok(None) => assert!(fed <= 64),
            Err(e) => {
                assert_eq!(e, XmlError::LimitExceeded("stanza size"));
                assert!(fed > 64);
                break;
            }
            Ok(Some(e)) => panic!("{e:?}"),
        }
    }
    assert_eq!(p.buffered_bytes(), 0);
    assert_eq!(p.buf.capacity(), 0);
}

#[test]
fn header_size_limit() {
    let limits = Limits { max_header_bytes: HEADER.len(), ..Limits::default() };
    let (events, e) = run_with(limits, HEADER.as_bytes());
    assert_eq!((events.len(), e), (1, None));
    let limits = Limits { max_header_bytes: HEADER.len() - 1, ..Limits::default() };
    let (events, e) = run_with(limits, HEADER.as_bytes());
    assert_eq!(events.len(), 0);
    assert_eq!(e, Some(XmlError::LimitExceeded("stream header size")));
    // Endless prolog whitespace or attributes are cut off too.
    let (_, e) = run(&[b' '; 5000][..]);
    assert_eq!(e, Some(XmlError::LimitExceeded("stream header size")));
    let endless = format!("<stream:stream a='{}", "x".repeat(5000));
    let (_, e) = run(endless.as_bytes());
    assert_eq!(e, Some(XmlError::LimitExceeded("stream header size")));
}

#[test]
fn depth_limit() {
    let limits = Limits { max_depth: 3, ..Limits::default() };
    let ok = "<a><b><c/></b></a><a><b><c>t</c></b></a>";
    let (events, e) = run_with(limits, format!("{HEADER}{ok}").as_bytes());
    assert_eq!((events.len(), e), (3, None));
    for over in ["<a><b><c><d/></c></b></a>", "<a><b><c><d>", "<a><b><c><d></d></c></b></a>"] {
        let (_, e) = run_with(limits, format!("{HEADER}{over}").as_bytes());
        assert_eq!(e, Some(XmlError::LimitExceeded("element depth")), "{over}");
    }
    // The default limit against a deep nesting attack.
    let deep = "<a>".repeat(10_000);
    assert_eq!(err(&deep), XmlError::LimitExceeded("element depth"));
}

#[test]
fn attribute_limit() {
    // The header has 4 (two of them namespace declarations): limits apply to it too.
    let limits = Limits { max_attributes: 4, ..Limits::default() };
    for (body, ok) in [
        ("<m a='1' b='2' c='3' d='4'/>", true),
        ("<m a='1' b='2' c='3' xmlns='urn:x'/>", true),
        ("<m a='1' b='2' c='3' d='4' e='5'/>", false),
        ("<m a='1' b='2' c='3' xmlns:p='urn:x' xmlns='urn:y'/>", false),
        ("<m><n a='1' b='2' c='3' d='4' e='5'/></m>", false),
    ] {
        let (events, e) = run_with(limits, format!("{HEADER}{body}").as_bytes());
        if ok {
            assert_eq!((events.len(), e), (2, None), "{body}");
        } else {
            assert_eq!(e, Some(XmlError::LimitExceeded("attributes per element")), "{body}");
        }
    }
}

#[test]
fn name_limit() {
    // `stream:stream` in the header is 13 bytes: limits apply to it too.
    let limits = Limits { max_name_bytes: 13, ..Limits::default() };
    for (body, ok) in [
        ("<abcdefghijklm abcdefghijklm='1'/>", true),
        ("<p:abcdefghijk xmlns:p='u'/>", true),
        ("<abcdefghijklmn/>", false),
        ("<m abcdefghijklmn='1'/>", false),
        ("<m><abcdefghijklmn/></m>", false),
        ("<pp:abcdefghijk xmlns:pp='u'/>", false),
    ] {
        let (events, e) = run_with(limits, format!("{HEADER}{body}").as_bytes());
        if ok {
            assert_eq!((events.len(), e), (2, None), "{body}");
        } else {
            assert_eq!(e, Some(XmlError::LimitExceeded("name length")), "{body}");
        }
    }
}

#[test]
fn reset_expects_a_new_header() {
    let mut p = StreamParser::new(Limits::default());
    p.feed(
        format!("{HEADER}<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><partial").as_bytes(),
    );
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Open(_)))));
    let Ok(Some(StreamEvent::Stanza(s))) = p.next_event() else { panic!() };
    assert!(s.is("starttls", "urn:ietf:params:xml:ns:xmpp-tls"));
    assert_eq!(p.next_event(), Ok(None));
    assert!(p.buffered_bytes() > 0);
    p.reset();
    assert_eq!(p.buffered_bytes(), 0);
    p.feed(b"<presence/>");
    assert_eq!(p.next_event(), Err(XmlError::InvalidNamespace));
    p.reset();
    p.feed(HEADER.as_bytes());
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Open(_)))));
    p.feed(b"<presence/>");
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Stanza(_)))));
}

#[test]
fn buffer_is_freed_after_a_large_stanza() {
    let mut p = StreamParser::new(Limits::default());
    p.feed(HEADER.as_bytes());
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Open(_)))));
    let big = format!("<message><body>{}</body></message>", "y".repeat(30_000));
    for chunk in big.as_bytes().chunks(1000) {
        p.feed(chunk);
        if let Some(ev) = p.next_event().unwrap() {
            assert!(matches!(ev, StreamEvent::Stanza(_)));
        }
    }
    assert_eq!(p.buffered_bytes(), 0);
    assert_eq!(p.buf.capacity(), 0);
    // A small one keeps its allocation for reuse, until released.
    p.feed(b"<presence/>");
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Stanza(_)))));
    assert!(p.buf.capacity() > 0);
    assert!(p.release_memory());
    assert_eq!(p.buf.capacity(), 0);
    // Idle heap: only the header scope.
    assert!(p.heap_bytes() < 200, "{}", p.heap_bytes());
    p.feed(b"<pres");
    assert_eq!(p.next_event(), Ok(None));
    assert!(!p.release_memory());
    p.feed(b"ence/>");
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Stanza(_)))));
}

#[test]
fn byte_at_a_time_scans_once() {
    // A 60 KB stanza fed one byte at a time: the scanner advances by one byte per feed, so the
    // total work is linear (rescanning would be ~1.8e9 byte visits and time out).
    let big = format!(
        "<message><body a='{}'>{}</body></message>",
        "v".repeat(20_000),
        "t".repeat(40_000)
    );
    let mut p = StreamParser::new(Limits::default());
    p.feed(HEADER.as_bytes());
    assert!(matches!(p.next_event(), Ok(Some(StreamEvent::Open(_)))));
    let mut got = None;
    for &b in big.as_bytes() {
        p.feed(&[b]);
        if let Some(ev) = p.next_event().unwrap() {
            got = Some(ev);
        }
        assert_eq!(p.pos, p.buf.len(), "the scanner keeps up with the buffer");
    }
    let Some(StreamEvent::Stanza(m)) = got else { panic!() };
    assert_eq!(m.get_child("body", "jabber:client").unwrap().text().len(), 40_000);
}

/// Parses `xml` as a stanza of a stream with default namespace `jabber:client`, writes it back
/// relative to that namespace and as standalone XML, and checks both parse to the same element.
fn assert_round_trip(xml: &str) -> Element {
    let first = stanza(xml);
    let mut out = Vec::new();
    first.write_to(&mut out, "jabber:client");
    let again = stanza(std::str::from_utf8(&out).unwrap());
    assert_eq!(first, again, "{xml} -> {}", String::from_utf8_lossy(&out));
    let standalone = first.to_xml();
    let header = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>";
    let (events, e) = run(format!("{header}{standalone}").as_bytes());
    assert_eq!(e, None, "{standalone}");
    assert_eq!(events.get(1), Some(&StreamEvent::Stanza(first.clone())), "{standalone}");
    first
}

#[test]
fn round_trips() {
    for xml in [
        "<presence/>",
        "<message to='a@b/c' type='chat' id='x&apos;&quot;'><body>Hi &amp; bye &lt;3 ]]&gt;</body></message>",
        "<m a='&#9;&#10;&#13; spaces  '>&#13;\n&#x9;</m>",
        "<m xml:lang='en'><![CDATA[<raw> & stuff]]>tail</m>",
        "<iq><query xmlns='jabber:iq:roster'><item/><x xmlns=''><y/></x></query></iq>",
        "<p:m xmlns:p='urn:p'><p:c/><c/></p:m>",
        "<m xmlns:p='urn:p' p:a='1'><p:c p:b='2'/></m>",
        "<m>\n  <a/>\n  text\n</m>",
        "<m>☃ 𝄞 \u{7f}</m>",
        "<m xmlns='urn:other'><n/></m>",
    ] {
        assert_round_trip(xml);
    }
}

/// Tiny deterministic generator (xorshift), so the property test needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a", " ", "&", "<", ">", "'", "\"", "\t", "\n", "\r", "\r\n", "]]>", "é", "☃", "😀",
            "x y",
        ];
        (0..self.below(6)).map(|_| self.pick(PIECES)).collect()
    }
    fn element(&mut self, depth: usize) -> Element {
        const NAMES: &[&str] = &["a", "body", "x-y", "z.1", "ü", "_u"];
        const NSS: &[&str] = &["jabber:client", "urn:x", "", "urn:y'\"&<"];
        let mut e = Element::new(self.pick(NAMES), self.pick(NSS));
        for i in 0..self.below(4) {
            let name = match self.below(4) {
                0 => "xml:lang".to_string(),
                _ => format!("at{i}"),
            };
            let value = self.string();
            e.set_attr(name, value);
        }
        let mut last_text = false;
        for _ in 0..self.below(5) {
            if depth < 6 && self.below(2) == 0 {
                e.children.push(Node::Element(self.element(depth + 1)));
                last_text = false;
            } else if !last_text {
                let t = self.string();
                if !t.is_empty() {
                    e.children.push(Node::Text(t));
                    last_text = true;
                }
            }
        }
        e
    }
}

#[test]
fn generated_trees_round_trip() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..2000 {
        let e = rng.element(1);
        // Literal CR is escaped by the writer, so generated text survives exactly.
        let xml = e.to_xml();
        let header = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>";
        let (events, err) = run_chunks(Limits::default(), [format!("{header}{xml}").as_bytes()]);
        assert_eq!(err, None, "{xml}");
        assert_eq!(events.get(1), Some(&StreamEvent::Stanza(e.clone())), "{xml}");
        // And relative to a stream default namespace.
        let mut out = Vec::new();
        e.write_to(&mut out, "jabber:client");
        let back = stanza(std::str::from_utf8(&out).unwrap());
        assert_eq!(back, e, "{}", String::from_utf8_lossy(&out));
    }
}

#[test]
fn no_panic_on_garbage() {
    // A cheap stand-in for the fuzzer in `cargo test`: random bytes biased towards XML syntax,
    // in random chunk sizes, after a valid header.
    let mut rng = Rng(12345);
    const TOKENS: &[&str] = &[
        "<",
        ">",
        "/",
        "'",
        "\"",
        "=",
        " ",
        "m",
        "a:b",
        "xmlns",
        "xmlns:a",
        "&amp;",
        "&#",
        ";",
        "x",
        "<![CDATA[",
        "]]>",
        "<!--",
        "<?",
        "?>",
        "</",
        "/>",
        "\u{0}",
        "\u{FFFF}",
        "é",
        "stream:stream",
    ];
    for _ in 0..3000 {
        let mut input = HEADER.as_bytes().to_vec();
        for _ in 0..rng.below(40) {
            if rng.below(10) == 0 {
                input.push(rng.next() as u8);
            } else {
                input.extend_from_slice(rng.pick(TOKENS).as_bytes());
            }
        }
        let chunk = 1 + rng.below(16);
        let a = run_chunks(Limits::default(), input.chunks(chunk));
        let b = run_chunks(Limits::default(), [&input[..]]);
        assert_eq!(a, b, "{:?}", String::from_utf8_lossy(&input));
        for ev in a.0 {
            if let StreamEvent::Stanza(s) = ev {
                let mut out = Vec::new();
                s.write_to(&mut out, "jabber:client");
                assert_eq!(stanza(std::str::from_utf8(&out).unwrap()), s);
            }
        }
    }
}
