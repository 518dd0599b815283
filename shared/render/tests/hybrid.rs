//! Hybrid invoices (ZUGFeRD 2.x / Factur-X, profile EN 16931): the e-invoice XML embedded
//! into the PDF/A-3b file and announced in its XMP metadata.
//!
//! Read back three ways: with the Python package `factur-x` (what a recipient's software
//! does; it needs the project venv, `scripts/install-test-tools`), with lopdf (the PDF
//! structure the standard requires) and with poppler's `pdftotext`/`pdfinfo` (the visible
//! invoice is unchanged).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use faktura_render::{EmbeddedInvoiceXml, FacturXConformance, RenderError, Renderer};
use lopdf::{Dictionary, Document, Object, Stream};
use serde_json::{Value, json};

const VIEW: &[u8] = include_bytes!("fixtures/de_b2c.json");
/// A CII invoice, profile EN 16931, with the data of `de_b2c.json` (valid against the
/// Factur-X XSD and the EN 16931 rules: `scripts/validate_einvoice.py`).
const XML: &[u8] = include_bytes!("fixtures/de_b2c_en16931.xml");
const FX_NAMESPACE: &str = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#";

fn renderer() -> &'static Renderer {
    static RENDERER: OnceLock<Renderer> = OnceLock::new();
    RENDERER.get_or_init(|| Renderer::new().expect("renderer loads"))
}

fn en16931(xml: &[u8]) -> EmbeddedInvoiceXml<'_> {
    EmbeddedInvoiceXml {
        xml,
        conformance: FacturXConformance::En16931,
    }
}

fn hybrid(view: &[u8], ident: &str, xml: EmbeddedInvoiceXml<'_>) -> Vec<u8> {
    match renderer().render_hybrid_pdf(view, ident, xml) {
        Ok(pdf) => pdf,
        Err(err) => panic!("hybrid render {ident} failed: {err}"),
    }
}

/// The one hybrid PDF most tests look at, rendered once.
fn sample() -> &'static [u8] {
    static PDF: OnceLock<Vec<u8>> = OnceLock::new();
    PDF.get_or_init(|| hybrid(VIEW, "inv_hybrid", en16931(XML)))
}

/// A file in a per-process temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        let dir = std::env::temp_dir().join(format!("faktura-hybrid-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempFile(dir.join(name))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `pdf` to a temporary file.
fn temp_file(pdf: &[u8], name: &str) -> TempFile {
    let file = TempFile::new(name);
    std::fs::write(&file.0, pdf).unwrap();
    file
}

// ------------------------------------------------------------------ Python (factur-x)

fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: these tests read the PDFs back with the Python package factur-x; \
         run scripts/install-test-tools (from the repository root) to create the venv",
        python.display()
    );
    python
}

