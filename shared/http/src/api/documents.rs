//! `/v1/invoices…` and `/v1/credit-notes`: documents of every kind, their files and audit
//! trail, and the writes on them.

use std::str::FromStr;

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use faktura_domain::booking::PaymentFact;
use faktura_domain::document::{Lifecycle, PaymentState};
use faktura_domain::error::{AppError, ErrorKind};
use faktura_domain::model::DocumentKind;
use faktura_domain::money::{Amount, Currency, ValueError, shorten};
use faktura_domain::ports::{DocumentFilter, XmlSyntax};
use faktura_domain::service::commands::Command;
use faktura_domain::values::{EmailAddress, Id};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;

use super::{answer, authenticate, bad_query, idempotency, inline, json_response, limit, path_id};
use crate::AppState;
use crate::dto::ErrorBody;
use crate::dto::booking::{WireBooking, WireCustomer, WireItem, booking, instant, optional_text};
use crate::dto::documents::{
    AuditEntryDto, AuditListDto, CancelRequest, CreditNoteListDto, CreditNoteRequest, DocumentDto,
    DocumentListDto, DocumentRequest, DunningRequest, PaymentRequest, RefundRequest, SendRequest,
};
use crate::error::ApiError;
use crate::extract::{Params, PathParam, read_body, require_json};
use crate::guard::RequestId;

fn doc_id(raw: &str) -> Result<Id, AppError> {
    path_id(raw, "invoice_not_found")
}

/// Parses a JSON body into `T`, with schema errors naming the field.
pub(crate) fn body_json<T: DeserializeOwned + utoipa::ToSchema>(
    bytes: &[u8],
) -> Result<T, AppError> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        AppError::new(
            ErrorKind::BadRequest,
            "invalid_json",
            "the body is not UTF-8",
        )
    })?;
    let text = if text.trim().is_empty() { "{}" } else { text };
    crate::dto::booking::from_json_object(text, "")
}

fn date_param(params: &Params, name: &str) -> Result<Option<NaiveDate>, AppError> {
    params
        .get(name)
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                bad_query(name, format!("'{}' is not a date (YYYY-MM-DD)", shorten(v)))
            })
        })
        .transpose()
}

fn filter(params: &Params, today: NaiveDate) -> Result<DocumentFilter, AppError> {
    let one_of = |name: &str, value: &str, allowed: &str| {
        bad_query(
            name,
            format!("'{}' is not one of {allowed}", shorten(value)),
        )
    };
    let mut f = DocumentFilter::default();
    if let Some(k) = params.get("kind") {
        f.kind = Some(
            DocumentKind::parse(k)
                .ok_or_else(|| one_of("kind", k, "invoice, proforma, credit_note, reminder"))?,
        );
    }
    if let Some(l) = params.get("lifecycle") {
        f.lifecycle = Some(Lifecycle::parse(l).ok_or_else(|| {
            one_of(
                "lifecycle",
                l,
                "draft, issued, partially_credited, cancelled, voided, converted",
            )
        })?);
    }
    if let Some(p) = params.get("payment") {
        f.payment = Some(PaymentState::parse(p).ok_or_else(|| {
            one_of(
                "payment",
                p,
                "open, partially_paid, paid, overpaid, nothing_due",
            )
        })?);
    }
    if let Some(d) = params.get("delivery") {
        if !["pending", "sent", "failed"].contains(&d) {
            return Err(one_of("delivery", d, "pending, sent, failed"));
        }
        f.delivery = Some(d.to_string());
    }
    // Release 1's filter: issued (not sent yet) or sent.
    if let Some(s) = params.get("status") {
        f.delivery = Some(match s {
            "sent" => "sent".to_string(),
            "issued" => "pending".to_string(),
            other => return Err(one_of("status", other, "issued, sent")),
        });
    }
    match params.get("overdue") {
        None | Some("false") => {}
        Some("true") => f.overdue_on = Some(today),
        Some(other) => return Err(one_of("overdue", other, "true, false")),
    }
    if let Some(c) = params.get("customer") {
        f.customer_key = Some(customer_key(c));
    }
    if let Some(b) = params.get("booking") {
        f.booking_id = Some(
            b.parse()
                .map_err(|_| bad_query("booking", "not a booking id"))?,
        );
    }
    if let Some(d) = params.get("dunning") {
        f.dunning = Some(
            faktura_domain::dunning::DunningState::parse(d)
                .ok_or_else(|| one_of("dunning", d, "none, active, paused, exhausted"))?,
        );
    }
    f.from = date_param(params, "from")?;
    f.to = date_param(params, "to")?;
    Ok(f)
}

