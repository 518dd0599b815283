//! The invoice model, named after the EN 16931 semantic model (business terms in comments).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{Amount, Currency, VatRate};
use crate::numbering::NumberPattern;
use crate::values::{CountryCode, EmailAddress, Id, InvoiceNumber, Language, VatId};

/// BG-5 / BG-8 postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostalAddress {
    pub line1: String,         // BT-35 / BT-50
    pub line2: Option<String>, // BT-36 / BT-51
    pub postal_code: String,   // BT-38 / BT-53
    pub city: String,          // BT-37 / BT-52
    pub country: CountryCode,  // BT-40 / BT-55
}

/// Bank account for SEPA credit transfer (BG-17).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankAccount {
    pub account_holder: String, // BT-85
    pub iban: String,           // BT-84
    pub bic: Option<String>,    // BT-86
    pub bank_name: Option<String>,
}

/// The seller (BG-4): the tenant issuing documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seller {
    pub legal_name: String,           // BT-27
    pub address: PostalAddress,       // BG-5
    pub vat_id: Option<VatId>,        // BT-31
    pub tax_number: Option<String>,   // BT-32
    pub email: EmailAddress,          // BT-43 (contact), also the mail sender
    pub phone: Option<String>,        // BT-42
    pub contact_name: Option<String>, // BT-41
    pub website: Option<String>,
    pub register: Option<String>, // BT-30 / legal registration
    pub managing_directors: Option<String>,
    pub bank: Option<BankAccount>, // BG-17
}

/// Whether booking prices include VAT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PriceBasis {
    Net,
    Gross,
}

/// Which document goes to the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EInvoiceFormat {
    /// A PDF only (no machine-readable invoice).
    Pdf,
    /// ZUGFeRD 2.x / Factur-X EN 16931: a PDF/A-3 whose embedded CII XML is the legal original.
    #[default]
    Zugferd,
    /// XRechnung 3.0 (CII XML) with a readable PDF beside it; public buyers require it.
    Xrechnung,
}

impl EInvoiceFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            EInvoiceFormat::Pdf => "pdf",
            EInvoiceFormat::Zugferd => "zugferd",
            EInvoiceFormat::Xrechnung => "xrechnung",
        }
    }

    /// Whether a machine-readable XML is issued (and is the legal original).
    pub fn has_xml(self) -> bool {
        self != EInvoiceFormat::Pdf
    }
}

/// How the tenant numbers documents of one series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberingSettings {
    pub pattern: NumberPattern,
    /// Start again at 1 every calendar year (the pattern should contain the year then).
    pub yearly_reset: bool,
}

/// How a booking is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Billing {
    /// The invoice is issued at once (the default).
    #[default]
    Invoice,
    /// A proforma first; the invoice (with the contract) once the payment is in.
    ProformaFirst,
    /// Its items are collected and billed later by a collective invoice.
    Collect,
}

impl Billing {
    pub fn as_str(self) -> &'static str {
        match self {
            Billing::Invoice => "invoice",
            Billing::ProformaFirst => "proforma_first",
            Billing::Collect => "collect",
        }
    }
}

/// The contract mailed with the final invoice of a proforma booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractSettings {
    pub enabled: bool,
    /// The tenant's own typst template; `None`: the default template (de and en). It reads the
    /// contract data from `/data.json` like the invoice template: customer text is data only.
    #[serde(default)]
    pub template: Option<String>,
    /// The tenant's terms, printed as numbered paragraphs.
    #[serde(default)]
    pub terms: Vec<String>,
}

impl Default for ContractSettings {
    fn default() -> Self {
        ContractSettings {
            enabled: true,
            template: None,
            terms: Vec::new(),
        }
    }
}

fn numbering(pattern: &str) -> NumberingSettings {
    NumberingSettings {
        pattern: pattern
            .parse()
            .unwrap_or_else(|_| NumberPattern::sequence_only()),
        yearly_reset: true,
    }
}

fn default_proforma_numbering() -> NumberingSettings {
    numbering("PRO-{yyyy}-{seq:5}")
}

fn default_credit_note_numbering() -> NumberingSettings {
    numbering("RK-{yyyy}-{seq:5}")
}

fn default_reminder_numbering() -> NumberingSettings {
    numbering("MA-{yyyy}-{seq:5}")
}

