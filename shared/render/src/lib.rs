//! PDF rendering of invoices with [typst](https://typst.app) used as a library.
//!
//! The domain layer builds a *document view*: a JSON object in which every
//! text is already localized and every number, amount and date is already
//! formatted. This crate turns that view into a PDF/A-3b document. The typst
//! template does no arithmetic and no formatting; it only lays out strings.
//!
//! The view is never spliced into typst markup. It is served to the template
//! as the virtual file `/data.json` (read with `json("/data.json")`), so text
//! typed by customers (`#read(..)`, `*bold*`, `$`, `\`, ...) is printed
//! literally. The template cannot read anything else: the in-memory
//! [`typst::World`] answers every other path with "not found" and never
//! touches the file system.
//!
//! # Document view contract
//!
//! All values are JSON strings unless stated otherwise. "nullable" means the
//! key must be present but may be `null`; "optional" means the key may be
//! missing. Unknown keys are ignored.
//!
//! ```text
//! {
//!   "lang": "de",                       // ISO 639-1 language of the texts (hyphenation, quotes)
//!   "kind": "invoice",                  // "invoice" | "proforma" | "credit_note" | "reminder" (the title comes from labels)
//!   "labels": {                         // every caption printed on the document
//!     "title", "number", "issue_date", "due_date", "service_date",
//!     "customer_number", "buyer_reference", "position", "description",
//!     "quantity", "unit_price", "vat_rate", "net_amount", "net_total",
//!     "vat_total", "gross_total", "amount_due", "vat_breakdown", "vat_base",
//!     "vat_amount", "payment", "bank", "account_holder", "iban", "bic",
//!     "payment_reference", "vat_id", "tax_number", "page", "of",
//!     "buyer_vat_id", "continued", "notes", "contact",   // all required
//!     "prepaid"                         // optional; used only when totals.prepaid is set
//!   },
//!   "number": "RE-2026-00001",
//!   "issue_date": "20.11.2026",
//!   "issue_date_iso": "2026-11-20",     // optional: PDF metadata creation date (else 2000-01-01)
//!   "due_date": "04.12.2026",           // nullable
//!   "service_period": "01.12.2026",     // nullable: service date or period, printed as is
//!   "customer_number": "cus_42",        // nullable
//!   "buyer_reference": "PO-7781",       // nullable
//!   "seller": {
//!     "name": "Yogastudio Sonnenschein GmbH",
//!     "address_lines": ["Lindenallee 12", "10405 Berlin", "Deutschland"],
//!     "sender_line": "Yogastudio Sonnenschein GmbH · Lindenallee 12 · 10405 Berlin",
//!     "email": "rechnung@example.com",
//!     "phone": null, "website": null,   // nullable
//!     "vat_id": "DE123456789",          // nullable
//!     "tax_number": "27/123/45678",     // nullable
//!     "register": null,                 // nullable, e.g. "Amtsgericht Berlin HRB 123456 B"
//!     "managing_directors": null,       // nullable, e.g. "Geschäftsführerin: Anna Beispiel"
//!     "bank": {                         // nullable: no bank details are printed then
//!       "account_holder": "...", "iban": "DE02 1203 ...", "bic": "BYLADEM1001", // bic nullable
//!       "bank_name": "Deutsche Kreditbank"                                       // nullable
//!     }
//!   },
//!   "buyer": { "address_lines": ["Erika Mustermann", "Hauptstr. 5", "10115 Berlin"],
//!              "vat_id": null },        // vat_id nullable
//!   "lines": [ { "position": "1", "description": "Yoga Basics, 10 lessons",
//!                "service_date": null,  // nullable: printed small under the description
//!                "quantity": "1", "unit": "Stk.", "unit_price": "100,00 €",
//!                "vat_rate": "19 %", "net_amount": "100,00 €" } ],
//!   "vat_breakdown": [ { "label": "19 % USt.", "base": "100,00 €", "vat": "19,00 €" } ],
//!   "totals": { "net": "100,00 €", "vat": "19,00 €", "gross": "119,00 €",
//!               "prepaid": null,        // nullable
//!               "amount_due": "119,00 €" },
//!   "notes": ["Steuerschuldnerschaft des Leistungsempfängers"],   // may be empty
//!   "payment": {                        // nullable: no payment section then
//!     "terms": "Zahlbar bis 04.12.2026 ohne Abzug.",
//!     "reference": "RF63 RE20 2600 001", // nullable
//!     "qr": "BCD\n002\n1\nSCT\n...",     // optional: the EPC QR code's text; the renderer
//!                                       // draws the code (error correction M) beside the
//!                                       // payment details (labels.qr_caption under it)
//!     "link": "https://pay.example/..."  // optional: http(s) payment link (labels.pay_online)
//!   },
//!   "letter": {                         // optional: a reminder letter (then `lines` are its
//!                                       // fees and interest, and may be empty)
//!     "labels": { "item_invoice", "item_date", "item_due", "item_amount",
//!                 "item_settled", "item_open", "charges", "open_total" },
//!     "salutation": "Guten Tag Erika Mustermann,", "intro": "...", "closing": "...",
//!     "items": [ { "number": "RE-2026-00001", "issue_date": "01.12.2026",
//!                  "due_date": "15.12.2026", "payable": "119,00 €", "settled": "0,00 €",
//!                  "open": "119,00 €" } ],
//!     "open_total": "119,00 €", "charges": "2,50 €",   // charges nullable
//!     "total": "121,50 €"
//!   }
//! }
//! ```
//!
//! The key `attachment` is reserved: the renderer sets it for hybrid invoices
//! (see below) and ignores a caller's value.
//!
//! The view is validated against this shape before rendering; a missing key
//! or a value of the wrong type is a [`RenderError::InvalidData`] naming the
//! offending path (e.g. `seller.address_lines`).
//!
//! # Hybrid invoices (ZUGFeRD 2.x / Factur-X)
//!
//! [`Renderer::render_hybrid_pdf`] renders the same view and embeds an
//! e-invoice XML (CII) into the PDF/A-3b file as `factur-x.xml`
//! (`/AFRelationship /Alternative`, MIME type `text/xml`, listed in the
//! catalog's `/AF`), and announces it in the XMP metadata (`fx:DocumentType`,
//! `fx:DocumentFileName`, `fx:Version`, `fx:ConformanceLevel` with the PDF/A
//! extension schema declaring them). The XML is the legal original of a hybrid
//! invoice; it is embedded byte for byte and not validated here.

