//! The OpenAPI 3.1 document, generated from the DTOs and the handlers' annotations. Served at
//! `GET /v1/openapi.json` and committed as `docs/openapi.json` (a test fails on drift; after a
//! change run `FAKTURA_UPDATE_OPENAPI=1 cargo test -p faktura-tests --test local openapi`).
//!
//! Handlers declare their errors as `(status = "default", body = ErrorBody)`; [`ErrorResponses`]
//! turns that into the statuses the operation can answer (each a shared response in the one
//! error format), so clients and schemathesis (`scripts/api_fuzz.py`) see which are possible.

use utoipa::openapi::content::Content;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Required};
use utoipa::{Modify, OpenApi};

use crate::{api, dto, webhook};

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The error answers, by status: the name of their shared response and what they mean.
const ERRORS: [(u16, &str, &str); 9] = [
    (
        400,
        "BadRequest",
        "The request cannot be read: a body that is not JSON or misses a field or has one of the wrong type, a bad query or path parameter, a bad `Idempotency-Key`. `field` names the culprit.",
    ),
    (
        401,
        "Unauthorized",
        "No API key or not a valid one (`Authorization: Bearer <key>`); for the webhook: a missing, stale or wrong signature.",
    ),
    (
        404,
        "NotFound",
        "No such document, file, customer, booking, job or tenant.",
    ),
    (
        409,
        "Conflict",
        "The `Idempotency-Key` was used for another request, or a concurrent request with it is still running; for the webhook: the booking conflicts with what was recorded.",
    ),
    (413, "PayloadTooLarge", "The body exceeds 1 MiB."),
    (
        415,
        "UnsupportedMediaType",
        "The body is not JSON (`Content-Type: application/json`).",
    ),
    (
        422,
        "Unprocessable",
        "Well-formed, but not possible: a value that cannot be used (`field` names it) or a document whose state does not allow it.",
    ),
    (
        500,
        "Internal",
        "The server failed; the details are in its log under the `x-request-id`.",
    ),
    (
        503,
        "Unavailable",
        "Storage is unavailable, the request took too long, or the document's files are still being made; retry after `Retry-After` seconds.",
    ),
];

/// The error statuses an operation can answer: every one can be refused (400), unauthorised
/// (401) or fail (500, 503); one with a path parameter can miss (404); a write can reuse an
/// idempotency key (409), send too much (413) and be refused by the domain (422); one with a
/// body can send something else than JSON (415).
fn error_statuses(method: &str, path: &str, has_body: bool) -> Vec<u16> {
    let write = method != "get";
    ERRORS
        .iter()
        .map(|(status, _, _)| *status)
        .filter(|status| match status {
            404 => path.contains('{'),
            409 | 413 | 422 => write,
            415 => has_body,
            _ => true,
        })
        .collect()
}

struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (status, name, description) in ERRORS {
            let mut response = Response::new(description);
            response.content.insert(
                "application/json".to_string(),
                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
            );
            if status == 503 {
                let mut retry = Header::new(ObjectBuilder::new().schema_type(Type::Integer));
                retry.description = Some("Seconds to wait before retrying.".to_string());
                response.headers.insert("Retry-After".to_string(), retry);
            }
            components
                .responses
                .insert(name.to_string(), RefOr::T(response));
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("patch", &mut item.patch),
                ("delete", &mut item.delete),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation {
                    explicit_errors(method, path, operation);
                    idempotency_key(operation);
                }
            }
        }
    }
}

fn explicit_errors(method: &str, path: &str, operation: &mut Operation) {
    let responses = &mut operation.responses.responses;
    if responses.remove("default").is_none() {
        return;
    }
    for status in error_statuses(method, path, operation.request_body.is_some()) {
        let Some((_, name, _)) = ERRORS.iter().find(|(s, _, _)| *s == status) else {
            continue;
        };
        responses
            .entry(status.to_string())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
    }
}

/// The `Idempotency-Key` header of the writes: optional, but when sent 1 to 255 visible ASCII
/// characters (a header is never `null`, which `Option<String>` would say).
fn idempotency_key(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        if parameter.parameter_in == ParameterIn::Header && parameter.name == "Idempotency-Key" {
            parameter.required = Required::False;
            parameter.description = Some(
                "Repeat a write safely: the same key and request answer the first answer again (marked `idempotent-replayed: true`); the same key with another request is a 409. Kept 48 hours.".to_string(),
            );
            parameter.schema = Some(RefOr::T(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(255))
                    .pattern(Some("^[!-~]+$"))
                    .into(),
            ));
        }
    }
}

/// Answers that are files (PDF, XML) are strings of their media type, not JSON.
struct Files;

