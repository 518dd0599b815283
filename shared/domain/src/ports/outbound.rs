use async_trait::async_trait;

use crate::error::StoreError;
use crate::events::DomainEvent;
use crate::model::Invoice;
use crate::values::EmailAddress;
use crate::view::{ContractView, DocumentView};

/// A complete MIME message ready to hand to a mail service.
#[derive(Debug, Clone)]
pub struct OutgoingMail {
    /// Stable per message (document id and send number): adapters use it for file names.
    pub key: String,
    pub from: EmailAddress,
    pub to: Vec<EmailAddress>,
    pub raw: Vec<u8>,
}

#[async_trait]
pub trait MailSender: Send + Sync {
    /// Sends and returns the provider's message id. `StoreError::Refused`: certainly not sent.
    async fn send(&self, mail: &OutgoingMail) -> Result<String, StoreError>;
}

#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, event: &DomainEvent) -> Result<(), StoreError>;
}

/// Turns document views into PDFs. Synchronous and CPU-bound: callers run it off the async
/// executor.
pub trait PdfRenderer: Send + Sync {
    fn render_pdf(&self, view: &DocumentView, ident: &str) -> Result<Vec<u8>, String>;
    /// A ZUGFeRD / Factur-X hybrid: a PDF/A-3 that embeds `xml` as `factur-x.xml`.
    fn render_hybrid_pdf(
        &self,
        view: &DocumentView,
        ident: &str,
        xml: &[u8],
    ) -> Result<Vec<u8>, String>;
    /// The contract of a booking, from the tenant's typst template (`None`: the default one).
    /// The template reads the view as data; customer text never becomes markup.
    fn render_contract(
        &self,
        view: &ContractView,
        template: Option<&str>,
        ident: &str,
    ) -> Result<Vec<u8>, String>;
}

/// XML syntaxes of EN 16931 e-invoices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlSyntax {
    /// UN/CEFACT Cross Industry Invoice (ZUGFeRD / Factur-X, XRechnung CII).
    Cii,
    /// OASIS UBL 2.1 (XRechnung UBL).
    Ubl,
}

/// A reason a document cannot become the e-invoice its buyer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EInvoiceProblem {
    /// The business rule, e.g. `BR-DE-15`.
    pub rule: String,
    pub message: String,
    /// The invoice model field to blame, e.g. `buyer_reference`, `seller.phone`.
    pub field: Option<String>,
}

/// Writes EN 16931 XML for documents and tells what would make it invalid.
pub trait EInvoiceEncoder: Send + Sync {
    /// Rules the document breaks for the format it is issued in (`invoice.einvoice`); empty
    /// when it can be issued.
    fn problems(&self, invoice: &Invoice) -> Vec<EInvoiceProblem>;
    /// The document as XML in `syntax`, in the profile its format calls for (credit notes as
    /// 381 with BG-3).
    fn xml(&self, invoice: &Invoice, syntax: XmlSyntax) -> Vec<u8>;
}
