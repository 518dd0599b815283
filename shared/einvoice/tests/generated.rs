//! Fuzzing the e-invoice writers with invoices the real domain makes: generated bookings
//! (tenants, buyers at home, in the EU and abroad, public buyers, net and gross prices, many
//! lines, odd quantities and prices, discounts, periods, hostile text) go through
//! `parse_booking_event`, `plan_document` and the intake's e-invoice checks exactly as the
//! webhook runs them. Every invoice the intake would accept is written as CII and UBL in the
//! profile its format calls for, and every document must pass the official rules for what it
//! declares (XSD, CEN EN 16931, Factur-X profile rules, and KoSIT's XRechnung rules).
//!
//! Seeded and bounded for CI; `EINVOICE_FUZZ_CASES=2000 EINVOICE_FUZZ_SEED=7 cargo test -p
//! faktura-einvoice --test generated -- --nocapture` runs a longer one.

mod support;

use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use faktura_domain::invoicing::plan_document;
use faktura_domain::model::{DocumentKind, EInvoiceFormat};
use faktura_domain::ports::{EInvoiceEncoder, XmlSyntax};
use faktura_domain::values::{Id, InvoiceNumber};
use faktura_einvoice::EInvoiceXml;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};

fn decimal(max_int: u64, max_scale: u32) -> impl Strategy<Value = String> {
    (0..=max_int, 0..=max_scale, 0u64..10_000).prop_map(|(int, scale, frac)| {
        if scale == 0 {
            int.to_string()
        } else {
            let frac = frac % 10u64.pow(scale);
            format!("{int}.{frac:0width$}", width = scale as usize)
        }
    })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Yoga Basics, 10 lessons".to_string()),
        Just("Beratung – Stundensatz (Senior)".to_string()),
        Just(support::HOSTILE.to_string()),
        Just("Zoë's Öl & Essig <1 l>".to_string()),
        "[a-zA-Z0-9äöüß€ .,:;()/#&<>'\"-]{1,80}",
        "\\PC{1,40}".prop_filter("printable", |s| !s.trim().is_empty()
            && s.chars().all(|c| !c.is_control())),
    ]
}

fn customer() -> impl Strategy<Value = (Value, &'static str)> {
    prop_oneof![
        Just((support::customer_de(), "de-private")),
        Just((support::customer_b2b_de(), "de-business")),
        Just((support::customer_eu_business(), "eu-business")),
        Just((support::customer_swiss(), "non-eu")),
        Just((
            json!({ "id": "cus_amt", "name": "Bezirksamt Pankow", "company": "Bezirksamt Pankow von Berlin",
                    "email": "rechnungseingang@ba-pankow.example", "language": "de", "vat_id": null,
                    "leitweg_id": "04011000-1234512345-06",
                    "address": { "line1": "Breite Straße 24a-26", "line2": null, "postal_code": "13187",
                                 "city": "Berlin", "country": "DE" } }),
            "public",
        )),
    ]
}

fn item(kind: &'static str) -> impl Strategy<Value = Value> {
    let rate = match kind {
        "eu-business" => prop_oneof![Just(("19", None)), Just(("0", Some("K")))].boxed(),
        "non-eu" => prop_oneof![
            Just(("19", None)),
            Just(("0", Some("G"))),
            Just(("0", Some("O")))
        ]
        .boxed(),
        _ => prop_oneof![
            Just(("19", None)),
            Just(("7", None)),
            Just(("0", Some("Z"))),
            Just(("0", Some("E")))
        ]
        .boxed(),
    };
    (
        text(),
        decimal(50, 4).prop_filter("positive", |q| q.chars().any(|c| ('1'..='9').contains(&c))),
        prop_oneof![decimal(5000, 4), decimal(50, 2).prop_map(|p| format!("-{p}"))],
        rate,
        prop_oneof![Just("C62"), Just("HUR"), Just("DAY"), Just("KGM")],
        prop_oneof![Just(None), Just(Some(("2026-11-01", "2026-11-30"))), Just(Some(("2026-11-18", "2026-11-18")))],
    )
        .prop_map(|(description, quantity, price, (rate, category), unit, period)| {
            let mut item = json!({ "description": description, "quantity": quantity, "unit": unit,
                                   "unit_price": price, "vat_rate": rate });
            if let Some(c) = category {
                item["vat_category"] = json!(c);
            }
            if let Some((start, end)) = period {
                item["service_period"] = json!({ "start": start, "end": end });
            }
            item
        })
}

