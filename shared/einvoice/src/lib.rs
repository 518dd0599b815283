//! E-invoices from Faktura's [`Invoice`]: the EN 16931 semantic model written as
//!
//! - UN/CEFACT Cross Industry Invoice (CII, D16B) for Factur-X / ZUGFeRD profile EN16931 and
//!   for XRechnung 3.0 CII: [`to_cii`];
//! - OASIS UBL 2.1 Invoice (CreditNote for type code 381), XRechnung 3.0 for XRechnung
//!   invoices and plain EN 16931 for the others: [`to_ubl`];
//!
//! plus the XRechnung-specific business rules BR-DE-* that can be decided from the invoice:
//! [`xrechnung_problems`]. The mapping of every business term is documented in
//! `docs/EINVOICE.md`.
//!
//! Output is deterministic (same invoice, same bytes), UTF-8, indented, and all text goes
//! through quick-xml's escaping ([`xml::escape`]). Amounts carry two decimals, unit prices two
//! to four.

mod cii;
mod common;
mod encoder;
pub mod inspect;
mod ubl;
pub mod xml;
mod xrechnung;

use chrono::NaiveDate;
use faktura_domain::model::Invoice;

pub use encoder::EInvoiceXml;
pub use xrechnung::{Problem, Severity, xrechnung_problems, xrechnung_problems_with};

/// BT-24 of Factur-X / ZUGFeRD profile EN16931 (the EN 16931 core, no CIUS).
pub const FACTURX_EN16931_ID: &str = "urn:cen.eu:en16931:2017";
/// BT-24 of XRechnung 3.0 (a CIUS of EN 16931).
pub const XRECHNUNG_3_ID: &str =
    "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0";
/// BT-23 business process: Peppol BIS Billing 3.0, the process XRechnung 3.0 uses.
pub const PEPPOL_BILLING_PROCESS: &str = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0";

/// Which specification a CII document claims to follow (BT-24).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CiiProfile {
    /// Factur-X 1.0 / ZUGFeRD 2.x profile EN16931 ("Comfort"): the XML of a hybrid PDF.
    FacturXEn16931,
    /// XRechnung 3.0, CII syntax (also carries BT-23 = Peppol billing process).
    XRechnung3,
}

impl CiiProfile {
    /// The specification identifier BT-24.
    pub fn guideline_id(self) -> &'static str {
        match self {
            CiiProfile::FacturXEn16931 => FACTURX_EN16931_ID,
            CiiProfile::XRechnung3 => XRECHNUNG_3_ID,
        }
    }

    /// The business process BT-23, where the profile uses one.
    pub fn business_process(self) -> Option<&'static str> {
        match self {
            CiiProfile::FacturXEn16931 => None,
            CiiProfile::XRechnung3 => Some(PEPPOL_BILLING_PROCESS),
        }
    }
}

/// Which specification a UBL document claims to follow (BT-24), chosen by the format the
/// invoice was issued in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UblProfile {
    /// The EN 16931 core (no CIUS): what a ZUGFeRD or PDF-only invoice meets.
    En16931,
    /// XRechnung 3.0 in the Peppol billing process.
    XRechnung3,
}

impl UblProfile {
    pub fn of(invoice: &Invoice) -> UblProfile {
        if invoice.einvoice == faktura_domain::model::EInvoiceFormat::Xrechnung {
            UblProfile::XRechnung3
        } else {
            UblProfile::En16931
        }
    }

    pub fn customization_id(self) -> &'static str {
        match self {
            UblProfile::En16931 => FACTURX_EN16931_ID,
            UblProfile::XRechnung3 => XRECHNUNG_3_ID,
        }
    }

    pub fn business_process(self) -> Option<&'static str> {
        match self {
            UblProfile::En16931 => None,
            UblProfile::XRechnung3 => Some(PEPPOL_BILLING_PROCESS),
        }
    }
}

/// BT-3 invoice type code (UNTDID 1001) of the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeCode {
    /// 380 commercial invoice.
    Invoice,
    /// 381 credit note. UBL writes a `CreditNote` document.
    CreditNote,
    /// 384 corrected invoice.
    Corrected,
}

impl TypeCode {
    pub fn code(self) -> &'static str {
        match self {
            TypeCode::Invoice => "380",
            TypeCode::CreditNote => "381",
            TypeCode::Corrected => "384",
        }
    }
}

/// BG-3 preceding invoice reference: the document a credit note or correction refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrecedingInvoice {
    /// BT-25 preceding invoice number.
    pub number: String,
    /// BT-26 preceding invoice issue date.
    pub issue_date: NaiveDate,
}

/// Overrides of what the [`Invoice`] model says: the type code and the preceding invoice. The
/// model's own credit notes need none (`DocumentKind::CreditNote` writes 381 and BG-3 from
/// `Invoice::preceding`); corrected invoices (384), which the domain does not issue, need both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// BT-3; `None` takes the invoice's kind (380 for `DocumentKind::Invoice`).
    pub type_code: Option<TypeCode>,
    /// BG-3, written when given (credit notes 381 and corrections 384 should have it); `None`
    /// takes a credit note's `Invoice::preceding`. An invoice's preceding document (the
    /// proforma a final invoice follows) is no invoice and never becomes BG-3.
    pub preceding: Option<PrecedingInvoice>,
}

/// CII XML (CrossIndustryInvoice D16B) of an issued invoice.
pub fn to_cii(invoice: &Invoice, profile: CiiProfile) -> String {
    cii::write(invoice, profile, &Options::default())
}

/// [`to_cii`] with a type code and preceding invoice reference (credit notes, corrections).
pub fn to_cii_with(invoice: &Invoice, profile: CiiProfile, options: &Options) -> String {
    cii::write(invoice, profile, options)
}

/// UBL 2.1 Invoice XML of an issued invoice: XRechnung 3.0 (BT-24) in the Peppol billing
/// process (BT-23) for invoices issued as XRechnung, plain EN 16931 for the others
/// ([`UblProfile::of`]).
pub fn to_ubl(invoice: &Invoice) -> String {
    ubl::write(invoice, &Options::default())
}

/// [`to_ubl`] with a type code and preceding invoice reference; type code 381 writes a UBL
/// `CreditNote`.
pub fn to_ubl_with(invoice: &Invoice, options: &Options) -> String {
    ubl::write(invoice, options)
}
