//! From a booking and the tenant's settings to an invoice: VAT treatment, categories,
//! legal notes, dates and the EN 16931 arithmetic. Pure: numbering happens in the store.

use chrono::{DateTime, Days, NaiveDate, Utc};

use crate::booking::Booking;
use crate::calc::{PricedItem, calculate, totals_of_lines};
use crate::document::Document;
use crate::error::{AppError, ErrorKind};
use crate::i18n;
use crate::model::{
    Buyer, Customer, DocumentKind, DocumentSource, EInvoiceFormat, Invoice, InvoiceLine,
    PrecedingDocument, PriceBasis, ServicePeriod, Tenant, Totals, VatBreakdown, VatCategory,
    VatTreatment,
};
use crate::money::{Amount, VatRate};
use crate::values::{Id, InvoiceNumber, Language};
use rust_decimal::Decimal;

/// Standard-rated (S) VAT rates a seller in this country may charge. Unknown countries: any.
fn standard_rates(country: &str) -> Option<&'static [&'static str]> {
    match country {
        "DE" => Some(&["19", "7"]),
        "AT" => Some(&["20", "13", "10"]),
        _ => None,
    }
}

/// Everything about an invoice except its number and issue instant.
#[derive(Debug, Clone)]
pub struct InvoicePlan {
    pub invoice: Invoice,
}

/// The customer record a booking creates or updates.
pub fn customer_from_booking(booking: &Booking, tenant: &Tenant, now: DateTime<Utc>) -> Customer {
    let c = &booking.customer;
    Customer {
        key: c.key(),
        external_id: c.external_id.clone(),
        name: c.name.clone(),
        company: c.company.clone(),
        email: c.email.clone(),
        language: c.language.unwrap_or(tenant.settings.language),
        vat_id: c.vat_id.clone(),
        address: c.address.clone(),
        einvoice: c.einvoice,
        leitweg_id: c.leitweg_id.clone(),
        updated_at: now,
    }
}

fn treatment(tenant: &Tenant, booking: &Booking) -> Result<VatTreatment, AppError> {
    if tenant.settings.small_business {
        return Ok(VatTreatment::SmallBusiness);
    }
    let seller_country = tenant.seller.address.country;
    let buyer_country = booking.customer.address.country;
    if let Some(vat_id) = &booking.customer.vat_id {
        let cross_border_eu = seller_country.is_eu_member()
            && buyer_country.is_eu_member()
            && buyer_country != seller_country;
        if cross_border_eu {
            if vat_id.prefix() != buyer_country.vat_prefix() {
                return Err(AppError::new(
                    ErrorKind::Unprocessable,
                    "vat_id_country_mismatch",
                    format!(
                        "the VAT ID {} does not belong to the customer's country {} (expected prefix {})",
                        vat_id,
                        buyer_country.as_str(),
                        buyer_country.vat_prefix()
                    ),
                )
                .with_field("data.customer.vat_id"));
            }
            if tenant.seller.vat_id.is_none() {
                return Err(AppError::new(
                    ErrorKind::Unprocessable,
                    "seller_vat_id_missing",
                    "a reverse-charge invoice needs the seller's VAT ID; add it to the tenant",
                ));
            }
            return Ok(VatTreatment::ReverseCharge);
        }
    }
    Ok(VatTreatment::Standard)
}

