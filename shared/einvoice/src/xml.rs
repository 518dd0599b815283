//! A small element writer over `quick_xml::Writer`: every text and attribute value goes
//! through quick-xml's escaping, after [`xml_safe`] has replaced the characters XML 1.0 cannot
//! carry at all. Customer-typed text can therefore never break the document.

use std::borrow::Cow;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// Replaces characters that XML 1.0 does not allow anywhere (not even escaped) with U+FFFD:
/// the C0 controls other than tab, line feed and carriage return, and U+FFFE / U+FFFF.
/// (`Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]`;
/// Rust strings hold no surrogates.)
pub fn xml_safe(text: &str) -> Cow<'_, str> {
    let bad = |c: char| {
        (c < '\u{20}' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    };
    if text.chars().any(bad) {
        Cow::Owned(
            text.chars()
                .map(|c| if bad(c) { '\u{FFFD}' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

/// Escapes text for XML content or a double-quoted attribute value (after [`xml_safe`]):
/// `<` `>` `&` `'` `"` become entities and `\r` becomes `&#13;` so it survives parsing.
/// The writer does the same through quick-xml; this is the function to test and reuse.
pub fn escape(text: &str) -> String {
    quick_xml::escape::escape(xml_safe(text).as_ref()).into_owned()
}

/// Writes an indented document. Writing to a `Vec` cannot fail, so the methods do not return
/// errors (an I/O error here would be a bug in quick-xml).
pub struct XmlOut {
    writer: Writer<Vec<u8>>,
}

impl XmlOut {
    pub fn new() -> XmlOut {
        let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
        writer
            .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
            .expect("writing to a Vec cannot fail");
        XmlOut { writer }
    }

    fn event(&mut self, event: Event<'_>) {
        self.writer
            .write_event(event)
            .expect("writing to a Vec cannot fail");
    }

    fn start_tag<'a>(name: &'a str, attrs: &[(&'a str, &'a str)]) -> BytesStart<'a> {
        let mut start = BytesStart::new(name);
        for (key, value) in attrs {
            // quick-xml escapes attribute values; `xml_safe` removes what cannot be escaped.
            let value = xml_safe(value);
            start.push_attribute((*key, value.as_ref()));
        }
        start
    }

    /// Opens `<name attrs...>`; close it with [`XmlOut::close`].
    pub fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.event(Event::Start(Self::start_tag(name, attrs)));
    }

    pub fn close(&mut self, name: &str) {
        self.event(Event::End(BytesEnd::new(name)));
    }

    /// `<name attrs...>text</name>`, the text escaped.
    pub fn leaf_with(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.event(Event::Start(Self::start_tag(name, attrs)));
        let safe = xml_safe(text);
        self.event(Event::Text(BytesText::new(safe.as_ref())));
        self.event(Event::End(BytesEnd::new(name)));
    }

    pub fn leaf(&mut self, name: &str, text: &str) {
        self.leaf_with(name, &[], text);
    }

    /// A leaf only when there is a value.
    pub fn leaf_opt(&mut self, name: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.leaf(name, text);
        }
    }

    /// Runs `body` between `<name>` and `</name>`.
    pub fn group(&mut self, name: &str, body: impl FnOnce(&mut XmlOut)) {
        self.open(name, &[]);
        body(self);
        self.close(name);
    }

    pub fn finish(self) -> String {
        let mut bytes = self.writer.into_inner();
        bytes.push(b'\n');
        String::from_utf8(bytes).expect("the writer only writes UTF-8 strings")
    }
}

impl Default for XmlOut {
    fn default() -> Self {
        XmlOut::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt;"
        );
        assert_eq!(escape("]]>"), "]]&gt;");
        assert_eq!(escape("a\r\nb"), "a&#13;\nb");
        assert_eq!(escape("Zoë 🙏 Łukasiewicz"), "Zoë 🙏 Łukasiewicz");
    }

    #[test]
    fn replaces_what_xml_cannot_carry() {
        assert_eq!(
            xml_safe("a\u{0}b\u{7}c\u{1b}d"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}d"
        );
        assert_eq!(xml_safe("tab\tnl\ncr\r"), "tab\tnl\ncr\r");
        assert_eq!(xml_safe("\u{FFFE}\u{FFFF}"), "\u{FFFD}\u{FFFD}");
        assert!(matches!(xml_safe("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn writer_output_is_well_formed_for_hostile_text() {
        let hostile = "</x><y a=\"1\">&amp;]]><!-- \u{1} 'q' \"dq\" 🙏\r\n\ttab";
        let mut out = XmlOut::new();
        out.open("root", &[("attr", hostile)]);
        out.leaf("text", hostile);
        out.close("root");
        let xml = out.finish();
        let elements = crate::inspect::elements(&xml).unwrap();
        let expected = hostile.replace('\u{1}', "\u{FFFD}");
        assert_eq!(elements.len(), 2);
        assert_eq!(elements[0].attr("attr"), Some(expected.as_str()));
        assert_eq!(elements[1].path, "root/text");
        assert_eq!(elements[1].text, expected);
    }
}
