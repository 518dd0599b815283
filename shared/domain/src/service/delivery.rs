//! Job `deliver_document`: the mail with the document's files, once per send. The job's lease
//! keeps a second worker from sending while one is at it; a send whose outcome is unknown (a
//! timeout) keeps the lease, so no retry sends again within it — after it the mail may go out
//! again (at least once: mail services take no idempotency key). A definite refusal frees the
//! lease: the job is retried after its backoff like any failed job.

use std::sync::Arc;

use crate::document::Document;
use crate::error::{AppError, ErrorKind, StoreError};
use crate::jobs::Job;
use crate::mail::{Attachment, document_mail};
use crate::model::{DocumentKind, EInvoiceFormat};
use crate::ports::{Change, MailSender, Stores};

use super::files::{
    contract_file_name, contract_key, pdf_file_name, pdf_key, xml_file_name, xml_key,
};
use super::issuing::update_into;
use super::{Attempt, commit_with_retry, internal, job_cause, unavailable};

/// How a delivery attempt failed.
#[derive(Debug)]
pub enum DeliveryError {
    /// Certainly not sent (the provider refused, files missing): retry normally.
    NotSent(AppError),
    /// Maybe sent: keep the lease, so no retry sends again before it runs out.
    MaybeSent(AppError),
    /// Outside the tenant's send window: due again when it opens.
    Later(chrono::DateTime<chrono::Utc>),
}

#[derive(Clone)]
pub struct DocumentMailer {
    stores: Stores,
    mailer: Arc<dyn MailSender>,
}

impl DocumentMailer {
    pub fn new(stores: Stores, mailer: Arc<dyn MailSender>) -> Self {
        DocumentMailer { stores, mailer }
    }

    /// Sends the document's mail for `job` (a first delivery, or a resend when the job names
    /// recipients).
    pub async fn deliver(&self, job: &Job) -> Result<(), DeliveryError> {
        let s = &self.stores;
        let doc = s
            .repository
            .document(&job.tenant_id, &job.subject)
            .await
            .map_err(|e| DeliveryError::NotSent(e.into()))?
            .ok_or_else(|| {
                DeliveryError::NotSent(AppError::not_found(
                    "document_not_found",
                    "no such document",
                ))
            })?;
        let resend = !job.input.to.is_empty();
        if doc.delivery.is_sent() && !resend {
            return Ok(());
        }
        if doc.kind() == DocumentKind::Reminder
            && !resend
            && let Some(why) = self
                .reminder_moot(&doc)
                .await
                .map_err(DeliveryError::NotSent)?
        {
            // Paid (or credited, or paused) since the letter was issued: it is not sent.
            tracing::info!(tenant_id = %job.tenant_id, document_id = %job.subject, why, "reminder not sent");
            return self.give_up(job, why).await.map_err(DeliveryError::NotSent);
        }
        self.in_window(&job.tenant_id).await?;
        let send = match &doc.delivery {
            crate::document::Delivery::Sent { sends, .. } => sends + 1,
            _ => 1,
        };
        let now = s.clock.now();
        let mail = self
            .mail(&doc, job, send, now)
            .await
            .map_err(DeliveryError::NotSent)?;
        let recipients = mail.to.clone();
        let message_id = match self.mailer.send(&mail).await {
            Ok(id) => id,
            Err(StoreError::Refused(reason)) => {
                return Err(DeliveryError::NotSent(unavailable("mail_refused", reason)));
            }
            Err(e) => return Err(DeliveryError::MaybeSent(e.into())),
        };
        let cause = job_cause(job);
        // The mail is out: recording it must not fail for a passing hiccup.
        commit_with_retry(
            s,
            || async {
                let doc = s
                    .repository
                    .document(&job.tenant_id, &job.subject)
                    .await?
                    .ok_or_else(|| internal("document_vanished", "the document disappeared"))?;
                let now = s.clock.now();
                let mut change = Change::for_tenant(&job.tenant_id);
                update_into(
                    &mut change,
                    &doc,
                    doc.mark_sent(recipients.clone(), &message_id, now),
                    &cause,
                    now,
                );
                Ok(Attempt::Commit(Box::new(change), ()))
            },
            |_| None,
        )
        .await
        .map_err(DeliveryError::MaybeSent)?;
        tracing::info!(tenant_id = %job.tenant_id, document_id = %job.subject, send, "document sent");
        Ok(())
    }