/// The category and rate of one line under the standard treatment, checked.
fn line_vat(
    tenant: &Tenant,
    booking: &Booking,
    index: usize,
) -> Result<(VatCategory, VatRate), AppError> {
    let item = &booking.items[index];
    let field = |name: &str| format!("data.items[{index}].{name}");
    let rate = item.vat_rate.unwrap_or(tenant.settings.default_vat_rate);
    let category = item.vat_category.unwrap_or(if rate.is_zero() {
        VatCategory::Z
    } else {
        VatCategory::S
    });
    let not_allowed = |message: String| {
        AppError::new(ErrorKind::Unprocessable, "vat_rate_not_allowed", message)
            .with_field(field("vat_rate"))
    };
    if !category.allows_rate(rate) {
        return Err(not_allowed(format!(
            "VAT category {} does not allow a rate of {} %",
            category.code(),
            rate
        )));
    }
    let seller_country = tenant.seller.address.country;
    if category == VatCategory::S
        && let Some(allowed) = standard_rates(seller_country.as_str())
        && !allowed
            .iter()
            .any(|r| r.parse::<VatRate>().ok() == Some(rate))
    {
        return Err(not_allowed(format!(
            "{} % is not a VAT rate in {} (allowed: {})",
            rate,
            seller_country.as_str(),
            allowed.join(", ")
        )));
    }
    let buyer = &booking.customer;
    let category_error = |message: &str| {
        AppError::new(
            ErrorKind::Unprocessable,
            "vat_category_not_allowed",
            message,
        )
        .with_field(field("vat_category"))
    };
    match category {
        VatCategory::AE if buyer.vat_id.is_none() => {
            return Err(category_error(
                "reverse charge (AE) needs the customer's VAT ID",
            ));
        }
        VatCategory::K
            if buyer.vat_id.is_none()
                || !buyer.address.country.is_eu_member()
                || buyer.address.country == seller_country =>
        {
            return Err(category_error(
                "an intra-community supply (K) needs a customer in another EU country with a VAT ID",
            ));
        }
        VatCategory::G if buyer.address.country.is_eu_member() => {
            return Err(category_error(
                "an export (G) needs a customer outside the EU",
            ));
        }
        _ => {}
    }
    Ok((category, rate))
}

fn exemption(category: VatCategory, lang: Language) -> (Option<String>, Option<String>) {
    let (text, code) = match category {
        VatCategory::S | VatCategory::Z => return (None, None),
        VatCategory::E => (i18n::small_business_note(lang), None),
        VatCategory::AE => (i18n::reverse_charge_note(lang), Some("VATEX-EU-AE")),
        VatCategory::K => (i18n::intra_community_note(lang), Some("VATEX-EU-IC")),
        VatCategory::G => (i18n::export_note(lang), Some("VATEX-EU-G")),
        VatCategory::O => (i18n::outside_scope_note(lang), Some("VATEX-EU-O")),
    };
    (Some(text.to_string()), code.map(str::to_string))
}

/// Builds the invoice for a booking. Fails with 422-type errors for bookings that cannot be
/// invoiced; callers run it before recording a booking, so a rejected booking stores nothing.
pub fn plan_invoice(
    tenant: &Tenant,
    booking: &Booking,
    invoice_id: &Id,
    issue_date: NaiveDate,
    issued_at: DateTime<Utc>,
) -> Result<InvoicePlan, AppError> {
    plan_document(
        tenant,
        booking,
        DocumentKind::Invoice,
        invoice_id,
        issue_date,
        issued_at,
    )
}