/// Runs `script` with the venv's Python (`python -c script args..`), returns stdout and
/// panics with stderr when it fails.
fn python(script: &str, args: &[&Path]) -> String {
    let python = venv_python();
    let output = Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "python check failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// factur-x's generic extraction: the first XML attachment it recognises as an invoice.
/// Writes the XML bytes to argv[2] and prints the attachment's name.
const EXTRACT: &str = r#"
import sys, facturx
pdf = open(sys.argv[1], "rb").read()
name, xml = facturx.get_xml_from_pdf(pdf, check_xsd=False)
if not name:
    sys.exit("factur-x found no invoice XML in the PDF")
open(sys.argv[2], "wb").write(xml)
print(name)
"#;

/// What factur-x checks offline, plus the XMP it does not check itself:
/// `get_facturx_xml_from_pdf` looks for factur-x.xml, detects the profile from the XML
/// (`get_level`) and validates it against that profile's XSD; the XMP's fx: properties
/// must agree with it (level spelled as factur-x spells it in XMP), and the PDF/A
/// extension schema must declare exactly those properties.
const CHECK: &str = r#"
import io, sys
import facturx, pypdf
from facturx.facturx import FACTURX_LEVEL2xmp
from lxml import etree

pdf = open(sys.argv[1], "rb").read()
name, xml = facturx.get_facturx_xml_from_pdf(pdf, check_xsd=True)
assert name == "factur-x.xml", f"get_facturx_xml_from_pdf: {name!r} (no factur-x.xml, level unknown or XSD invalid)"
level = facturx.get_level(etree.fromstring(xml))
xmp_level = FACTURX_LEVEL2xmp[level]

reader = pypdf.PdfReader(io.BytesIO(pdf))
xmp = etree.fromstring(reader.trailer["/Root"]["/Metadata"].get_object().get_data())
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
FX = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
EXT = "http://www.aiim.org/pdfa/ns/extension/"
SCH = "http://www.aiim.org/pdfa/ns/schema#"
PROP = "http://www.aiim.org/pdfa/ns/property#"
ID = "http://www.aiim.org/pdfa/ns/id/"

fx = {e.tag.split("}")[1]: e.text for e in xmp.iter("{%s}*" % FX)}
want = {"DocumentType": "INVOICE", "DocumentFileName": name, "Version": "1.0", "ConformanceLevel": xmp_level}
assert fx == want, f"XMP fx properties {fx} != {want}"
assert xmp.findtext(f".//{{{ID}}}part") == "3", "pdfaid:part"
assert xmp.findtext(f".//{{{ID}}}conformance") == "B", "pdfaid:conformance"

schemas = xmp.findall(f".//{{{EXT}}}schemas")
assert len(schemas) == 1, f"{len(schemas)} pdfaExtension:schemas properties"
declared = {}
for li in schemas[0].findall(f"{{{RDF}}}Bag/{{{RDF}}}li"):
    props = {
        p.findtext(f"{{{PROP}}}name"): (p.findtext(f"{{{PROP}}}valueType"), p.findtext(f"{{{PROP}}}category"), p.findtext(f"{{{PROP}}}description"))
        for p in li.findall(f"{{{SCH}}}property/{{{RDF}}}Seq/{{{RDF}}}li")
    }
    declared[li.findtext(f"{{{SCH}}}namespaceURI")] = (li.findtext(f"{{{SCH}}}prefix"), li.findtext(f"{{{SCH}}}schema"), props)
assert FX in declared, f"no extension schema for {FX}: {list(declared)}"
prefix, schema, props = declared[FX]
assert (prefix, schema) == ("fx", "Factur-X PDFA Extension Schema"), (prefix, schema)
assert set(props) == set(fx), f"declared {set(props)} != used {set(fx)}"
for prop, (value_type, category, description) in props.items():
    assert value_type == "Text" and category == "external" and description, (prop, value_type, category, description)
print(level, xmp_level)
"#;

#[test]
fn factur_x_extracts_the_identical_xml() {
    let pdf = temp_file(sample(), "extract.pdf");
    let out = TempFile::new("extract.xml");
    let name = python(EXTRACT, &[&pdf.0, &out.0]);
    assert_eq!(name.trim(), "factur-x.xml");
    let extracted = std::fs::read(&out.0).unwrap();
    assert!(extracted == XML, "the extracted XML differs from the input");
}

#[test]
fn factur_x_recognises_the_profile_and_the_xmp_agrees() {
    let pdf = temp_file(sample(), "check.pdf");
    let printed = python(CHECK, &[&pdf.0]);
    assert_eq!(printed.trim(), "en16931 EN 16931");
}

// ------------------------------------------------------------------ PDF structure (lopdf)

fn resolve<'a>(doc: &'a Document, object: &'a Object) -> &'a Object {
    match object {
        Object::Reference(id) => doc.get_object(*id).expect("reference resolves"),
        direct => direct,
    }
}

fn dict<'a>(doc: &'a Document, parent: &'a Dictionary, key: &str) -> &'a Dictionary {
    let object = parent
        .get(key.as_bytes())
        .unwrap_or_else(|_| panic!("no /{key}"));
    resolve(doc, object)
        .as_dict()
        .unwrap_or_else(|_| panic!("/{key} is not a dictionary"))
}

fn name<'a>(dict: &'a Dictionary, key: &str) -> &'a [u8] {
    dict.get(key.as_bytes())
        .and_then(Object::as_name)
        .unwrap_or_else(|_| panic!("no name /{key}"))
}

fn string<'a>(dict: &'a Dictionary, key: &str) -> &'a [u8] {
    dict.get(key.as_bytes())
        .and_then(Object::as_str)
        .unwrap_or_else(|_| panic!("no string /{key}"))
}

/// The file specification listed in the catalog's `/AF` (exactly one) and its embedded
/// file stream.
fn associated_file(doc: &Document) -> (&Dictionary, &Stream) {
    let catalog = doc.catalog().expect("catalog");
    let af = resolve(doc, catalog.get(b"AF").expect("catalog has /AF"))
        .as_array()
        .expect("/AF is an array");
    assert_eq!(af.len(), 1, "one associated file");
    let spec = resolve(doc, &af[0]).as_dict().expect("file spec");
    let ef = dict(doc, spec, "EF");
    let stream = resolve(doc, ef.get(b"F").expect("/EF /F"))
        .as_stream()
        .expect("embedded file stream");
    (spec, stream)
}

