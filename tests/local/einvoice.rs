//! E-invoices through the whole local pipeline: every sample booking gives CII and UBL XML
//! that pass the official EN 16931 rules, a ZUGFeRD PDF whose embedded XML is the stored
//! original, byte for byte, and totals that agree in XML, PDF and API.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use faktura_domain::i18n;
use faktura_domain::values::Language;
use faktura_einvoice::inspect;
use faktura_tests::local::{
    DEMO, DEMO_KEY, DEMO_SECRET, SMALL, SMALL_KEY, SMALL_SECRET, TestApp, sample_with,
};
use faktura_tests::pdf;
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(120);
const CII_TOTALS: &str = "rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement/ram:SpecifiedTradeSettlementHeaderMonetarySummation";
const CII_GUIDELINE: &str = "rsm:CrossIndustryInvoice/rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID";

fn python() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/install-test-tools",
        python.display()
    );
    python.display().to_string()
}

/// Runs the official EN 16931 validation artefacts (via scripts/validate_einvoice.py) over
/// `files` and returns one JSON report per file.
pub(crate) fn validate(files: &[std::path::PathBuf]) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/validate_einvoice.py");
    let out = Command::new(python())
        .arg(script)
        .args(files)
        .output()
        .expect("validator runs");
    assert!(
        out.status.success(),
        "validator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON report line"))
        .collect()
}

/// The errors of a validator report (where the official CEN stylesheets are absent, the
/// validator reports Factur-X's profile-identity rule on XRechnung CII as waived, not here).
pub(crate) fn rule_errors(r: &Value) -> Vec<&Value> {
    r["errors"].as_array().unwrap().iter().collect()
}