/// Builds a document of `kind` (an invoice or a proforma) for a booking's content.
pub fn plan_document(
    tenant: &Tenant,
    booking: &Booking,
    kind: DocumentKind,
    invoice_id: &Id,
    issue_date: NaiveDate,
    issued_at: DateTime<Utc>,
) -> Result<InvoicePlan, AppError> {
    let treatment = treatment(tenant, booking)?;
    let lang = booking
        .customer
        .language
        .unwrap_or(tenant.settings.language);
    let basis = booking.prices.unwrap_or(tenant.settings.default_prices);
    // §14 (4) Nr. 6 UStG: without a service date the document says the service date is the
    // issue date (see the note below), so the lines carry the issue date.
    let fallback_service = issue_date;

    let mut items = Vec::with_capacity(booking.items.len());
    for (i, item) in booking.items.iter().enumerate() {
        let (vat_category, vat_rate) = match treatment {
            VatTreatment::SmallBusiness => (VatCategory::E, VatRate::ZERO),
            // An explicit intra-community supply of goods (K) stays K; services are AE.
            VatTreatment::ReverseCharge if item.vat_category == Some(VatCategory::K) => {
                (VatCategory::K, VatRate::ZERO)
            }
            VatTreatment::ReverseCharge => (VatCategory::AE, VatRate::ZERO),
            VatTreatment::Standard => line_vat(tenant, booking, i)?,
        };
        items.push(PricedItem {
            description: item.description.clone(),
            quantity: item.quantity,
            unit_code: item.unit.clone(),
            unit_price: item.unit_price,
            vat_category,
            vat_rate,
            service: item.service.unwrap_or(ServicePeriod::day(fallback_service)),
        });
    }
    // EN 16931 BR-O-11/12: an invoice with "outside the scope of VAT" lines has no others.
    if items.iter().any(|i| i.vat_category == VatCategory::O)
        && items.iter().any(|i| i.vat_category != VatCategory::O)
    {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "vat_category_not_allowed",
            "lines outside the scope of VAT (O) cannot share an invoice with other VAT categories; send them as a separate booking",
        )
        .with_field("data.items"));
    }
    let mut calc = calculate(&items, basis);
    if calc.totals.amount_due.is_negative() {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "negative_total",
            format!(
                "the booking's total is negative ({}); refunds are credit notes, not invoices",
                calc.totals.amount_due
            ),
        )
        .with_field("data.items"));
    }
    for b in &mut calc.vat_breakdown {
        let (reason, code): (Option<String>, Option<String>) = exemption(b.category, lang);
        *b = VatBreakdown {
            exemption_reason: reason,
            exemption_code: code,
            ..b.clone()
        };
    }

    let mut notes = Vec::new();
    let mut categories: Vec<VatCategory> = calc.vat_breakdown.iter().map(|b| b.category).collect();
    categories.dedup();
    for category in categories {
        if let (Some(text), _) = exemption(category, lang) {
            notes.push(text);
        }
    }
    if booking.items.iter().all(|i| i.service.is_none()) {
        // §14 (4) Nr. 6 UStG: the date of service must be stated; the booking date stands in.
        notes.push(i18n::service_date_is_issue_date(lang).to_string());
    }
    if kind == DocumentKind::Proforma {
        notes.insert(0, i18n::proforma_note(lang).to_string());
    }
    if kind == DocumentKind::Invoice && booking.customer.is_consumer() {
        notes.push(i18n::default_notice(lang).to_string());
    }
    notes.extend(booking.note.clone());

    let c = &booking.customer;
    // A public buyer's Leitweg-ID is BT-10 and implies XRechnung; the platform's reference
    // then moves to the purchase order reference BT-13.
    let einvoice = if !kind.is_tax_document() {
        // A proforma is no invoice: no machine-readable invoice is issued for it.
        EInvoiceFormat::Pdf
    } else if c.leitweg_id.is_some() {
        EInvoiceFormat::Xrechnung
    } else {
        c.einvoice.unwrap_or(tenant.settings.einvoice)
    };
    let (buyer_reference, order_reference) = match &c.leitweg_id {
        Some(leitweg_id) => (Some(leitweg_id.clone()), booking.reference.clone()),
        None => (booking.reference.clone(), None),
    };
    if einvoice == EInvoiceFormat::Xrechnung && buyer_reference.is_none() {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "leitweg_id_missing",
            "an XRechnung needs a buyer reference (BT-10): the customer's Leitweg-ID, or the booking's reference",
        )
        .with_field("data.customer.leitweg_id"));
    }

    let terms_days = tenant.settings.payment_terms_days;
    let due_date = issue_date
        .checked_add_days(Days::new(u64::from(terms_days)))
        .unwrap_or(issue_date);
    let invoice = Invoice {
        id: invoice_id.clone(),
        tenant_id: tenant.id.clone(),
        booking_id: Some(booking.id.clone()),
        source: DocumentSource::Booking,
        kind,
        preceding: None,
        cancels_fully: false,
        // Numbers are assigned when the invoice is stored (see `service::InvoiceIssuer`).
        number: InvoiceNumber::unassigned(),
        issue_date,
        due_date,
        currency: booking.currency,
        language: lang,
        buyer_reference,
        order_reference,
        einvoice,
        seller: tenant.seller.clone(),
        buyer: Buyer {
            customer_key: c.key(),
            customer_number: c.external_id.as_ref().map(|id| id.as_str().to_string()),
            name: c.name.clone(),
            company: c.company.clone(),
            email: c.email.clone(),
            vat_id: c.vat_id.clone(),
            address: c.address.clone(),
        },
        lines: calc.lines,
        vat_breakdown: calc.vat_breakdown,
        totals: calc.totals,
        vat_treatment: treatment,
        price_basis: basis,
        notes,
        payment_terms: i18n::payment_terms(lang, terms_days, due_date),
        issued_at,
        reminder: None,
        payment_link: None,
    };
    Ok(InvoicePlan { invoice })
}

