//! `/v1/customers`: customers with their balance and ledger.

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use faktura_domain::error::AppError;
use faktura_domain::model::{Customer, EInvoiceFormat};
use faktura_domain::money::shorten;
use faktura_domain::service::commands::Command;
use faktura_domain::values::{CountryCode, EmailAddress, Language, VatId};

use super::documents::customer_key;
use super::{answer, authenticate, idempotency, json_response, limit};
use crate::AppState;
use crate::dto::ErrorBody;
use crate::dto::customers::{CustomerAccountDto, CustomerDto, CustomerListDto, CustomerRequest};
use crate::error::ApiError;
use crate::extract::{Params, PathParam, read_body, require_json};
use crate::guard::RequestId;

/// List customers (by id).
#[utoipa::path(get, path = "/v1/customers", operation_id = "list_customers", tag = "customers",
    params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = CustomerListDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let page = state
        .queries
        .customers(&c.tenant, params.get("cursor"), limit(&params)?)
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &CustomerListDto {
            customers: page.customers.iter().map(CustomerDto::from).collect(),
            next_cursor: page.next_cursor,
        },
    ))
}

/// A customer with balance and ledger.
#[utoipa::path(get, path = "/v1/customers/{id}", operation_id = "get_customer", tag = "customers", params(("id" = String, Path, description = "ext:<id>, email:<address>, an email or a platform id")),
    responses((status = 200, body = CustomerAccountDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let account = state
        .queries
        .customer(&c.tenant, &customer_key(&id))
        .await?;
    Ok(json_response(
        StatusCode::OK,
        &CustomerAccountDto::from(&account),
    ))
}

/// Replace a customer's data (applies to documents issued from now on).
#[utoipa::path(put, path = "/v1/customers/{id}", operation_id = "put_customer", tag = "customers", request_body = CustomerRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CustomerDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn put(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&headers, body).await?;
    require_json(&headers)?;
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let today = c.today(&state);
    let path = format!("/v1/customers/{id}");
    let idem = idempotency(&headers, "PUT", &path, &bytes, StatusCode::OK, today)?;
    let key = customer_key(&id);
    let existing = state.queries.customer(&c.tenant, &key).await;
    let customer = customer(
        &bytes,
        &key,
        state.clock.now(),
        existing.ok().map(|a| a.customer),
    )?;
    let answered = state
        .commands
        .run(&c.tenant, Command::PutCustomer { customer }, &c.cause, idem)
        .await?;
    Ok(answer(answered, StatusCode::OK, today))
}

/// Pause or resume the dunning of all of a customer's invoices (also those issued later).
/// While paused, reminders wait; from the day the pause ends they go on, each level on its
/// day (a level that came due meanwhile goes out then).
#[utoipa::path(post, path = "/v1/customers/{id}/dunning", operation_id = "pause_or_resume_customer_dunning", tag = "customers", request_body = crate::dto::documents::DunningRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = crate::dto::customers::DunningHoldDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn dunning(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(&headers, body).await?;
    require_json(&headers)?;
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let today = c.today(&state);
    let path = format!("/v1/customers/{id}/dunning");
    let idem = idempotency(&headers, "POST", &path, &bytes, StatusCode::OK, today)?;
    let text = std::str::from_utf8(&bytes).unwrap_or("");
    let r: crate::dto::documents::DunningRequest = crate::dto::booking::from_json_object(text, "")?;
    let paused = r.paused()?;
    let answered = state
        .commands
        .run(
            &c.tenant,
            Command::CustomerDunning {
                customer_key: customer_key(&id),
                paused,
            },
            &c.cause,
            idem,
        )
        .await?;
    Ok(answer(answered, StatusCode::OK, today))
}

fn customer(
    bytes: &[u8],
    key: &str,
    now: chrono::DateTime<chrono::Utc>,
    existing: Option<Customer>,
) -> Result<Customer, AppError> {
    let text = std::str::from_utf8(bytes).unwrap_or("");
    let r: CustomerRequest = crate::dto::booking::from_json_object(text, "")?;
    let existing = existing.ok_or_else(|| {
        AppError::not_found(
            "customer_not_found",
            "no such customer; customers come with their first document",
        )
    })?;
    let limited = |field: &str, v: String, max: usize| -> Result<String, AppError> {
        let v = v.trim().to_string();
        if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
            Err(AppError::invalid(
                field,
                format!("1 to {max} characters, no control characters"),
            ))
        } else {
            Ok(v)
        }
    };
    let optional =
        |field: &str, v: Option<String>, max: usize| -> Result<Option<String>, AppError> {
            match v {
                Some(v) if !v.trim().is_empty() => limited(field, v, max).map(Some),
                _ => Ok(None),
            }
        };
    Ok(Customer {
        key: key.to_string(),
        external_id: existing.external_id,
        name: limited("name", r.name, 200)?,
        company: optional("company", r.company, 200)?,
        email: r
            .email
            .parse::<EmailAddress>()
            .map_err(|e| AppError::invalid("email", e.0))?,
        language: match r.language.as_deref() {
            None => existing.language,
            Some(l) => l
                .parse::<Language>()
                .map_err(|e| AppError::invalid("language", e.0))?,
        },
        vat_id: match r.vat_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(
                v.parse::<VatId>()
                    .map_err(|e| AppError::invalid("vat_id", e.0))?,
            ),
        },
        address: faktura_domain::model::PostalAddress {
            line1: limited("address.line1", r.address.line1, 200)?,
            line2: optional("address.line2", r.address.line2, 200)?,
            postal_code: limited("address.postal_code", r.address.postal_code, 20)?,
            city: limited("address.city", r.address.city, 100)?,
            country: r
                .address
                .country
                .parse::<CountryCode>()
                .map_err(|e| AppError::invalid("address.country", e.0))?,
        },
        einvoice: match r.einvoice.as_deref() {
            None => None,
            Some("pdf") => Some(EInvoiceFormat::Pdf),
            Some("zugferd") => Some(EInvoiceFormat::Zugferd),
            Some("xrechnung") => Some(EInvoiceFormat::Xrechnung),
            Some(other) => {
                return Err(AppError::invalid(
                    "einvoice",
                    format!(
                        "'{}' must be one of pdf, zugferd, xrechnung",
                        shorten(other)
                    ),
                ));
            }
        },
        leitweg_id: match r.leitweg_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(
                faktura_domain::values::leitweg_id(v)
                    .map_err(|e| AppError::invalid("leitweg_id", e.0))?,
            ),
        },
        updated_at: now,
    })
}
