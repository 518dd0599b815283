//! Billable items (`/v1/customers/{id}/items`) and collective invoices
//! (`/v1/collective-invoices`): items collected per customer, combined into a draft that is
//! issued on its send date (or approved with `POST /v1/invoices/{id}/issue`).

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::NaiveDate;
use faktura_domain::booking::Booking;
use faktura_domain::collective::MAX_ITEMS_PER_INVOICE;
use faktura_domain::error::{AppError, ErrorKind};
use faktura_domain::ports::DocumentFilter;
use faktura_domain::service::commands::{Command, ItemChange};
use faktura_domain::values::Id;

use super::documents::{WriteRoute, body_json, customer_key, write};
use super::{authenticate, bad_query, json_response, limit, path_id};
use crate::AppState;
use crate::dto::ErrorBody;
use crate::dto::booking::{currency_and_prices, date, items, optional_text};
use crate::dto::collective::{
    CollectiveChangeRequest, CollectiveRequest, ItemChangeRequest, ItemDto, ItemListDto,
    ItemsRequest,
};
use crate::dto::documents::{DocumentDto, DocumentListDto};
use crate::error::ApiError;
use crate::extract::{Params, PathParam, PathParams2};
use crate::guard::RequestId;

fn item_ids(ids: Vec<String>) -> Result<Vec<Id>, AppError> {
    if ids.len() > MAX_ITEMS_PER_INVOICE {
        return Err(AppError::invalid(
            "items",
            format!("a collective invoice bills at most {MAX_ITEMS_PER_INVOICE} items"),
        ));
    }
    ids.iter()
        .enumerate()
        .map(|(i, s)| {
            s.parse::<Id>()
                .map_err(|e| AppError::invalid(format!("items[{i}]"), e.0))
        })
        .collect()
}

fn send_date(value: Option<&str>) -> Result<Option<NaiveDate>, AppError> {
    value.map(|v| date("send_on", v)).transpose()
}

fn add_command(customer: String, r: ItemsRequest) -> Result<Command, AppError> {
    let (currency, prices) = currency_and_prices(&r.currency, r.prices.as_deref(), "")?;
    if r.items.len() > MAX_ITEMS_PER_INVOICE {
        return Err(AppError::invalid(
            "items",
            format!("at most {MAX_ITEMS_PER_INVOICE} items per call"),
        ));
    }
    let reference = optional_text("reference", r.reference, 200, false)?;
    let placeholder = faktura_domain::booking::BookingCustomer {
        external_id: None,
        name: "-".into(),
        company: None,
        email: "nobody@faktura.invalid"
            .parse()
            .map_err(|_| AppError::new(ErrorKind::Internal, "placeholder", "placeholder email"))?,
        language: None,
        vat_id: None,
        address: faktura_domain::model::PostalAddress {
            line1: "-".into(),
            line2: None,
            postal_code: "-".into(),
            city: "-".into(),
            country: "DE"
                .parse()
                .map_err(|_| AppError::new(ErrorKind::Internal, "placeholder", "country"))?,
        },
        einvoice: None,
        leitweg_id: None,
    };
    Ok(Command::AddItems {
        customer_key: customer,
        content: Booking {
            id: Id::generate("api"),
            booked_at: chrono::Utc::now(),
            currency,
            prices,
            // Not used: the items' customer is the one in the path (read when billed).
            customer: placeholder,
            items: items(r.items, "")?,
            reference: None,
            note: None,
        },
        reference,
    })
}

/// Record services to bill later (usage, contracts). They are combined into the customer's
/// next collective invoice: per period (the tenant's `collective.period`) or on demand.
#[utoipa::path(post, path = "/v1/customers/{id}/items", operation_id = "add_items", tag = "collective invoices", request_body = ItemsRequest,
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = ItemListDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn add_items(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let path = format!("/v1/customers/{id}/items");
    let route = WriteRoute {
        method: "POST",
        path: &path,
        ok: StatusCode::CREATED,
        json: true,
    };
    let key = customer_key(&id);
    write(&state, &request_id, &headers, body, route, move |bytes| {
        body_json::<ItemsRequest>(bytes).and_then(|r| add_command(key, r))
    })
    .await
}

