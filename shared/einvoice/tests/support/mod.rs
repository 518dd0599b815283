//! Invoices built the way the product builds them (booking JSON → the webhook's
//! `parse_booking_event` → `plan_document` → number), the case matrix, and the bridge to the
//! Python validator.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use chrono::{NaiveDate, TimeZone, Utc};
use faktura_domain::booking::{Booking, BookingEvent};
use faktura_domain::invoicing::plan_document;
use faktura_domain::model::{DocumentKind, Invoice, Tenant};
use faktura_domain::values::{Id, InvoiceNumber};
use serde_json::{Value, json};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

pub fn issue_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
}

/// A tenant from JSON, as a configuration file would give it: fields the model gains later
/// (with serde defaults) do not break these tests.
fn tenant(value: Value) -> Tenant {
    serde_json::from_value(value).expect("a valid tenant")
}

/// The demo GmbH (as in `functions/faktura/demo-tenants.toml`): VAT ID, tax number, register,
/// contact, bank account.
pub fn gmbh() -> Tenant {
    tenant(json!({
        "id": "demo",
        "seller": {
            "legal_name": "Yogastudio Sonnenschein GmbH",
            "address": { "line1": "Lindenallee 12", "line2": null, "postal_code": "10405",
                         "city": "Berlin", "country": "DE" },
            "vat_id": "DE123456789",
            "tax_number": "27/123/45678",
            "email": "rechnung@yoga-sonnenschein.example",
            "phone": "+49 30 1234567",
            "contact_name": "Anna Beispiel",
            "website": "https://yoga-sonnenschein.example",
            "register": "Amtsgericht Berlin-Charlottenburg HRB 123456 B",
            "managing_directors": "Geschäftsführerin: Anna Beispiel",
            "bank": { "account_holder": "Yogastudio Sonnenschein GmbH",
                      "iban": "DE02 1203 0000 0000 2020 51", "bic": "BYLADEM1001",
                      "bank_name": "Deutsche Kreditbank" }
        },
        "settings": {
            "small_business": false, "default_vat_rate": "19", "default_prices": "gross",
            "payment_terms_days": 14, "language": "de",
            "invoice_numbering": { "pattern": "RE-{yyyy}-{seq:5}", "yearly_reset": true }
        }
    }))
}

/// The demo small business (§19 UStG) as in `demo-tenants.toml`: tax number only, no VAT ID,
/// no register, no contact name.
pub fn kleinunternehmer() -> Tenant {
    tenant(json!({
        "id": "kleinunternehmer",
        "seller": {
            "legal_name": "Jonas Weber – Coaching & Training",
            "address": { "line1": "Schwanthalerstraße 88", "line2": null, "postal_code": "80336",
                         "city": "München", "country": "DE" },
            "vat_id": null,
            "tax_number": "143/234/56789",
            "email": "jonas@weber-coaching.example",
            "phone": "+49 89 7654321",
            "contact_name": null,
            "website": null,
            "register": null,
            "managing_directors": null,
            "bank": { "account_holder": "Jonas Weber", "iban": "DE89 3704 0044 0532 0130 00",
                      "bic": "COBADEFFXXX", "bank_name": "Commerzbank" }
        },
        "settings": {
            "small_business": true, "default_vat_rate": "19", "default_prices": "net",
            "payment_terms_days": 7, "language": "de",
            "invoice_numbering": { "pattern": "{yyyy}-{seq:4}", "yearly_reset": true }
        }
    }))
}

/// A small business that does have a VAT ID (many do): what BR-CO-26 asks for.
pub fn kleinunternehmer_with_vat_id() -> Tenant {
    let mut t = kleinunternehmer();
    t.seller.vat_id = Some("DE287654321".parse().unwrap());
    t.seller.contact_name = Some("Jonas Weber".into());
    t
}

pub fn gmbh_without_bank() -> Tenant {
    let mut t = gmbh();
    t.seller.bank = None;
    t
}

pub fn customer_de() -> Value {
    json!({ "id": "cus_42", "name": "Erika Mustermann", "company": null,
            "email": "erika@example.org", "language": "de", "vat_id": null,
            "address": { "line1": "Hauptstr. 5", "line2": null, "postal_code": "10115",
                         "city": "Berlin", "country": "DE" } })
}