mod facturx;
mod port;
mod qr;
mod view;
mod world;

pub use crate::facturx::{EmbeddedInvoiceXml, FacturXConformance};
pub use crate::port::TypstRenderer;

use std::fmt::Write as _;

use typst::diag::{SourceDiagnostic, Warned};
use typst::foundations::{Bytes, Datetime, Smart};
use typst::syntax::Source;
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, WorldExt};
use typst_layout::PagedDocument;
use typst_pdf::{PdfOptions, PdfStandard, PdfStandards, Timestamp};

use crate::view::Attachment;
use crate::world::{DATA_PATH, MAIN_PATH, RenderWorld, file_id};

/// The PDF creation date used when the view has no `issue_date_iso`.
const FALLBACK_CREATION_DATE: (i32, u8, u8) = (2000, 1, 1);

/// The invoice template (typst markup).
const INVOICE_TEMPLATE: &str = include_str!("../templates/invoice.typ");
/// The default contract template (typst markup); tenants may bring their own.
const CONTRACT_TEMPLATE: &str = include_str!("../templates/contract.typ");
/// Where a contract template lives in the virtual project.
const CONTRACT_PATH: &str = "/contract.typ";

/// Inter (SIL Open Font License 1.1, see `fonts/OFL.txt`): the text font.
const INTER: [&[u8]; 4] = [
    include_bytes!("../fonts/Inter-Regular.otf"),
    include_bytes!("../fonts/Inter-Italic.otf"),
    include_bytes!("../fonts/Inter-SemiBold.otf"),
    include_bytes!("../fonts/Inter-Bold.otf"),
];

