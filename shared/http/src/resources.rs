//! JSON representations the API returns. Amounts are decimal strings with two decimals.

use faktura_domain::model::PostalAddress;
use faktura_domain::ports::StoredInvoice;
use serde_json::{Value, json};

fn address(a: &PostalAddress) -> Value {
    json!({
        "line1": a.line1, "line2": a.line2, "postal_code": a.postal_code,
        "city": a.city, "country": a.country,
    })
}

pub fn invoice_json(stored: &StoredInvoice) -> Value {
    let inv = &stored.invoice;
    let t = &inv.totals;
    json!({
        "id": inv.id,
        "number": inv.number,
        "type_code": inv.kind.type_code(),
        "status": stored.status.as_str(),
        "booking_id": inv.booking_id,
        "issue_date": inv.issue_date,
        "due_date": inv.due_date,
        "currency": inv.currency,
        "language": inv.language,
        "buyer_reference": inv.buyer_reference,
        "order_reference": inv.order_reference,
        "einvoice": inv.einvoice.as_str(),
        "vat_treatment": inv.vat_treatment,
        "price_basis": inv.price_basis,
        "seller": {
            "name": inv.seller.legal_name,
            "vat_id": inv.seller.vat_id,
            "tax_number": inv.seller.tax_number,
            "address": address(&inv.seller.address),
        },
        "customer": {
            "number": inv.buyer.customer_number,
            "name": inv.buyer.name,
            "company": inv.buyer.company,
            "email": inv.buyer.email,
            "vat_id": inv.buyer.vat_id,
            "address": address(&inv.buyer.address),
        },
        "lines": inv.lines.iter().map(|l| json!({
            "position": l.position,
            "description": l.description,
            "quantity": l.quantity.normalize().to_string(),
            "unit": l.unit_code,
            "unit_price_net": l.unit_price_net.normalize().to_string(),
            "unit_price_gross": l.unit_price_gross.map(|p| p.normalize().to_string()),
            "net_amount": l.net_amount,
            "vat_category": l.vat_category.code(),
            "vat_rate": l.vat_rate,
            "service_start": l.service.start,
            "service_end": l.service.end,
        })).collect::<Vec<_>>(),
        "totals": {
            "net": t.tax_exclusive,
            "vat": t.vat,
            "gross": t.tax_inclusive,
            "prepaid": t.prepaid,
            "rounding": t.rounding,
            "amount_due": t.amount_due,
            "vat_breakdown": inv.vat_breakdown.iter().map(|b| json!({
                "category": b.category.code(),
                "rate": b.rate,
                "taxable": b.taxable,
                "vat": b.vat,
                "exemption_reason": b.exemption_reason,
                "exemption_code": b.exemption_code,
            })).collect::<Vec<_>>(),
        },
        "notes": inv.notes,
        "payment_terms": inv.payment_terms,
        "issued_at": inv.issued_at,
        "sent_at": stored.sent_at,
        "pdf": format!("/v1/invoices/{}/pdf", inv.id),
        "xml": format!("/v1/invoices/{}/xml", inv.id),
    })
}
