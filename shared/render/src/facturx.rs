//! ZUGFeRD 2.x / Factur-X hybrid invoices: the e-invoice XML embedded into the
//! PDF/A-3 file, announced in the document's XMP metadata.
//!
//! typst embeds the file itself (`pdf.attach` in the template): the file
//! specification with `/AFRelationship /Alternative`, `/Desc` and `/UF`, the
//! catalog's `/AF` array and `/Names /EmbeddedFiles` entry, and the embedded
//! file stream with `/Subtype /text#2Fxml` and `/Params` (`/Size`,
//! `/ModDate` = the document's creation date, i.e. the issue date).
//!
//! typst cannot write custom XMP, so [`add_facturx_xmp`] post-processes the
//! PDF with lopdf: it adds the `fx:` properties (Factur-X 1.0 /
//! ZUGFeRD 2.x) and the PDF/A extension schema that declares them to the XMP
//! packet typst wrote, leaving typst's own properties (`pdfaid:part`,
//! `pdfaid:conformance`, dates, title, ...) as they are, and checks that the
//! structure typst wrote is what the standard requires.

use lopdf::{Document, LoadOptions, Object, ObjectId};

/// The Factur-X XMP namespace (Factur-X 1.0, ZUGFeRD 2.x), prefix `fx`.
pub(crate) const FX_NAMESPACE: &str = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#";

/// The profile of the embedded XML, as announced in the PDF's XMP metadata
/// (`fx:ConformanceLevel`). It must match the profile the XML itself names
/// (`GuidelineSpecifiedDocumentContextParameter`); the renderer does not read
/// or check the XML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FacturXConformance {
    /// Profile BASIC (`urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic`).
    Basic,
    /// Profile EN 16931, also called COMFORT (`urn:cen.eu:en16931:2017`).
    En16931,
    /// Profile EXTENDED (`urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended`).
    Extended,
    /// Profile XRECHNUNG (ZUGFeRD 2.1.1 and later): the XML is an XRechnung
    /// in CII syntax. Embedded as `xrechnung.xml`, as ZUGFeRD prescribes for
    /// this profile.
    XRechnung,
}

impl FacturXConformance {
    /// The value of `fx:ConformanceLevel`.
    pub fn xmp_level(self) -> &'static str {
        match self {
            Self::Basic => "BASIC",
            Self::En16931 => "EN 16931",
            Self::Extended => "EXTENDED",
            Self::XRechnung => "XRECHNUNG",
        }
    }

    /// The file name of the XML inside the PDF (and of `fx:DocumentFileName`):
    /// `factur-x.xml`, or `xrechnung.xml` for [`FacturXConformance::XRechnung`].
    pub fn file_name(self) -> &'static str {
        match self {
            Self::XRechnung => "xrechnung.xml",
            Self::Basic | Self::En16931 | Self::Extended => "factur-x.xml",
        }
    }

    /// The description of the embedded file (PDF/A-3 requires one).
    pub(crate) fn description(self) -> String {
        match self {
            Self::XRechnung => {
                "XRechnung e-invoice (CII syntax), the legal original of this invoice".to_owned()
            }
            _ => format!(
                "Factur-X / ZUGFeRD e-invoice, profile {}, the legal original of this invoice",
                self.xmp_level()
            ),
        }
    }
}

/// The e-invoice XML to embed into a hybrid invoice PDF, see
/// [`crate::Renderer::render_hybrid_pdf`].
#[derive(Debug, Clone, Copy)]
pub struct EmbeddedInvoiceXml<'a> {
    /// The XML, embedded byte for byte (it is neither parsed nor validated).
    pub xml: &'a [u8],
    /// The profile the XML conforms to.
    pub conformance: FacturXConformance,
}

const EXTENSION_NS: &str = "http://www.aiim.org/pdfa/ns/extension/";
const SCHEMA_NS: &str = "http://www.aiim.org/pdfa/ns/schema#";
const PROPERTY_NS: &str = "http://www.aiim.org/pdfa/ns/property#";

/// The `rdf:Description` with the Factur-X properties.
fn facturx_properties(conformance: FacturXConformance) -> String {
    format!(
        r#"<rdf:Description rdf:about="" xmlns:fx="{FX_NAMESPACE}"><fx:DocumentType>INVOICE</fx:DocumentType><fx:DocumentFileName>{}</fx:DocumentFileName><fx:Version>1.0</fx:Version><fx:ConformanceLevel>{}</fx:ConformanceLevel></rdf:Description>"#,
        conformance.file_name(),
        conformance.xmp_level(),
    )
}