/// Errors of [`Renderer`].
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The document view does not match the contract (see the crate docs).
    #[error("invalid document view: {0}")]
    InvalidData(String),
    /// The typst template failed to compile; the text holds typst's
    /// diagnostics (message, location in the template, hints).
    #[error("invoice template failed to compile: {0}")]
    Template(String),
    /// The PDF could not be written (e.g. a PDF/A conformance violation).
    #[error("PDF export failed: {0}")]
    Pdf(String),
    /// The embedded fonts or the PDF configuration could not be loaded.
    #[error("renderer setup failed: {0}")]
    Setup(String),
}

/// Renders document views to PDF. Build it once (it parses the embedded
/// fonts and templates) and share it, e.g. in an `Arc`; it is `Send + Sync`.
pub struct Renderer {
    library: LazyHash<Library>,
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
    /// How many of `fonts` (the first ones) are the text font Inter's faces.
    text_fonts: usize,
    main: Source,
    contract: Source,
    standards: PdfStandards,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("fonts", &self.fonts.len())
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// Loads the embedded fonts and parses the template. Takes a few
    /// milliseconds; do it once per process.
    pub fn new() -> Result<Renderer, RenderError> {
        Self::with_template(INVOICE_TEMPLATE)
    }

    fn with_template(template: &str) -> Result<Renderer, RenderError> {
        // Inter first: it is the font the template asks for. The typst-assets
        // fonts (Libertinus Serif, New Computer Modern, DejaVu Sans Mono) are
        // embedded too and only serve as fallback for characters Inter lacks.
        let inter: Vec<Font> = INTER
            .into_iter()
            .flat_map(|data| Font::iter(Bytes::new(data)))
            .collect();
        let text_fonts = inter.len();
        let fonts: Vec<Font> = inter
            .into_iter()
            .chain(typst_assets::fonts().flat_map(|data| Font::iter(Bytes::new(data))))
            .collect();
        let book = FontBook::from_fonts(&fonts);
        if !book.contains_family("inter") {
            return Err(RenderError::Setup(
                "embedded font Inter could not be parsed".into(),
            ));
        }
        let standards = PdfStandards::new(&[PdfStandard::A_3b])
            .map_err(|err| RenderError::Setup(err.message().to_string()))?;
        Ok(Renderer {
            library: LazyHash::new(Library::builder().build()),
            book: LazyHash::new(book),
            fonts,
            text_fonts,
            main: Source::new(file_id(MAIN_PATH), template.to_owned()),
            contract: Source::new(file_id(CONTRACT_PATH), CONTRACT_TEMPLATE.to_owned()),
            standards,
        })
    }

    /// Renders one document view (see the crate docs for the JSON contract)
    /// into a PDF/A-3b file.
    ///
    /// `ident` is a stable identifier of the document (the invoice id); it
    /// determines the PDF's document id. The output depends only on
    /// `view_json` and `ident`: the same input gives the same bytes.
    pub fn render_pdf(&self, view_json: &[u8], ident: &str) -> Result<Vec<u8>, RenderError> {
        let result = self.render_inner(view_json, ident, None);
        // typst memoizes aggressively; without this the cache grows with
        // every document rendered (hundreds of MB after a few hundred).
        comemo::evict(0);
        result
    }

