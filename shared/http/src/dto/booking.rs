//! The booking webhook's wire format: JSON parsed into validated domain values
//! ([`BookingEvent`], [`Booking`]). The same item and customer shapes are the API's.
//!
//! Two kinds of rejection: a body that is not JSON or does not fit the schema (wrong type,
//! missing field) is `400 invalid_json`/`schema_violation`; a well-formed booking that we cannot
//! accept (no items, unknown currency, bad country...) is `422`. Amounts and quantities may be
//! strings or JSON numbers; numbers are read from their exact source text, never via f64.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use faktura_domain::booking::{
    Booking, BookingCustomer, BookingEvent, BookingItem, Cancellation, CancelledItem, MAX_ITEMS,
    PaymentFact,
};
use faktura_domain::error::{AppError, ErrorKind};
use faktura_domain::model::{
    Billing, EInvoiceFormat, PostalAddress, PriceBasis, ServicePeriod, VatCategory,
};
use faktura_domain::money::{Amount, Currency, ValueError, VatRate, parse_exact_decimal, shorten};
use faktura_domain::values::{CountryCode, Id, VatId};
use utoipa::ToSchema;

/// Event types the booking webhook knows.
pub const EVENT_TYPES: [&str; 4] = [
    "booking.created",
    "booking.paid",
    "booking.cancelled",
    "booking.updated",
];

// ---- wire format -------------------------------------------------------------------------

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    event_type: String,
    data: Box<RawValue>,
}

/// `booking.created` and `booking.updated`: the booking's content.
#[derive(Deserialize, ToSchema)]
pub struct WireBooking {
    #[schema(pattern = "^[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,127}$")]
    pub id: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub booked_at: String,
    /// `invoice` (default: the tenant's setting) or `proforma_first` (created only).
    /// Read as JSON first, so a bad `schedule` is answered with its own field path.
    #[serde(default)]
    #[schema(schema_with = super::values::billing_or_schedule)]
    pub billing: Option<serde_json::Value>,
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    #[serde(default)]
    #[schema(schema_with = super::values::price_basis_or_null)]
    pub prices: Option<String>,
    pub customer: WireCustomer,
    pub items: Vec<WireItem>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// How a booking is billed: `invoice` (default: the tenant's setting), `proforma_first`, or
/// `{"schedule": {…}}` — instalments (`count`) or a recurring price per period.
#[derive(Deserialize, ToSchema)]
pub struct WireScheduled {
    pub schedule: super::schedules::WireSchedule,
}

#[derive(Deserialize, ToSchema)]
pub struct WireCustomer {
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,127}$")]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub company: Option<String>,
    pub email: String,
    #[serde(default)]
    #[schema(pattern = "^([dD][eE]|[eE][nN])([-_][A-Za-z0-9]+)*$")]
    pub language: Option<String>,
    #[serde(default)]
    pub vat_id: Option<String>,
    pub address: WireAddress,
    #[serde(default)]
    #[schema(schema_with = super::values::einvoice_or_null)]
    pub einvoice: Option<String>,
    #[serde(default)]
    pub leitweg_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct WireAddress {
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub postal_code: String,
    pub city: String,
    #[schema(pattern = "^[A-Z]{2}$")]
    pub country: String,
}

#[derive(Deserialize, ToSchema)]
pub struct WireItem {
    pub description: String,
    pub quantity: ExactDecimal,
    #[serde(default)]
    pub unit: Option<String>,
    pub unit_price: ExactDecimal,
    #[serde(default)]
    pub vat_rate: Option<ExactDecimal>,
    #[serde(default)]
    #[schema(schema_with = super::values::vat_category_or_null)]
    pub vat_category: Option<String>,
    #[serde(default)]
    #[schema(format = Date)]
    pub service_date: Option<String>,
    #[serde(default)]
    pub service_period: Option<WirePeriod>,
}

#[derive(Deserialize, ToSchema)]
pub struct WirePeriod {
    #[schema(format = Date)]
    pub start: String,
    #[schema(format = Date)]
    pub end: String,
}

/// A decimal given as a JSON string or number, kept as its exact source text.
pub struct ExactDecimal(String);

/// Its schema: a string (the recommended form) or a JSON number.
impl utoipa::PartialSchema for ExactDecimal {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
        ObjectBuilder::new()
            .schema_type(SchemaType::Array(vec![Type::String, Type::Number]))
            .pattern(Some(r"^-?[0-9]+(\.[0-9]+)?$"))
            .description(Some(
                "A decimal number as a string (`\"119.00\"`, recommended) or a JSON number; taken exactly as written, never rounded.",
            ))
            .examples(["119.00"])
            .into()
    }
}

