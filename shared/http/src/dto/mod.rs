//! The wire formats: JSON shapes of requests and answers, with their OpenAPI schemas. The
//! domain never sees these; handlers convert them to typed commands and back.

pub mod bank;
pub mod booking;
pub mod collective;
pub mod customers;
pub mod documents;
pub mod jobs;
pub mod schedules;

use serde::Serialize;
use utoipa::ToSchema;

/// Every error answer: `{"error": {"code", "message", "field"?}}`.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `invalid_value`, `booking_conflict`.
    pub code: String,
    pub message: String,
    /// The field to blame, as a JSON path (`data.items[0].unit_price`) or a header name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Where a request body has a JSON array in place of an object its schema declares, the JSON
/// path of the first such place. serde's derived structs also read a sequence of their fields
/// in order (`["50.00", "EUR"]` would be a payment); the API takes objects only, as documented.
pub fn array_for_object<T: ToSchema>(value: &serde_json::Value) -> Option<String> {
    use utoipa::openapi::RefOr;
    let mut named: Vec<(String, RefOr<utoipa::openapi::schema::Schema>)> = Vec::new();
    T::schemas(&mut named);
    let defs: std::collections::HashMap<String, RefOr<utoipa::openapi::schema::Schema>> =
        named.into_iter().collect();
    shape::walk(value, &T::schema(), &defs, String::new(), 0)
}

mod shape {
    use std::collections::HashMap;

    use serde_json::Value;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{ArrayItems, Schema, SchemaType, Type};

    /// Deeper than any request DTO nests (and than a `$ref` cycle could go).
    const MAX_DEPTH: usize = 16;

    fn join(path: &str, key: &str) -> String {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    }

    pub fn walk(
        value: &Value,
        schema: &RefOr<Schema>,
        defs: &HashMap<String, RefOr<Schema>>,
        path: String,
        depth: usize,
    ) -> Option<String> {
        if depth > MAX_DEPTH || value.is_null() {
            return None;
        }
        let schema = match schema {
            RefOr::Ref(r) => {
                let name = r.ref_location.rsplit('/').next().unwrap_or("");
                return walk(value, defs.get(name)?, defs, path, depth + 1);
            }
            RefOr::T(schema) => schema,
        };
        match schema {
            Schema::Object(object) => {
                let is_struct = object.schema_type == SchemaType::Type(Type::Object)
                    && !object.properties.is_empty();
                match value {
                    Value::Array(_) if is_struct => Some(path),
                    Value::Object(map) if is_struct => map.iter().find_map(|(key, v)| {
                        let property = object.properties.get(key)?;
                        walk(v, property, defs, join(&path, key), depth + 1)
                    }),
                    _ => None,
                }
            }
            Schema::Array(array) => match (value, &array.items) {
                (Value::Array(items), ArrayItems::RefOrSchema(item)) => items
                    .iter()
                    .enumerate()
                    .find_map(|(i, v)| walk(v, item, defs, format!("{path}[{i}]"), depth + 1)),
                _ => None,
            },
            // `Option<T>`: `null` (returned above) or T.
            Schema::OneOf(one) => one
                .items
                .iter()
                .find_map(|item| walk(value, item, defs, path.clone(), depth + 1)),
            Schema::AllOf(all) => all
                .items
                .iter()
                .find_map(|item| walk(value, item, defs, path.clone(), depth + 1)),
            _ => None,
        }
    }
}

/// A postal address.
#[derive(Serialize, ToSchema)]
pub struct AddressDto {
    pub line1: String,
    pub line2: Option<String>,
    pub postal_code: String,
    pub city: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
}

impl From<&faktura_domain::model::PostalAddress> for AddressDto {
    fn from(a: &faktura_domain::model::PostalAddress) -> Self {
        AddressDto {
            line1: a.line1.clone(),
            line2: a.line2.clone(),
            postal_code: a.postal_code.clone(),
            city: a.city.clone(),
            country: a.country.as_str().to_string(),
        }
    }
}