fn booking() -> impl Strategy<Value = (bool, String)> {
    (
        customer(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            Just(None),
            Just(Some("zugferd")),
            Just(Some("xrechnung")),
            Just(Some("pdf"))
        ],
        proptest::option::of(text()),
        proptest::option::of("[A-Z]{2}-[0-9]{1,8}"),
    )
        .prop_flat_map(
            |((mut customer, kind), small_business, gross, format, note, reference)| {
                if let Some(f) = format {
                    customer["einvoice"] = json!(f);
                }
                (
                    proptest::collection::vec(item(kind), 1..12),
                    Just((customer, small_business, gross, note, reference)),
                )
            },
        )
        .prop_map(
            |(items, (customer, small_business, gross, note, reference))| {
                let body = json!({ "type": "booking.created",
                "data": { "id": "bk_gen", "booked_at": "2026-11-19T10:15:00Z", "currency": "EUR",
                          "prices": if gross { "gross" } else { "net" }, "customer": customer,
                          "items": items, "reference": reference, "note": note } });
                (small_business, body.to_string())
            },
        )
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn every_invoice_the_intake_accepts_is_a_valid_e_invoice() {
    let cases = env_or("EINVOICE_FUZZ_CASES", 120) as usize;
    let seed = env_or("EINVOICE_FUZZ_SEED", 0x00E1_2026);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes),
    );
    let strategy = booking();
    let encoder = EInvoiceXml;
    let dir = tempfile::tempdir().unwrap();
    let issued_at = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let (mut refused_booking, mut refused_plan, mut refused_einvoice, mut accepted) = (0, 0, 0, 0);
    let mut formats = std::collections::BTreeMap::new();
    for case in 0..cases {
        let (small_business, body) = strategy.new_tree(&mut runner).unwrap().current();
        let tenant = if small_business {
            support::kleinunternehmer_with_vat_id()
        } else {
            support::gmbh()
        };
        let Some(booking) = support::parse_booking(&body) else {
            refused_booking += 1;
            continue;
        };
        let invoice_id: Id = format!("inv_gen{case}").parse().unwrap();
        let Ok(plan) = plan_document(
            &tenant,
            &booking,
            DocumentKind::Invoice,
            &invoice_id,
            support::issue_date(),
            issued_at,
        ) else {
            refused_plan += 1;
            continue;
        };
        let mut invoice = plan.invoice;
        if !encoder.problems(&invoice).is_empty() {
            refused_einvoice += 1;
            continue;
        }
        accepted += 1;
        invoice.number = format!("RE-2026-{case:05}")
            .parse::<InvoiceNumber>()
            .unwrap();
        *formats.entry(invoice.einvoice.as_str()).or_insert(0) += 1;
        for (syntax, name) in [(XmlSyntax::Cii, "cii"), (XmlSyntax::Ubl, "ubl")] {
            let path = dir.path().join(format!(
                "{case:04}-{}-{name}.xml",
                invoice.einvoice.as_str()
            ));
            std::fs::write(&path, encoder.xml(&invoice, syntax)).unwrap();
            files.push((path, body.clone()));
        }
        if invoice.einvoice == EInvoiceFormat::Xrechnung {
            // Its XRechnung form must be complete; the intake saw to that.
            assert!(
                faktura_einvoice::xrechnung_problems(&invoice)
                    .iter()
                    .all(|p| p.severity() != faktura_einvoice::Severity::Error)
            );
        }
    }
    let paths: Vec<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
    let (verdicts, elapsed) = support::validate(&paths);
    let mut failures = Vec::new();
    for ((path, body), verdict) in files.iter().zip(&verdicts) {
        let name = path.file_name().unwrap().to_string_lossy();
        if verdict.xsd_ok != Some(true) {
            failures.push(format!(
                "{name}: XSD {:?}\n  booking: {body}",
                verdict.xsd_error
            ));
        }
        for (id, text) in &verdict.errors {
            failures.push(format!("{name}: [{id}] {text}\n  booking: {body}"));
        }
    }
    eprintln!(
        "e-invoice fuzz (seed {seed}): {cases} bookings → {accepted} invoices ({formats:?}), refused: {refused_booking} by the parser, {refused_plan} by VAT/plan rules, {refused_einvoice} by e-invoice rules; {} documents validated in {:.1} s (KoSIT rules {})",
        files.len(),
        elapsed.as_secs_f64(),
        if verdicts.iter().all(|v| v.kosit) {
            "applied"
        } else {
            "NOT AVAILABLE"
        },
    );
    // The generator must produce mostly acceptable invoices of every format, or it proves little.
    assert!(accepted * 2 >= cases, "only {accepted} of {cases} accepted");
    assert!(formats.len() >= 3, "{formats:?}");
    if !failures.is_empty() {
        let kept = dir.keep();
        panic!(
            "{} problems (files in {}):\n{}",
            failures.len(),
            kept.display(),
            failures.join("\n")
        );
    }
}