/// A customer's billable items, oldest first.
#[utoipa::path(get, path = "/v1/customers/{id}/items", operation_id = "list_items", tag = "collective invoices",
    params(("id" = String, Path), ("state" = Option<String>, Query, description = "open, claimed, withdrawn")),
    responses((status = 200, body = ItemListDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn list_items(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParam(id): PathParam,
    headers: HeaderMap,
    params: Params,
) -> Result<Response, ApiError> {
    let c = authenticate(&state, &headers, Some(&request_id)).await?;
    let wanted = match params.get("state") {
        None => None,
        Some(s @ ("open" | "claimed" | "withdrawn")) => Some(s.to_string()),
        Some(other) => {
            return Err(bad_query(
                "state",
                format!(
                    "'{}' is not one of open, claimed, withdrawn",
                    faktura_domain::money::shorten(other)
                ),
            )
            .into());
        }
    };
    let items = state.queries.items(&c.tenant, &customer_key(&id)).await?;
    Ok(json_response(
        StatusCode::OK,
        &ItemListDto {
            items: items
                .iter()
                .filter(|i| wanted.as_deref().is_none_or(|w| i.state.as_str() == w))
                .map(ItemDto::from)
                .collect(),
        },
    ))
}

/// Change an item's description, quantity or price before it is billed (on a draft: the
/// draft is planned again). Items on an issued invoice are corrected with a credit note.
#[utoipa::path(patch, path = "/v1/customers/{id}/items/{item}", operation_id = "change_item", tag = "collective invoices", request_body = ItemChangeRequest,
    params(("id" = String, Path), ("item" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = ItemListDto), (status = "default", body = ErrorBody)),
    security(("api_key" = [])))]
pub async fn change_item(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    PathParams2(id, item): PathParams2,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let path = format!("/v1/customers/{id}/items/{item}");
    let route = WriteRoute {
        method: "PATCH",
        path: &path,
        ok: StatusCode::OK,
        json: true,
    };
    let key = customer_key(&id);
    let item = path_id(&item, "item_not_found");
    write(&state, &request_id, &headers, body, route, move |bytes| {
        let item = item?;
        let r = body_json::<ItemChangeRequest>(bytes)?;
        let change = ItemChange {
            description: optional_text("description", r.description, 1000, true)?,
            quantity: r
                .quantity
                .map(|q| q.parse("quantity", 4))
                .transpose()?
                .map(|q| {
                    if q <= rust_decimal::Decimal::ZERO {
                        Err(AppError::invalid("quantity", "must be greater than zero"))
                    } else {
                        Ok(q)
                    }
                })
                .transpose()?,
            unit_price: r.unit_price.map(|p| p.parse("unit_price", 4)).transpose()?,
        };
        if change == ItemChange::default() {
            return Err(AppError::invalid(
                "quantity",
                "give a new description, quantity or unit_price",
            ));
        }
        Ok(Command::ChangeItem {
            customer_key: key,
            id: item,
            change,
        })
    })
    .await
}

/// Make a collective invoice for a customer's open items: a draft without a number until its
/// send date (then issued and mailed by itself) or until you approve it with `POST
/// /v1/invoices/{id}/issue`.
#[utoipa::path(post, path = "/v1/collective-invoices", operation_id = "create_collective_invoice", tag = "collective invoices", request_body = CollectiveRequest,
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
        path: "/v1/collective-invoices",
        ok: StatusCode::CREATED,
        json: true,
    };
    write(&state, &request_id, &headers, body, route, |bytes| {
        let r = body_json::<CollectiveRequest>(bytes)?;
        if r.customer_id.trim().is_empty() {
            return Err(AppError::invalid("customer_id", "must not be empty"));
        }
        Ok(Command::CreateCollective {
            customer_key: customer_key(r.customer_id.trim()),
            items: r.items.map(item_ids).transpose()?,
            send_on: send_date(r.send_on.as_deref())?,
        })
    })
    .await
}

/// Change a collective draft: its items (the whole new list) or its send date (`null`: wait
/// for approval).
#[utoipa::path(patch, path = "/v1/collective-invoices/{id}", operation_id = "change_collective_invoice", tag = "collective invoices", request_body = CollectiveChangeRequest,
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
    let path = format!("/v1/collective-invoices/{id}");
    let route = WriteRoute {
        method: "PATCH",
        path: &path,
        ok: StatusCode::OK,
        json: true,
    };
    let id = path_id(&id, "invoice_not_found");
    write(&state, &request_id, &headers, body, route, move |bytes| {
        let id = id?;
        let r = body_json::<CollectiveChangeRequest>(bytes)?;
        if r.items.is_none() && r.send_on.is_none() {
            return Err(AppError::invalid("items", "give new items or a send_on"));
        }
        Ok(Command::ChangeCollective {
            id,
            items: r.items.map(item_ids).transpose()?,
            send_on: r.send_on.map(|s| send_date(s.as_deref())).transpose()?,
        })
    })
    .await
}

/// Collective invoices, oldest first: drafts and issued ones; `pending=true`: the drafts
/// waiting for you (no send date, due).
#[utoipa::path(get, path = "/v1/collective-invoices", operation_id = "list_collective_invoices", tag = "collective invoices",
    params(("pending" = Option<bool>, Query), ("customer" = Option<String>, Query),
           ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
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
    let pending = match params.get("pending") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(bad_query("pending", "pending is true or false").into()),
    };
    let filter = DocumentFilter {
        collective: true,
        pending_on: pending.then_some(today),
        customer_key: params.get("customer").map(customer_key),
        ..DocumentFilter::default()
    };
    let page = state
        .queries
        .documents(&c.tenant, &filter, params.get("cursor"), limit(&params)?)
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