/// Schemas the derive cannot spell: the closed sets of names the API answers with (the domain's
/// `as_str` names), as `#[schema(schema_with = …)]` functions.
pub mod values {
    use serde_json::Value;
    use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};

    /// A string that is one of `names` (or `null` when `nullable`).
    pub fn one_of(names: &[&str], nullable: bool, description: &str) -> Object {
        let mut values: Vec<Value> = names.iter().map(|v| Value::from(*v)).collect();
        let schema_type = if nullable {
            values.push(Value::Null);
            SchemaType::Array(vec![Type::String, Type::Null])
        } else {
            SchemaType::Type(Type::String)
        };
        let description = (!description.is_empty()).then(|| description.to_string());
        ObjectBuilder::new()
            .schema_type(schema_type)
            .enum_values(Some(values))
            .description(description)
            .build()
    }

    macro_rules! closed_sets {
        ($($(#[doc = $doc:literal])* $name:ident: [$($v:literal),+ $(,)?];)+) => {$(
            $(#[doc = $doc])*
            pub fn $name() -> Object {
                one_of(&[$($v),+], false, concat!($($doc),*).trim())
            }
        )+};
    }

    closed_sets! {
        /// What the document is.
        document_kind: ["invoice", "proforma", "credit_note", "reminder"];
        /// Where the document is in its life.
        lifecycle: ["draft", "issued", "partially_credited", "cancelled", "voided", "converted"];
        /// Release 1's field: `draft`, `issued` (not sent yet) or `sent`.
        release1_status: ["draft", "issued", "sent"];
        /// Whether the document was mailed.
        delivery_state: ["pending", "sent", "failed"];
        /// What is owed on the document.
        payment_state: ["open", "partially_paid", "paid", "overpaid", "nothing_due"];
        /// Where the document came from.
        source: ["booking", "api", "schedule", "dunning", "collective"];
        /// Which document goes to the customer.
        einvoice: ["pdf", "zugferd", "xrechnung"];
        /// Why VAT is (not) charged.
        vat_treatment: ["standard", "small_business", "reverse_charge"];
        /// Whether prices include VAT.
        price_basis: ["net", "gross"];
        /// The document's and the customer's language.
        language: ["de", "en"];
        /// EN 16931 VAT category code.
        vat_category: ["S", "Z", "E", "AE", "K", "G", "O"];
        /// How the documents relate.
        relation_kind: ["credited_by", "corrects", "final_invoice", "follows_proforma", "replaced_by", "replaces", "reminded_by", "reminds"];
        /// What a ledger entry records.
        ledger_kind: ["charge", "payment", "refund", "credit", "credit_applied", "credit_used"];
        /// What the job does.
        job_kind: ["apply_booking_events", "render_document", "deliver_document", "bill_schedule", "dun_invoice", "notify_owner", "collect_items", "send_draft", "digest_drafts"];
        /// Where an invoice stands in its dunning.
        dunning_state: ["none", "active", "paused", "exhausted"];
        /// Pause or resume an invoice's dunning.
        dunning_action: ["pause", "resume"];
        /// How often a schedule bills.
        interval: ["week", "month", "quarter", "year"];
        /// Where a schedule is.
        schedule_state: ["active", "paused", "stopped", "completed"];
        /// How a schedule bills: the total in instalments, or the items every period.
        schedule_mode: ["instalments", "recurring"];
        /// What happens to periods missed in an outage.
        missed: ["catch_up", "skip"];
        /// Where the job is.
        job_state: ["pending", "running", "done", "failed"];
        /// The booking event's type.
        booking_event: ["booking.created", "booking.paid", "booking.cancelled", "booking.updated"];
        /// Whether the event is applied, waits for its booking.created, or was refused.
        booking_event_state: ["pending", "held", "applied", "rejected"];
        /// How the booking is billed.
        billing: ["invoice", "proforma_first"];
    }

    /// UNTDID 1001: 380 invoice, 325 proforma, 381 credit note; `null` for a reminder (a
    /// letter, never an e-invoice).
    pub fn type_code() -> Object {
        one_of(
            &["380", "325", "381"],
            true,
            "UNTDID 1001: 380 invoice, 325 proforma, 381 credit note; null for a reminder.",
        )
    }

    /// The customer's chosen e-invoice format, `null` for the tenant's default.
    pub fn einvoice_or_null() -> Object {
        one_of(
            &["pdf", "zugferd", "xrechnung"],
            true,
            "`pdf`, `zugferd` or `xrechnung`; default: the tenant's.",
        )
    }

    /// What a write creates: `invoice` (default) or `proforma`.
    pub fn new_kind_or_null() -> Object {
        one_of(
            &["invoice", "proforma"],
            true,
            "`invoice` (default) or `proforma`.",
        )
    }

    pub fn price_basis_or_null() -> Object {
        one_of(
            &["net", "gross"],
            true,
            "Whether prices include VAT: `net` or `gross` (default: the tenant's).",
        )
    }

    pub fn billing_or_null() -> Object {
        one_of(
            &["invoice", "proforma_first", "collect"],
            true,
            "`invoice` (default: the tenant's setting), `proforma_first` (created only) or `collect` (created only: the items wait for a collective invoice).",
        )
    }

    pub fn schedule_mode_or_null() -> Object {
        one_of(
            &["instalments", "recurring"],
            true,
            "`instalments` or `recurring`; default: instalments with a count, else recurring.",
        )
    }

    pub fn missed_or_null() -> Object {
        one_of(
            &["catch_up", "skip"],
            true,
            "`catch_up` (default) or `skip`.",
        )
    }

    pub fn schedule_action_or_null() -> Object {
        one_of(
            &["pause", "resume", "stop"],
            true,
            "`pause`, `resume` or `stop`.",
        )
    }

    /// `billing`: a name (or `null`), or `{"schedule": …}`.
    pub fn billing_or_schedule() -> utoipa::openapi::schema::Schema {
        let one_of = utoipa::openapi::schema::OneOfBuilder::new()
            .item(billing_or_null())
            .item(utoipa::openapi::Ref::from_schema_name("WireScheduled"))
            .description(Some(
                "`invoice` (default: the tenant's setting), `proforma_first` (created only), `collect` (created only: the items wait for a collective invoice), or `{\"schedule\": {…}}`: instalments or a recurring price (created only).",
            ))
            .build();
        utoipa::openapi::schema::Schema::OneOf(one_of)
    }

    pub fn vat_category_or_null() -> Object {
        one_of(
            &["S", "Z", "E", "AE", "K", "G", "O"],
            true,
            "EN 16931 VAT category code; default: from the tenant and the rate.",
        )
    }

    /// An id of the API (documents, jobs, bookings): 1 to 128 of `A-Z a-z 0-9 - _ . :`, not
    /// starting with a dot (also spelt out in the DTOs' `pattern`s).
    pub const ID: &str = "^[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,127}$";
}
