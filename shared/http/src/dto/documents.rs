//! Documents (invoices, proformas, credit notes) as the API shows them, and the write
//! requests on them. Amounts are decimal strings with two decimals.

use faktura_domain::audit::{AuditEntry, Cause};
use faktura_domain::document::{Delivery, Document, RelationKind};
use faktura_domain::model::Invoice;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AddressDto;
use super::booking::{ExactDecimal, WireCustomer, WireItem};

#[derive(Serialize, ToSchema)]
pub struct SellerDto {
    pub name: String,
    pub vat_id: Option<String>,
    pub tax_number: Option<String>,
    pub address: AddressDto,
}

#[derive(Serialize, ToSchema)]
pub struct BuyerDto {
    /// The customer's id in the API (`ext:<platform id>` or `email:<address>`).
    pub id: String,
    pub number: Option<String>,
    pub name: String,
    pub company: Option<String>,
    pub email: String,
    pub vat_id: Option<String>,
    pub address: AddressDto,
}

#[derive(Serialize, ToSchema)]
pub struct LineDto {
    pub position: u32,
    pub description: String,
    pub quantity: String,
    pub unit: String,
    pub unit_price_net: String,
    pub unit_price_gross: Option<String>,
    pub net_amount: String,
    #[schema(schema_with = super::values::vat_category)]
    pub vat_category: String,
    pub vat_rate: String,
    #[schema(format = Date)]
    pub service_start: String,
    #[schema(format = Date)]
    pub service_end: String,
}