impl utoipa::ToSchema for ExactDecimal {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Decimal")
    }
}

impl<'de> Deserialize<'de> for ExactDecimal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        let text = raw.get().trim();
        if let Some(quoted) = text.strip_prefix('"') {
            let s: String = serde_json::from_str(text).map_err(serde::de::Error::custom)?;
            let _ = quoted;
            Ok(ExactDecimal(s))
        } else if text.starts_with(['-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) {
            Ok(ExactDecimal(text.to_string()))
        } else {
            Err(serde::de::Error::custom(
                "expected a decimal number as a string or JSON number",
            ))
        }
    }
}

impl ExactDecimal {
    /// The value of the source text, exactly: more than `max_scale` decimal places (or more
    /// digits than a decimal holds) is refused, never rounded.
    pub fn parse(&self, field: &str, max_scale: u32) -> Result<Decimal, AppError> {
        let text = self.0.trim();
        let value = parse_exact_decimal(text, max_scale).map_err(|e| {
            AppError::invalid(
                field,
                format!("{e} (at most {max_scale} decimal places are allowed)"),
            )
        })?;
        if value.abs() > Decimal::from(1_000_000_000i64) {
            return Err(AppError::invalid(
                field,
                format!("'{}' is too large", shorten(text)),
            ));
        }
        Ok(value.normalize())
    }
}

/// An `integer` as JSON Schema counts them: `2` and `2.0` alike (a generator or a language
/// without integers may send either); `2.5`, negatives and strings are refused.
pub(crate) fn whole_number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    let n = serde_json::Number::deserialize(d)?;
    let whole = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u32::MAX as f64)
            .map(|f| f as u64)
    });
    whole
        .and_then(|w| T::try_from(w).ok())
        .ok_or_else(|| serde::de::Error::custom(format!("expected a whole number, not {n}")))
}

/// Refuses JSON that has an array where `S` declares an object (see
/// [`super::array_for_object`]) with `400 schema_violation` naming the place.
pub(crate) fn require_objects<S: ToSchema>(json: &str, prefix: &str) -> Result<(), AppError> {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else {
        return Ok(()); // not JSON: from_json says so
    };
    let Some(path) = super::array_for_object::<S>(&value) else {
        return Ok(());
    };
    let field = match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path,
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{path}"),
    };
    let mut e = AppError::new(
        ErrorKind::BadRequest,
        "schema_violation",
        "invalid type: sequence, expected a JSON object",
    );
    if !field.is_empty() {
        e = e.with_field(field);
    }
    Err(e)
}

/// [`from_json`] for a body whose objects must be JSON objects, as its schema says.
pub(crate) fn from_json_object<T: DeserializeOwned + ToSchema>(
    json: &str,
    prefix: &str,
) -> Result<T, AppError> {
    require_objects::<T>(json, prefix)?;
    from_json(json, prefix)
}