/// A customer named in the API: `ext:…`/`email:…`, an email address, or the platform's id.
pub fn customer_key(c: &str) -> String {
    if c.starts_with("ext:") || c.starts_with("email:") {
        c.to_string()
    } else if c.contains('@') {
        format!("email:{}", c.to_lowercase())
    } else {
        format!("ext:{c}")
    }
}

/// List documents: every kind (filter with `kind`), oldest first.
#[utoipa::path(get, path = "/v1/invoices", operation_id = "list_documents", tag = "documents",
    params(
        ("kind" = Option<String>, Query, description = "invoice, proforma, credit_note or reminder"),
        ("lifecycle" = Option<String>, Query, description = "draft, issued, partially_credited, cancelled, voided, converted"),
        ("payment" = Option<String>, Query, description = "open, partially_paid, paid, overpaid, nothing_due"),
        ("delivery" = Option<String>, Query, description = "pending, sent, failed"),
        ("status" = Option<String>, Query, description = "release 1: issued or sent"),
        ("overdue" = Option<bool>, Query),
        ("dunning" = Option<String>, Query, description = "none, active, paused or exhausted"),
        ("customer" = Option<String>, Query, description = "a customer id, email or platform id"),
        ("booking" = Option<String>, Query),
        ("from" = Option<String>, Query, description = "issue date YYYY-MM-DD (inclusive)"),
        ("to" = Option<String>, Query, description = "issue date YYYY-MM-DD (inclusive)"),
        ("limit" = Option<u32>, Query, description = "1 to 200"),
        ("cursor" = Option<String>, Query),
    ),
    responses((status = 200, body = DocumentListDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let today = c.today(&state);
    let f = filter(&params, today)?;
    let page = state
        .queries
        .documents(&c.tenant, &f, params.get("cursor"), limit(&params)?)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &DocumentListDto {
            invoices: page
                .documents
                .iter()
                .map(|d| DocumentDto::new(d, today))
                .collect(),
            next_cursor: page.next_cursor,
        },
    ))
}

/// List credit notes (the same filters).
#[utoipa::path(get, path = "/v1/credit-notes", operation_id = "list_credit_notes", tag = "documents",
    params(("customer" = Option<String>, Query), ("from" = Option<String>, Query), ("to" = Option<String>, Query),
           ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = CreditNoteListDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn credit_notes(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let today = c.today(&state);
    let mut f = filter(&params, today)?;
    f.kind = Some(DocumentKind::CreditNote);
    let page = state
        .queries
        .documents(&c.tenant, &f, params.get("cursor"), limit(&params)?)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &CreditNoteListDto {
            credit_notes: page
                .documents
                .iter()
                .map(|d| DocumentDto::new(d, today))
                .collect(),
            next_cursor: page.next_cursor,
        },
    ))
}

/// One document with its facets.
#[utoipa::path(get, path = "/v1/invoices/{id}", operation_id = "get_document", tag = "documents", params(("id" = String, Path)),
    responses((status = 200, body = DocumentDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let doc = state.queries.document(&c.tenant, &doc_id(&id)?).await?;
    Ok(json_response(
        StatusCode::OK,
        &DocumentDto::new(&doc, c.today(&state)),
    ))
}

/// The document's audit trail: every change, when, and what caused it.
#[utoipa::path(get, path = "/v1/invoices/{id}/events", operation_id = "get_document_events", tag = "documents", params(("id" = String, Path)),
    responses((status = 200, body = AuditListDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn events(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let entries = state.queries.audit(&c.tenant, &doc_id(&id)?).await?;
    Ok(json_response(
        StatusCode::OK,
        &AuditListDto {
            events: entries.iter().map(AuditEntryDto::from).collect(),
        },
    ))
}

fn file(content_type: &'static str, file_name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, inline(file_name)),
        ],
        bytes,
    )
        .into_response()
}

/// The stored PDF.
#[utoipa::path(get, path = "/v1/invoices/{id}/pdf", operation_id = "get_document_pdf", tag = "documents", params(("id" = String, Path)),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn pdf(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let (name, bytes) = state.queries.pdf(&c.tenant, &doc_id(&id)?).await?;
    Ok(file("application/pdf", &name, bytes))
}

