//! The renderer behind the domain's [`PdfRenderer`] port (used by the local runner and the
//! issue worker; kept here so neither hand-writes the adapter).

use faktura_domain::ports::PdfRenderer;
use faktura_domain::view::{ContractView, DocumentView};

use crate::{EmbeddedInvoiceXml, FacturXConformance, Renderer};

/// The typst renderer as a [`PdfRenderer`]. Build it once per process: loading fonts and
/// templates is the expensive part.
pub struct TypstRenderer(pub Renderer);

impl PdfRenderer for TypstRenderer {
    fn render_pdf(&self, view: &DocumentView, ident: &str) -> Result<Vec<u8>, String> {
        self.0
            .render_pdf(&view.to_json(), ident)
            .map_err(|e| e.to_string())
    }

    fn render_hybrid_pdf(
        &self,
        view: &DocumentView,
        ident: &str,
        xml: &[u8],
    ) -> Result<Vec<u8>, String> {
        let embedded = EmbeddedInvoiceXml {
            xml,
            conformance: FacturXConformance::En16931,
        };
        self.0
            .render_hybrid_pdf(&view.to_json(), ident, embedded)
            .map_err(|e| e.to_string())
    }

    fn render_contract(
        &self,
        view: &ContractView,
        template: Option<&str>,
        ident: &str,
    ) -> Result<Vec<u8>, String> {
        self.0
            .render_contract(&view.to_json(), template, ident)
            .map_err(|e| e.to_string())
    }
}