/// Parses JSON into `T`, reporting schema errors with the JSON path of the field to blame.
pub(crate) fn from_json<T: DeserializeOwned>(json: &str, prefix: &str) -> Result<T, AppError> {
    let mut de = serde_json::Deserializer::from_str(json);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    match result {
        Ok(value) => {
            de.end().map_err(|e| {
                AppError::new(
                    ErrorKind::BadRequest,
                    "invalid_json",
                    format!("invalid JSON: {e}"),
                )
            })?;
            Ok(value)
        }
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if inner.is_syntax() || inner.is_eof() {
                return Err(AppError::new(
                    ErrorKind::BadRequest,
                    "invalid_json",
                    format!("invalid JSON: {inner}"),
                ));
            }
            let at = match (prefix.is_empty(), path.as_str()) {
                (_, ".") => prefix.to_string(),
                (true, p) => p.to_string(),
                (false, p) => format!("{prefix}.{p}"),
            };
            let message = inner.to_string();
            // A missing field is named by serde only in the message (the path ends at the
            // object around it): the field is that one. An unknown one is in the path already.
            let named = message
                .strip_prefix("missing field `")
                .and_then(|rest| rest.split('`').next())
                .filter(|n| !n.is_empty());
            let field = match named {
                Some(n) if at.is_empty() => n.to_string(),
                Some(n) => format!("{at}.{n}"),
                None => at,
            };
            let mut e = AppError::new(ErrorKind::BadRequest, "schema_violation", message);
            if !field.is_empty() {
                e = e.with_field(field);
            }
            Err(e)
        }
    }
}

/// `booking.paid`.
#[derive(Deserialize, ToSchema)]
pub struct WirePaid {
    /// The booking's id.
    pub id: String,
    /// RFC 3339.
    pub paid_at: String,
    pub amount: ExactDecimal,
    pub currency: String,
    #[serde(default)]
    pub method: Option<String>,
    /// The platform's payment reference: the same reference is the same payment.
    #[serde(default)]
    pub reference: Option<String>,
}

/// One booked item to cancel: its index in the booking's `items` (0-based) and how many.
#[derive(Deserialize, ToSchema)]
pub struct WireCancelledItem {
    #[serde(deserialize_with = "whole_number")]
    pub item: usize,
    pub quantity: ExactDecimal,
}

/// `booking.cancelled`: all of it, or the listed items.
#[derive(Deserialize, ToSchema)]
pub struct WireCancelled {
    pub id: String,
    /// RFC 3339.
    pub cancelled_at: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub items: Option<Vec<WireCancelledItem>>,
}