/// Tenant settings that change what a document says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSettings {
    /// §19 UStG: no VAT is charged, the document carries the exemption note.
    pub small_business: bool,
    pub default_vat_rate: VatRate,
    pub default_prices: PriceBasis,
    pub payment_terms_days: u16,
    pub language: Language,
    pub invoice_numbering: NumberingSettings,
    /// Proformas have their own series (they are not tax invoices).
    #[serde(default = "default_proforma_numbering")]
    pub proforma_numbering: NumberingSettings,
    /// Credit notes (Rechnungskorrektur / Stornorechnung) have their own gapless series.
    #[serde(default = "default_credit_note_numbering")]
    pub credit_note_numbering: NumberingSettings,
    /// Reminders and dunning letters have their own series (they are not tax invoices).
    #[serde(default = "default_reminder_numbering")]
    pub reminder_numbering: NumberingSettings,
    /// The document format customers get unless they ask for another.
    #[serde(default)]
    pub einvoice: EInvoiceFormat,
    /// How bookings are billed unless the booking says otherwise.
    #[serde(default)]
    pub billing: Billing,
    /// Apply a customer's credit to their next invoice as prepaid amount (BT-113).
    #[serde(default)]
    pub apply_credit: bool,
    #[serde(default)]
    pub contract: ContractSettings,
    /// The IANA zone whose local date every document carries (default Europe/Berlin).
    #[serde(default)]
    pub time_zone: crate::values::TimeZone,
    /// How unpaid invoices are chased (levels, fees, interest).
    #[serde(default)]
    pub dunning: crate::dunning::DunningSettings,
    /// The local hours in which mail goes out (`{from = "08:00", to = "18:00"}`); none: any
    /// time.
    #[serde(default)]
    pub send_window: Option<crate::sending::SendWindow>,
    /// How collected items are combined into collective invoices.
    #[serde(default)]
    pub collective: crate::collective::CollectiveSettings,
    /// Review before sending: invoices from bookings wait as drafts without a number until
    /// the next send time (the send window's opening, else 08:00), when they are issued and
    /// mailed; the owner may change or approve them first.
    #[serde(default)]
    pub review: bool,
    /// A payment provider's page for paying a document online: a URL template with
    /// `{number}`, `{amount}`, `{currency}`, `{tenant}`, `{reference}` (see
    /// [`crate::payment_codes::PaymentLink`]). Shown in the mail and on the PDF.
    #[serde(default)]
    pub payment_link: Option<crate::payment_codes::PaymentLink>,
}

impl TenantSettings {
    /// The numbering of a document kind.
    pub fn numbering(&self, kind: DocumentKind) -> &NumberingSettings {
        match kind {
            DocumentKind::Invoice => &self.invoice_numbering,
            DocumentKind::Proforma => &self.proforma_numbering,
            DocumentKind::CreditNote => &self.credit_note_numbering,
            DocumentKind::Reminder => &self.reminder_numbering,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: Id,
    pub seller: Seller,
    pub settings: TenantSettings,
}

impl Tenant {
    /// The tenant's local date at `now`: what a document issued then is dated.
    pub fn today(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
        self.settings.time_zone.date_of(now)
    }
}

/// A buyer (BG-7) as the platform told us last; the invoice keeps its own snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Our key for the customer within the tenant: `ext:<platform id>` or `email:<address>`.
    pub key: String,
    pub external_id: Option<Id>,
    pub name: String, // BT-44 (or contact when a company is given)
    pub company: Option<String>,
    pub email: EmailAddress, // BT-58 / BT-49
    pub language: Language,
    pub vat_id: Option<VatId>,  // BT-48
    pub address: PostalAddress, // BG-8
    /// The document format this customer wants, overriding the tenant's default.
    #[serde(default)]
    pub einvoice: Option<EInvoiceFormat>,
    /// Leitweg-ID of a German public buyer (goes to BT-10); implies XRechnung.
    #[serde(default)]
    pub leitweg_id: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl Customer {
    /// The number printed as "customer number": the platform's id where there is one.
    pub fn number(&self) -> Option<&str> {
        self.external_id.as_ref().map(Id::as_str)
    }
}

/// VAT category codes (UNTDID 5305 subset used by EN 16931), BT-151 / BT-118.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VatCategory {
    /// Standard rate.
    S,
    /// Zero rated goods.
    Z,
    /// Exempt from tax.
    E,
    /// VAT reverse charge.
    AE,
    /// Intra-community supply (VAT exempt for EEA).
    K,
    /// Free export item, tax not charged.
    G,
    /// Services outside scope of tax.
    O,
}

impl VatCategory {
    pub fn code(self) -> &'static str {
        match self {
            VatCategory::S => "S",
            VatCategory::Z => "Z",
            VatCategory::E => "E",
            VatCategory::AE => "AE",
            VatCategory::K => "K",
            VatCategory::G => "G",
            VatCategory::O => "O",
        }
    }