fn xmp(doc: &Document) -> String {
    let catalog = doc.catalog().expect("catalog");
    let stream = resolve(
        doc,
        catalog.get(b"Metadata").expect("catalog has /Metadata"),
    )
    .as_stream()
    .expect("metadata stream");
    assert!(
        stream.dict.get(b"Filter").is_err(),
        "the XMP stream is not compressed"
    );
    assert_eq!(name(&stream.dict, "Subtype"), b"XML");
    String::from_utf8(stream.content.clone()).expect("XMP is UTF-8")
}

/// The embedded XML's bytes, decompressed.
fn embedded_bytes(pdf: &[u8]) -> (String, Vec<u8>) {
    let doc = Document::load_mem(pdf).expect("lopdf reads the PDF");
    let (spec, stream) = associated_file(&doc);
    let file_name = String::from_utf8(string(spec, "UF").to_vec()).unwrap();
    (file_name, stream.get_plain_content().expect("decodes"))
}

#[test]
fn pdf_structure_is_factur_x() {
    let pdf = sample();
    assert!(pdf.starts_with(b"%PDF-1.7\n%"), "PDF 1.7 header");
    // PDF/A: a comment with at least four bytes >= 128 right after the header.
    assert!(pdf[10..14].iter().all(|&b| b >= 128), "binary mark");
    let doc = Document::load_mem_with_options(
        pdf,
        lopdf::LoadOptions {
            strict: true,
            ..Default::default()
        },
    )
    .expect("lopdf reads the PDF strictly");
    assert!(doc.trailer.get(b"ID").is_ok(), "trailer /ID (PDF/A)");

    let catalog = doc.catalog().unwrap();
    let (spec, stream) = associated_file(&doc);
    assert_eq!(name(spec, "Type"), b"Filespec");
    assert_eq!(string(spec, "F"), b"factur-x.xml");
    assert_eq!(string(spec, "UF"), b"factur-x.xml");
    assert_eq!(name(spec, "AFRelationship"), b"Alternative");
    assert!(!string(spec, "Desc").is_empty(), "/Desc (PDF/A-3)");

    assert_eq!(name(&stream.dict, "Type"), b"EmbeddedFile");
    assert_eq!(name(&stream.dict, "Subtype"), b"text/xml");
    let params = dict(&doc, &stream.dict, "Params");
    // The issue date of the view (issue_date_iso 2026-11-20), not the time of rendering.
    assert_eq!(string(params, "ModDate"), b"D:20261120000000Z");
    assert_eq!(
        params.get(b"Size").and_then(Object::as_i64).unwrap(),
        XML.len() as i64
    );
    assert!(
        stream.get_plain_content().unwrap() == XML,
        "XML bytes differ"
    );

    // Also in the document's name tree of embedded files (what viewers list).
    let names = dict(&doc, catalog, "Names");
    let tree = dict(&doc, names, "EmbeddedFiles");
    let entries = tree.get(b"Names").and_then(Object::as_array).unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].as_str().unwrap(), b"factur-x.xml");
    assert_eq!(
        entries[1],
        catalog.get(b"AF").unwrap().as_array().unwrap()[0]
    );

    let xmp = xmp(&doc);
    for needle in [
        // typst's PDF/A identification is kept
        "<pdfaid:part>3</pdfaid:part>",
        "<pdfaid:conformance>B</pdfaid:conformance>",
        "<dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">Rechnung RE-2026-00001</rdf:li>",
        "<xmp:CreateDate>2026-11-20T00:00:00+00:00</xmp:CreateDate>",
        // the Factur-X properties
        &format!("xmlns:fx=\"{FX_NAMESPACE}\""),
        "<fx:DocumentType>INVOICE</fx:DocumentType>",
        "<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>",
        "<fx:Version>1.0</fx:Version>",
        "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>",
        // and the extension schema that declares them
        "<pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>",
        &format!("<pdfaSchema:namespaceURI>{FX_NAMESPACE}</pdfaSchema:namespaceURI>"),
        "<pdfaSchema:prefix>fx</pdfaSchema:prefix>",
    ] {
        assert!(xmp.contains(needle), "XMP lacks {needle:?}:\n{xmp}");
    }
    for property in [
        "DocumentFileName",
        "DocumentType",
        "Version",
        "ConformanceLevel",
    ] {
        let declaration = format!(
            "<pdfaProperty:name>{property}</pdfaProperty:name>\
             <pdfaProperty:valueType>Text</pdfaProperty:valueType>\
             <pdfaProperty:category>external</pdfaProperty:category>"
        );
        assert!(
            xmp.contains(&declaration),
            "{property} not declared:\n{xmp}"
        );
    }
    // One extension schema property (typst's schemas and ours in one bag), one packet.
    assert_eq!(xmp.matches("<pdfaExtension:schemas>").count(), 1);
    assert!(xmp.starts_with("<?xpacket begin="));
    assert!(xmp.trim_end().ends_with("<?xpacket end=\"r\"?>"));
}

