//! Reads a generated document back (with quick-xml, the crate that wrote it): a flat list of
//! elements with their paths, attributes and text. For tests and checks on the XML.

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// One element: `path` is the slash-joined qualified names from the root, e.g.
/// `rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub path: String,
    pub attrs: Vec<(String, String)>,
    /// The element's own text (entities resolved, child elements' text excluded).
    pub text: String,
}

impl Element {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The last segment of the path.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

fn attrs_of(start: &BytesStart<'_>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| e.to_string())?;
        let key = attr.key.0.to_string();
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?
            .into_owned();
        out.push((key, value));
    }
    Ok(out)
}

/// All elements in document order. Fails on anything that is not well-formed.
pub fn elements(xml: &str) -> Result<Vec<Element>, String> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut out: Vec<Element> = Vec::new();
    // Indexes into `out` of the open elements.
    let mut open: Vec<usize> = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut roots = 0;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Eof => break,
            Event::Start(start) | Event::Empty(start) if open.is_empty() && roots > 0 => {
                return Err(format!("second root element {}", start.name().0));
            }
            Event::Start(start) => {
                roots += usize::from(open.is_empty());
                path.push(start.name().0.to_string());
                out.push(Element {
                    path: path.join("/"),
                    attrs: attrs_of(&start)?,
                    text: String::new(),
                });
                open.push(out.len() - 1);
            }
            Event::Empty(start) => {
                roots += usize::from(open.is_empty());
                let name = start.name().0.to_string();
                let full = if path.is_empty() {
                    name
                } else {
                    format!("{}/{name}", path.join("/"))
                };
                out.push(Element {
                    path: full,
                    attrs: attrs_of(&start)?,
                    text: String::new(),
                });
            }
            Event::End(_) => {
                open.pop();
                path.pop();
            }
            Event::Text(text) => {
                let content = text.xml10_content();
                match open.last() {
                    Some(&i) => out[i].text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err("text outside the root element".into()),
                }
            }
            Event::CData(data) => {
                let content = data.xml10_content();
                if let Some(&i) = open.last() {
                    out[i].text.push_str(&content);
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref().map_err(|e| e.to_string())? {
                    Some(c) => c.to_string(),
                    None => {
                        let name: &str = &reference;
                        quick_xml::escape::resolve_predefined_entity(name)
                            .ok_or_else(|| format!("unknown entity &{name};"))?
                            .to_string()
                    }
                };
                match open.last() {
                    Some(&i) => out[i].text.push_str(&resolved),
                    None => return Err("reference outside the root element".into()),
                }
            }
            Event::DocType(_) => return Err("unexpected DOCTYPE".into()),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !open.is_empty() {
        return Err("unclosed elements at the end".into());
    }
    if roots != 1 {
        return Err("no root element".into());
    }
    Ok(out)
}

/// The trimmed texts of all elements at exactly `path`.
pub fn texts<'a>(elements: &'a [Element], path: &str) -> Vec<&'a str> {
    elements
        .iter()
        .filter(|e| e.path == path)
        .map(|e| e.text.trim())
        .collect()
}

/// The trimmed text of the single element at `path`, if there is exactly one.
pub fn text<'a>(elements: &'a [Element], path: &str) -> Option<&'a str> {
    match texts(elements, path).as_slice() {
        [one] => Some(one),
        _ => None,
    }
}