#[derive(Serialize, ToSchema)]
pub struct VatDto {
    #[schema(schema_with = super::values::vat_category)]
    pub category: String,
    pub rate: String,
    pub taxable: String,
    pub vat: String,
    pub exemption_reason: Option<String>,
    pub exemption_code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TotalsDto {
    pub net: String,
    pub vat: String,
    pub gross: String,
    /// BT-113: paid in advance (payments on a proforma, applied customer credit).
    pub prepaid: String,
    pub rounding: String,
    pub amount_due: String,
    pub vat_breakdown: Vec<VatDto>,
}

/// The delivery facet.
#[derive(Serialize, ToSchema)]
pub struct DeliveryDto {
    /// `pending`, `sent` or `failed`.
    #[schema(schema_with = super::values::delivery_state)]
    pub state: String,
    #[schema(format = DateTime)]
    pub sent_at: Option<String>,
    pub to: Vec<String>,
    /// How many mails went out (a resend adds one).
    pub sends: u32,
    /// For `failed`: why.
    pub error: Option<String>,
}

/// The payment facet, from the document's ledger entries.
#[derive(Serialize, ToSchema)]
pub struct PaymentStateDto {
    /// `open`, `partially_paid`, `paid`, `overpaid` or `nothing_due`.
    #[schema(schema_with = super::values::payment_state)]
    pub state: String,
    /// Still owed; negative: the customer's credit on this document.
    pub open: String,
    pub charged: String,
    pub paid: String,
    pub refunded: String,
    pub credited: String,
    pub credit_applied: String,
    pub credit_used: String,
    pub overdue: bool,
}

#[derive(Serialize, ToSchema)]
pub struct RelationDto {
    /// `credited_by`, `corrects`, `final_invoice`, `follows_proforma`, `replaced_by`, `replaces`.
    #[schema(schema_with = super::values::relation_kind)]
    pub kind: String,
    pub document_id: String,
    pub number: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PrecedingDto {
    pub id: String,
    #[schema(schema_with = super::values::document_kind)]
    pub kind: String,
    pub number: String,
    #[schema(format = Date)]
    pub issue_date: String,
}

/// The dunning facet of an invoice; for a reminder, its level.
#[derive(Serialize, ToSchema)]
pub struct DunningDto {
    /// `none`, `active`, `paused` or `exhausted` (every level sent, the owner told).
    #[schema(schema_with = super::values::dunning_state)]
    pub state: String,
    /// The highest level sent (0: none); for a reminder, its own level.
    pub level: u8,
    /// The first day of default (§286 BGB), once a reminder went out.
    #[schema(format = Date)]
    pub default_since: Option<String>,
    pub reminders: Vec<SentReminderDto>,
}

#[derive(Serialize, ToSchema)]
pub struct SentReminderDto {
    pub level: u8,
    pub document_id: String,
    pub number: String,
    #[schema(format = Date)]
    pub date: String,
    /// The deadline the letter set.
    #[schema(format = Date)]
    pub deadline: String,
}

impl DunningDto {
    fn new(doc: &Document) -> DunningDto {
        let d = &doc.dunning;
        DunningDto {
            state: d.state().as_str().to_string(),
            level: doc.content.reminder.as_ref().map_or(d.level, |r| r.level),
            default_since: d.default_since.map(|x| x.to_string()),
            reminders: d
                .reminders
                .iter()
                .map(|r| SentReminderDto {
                    level: r.level,
                    document_id: r.document_id.as_str().to_string(),
                    number: r.number.clone(),
                    date: r.date.to_string(),
                    deadline: r.deadline.to_string(),
                })
                .collect(),
        }
    }
}

/// One document with its facets.
#[derive(Serialize, ToSchema)]
pub struct DocumentDto {
    pub id: String,
    /// `invoice`, `proforma` or `credit_note`.
    #[schema(schema_with = super::values::document_kind)]
    pub kind: String,
    /// UNTDID 1001: 380 invoice, 325 proforma, 381 credit note.
    #[schema(schema_with = super::values::type_code)]
    pub type_code: Option<String>,
    /// `null` for drafts.
    pub number: Option<String>,
    /// `draft`, `issued`, `partially_credited`, `cancelled`, `voided`, `converted`.
    #[schema(schema_with = super::values::lifecycle)]
    pub lifecycle: String,
    /// Release 1's field: `draft`, `issued` (not sent yet) or `sent`.
    #[schema(schema_with = super::values::release1_status)]
    pub status: String,
    pub delivery: DeliveryDto,
    pub payment: PaymentStateDto,
    /// `booking` or `api`.
    #[schema(schema_with = super::values::source)]
    pub source: String,
    pub booking_id: Option<String>,
    /// BG-3 of a credit note; the proforma of a final invoice.
    pub preceding: Option<PrecedingDto>,
    pub related: Vec<RelationDto>,
    #[schema(format = Date)]
    pub issue_date: Option<String>,
    #[schema(format = Date)]
    pub due_date: String,
    pub currency: String,
    #[schema(schema_with = super::values::language)]
    pub language: String,
    pub buyer_reference: Option<String>,
    pub order_reference: Option<String>,
    /// `pdf`, `zugferd` or `xrechnung`.
    #[schema(schema_with = super::values::einvoice)]
    pub einvoice: String,
    #[schema(schema_with = super::values::vat_treatment)]
    pub vat_treatment: String,
    #[schema(schema_with = super::values::price_basis)]
    pub price_basis: String,
    pub seller: SellerDto,
    pub customer: BuyerDto,
    pub lines: Vec<LineDto>,
    pub totals: TotalsDto,
    pub notes: Vec<String>,
    pub payment_terms: String,
    /// How to pay it, as printed on it (null when nothing is to be paid: a credit note, nothing
    /// due, or paid in full): the reference the transfer must carry, the payment link and
    /// the EPC QR code's text.
    pub pay: Option<PayDto>,
    #[schema(format = DateTime)]
    pub issued_at: Option<String>,
    #[schema(format = DateTime)]
    pub sent_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub version: u64,
    /// An invoice's dunning (the reminders sent); a reminder's level.
    pub dunning: DunningDto,
    /// A collective invoice's items and send date (null for other documents).
    pub collective: Option<super::collective::CollectiveDto>,
    /// Held for the owner's review (a draft from a booking): the day it is issued and mailed
    /// at the send time unless changed or approved first.
    pub review: Option<ReviewDto>,
    pub pdf: String,
    pub xml: Option<String>,
    pub contract: Option<String>,
    pub events: String,
}

#[derive(Serialize, ToSchema)]
pub struct PayDto {
    /// What is asked for: the amount due (a reminder: its invoice's open amount).
    #[schema(value_type = String, example = "119.00")]
    pub amount: String,
    /// The invoice the payment goes to (a reminder's payment goes to its invoice).
    pub number: String,
    /// The RF creditor reference (ISO 11649, BT-83) in its electronic form, or the number
    /// where it is too long for one.
    #[schema(example = "RF63RE202600003")]
    pub reference: String,
    /// The tenant's payment link for this document.
    pub link: Option<String>,
    /// The text of the EPC QR code (GiroCode) on the PDF, when it has one.
    pub epc_qr: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReviewDto {
    #[schema(format = Date)]
    pub send_on: String,
}

fn lower<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl DocumentDto {
    pub fn new(doc: &Document, today: chrono::NaiveDate) -> DocumentDto {
        let inv: &Invoice = &doc.content;
        // A discarded draft (voided, never numbered) was never issued.
        let issued = doc.lifecycle.is_issued() && inv.number.is_assigned();
        let t = &inv.totals;
        let s = &doc.settlement;
        let (sent_at, to, sends, error) = match &doc.delivery {
            Delivery::Sent { at, to, sends, .. } => (
                Some(at.to_rfc3339()),
                to.iter().map(|a| a.as_str().to_string()).collect(),
                *sends,
                None,
            ),
            Delivery::Failed { code, .. } => (None, Vec::new(), 0, Some(code.clone())),
            Delivery::Pending => (None, Vec::new(), 0, None),
        };
        let id = inv.id.as_str();
        DocumentDto {
            id: id.to_string(),
            kind: inv.kind.as_str().to_string(),
            type_code: Some(inv.kind.type_code().to_string()).filter(|c| !c.is_empty()),
            number: issued.then(|| inv.number.as_str().to_string()),
            lifecycle: doc.lifecycle.as_str().to_string(),
            status: if !issued {
                "draft".into()
            } else if doc.delivery.is_sent() {
                "sent".into()
            } else {
                "issued".into()
            },
            delivery: DeliveryDto {
                state: doc.delivery.as_str().to_string(),
                sent_at: sent_at.clone(),
                to,
                sends,
                error,
            },
            payment: PaymentStateDto {
                state: doc.payment_state().as_str().to_string(),
                open: s.open().to_string(),
                charged: s.charged.to_string(),
                paid: s.paid.to_string(),
                refunded: s.refunded.to_string(),
                credited: s.credited.to_string(),
                credit_applied: s.credit_applied.to_string(),
                credit_used: s.credit_used.to_string(),
                overdue: doc.is_overdue(today),
            },
            source: lower(&inv.source),
            booking_id: inv.booking_id.as_ref().map(|b| b.as_str().to_string()),
            preceding: inv.preceding.as_ref().map(|p| PrecedingDto {
                id: p.id.as_str().to_string(),
                kind: p.kind.as_str().to_string(),
                number: p.number.as_str().to_string(),
                issue_date: p.issue_date.to_string(),
            }),
            related: doc
                .related
                .iter()
                .map(|r| RelationDto {
                    kind: lower(&r.kind),
                    document_id: r.document_id.as_str().to_string(),
                    number: r.number.clone(),
                })
                .collect(),
            issue_date: issued.then(|| inv.issue_date.to_string()),
            due_date: inv.due_date.to_string(),
            currency: inv.currency.as_str().to_string(),
            language: inv.language.as_str().to_string(),
            buyer_reference: inv.buyer_reference.clone(),
            order_reference: inv.order_reference.clone(),
            einvoice: inv.einvoice.as_str().to_string(),
            vat_treatment: lower(&inv.vat_treatment),
            price_basis: lower(&inv.price_basis),
            seller: SellerDto {
                name: inv.seller.legal_name.clone(),
                vat_id: inv.seller.vat_id.as_ref().map(|v| v.as_str().to_string()),
                tax_number: inv.seller.tax_number.clone(),
                address: (&inv.seller.address).into(),
            },
            customer: BuyerDto {
                id: inv.buyer.customer_key.clone(),
                number: inv.buyer.customer_number.clone(),
                name: inv.buyer.name.clone(),
                company: inv.buyer.company.clone(),
                email: inv.buyer.email.as_str().to_string(),
                vat_id: inv.buyer.vat_id.as_ref().map(|v| v.as_str().to_string()),
                address: (&inv.buyer.address).into(),
            },
            lines: inv
                .lines
                .iter()
                .map(|l| LineDto {
                    position: l.position,
                    description: l.description.clone(),
                    quantity: l.quantity.normalize().to_string(),
                    unit: l.unit_code.clone(),
                    unit_price_net: l.unit_price_net.normalize().to_string(),
                    unit_price_gross: l.unit_price_gross.map(|p| p.normalize().to_string()),
                    net_amount: l.net_amount.to_string(),
                    vat_category: l.vat_category.code().to_string(),
                    vat_rate: l.vat_rate.to_string(),
                    service_start: l.service.start.to_string(),
                    service_end: l.service.end.to_string(),
                })
                .collect(),
            totals: TotalsDto {
                net: t.tax_exclusive.to_string(),
                vat: t.vat.to_string(),
                gross: t.tax_inclusive.to_string(),
                prepaid: t.prepaid.to_string(),
                rounding: t.rounding.to_string(),
                amount_due: t.amount_due.to_string(),
                vat_breakdown: inv
                    .vat_breakdown
                    .iter()
                    .map(|b| VatDto {
                        category: b.category.code().to_string(),
                        rate: b.rate.to_string(),
                        taxable: b.taxable.to_string(),
                        vat: b.vat.to_string(),
                        exemption_reason: b.exemption_reason.clone(),
                        exemption_code: b.exemption_code.clone(),
                    })
                    .collect(),
            },
            notes: inv.notes.clone(),
            payment_terms: inv.payment_terms.clone(),
            // As printed on the document, while something is still to be paid on it (a
            // reminder's payment goes to its invoice, which says what is open).
            pay: faktura_domain::payment_codes::PaymentRequest::of(inv)
                .filter(|_| {
                    doc.kind() == faktura_domain::model::DocumentKind::Reminder
                        || !(doc.settlement.open().is_zero() || doc.settlement.open().is_negative())
                })
                .map(|request| PayDto {
                    amount: request.amount.to_string(),
                    number: request.number.as_str().to_string(),
                    reference: request.remittance.electronic().to_string(),
                    link: inv.payment_link.clone(),
                    epc_qr: inv.seller.bank.as_ref().and_then(|bank| {
                        faktura_domain::payment_codes::epc_qr_payload(bank, &request)
                    }),
                }),
            issued_at: issued.then(|| inv.issued_at.to_rfc3339()),
            sent_at,
            created_at: doc.created_at.to_rfc3339(),
            updated_at: doc.updated_at.to_rfc3339(),
            version: doc.version,
            dunning: DunningDto::new(doc),
            collective: doc.collective.as_ref().map(|c| {
                super::collective::CollectiveDto::new(
                    c,
                    doc.lifecycle == faktura_domain::document::Lifecycle::Draft,
                    today,
                )
            }),
            review: doc
                .review
                .filter(|_| doc.lifecycle == faktura_domain::document::Lifecycle::Draft)
                .map(|r| ReviewDto {
                    send_on: r.send_on.to_string(),
                }),
            pdf: format!("/v1/invoices/{id}/pdf"),
            xml: (issued && inv.kind.is_tax_document()).then(|| format!("/v1/invoices/{id}/xml")),
            contract: doc
                .related
                .iter()
                .any(|r| r.kind == RelationKind::FollowsProforma)
                .then(|| format!("/v1/invoices/{id}/contract")),
            events: format!("/v1/invoices/{id}/events"),
        }
    }
}

/// A page of documents (`GET /v1/invoices`: every kind unless `kind` says).
#[derive(Serialize, ToSchema)]
pub struct DocumentListDto {
    pub invoices: Vec<DocumentDto>,
    pub next_cursor: Option<String>,
}

/// A page of credit notes (`GET /v1/credit-notes`).
#[derive(Serialize, ToSchema)]
pub struct CreditNoteListDto {
    pub credit_notes: Vec<DocumentDto>,
    pub next_cursor: Option<String>,
}

/// One entry of a document's audit trail.
#[derive(Serialize, ToSchema)]
pub struct AuditEntryDto {
    pub id: String,
    #[schema(format = DateTime)]
    pub at: String,
    /// The document's version after the change.
    pub version: u64,
    /// What happened: `document.issued`, `payment.recorded`, ...
    pub event: String,
    /// The event's details.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// What caused it: `webhook` (with `delivery_id`), `api_key` (with `key_id`), `job`
    /// (with `job_id`) or `migration`.
    #[schema(value_type = Object)]
    pub cause: serde_json::Value,
}

impl From<&AuditEntry> for AuditEntryDto {
    fn from(a: &AuditEntry) -> Self {
        let mut data = serde_json::to_value(&a.event).unwrap_or_default();
        if let Some(map) = data.as_object_mut() {
            map.remove("type");
        }
        AuditEntryDto {
            id: a.id.as_str().to_string(),
            at: a.at.to_rfc3339(),
            version: a.version,
            event: a.event.name().to_string(),
            data,
            cause: cause_json(&a.cause),
        }
    }
}

pub fn cause_json(c: &Cause) -> serde_json::Value {
    serde_json::to_value(c).unwrap_or_default()
}

#[derive(Serialize, ToSchema)]
pub struct AuditListDto {
    pub events: Vec<AuditEntryDto>,
}

/// `POST /v1/invoices` and `PATCH /v1/invoices/{id}` (a draft's new content).
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({
    "currency": "EUR",
    "customer": {
        "id": "c-1001", "name": "Erika Mustermann", "email": "erika@example.org",
        "address": { "line1": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin", "country": "DE" }
    },
    "items": [{ "description": "Room, 2 nights", "quantity": "2", "unit_price": "119.00" }]
}))]
pub struct DocumentRequest {
    /// `invoice` (default) or `proforma`.
    #[serde(default)]
    #[schema(schema_with = super::values::new_kind_or_null)]
    pub kind: Option<String>,
    /// A draft without number that may still change; `POST …/issue` issues it.
    #[serde(default)]
    pub draft: Option<bool>,
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    /// `net` or `gross` (default: the tenant's).
    #[serde(default)]
    #[schema(schema_with = super::values::price_basis_or_null)]
    pub prices: Option<String>,
    pub customer: WireCustomer,
    pub items: Vec<WireItem>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /v1/invoices/{id}/cancel`.
#[derive(Deserialize, ToSchema, Default)]
#[schema(example = json!({ "reason": "booking cancelled" }))]
pub struct CancelRequest {
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct CreditLineRequest {
    /// The invoice line (BT-126).
    #[serde(deserialize_with = "super::booking::whole_number")]
    pub position: u32,
    pub quantity: ExactDecimal,
}

/// `POST /v1/invoices/{id}/credit-notes`: take back these lines.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({ "items": [{ "position": 1, "quantity": "1" }], "reason": "one night less" }))]
pub struct CreditNoteRequest {
    pub items: Vec<CreditLineRequest>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /v1/invoices/{id}/payments`.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({ "amount": "50.00", "currency": "EUR", "method": "card", "reference": "pay_123" }))]
pub struct PaymentRequest {
    pub amount: ExactDecimal,
    /// Must be the document's currency.
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    /// RFC 3339; default: now.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub paid_at: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    /// The payment's reference: the same reference on this document is the same payment.
    #[serde(default)]
    pub reference: Option<String>,
}

/// `POST /v1/invoices/{id}/refunds`: money paid back out of the customer's credit on it.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({ "amount": "20.00", "reference": "refund_123" }))]
pub struct RefundRequest {
    pub amount: ExactDecimal,
    #[serde(default)]
    pub reference: Option<String>,
}

/// `POST /v1/invoices/{id}/send`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({ "action": "pause" }))]
pub struct DunningRequest {
    /// `pause` or `resume`.
    #[schema(schema_with = super::values::dunning_action)]
    pub action: String,
}

impl DunningRequest {
    /// `true` to pause, `false` to resume; anything else is refused (field `action`).
    pub fn paused(&self) -> Result<bool, faktura_domain::error::AppError> {
        match self.action.as_str() {
            "pause" => Ok(true),
            "resume" => Ok(false),
            other => Err(faktura_domain::error::AppError::invalid(
                "action",
                format!(
                    "'{}' is not one of pause, resume",
                    faktura_domain::money::shorten(other)
                ),
            )),
        }
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[schema(example = json!({ "to": ["accounting@example.org"] }))]
pub struct SendRequest {
    /// Send to these addresses instead of the customer's.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub to: Option<Vec<String>>,
}