/// The contract mailed with a final invoice.
#[utoipa::path(get, path = "/v1/invoices/{id}/contract", operation_id = "get_document_contract", tag = "documents", params(("id" = String, Path)),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn contract(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let (name, bytes) = state.queries.contract(&c.tenant, &doc_id(&id)?).await?;
    Ok(file("application/pdf", &name, bytes))
}

/// The e-invoice XML: `?syntax=cii` (default; the stored legal original for ZUGFeRD and
/// XRechnung documents) or `?syntax=ubl`.
#[utoipa::path(get, path = "/v1/invoices/{id}/xml", operation_id = "get_document_xml", tag = "documents",
    params(("id" = String, Path), ("syntax" = Option<String>, Query, description = "cii or ubl")),
    responses((status = 200, content_type = "application/xml", body = String), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn xml(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let syntax = match params.get("syntax") {
        None | Some("cii") => XmlSyntax::Cii,
        Some("ubl") => XmlSyntax::Ubl,
        Some(other) => {
            return Err(bad_query(
                "syntax",
                format!("'{}' is not one of cii, ubl", shorten(other)),
            )
            .into());
        }
    };
    let (name, bytes) = state.queries.xml(&c.tenant, &doc_id(&id)?, syntax).await?;
    let name = match syntax {
        XmlSyntax::Cii => name,
        XmlSyntax::Ubl => name.replace(".xml", ".ubl.xml"),
    };
    Ok(file("application/xml", &name, bytes))
}

/// What a write route is: its method and path (the idempotency key's scope), the status of
/// success, and whether it takes a JSON body.
pub(crate) struct WriteRoute<'a> {
    pub method: &'static str,
    pub path: &'a str,
    pub ok: StatusCode,
    pub json: bool,
}

/// Every write route: the body read within its bound (JSON where the route takes it), the
/// caller authenticated, the idempotency key checked, then the command `build` makes of the
/// body run as one change.
pub(crate) async fn write(
    state: &AppState,
    request_id: &RequestId,
    headers: &HeaderMap,
    body: Body,
    route: WriteRoute<'_>,
    build: impl FnOnce(&[u8]) -> Result<Command, AppError>,
) -> Result<Response, ApiError> {
    let bytes = read_body(headers, body).await?;
    if route.json {
        require_json(headers)?;
    }
    let caller = authenticate(state, headers, Some(request_id)).await?;
    let today = caller.today(state);
    let idem = idempotency(headers, route.method, route.path, &bytes, route.ok, today)?;
    let command = match build(&bytes) {
        Ok(c) => c,
        Err(e) => {
            let answered = state.commands.refuse(&caller.tenant, idem, e).await?;
            return Ok(answer(answered, route.ok, today));
        }
    };
    let answered = state
        .commands
        .run(&caller.tenant, command, &caller.cause, idem)
        .await?;
    Ok(answer(answered, route.ok, today))
}

/// The content an API write describes (a customer and items, as in the webhook), checked as
/// a booking's is; the fields are named as in the request.
pub(crate) fn api_content(
    currency: String,
    prices: Option<String>,
    customer: WireCustomer,
    items: Vec<WireItem>,
    reference: Option<String>,
    note: Option<String>,
) -> Result<faktura_domain::booking::Booking, AppError> {
    let wire = WireBooking {
        id: Id::generate("api").as_str().to_string(),
        booked_at: Utc::now().to_rfc3339(),
        billing: None,
        currency,
        prices,
        customer,
        items,
        reference,
        note,
    };
    booking(wire, "")
}