    /// Renders a hybrid invoice (ZUGFeRD 2.x / Factur-X): a PDF/A-3b file
    /// whose visible content is the document view (as [`Renderer::render_pdf`]
    /// renders it) and which embeds `xml.xml` as `factur-x.xml` (for profile
    /// XRECHNUNG: `xrechnung.xml`) with `/AFRelationship /Alternative`, MIME
    /// type `text/xml`, listed in the catalog's `/AF` array, plus the
    /// Factur-X XMP metadata for `xml.conformance`.
    ///
    /// The XML bytes are embedded unchanged and are not parsed or validated
    /// (only an empty XML is refused, as [`RenderError::InvalidData`]):
    /// checking them (XSD, EN 16931 rules) is the XML generator's job. The
    /// embedded file's modification date is the PDF's creation date (the
    /// view's `issue_date_iso`). Like `render_pdf`, the output depends only
    /// on the arguments.
    pub fn render_hybrid_pdf(
        &self,
        view_json: &[u8],
        ident: &str,
        xml: EmbeddedInvoiceXml<'_>,
    ) -> Result<Vec<u8>, RenderError> {
        if xml.xml.is_empty() {
            return Err(RenderError::InvalidData(
                "the e-invoice XML to embed is empty".into(),
            ));
        }
        let result = self.render_inner(view_json, ident, Some(&xml));
        comemo::evict(0);
        let pdf = result?;
        facturx::add_facturx_xmp(&pdf, xml.conformance).map_err(RenderError::Pdf)
    }

    /// Renders a contract: `data` (a contract view as JSON, handed to the template as
    /// `/data.json`) with the tenant's `template`, or the default contract template. The
    /// template is the tenant's own configuration (trusted); customer text stays data.
    pub fn render_contract(
        &self,
        data: &[u8],
        template: Option<&str>,
        ident: &str,
    ) -> Result<Vec<u8>, RenderError> {
        let custom;
        let source = match template {
            Some(t) => {
                custom = Source::new(file_id(CONTRACT_PATH), t.to_owned());
                &custom
            }
            None => &self.contract,
        };
        let date = serde_json::from_slice::<serde_json::Value>(data)
            .ok()
            .and_then(|v| v["date_iso"].as_str().map(str::to_string));
        let result = (|| {
            let json = self.printable(data)?;
            let world = RenderWorld::new(self, source, Bytes::new(json));
            let Warned {
                output,
                warnings: _,
            } = typst::compile::<PagedDocument>(&world);
            let document = output
                .map_err(|diags| RenderError::Template(format_diagnostics(&world, &diags)))?;
            let issue_date = date.as_deref().and_then(|d| view::parse_iso_date(d).ok());
            let options = PdfOptions {
                ident: Smart::Custom(ident.to_owned()),
                timestamp: Some(creation_timestamp(issue_date)),
                standards: self.standards.clone(),
                ..PdfOptions::default()
            };
            typst_pdf::pdf(&document, &options)
                .map_err(|diags| RenderError::Pdf(format_diagnostics(&world, &diags)))
        })();
        comemo::evict(0);
        result
    }

    fn render_inner(
        &self,
        view_json: &[u8],
        ident: &str,
        xml: Option<&EmbeddedInvoiceXml<'_>>,
    ) -> Result<Vec<u8>, RenderError> {
        let attachment = xml.map(|xml| Attachment {
            name: xml.conformance.file_name(),
            description: xml.conformance.description(),
            mime_type: "text/xml",
            relationship: "alternative",
        });
        let view = view::normalize(view_json, attachment).map_err(RenderError::InvalidData)?;
        let json = self.printable(&view.json)?;
        let mut world = RenderWorld::new(self, &self.main, Bytes::new(json));
        if let Some(xml) = xml {
            world = world.with_xml(Bytes::new(xml.xml.to_vec()));
        }
        if let Some(payload) = &view.qr {
            world = world.with_qr(Bytes::new(qr::qr_svg(payload)?));
        }

        let Warned {
            output,
            warnings: _,
        } = typst::compile::<PagedDocument>(&world);
        let document =
            output.map_err(|diags| RenderError::Template(format_diagnostics(&world, &diags)))?;

        let options = PdfOptions {
            ident: Smart::Custom(ident.to_owned()),
            creator: Smart::Custom(Some("Faktura".to_owned())),
            timestamp: Some(creation_timestamp(view.issue_date)),
            standards: self.standards.clone(),
            ..PdfOptions::default()
        };
        typst_pdf::pdf(&document, &options)
            .map_err(|diags| RenderError::Pdf(format_diagnostics(&world, &diags)))
    }
}