/// The PDF/A extension schema that declares the Factur-X properties (PDF/A
/// allows only declared properties outside the predefined XMP schemas), as the
/// Factur-X 1.0 specification gives it: one `rdf:li` of the
/// `pdfaExtension:schemas` bag. It declares the prefixes it uses itself, so it
/// does not depend on the declarations around it.
fn facturx_extension_schema() -> String {
    const PROPERTIES: [(&str, &str); 4] = [
        ("DocumentFileName", "name of the embedded XML invoice file"),
        ("DocumentType", "INVOICE"),
        ("Version", "The actual version of the Factur-X XML schema"),
        (
            "ConformanceLevel",
            "The conformance level of the embedded Factur-X data",
        ),
    ];
    let mut out = format!(
        r#"<rdf:li rdf:parseType="Resource" xmlns:pdfaSchema="{SCHEMA_NS}" xmlns:pdfaProperty="{PROPERTY_NS}"><pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema><pdfaSchema:namespaceURI>{FX_NAMESPACE}</pdfaSchema:namespaceURI><pdfaSchema:prefix>fx</pdfaSchema:prefix><pdfaSchema:property><rdf:Seq>"#
    );
    for (name, description) in PROPERTIES {
        out.push_str(&format!(
            r#"<rdf:li rdf:parseType="Resource"><pdfaProperty:name>{name}</pdfaProperty:name><pdfaProperty:valueType>Text</pdfaProperty:valueType><pdfaProperty:category>external</pdfaProperty:category><pdfaProperty:description>{description}</pdfaProperty:description></rdf:li>"#
        ));
    }
    out.push_str("</rdf:Seq></pdfaSchema:property></rdf:li>");
    out
}