    /// After the last attempt: the document's delivery is marked failed (visible in the API).
    /// A reminder that could not be mailed also pauses its invoice's dunning: the next letter
    /// would refer to one the customer never got (the owner sees it as `paused`).
    pub async fn give_up(&self, job: &Job, code: &str) -> Result<(), AppError> {
        let undeliverable = !matches!(
            code,
            "invoice_settled"
                | "not_overdue"
                | "dunning_paused"
                | "customer_paused"
                | "dunning_exhausted"
                | "invoice_not_found"
                | "not_dunnable"
        );
        let s = &self.stores;
        let cause = job_cause(job);
        commit_with_retry(
            s,
            || async {
                let Some(doc) = s.repository.document(&job.tenant_id, &job.subject).await? else {
                    return Ok(Attempt::Done(()));
                };
                if doc.delivery.is_sent() && job.input.to.is_empty() {
                    return Ok(Attempt::Done(()));
                }
                let now = s.clock.now();
                let mut change = Change::for_tenant(&job.tenant_id);
                update_into(
                    &mut change,
                    &doc,
                    doc.mark_delivery_failed(code, now),
                    &cause,
                    now,
                );
                if undeliverable
                    && doc.kind() == DocumentKind::Reminder
                    && let Some(of) = &doc.content.preceding
                    && let Some(invoice) = s.repository.document(&job.tenant_id, &of.id).await?
                    && !invoice.dunning.paused
                    && let Ok(paused) = invoice.pause_dunning(true, now)
                {
                    update_into(&mut change, &invoice, paused, &cause, now);
                }
                Ok(Attempt::Commit(Box::new(change), ()))
            },
            |_| None,
        )
        .await
    }

    /// `Err(Later)` outside the tenant's send window.
    async fn in_window(&self, tenant: &crate::values::Id) -> Result<(), DeliveryError> {
        let s = &self.stores;
        let tenant = super::tenant(s, tenant)
            .await
            .map_err(DeliveryError::NotSent)?;
        match tenant
            .settings
            .send_window
            .and_then(|w| w.next_open(tenant.settings.time_zone, s.clock.now()))
        {
            Some(at) => Err(DeliveryError::Later(at)),
            None => Ok(()),
        }
    }