/// Shows `amount` as already paid (BT-113) on a planned invoice: payments on its proforma, or
/// applied customer credit. The amount due (BT-115) shrinks by it; the terms say so.
pub fn with_prepaid(mut invoice: Invoice, amount: Amount, note: Option<String>) -> Invoice {
    let t = &mut invoice.totals;
    let payable = t.tax_inclusive + t.rounding;
    let amount = if amount > payable { payable } else { amount };
    t.prepaid = amount;
    t.amount_due = payable - amount;
    if let Some(note) = note {
        invoice.notes.push(note);
    }
    if invoice.totals.amount_due.is_zero() {
        invoice.payment_terms = i18n::paid_terms(invoice.language).to_string();
    }
    invoice
}

/// The credit note that takes back `quantities` (per line of `original`, by position − 1).
///
/// Each credited line keeps the invoice's prices; its net amount is the invoice line's net
/// amount in proportion, counted cumulatively: the credit notes of a line together take back
/// `round(net × credited / quantity)`, so rounding never adds up over many credit notes and all
/// of them together take back exactly the line's net amount. VAT is computed per group on the
/// credited nets as on any document. When this credit note completes the crediting (every line
/// fully credited), what is left between what earlier credit notes took and the invoice's total
/// goes to the rounding amount (BT-114), so the credit notes of an invoice always add up to it
/// exactly. Before that, the credit notes so far take back exactly what one credit note for
/// all they credit would (VAT rounded on each small one would add up otherwise; the cent per
/// VAT group goes to the rounding amount too). A credit of everything at once is the invoice's
/// arithmetic mirrored exactly.
pub fn plan_credit_note(
    original: &Document,
    quantities: &[Decimal],
    id: &Id,
    issue_date: NaiveDate,
    issued_at: DateTime<Utc>,
    reason: Option<&str>,
) -> Result<Invoice, AppError> {
    // A cancelled invoice is refused as such, not for the nothing that is left of it.
    original.creditable()?;
    let inv = &original.content;
    let refuse = |code: &'static str, message: String| {
        AppError::new(ErrorKind::Unprocessable, code, message)
    };
    if quantities.len() != inv.lines.len() {
        return Err(refuse(
            "invalid_items",
            "one quantity per invoice line".into(),
        ));
    }
    if quantities.iter().all(Decimal::is_zero) {
        return Err(refuse(
            "no_items",
            "a credit note takes back at least one item".into(),
        )
        .with_field("items"));
    }
    let credited = &original.credited_quantities;
    let already = |i: usize| credited.get(i).copied().unwrap_or(Decimal::ZERO);
    let nothing_before =
        credited.iter().all(Decimal::is_zero) && original.settlement.credited.is_zero();
    let everything_now = inv
        .lines
        .iter()
        .zip(quantities)
        .all(|(l, q)| *q == l.quantity.abs());
    let lang = inv.language;
    let (fully_after, lines) = {
        let mut lines = Vec::new();
        for (i, (line, q)) in inv.lines.iter().zip(quantities).enumerate() {
            if q.is_zero() {
                continue;
            }
            let total = line.quantity.abs();
            let before = already(i);
            let left = total - before;
            if *q > left || q.is_sign_negative() {
                return Err(refuse(
                    "credit_exceeds_invoice",
                    format!(
                        "line {} has {} left to credit, not {}",
                        line.position,
                        left.normalize(),
                        q.normalize()
                    ),
                )
                .with_field(format!("items[{i}].quantity")));
            }
            let net = credited_net(line, before + *q) - credited_net(line, before);
            let sign = if line.quantity.is_sign_negative() {
                -Decimal::ONE
            } else {
                Decimal::ONE
            };
            lines.push(InvoiceLine {
                position: lines.len() as u32 + 1,
                quantity: *q * sign,
                net_amount: net,
                ..line.clone()
            });
        }
        let fully_after = inv
            .lines
            .iter()
            .enumerate()
            .all(|(i, l)| already(i) + quantities[i] == l.quantity.abs());
        (fully_after, lines)
    };
    let (vat_breakdown, mut totals) = if nothing_before && everything_now {
        (
            inv.vat_breakdown.clone(),
            Totals {
                prepaid: Amount::ZERO,
                amount_due: inv.totals.tax_inclusive + inv.totals.rounding,
                ..inv.totals.clone()
            },
        )
    } else {
        let (mut breakdown, mut totals) = totals_of_lines(&lines);
        for b in &mut breakdown {
            if let Some(orig) = inv
                .vat_breakdown
                .iter()
                .find(|o| o.category == b.category && o.rate == b.rate)
            {
                b.exemption_reason = orig.exemption_reason.clone();
                b.exemption_code = orig.exemption_code.clone();
            }
        }
        let charged = inv.totals.tax_inclusive + inv.totals.rounding;
        let credited = original.settlement.credited;
        let amount = if fully_after {
            Some(charged - credited)
        } else {
            // What one credit note for everything credited once this one is issued would take
            // back: this one takes the difference, so the VAT rounding of many small credit
            // notes never adds up (a cent per VAT group goes to the rounding amount). Worth
            // more than the invoice is no rounding matter: left as it is, for `Document::credit`
            // to refuse where it is more than is left.
            let so_far: Vec<InvoiceLine> = inv
                .lines
                .iter()
                .enumerate()
                .map(|(i, l)| InvoiceLine {
                    net_amount: credited_net(l, already(i) + quantities[i]),
                    ..l.clone()
                })
                .collect();
            let worth = totals_of_lines(&so_far).1.tax_inclusive;
            let difference = if worth > charged { charged } else { worth } - credited;
            (worth <= inv.totals.tax_inclusive && !difference.is_negative()).then_some(difference)
        };
        if let Some(amount) = amount {
            totals.rounding = amount - totals.tax_inclusive;
            totals.amount_due = amount;
        }
        (breakdown, totals)
    };
    totals.prepaid = Amount::ZERO;
    let cancels_fully = nothing_before && everything_now;
    let mut notes = vec![i18n::corrects_note(
        lang,
        inv.number.as_str(),
        inv.issue_date,
        cancels_fully,
    )];
    notes.extend(inv.notes.iter().filter(|n| is_legal_note(n, lang)).cloned());
    if let Some(r) = reason {
        notes.push(i18n::reason_note(lang, r));
    }
    Ok(Invoice {
        id: id.clone(),
        tenant_id: inv.tenant_id.clone(),
        booking_id: inv.booking_id.clone(),
        source: inv.source,
        kind: DocumentKind::CreditNote,
        preceding: Some(PrecedingDocument {
            id: inv.id.clone(),
            kind: inv.kind,
            number: inv.number.clone(),
            issue_date: inv.issue_date,
        }),
        cancels_fully,
        number: InvoiceNumber::unassigned(),
        issue_date,
        due_date: issue_date,
        currency: inv.currency,
        language: lang,
        buyer_reference: inv.buyer_reference.clone(),
        order_reference: inv.order_reference.clone(),
        einvoice: inv.einvoice,
        seller: inv.seller.clone(),
        buyer: inv.buyer.clone(),
        lines,
        vat_breakdown,
        totals,
        vat_treatment: inv.vat_treatment,
        price_basis: PriceBasis::Net,
        notes,
        payment_terms: i18n::credit_terms(lang).to_string(),
        issued_at,
        reminder: None,
        payment_link: None,
    })
}

/// The net amount the credit notes of `line` take back in all once `credited` of its quantity
/// is credited: its net amount in proportion, all of it for all of the line.
fn credited_net(line: &InvoiceLine, credited: Decimal) -> Amount {
    let total = line.quantity.abs();
    if credited == total || total.is_zero() {
        line.net_amount
    } else {
        Amount::round(line.net_amount.value() * credited / total)
    }
}

/// The VAT notes the law asks for (they repeat on a credit note), not the booking's own note.
fn is_legal_note(note: &str, lang: Language) -> bool {
    [
        i18n::small_business_note(lang),
        i18n::reverse_charge_note(lang),
        i18n::intra_community_note(lang),
        i18n::export_note(lang),
        i18n::outside_scope_note(lang),
    ]
    .contains(&note)
}