    pub fn parse(code: &str) -> Option<VatCategory> {
        Some(match code {
            "S" => VatCategory::S,
            "Z" => VatCategory::Z,
            "E" => VatCategory::E,
            "AE" => VatCategory::AE,
            "K" => VatCategory::K,
            "G" => VatCategory::G,
            "O" => VatCategory::O,
            _ => return None,
        })
    }

    /// Only the standard category carries a positive rate; all others are 0 % by EN 16931.
    pub fn allows_rate(self, rate: VatRate) -> bool {
        match self {
            VatCategory::S => !rate.is_zero(),
            _ => rate.is_zero(),
        }
    }
}

/// The service date (BT-72 / BT-134) or period (BG-14 / BG-26).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServicePeriod {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl ServicePeriod {
    pub fn day(date: NaiveDate) -> ServicePeriod {
        ServicePeriod {
            start: date,
            end: date,
        }
    }

    pub fn is_single_day(&self) -> bool {
        self.start == self.end
    }
}

/// BG-25 invoice line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub position: u32,       // BT-126
    pub description: String, // BT-153 item name
    #[serde(with = "crate::money::decimal_string")]
    pub quantity: Decimal, // BT-129
    pub unit_code: String,   // BT-130 (UN/ECE Rec 20)
    /// Net price per unit (BT-146); up to four decimals when derived from a gross price.
    #[serde(with = "crate::money::decimal_string")]
    pub unit_price_net: Decimal,
    /// The gross unit price the customer was quoted, where prices came in gross.
    #[serde(default, with = "optional_decimal_string")]
    pub unit_price_gross: Option<Decimal>,
    pub net_amount: Amount,        // BT-131
    pub vat_category: VatCategory, // BT-151
    pub vat_rate: VatRate,         // BT-152
    pub service: ServicePeriod,    // BT-134/135
}

mod optional_decimal_string {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::str::FromStr;

    pub fn serialize<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.collect_str(&v.normalize()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| Decimal::from_str(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// BG-23 VAT breakdown entry: one per category and rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VatBreakdown {
    pub category: VatCategory, // BT-118
    pub rate: VatRate,         // BT-119
    pub taxable: Amount,       // BT-116
    pub vat: Amount,           // BT-117
    /// BT-120 exemption reason text, for categories other than S.
    pub exemption_reason: Option<String>,
    /// BT-121 exemption reason code (VATEX), for categories other than S.
    pub exemption_code: Option<String>,
}

/// BG-22 document totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub line_net: Amount,      // BT-106
    pub tax_exclusive: Amount, // BT-109
    pub vat: Amount,           // BT-110
    pub tax_inclusive: Amount, // BT-112
    pub prepaid: Amount,       // BT-113
    pub rounding: Amount,      // BT-114
    pub amount_due: Amount,    // BT-115
}

/// The kinds of documents; a kind decides the number series, the title and whether the
/// document is a tax invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// Commercial invoice, UNTDID 1001 code 380.
    #[default]
    Invoice,
    /// A proforma invoice (UNTDID 325): a request for payment, not a tax invoice; no e-invoice.
    Proforma,
    /// Credit note, UNTDID 381: corrects (part of) an invoice it references (BG-3).
    CreditNote,
    /// A payment reminder or dunning letter for an overdue invoice (BG-3 names it): a letter,
    /// not a tax invoice; its lines are fees and default interest (outside the scope of VAT).
    Reminder,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 4] = [
        DocumentKind::Invoice,
        DocumentKind::Proforma,
        DocumentKind::CreditNote,
        DocumentKind::Reminder,
    ];

    pub fn type_code(self) -> &'static str {
        match self {
            DocumentKind::Invoice => "380",
            DocumentKind::Proforma => "325",
            DocumentKind::CreditNote => "381",
            // A letter: never written as an e-invoice, so it has no type code.
            DocumentKind::Reminder => "",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Invoice => "invoice",
            DocumentKind::Proforma => "proforma",
            DocumentKind::CreditNote => "credit_note",
            DocumentKind::Reminder => "reminder",
        }
    }

    pub fn parse(s: &str) -> Option<DocumentKind> {
        DocumentKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The numbering series this kind draws from.
    pub fn series(self) -> &'static str {
        self.as_str()
    }

    /// Whether the document is a tax invoice (with an e-invoice where the format asks).
    pub fn is_tax_document(self) -> bool {
        matches!(self, DocumentKind::Invoice | DocumentKind::CreditNote)
    }
}