    /// Why a reminder's mail must not go out any more (its invoice no longer awaits it).
    async fn reminder_moot(&self, reminder: &Document) -> Result<Option<&'static str>, AppError> {
        let Some(of) = &reminder.content.preceding else {
            return Ok(None);
        };
        let s = &self.stores;
        let Some(invoice) = s
            .repository
            .document(&reminder.content.tenant_id, &of.id)
            .await?
        else {
            return Ok(Some("invoice_not_found"));
        };
        let tenant = super::tenant(s, &reminder.content.tenant_id).await?;
        let today = tenant.today(s.clock.now());
        Ok(match invoice.awaits_reminder(today) {
            Ok(()) => s
                .repository
                .dunning_hold(
                    &invoice.content.tenant_id,
                    &invoice.content.buyer.customer_key,
                )
                .await?
                .is_some_and(|h| h.paused)
                .then_some("customer_paused"),
            Err("not_overdue") => Some("invoice_settled"),
            Err(why) => Some(why),
        })
    }

    /// Job `notify_owner`: tells the tenant's owner that an invoice is still unpaid after the
    /// last dunning level, listing every invoice of the tenant in that state.
    /// Job `digest_drafts`: mails the owner the collective drafts waiting for them on the
    /// job's day (nothing when every one was sent or got a send date meanwhile).
    pub async fn digest_drafts(&self, job: &Job) -> Result<(), DeliveryError> {
        let s = &self.stores;
        let not_sent = DeliveryError::NotSent;
        self.in_window(&job.tenant_id).await?;
        let tenant = super::tenant(s, &job.tenant_id).await.map_err(not_sent)?;
        let today = tenant.today(s.clock.now());
        let day = job.input.day.unwrap_or(today).min(today);
        let filter = crate::ports::DocumentFilter {
            kind: Some(DocumentKind::Invoice),
            lifecycle: Some(crate::document::Lifecycle::Draft),
            pending_on: Some(today),
            ..Default::default()
        };
        let drafts = listed(s, &job.tenant_id, &filter, |_| true)
            .await
            .map_err(|e| not_sent(e.into()))?;
        if drafts.is_empty() {
            return Ok(());
        }
        let round = job.id.as_str();
        let mail = crate::mail::drafts_digest_mail(&tenant, day, round, &drafts, s.clock.now())
            .map_err(|e| {
                not_sent(AppError::new(
                    ErrorKind::Internal,
                    "mail_build_failed",
                    e.to_string(),
                ))
            })?;
        match self.mailer.send(&mail).await {
            Ok(_) => {
                tracing::info!(tenant_id = %job.tenant_id, drafts = drafts.len(), "owner sent the digest of pending drafts");
                Ok(())
            }
            Err(StoreError::Refused(reason)) => Err(not_sent(unavailable("mail_refused", reason))),
            Err(e) => Err(DeliveryError::MaybeSent(e.into())),
        }
    }

    pub async fn notify_owner(&self, job: &Job) -> Result<(), DeliveryError> {
        let s = &self.stores;
        let not_sent = DeliveryError::NotSent;
        self.in_window(&job.tenant_id).await?;
        let tenant = super::tenant(s, &job.tenant_id).await.map_err(not_sent)?;
        let Some(invoice) = s
            .repository
            .document(&job.tenant_id, &job.subject)
            .await
            .map_err(|e| not_sent(e.into()))?
        else {
            return Ok(());
        };
        let today = tenant.today(s.clock.now());
        if invoice.dunning.owner_notified || !invoice.is_overdue(today) {
            // Told already, or paid (credited) since it was given up: nothing to tell.
            return Ok(());
        }
        let filter = crate::ports::DocumentFilter {
            kind: Some(DocumentKind::Invoice),
            dunning: Some(crate::dunning::DunningState::Exhausted),
            ..Default::default()
        };
        let unpaid = listed(s, &job.tenant_id, &filter, |d| {
            d.settlement.open().value().is_sign_positive() && !d.settlement.open().is_zero()
        })
        .await
        .map_err(|e| not_sent(e.into()))?;
        let mail =
            crate::mail::owner_mail(&tenant, &invoice, &unpaid, s.clock.now()).map_err(|e| {
                not_sent(AppError::new(
                    ErrorKind::Internal,
                    "mail_build_failed",
                    e.to_string(),
                ))
            })?;
        match self.mailer.send(&mail).await {
            Ok(_) => {
                tracing::info!(tenant_id = %job.tenant_id, document_id = %job.subject, unpaid = unpaid.len(), "owner told of an exhausted invoice");
                let cause = job_cause(job);
                // Recorded, so no run of this job mails the owner again.
                commit_with_retry(
                    s,
                    || async {
                        let Some(doc) = s.repository.document(&job.tenant_id, &job.subject).await?
                        else {
                            return Ok(Attempt::Done(()));
                        };
                        let now = s.clock.now();
                        let mut change = Change::for_tenant(&job.tenant_id);
                        update_into(&mut change, &doc, doc.mark_owner_notified(now), &cause, now);
                        Ok(Attempt::Commit(Box::new(change), ()))
                    },
                    |_| None,
                )
                .await
                .map_err(DeliveryError::MaybeSent)
            }
            Err(StoreError::Refused(reason)) => Err(not_sent(unavailable("mail_refused", reason))),
            Err(e) => Err(DeliveryError::MaybeSent(e.into())),
        }
    }

    async fn mail(
        &self,
        doc: &Document,
        job: &Job,
        send: u32,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<crate::ports::OutgoingMail, AppError> {
        let files = &self.stores.files;
        let inv = &doc.content;
        let missing = || {
            unavailable(
                "documents_missing",
                "the document's files are not stored yet; retry later",
            )
        };
        let pdf = files.file(&pdf_key(inv)).await?.ok_or_else(missing)?;
        let mut attachments = Vec::new();
        if inv.kind.is_tax_document() && inv.einvoice == EInvoiceFormat::Xrechnung {
            // The XML is the invoice; the PDF travels along as a readable copy.
            let xml = files.file(&xml_key(inv)).await?.ok_or_else(missing)?;
            attachments.push(Attachment::new("application/xml", xml_file_name(inv), xml));
        }
        attachments.push(Attachment::new("application/pdf", pdf_file_name(inv), pdf));
        if inv.kind == DocumentKind::Reminder
            && let Some(of) = &inv.preceding
            && let Some(invoice) = self
                .stores
                .repository
                .document(&inv.tenant_id, &of.id)
                .await?
        {
            // The invoice travels with its reminder again (its legal original too).
            let invoice = &invoice.content;
            if invoice.einvoice == EInvoiceFormat::Xrechnung {
                let xml = files.file(&xml_key(invoice)).await?.ok_or_else(missing)?;
                attachments.push(Attachment::new(
                    "application/xml",
                    xml_file_name(invoice),
                    xml,
                ));
            }
            let pdf = files.file(&pdf_key(invoice)).await?.ok_or_else(missing)?;
            attachments.push(Attachment::new(
                "application/pdf",
                pdf_file_name(invoice),
                pdf,
            ));
        }
        let with_contract = job.input.with_contract;
        if with_contract {
            let contract = files.file(&contract_key(inv)).await?.ok_or_else(missing)?;
            attachments.push(Attachment::new(
                "application/pdf",
                contract_file_name(inv),
                contract,
            ));
        }
        document_mail(inv, &attachments, now, &job.input.to, with_contract, send)
            .map_err(|e| AppError::new(ErrorKind::Internal, "mail_build_failed", e.to_string()))
    }
}

/// The documents `filter` lists that `keep` keeps, page by page, at most 500 (what one owner
/// mail lists).
async fn listed(
    s: &Stores,
    tenant: &crate::values::Id,
    filter: &crate::ports::DocumentFilter,
    keep: impl Fn(&Document) -> bool,
) -> Result<Vec<Document>, StoreError> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = s
            .repository
            .documents(tenant, filter, cursor.as_deref(), 100)
            .await?;
        out.extend(page.documents.into_iter().filter(|d| keep(d)));
        cursor = page.next_cursor;
        if cursor.is_none() || out.len() >= 500 {
            return Ok(out);
        }
    }
}