#[test]
fn plain_pdfs_have_no_attachment_even_if_the_view_asks() {
    // A caller cannot switch the attachment on through the view: the key is ignored.
    let mut view: Value = serde_json::from_slice(VIEW).unwrap();
    view["attachment"] = json!({
        "name": "factur-x.xml",
        "description": "x",
        "mime_type": "text/xml",
        "relationship": "alternative",
    });
    let pdf = renderer()
        .render_pdf(&serde_json::to_vec(&view).unwrap(), "inv_plain")
        .unwrap();
    let plain = renderer().render_pdf(VIEW, "inv_plain").unwrap();
    assert!(pdf == plain, "the caller's attachment key changed the PDF");

    let doc = Document::load_mem(&pdf).unwrap();
    let catalog = doc.catalog().unwrap();
    assert!(catalog.get(b"AF").is_err());
    assert!(catalog.get(b"Names").is_err());
    assert!(!xmp(&doc).contains(FX_NAMESPACE));
}

// ------------------------------------------------------------------ visible content (poppler)

fn run(tool: &str, args: &[&std::ffi::OsStr]) -> String {
    let output = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "cannot run `{tool}` ({err}): these tests need poppler-utils; \
             run scripts/install-test-tools"
            )
        });
    assert!(
        output.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn pdftotext(pdf: &[u8], name: &str) -> String {
    let file = temp_file(pdf, name);
    run(
        "pdftotext",
        &["-layout".as_ref(), file.0.as_ref(), "-".as_ref()],
    )
}

#[test]
fn visible_invoice_is_unchanged() {
    let text = pdftotext(sample(), "visible.pdf");
    for needle in [
        "Rechnung RE-2026-00001",
        "20.11.2026",
        "Jürgen Größmann-Žáček",
        "277,69 €",
        "50,52 €",
        "328,21 €",
        "Zu zahlen",
        "DE02 1203 0000 0000 2020 51",
        "Seite 1 von 1",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
    // Exactly what the plain PDF shows.
    let plain = renderer().render_pdf(VIEW, "inv_hybrid").unwrap();
    assert_eq!(text, pdftotext(&plain, "visible-plain.pdf"));

    let file = temp_file(sample(), "info.pdf");
    let info = run("pdfinfo", &[file.0.as_ref()]);
    for needle in [
        "Title:           Rechnung RE-2026-00001",
        "Pages:           1",
        "PDF version:     1.7",
        "Metadata Stream: yes",
    ] {
        assert!(info.contains(needle), "{needle:?} not in:\n{info}");
    }
    let files = run("pdfdetach", &["-list".as_ref(), file.0.as_ref()]);
    assert_eq!(files.trim(), "1 embedded files\n1: factur-x.xml");
}

// ------------------------------------------------------------------ determinism

#[test]
fn hybrid_output_is_deterministic() {
    let first = sample();
    let again = hybrid(VIEW, "inv_hybrid", en16931(XML));
    assert!(again == first, "output differs between renders");

    let shared = Arc::new(Renderer::new().unwrap());
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let renderer = Arc::clone(&shared);
            std::thread::spawn(move || {
                renderer
                    .render_hybrid_pdf(VIEW, "inv_hybrid", en16931(XML))
                    .unwrap()
            })
        })
        .collect();
    for thread in threads {
        assert!(
            thread.join().unwrap() == first,
            "output differs between renderers"
        );
    }

    let other_xml = String::from_utf8(XML.to_vec())
        .unwrap()
        .replace("Vielen Dank", "Herzlichen Dank");
    let other = hybrid(VIEW, "inv_hybrid", en16931(other_xml.as_bytes()));
    assert!(other != first, "the XML does not affect the PDF");
    assert_eq!(embedded_bytes(&other).1, other_xml.as_bytes());
}