/// Where a document came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DocumentSource {
    /// A booking platform's webhook (every document of release 1 came from one).
    #[default]
    Booking,
    /// A call of the API.
    Api,
    /// An occurrence of a schedule (recurring invoice or instalment).
    Schedule,
    /// A dunning run (reminder letters).
    Dunning,
    /// Collected items of a customer (a collective invoice).
    Collective,
}

/// BG-3: the document a credit note corrects (also kept on a final invoice for its proforma).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrecedingDocument {
    pub id: Id,
    pub kind: DocumentKind,
    pub number: InvoiceNumber, // BT-25
    pub issue_date: NaiveDate, // BT-26
}

/// Why VAT is not charged (the legal note printed on the document).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VatTreatment {
    Standard,
    SmallBusiness,
    ReverseCharge,
}

/// A snapshot of the buyer (BG-7) as printed on the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buyer {
    pub customer_key: String,
    pub customer_number: Option<String>,
    pub name: String,
    pub company: Option<String>,
    pub email: EmailAddress,
    pub vat_id: Option<VatId>,
    pub address: PostalAddress,
}

impl Buyer {
    /// A business (a company or a VAT id): 9 points of default interest and the €40 flat fee.
    pub fn is_business(&self) -> bool {
        self.company.is_some() || self.vat_id.is_some()
    }

    /// BT-44: the legal name is the company where there is one.
    pub fn legal_name(&self) -> &str {
        self.company.as_deref().unwrap_or(&self.name)
    }
}

/// The content of a document (EN 16931's "invoice", which covers credit notes too). Immutable
/// once issued: corrections are new documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub id: Id,
    pub tenant_id: Id,
    /// The booking it belongs to, where a booking is its source.
    #[serde(default)]
    pub booking_id: Option<Id>,
    #[serde(default)]
    pub source: DocumentSource,
    #[serde(default)]
    pub kind: DocumentKind,
    /// BG-3 for a credit note; the proforma for a final invoice.
    #[serde(default)]
    pub preceding: Option<PrecedingDocument>,
    /// For a credit note: whether it cancels the whole invoice (a "Stornorechnung") or
    /// corrects a part ("Rechnungskorrektur").
    #[serde(default)]
    pub cancels_fully: bool,
    pub number: InvoiceNumber, // BT-1
    pub issue_date: NaiveDate, // BT-2
    pub due_date: NaiveDate,   // BT-9
    pub currency: Currency,    // BT-5
    pub language: Language,
    /// BT-10: the Leitweg-ID for public buyers, else the booking's reference.
    pub buyer_reference: Option<String>,
    /// BT-13 purchase order reference, where BT-10 holds a Leitweg-ID.
    #[serde(default)]
    pub order_reference: Option<String>,
    /// The document format issued for this invoice (decided once, at issue).
    #[serde(default)]
    pub einvoice: EInvoiceFormat,
    pub seller: Seller,
    pub buyer: Buyer,
    pub lines: Vec<InvoiceLine>,
    pub vat_breakdown: Vec<VatBreakdown>,
    pub totals: Totals,
    pub vat_treatment: VatTreatment,
    pub price_basis: PriceBasis,
    /// BT-22 notes: legal notes first, then the booking's note.
    pub notes: Vec<String>,
    pub payment_terms: String, // BT-20
    pub issued_at: DateTime<Utc>,
    /// What a reminder letter says beyond its lines: the open items, charges and total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminder: Option<crate::dunning::ReminderFacts>,
    /// The tenant's payment link filled in for this document, made when it is numbered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_link: Option<String>,
}

impl Invoice {
    /// The overall service period covered by the lines (BG-14).
    pub fn service_period(&self) -> Option<ServicePeriod> {
        let start = self.lines.iter().map(|l| l.service.start).min()?;
        let end = self.lines.iter().map(|l| l.service.end).max()?;
        Some(ServicePeriod { start, end })
    }
}