impl Renderer {
    /// Whether the text font (every Inter face) has a glyph for `c`: then any cluster of such
    /// characters is shaped by Inter alone.
    fn in_text_font(&self, c: char) -> bool {
        c.is_ascii_graphic()
            || c == ' '
            || self.fonts[..self.text_fonts]
                .iter()
                .all(|f| f.info().coverage.contains(u32::from(c)))
    }

    /// Whether `cluster` (one grapheme cluster) can be shown: whitespace, or one character
    /// (after NFC composition, so `e` + U+0301 is `é`) that the text font Inter has.
    ///
    /// Only Inter is trusted. typst picks a fallback font by the first character of a segment
    /// and shapes a cluster with one font, so characters that only the bundled fallback fonts
    /// cover (`ꜯ`, which New Computer Modern lacks in the bold italic the template may ask
    /// for) and combining marks that do not compose with their base (a `?` with U+1AC2, a
    /// quote with a combining arrow) came out as missing glyphs, which PDF/A forbids. The
    /// property test in `tests/render.rs` found each of these.
    fn printable_cluster(&self, cluster: &str) -> bool {
        use unicode_normalization::UnicodeNormalization;
        if cluster.chars().all(char::is_whitespace) {
            return true;
        }
        let mut composed = cluster.nfc();
        match (composed.next(), composed.next()) {
            (Some(c), None) => self.in_text_font(c),
            _ => false,
        }
    }

    /// Replaces grapheme clusters that cannot be shown (emoji, scripts we ship no font for,
    /// combining marks that do not compose with their base) with U+FFFD. PDF/A forbids missing
    /// glyphs, so without this a customer's emoji would make the invoice unrenderable. The
    /// data itself (and any e-invoice XML) keeps them.
    fn printable(&self, json: &[u8]) -> Result<Vec<u8>, RenderError> {
        // Fast path: the normalized JSON carries text unescaped, so when Inter has every
        // character of the raw document there is nothing to replace (the common case).
        if let Ok(text) = std::str::from_utf8(json)
            && text
                .chars()
                .all(|c| c.is_whitespace() || self.in_text_font(c))
        {
            return Ok(json.to_vec());
        }
        fn walk(value: &mut serde_json::Value, fix: &dyn Fn(&str) -> Option<String>) {
            match value {
                serde_json::Value::String(s) => {
                    if let Some(fixed) = fix(s) {
                        *s = fixed;
                    }
                }
                serde_json::Value::Array(items) => items.iter_mut().for_each(|v| walk(v, fix)),
                serde_json::Value::Object(map) => map.values_mut().for_each(|v| walk(v, fix)),
                _ => {}
            }
        }
        let replacement = if self.printable_cluster("\u{FFFD}") {
            "\u{FFFD}"
        } else {
            "?"
        };
        let fix = |s: &str| -> Option<String> {
            use unicode_segmentation::UnicodeSegmentation;
            s.graphemes(true)
                .any(|g| !self.printable_cluster(g))
                .then(|| {
                    s.graphemes(true)
                        .map(|g| {
                            if self.printable_cluster(g) {
                                g
                            } else {
                                replacement
                            }
                        })
                        .collect()
                })
        };
        let mut value: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| RenderError::InvalidData(e.to_string()))?;
        walk(&mut value, &fix);
        serde_json::to_vec(&value).map_err(|e| RenderError::InvalidData(e.to_string()))
    }
}

