//! Bank statements in (`POST /v1/bank-statements`: CAMT.053 or MT940 as the bank gave it)
//! and the transactions they held (`/v1/bank-transactions`): each is recorded once, matched
//! payments are recorded on their invoices, the rest waits in the review list
//! (`?state=unmatched`) until assigned.

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use faktura_domain::bank::TransactionStateKind;
use faktura_domain::error::{AppError, ErrorKind};
use faktura_domain::money::Amount;

use super::documents::body_json;
use super::{authenticate, bad_query, json_response, limit, path_id, query_choice};
use crate::AppState;
use crate::dto::ErrorBody;
use crate::dto::bank::{AssignRequest, BankTransactionDto, BankTransactionListDto, ImportDto};
use crate::error::ApiError;
use crate::extract::{Params, PathParam, read_body_within};
use crate::guard::RequestId;

/// The largest statement file taken over HTTP (API Gateway takes 10 MB; larger files go
/// through the bucket's inbox).
pub const MAX_STATEMENT_BYTES: usize = 8 * 1024 * 1024;

/// The summary of an import, as answered (and printed by `faktura import`).
pub fn import_dto(summary: &faktura_domain::service::banking::ImportSummary) -> ImportDto {
    let count = |k: TransactionStateKind| {
        summary
            .transactions
            .iter()
            .filter(|t| t.state.kind() == k)
            .count()
    };
    ImportDto {
        statements: summary.statements,
        imported: summary.transactions.len() - summary.duplicates,
        duplicates: summary.duplicates,
        matched: count(TransactionStateKind::Matched),
        unmatched: count(TransactionStateKind::Unmatched),
        ignored: count(TransactionStateKind::Ignored),
        transactions: summary
            .transactions
            .iter()
            .map(BankTransactionDto::from)
            .collect(),
    }
}

/// Import a bank statement: CAMT.053 (`camt.053.001.02` and later) or MT940, as the bank
/// exported it (body up to 8 MiB, any content type). Every transaction is recorded once
/// (importing the same or an overlapping statement again records nothing new); credits are
/// matched to open invoices by RF reference, invoice number in the text, end-to-end id, then
/// amount and payer name, and recorded as their payments; the rest waits for review.
#[utoipa::path(post, path = "/v1/bank-statements", operation_id = "import_bank_statement", tag = "bank",
    request_body(content = String, description = "The statement file (CAMT.053 XML or MT940)", content_type = "application/xml"),
    responses((status = 200, body = ImportDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn import(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let bytes = read_body_within(&headers, body, MAX_STATEMENT_BYTES).await?;
    let statements = faktura_bank::parse(&bytes).map_err(|e| {
        AppError::new(ErrorKind::Unprocessable, "invalid_statement", e.message).with_field("body")
    })?;
    let summary = state
        .banking
        .import(&c.tenant, &statements, &c.cause)
        .await?;
    Ok(json_response(StatusCode::OK, &import_dto(&summary)))
}

/// The imported transactions in import order; `state=unmatched` is the review list.
#[utoipa::path(get, path = "/v1/bank-transactions", operation_id = "list_bank_transactions", tag = "bank",
    params(("state" = Option<String>, Query, description = "matched, unmatched, ignored"),
           ("limit" = Option<usize>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = BankTransactionListDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let wanted = query_choice(
        &params,
        "state",
        TransactionStateKind::parse,
        "matched, unmatched, ignored",
    )?;
    let limit = limit(&params)?;
    let all = state.banking.transactions(&c.tenant, wanted).await?;
    // The cursor is the id of the last transaction of the previous page.
    let start = match params.get("cursor") {
        None => 0,
        Some(cursor) => all
            .iter()
            .position(|t| t.id.as_str() == cursor)
            .map(|i| i + 1)
            .ok_or_else(|| bad_query("cursor", "not a cursor of this list"))?,
    };
    let page: Vec<_> = all.iter().skip(start).take(limit).collect();
    let next_cursor = (start + page.len() < all.len())
        .then(|| page.last().map(|t| t.id.to_string()))
        .flatten();
    Ok(json_response(
        StatusCode::OK,
        &BankTransactionListDto {
            transactions: page.into_iter().map(BankTransactionDto::from).collect(),
            next_cursor,
        },
    ))
}

/// One imported transaction.
#[utoipa::path(get, path = "/v1/bank-transactions/{id}", operation_id = "get_bank_transaction", tag = "bank",
    params(("id" = String, Path)),
    responses((status = 200, body = BankTransactionDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let id = path_id(&id, "bank_transaction_not_found")?;
    let t = state.banking.transaction(&c.tenant, &id).await?;
    Ok(json_response(StatusCode::OK, &BankTransactionDto::from(&t)))
}

/// Assign a transaction of the review list to the invoice it pays (all of it, or `amount`):
/// the payment is recorded on the invoice (which stops its dunning). Assigning again, or a
/// matched transaction, is a `409`.
#[utoipa::path(post, path = "/v1/bank-transactions/{id}/assign", operation_id = "assign_bank_transaction", tag = "bank",
    request_body = AssignRequest, params(("id" = String, Path)),
    responses((status = 200, body = BankTransactionDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn assign(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    crate::extract::require_json(&headers)?;
    let bytes = crate::extract::read_body(&headers, body).await?;
    let id = path_id(&id, "bank_transaction_not_found")?;
    let r: AssignRequest = body_json(&bytes)?;
    let document = |field: &str, text: &str| -> Result<faktura_domain::values::Id, AppError> {
        text.parse()
            .map_err(|_| AppError::invalid(field, "not a document id"))
    };
    let parts = match (r.invoice_id, r.allocations) {
        (Some(invoice), None) => {
            let amount = r
                .amount
                .as_ref()
                .map(|a| a.parse("amount", 2).map(Amount::round))
                .transpose()?;
            vec![(document("invoice_id", &invoice)?, amount)]
        }
        (None, Some(list)) if r.amount.is_none() => list
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Ok((
                    document(&format!("allocations[{i}].invoice_id"), &p.invoice_id)?,
                    Some(Amount::round(
                        p.amount.parse(&format!("allocations[{i}].amount"), 2)?,
                    )),
                ))
            })
            .collect::<Result<Vec<_>, AppError>>()?,
        _ => {
            return Err(AppError::invalid(
                "invoice_id",
                "give invoice_id (and amount), or allocations",
            )
            .into());
        }
    };
    let t = state
        .banking
        .assign_parts(&c.tenant, &id, &parts, &c.cause)
        .await?;
    Ok(json_response(StatusCode::OK, &BankTransactionDto::from(&t)))
}