impl Modify for Files {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
                for response in operation.responses.responses.values_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    for (media_type, content) in response.content.iter_mut() {
                        if media_type != "application/json" {
                            content.schema = Some(
                                ObjectBuilder::new()
                                    .schema_type(Type::String)
                                    .content_media_type(media_type.clone())
                                    .into(),
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Query and path parameters whose values are a closed set or a format: described once here,
/// by name (the same name means the same values on every route).
struct Parameters;

const QUERY_NAMES: [(&str, &[&str]); 7] = [
    ("kind", &["invoice", "proforma", "credit_note"]),
    (
        "lifecycle",
        &[
            "draft",
            "issued",
            "partially_credited",
            "cancelled",
            "voided",
            "converted",
        ],
    ),
    (
        "payment",
        &["open", "partially_paid", "paid", "overpaid", "nothing_due"],
    ),
    ("delivery", &["pending", "sent", "failed"]),
    ("status", &["issued", "sent"]),
    ("state", &["pending", "running", "done", "failed"]),
    ("syntax", &["cii", "ubl"]),
];

impl Modify for Parameters {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            // Customers are named by anything (`ext:…`, `email:…`, an address); the rest by ids.
            let id_path = !path.starts_with("/v1/customers/");
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                for parameter in operation.parameters.iter_mut().flatten() {
                    let schema = match (&parameter.parameter_in, parameter.name.as_str()) {
                        (ParameterIn::Query, "limit") => ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .minimum(Some(1))
                            .maximum(Some(crate::api::MAX_PAGE as u32))
                            .default(Some(crate::api::DEFAULT_PAGE.into())),
                        (ParameterIn::Query, "from" | "to") => ObjectBuilder::new()
                            .schema_type(Type::String)
                            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date))),
                        (ParameterIn::Query, "booking") => ObjectBuilder::new()
                            .schema_type(Type::String)
                            .pattern(Some(dto::values::ID)),
                        (ParameterIn::Path, "id") if id_path => ObjectBuilder::new()
                            .schema_type(Type::String)
                            .pattern(Some(dto::values::ID)),
                        (ParameterIn::Query, name) => {
                            match QUERY_NAMES.iter().find(|(n, _)| *n == name) {
                                Some((_, values)) => ObjectBuilder::new()
                                    .schema_type(Type::String)
                                    .enum_values(Some(values.iter().copied())),
                                None => continue,
                            }
                        }
                        _ => continue,
                    };
                    parameter.schema = Some(schema.into());
                }
            }
        }
    }
}

/// Every field of an answer (a `…Dto`) is always there, `null` when it has no value: all
/// are required (the derive marks `Option`s as optional, which only fits requests).
struct CompleteAnswers;

impl Modify for CompleteAnswers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for (name, schema) in components.schemas.iter_mut() {
            if !name.ends_with("Dto") {
                continue;
            }
            let RefOr::T(schema) = schema else { continue };
            let objects: Vec<&mut utoipa::openapi::schema::Object> = match schema {
                Schema::Object(object) => vec![object],
                Schema::AllOf(all) => all
                    .items
                    .iter_mut()
                    .filter_map(|item| match item {
                        RefOr::T(Schema::Object(object)) => Some(object),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            for object in objects {
                for property in object.properties.keys() {
                    if !object.required.contains(property) {
                        object.required.push(property.clone());
                    }
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Faktura", description = "Automated invoicing: documents with their life, payments and balances, and the booking webhook.", version = "2"),
    paths(
        webhook::booking_webhook,
        api::documents::list, api::documents::credit_notes, api::documents::get,
        api::documents::events, api::documents::pdf, api::documents::xml, api::documents::contract,
        api::documents::create, api::documents::change, api::documents::issue, api::documents::cancel,
        api::documents::credit_note, api::documents::payment, api::documents::refund, api::documents::send, api::documents::dunning,
        api::customers::list, api::customers::get, api::customers::put, api::customers::dunning,
        api::jobs::list, api::jobs::get, api::jobs::booking,
        api::schedules::create, api::schedules::list, api::schedules::get, api::schedules::update,
        api::schedules::preview,
        api::collective::add_items, api::collective::list_items, api::collective::change_item,
        api::collective::create, api::collective::list, api::collective::change,
        api::bank::import, api::bank::list, api::bank::get, api::bank::assign,
    ),
    components(schemas(
        dto::ErrorBody, dto::ErrorDetail,
        dto::booking::WireEvent, dto::booking::WireBooking, dto::booking::WirePaid, dto::booking::WireCancelled,
        dto::booking::WireCancelledItem, dto::booking::WireCustomer, dto::booking::WireAddress, dto::booking::WireItem,
        dto::booking::WirePeriod, dto::booking::WireScheduled, dto::schedules::WireSchedule,
    )),
    modifiers(&Security, &ErrorResponses, &Files, &Parameters, &CompleteAnswers),
    tags((name = "webhook"), (name = "documents"), (name = "customers"), (name = "jobs"), (name = "bookings"), (name = "schedules"), (name = "collective invoices"), (name = "bank")),
)]
pub struct ApiDoc;

/// The OpenAPI document as pretty JSON (what `docs/openapi.json` holds).
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}