/// The XML embedded in a hybrid PDF, as the factur-x library reads it.
fn embedded_xml(pdf: &[u8], dir: &Path) -> (String, Vec<u8>) {
    let pdf_path = dir.join("hybrid.pdf");
    std::fs::write(&pdf_path, pdf).unwrap();
    let out = Command::new(python())
        .args([
            "-c",
            "import sys, facturx; name, xml = facturx.get_xml_from_pdf(open(sys.argv[1], 'rb').read(), check_xsd=False); sys.stdout.write(name + '\\n'); sys.stdout.flush(); sys.stdout.buffer.write(xml)",
        ])
        .arg(&pdf_path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let split = out
        .stdout
        .iter()
        .position(|&b| b == b'\n')
        .expect("name line");
    (
        String::from_utf8(out.stdout[..split].to_vec()).unwrap(),
        out.stdout[split + 1..].to_vec(),
    )
}

async fn issue(t: &TestApp, tenant: &str, body: &str) -> Value {
    let secret = if tenant == SMALL {
        SMALL_SECRET
    } else {
        DEMO_SECRET
    };
    let a = t.post_signed(tenant, secret, body).await;
    assert_eq!(a.status, 202, "{}", a.json);
    t.wait_sent(tenant, a.json["invoice_id"].as_str().unwrap(), WAIT)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_gives_valid_xml_and_consistent_documents() {
    let t = TestApp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let samples = faktura_local::demo::samples(&faktura_local::demo::default_events_dir()).unwrap();
    for sample in &samples {
        let key = if sample.tenant == SMALL {
            SMALL_KEY
        } else {
            DEMO_KEY
        };
        let body = std::fs::read_to_string(&sample.path).unwrap();
        let inv = issue(&t, &sample.tenant, &body).await;
        let id = inv["id"].as_str().unwrap();
        let stem = sample
            .path
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let (status, headers, cii) = t.get(&format!("/v1/invoices/{id}/xml"), Some(key)).await;
        assert_eq!(status, 200);
        assert_eq!(headers["content-type"], "application/xml");
        let (status, _, ubl) = t
            .get(&format!("/v1/invoices/{id}/xml?syntax=ubl"), Some(key))
            .await;
        assert_eq!(status, 200);
        let (_, _, pdf_bytes) = t.get(&format!("/v1/invoices/{id}/pdf"), Some(key)).await;

        // Totals agree to the cent: API, CII, UBL, PDF text.
        let cii_text = String::from_utf8(cii.clone()).unwrap();
        let elements = inspect::elements(&cii_text).unwrap();
        let cii_total = |name: &str| {
            inspect::text(&elements, &format!("{CII_TOTALS}/{name}")).map(str::to_string)
        };
        assert_eq!(
            cii_total("ram:TaxBasisTotalAmount").as_deref(),
            inv["totals"]["net"].as_str(),
            "{stem}"
        );
        assert_eq!(
            cii_total("ram:GrandTotalAmount").as_deref(),
            inv["totals"]["gross"].as_str(),
            "{stem}"
        );
        assert_eq!(
            cii_total("ram:DuePayableAmount").as_deref(),
            inv["totals"]["amount_due"].as_str(),
            "{stem}"
        );
        let ubl_text = String::from_utf8(ubl.clone()).unwrap();
        let ubl_elements = inspect::elements(&ubl_text).unwrap();
        let root = ubl_elements[0].name().to_string();
        assert_eq!(
            inspect::text(
                &ubl_elements,
                &format!("{root}/cac:LegalMonetaryTotal/cbc:PayableAmount")
            ),
            inv["totals"]["amount_due"].as_str(),
            "{stem}"
        );
        let due: rust_decimal::Decimal = inv["totals"]["amount_due"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let text = pdf::flat_text(&pdf_bytes);
        assert!(
            text.contains(&i18n::number(Language::De, due, 2, 2))
                || text.contains(&i18n::number(Language::En, due, 2, 2)),
            "{stem}: the PDF does not show {due}"
        );

        match inv["einvoice"].as_str().unwrap() {
            "zugferd" => {
                let (name, xml) = embedded_xml(&pdf_bytes, dir.path());
                assert_eq!(name, "factur-x.xml", "{stem}");
                assert!(
                    xml == cii,
                    "{stem}: the XML in the PDF differs from the stored original"
                );
                assert_eq!(
                    inspect::text(&elements, CII_GUIDELINE),
                    Some(faktura_einvoice::FACTURX_EN16931_ID)
                );
            }
            "xrechnung" => {
                assert_eq!(
                    inspect::text(&elements, CII_GUIDELINE),
                    Some(faktura_einvoice::XRECHNUNG_3_ID)
                );
            }
            other => panic!("{stem}: unexpected format {other}"),
        }
        for (suffix, bytes) in [("cii", &cii), ("ubl", &ubl)] {
            let path = dir
                .path()
                .join(format!("{stem}-{}.{suffix}.xml", sample.tenant));
            std::fs::write(&path, bytes).unwrap();
            files.push(path);
        }
    }

    let reports = validate(&files);
    assert_eq!(reports.len(), files.len());
    for r in &reports {
        let file = r["file"].as_str().unwrap();
        if r["syntax"] == "cii" {
            assert_eq!(r["xsd_ok"], true, "{file}: XSD: {r}");
        }
        let errors = rule_errors(r);
        assert!(errors.is_empty(), "{file}: EN 16931 rules: {errors:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_buyer_gets_an_xrechnung_with_the_pdf_beside_it() {
    let t = TestApp::start().await;
    let body = std::fs::read_to_string(
        faktura_local::demo::default_events_dir()
            .join("webhooks/demo/06-public-buyer-xrechnung.json"),
    )
    .unwrap();
    let inv = issue(&t, DEMO, &body).await;
    assert_eq!(inv["einvoice"], "xrechnung");
    assert_eq!(inv["buyer_reference"], "04011000-1234512345-06");
    assert_eq!(inv["order_reference"], "Bestellschein 2026/0815");
    let number = inv["number"].as_str().unwrap();

    let raw = std::fs::read(&t.outbox()[0]).unwrap();
    let msg = MessageParser::default().parse(&raw).unwrap();
    let names: Vec<_> = msg
        .attachments()
        .map(|a| a.attachment_name().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        names,
        vec![format!("{number}.xml"), format!("{number}.pdf")]
    );
    let (_, _, stored) = t
        .get(
            &format!("/v1/invoices/{}/xml", inv["id"].as_str().unwrap()),
            Some(DEMO_KEY),
        )
        .await;
    assert_eq!(
        msg.attachment(0).unwrap().contents(),
        stored.as_slice(),
        "the mailed XML is the stored original"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bookings_that_cannot_become_the_needed_e_invoice_are_refused_up_front() {
    let t = TestApp::start().await;
    // A customer who asks for XRechnung but has neither a Leitweg-ID nor a reference.
    let body = sample_with(
        "bk_x1",
        &[
            (
                "\"vat_id\": null,",
                "\"vat_id\": null, \"einvoice\": \"xrechnung\",",
            ),
            ("\"PO-7781\"", "null"),
        ],
    );
    let a = t.post_signed(DEMO, DEMO_SECRET, &body).await;
    assert_eq!(a.status, 422, "{}", a.json);
    assert_eq!(a.json["error"]["code"], "leitweg_id_missing");
    assert_eq!(a.json["error"]["field"], "data.customer.leitweg_id");

    // A Leitweg-ID with wrong check digits.
    let body = sample_with(
        "bk_x2",
        &[(
            "\"vat_id\": null,",
            "\"vat_id\": null, \"leitweg_id\": \"04011000-1234512345-07\",",
        )],
    );
    let a = t.post_signed(DEMO, DEMO_SECRET, &body).await;
    assert_eq!(a.status, 422, "{}", a.json);
    assert_eq!(a.json["error"]["field"], "data.customer.leitweg_id");

    // The small-business tenant has no contact person: XRechnung (BR-DE-5) is impossible.
    let body = std::fs::read_to_string(
        faktura_local::demo::default_events_dir()
            .join("webhooks/kleinunternehmer/01-small-business.json"),
    )
    .unwrap()
    .replace(
        "\"vat_id\": null,",
        "\"vat_id\": null, \"leitweg_id\": \"991-33333TEST-33\",",
    );
    let a = t.post_signed(SMALL, SMALL_SECRET, &body).await;
    assert_eq!(a.status, 422, "{}", a.json);
    assert_eq!(a.json["error"]["code"], "einvoice_invalid");
    assert!(
        a.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("BR-DE"),
        "{}",
        a.json
    );

    for id in ["bk_x1", "bk_x2"] {
        let tenant = DEMO.parse().unwrap();
        assert!(
            t.app
                .stores
                .repository
                .booking(&tenant, &id.parse().unwrap())
                .await
                .unwrap()
                .is_none()
        );
    }
    // A customer may also ask for a plain PDF.
    let body = sample_with(
        "bk_x3",
        &[(
            "\"vat_id\": null,",
            "\"vat_id\": null, \"einvoice\": \"pdf\",",
        )],
    );
    let inv = issue(&t, DEMO, &body).await;
    assert_eq!(inv["einvoice"], "pdf");
}

// ---- credit notes and prepaid amounts ------------------------------------------------------

fn life_event(name: &str) -> String {
    let path = faktura_local::demo::default_events_dir()
        .join("life/demo")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn webhook_sample(tenant: &str, name: &str) -> String {
    let path = faktura_local::demo::default_events_dir()
        .join("webhooks")
        .join(tenant)
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A `booking.cancelled` body: all of the booking, or the listed items (`item` is the index in
/// the booking's items).
fn cancellation(booking: &str, at: &str, reason: &str, items: Option<Value>) -> String {
    let mut data = serde_json::json!({ "id": booking, "cancelled_at": at, "reason": reason });
    if let Some(items) = items {
        data["items"] = items;
    }
    serde_json::json!({ "type": "booking.cancelled", "data": data }).to_string()
}

fn key_of(tenant: &str) -> &'static str {
    if tenant == SMALL { SMALL_KEY } else { DEMO_KEY }
}

/// Posts an event that makes a document of `kind`, waits until that document is mailed, and
/// returns it as the API shows it.
async fn document_of(t: &TestApp, tenant: &str, body: &str, kind: &str) -> Value {
    let secret = if tenant == SMALL {
        SMALL_SECRET
    } else {
        DEMO_SECRET
    };
    let a = t.post_signed(tenant, secret, body).await;
    assert_eq!(a.status, 202, "{}", a.json);
    assert_eq!(a.json["document_kind"], kind, "{}", a.json);
    let id = a.json["document_id"].as_str().expect("a document id");
    let doc = t.wait_sent(tenant, id, WAIT).await;
    assert_eq!(doc["kind"], kind, "{doc}");
    doc
}

fn amount_of(v: &Value) -> rust_decimal::Decimal {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not an amount"))
        .parse()
        .unwrap()
}

/// The business terms of one XML, read back: BT-3, BT-109, BT-110, BT-112, BT-113, BT-114,
/// BT-115 and BG-3 (BT-25, BT-26).
fn terms_of(xml: &[u8]) -> std::collections::BTreeMap<&'static str, Option<String>> {
    let text = std::str::from_utf8(xml).expect("UTF-8 XML");
    let els = inspect::elements(text).expect("well-formed XML");
    let root = els[0].name().to_string();
    let get = |path: String| inspect::text(&els, &path).map(str::to_string);
    let mut out = std::collections::BTreeMap::new();
    if root == "rsm:CrossIndustryInvoice" {
        let settle = "rsm:CrossIndustryInvoice/rsm:SupplyChainTradeTransaction/ram:ApplicableHeaderTradeSettlement";
        let sum = |n: &str| get(format!("{CII_TOTALS}/ram:{n}"));
        out.insert(
            "BT-3",
            get("rsm:CrossIndustryInvoice/rsm:ExchangedDocument/ram:TypeCode".into()),
        );
        out.insert("BT-109", sum("TaxBasisTotalAmount"));
        out.insert("BT-110", sum("TaxTotalAmount"));
        out.insert("BT-112", sum("GrandTotalAmount"));
        out.insert("BT-113", sum("TotalPrepaidAmount"));
        out.insert("BT-114", sum("RoundingAmount"));
        out.insert("BT-115", sum("DuePayableAmount"));
        out.insert(
            "BT-25",
            get(format!(
                "{settle}/ram:InvoiceReferencedDocument/ram:IssuerAssignedID"
            )),
        );
        out.insert(
            "BT-26",
            get(format!(
                "{settle}/ram:InvoiceReferencedDocument/ram:FormattedIssueDateTime/qdt:DateTimeString"
            ))
            .and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y%m%d").ok())
            .map(|d| d.format("%Y-%m-%d").to_string()),        );
    } else {
        let total = |n: &str| get(format!("{root}/cac:LegalMonetaryTotal/cbc:{n}"));
        let code = if root == "CreditNote" {
            "cbc:CreditNoteTypeCode"
        } else {
            "cbc:InvoiceTypeCode"
        };
        out.insert("BT-3", get(format!("{root}/{code}")));
        out.insert("BT-109", total("TaxExclusiveAmount"));
        out.insert("BT-110", get(format!("{root}/cac:TaxTotal/cbc:TaxAmount")));
        out.insert("BT-112", total("TaxInclusiveAmount"));
        out.insert("BT-113", total("PrepaidAmount"));
        out.insert("BT-114", total("PayableRoundingAmount"));
        out.insert("BT-115", total("PayableAmount"));
        let reference = format!("{root}/cac:BillingReference/cac:InvoiceDocumentReference");
        out.insert("BT-25", get(format!("{reference}/cbc:ID")));
        out.insert("BT-26", get(format!("{reference}/cbc:IssueDate")));
    }
    out.insert("root", Some(root));
    out
}

/// What the API says the XML must say.
fn terms_of_api(doc: &Value) -> std::collections::BTreeMap<&'static str, Option<String>> {
    let t = &doc["totals"];
    let s = |v: &Value| Some(v.as_str().unwrap().to_string());
    let nonzero = |v: &Value| {
        s(v).filter(|a| a.parse::<rust_decimal::Decimal>().unwrap() != rust_decimal::Decimal::ZERO)
    };
    let credit = doc["kind"] == "credit_note";
    let mut out = std::collections::BTreeMap::new();
    out.insert("BT-3", s(&doc["type_code"]));
    out.insert("BT-109", s(&t["net"]));
    out.insert("BT-110", s(&t["vat"]));
    out.insert("BT-112", s(&t["gross"]));
    out.insert("BT-113", nonzero(&t["prepaid"]));
    out.insert("BT-114", nonzero(&t["rounding"]));
    out.insert("BT-115", s(&t["amount_due"]));
    out.insert(
        "BT-25",
        credit.then(|| s(&doc["preceding"]["number"])).flatten(),
    );
    out.insert(
        "BT-26",
        credit.then(|| s(&doc["preceding"]["issue_date"])).flatten(),
    );
    out
}

/// The caption of BT-115 on the document's PDF: what is due, or for a credit note what is
/// credited (its amount is owed to the customer).
fn amount_due_label(lang: Language, doc: &Value) -> &'static str {
    use faktura_domain::model::DocumentKind;
    let kind = match doc["kind"].as_str().unwrap() {
        "credit_note" => DocumentKind::CreditNote,
        "proforma" => DocumentKind::Proforma,
        _ => DocumentKind::Invoice,
    };
    let labels = i18n::document_labels(lang, kind, false);
    labels
        .iter()
        .find(|(k, _)| *k == "amount_due")
        .map(|(_, v)| *v)
        .unwrap()
}

/// Checks one document across the API, its CII and UBL XML and its PDF, and collects the XML
/// files to validate (the CII, the UBL and, for ZUGFeRD, the XML inside the PDF).
async fn check_across(
    t: &TestApp,
    tenant: &str,
    doc: &Value,
    name: &str,
    dir: &Path,
    files: &mut Vec<std::path::PathBuf>,
) {
    let key = key_of(tenant);
    let id = doc["id"].as_str().unwrap();
    let (status, headers, cii) = t.get(&format!("/v1/invoices/{id}/xml"), Some(key)).await;
    assert_eq!(status, 200, "{name}");
    assert_eq!(headers["content-type"], "application/xml");
    let (status, _, ubl) = t
        .get(&format!("/v1/invoices/{id}/xml?syntax=ubl"), Some(key))
        .await;
    assert_eq!(status, 200, "{name}");
    let (status, _, pdf_bytes) = t.get(&format!("/v1/invoices/{id}/pdf"), Some(key)).await;
    assert_eq!(status, 200, "{name}");

    // API = CII = UBL, to the cent.
    let want = terms_of_api(doc);
    let credit = doc["kind"] == "credit_note";
    for (syntax, xml) in [("CII", &cii), ("UBL", &ubl)] {
        let mut got = terms_of(xml);
        let root = got.remove("root").flatten().unwrap();
        if syntax == "UBL" {
            let want_root = if credit { "CreditNote" } else { "Invoice" };
            assert_eq!(root, want_root, "{name}: UBL document");
        }
        assert_eq!(got, want, "{name}: {syntax} against the API");
    }
    // BR-CO-16 as the API states it.
    let t_ = &doc["totals"];
    assert_eq!(
        amount_of(&t_["amount_due"]),
        amount_of(&t_["gross"]) - amount_of(&t_["prepaid"]) + amount_of(&t_["rounding"]),
        "{name}: amount due = total − prepaid + rounding"
    );
    if credit {
        for k in ["net", "vat", "gross", "amount_due"] {
            assert!(
                !amount_of(&t_[k]).is_sign_negative(),
                "{name}: a credit note's {k} is positive: {}",
                t_[k]
            );
        }
    }

    // The PDF shows the same figures next to their captions.
    let lang = if doc["language"] == "en" {
        Language::En
    } else {
        Language::De
    };
    let labels: std::collections::BTreeMap<&str, &str> = i18n::labels(lang).into_iter().collect();
    let text = pdf::flat_text(&pdf_bytes);
    let currency: faktura_domain::money::Currency =
        doc["currency"].as_str().unwrap().parse().unwrap();
    let shown = |v: &Value| {
        let amount = v.as_str().unwrap().parse().unwrap();
        i18n::money(lang, amount, currency)
    };
    let mut captions = vec![
        (labels["net_total"], &t_["net"]),
        (labels["vat_total"], &t_["vat"]),
        (labels["gross_total"], &t_["gross"]),
        (amount_due_label(lang, doc), &t_["amount_due"]),
    ];
    if !amount_of(&t_["prepaid"]).is_zero() {
        captions.push((i18n::prepaid_label(lang), &t_["prepaid"]));
    }
    if !amount_of(&t_["rounding"]).is_zero() {
        captions.push((labels["rounding"], &t_["rounding"]));
    }
    for (caption, value) in captions {
        let want = format!("{caption} {}", shown(value));
        assert!(
            text.contains(&want),
            "{name}: the PDF does not show '{want}':\n{text}"
        );
    }
    if credit {
        assert!(!text.contains("Gutschrift"), "{name}: no Gutschrift");
        let title = if doc["notes"][0]
            .as_str()
            .is_some_and(|n| n.contains("vollständig") || n.contains("in full"))
        {
            i18n::document_labels(lang, faktura_domain::model::DocumentKind::CreditNote, true)
        } else {
            i18n::document_labels(lang, faktura_domain::model::DocumentKind::CreditNote, false)
        }[0]
        .1;
        assert!(text.contains(title), "{name}: the PDF is titled {title}");
        assert!(
            text.contains(doc["preceding"]["number"].as_str().unwrap()),
            "{name}: the PDF names the corrected invoice"
        );
    }

    let stem = name.replace(' ', "-");
    for (suffix, bytes) in [("cii", &cii), ("ubl", &ubl)] {
        let path = dir.join(format!("{stem}.{suffix}.xml"));
        std::fs::write(&path, bytes).unwrap();
        files.push(path);
    }
    match doc["einvoice"].as_str().unwrap() {
        "zugferd" => {
            let (file, xml) = embedded_xml(&pdf_bytes, dir);
            assert_eq!(file, "factur-x.xml", "{name}");
            assert!(
                xml == cii,
                "{name}: the XML in the PDF is the stored original"
            );
            let path = dir.join(format!("{stem}.pdf-embedded.xml"));
            std::fs::write(&path, &xml).unwrap();
            files.push(path);
        }
        "xrechnung" => {}
        other => panic!("{name}: unexpected format {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_notes_and_prepaid_invoices_agree_across_api_xml_and_pdf_and_pass_the_rules() {
    let started = std::time::Instant::now();
    let t = TestApp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut documents: Vec<(String, &str, Value)> = Vec::new();

    // A proforma first, then the payment: the final invoice shows it as prepaid (in full).
    let proforma = document_of(&t, DEMO, &life_event("01-proforma-course.json"), "proforma").await;
    let (status, _, _) = t
        .get(
            &format!("/v1/invoices/{}/xml", proforma["id"].as_str().unwrap()),
            Some(DEMO_KEY),
        )
        .await;
    assert_eq!(status, 404, "a proforma has no e-invoice");
    let paid = document_of(&t, DEMO, &life_event("02-proforma-paid.json"), "invoice").await;
    assert_eq!(paid["totals"]["prepaid"], "1490.00", "{paid}");
    assert_eq!(paid["totals"]["amount_due"], "0.00", "{paid}");
    assert_eq!(paid["preceding"]["kind"], "proforma");
    documents.push(("final invoice prepaid in full".into(), DEMO, paid));

    // The same course paid in part: prepaid 500.00, the rest due.
    let proforma = life_event("01-proforma-course.json").replace("bk_3001", "bk_3002");
    document_of(&t, DEMO, &proforma, "proforma").await;
    let part = life_event("02-proforma-paid.json")
        .replace("bk_3001", "bk_3002")
        .replace("\"1490.00\"", "\"500.00\"")
        .replace("SEPA-77120", "SEPA-77121");
    let part = document_of(&t, DEMO, &part, "invoice").await;
    assert_eq!(part["totals"]["prepaid"], "500.00", "{part}");
    assert_eq!(part["totals"]["amount_due"], "990.00", "{part}");
    documents.push(("final invoice prepaid in part".into(), DEMO, part));

    // A booking cancelled whole: one credit note mirroring its invoice (gross prices, two
    // VAT rates).
    let mixed = document_of(
        &t,
        DEMO,
        &webhook_sample("demo", "04-mixed-vat-rates.json"),
        "invoice",
    )
    .await;
    let whole = document_of(
        &t,
        DEMO,
        &cancellation("bk_1004", "2026-11-27T09:00:00Z", "Termin entfällt", None),
        "credit_note",
    )
    .await;
    assert_eq!(whole["totals"]["gross"], mixed["totals"]["gross"]);
    assert_eq!(whole["preceding"]["number"], mixed["number"]);
    let note = whole["notes"][0].as_str().unwrap();
    assert!(note.contains("in full"), "a cancellation invoice: {note}");
    documents.push(("credit note whole gross mixed".into(), DEMO, whole));

    // A booking cancelled in parts (net prices): one of eight hours first, then the rest; the
    // credit notes add up to the invoice.
    let net = document_of(
        &t,
        DEMO,
        &webhook_sample("demo", "02-b2b-domestic-net.json"),
        "invoice",
    )
    .await;
    let one = document_of(
        &t,
        DEMO,
        &cancellation(
            "bk_1002",
            "2026-11-25T08:00:00Z",
            "Ein Termin entfällt",
            Some(serde_json::json!([{ "item": 0, "quantity": "1" }])),
        ),
        "credit_note",
    )
    .await;
    let rest = document_of(
        &t,
        DEMO,
        &cancellation("bk_1002", "2026-11-26T08:00:00Z", "Kurs abgesagt", None),
        "credit_note",
    )
    .await;
    assert_eq!(
        amount_of(&one["totals"]["amount_due"]) + amount_of(&rest["totals"]["amount_due"]),
        amount_of(&net["totals"]["amount_due"]),
        "the credit notes take back the invoice to the cent"
    );
    for doc in [&one, &rest] {
        let note = doc["notes"][0].as_str().unwrap();
        assert!(note.starts_with("Korrektur der Rechnung"), "{note}");
    }
    documents.push(("credit note partial net".into(), DEMO, one));
    documents.push(("credit note rest net".into(), DEMO, rest));

    // A public buyer's XRechnung corrected in part: an XRechnung credit note.
    document_of(
        &t,
        DEMO,
        &webhook_sample("demo", "06-public-buyer-xrechnung.json"),
        "invoice",
    )
    .await;
    let public = document_of(
        &t,
        DEMO,
        &cancellation(
            "bk_1006",
            "2026-11-25T08:00:00Z",
            "Zwei Termine entfallen",
            Some(serde_json::json!([{ "item": 0, "quantity": "2" }])),
        ),
        "credit_note",
    )
    .await;
    assert_eq!(public["einvoice"], "xrechnung");
    documents.push(("credit note partial xrechnung".into(), DEMO, public));

    // Small business (§19 UStG): a partial credit note.
    document_of(
        &t,
        SMALL,
        &webhook_sample("kleinunternehmer", "01-small-business.json"),
        "invoice",
    )
    .await;
    let small = document_of(
        &t,
        SMALL,
        &cancellation(
            "bk_2001",
            "2026-11-25T08:00:00Z",
            "Ein Termin entfällt",
            Some(serde_json::json!([{ "item": 0, "quantity": "1" }])),
        ),
        "credit_note",
    )
    .await;
    documents.push(("credit note partial small business".into(), SMALL, small));

    for (name, tenant, doc) in &documents {
        check_across(&t, tenant, doc, name, dir.path(), &mut files).await;
    }
    let validated = std::time::Instant::now();
    let reports = validate(&files);
    let validation = validated.elapsed();
    assert_eq!(reports.len(), files.len());
    let mut problems = Vec::new();
    for r in &reports {
        let file = r["file"].as_str().unwrap();
        if r["xsd_ok"] != true {
            problems.push(format!("{file}: XSD: {}", r["xsd_error"]));
        }
        for e in rule_errors(r) {
            problems.push(format!("{file}: [{}] {}", e["id"], e["text"]));
        }
    }
    eprintln!(
        "credit notes and prepaid invoices end to end: {} documents, {} XML files validated in {:.1} s; test {:.1} s",
        documents.len(),
        files.len(),
        validation.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Instalments and recurring invoices are invoices like any other: for a gross B2C booking,
/// a net B2B booking with two VAT rates, an EU reverse-charge booking and a public buyer's
/// XRechnung, the invoices a schedule issues agree across API, CII, UBL and PDF and pass the
/// official rules.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instalment_and_recurring_invoices_pass_the_rules() {
    let t = TestApp::start_simulated("2026-11-23T12:00:00+01:00").await;
    let dir = tempfile::tempdir().unwrap();
    let plans = [
        (
            "01-b2c-gross.json",
            serde_json::json!({ "interval": "month", "count": 3 }),
        ),
        (
            "04-mixed-vat-rates.json",
            serde_json::json!({ "interval": "month", "count": 4 }),
        ),
        (
            "03-eu-reverse-charge.json",
            serde_json::json!({ "interval": "month", "count": 2 }),
        ),
        (
            "06-public-buyer-xrechnung.json",
            serde_json::json!({ "interval": "month", "mode": "recurring" }),
        ),
    ];
    for (sample, schedule) in &plans {
        let mut body: Value = serde_json::from_str(&webhook_sample("demo", sample)).unwrap();
        body["data"]["billing"] = serde_json::json!({ "schedule": schedule });
        let a = t.post_signed(DEMO, DEMO_SECRET, &body.to_string()).await;
        assert_eq!(a.status, 202, "{sample}: {}", a.json);
    }
    // Two occurrences of each: the booking's day in November and the same day in December.
    t.move_clock(serde_json::json!({ "to": "2026-12-23T12:00:00+01:00" }))
        .await;
    let (status, _, list) = t.get("/v1/schedules", Some(DEMO_KEY)).await;
    assert_eq!(status, 200);
    let list: Value = serde_json::from_slice(&list).unwrap();
    let schedules = list["schedules"].as_array().unwrap();
    assert_eq!(schedules.len(), plans.len(), "{list}");
    let mut files = Vec::new();
    let mut checked = 0;
    for s in schedules {
        let billed = s["billed"].as_array().unwrap();
        assert_eq!(billed.len(), 2, "{s}");
        for b in billed {
            let id = b["document_id"].as_str().unwrap();
            let doc = t.wait_sent(DEMO, id, WAIT).await;
            let name = format!("{} occurrence {}", s["booking_id"], b["occurrence"]);
            check_across(&t, DEMO, &doc, &name, dir.path(), &mut files).await;
            checked += 1;
        }
    }
    assert_eq!(checked, 8);
    let reports = validate(&files);
    assert_eq!(reports.len(), files.len());
    let mut problems = Vec::new();
    for r in &reports {
        let file = r["file"].as_str().unwrap();
        if r["xsd_ok"] != true {
            problems.push(format!("{file}: XSD: {}", r["xsd_error"]));
        }
        for e in rule_errors(r) {
            problems.push(format!("{file}: [{}] {}", e["id"], e["text"]));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
