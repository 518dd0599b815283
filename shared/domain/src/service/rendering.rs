//! Job `render_document`: a document's files — the e-invoice XML first (the legal original of
//! ZUGFeRD and XRechnung documents), then the PDF (a ZUGFeRD hybrid embeds that XML), and the
//! contract where the job asks for it — then, in one change, the document marked rendered and
//! its delivery job. Rendering is deterministic, so a retry after a crash stores the same bytes.

use std::sync::Arc;

use crate::document::Document;
use crate::error::{AppError, ErrorKind};
use crate::jobs::{Job, JobKind};
use crate::model::EInvoiceFormat;
use crate::ports::{Change, EInvoiceEncoder, PdfRenderer, Stores, XmlSyntax};
use crate::view::{ContractView, DocumentView};

use super::files::{
    contract_file_name, contract_key, pdf_file_name, pdf_key, xml_file_name, xml_key,
};
use super::issuing::update_into;
use super::{Attempt, commit_with_retry, internal, job_cause};

#[derive(Clone)]
pub struct DocumentRenderer {
    stores: Stores,
    renderer: Arc<dyn PdfRenderer>,
    einvoice: Arc<dyn EInvoiceEncoder>,
}

/// Runs a render on the blocking pool: typst is CPU-bound and must not stall the executor.
async fn blocking(
    render: impl FnOnce() -> Result<Vec<u8>, String> + Send + 'static,
) -> Result<Vec<u8>, AppError> {
    tokio::task::spawn_blocking(render)
        .await
        .map_err(|e| AppError::new(ErrorKind::Internal, "render_failed", e.to_string()))?
        .map_err(|e| AppError::new(ErrorKind::Internal, "render_failed", e))
}

impl DocumentRenderer {
    pub fn new(
        stores: Stores,
        renderer: Arc<dyn PdfRenderer>,
        einvoice: Arc<dyn EInvoiceEncoder>,
    ) -> Self {
        DocumentRenderer {
            stores,
            renderer,
            einvoice,
        }
    }

    pub async fn render(&self, job: &Job) -> Result<(), AppError> {
        let s = &self.stores;
        let doc = s
            .repository
            .document(&job.tenant_id, &job.subject)
            .await?
            .ok_or_else(|| {
                AppError::not_found(
                    "document_not_found",
                    format!("no document '{}'", job.subject),
                )
            })?;
        // The PDF is stored last, so once it is there the files are complete: a render that
        // died before its commit (or a document release 1 rendered) is not rendered again,
        // and a stored original is never replaced.
        if !doc.rendered && s.files.file(&pdf_key(&doc.content)).await?.is_none() {
            self.store_files(&doc, job.input.with_contract).await?;
        }
        let cause = job_cause(job);
        let deliver = Job::new(
            &job.tenant_id,
            JobKind::DeliverDocument,
            doc.id(),
            "first",
            s.clock.now(),
        )
        .with_input(job.input.clone());
        commit_with_retry(
            s,
            || async {
                let doc = s
                    .repository
                    .document(&job.tenant_id, &job.subject)
                    .await?
                    .ok_or_else(|| internal("document_vanished", "the document disappeared"))?;
                let mut change = Change::for_tenant(&job.tenant_id);
                if !doc.rendered {
                    let now = s.clock.now();
                    update_into(&mut change, &doc, doc.mark_rendered(now), &cause, now);
                }
                change.jobs.push(deliver.clone());
                Ok(Attempt::Commit(Box::new(change), ()))
            },
            // The delivery job exists: a retry of a render that committed.
            |c| matches!(c, crate::ports::Conflict::Job(_)).then_some(Ok(())),
        )
        .await
    }

    async fn store_files(&self, doc: &Document, with_contract: bool) -> Result<(), AppError> {
        let files = &self.stores.files;
        let inv = &doc.content;
        let view = DocumentView::from_invoice(inv);
        let ident = inv.id.as_str().to_string();
        let xml = if inv.kind.is_tax_document() && inv.einvoice.has_xml() {
            let xml = self.einvoice.xml(inv, XmlSyntax::Cii);
            files
                .put_file(
                    &xml_key(inv),
                    xml.clone(),
                    "application/xml",
                    &xml_file_name(inv),
                )
                .await?;
            Some(xml)
        } else {
            None
        };
        let renderer = self.renderer.clone();
        let pdf = match (inv.einvoice, xml) {
            (EInvoiceFormat::Zugferd, Some(xml)) => {
                blocking(move || renderer.render_hybrid_pdf(&view, &ident, &xml)).await?
            }
            _ => blocking(move || renderer.render_pdf(&view, &ident)).await?,
        };
        if with_contract {
            let tenant = super::tenant(&self.stores, &inv.tenant_id).await?;
            let booking_id = inv
                .booking_id
                .as_ref()
                .map(|b| b.as_str().to_string())
                .unwrap_or_default();
            let booked_at = match &inv.booking_id {
                Some(b) => self
                    .stores
                    .repository
                    .booking(&inv.tenant_id, b)
                    .await?
                    .and_then(|r| r.content.map(|c| c.booked_at))
                    .unwrap_or(inv.issued_at),
                None => inv.issued_at,
            };
            let contract = ContractView::new(
                inv,
                &booking_id,
                tenant.today(booked_at),
                &tenant.settings.contract.terms,
            );
            let template = tenant.settings.contract.template.clone();
            let renderer = self.renderer.clone();
            let ident = format!("{}-contract", inv.id);
            let bytes =
                blocking(move || renderer.render_contract(&contract, template.as_deref(), &ident))
                    .await?;
            files
                .put_file(
                    &contract_key(inv),
                    bytes,
                    "application/pdf",
                    &contract_file_name(inv),
                )
                .await?;
        }
        // The PDF last: its presence says the files are complete.
        files
            .put_file(&pdf_key(inv), pdf, "application/pdf", &pdf_file_name(inv))
            .await?;
        Ok(())
    }
}