/// The PDF creation date: PDF/A requires one, and it must not be the time
/// of rendering (output must be reproducible). The issue date when the view
/// gives it (`issue_date_iso`), otherwise a fixed date.
fn creation_timestamp(issue_date: Option<(i32, u8, u8)>) -> Timestamp {
    let (year, month, day) = issue_date.unwrap_or(FALLBACK_CREATION_DATE);
    let datetime = Datetime::from_ymd_hms(year, month, day, 0, 0, 0)
        .or_else(|| {
            let (year, month, day) = FALLBACK_CREATION_DATE;
            Datetime::from_ymd_hms(year, month, day, 0, 0, 0)
        })
        .expect("fallback creation date is valid");
    Timestamp::new_utc(datetime)
}

/// Formats typst diagnostics as `path:line:col: message (hint: ..)`, one per
/// line.
fn format_diagnostics(world: &RenderWorld<'_>, diags: &[SourceDiagnostic]) -> String {
    let mut out = String::new();
    for (i, diag) in diags.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if let Some(id) = diag.span.id()
            && let Some(range) = world.range(diag.span)
        {
            let path = id.vpath().get_with_slash();
            let position = if id == file_id(MAIN_PATH) {
                world
                    .main_source()
                    .lines()
                    .byte_to_line_column(range.start)
                    .map(|(line, col)| format!(":{}:{}", line + 1, col + 1))
            } else if id == file_id(DATA_PATH) {
                Some(format!(" bytes {}..{}", range.start, range.end))
            } else {
                None
            };
            let _ = write!(out, "{path}{}: ", position.unwrap_or_default());
        }
        out.push_str(&diag.message);
        for hint in &diag.hints {
            let _ = write!(out, " (hint: {})", hint.v);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn renderer_is_send_and_sync() {
        assert_send_sync::<Renderer>();
    }

    const VIEW: &[u8] = include_bytes!("../tests/fixtures/de_b2c.json");

    fn template_error(template: &str) -> String {
        let renderer = Renderer::with_template(template).unwrap();
        match renderer.render_pdf(VIEW, "t") {
            Err(RenderError::Template(message)) => message,
            other => panic!("expected a template error, got {other:?}"),
        }
    }

    #[test]
    fn template_errors_carry_typst_diagnostics() {
        let message = template_error("#let d = json(\"/data.json\")\n#d.no_such_key");
        assert!(message.starts_with("/invoice.typ:2:"), "{message}");
        assert!(message.contains("no_such_key"), "{message}");

        let message = template_error("#let x = (");
        assert!(message.starts_with("/invoice.typ:1:"), "{message}");
    }

    #[test]
    fn templates_cannot_read_the_file_system() {
        for path in ["/etc/passwd", "/src/lib.rs", "/templates/invoice.typ"] {
            let message = template_error(&format!("#read(\"{path}\")"));
            assert!(message.contains("not found"), "{path}: {message}");
        }
        let message = template_error("#read(\"../Cargo.toml\")");
        assert!(message.contains("escape the project root"), "{message}");
        let message = template_error("#import \"@preview/cetz:0.3.0\": *");
        assert!(message.contains("denied"), "{message}");
    }

    #[test]
    fn hybrid_fails_when_the_template_does_not_attach_the_xml() {
        let renderer = Renderer::with_template("#json(\"/data.json\").number").unwrap();
        let xml = EmbeddedInvoiceXml {
            xml: b"<x/>",
            conformance: FacturXConformance::En16931,
        };
        match renderer.render_hybrid_pdf(VIEW, "t", xml) {
            Err(RenderError::Pdf(message)) => assert!(message.contains("/AF"), "{message}"),
            other => panic!("expected a PDF error, got {:?}", other.map(|p| p.len())),
        }
    }

    #[test]
    fn minimal_template_renders() {
        let renderer = Renderer::with_template("#json(\"/data.json\").number").unwrap();
        let pdf = renderer.render_pdf(VIEW, "t").unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
    }
}
