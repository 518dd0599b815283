//! The whole local pipeline: webhook in, invoice numbered, PDF rendered and read back,
//! mail written with the PDF attached; concurrency, injection and the scheduler.

use std::collections::BTreeSet;
use std::time::Duration;

use faktura_domain::i18n;
use faktura_domain::values::Id;
use faktura_domain::values::Language;
use faktura_tests::local::{
    DEMO, DEMO_KEY, DEMO_SECRET, SAMPLE, SMALL, SMALL_SECRET, TestApp, sample_with,
};
use faktura_tests::pdf;
use mail_parser::{MessageParser, MimeHeaders};

const WAIT: Duration = Duration::from_secs(120);

async fn issue(t: &TestApp, tenant: &str, secret: &str, body: &str) -> serde_json::Value {
    let a = t.post_signed(tenant, secret, body).await;
    assert_eq!(a.status, 202, "{}", a.json);
    t.wait_sent(tenant, a.json["invoice_id"].as_str().unwrap(), WAIT)
        .await
}

async fn pdf_of(t: &TestApp, invoice: &serde_json::Value, key: &str) -> Vec<u8> {
    let (status, _, bytes) = t
        .get(
            &format!("/v1/invoices/{}/pdf", invoice["id"].as_str().unwrap()),
            Some(key),
        )
        .await;
    assert_eq!(status, 200);
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_becomes_a_pdf_invoice_and_an_email() {
    let t = TestApp::start().await;
    let inv = issue(&t, DEMO, DEMO_SECRET, SAMPLE).await;
    let number = inv["number"].as_str().unwrap();
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(number, format!("RE-{year}-00001"));

    let bytes = pdf_of(&t, &inv, DEMO_KEY).await;
    let text = pdf::flat_text(&bytes);
    for expected in [
        number,
        "Rechnung",
        "Yogastudio Sonnenschein GmbH",
        "Lindenallee 12",
        "10405 Berlin",
        "DE123456789",
        "Erika Mustermann",
        "Hauptstr. 5",
        "10115 Berlin",
        "Yoga Basics, 10 lessons",
        "01.12.2026",
        "PO-7781",
        "cus_42",
        "100,00 €",
        "19,00 €",
        "119,00 €",
        "19 %",
        "DE02 1203 0000 0000 2020 51",
    ] {
        assert!(text.contains(expected), "PDF lacks {expected:?}:\n{text}");
    }

    // The email: from the tenant, to the customer, German text, the same PDF attached.
    let outbox = t.outbox();
    assert_eq!(outbox.len(), 1);
    let raw = std::fs::read(&outbox[0]).unwrap();
    let msg = MessageParser::default()
        .parse(&raw)
        .expect("a MIME message");
    assert_eq!(
        msg.from().unwrap().first().unwrap().address(),
        Some("rechnung@yoga-sonnenschein.example")
    );
    assert_eq!(
        msg.to().unwrap().first().unwrap().address(),
        Some("erika@example.org")
    );
    assert!(msg.subject().unwrap().contains(number));
    assert!(
        msg.body_text(0)
            .unwrap()
            .contains("Guten Tag Erika Mustermann")
    );
    let attachment = msg.attachment(0).expect("an attachment");
    assert_eq!(
        attachment.attachment_name(),
        Some(format!("{number}.pdf").as_str())
    );
    assert_eq!(attachment.content_type().unwrap().ctype(), "application");
    assert_eq!(attachment.contents(), bytes.as_slice());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_booking_renders_what_the_law_requires() {
    let t = TestApp::start().await;
    let events = faktura_local::demo::default_events_dir();
    for sample in faktura_local::demo::samples(&events).unwrap() {
        let body = std::fs::read_to_string(&sample.path).unwrap();
        let (secret, key) = if sample.tenant == SMALL {
            (SMALL_SECRET, faktura_tests::local::SMALL_KEY)
        } else {
            (DEMO_SECRET, DEMO_KEY)
        };
        let inv = issue(&t, &sample.tenant, secret, &body).await;
        let bytes = pdf_of(&t, &inv, key).await;
        let text = pdf::flat_text(&bytes);
        let name = sample.path.display();
        // §14 (4) UStG: number, names and addresses of both sides, seller tax id, dates, totals.
        assert!(
            text.contains(inv["number"].as_str().unwrap()),
            "{name}: number"
        );
        assert!(
            text.contains(inv["customer"]["name"].as_str().unwrap()),
            "{name}: customer"
        );
        assert!(
            text.contains(inv["customer"]["address"]["line1"].as_str().unwrap()),
            "{name}: address"
        );
        assert!(
            text.contains(inv["seller"]["name"].as_str().unwrap()),
            "{name}: seller"
        );
        let seller_tax = inv["seller"]["vat_id"]
            .as_str()
            .or(inv["seller"]["tax_number"].as_str())
            .unwrap();
        assert!(text.contains(seller_tax), "{name}: seller tax id");
        // The PDF shows the API's amount due, formatted for the document's language.
        let due = inv["totals"]["amount_due"].as_str().unwrap();
        let due_decimal = due.parse().unwrap();
        let de = i18n::number(Language::De, due_decimal, 2, 2);
        let en = i18n::number(Language::En, due_decimal, 2, 2);
        assert!(
            text.contains(&de) || text.contains(&en),
            "{name}: amount due {due}:\n{text}"
        );

        match sample.path.file_name().unwrap().to_str().unwrap() {
            "03-eu-reverse-charge.json" => {
                assert_eq!(inv["vat_treatment"], "reverse_charge");
                assert_eq!(inv["totals"]["vat"], "0.00");
                assert!(text.contains("Reverse charge"), "{text}");
                assert!(text.contains("ATU12345678"), "buyer VAT ID");
                assert!(text.contains("Invoice"), "English document");
            }
            "04-mixed-vat-rates.json" => {
                let rates: BTreeSet<_> = inv["totals"]["vat_breakdown"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| b["rate"].as_str().unwrap().to_string())
                    .collect();
                assert_eq!(rates, BTreeSet::from(["19".to_string(), "7".to_string()]));
                assert!(text.contains("Łukasiewicz-Ørsted"), "non-ASCII name");
                assert!(text.contains("Öztürk"));
            }
            "05-multi-page.json" => {
                let pages = pdf::page_count(&bytes);
                assert!(pages >= 2, "72 lines fit on {pages} page(s)?");
                let full = pdf::text(&bytes);
                for (i, page) in full
                    .split('\u{c}')
                    .filter(|p| !p.trim().is_empty())
                    .enumerate()
                {
                    assert!(
                        page.contains("Beschreibung"),
                        "page {} lacks the table header",
                        i + 1
                    );
                    assert!(
                        page.contains(&format!("Seite {} von {pages}", i + 1)),
                        "page {} lacks its number",
                        i + 1
                    );
                }
            }
            "01-small-business.json" => {
                assert_eq!(inv["vat_treatment"], "small_business");
                assert_eq!(inv["totals"]["vat"], "0.00");
                assert!(text.contains("§ 19 UStG"), "{text}");
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typst_markup_in_customer_data_is_printed_literally() {
    let t = TestApp::start().await;
    let nasty = [
        (
            "\"Erika Mustermann\"",
            r##""#read(\"/etc/passwd\") ] $x$ \\ <lbl> @ref""##,
        ),
        (
            "\"Hauptstr. 5\"",
            r##""#set page(width: 1cm) *bold* _it_""##,
        ),
        (
            "\"Yoga Basics, 10 lessons\"",
            r##""#import \"/etc/hosts\": x // c /* d */ `raw`""##,
        ),
        ("\"PO-7781\"", r##""]#{panic()}[""##),
    ];
    let body = sample_with("bk_inject", &nasty);
    let inv = issue(&t, DEMO, DEMO_SECRET, &body).await;
    let text = pdf::flat_text(&pdf_of(&t, &inv, DEMO_KEY).await);
    for literal in [
        r#"#read("/etc/passwd") ] $x$ \ <lbl> @ref"#,
        r#"#set page(width: 1cm) *bold* _it_"#,
        r#"#import "/etc/hosts": x // c /* d */ `raw`"#,
        r#"]#{panic()}["#,
    ] {
        assert!(
            text.contains(literal),
            "{literal:?} not printed literally:\n{text}"
        );
    }
    assert!(!text.contains("root:"), "file contents leaked into the PDF");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_bookings_and_retries_give_gapless_numbers_and_one_mail_each() {
    let t = std::sync::Arc::new(TestApp::start().await);
    const N: usize = 24;
    let mut tasks = Vec::new();
    for i in 0..N {
        for _copy in 0..2 {
            let t = t.clone();
            tasks.push(tokio::spawn(async move {
                let body = sample_with(&format!("bk_conc_{i}"), &[]);
                let a = t.post_signed(DEMO, DEMO_SECRET, &body).await;
                assert_eq!(a.status, 202, "{}", a.json);
                a.json["invoice_id"].as_str().unwrap().to_string()
            }));
        }
    }
    let mut ids = BTreeSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap());
    }
    assert_eq!(ids.len(), N, "each booking has exactly one invoice id");
    let mut numbers = BTreeSet::new();
    for id in &ids {
        let inv = t.wait_sent(DEMO, id, WAIT).await;
        numbers.insert(inv["number"].as_str().unwrap().to_string());
    }
    let year = chrono::Utc::now().format("%Y").to_string();
    let expected: BTreeSet<String> = (1..=N).map(|n| format!("RE-{year}-{n:05}")).collect();
    assert_eq!(numbers, expected);
    assert_eq!(t.outbox().len(), N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_hands_out_a_job_whose_event_was_lost() {
    let t = TestApp::start().await;
    // A booking recorded by the webhook whose job event never reached a worker.
    let accepted = faktura_tests::local::record_with_lost_event(&t.app.stores, DEMO, SAMPLE).await;
    let invoice_id = accepted.invoice_id.expect("an invoice id");
    let tenant: Id = DEMO.parse().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        t.app
            .stores
            .repository
            .document(&tenant, &invoice_id)
            .await
            .unwrap()
            .is_none()
    );

    let report = t.app.scheduler.dispatch_due(100).await.unwrap();
    assert_eq!(report.dispatched, 1, "the one due job");
    let inv = t.wait_sent(DEMO, invoice_id.as_str(), WAIT).await;
    assert!(inv["number"].as_str().unwrap().ends_with("00001"));
    // The scheduler finds nothing more and nothing is sent twice.
    let report = t.app.scheduler.dispatch_due(100).await.unwrap();
    assert_eq!(report.dispatched, 0);
    assert_eq!(t.outbox().len(), 1);
    // The platform's retry of that booking is answered with the same invoice.
    let a = t.post_signed(DEMO, DEMO_SECRET, SAMPLE).await;
    assert_eq!(a.json["invoice_id"], invoice_id.as_str());
}
