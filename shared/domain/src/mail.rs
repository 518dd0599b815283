//! The invoice email as a complete MIME message (text body + the invoice documents).

use chrono::{DateTime, Utc};
use mail_builder::MessageBuilder;
use mail_builder::headers::date::Date;

use crate::i18n;
use crate::mail_html::{self, PaymentBlock};
use crate::model::Invoice;
use crate::payment_codes::{self, PaymentRequest};
use crate::ports::OutgoingMail;

/// A file attached to the invoice email.
pub struct Attachment {
    pub content_type: &'static str,
    pub file_name: String,
    pub bytes: Vec<u8>,
}

impl Attachment {
    pub fn new(content_type: &'static str, file_name: String, bytes: Vec<u8>) -> Attachment {
        Attachment {
            content_type,
            file_name,
            bytes,
        }
    }
}

/// Builds the email that delivers `invoice` with its documents. Header values are encoded by
/// the MIME library (RFC 2047); customer-typed text never becomes a header line of its own.
pub fn invoice_mail(
    invoice: &Invoice,
    attachments: &[Attachment],
    now: DateTime<Utc>,
) -> std::io::Result<OutgoingMail> {
    document_mail(invoice, attachments, now, &[], false, 1)
}

/// The mail that tells the tenant's owner `invoice` is still unpaid after the last dunning
/// level, listing every invoice in that state (`unpaid`, the invoice among them).
pub fn owner_mail(
    tenant: &crate::model::Tenant,
    invoice: &crate::document::Document,
    unpaid: &[crate::document::Document],
    now: DateTime<Utc>,
) -> std::io::Result<OutgoingMail> {
    let lang = tenant.settings.language;
    let line = |d: &crate::document::Document| {
        let c = &d.content;
        let letters = d
            .dunning
            .reminders
            .iter()
            .map(|r| r.number.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        match lang {
            crate::values::Language::De => format!(
                "- {} vom {}, {} ({}): offen {} von {}, fällig seit {}; Mahnungen: {letters}",
                c.number,
                i18n::date(lang, c.issue_date),
                c.buyer.legal_name(),
                c.buyer.email,
                i18n::money(lang, d.settlement.open(), c.currency),
                i18n::money(lang, d.settlement.payable(), c.currency),
                i18n::date(lang, c.due_date),
            ),
            crate::values::Language::En => format!(
                "- {} of {}, {} ({}): {} open of {}, due since {}; reminders: {letters}",
                c.number,
                i18n::date(lang, c.issue_date),
                c.buyer.legal_name(),
                c.buyer.email,
                i18n::money(lang, d.settlement.open(), c.currency),
                i18n::money(lang, d.settlement.payable(), c.currency),
                i18n::date(lang, c.due_date),
            ),
        }
    };
    let list = unpaid.iter().map(line).collect::<Vec<_>>().join("\r\n");
    let number = invoice.content.number.as_str();
    let (subject, body) = match lang {
        crate::values::Language::De => (
            format!("Mahnstufen ausgeschöpft: Rechnung {number} ist weiter unbezahlt"),
            format!(
                "Guten Tag,\r\n\r\nfür die Rechnung {number} wurden alle Mahnstufen versandt und die letzte Frist ist verstrichen. Faktura mahnt sie nicht weiter; bitte entscheiden Sie über das weitere Vorgehen (z. B. gerichtliches Mahnverfahren).\r\n\r\nUnbezahlt nach der letzten Mahnstufe:\r\n{list}\r\n"
            ),
        ),
        crate::values::Language::En => (
            format!("Dunning exhausted: invoice {number} is still unpaid"),
            format!(
                "Hello,\r\n\r\nevery dunning level was sent for invoice {number} and the last deadline has passed. Faktura does not chase it any further; please decide how to proceed (e.g. a court dunning procedure).\r\n\r\nUnpaid after the last dunning level:\r\n{list}\r\n"
            ),
        ),
    };
    to_owner(
        tenant,
        &format!("owner-{}", invoice.id()),
        subject,
        body,
        now,
    )
}

/// The owner's address: the dunning setting, else the seller's.
fn owner_address(tenant: &crate::model::Tenant) -> crate::values::EmailAddress {
    tenant
        .settings
        .dunning
        .owner_email
        .clone()
        .unwrap_or_else(|| tenant.seller.email.clone())
}

/// A plain mail from Faktura to the tenant's owner, with a stable key and Message-ID.
fn to_owner(
    tenant: &crate::model::Tenant,
    key: &str,
    subject: String,
    body: String,
    now: DateTime<Utc>,
) -> std::io::Result<OutgoingMail> {
    let owner = owner_address(tenant);
    let sender = tenant.seller.email.as_str();
    let domain = sender
        .rsplit_once('@')
        .map_or("faktura.invalid", |(_, d)| d);
    let key = key.to_string();
    let subject_for_html = subject.clone();
    let raw = MessageBuilder::new()
        .from((tenant.seller.legal_name.as_str(), sender))
        .to(owner.as_str())
        .subject(subject)
        .message_id(format!("{key}@{domain}"))
        .date(Date::new(now.timestamp()))
        .header(
            "Auto-Submitted",
            mail_builder::headers::raw::Raw::new("auto-generated"),
        )
        .html_body(mail_html::html(
            tenant.settings.language,
            &subject_for_html,
            &body,
            None,
        ))
        .text_body(body)
        .write_to_vec()?;
    Ok(OutgoingMail {
        key,
        from: tenant.seller.email.clone(),
        to: vec![owner],
        raw,
    })
}

/// The owner's digest of the collective drafts waiting for them on `day`: customer, amount,
/// items and what to call to send each.
pub fn drafts_digest_mail(
    tenant: &crate::model::Tenant,
    day: chrono::NaiveDate,
    round: &str,
    drafts: &[crate::document::Document],
    now: DateTime<Utc>,
) -> std::io::Result<OutgoingMail> {
    let lang = tenant.settings.language;
    let line = |d: &crate::document::Document| {
        let c = &d.content;
        let items = d.collective.as_ref().map_or(0, |f| f.items.len());
        let gross = i18n::money(lang, c.totals.tax_inclusive, c.currency);
        match lang {
            crate::values::Language::De => format!(
                "- {} ({}): {gross}, {items} Positionen — Entwurf {}: POST /v1/invoices/{}/issue",
                c.buyer.legal_name(),
                c.buyer.email,
                d.id(),
                d.id()
            ),
            crate::values::Language::En => format!(
                "- {} ({}): {gross}, {items} items — draft {}: POST /v1/invoices/{}/issue",
                c.buyer.legal_name(),
                c.buyer.email,
                d.id(),
                d.id()
            ),
        }
    };
    let list = drafts.iter().map(line).collect::<Vec<_>>().join("\r\n");
    let n = drafts.len();
    let when = i18n::date(lang, day);
    let (subject, body) = match lang {
        crate::values::Language::De => (
            format!("{n} Sammelrechnung(en) warten auf Ihre Freigabe ({when})"),
            format!(
                "Guten Tag,\r\n\r\ndiese Sammelrechnungen sind fällig und haben kein Versanddatum. Sie sind noch Entwürfe ohne Nummer: prüfen, ändern (PATCH /v1/collective-invoices/{{id}}) oder freigeben.\r\n\r\n{list}\r\n\r\nAlle offenen Entwürfe: GET /v1/collective-invoices?pending=true\r\n"
            ),
        ),
        crate::values::Language::En => (
            format!("{n} collective invoice(s) wait for your approval ({when})"),
            format!(
                "Hello,\r\n\r\nthese collective invoices are due and have no send date. They are still drafts without a number: review, change (PATCH /v1/collective-invoices/{{id}}) or approve them.\r\n\r\n{list}\r\n\r\nAll pending drafts: GET /v1/collective-invoices?pending=true\r\n"
            ),
        ),
    };
    to_owner(
        tenant,
        &format!("digest-{}-{day}-{round}", tenant.id),
        subject,
        body,
        now,
    )
}

/// How to pay `invoice`, for its mail: the account, amount and reference, and the payment
/// link. None when the document asks for no payment or says nowhere to pay.
fn payment_block(invoice: &Invoice) -> Option<PaymentBlock> {
    let request = PaymentRequest::of(invoice)?;
    let lang = invoice.language;
    let labels = i18n::payment_mail_labels(lang);
    let amount = i18n::money(lang, request.amount, request.currency);
    let link = invoice
        .payment_link
        .clone()
        .map(|url| (url, format!("{} ({amount})", labels.pay_online)));
    let bank = invoice
        .seller
        .bank
        .as_ref()
        .filter(|b| payment_codes::electronic_iban(&b.iban).is_some());
    if bank.is_none() && link.is_none() {
        return None;
    }
    let mut rows = Vec::new();
    if let Some(bank) = bank {
        rows.push((labels.payee.to_string(), bank.account_holder.clone()));
        rows.push(("IBAN".to_string(), bank.iban.clone()));
        if let Some(bic) = &bank.bic {
            rows.push(("BIC".to_string(), bic.clone()));
        }
    }
    rows.push((labels.amount.to_string(), amount));
    rows.push((labels.reference.to_string(), request.remittance.printed()));
    Some(PaymentBlock {
        heading: if bank.is_some() {
            labels.heading
        } else {
            labels.heading_online
        }
        .to_string(),
        rows,
        link,
    })
}

/// The email that delivers a document of any kind to its buyer, or to `to` when given (a
/// resend to another address). `send` numbers the mails of one document (1 for the first), so
/// each has its own stable key and Message-ID.
pub fn document_mail(
    invoice: &Invoice,
    attachments: &[Attachment],
    now: DateTime<Utc>,
    to: &[crate::values::EmailAddress],
    with_contract: bool,
    send: u32,
) -> std::io::Result<OutgoingMail> {
    let lang = invoice.language;
    let shown = if invoice.kind == crate::model::DocumentKind::CreditNote {
        invoice.totals.tax_inclusive + invoice.totals.rounding
    } else {
        invoice.totals.amount_due
    };
    let amount = i18n::money(lang, shown, invoice.currency);
    let text = match &invoice.reminder {
        Some(facts) => i18n::reminder_mail(
            lang,
            i18n::reminder_title(lang, facts.level),
            invoice.number.as_str(),
            &invoice.buyer.name,
            &invoice.seller.legal_name,
            &facts
                .items
                .iter()
                .map(|i| i.number.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            &amount,
            invoice.due_date,
        ),
        None => i18n::document_mail(
            lang,
            invoice.kind,
            invoice.cancels_fully,
            &invoice.buyer.name,
            &invoice.seller.legal_name,
            invoice.number.as_str(),
            &amount,
            invoice.due_date,
            with_contract,
        ),
    };
    let seller_email = invoice.seller.email.as_str();
    let domain = seller_email
        .rsplit_once('@')
        .map_or("faktura.invalid", |(_, d)| d);
    let key = if send <= 1 {
        invoice.id.as_str().to_string()
    } else {
        format!("{}-{send}", invoice.id)
    };
    let message_id = format!("{key}@{domain}");
    let recipients: Vec<crate::values::EmailAddress> = if to.is_empty() {
        vec![invoice.buyer.email.clone()]
    } else {
        to.to_vec()
    };
    let to_header: Vec<(&str, &str)> = if to.is_empty() {
        vec![(invoice.buyer.name.as_str(), invoice.buyer.email.as_str())]
    } else {
        to.iter().map(|a| ("", a.as_str())).collect()
    };
    let block = payment_block(invoice);
    let subject = text.subject.clone();
    let mut message = MessageBuilder::new()
        .from((invoice.seller.legal_name.as_str(), seller_email))
        .to(to_header)
        .subject(text.subject)
        .message_id(message_id)
        .date(Date::new(now.timestamp()))
        .header(
            "Auto-Submitted",
            mail_builder::headers::raw::Raw::new("auto-generated"),
        )
        .html_body(mail_html::html(lang, &subject, &text.body, block.as_ref()))
        .text_body(mail_html::text_with_block(&text.body, block.as_ref()));
    for a in attachments {
        message = message.attachment(a.content_type, a.file_name.as_str(), a.bytes.as_slice());
    }
    let raw = message.write_to_vec()?;
    Ok(OutgoingMail {
        key,
        from: invoice.seller.email.clone(),
        to: recipients,
        raw,
    })
}