fn document_command(req: DocumentRequest, id: Option<Id>) -> Result<Command, AppError> {
    let kind = match req.kind.as_deref() {
        None | Some("invoice") => DocumentKind::Invoice,
        Some("proforma") => DocumentKind::Proforma,
        Some(other) => {
            return Err(AppError::invalid(
                "kind",
                format!("'{}' must be 'invoice' or 'proforma'", shorten(other)),
            ));
        }
    };
    let content = api_content(
        req.currency,
        req.prices,
        req.customer,
        req.items,
        req.reference,
        req.note,
    )?;
    Ok(match id {
        None => Command::Create {
            kind,
            content,
            draft: req.draft.unwrap_or(false),
        },
        Some(id) => Command::ChangeDraft { id, content },
    })
}

/// Create an invoice or proforma (issued at once, or a draft).
#[utoipa::path(post, path = "/v1/invoices", operation_id = "create_document", tag = "documents", request_body = DocumentRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = DocumentDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let route = WriteRoute {
        method: "POST",
        path: "/v1/invoices",
        ok: StatusCode::CREATED,
        json: true,
    };
    write(&state, &request_id, &headers, body, route, |bytes| {
        body_json::<DocumentRequest>(bytes).and_then(|r| document_command(r, None))
    })
    .await
}

/// Change a draft (the whole content again).
#[utoipa::path(patch, path = "/v1/invoices/{id}", operation_id = "change_draft", tag = "documents", request_body = DocumentRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = DocumentDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn change(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let path = format!("/v1/invoices/{id}");
    let route = WriteRoute {
        method: "PATCH",
        path: &path,
        ok: StatusCode::OK,
        json: true,
    };
    write(&state, &request_id, &headers, body, route, |bytes| {
        doc_id(&id).and_then(|id| {
            body_json::<DocumentRequest>(bytes).and_then(|r| document_command(r, Some(id)))
        })
    })
    .await
}

/// Issue a draft: it gets its number and is rendered and mailed.
#[utoipa::path(post, path = "/v1/invoices/{id}/issue", operation_id = "issue_draft", tag = "documents",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = DocumentDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn issue(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let path = format!("/v1/invoices/{id}/issue");
    let route = WriteRoute {
        method: "POST",
        path: &path,
        ok: StatusCode::OK,
        json: false,
    };
    write(&state, &request_id, &headers, body, route, |_| {
        doc_id(&id).map(|id| Command::Issue { id })
    })
    .await
}

/// Cancel: an invoice by a credit note for all that is left of it (201, the credit note); a
/// proforma is voided (200).
#[utoipa::path(post, path = "/v1/invoices/{id}/cancel", operation_id = "cancel_document", tag = "documents", request_body = CancelRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = DocumentDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let path = format!("/v1/invoices/{id}/cancel");
    let route = WriteRoute {
        method: "POST",
        path: &path,
        ok: StatusCode::CREATED,
        json: true,
    };
    write(&state, &request_id, &headers, body, route, |bytes| {
        doc_id(&id).and_then(|id| {
            let req: CancelRequest = body_json(bytes)?;
            Ok(Command::Cancel {
                id,
                reason: optional_text("reason", req.reason, 500, true)?,
            })
        })
    })
    .await
}

/// A credit note for some lines of an invoice (never more than was invoiced).
#[utoipa::path(post, path = "/v1/invoices/{id}/credit-notes", operation_id = "create_credit_note", tag = "documents", request_body = CreditNoteRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = DocumentDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn credit_note(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let path = format!("/v1/invoices/{id}/credit-notes");
    let route = WriteRoute {
        method: "POST",
        path: &path,
        ok: StatusCode::CREATED,
        json: true,
    };
    write(&state, &request_id, &headers, body, route, |bytes| {
        doc_id(&id).and_then(|id| {
            let req: CreditNoteRequest = body_json(bytes)?;
            if req.items.is_empty() {
                return Err(AppError::invalid(
                    "items",
                    "name at least one line to credit",
                ));
            }
            let lines = req
                .items
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let field = format!("items[{i}].quantity");
                    let q = l.quantity.parse(&field, 4)?;
                    if q <= Decimal::ZERO {
                        return Err(AppError::invalid(field, "must be greater than zero"));
                    }
                    Ok((l.position, q))
                })
                .collect::<Result<Vec<_>, AppError>>()?;
            Ok(Command::CreditNote {
                id,
                lines,
                reason: optional_text("reason", req.reason, 500, true)?,
            })
        })
    })
    .await
}