/// The webhook body (for the OpenAPI document; parsing reads the type first).
#[derive(Deserialize, ToSchema)]
pub struct WireEvent {
    /// `booking.created`, `booking.paid`, `booking.cancelled` or `booking.updated`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// A [`WireBooking`] (created, updated), [`WirePaid`] or [`WireCancelled`].
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// Reads the webhook body: the event type, then its data.
pub fn parse_booking_event(body: &[u8]) -> Result<BookingEvent, AppError> {
    let text = std::str::from_utf8(body).map_err(|_| {
        AppError::new(
            ErrorKind::BadRequest,
            "invalid_json",
            "the body is not UTF-8",
        )
    })?;
    require_objects::<WireEvent>(text, "")?;
    let envelope: Envelope = from_json(text, "")?;
    let data = envelope.data.get();
    match envelope.event_type.as_str() {
        "booking.created" => {
            let mut wire: WireBooking = from_json_object(data, "data")?;
            let (billing, schedule) = match wire.billing.take() {
                None | Some(serde_json::Value::Null) => (None, None),
                Some(serde_json::Value::String(name)) => (billing("data.billing", &name)?, None),
                Some(object @ serde_json::Value::Object(_)) => {
                    let s: WireScheduled = from_json_object(&object.to_string(), "data.billing")?;
                    (
                        None,
                        Some(super::schedules::schedule_spec(
                            s.schedule,
                            "data.billing.schedule.",
                        )?),
                    )
                }
                Some(_) => {
                    return Err(AppError::new(
                        ErrorKind::BadRequest,
                        "schema_violation",
                        "billing is a name (invoice, proforma_first) or {\"schedule\": {…}}",
                    )
                    .with_field("data.billing"));
                }
            };
            Ok(BookingEvent::Created {
                booking: booking(wire, "data.")?,
                billing,
                schedule,
            })
        }
        "booking.updated" => {
            let wire: WireBooking = from_json_object(data, "data")?;
            if wire.billing.is_some() {
                return Err(AppError::invalid(
                    "data.billing",
                    "billing is chosen when the booking is created",
                ));
            }
            Ok(BookingEvent::Updated {
                booking: booking(wire, "data.")?,
            })
        }
        "booking.paid" => {
            let w: WirePaid = from_json_object(data, "data")?;
            let currency: Currency = w.currency.parse().map_err(|e: ValueError| {
                AppError::new(ErrorKind::Unprocessable, "unknown_currency", e.0)
                    .with_field("data.currency")
            })?;
            let amount = w.amount.parse("data.amount", 2)?;
            if amount <= Decimal::ZERO {
                return Err(AppError::invalid(
                    "data.amount",
                    "a payment is a positive amount",
                ));
            }
            Ok(BookingEvent::Paid {
                booking_id: parsed("data.id", &w.id)?,
                payment: PaymentFact {
                    paid_at: instant("data.paid_at", &w.paid_at)?,
                    amount: Amount::round(amount),
                    currency,
                    method: optional_text("data.method", w.method, 100, false)?,
                    reference: optional_text("data.reference", w.reference, 200, false)?,
                },
            })
        }
        "booking.cancelled" => {
            let w: WireCancelled = from_json_object(data, "data")?;
            let items = match w.items {
                None => None,
                Some(items) if items.is_empty() => {
                    return Err(AppError::invalid(
                        "data.items",
                        "list the items to cancel, or leave items out to cancel all",
                    ));
                }
                Some(items) => Some(
                    items
                        .into_iter()
                        .enumerate()
                        .map(|(i, item)| {
                            let field = format!("data.items[{i}].quantity");
                            let quantity = item.quantity.parse(&field, 4)?;
                            if quantity <= Decimal::ZERO {
                                return Err(AppError::invalid(field, "must be greater than zero"));
                            }
                            Ok(CancelledItem {
                                index: item.item,
                                quantity,
                            })
                        })
                        .collect::<Result<Vec<_>, AppError>>()?,
                ),
            };
            Ok(BookingEvent::Cancelled {
                booking_id: parsed("data.id", &w.id)?,
                cancellation: Cancellation {
                    cancelled_at: instant("data.cancelled_at", &w.cancelled_at)?,
                    reason: optional_text("data.reason", w.reason, 500, true)?,
                    items,
                },
            })
        }
        other => Err(AppError::new(
            ErrorKind::Unprocessable,
            "unsupported_event",
            format!(
                "unknown event type '{}' (known: {})",
                shorten(other),
                EVENT_TYPES.join(", ")
            ),
        )
        .with_field("type")),
    }
}

fn billing(field: &str, value: &str) -> Result<Option<Billing>, AppError> {
    match value {
        "invoice" => Ok(Some(Billing::Invoice)),
        "proforma_first" => Ok(Some(Billing::ProformaFirst)),
        "collect" => Ok(Some(Billing::Collect)),
        other => Err(AppError::invalid(
            field,
            format!(
                "'{}' must be 'invoice', 'proforma_first' or 'collect'",
                shorten(other)
            ),
        )),
    }
}

pub(crate) fn instant(field: &str, value: &str) -> Result<chrono::DateTime<Utc>, AppError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            AppError::invalid(
                field,
                format!("'{}' is not an RFC 3339 timestamp", shorten(value)),
            )
        })
}

fn text(field: &str, value: String, max: usize, multiline: bool) -> Result<String, AppError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(AppError::invalid(field, "must not be empty"));
    }
    if trimmed.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("at most {max} characters"),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t')))
    {
        return Err(AppError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_string())
}

pub(crate) fn optional_text(
    field: &str,
    value: Option<String>,
    max: usize,
    multiline: bool,
) -> Result<Option<String>, AppError> {
    match value {
        Some(v) if !v.trim().is_empty() => text(field, v, max, multiline).map(Some),
        _ => Ok(None),
    }
}

fn parsed<T: FromStr<Err = ValueError>>(field: &str, value: &str) -> Result<T, AppError> {
    value
        .parse()
        .map_err(|e: ValueError| AppError::invalid(field, e.0))
}

/// A Leitweg-ID: coarse address (2 to 12 digits), optional fine address (up to 30 letters or
/// digits), check digits per ISO 7064 MOD 97-10, joined by hyphens (e.g. `04011000-1234512345-06`).
pub fn leitweg_id(field: &str, value: &str) -> Result<String, AppError> {
    faktura_domain::values::leitweg_id(value).map_err(|e| AppError::invalid(field, e.0))
}