pub fn customer_b2b_de() -> Value {
    json!({ "id": "cus_77", "name": "Thomas Berger", "company": "Berger Logistik GmbH",
            "email": "buchhaltung@berger-logistik.example", "language": "de",
            "vat_id": "DE987654321",
            "address": { "line1": "Industriestraße 17", "line2": "Halle 3", "postal_code": "20457",
                         "city": "Hamburg", "country": "DE" } })
}

pub fn customer_eu_business() -> Value {
    json!({ "id": "cus_fr", "name": "Claire Dubois", "company": "Atelier Dubois SARL",
            "email": "compta@atelier-dubois.example", "language": "en",
            "vat_id": "FR40303265045",
            "address": { "line1": "12 rue de la Paix", "line2": null, "postal_code": "75002",
                         "city": "Paris", "country": "FR" } })
}

pub fn customer_swiss() -> Value {
    json!({ "id": "cus_ch", "name": "Urs Meier", "company": "Meier Handels AG",
            "email": "einkauf@meier-handel.example", "language": "de", "vat_id": null,
            "address": { "line1": "Bahnhofstrasse 1", "line2": null, "postal_code": "8001",
                         "city": "Zürich", "country": "CH" } })
}

pub fn item(description: &str, quantity: &str, price: &str, rate: &str) -> Value {
    json!({ "description": description, "quantity": quantity, "unit": "C62",
            "unit_price": price, "vat_rate": rate, "service_date": "2026-11-18" })
}

/// A `booking.created` webhook body.
pub fn booking(
    id: &str,
    prices: &str,
    customer: Value,
    items: Vec<Value>,
    reference: Option<&str>,
    note: Option<&str>,
) -> String {
    json!({ "type": "booking.created",
            "data": { "id": id, "booked_at": "2026-11-19T10:15:00Z", "currency": "EUR",
                      "prices": prices, "customer": customer, "items": items,
                      "reference": reference, "note": note } })
    .to_string()
}

/// The booking of a `booking.created` body, as the webhook parses it; `None` when the webhook
/// refuses the body (or it is another event).
pub fn parse_booking(body: &str) -> Option<Booking> {
    match faktura_http::dto::booking::parse_booking_event(body.as_bytes()) {
        Ok(BookingEvent::Created { booking, .. }) => Some(booking),
        _ => None,
    }
}

/// The instant every test document is issued at (on [`issue_date`]).
pub fn issued_at() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()
}

/// Issues an invoice the way the product does, with a fixed number and dates.
pub fn issue(tenant: &Tenant, body: &str, number: &str) -> Invoice {
    let booking = match faktura_http::dto::booking::parse_booking_event(body.as_bytes()) {
        Ok(BookingEvent::Created { booking, .. }) => booking,
        other => panic!("not an accepted booking.created: {other:?}\n{body}"),
    };
    let invoice_id: Id = format!("inv_{}", number.replace('/', "_")).parse().unwrap();
    let plan = plan_document(
        tenant,
        &booking,
        DocumentKind::Invoice,
        &invoice_id,
        issue_date(),
        issued_at(),
    )
    .unwrap_or_else(|e| panic!("invoice refused: {e:?}\n{body}"));
    let mut invoice = plan.invoice;
    invoice.number = InvoiceNumber::from_str(number).unwrap();
    invoice
}

/// One row of the matrix: an invoice and the EN 16931 rules it is known to fail because the
/// domain model lacks data (reported, not worked around).
pub struct Case {
    pub name: String,
    pub invoice: Invoice,
    pub known_gaps: Vec<&'static str>,
    pub options: faktura_einvoice::Options,
}

impl Case {
    fn new(name: &str, invoice: Invoice) -> Case {
        Case {
            name: name.into(),
            invoice,
            known_gaps: Vec::new(),
            options: Default::default(),
        }
    }