fn positive_amount(
    field: &str,
    value: &crate::dto::booking::ExactDecimal,
) -> Result<Amount, AppError> {
    let d = value.parse(field, 2)?;
    if d <= Decimal::ZERO {
        return Err(AppError::invalid(field, "a positive amount"));
    }
    Ok(Amount::round(d))
}

/// Record a payment (partial, full or over: the surplus is customer credit).
#[utoipa::path(post, path = "/v1/invoices/{id}/payments", operation_id = "record_payment", tag = "documents", request_body = PaymentRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = DocumentDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn payment(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let path = format!("/v1/invoices/{id}/payments");
    let now = state.clock.now();
    let route = WriteRoute {
        method: "POST",
        path: &path,
        ok: StatusCode::CREATED,
        json: true,
    };
    write(&state, &request_id, &headers, body, route, |bytes| {
        doc_id(&id).and_then(|id| {
            let req: PaymentRequest = body_json(bytes)?;
            let amount = positive_amount("amount", &req.amount)?;
            let currency = Currency::from_str(&req.currency).map_err(|e: ValueError| {
                AppError::new(ErrorKind::Unprocessable, "unknown_currency", e.0)
                    .with_field("currency")
            })?;
            let paid_at = match req.paid_at.as_deref() {
                None => now,
                Some(t) => instant("paid_at", t)?,
            };
            Ok(Command::Payment {
                id,
                payment: PaymentFact {
                    paid_at,
                    amount,
                    currency,
                    method: optional_text("method", req.method, 100, false)?,
                    reference: optional_text("reference", req.reference, 200, false)?,
                },
            })
        })
    })
    .await
}

/// Record a refund: money paid back out of the customer's credit on this invoice.
#[utoipa::path(post, path = "/v1/invoices/{id}/refunds", operation_id = "record_refund", tag = "documents", request_body = RefundRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = DocumentDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn refund(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let path = format!("/v1/invoices/{id}/refunds");
    let now = state.clock.now();
    let route = WriteRoute {
        method: "POST",
        path: &path,
        ok: StatusCode::CREATED,
        json: true,
    };
    write(&state, &request_id, &headers, body, route, |bytes| {
        doc_id(&id).and_then(|id| {
            let req: RefundRequest = body_json(bytes)?;
            Ok(Command::Refund {
                id,
                amount: positive_amount("amount", &req.amount)?,
                reference: optional_text("reference", req.reference, 200, false)?,
                at: now,
            })
        })
    })
    .await
}

/// Pause or resume an invoice's dunning. Resuming sends the next level on its day (at once
/// when that day passed during the pause).
#[utoipa::path(post, path = "/v1/invoices/{id}/dunning", operation_id = "pause_or_resume_dunning", tag = "documents", request_body = DunningRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = DocumentDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn dunning(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let path = format!("/v1/invoices/{id}/dunning");
    let route = WriteRoute {
        method: "POST",
        path: &path,
        ok: StatusCode::OK,
        json: true,
    };
    write(&state, &request_id, &headers, body, route, |bytes| {
        doc_id(&id).and_then(|id| {
            let req: DunningRequest = body_json(bytes)?;
            Ok(Command::Dunning {
                id,
                paused: req.paused()?,
            })
        })
    })
    .await
}

/// Mail the document again (to the customer, or to other addresses).
#[utoipa::path(post, path = "/v1/invoices/{id}/send", operation_id = "send_document", tag = "documents", request_body = SendRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 202, body = crate::dto::jobs::JobDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn send(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let path = format!("/v1/invoices/{id}/send");
    let route = WriteRoute {
        method: "POST",
        path: &path,
        ok: StatusCode::ACCEPTED,
        json: true,
    };
    write(&state, &request_id, &headers, body, route, |bytes| {
        doc_id(&id).and_then(|id| {
            let req: SendRequest = body_json(bytes)?;
            let to = req
                .to
                .unwrap_or_default()
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    a.parse::<EmailAddress>()
                        .map_err(|e| AppError::invalid(format!("to[{i}]"), e.0))
                })
                .collect::<Result<Vec<_>, AppError>>()?;
            if to.len() > 10 {
                return Err(AppError::invalid("to", "at most 10 addresses"));
            }
            Ok(Command::Send { id, to })
        })
    })
    .await
}