pub(crate) fn date(field: &str, value: &str) -> Result<NaiveDate, AppError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        AppError::invalid(
            field,
            format!("'{}' is not a date (YYYY-MM-DD)", shorten(value)),
        )
    })
}

/// The booking `w` describes; field names start with `p` (`data.` for the webhook, nothing
/// for the API).
/// A booking's items (also a schedule's), each checked where it is (`{p}items[i]…`).
pub fn items(wire: Vec<WireItem>, p: &str) -> Result<Vec<BookingItem>, AppError> {
    if wire.is_empty() {
        return Err(AppError::new(
            ErrorKind::Unprocessable,
            "no_items",
            "a booking needs at least one item",
        )
        .with_field(format!("{p}items")));
    }
    if wire.len() > MAX_ITEMS {
        return Err(AppError::invalid(
            format!("{p}items"),
            format!("at most {MAX_ITEMS} items per booking"),
        ));
    }
    let mut items = Vec::with_capacity(wire.len());
    for (i, item) in wire.into_iter().enumerate() {
        let f = |name: &str| format!("{p}items[{i}].{name}");
        let quantity = item.quantity.parse(&f("quantity"), 4)?;
        if quantity <= Decimal::ZERO {
            return Err(AppError::invalid(
                f("quantity"),
                "must be greater than zero",
            ));
        }
        let unit = item.unit.unwrap_or_else(|| "C62".to_string());
        if unit.is_empty() || unit.len() > 3 || !unit.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(AppError::invalid(
                f("unit"),
                format!(
                    "'{}' is not a UN/ECE Recommendation 20 unit code",
                    shorten(&unit)
                ),
            ));
        }
        let vat_rate = match &item.vat_rate {
            Some(r) => {
                let value = r.parse(&f("vat_rate"), 2)?;
                Some(VatRate::new(value).map_err(|e| AppError::invalid(f("vat_rate"), e.0))?)
            }
            None => None,
        };
        let vat_category = match item.vat_category.as_deref() {
            Some(code) => Some(VatCategory::parse(code).ok_or_else(|| {
                AppError::invalid(
                    f("vat_category"),
                    format!("'{}' is not one of S, Z, E, AE, K, G, O", shorten(code)),
                )
            })?),
            None => None,
        };
        let service = match (item.service_date, item.service_period) {
            (Some(_), Some(_)) => {
                return Err(AppError::invalid(
                    f("service_period"),
                    "give service_date or service_period, not both",
                ));
            }
            (Some(d), None) => Some(ServicePeriod::day(date(&f("service_date"), &d)?)),
            (None, Some(p)) => {
                let start = date(&f("service_period.start"), &p.start)?;
                let end = date(&f("service_period.end"), &p.end)?;
                if end < start {
                    return Err(AppError::invalid(
                        f("service_period.end"),
                        "the period ends before it starts",
                    ));
                }
                Some(ServicePeriod { start, end })
            }
            (None, None) => None,
        };
        items.push(BookingItem {
            description: text(&f("description"), item.description, 1000, true)?,
            quantity,
            unit,
            unit_price: item.unit_price.parse(&f("unit_price"), 4)?,
            vat_rate,
            vat_category,
            service,
        });
    }

    Ok(items)
}

/// A currency code and an optional price basis (`net`, `gross`).
pub fn currency_and_prices(
    currency: &str,
    prices: Option<&str>,
    p: &str,
) -> Result<(Currency, Option<PriceBasis>), AppError> {
    let currency: Currency = currency.parse().map_err(|e: ValueError| {
        AppError::new(ErrorKind::Unprocessable, "unknown_currency", e.0)
            .with_field(format!("{p}currency"))
    })?;
    let prices = match prices {
        None => None,
        Some("net") => Some(PriceBasis::Net),
        Some("gross") => Some(PriceBasis::Gross),
        Some(other) => {
            return Err(AppError::invalid(
                format!("{p}prices"),
                format!("'{}' must be 'net' or 'gross'", shorten(other)),
            ));
        }
    };
    Ok((currency, prices))
}