#[test]
fn modification_date_follows_the_issue_date() {
    let mut view: Value = serde_json::from_slice(VIEW).unwrap();
    view["issue_date_iso"] = json!("2027-01-31");
    let pdf = hybrid(
        &serde_json::to_vec(&view).unwrap(),
        "inv_date",
        en16931(XML),
    );
    let doc = Document::load_mem(&pdf).unwrap();
    let (_, stream) = associated_file(&doc);
    let params = dict(&doc, &stream.dict, "Params");
    assert_eq!(string(params, "ModDate"), b"D:20270131000000Z");
}

// ------------------------------------------------------------------ other profiles

#[test]
fn xrechnung_profile_is_embedded_as_xrechnung_xml() {
    let pdf = hybrid(
        VIEW,
        "inv_xr",
        EmbeddedInvoiceXml {
            xml: XML,
            conformance: FacturXConformance::XRechnung,
        },
    );
    let doc = Document::load_mem(&pdf).unwrap();
    let (spec, _) = associated_file(&doc);
    assert_eq!(string(spec, "UF"), b"xrechnung.xml");
    let metadata = xmp(&doc);
    assert!(metadata.contains("<fx:ConformanceLevel>XRECHNUNG</fx:ConformanceLevel>"));
    assert!(metadata.contains("<fx:DocumentFileName>xrechnung.xml</fx:DocumentFileName>"));

    for (conformance, level) in [
        (FacturXConformance::Basic, "BASIC"),
        (FacturXConformance::Extended, "EXTENDED"),
    ] {
        let pdf = hybrid(
            VIEW,
            "inv_level",
            EmbeddedInvoiceXml {
                xml: XML,
                conformance,
            },
        );
        let doc = Document::load_mem(&pdf).unwrap();
        let needle = format!("<fx:ConformanceLevel>{level}</fx:ConformanceLevel>");
        assert!(xmp(&doc).contains(&needle), "{needle}");
        assert_eq!(embedded_bytes(&pdf).0, "factur-x.xml");
    }
}

// ------------------------------------------------------------------ hostile input

#[test]
fn hostile_xml_bytes_are_embedded_as_they_are() {
    let mut not_utf8: Vec<u8> = b"<?xml version=\"1.0\"?><x>".to_vec();
    not_utf8.extend([0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80]);
    // PDF syntax inside the data must not end the stream early.
    let pdf_syntax =
        b"endstream\nendobj\nxref\n0 1\ntrailer<</Root 1 0 R>>\nstartxref\n0\n%%EOF\n".to_vec();
    // Incompressible bytes (a simple LCG), then a large, compressible file.
    let mut state: u32 = 42;
    let random: Vec<u8> = (0..200_000)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as u8
        })
        .collect();
    let mut huge = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Invoice>".to_vec();
    while huge.len() < 8 * 1024 * 1024 {
        huge.extend_from_slice(b"<Line><Name>Yoga &amp; mehr</Name><Amount>1.00</Amount></Line>");
    }
    huge.extend_from_slice(b"</Invoice>");

    for (label, xml) in [
        ("not UTF-8", not_utf8),
        ("PDF syntax", pdf_syntax),
        ("random bytes", random),
        ("8 MiB", huge),
        ("one NUL byte", vec![0]),
    ] {
        let pdf = match renderer().render_hybrid_pdf(VIEW, "inv_hostile", en16931(&xml)) {
            Ok(pdf) => pdf,
            Err(err) => panic!("{label}: {err}"),
        };
        let (name, embedded) = embedded_bytes(&pdf);
        assert_eq!(name, "factur-x.xml", "{label}");
        assert!(embedded == xml, "{label}: embedded bytes differ");
    }
}

#[test]
fn empty_xml_and_invalid_views_are_errors() {
    match renderer().render_hybrid_pdf(VIEW, "inv_empty", en16931(b"")) {
        Err(RenderError::InvalidData(message)) => assert!(message.contains("empty"), "{message}"),
        other => panic!("expected InvalidData, got {:?}", other.map(|pdf| pdf.len())),
    }
    match renderer().render_hybrid_pdf(b"{}", "inv_bad", en16931(XML)) {
        Err(RenderError::InvalidData(_)) => {}
        other => panic!("expected InvalidData, got {:?}", other.map(|pdf| pdf.len())),
    }
}