    fn gaps(mut self, rules: &[&'static str]) -> Case {
        self.known_gaps = rules.to_vec();
        self
    }
}

/// Finds a gross price at 19 % that no net base reaches, so the invoice needs a rounding
/// amount (BT-114).
pub fn gross_needing_rounding() -> (String, Invoice) {
    for cents in 100..2000 {
        let price = format!("{}.{:02}", cents / 100, cents % 100);
        let body = booking(
            "bk_round",
            "gross",
            customer_de(),
            vec![item("Drop-in class", "1", &price, "19")],
            Some("PO-ROUND"),
            None,
        );
        let invoice = issue(&gmbh(), &body, "RE-2026-00009");
        if !invoice.totals.rounding.is_zero() {
            return (price, invoice);
        }
    }
    panic!("no gross price between 1.00 and 19.99 needs a rounding amount");
}

pub const HOSTILE: &str = "<script>alert('x')</script> & \"quotes\" ]]> <![CDATA[ x ]]> &amp; \
                           Zoë Łukasiewicz-Ørsted 🙏🏽 #abc# ∑ \u{200B}";

pub fn matrix() -> Vec<Case> {
    let mut cases = Vec::new();
    let ref_ = Some("PO-4711");

    cases.push(Case::new(
        "standard-19",
        issue(
            &gmbh(),
            &booking(
                "bk_s19",
                "net",
                customer_b2b_de(),
                vec![item("Yoga Basics, 10 lessons", "1", "100.00", "19")],
                ref_,
                None,
            ),
            "RE-2026-00001",
        ),
    ));
    cases.push(Case::new(
        "reduced-7",
        issue(
            &gmbh(),
            &booking(
                "bk_r7",
                "net",
                customer_de(),
                vec![item("Book: Yoga für Anfänger", "2", "18.6916", "7")],
                ref_,
                None,
            ),
            "RE-2026-00002",
        ),
    ));
    cases.push(Case::new(
        "mixed-rates-gross",
        issue(
            &gmbh(),
            &booking(
                "bk_mixed",
                "gross",
                customer_de(),
                vec![
                    item("Prenatal yoga course, 6 sessions", "1", "149.00", "19"),
                    item("Book \"Yoga für Schwangere\"", "1", "24.99", "7"),
                    item("Herbal tea, 3 × 100 g", "3", "4.99", "7"),
                    item("Mat rental", "6", "2.00", "19"),
                    item("Gift voucher redeemed", "1", "-10.00", "19"),
                ],
                ref_,
                None,
            ),
            "RE-2026-00003",
        ),
    ));
    let (_, rounding) = gross_needing_rounding();
    cases.push(Case::new("gross-with-rounding-amount", rounding));
    // §19 UStG with only a tax number: EN 16931 BR-CO-26 wants a seller identifier (BT-29),
    // legal registration id (BT-30) or VAT ID (BT-31); the model has none of them here.
    cases.push(
        Case::new(
            "small-business-tax-number-only",
            issue(
                &kleinunternehmer(),
                &booking(
                    "bk_ku",
                    "net",
                    customer_de(),
                    vec![item("Einzelcoaching (90 Minuten)", "3", "120.00", "19")],
                    ref_,
                    None,
                ),
                "2026-0001",
            ),
        )
        .gaps(&["BR-CO-26"]),
    );
    cases.push(Case::new(
        "small-business-with-vat-id",
        issue(
            &kleinunternehmer_with_vat_id(),
            &booking(
                "bk_ku2",
                "net",
                customer_de(),
                vec![item("Einzelcoaching (90 Minuten)", "1", "120.00", "19")],
                ref_,
                None,
            ),
            "2026-0002",
        ),
    ));
    cases.push(Case::new(
        "reverse-charge",
        issue(
            &gmbh(),
            &booking(
                "bk_rc",
                "net",
                customer_eu_business(),
                vec![item("Leadership workshop, 2 days", "2", "1450.00", "19")],
                ref_,
                None,
            ),
            "RE-2026-00004",
        ),
    ));
    cases.push(Case::new(
        "zero-rated",
        issue(
            &gmbh(),
            &booking(
                "bk_z",
                "net",
                customer_de(),
                vec![
                    item("Online course (zero rated)", "1", "50.00", "0"),
                    item("Studio class", "1", "20.00", "19"),
                ],
                ref_,
                None,
            ),
            "RE-2026-00005",
        ),
    ));
    // K: the deliver-to country (BR-IC-12) is the buyer's.
    let mut k_item = item("Yoga mats, 20 pieces", "20", "25.00", "0");
    k_item["vat_category"] = json!("K");
    cases.push(Case::new(
        "intra-community-supply",
        issue(
            &gmbh(),
            &booking(
                "bk_k",
                "net",
                customer_eu_business(),
                vec![k_item],
                ref_,
                None,
            ),
            "RE-2026-00006",
        ),
    ));
    let mut g_item = item("Yoga mats, 20 pieces", "20", "25.00", "0");
    g_item["vat_category"] = json!("G");
    cases.push(Case::new(
        "export",
        issue(
            &gmbh(),
            &booking("bk_g", "net", customer_swiss(), vec![g_item], ref_, None),
            "RE-2026-00007",
        ),
    ));
    let mut o_item = item("Coaching session held abroad", "1", "300.00", "0");
    o_item["vat_category"] = json!("O");
    cases.push(Case::new(
        "outside-scope",
        issue(
            &gmbh(),
            &booking("bk_o", "net", customer_swiss(), vec![o_item], ref_, None),
            "RE-2026-00014",
        ),
    ));
    let mut period_item = item("Firmenkurs Rückenfit (8 Termine)", "8", "95.00", "19");
    period_item.as_object_mut().unwrap().remove("service_date");
    period_item["service_period"] = json!({ "start": "2027-01-05", "end": "2027-02-23" });
    period_item["unit"] = json!("HUR");
    let mut undated = item("Anfahrtspauschale", "8", "25.50", "19");
    undated["service_date"] = json!("2027-01-05");
    cases.push(Case::new(
        "service-periods-and-notes",
        issue(
            &gmbh(),
            &booking(
                "bk_period",
                "net",
                customer_b2b_de(),
                vec![period_item, undated],
                Some("Bestellung 2026-4411"),
                Some("Vielen Dank für den Auftrag!\nBis bald."),
            ),
            "RE-2026-00008",
        ),
    ));
    let mut no_dates = item("Drop-in class", "1", "15.00", "19");
    no_dates.as_object_mut().unwrap().remove("service_date");
    cases.push(Case::new(
        "seller-without-bank-and-no-service-date",
        issue(
            &gmbh_without_bank(),
            &booking(
                "bk_nobank",
                "gross",
                customer_de(),
                vec![no_dates],
                None,
                None,
            ),
            "RE-2026-00010",
        ),
    ));
    let many: Vec<Value> = (1..=50)
        .map(|i| {
            let rate = if i % 5 == 0 { "7" } else { "19" };
            let mut it = item(
                &format!("Kurs Nr. {i} – Einheit {i} (75 Minuten)"),
                &format!("{}", 1 + i % 3),
                &format!("{}.{:02}", 10 + i, (i * 37) % 100),
                rate,
            );
            it["service_date"] = json!(format!("2026-10-{:02}", 1 + (i % 28)));
            it
        })
        .collect();
    cases.push(Case::new(
        "fifty-lines",
        issue(
            &gmbh(),
            &booking("bk_50", "gross", customer_de(), many, ref_, None),
            "RE-2026-00011",
        ),
    ));
    let mut hostile_customer = customer_b2b_de();
    hostile_customer["name"] = json!(format!("Name {HOSTILE}"));
    hostile_customer["company"] = json!(format!("Firma {HOSTILE}"));
    hostile_customer["address"]["line1"] = json!(format!("Straße {HOSTILE}"));
    hostile_customer["address"]["line2"] = json!(HOSTILE);
    hostile_customer["address"]["city"] = json!("Köln <&> \"'\" ]]> 🙏");
    cases.push(Case::new(
        "hostile-text",
        issue(
            &gmbh(),
            &booking(
                "bk_hostile",
                "net",
                hostile_customer,
                vec![
                    item(HOSTILE, "1", "10.00", "19"),
                    item(&format!("multi\nline\ttab {HOSTILE}"), "1.5", "3.3333", "7"),
                ],
                Some(&format!("Ref {HOSTILE}")),
                Some(&format!("Note {HOSTILE}\n#SKONTO? no")),
            ),
            "RE-2026-00012",
        ),
    ));
    // Type code and BG-3 given as options (BT-3 381 / 384): the override for documents the
    // domain does not issue itself, such as corrected invoices. Credit notes and prepaid
    // invoices as the domain issues them are in `credit_notes_and_prepaid.rs`.
    let mut credit = Case::new(
        "credit-note-381",
        issue(
            &gmbh(),
            &booking(
                "bk_cn",
                "net",
                customer_b2b_de(),
                vec![item("Refund: cancelled class", "1", "20.00", "19")],
                ref_,
                None,
            ),
            "GS-2026-00001",
        ),
    );
    credit.options = faktura_einvoice::Options {
        type_code: Some(faktura_einvoice::TypeCode::CreditNote),
        preceding: Some(faktura_einvoice::PrecedingInvoice {
            number: "RE-2026-00001".into(),
            issue_date: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
        }),
    };
    cases.push(credit);
    let mut corrected = Case::new(
        "corrected-384",
        issue(
            &gmbh(),
            &booking(
                "bk_corr",
                "net",
                customer_b2b_de(),
                vec![item("Workshop (corrected price)", "1", "180.00", "19")],
                ref_,
                None,
            ),
            "RE-2026-00013",
        ),
    );
    corrected.options = faktura_einvoice::Options {
        type_code: Some(faktura_einvoice::TypeCode::Corrected),
        preceding: Some(faktura_einvoice::PrecedingInvoice {
            number: "RE-2026-00001".into(),
            issue_date: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
        }),
    };
    cases.push(corrected);

    // The sample webhooks the demo sends.
    let root = workspace_root();
    for (tenant_dir, tenant, gaps) in [
        ("demo", gmbh(), &[][..]),
        ("kleinunternehmer", kleinunternehmer(), &["BR-CO-26"][..]),
    ] {
        let dir = root.join("events/webhooks").join(tenant_dir);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for (i, file) in files.iter().enumerate() {
            let body = std::fs::read_to_string(file).unwrap();
            let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
            let invoice = issue(&tenant, &body, &format!("SAMPLE-{tenant_dir}-{}", i + 1));
            cases.push(Case::new(&format!("sample-{tenant_dir}-{stem}"), invoice).gaps(gaps));
        }
    }
    cases
}

/// The validator's verdict on one file.
#[derive(Debug)]
pub struct Verdict {
    pub file: String,
    pub syntax: Option<String>,
    pub guideline: Option<String>,
    pub xsd_ok: Option<bool>,
    pub xsd_error: Option<String>,
    /// The rule sets applied (`cen-cii`, `facturx-profile`, `kosit-ubl`...).
    pub rule_sets: Vec<String>,
    /// Whether KoSIT's XRechnung rules were available to the validator.
    pub kosit: bool,
    pub errors: Vec<(String, String)>,
    pub warnings: Vec<(String, String)>,
}

fn findings(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["id"].as_str().unwrap_or("?").to_string(),
                        f["text"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `scripts/validate_einvoice.py` once over all files. Panics with a hint when the venv
/// is missing.
pub fn validate(files: &[PathBuf]) -> (Vec<Verdict>, std::time::Duration) {
    let root = workspace_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-test-tools to install the e-invoice validator \
         (factur-x, saxonche) into .venv/",
        python.display()
    );
    let started = std::time::Instant::now();
    let output = Command::new(&python)
        .arg(root.join("scripts/validate_einvoice.py"))
        .args(files)
        .output()
        .expect("run the validator");
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "validator failed ({}):\n{stderr}",
        output.status
    );
    eprintln!("{}", stderr.trim());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let verdicts = stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("validator printed non-JSON ({e}): {line}"));
            Verdict {
                file: v["file"].as_str().unwrap().to_string(),
                syntax: v["syntax"].as_str().map(str::to_string),
                guideline: v["guideline"].as_str().map(str::to_string),
                xsd_ok: v["xsd_ok"].as_bool(),
                xsd_error: v["xsd_error"].as_str().map(str::to_string),
                rule_sets: v["rule_sets"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|r| r.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                kosit: v["kosit"].as_bool().unwrap_or(false),
                errors: findings(&v["errors"]),
                warnings: findings(&v["warnings"]),
            }
        })
        .collect();
    (verdicts, elapsed)
}
