//! The read side of the API.

use std::sync::Arc;

use crate::audit::AuditEntry;
use crate::booking::BookingRecord;
use crate::document::Document;
use crate::error::AppError;
use crate::jobs::{Job, JobState};
use crate::ledger::{LedgerEntry, balance};
use crate::model::Customer;
use crate::money::Amount;
use crate::ports::{
    CustomerPage, DocumentFilter, DocumentPage, EInvoiceEncoder, JobPage, Stores, XmlSyntax,
};
use crate::ports::{ScheduleFilter, SchedulePage};
use crate::schedule::Schedule;
use crate::values::Id;

use super::files::{
    contract_file_name, contract_key, pdf_file_name, pdf_key, xml_file_name, xml_key,
};

/// A customer with their ledger and balance.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerAccount {
    pub customer: Customer,
    pub ledger: Vec<LedgerEntry>,
    /// Positive: the customer owes; negative: credit owed to the customer.
    pub balance: Amount,
    pub dunning_paused: bool,
}

#[derive(Clone)]
pub struct Queries {
    stores: Stores,
    einvoice: Arc<dyn EInvoiceEncoder>,
}

impl Queries {
    pub fn new(stores: Stores, einvoice: Arc<dyn EInvoiceEncoder>) -> Self {
        Queries { stores, einvoice }
    }

    pub async fn document(&self, tenant: &Id, id: &Id) -> Result<Document, AppError> {
        self.stores
            .repository
            .document(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found("invoice_not_found", format!("no document '{id}'")))
    }

    pub async fn documents(
        &self,
        tenant: &Id,
        filter: &DocumentFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<DocumentPage, AppError> {
        Ok(self
            .stores
            .repository
            .documents(tenant, filter, cursor, limit)
            .await?)
    }

    pub async fn audit(&self, tenant: &Id, id: &Id) -> Result<Vec<AuditEntry>, AppError> {
        self.document(tenant, id).await?;
        Ok(self.stores.repository.audit(tenant, id).await?)
    }

    /// The stored PDF and its file name.
    pub async fn pdf(&self, tenant: &Id, id: &Id) -> Result<(String, Vec<u8>), AppError> {
        let doc = self.document(tenant, id).await?;
        let bytes = self
            .stores
            .files
            .file(&pdf_key(&doc.content))
            .await?
            .ok_or_else(|| {
                AppError::not_found(
                    "pdf_not_ready",
                    "the PDF is not rendered yet; try again shortly",
                )
            })?;
        Ok((pdf_file_name(&doc.content), bytes))
    }

    /// The contract PDF of a final invoice.
    pub async fn contract(&self, tenant: &Id, id: &Id) -> Result<(String, Vec<u8>), AppError> {
        let doc = self.document(tenant, id).await?;
        let bytes = self
            .stores
            .files
            .file(&contract_key(&doc.content))
            .await?
            .ok_or_else(|| {
                AppError::not_found("contract_not_found", "this document has no contract")
            })?;
        Ok((contract_file_name(&doc.content), bytes))
    }

    /// The document as EN 16931 XML: the stored original where it was issued with XML in that
    /// syntax; otherwise written from the document (deterministic, same data). Proformas and
    /// drafts have none.
    pub async fn xml(
        &self,
        tenant: &Id,
        id: &Id,
        syntax: XmlSyntax,
    ) -> Result<(String, Vec<u8>), AppError> {
        let doc = self.document(tenant, id).await?;
        let inv = &doc.content;
        if !inv.kind.is_tax_document() || !doc.lifecycle.is_issued() {
            return Err(AppError::not_found(
                "no_einvoice",
                format!(
                    "a {} {} has no e-invoice",
                    doc.lifecycle.as_str(),
                    inv.kind.as_str()
                ),
            ));
        }
        let name = xml_file_name(inv);
        if syntax == XmlSyntax::Cii
            && inv.einvoice.has_xml()
            && let Some(bytes) = self.stores.files.file(&xml_key(inv)).await?
        {
            return Ok((name, bytes));
        }
        Ok((name, self.einvoice.xml(inv, syntax)))
    }

    /// A customer's billable items, oldest first.
    pub async fn items(
        &self,
        tenant: &Id,
        key: &str,
    ) -> Result<Vec<crate::collective::BillableItem>, AppError> {
        if self
            .stores
            .repository
            .customer(tenant, key)
            .await?
            .is_none()
        {
            return Err(AppError::not_found(
                "customer_not_found",
                "no such customer",
            ));
        }
        Ok(self
            .stores
            .repository
            .billable_items(tenant, key, false)
            .await?)
    }

    pub async fn customer(&self, tenant: &Id, key: &str) -> Result<CustomerAccount, AppError> {
        let customer = self
            .stores
            .repository
            .customer(tenant, key)
            .await?
            .ok_or_else(|| AppError::not_found("customer_not_found", "no such customer"))?;
        let ledger = self.stores.repository.ledger(tenant, key).await?;
        let balance = balance(&ledger);
        let dunning_paused = self
            .stores
            .repository
            .dunning_hold(tenant, key)
            .await?
            .is_some_and(|h| h.paused);
        Ok(CustomerAccount {
            customer,
            ledger,
            balance,
            dunning_paused,
        })
    }

    pub async fn customers(
        &self,
        tenant: &Id,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<CustomerPage, AppError> {
        Ok(self
            .stores
            .repository
            .customers(tenant, cursor, limit)
            .await?)
    }

    pub async fn booking(&self, tenant: &Id, id: &Id) -> Result<BookingRecord, AppError> {
        self.stores
            .repository
            .booking(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found("booking_not_found", format!("no booking '{id}'")))
    }

    pub async fn job(&self, tenant: &Id, id: &Id) -> Result<Job, AppError> {
        self.stores
            .jobs
            .job(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found("job_not_found", format!("no job '{id}'")))
    }

    pub async fn jobs(
        &self,
        tenant: &Id,
        state: Option<JobState>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<JobPage, AppError> {
        Ok(self.stores.jobs.jobs(tenant, state, cursor, limit).await?)
    }

    pub async fn schedule(&self, tenant: &Id, id: &Id) -> Result<Schedule, AppError> {
        self.stores
            .repository
            .schedule(tenant, id)
            .await?
            .ok_or_else(|| AppError::not_found("schedule_not_found", format!("no schedule '{id}'")))
    }

    pub async fn schedules(
        &self,
        tenant: &Id,
        filter: &ScheduleFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<SchedulePage, AppError> {
        Ok(self
            .stores
            .repository
            .schedules(tenant, filter, cursor, limit)
            .await?)
    }

    /// The next `count` occurrences of a schedule as they would be billed now.
    pub async fn preview(
        &self,
        tenant: &Id,
        id: &Id,
        count: usize,
    ) -> Result<Vec<super::schedules::Occurrence>, AppError> {
        let schedule = self.schedule(tenant, id).await?;
        let tenant = super::tenant(&self.stores, tenant).await?;
        super::schedules::preview(&self.stores, &tenant, &schedule, count).await
    }
}