/// Adds the Factur-X properties and their extension schema to `xmp`, an XMP
/// packet as typst writes it. typst already writes a `pdfaExtension:schemas`
/// bag (for the xmpMM and pdf properties it uses); the Factur-X schema joins
/// that bag, since the property may appear only once. Without one, a new
/// `rdf:Description` holds it.
// Every offset below comes from `find`/`rfind` of an ASCII marker, so it is a char boundary.
#[allow(clippy::string_slice)]
fn extend_xmp(xmp: &str, conformance: FacturXConformance) -> Result<String, String> {
    if xmp.contains(FX_NAMESPACE) {
        return Err("the XMP metadata already has Factur-X properties".into());
    }
    let rdf_end = xmp
        .rfind("</rdf:RDF>")
        .ok_or("the XMP metadata has no </rdf:RDF>")?;
    let schema = facturx_extension_schema();
    let mut out = String::with_capacity(xmp.len() + schema.len() + 512);

    const OPEN: &str = "<pdfaExtension:schemas>";
    const CLOSE: &str = "</pdfaExtension:schemas>";
    match xmp.find(OPEN) {
        Some(open) => {
            let declared = format!(r#"xmlns:pdfaExtension="{EXTENSION_NS}""#);
            let close = xmp[open..]
                .find(CLOSE)
                .map(|i| open + i)
                .ok_or("the XMP metadata's pdfaExtension:schemas is not closed")?;
            let bag_end = xmp[open..close]
                .rfind("</rdf:Bag>")
                .map(|i| open + i)
                .filter(|&i| xmp[i + "</rdf:Bag>".len()..close].trim().is_empty())
                .ok_or("the XMP metadata's pdfaExtension:schemas is not an rdf:Bag")?;
            if !xmp[..open].contains(&declared) || xmp[close..].contains(OPEN) || bag_end > rdf_end
            {
                return Err("unexpected pdfaExtension:schemas in the XMP metadata".into());
            }
            out.push_str(&xmp[..bag_end]);
            out.push_str(&schema);
            out.push_str(&xmp[bag_end..rdf_end]);
        }
        None => {
            if xmp.contains(EXTENSION_NS) {
                return Err("unexpected PDF/A extension namespace in the XMP metadata".into());
            }
            out.push_str(&xmp[..rdf_end]);
            out.push_str(&format!(
                r#"<rdf:Description rdf:about="" xmlns:pdfaExtension="{EXTENSION_NS}"><pdfaExtension:schemas><rdf:Bag>{schema}</rdf:Bag></pdfaExtension:schemas></rdf:Description>"#
            ));
        }
    }
    out.push_str(&facturx_properties(conformance));
    out.push_str(&xmp[rdf_end..]);
    Ok(out)
}

/// Follows references until a direct object.
fn resolve<'a>(doc: &'a Document, mut object: &'a Object) -> Result<&'a Object, String> {
    for _ in 0..32 {
        match object {
            Object::Reference(id) => {
                object = doc
                    .get_object(*id)
                    .map_err(|e| format!("object {id:?}: {e}"))?;
            }
            direct => return Ok(direct),
        }
    }
    Err("reference chain too long".into())
}

/// Checks what typst wrote for the attachment: the catalog's `/AF` holds a
/// file specification named `file_name` with `/AFRelationship /Alternative`,
/// whose embedded file stream has `/Subtype /text#2Fxml` and a `/ModDate`.
fn check_attachment(doc: &Document, file_name: &str) -> Result<(), String> {
    let catalog = doc.catalog().map_err(|e| format!("catalog: {e}"))?;
    let af = catalog
        .get(b"AF")
        .map_err(|_| "the catalog has no /AF array".to_owned())
        .and_then(|af| resolve(doc, af))?
        .as_array()
        .map_err(|e| format!("catalog /AF: {e}"))?;
    for spec in af {
        let spec = resolve(doc, spec)?
            .as_dict()
            .map_err(|e| format!("/AF entry: {e}"))?;
        let name = spec
            .get(b"UF")
            .or_else(|_| spec.get(b"F"))
            .ok()
            .and_then(|n| n.as_str().ok());
        if name != Some(file_name.as_bytes()) {
            continue;
        }
        let relationship = spec.get(b"AFRelationship").and_then(Object::as_name);
        if relationship.ok() != Some(b"Alternative".as_slice()) {
            return Err(format!("{file_name}: /AFRelationship is not /Alternative"));
        }
        let ef = spec
            .get(b"EF")
            .map_err(|_| format!("{file_name}: no /EF"))
            .and_then(|ef| resolve(doc, ef))?
            .as_dict()
            .map_err(|e| format!("{file_name} /EF: {e}"))?;
        let stream = ef
            .get(b"F")
            .map_err(|_| format!("{file_name}: no /EF /F"))
            .and_then(|s| resolve(doc, s))?
            .as_stream()
            .map_err(|e| format!("{file_name} /EF /F: {e}"))?;
        let subtype = stream.dict.get(b"Subtype").and_then(Object::as_name);
        if subtype.ok() != Some(b"text/xml".as_slice()) {
            return Err(format!(
                "{file_name}: embedded file /Subtype is not text/xml"
            ));
        }
        let params = stream
            .dict
            .get(b"Params")
            .map_err(|_| format!("{file_name}: no /Params"))
            .and_then(|p| resolve(doc, p))?
            .as_dict()
            .map_err(|e| format!("{file_name} /Params: {e}"))?;
        if params.get(b"ModDate").is_err() {
            return Err(format!("{file_name}: /Params has no /ModDate"));
        }
        return Ok(());
    }
    Err(format!("no {file_name} in the catalog's /AF array"))
}

/// Adds the Factur-X XMP metadata to `pdf`, a PDF/A-3 file typst wrote with
/// the XML attached, after checking the attachment's structure. lopdf
/// rewrites the whole file (fresh, consistent cross-reference table); the
/// result depends only on the input.
pub(crate) fn add_facturx_xmp(
    pdf: &[u8],
    conformance: FacturXConformance,
) -> Result<Vec<u8>, String> {
    // Strict: this is our own output; anything lopdf would have to repair is a bug.
    let options = LoadOptions {
        strict: true,
        ..LoadOptions::default()
    };
    let mut doc = Document::load_mem_with_options(pdf, options)
        .map_err(|e| format!("cannot read typst's PDF: {e}"))?;
    check_attachment(&doc, conformance.file_name())?;

    let metadata_id: ObjectId = doc
        .catalog()
        .map_err(|e| format!("catalog: {e}"))?
        .get(b"Metadata")
        .and_then(Object::as_reference)
        .map_err(|_| "the catalog has no /Metadata stream reference".to_owned())?;
    let stream = doc
        .get_object_mut(metadata_id)
        .and_then(Object::as_stream_mut)
        .map_err(|e| format!("XMP metadata stream: {e}"))?;
    // PDF/A: the metadata stream is not compressed (no /Filter); typst writes it so.
    if stream.dict.has(b"Filter") {
        return Err("the XMP metadata stream is compressed".into());
    }
    let xmp = std::str::from_utf8(&stream.content)
        .map_err(|_| "the XMP metadata is not UTF-8".to_owned())?;
    let xmp = extend_xmp(xmp, conformance)?;
    stream.set_content(xmp.into_bytes());

    let mut out = Vec::with_capacity(pdf.len() + 4096);
    doc.save_to(&mut out)
        .map_err(|e| format!("cannot write the PDF: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\
        <x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">";
    const TAIL: &str = "</rdf:RDF></x:xmpmeta><?xpacket end=\"r\"?>";
    const PDFAID: &str = "<pdfaid:part>3</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>";

    #[test]
    fn facturx_schema_joins_the_existing_extension_schemas() {
        let other = "<rdf:li rdf:parseType=\"Resource\"><pdfaSchema:prefix>xmpMM</pdfaSchema:prefix></rdf:li>";
        let xmp = format!(
            "{HEAD}<rdf:Description rdf:about=\"\" xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\" \
             xmlns:pdfaExtension=\"http://www.aiim.org/pdfa/ns/extension/\">\
             <pdfaExtension:schemas><rdf:Bag>{other}</rdf:Bag></pdfaExtension:schemas>{PDFAID}\
             </rdf:Description>{TAIL}"
        );
        let out = extend_xmp(&xmp, FacturXConformance::En16931).unwrap();
        let expected_schemas = format!(
            "<pdfaExtension:schemas><rdf:Bag>{other}{}</rdf:Bag></pdfaExtension:schemas>",
            facturx_extension_schema()
        );
        assert!(out.contains(&expected_schemas), "{out}");
        assert_eq!(out.matches("<pdfaExtension:schemas>").count(), 1);
        assert!(out.contains(PDFAID));
        assert!(out.starts_with(HEAD));
        let properties = facturx_properties(FacturXConformance::En16931);
        assert!(out.ends_with(&format!("{properties}{TAIL}")), "{out}");
        assert!(properties.contains("<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>"));
        assert!(properties.contains("<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>"));
        assert_eq!(out.matches("<pdfaProperty:name>").count(), 4);
        assert_eq!(
            out.matches("<rdf:li").count(),
            out.matches("</rdf:li>").count()
        );

        // Never twice.
        assert!(extend_xmp(&out, FacturXConformance::En16931).is_err());
    }

    #[test]
    fn facturx_schema_without_existing_extension_schemas() {
        let xmp = format!(
            "{HEAD}<rdf:Description rdf:about=\"\" xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\">\
             {PDFAID}</rdf:Description>{TAIL}"
        );
        let out = extend_xmp(&xmp, FacturXConformance::XRechnung).unwrap();
        assert_eq!(out.matches("<pdfaExtension:schemas><rdf:Bag>").count(), 1);
        assert!(out.contains("<fx:ConformanceLevel>XRECHNUNG</fx:ConformanceLevel>"));
        assert!(out.contains("<fx:DocumentFileName>xrechnung.xml</fx:DocumentFileName>"));
        assert!(out.ends_with(TAIL));
    }

    #[test]
    fn unexpected_xmp_is_an_error() {
        for xmp in [
            "<x/>".to_owned(),
            // pdfaExtension bound to nothing / the bag not closed.
            format!(
                "{HEAD}<rdf:Description><pdfaExtension:schemas><rdf:Bag></rdf:Bag></pdfaExtension:schemas></rdf:Description>{TAIL}"
            ),
            format!(
                "{HEAD}<rdf:Description xmlns:pdfaExtension=\"http://www.aiim.org/pdfa/ns/extension/\"><pdfaExtension:schemas><rdf:Seq></rdf:Seq></pdfaExtension:schemas></rdf:Description>{TAIL}"
            ),
            format!(
                "{HEAD}<rdf:Description xmlns:e=\"http://www.aiim.org/pdfa/ns/extension/\"><e:schemas><rdf:Bag></rdf:Bag></e:schemas></rdf:Description>{TAIL}"
            ),
        ] {
            assert!(
                extend_xmp(&xmp, FacturXConformance::En16931).is_err(),
                "{xmp}"
            );
        }
    }

    #[test]
    fn conformance_levels() {
        use FacturXConformance::*;
        let levels: Vec<_> = [Basic, En16931, Extended, XRechnung]
            .map(|c| (c.xmp_level(), c.file_name()))
            .into();
        assert_eq!(
            levels,
            [
                ("BASIC", "factur-x.xml"),
                ("EN 16931", "factur-x.xml"),
                ("EXTENDED", "factur-x.xml"),
                ("XRECHNUNG", "xrechnung.xml"),
            ]
        );
    }
}