pub fn booking(w: WireBooking, p: &str) -> Result<Booking, AppError> {
    let id: Id = parsed(&format!("{p}id"), &w.id)?;
    let booked_at = instant(&format!("{p}booked_at"), &w.booked_at)?;
    let (currency, prices) = currency_and_prices(&w.currency, w.prices.as_deref(), p)?;
    let c = w.customer;
    let country: CountryCode = c.address.country.parse().map_err(|e: ValueError| {
        AppError::new(ErrorKind::Unprocessable, "invalid_country", e.0)
            .with_field(format!("{p}customer.address.country"))
    })?;
    let vat_id = match c.vat_id.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Some(parsed::<VatId>(&format!("{p}customer.vat_id"), v)?),
        _ => None,
    };
    let customer = BookingCustomer {
        external_id: match c.id.as_deref() {
            Some(v) => Some(parsed(&format!("{p}customer.id"), v)?),
            None => None,
        },
        name: text(&format!("{p}customer.name"), c.name, 200, false)?,
        company: optional_text(&format!("{p}customer.company"), c.company, 200, false)?,
        email: parsed(&format!("{p}customer.email"), &c.email)?,
        language: match c.language.as_deref() {
            Some(v) => Some(parsed(&format!("{p}customer.language"), v)?),
            None => None,
        },
        vat_id,
        einvoice: match c.einvoice.as_deref() {
            None => None,
            Some("pdf") => Some(EInvoiceFormat::Pdf),
            Some("zugferd") => Some(EInvoiceFormat::Zugferd),
            Some("xrechnung") => Some(EInvoiceFormat::Xrechnung),
            Some(other) => {
                return Err(AppError::invalid(
                    format!("{p}customer.einvoice"),
                    format!(
                        "'{}' must be one of pdf, zugferd, xrechnung",
                        shorten(other)
                    ),
                ));
            }
        },
        leitweg_id: match c.leitweg_id.as_deref().map(str::trim) {
            Some(v) if !v.is_empty() => Some(leitweg_id(&format!("{p}customer.leitweg_id"), v)?),
            _ => None,
        },
        address: PostalAddress {
            line1: text(
                &format!("{p}customer.address.line1"),
                c.address.line1,
                200,
                false,
            )?,
            line2: optional_text(
                &format!("{p}customer.address.line2"),
                c.address.line2,
                200,
                false,
            )?,
            postal_code: text(
                &format!("{p}customer.address.postal_code"),
                c.address.postal_code,
                20,
                false,
            )?,
            city: text(
                &format!("{p}customer.address.city"),
                c.address.city,
                100,
                false,
            )?,
            country,
        },
    };

    let items = items(w.items, p)?;
    Ok(Booking {
        id,
        booked_at,
        currency,
        prices,
        customer,
        items,
        reference: optional_text(&format!("{p}reference"), w.reference, 200, false)?,
        note: optional_text(&format!("{p}note"), w.note, 2000, true)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SAMPLE: &str = r#"{ "type": "booking.created",
      "data": {
        "id": "bk_1001", "booked_at": "2026-11-20T10:15:00Z", "currency": "EUR", "prices": "gross",
        "customer": { "id": "cus_42", "name": "Erika Mustermann", "company": null,
          "email": "erika@example.org", "language": "de", "vat_id": null,
          "address": { "line1": "Hauptstr. 5", "line2": null, "postal_code": "10115",
                       "city": "Berlin", "country": "DE" } },
        "items": [ { "description": "Yoga Basics, 10 lessons", "quantity": "1", "unit": "C62",
                     "unit_price": "119.00", "vat_rate": "19", "service_date": "2026-12-01" } ],
        "reference": "PO-7781", "note": null } }"#;

    fn with(replace: &str, by: &str) -> Result<Booking, AppError> {
        assert!(SAMPLE.contains(replace), "{replace}");
        created(&SAMPLE.replace(replace, by))
    }

    fn created(body: &str) -> Result<Booking, AppError> {
        match parse_booking_event(body.as_bytes())? {
            BookingEvent::Created { booking, .. } => Ok(booking),
            other => panic!("not created: {other:?}"),
        }
    }

    #[test]
    fn parses_the_documented_sample() {
        let b = created(SAMPLE).unwrap();
        assert_eq!(b.id.as_str(), "bk_1001");
        assert_eq!(b.items[0].unit_price.to_string(), "119");
        assert_eq!(b.customer.key(), "ext:cus_42");
        assert_eq!(b.prices, Some(PriceBasis::Gross));
    }

    #[test]
    fn json_numbers_are_read_exactly() {
        let b = with(
            r#""unit_price": "119.00""#,
            r#""unit_price": 0.1000000000000000055511151231257827"#,
        );
        // More than 4 decimals is refused rather than silently rounded.
        assert_eq!(
            b.unwrap_err().field.as_deref(),
            Some("data.items[0].unit_price")
        );
        let b = with(r#""unit_price": "119.00""#, r#""unit_price": 19.99"#).unwrap();
        assert_eq!(b.items[0].unit_price.to_string(), "19.99");
        let b = with(r#""quantity": "1""#, r#""quantity": 2.5"#).unwrap();
        assert_eq!(b.items[0].quantity.to_string(), "2.5");
    }

    #[test]
    fn over_precise_numbers_are_refused_not_rounded() {
        // The parser once rounded to 28 digits before the decimal-places check saw the value.
        let tiny = format!("\"unit_price\": 0.{}1", "0".repeat(59));
        let almost = format!("\"unit_price\": \"19.99{}1\"", "0".repeat(40));
        let rate = format!("\"vat_rate\": 19.{}1", "0".repeat(40));
        let qty = format!("\"quantity\": 1.{}1", "0".repeat(30));
        for (from, to, field) in [
            (
                r#""unit_price": "119.00""#,
                tiny.as_str(),
                "data.items[0].unit_price",
            ),
            (
                r#""unit_price": "119.00""#,
                almost.as_str(),
                "data.items[0].unit_price",
            ),
            (
                r#""vat_rate": "19""#,
                rate.as_str(),
                "data.items[0].vat_rate",
            ),
            (r#""quantity": "1""#, qty.as_str(), "data.items[0].quantity"),
            (
                r#""unit_price": "119.00""#,
                r#""unit_price": 1e-30"#,
                "data.items[0].unit_price",
            ),
            (
                r#""unit_price": "119.00""#,
                r#""unit_price": 1e40"#,
                "data.items[0].unit_price",
            ),
        ] {
            let e = with(from, to).unwrap_err();
            assert_eq!(
                (e.kind, e.code),
                (ErrorKind::Unprocessable, "invalid_value"),
                "{to}"
            );
            assert_eq!(e.field.as_deref(), Some(field), "{to}");
        }
        // Trailing zeros and exponents that land within 4 places are exact, so they are fine.
        let b = with(r#""unit_price": "119.00""#, r#""unit_price": 1.19e2"#).unwrap();
        assert_eq!(b.items[0].unit_price.to_string(), "119");
        let b = with(
            r#""unit_price": "119.00""#,
            &format!("\"unit_price\": 19.99{}", "0".repeat(60)),
        )
        .unwrap();
        assert_eq!(b.items[0].unit_price.to_string(), "19.99");
    }

    #[test]
    fn non_ascii_vat_ids_are_refused_not_a_panic() {
        for odd in [
            "É12345678",
            "DE 123 456 78€",
            "DE\u{3000}123456789",
            "ÖSTERREICH",
        ] {
            let e = with(
                r#""vat_id": null"#,
                &format!("\"vat_id\": {}", serde_json::to_string(odd).unwrap()),
            )
            .unwrap_err();
            assert_eq!(e.field.as_deref(), Some("data.customer.vat_id"), "{odd}");
        }
    }

    #[test]
    fn schema_errors_are_400_with_a_field() {
        let e = with(r#""city": "Berlin""#, r#""city": 5"#).unwrap_err();
        assert_eq!(
            (e.kind, e.code),
            (ErrorKind::BadRequest, "schema_violation")
        );
        assert_eq!(e.field.as_deref(), Some("data.customer.address.city"));
        let e = created("{not json").unwrap_err();
        assert_eq!(e.code, "invalid_json");
        let e = with(r#""quantity": "1""#, r#""quantity": true"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest);
        assert_eq!(e.field.as_deref(), Some("data.items[0].quantity"));
    }

    #[test]
    fn semantic_errors_are_422_with_a_field() {
        let cases = [
            (
                r#""currency": "EUR""#,
                r#""currency": "XYZ""#,
                "data.currency",
            ),
            (
                r#""country": "DE""#,
                r#""country": "Germany""#,
                "data.customer.address.country",
            ),
            (
                r#""email": "erika@example.org""#,
                r#""email": "erika""#,
                "data.customer.email",
            ),
            (
                r#""quantity": "1""#,
                r#""quantity": "0""#,
                "data.items[0].quantity",
            ),
            (
                r#""quantity": "1""#,
                r#""quantity": "abc""#,
                "data.items[0].quantity",
            ),
            (
                r#""vat_rate": "19""#,
                r#""vat_rate": "150""#,
                "data.items[0].vat_rate",
            ),
            (
                r#""service_date": "2026-12-01""#,
                r#""service_date": "01.12.2026""#,
                "data.items[0].service_date",
            ),
            (
                r#""name": "Erika Mustermann""#,
                r#""name": "  ""#,
                "data.customer.name",
            ),
            (r#""id": "bk_1001""#, r#""id": "../../x""#, "data.id"),
        ];
        for (from, to, field) in cases {
            let e = with(from, to).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Unprocessable, "{to}");
            assert_eq!(e.field.as_deref(), Some(field), "{to}");
        }
        let e = with(r#""items": [ {"#, r#""items": [], "x": [ {"#).unwrap_err();
        assert_eq!(e.code, "no_items");
    }

    #[test]
    fn leitweg_ids() {
        for ok in [
            "04011000-1234512345-06",
            "991-33333TEST-33",
            "04011000-12345-03",
            "991-33333test-33",
        ] {
            assert!(leitweg_id("f", ok).is_ok(), "{ok}");
        }
        for bad in [
            "04011000-1234512345-07",
            "x-1-06",
            "1-06",
            "04011000",
            "0401-12345-6",
            "04011000-12_45-03",
        ] {
            assert!(leitweg_id("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_event_types_are_unsupported() {
        let e = with(r#""type": "booking.created""#, r#""type": "booking.moved""#).unwrap_err();
        assert_eq!(
            (e.kind, e.code),
            (ErrorKind::Unprocessable, "unsupported_event")
        );
    }

    #[test]
    fn payments_and_cancellations_parse_exactly() {
        let paid = r#"{"type":"booking.paid","data":{"id":"bk_1","paid_at":"2026-11-21T09:00:00Z","amount":"119.00","currency":"EUR","method":"card","reference":"pi_1"}}"#;
        match parse_booking_event(paid.as_bytes()).unwrap() {
            BookingEvent::Paid {
                payment,
                booking_id,
            } => {
                assert_eq!(booking_id.as_str(), "bk_1");
                assert_eq!(payment.amount.to_string(), "119.00");
            }
            other => panic!("{other:?}"),
        }
        let e =
            parse_booking_event(paid.replace("\"119.00\"", "\"119.001\"").as_bytes()).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("data.amount"));
        let e = parse_booking_event(paid.replace("\"119.00\"", "\"-1\"").as_bytes()).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("data.amount"));
        let cancel = r#"{"type":"booking.cancelled","data":{"id":"bk_1","cancelled_at":"2026-11-21T09:00:00Z","reason":"ill","items":[{"item":0,"quantity":"1"}]}}"#;
        match parse_booking_event(cancel.as_bytes()).unwrap() {
            BookingEvent::Cancelled { cancellation, .. } => {
                assert_eq!(cancellation.items.unwrap()[0].index, 0);
            }
            other => panic!("{other:?}"),
        }
        let e = parse_booking_event(cancel.replace("\"1\"}", "\"0\"}").as_bytes()).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("data.items[0].quantity"));
    }
}
