//! End-to-end tests: render the fixtures, read the text back with poppler's
//! `pdftotext -layout` and check what an invoice must show.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use faktura_render::{RenderError, Renderer};
use serde_json::{Value, json};

fn renderer() -> &'static Renderer {
    static RENDERER: OnceLock<Renderer> = OnceLock::new();
    RENDERER.get_or_init(|| Renderer::new().expect("renderer loads"))
}

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("fixture is JSON")
}

fn render(view: &Value, ident: &str) -> Vec<u8> {
    let bytes = serde_json::to_vec(view).unwrap();
    match renderer().render_pdf(&bytes, ident) {
        Ok(pdf) => pdf,
        Err(err) => panic!("render {ident} failed: {err}"),
    }
}

/// The text of each page of `pdf`, as `pdftotext -layout` extracts it.
fn pdf_pages(pdf: &[u8], name: &str) -> Vec<String> {
    assert!(pdf.starts_with(b"%PDF-"), "output of {name} is not a PDF");
    let dir = std::env::temp_dir().join(format!("faktura-render-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.pdf"));
    std::fs::write(&path, pdf).unwrap();
    let output = match Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
    {
        Ok(output) => output,
        Err(err) => panic!(
            "cannot run `pdftotext` ({err}): these tests need poppler's pdftotext; \
             install it with `apt-get install poppler-utils`"
        ),
    };
    assert!(
        output.status.success(),
        "pdftotext failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8(output.stdout).expect("pdftotext prints UTF-8");
    // Pages are separated (and terminated) by form feeds.
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_owned).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}

#[track_caller]
fn assert_contains(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            text.contains(needle),
            "expected {needle:?} in PDF text:\n{text}"
        );
    }
}

#[test]
fn german_b2c_invoice() {
    let pages = pdf_pages(&render(&fixture("de_b2c.json"), "inv_de"), "de_b2c");
    assert_eq!(pages.len(), 1, "one page expected");
    let text = &pages[0];
    assert_contains(
        text,
        &[
            // title, number, dates
            "Rechnung RE-2026-00001",
            "Rechnungsnummer",
            "20.11.2026",
            "04.12.2026",
            "01.11.2026 – 30.11.2026",
            "cus_42",
            // seller: sender line, letterhead, legal data
            "Yogastudio Sonnenschein GmbH · Lindenallee 12 · 10405 Berlin",
            "Yogastudio Sonnenschein GmbH",
            "Lindenallee 12",
            "DE123456789",
            "27/123/45678",
            "Amtsgericht Berlin-Charlottenburg",
            "HRB 123456 B",
            "Geschäftsführerin: Anna Beispiel",
            // buyer address (umlauts, ß and other Latin letters)
            "Jürgen Größmann-Žáček",
            "Hauptstraße 5",
            "10115 Berlin",
            // lines
            "Yoga Basics, 10er-Karte",
            "Leistungsdatum: 01.11.2026",
            "Yogamatte „Öko“ (Naturkautschuk)",
            "1,5 Std.",
            "18,69 €",
            // VAT breakdown and totals
            "Umsatzsteuer nach Steuersätzen",
            "259,00 €",
            "49,21 €",
            "1,31 €",
            "277,69 €",
            "50,52 €",
            "328,21 €",
            "Zu zahlen",
            // notes and payment
            "Vielen Dank für Ihre Buchung!",
            "Zahlbar bis 04.12.2026 ohne Abzug.",
            "DE02 1203 0000 0000 2020 51",
            "BYLADEM1001",
            "Verwendungszweck",
            "Seite 1 von 1",
        ],
    );
    // The buyer reference is null: neither its label nor a placeholder.
    assert!(!text.contains("Ihre Referenz"), "{text}");
}

#[test]
fn english_b2b_reverse_charge_invoice() {
    let pages = pdf_pages(
        &render(&fixture("en_b2b_reverse_charge.json"), "inv_en"),
        "en_b2b",
    );
    assert_eq!(pages.len(), 1, "one page expected");
    let text = &pages[0];
    assert_contains(
        text,
        &[
            "Invoice INV-2026-00077",
            "Your reference",
            "PO-7781",
            "Sonnenschein Software GmbH",
            "Łódź Widgets Sp. z o.o.",
            "attn. Paweł Wróbel",
            "ul. Piotrkowska 104",
            "90-001 Łódź",
            "Poland",
            "Customer VAT ID",
            "PL5260250274",
            "Software licence, Team plan (12 seats)",
            "12 seats",
            "€540.00",
            "Reverse charge (0 %)",
            "€1,140.00",
            "€0.00",
            "Amount due",
            "Steuerschuldnerschaft des Leistungsempfängers",
            "Payment reference",
            "Page 1 of 1",
        ],
    );
}

#[test]
fn long_invoice_breaks_across_pages() {
    let view = fixture("de_multipage.json");
    let line_count = view["lines"].as_array().unwrap().len();
    let pages = pdf_pages(&render(&view, "inv_multi"), "de_multipage");
    let total = pages.len();
    assert!(
        total >= 3,
        "{line_count} lines should need at least 3 pages, got {total}"
    );

    for (i, page) in pages.iter().enumerate() {
        let n = i + 1;
        // The table header repeats on every page.
        assert_contains(
            page,
            &["Pos.", "Beschreibung", "Menge", "Einzelpreis", "Netto"],
        );
        assert_contains(page, &[&format!("Seite {n} von {total}")]);
        // The legal footer is on every page.
        assert_contains(page, &["Amtsgericht Berlin-Charlottenburg", "DE123456789"]);
        // Only the first page has the address window; the others say they continue.
        let sender_line = "Yogastudio Sonnenschein GmbH · Lindenallee 12 · 10405 Berlin";
        if n == 1 {
            assert_contains(page, &[sender_line, "Jürgen Größmann-Žáček"]);
        } else {
            assert!(!page.contains(sender_line), "address window on page {n}");
            assert_contains(page, &["Rechnung RE-2026-00999 · Fortsetzung"]);
        }
    }

    // Every line is printed once (no row is lost or duplicated at a break).
    let all = pages.concat();
    for i in 1..=line_count {
        let needle = format!("Kursstunde Nr. {i}: Vinyasa Flow");
        assert_eq!(all.matches(&needle).count(), 1, "{needle}");
    }
    // Totals come at the end.
    let last = pages.last().unwrap();
    assert_contains(
        last,
        &[
            "2.198,80 €",
            "417,77 €",
            "2.616,57 €",
            "Bereits gezahlt",
            "100,00 €",
        ],
    );
    assert_contains(last, &["2.516,57 €", "Leistungszeitraum November 2026."]);
}

#[test]
fn customer_text_is_printed_literally() {
    let nasty = [
        r#"#read("/etc/passwd")"#,
        "#set page(width: 1cm)",
        r"] $x^2$ \ <label> @ref",
        "*bold* _x_",
        "// comment",
        "/* c */",
        r#"#{ panic("boom") }"#,
        "```raw``` = Heading",
    ];
    let mut view = fixture("de_b2c.json");
    view["buyer"]["address_lines"] = json!([nasty[0], nasty[1], nasty[2]]);
    view["lines"][0]["description"] = json!(format!("{} {}", nasty[3], nasty[4]));
    view["lines"][1]["description"] = json!(nasty[5]);
    view["notes"] = json!([nasty[6], nasty[7], r#"#import "@preview/cetz:0.3.0""#]);
    view["buyer_reference"] = json!("#read(\"/data.json\")");

    let pages = pdf_pages(&render(&view, "inv_nasty"), "nasty");
    assert_eq!(pages.len(), 1);
    let text = &pages[0];
    assert_contains(text, &nasty);
    assert_contains(
        text,
        &["#read(\"/data.json\")", "#import \"@preview/cetz:0.3.0\""],
    );
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("root:")),
        "file contents leaked:\n{text}"
    );
    // `#set page(width: 1cm)` did not take effect: still A4 with all content.
    assert_contains(text, &["Seite 1 von 1", "328,21 €"]);
}

#[test]
fn characters_without_a_glyph_do_not_break_the_pdf() {
    // PDF/A forbids missing glyphs: emoji and scripts we ship no font for are replaced for
    // display, everything else is printed as typed.
    let mut view = fixture("de_b2c.json");
    view["buyer"]["address_lines"] =
        json!(["Zoë Łukasiewicz 🙏", "Ελένη Παπαδοπούλου", "東京 Straße 1"]);
    view["notes"] = json!(["Namasté 🧘‍♀️"]);
    view["totals"]["rounding"] = json!("0,01 €");
    view["labels"]["rounding"] = json!("Rundung");
    let pages = pdf_pages(&render(&view, "inv_glyphs"), "glyphs");
    let text = &pages[0];
    assert_contains(
        text,
        &[
            "Zoë Łukasiewicz",
            "Namasté",
            "Straße 1",
            "Rundung",
            "0,01 €",
        ],
    );
    assert!(
        !text.contains('🙏'),
        "an emoji cannot be in the PDF text:\n{text}"
    );
}

#[test]
fn combining_marks_from_another_font_do_not_break_the_pdf() {
    // Found by the property test below: each character has a glyph in some embedded font, but
    // no single font has the whole cluster, and typst shapes a cluster with one font.
    let mut view = fixture("de_b2c.json");
    view["notes"] =
        json!(["?\u{1ac2} and \"\u{20d7} and \u{72b}\u{ec9} and \u{a72f} stay printable"]);
    let pages = pdf_pages(&render(&view, "inv_clusters"), "clusters");
    assert_contains(&pages[0], &["stay printable"]);
}

/// Replaces every string in `value` (labels, dates, amounts, names...) with generated text.
fn scramble(value: &mut Value, texts: &mut impl Iterator<Item = String>) {
    match value {
        Value::String(s) => *s = texts.next().unwrap_or_default(),
        Value::Array(items) => items.iter_mut().for_each(|v| scramble(v, texts)),
        Value::Object(map) => map.values_mut().for_each(|v| scramble(v, texts)),
        _ => {}
    }
}

proptest::proptest! {
    // Each render takes a while in a debug build: few cases, but every field of the view.
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 6, ..Default::default() })]

    /// Any text in any field renders (characters without a glyph are replaced, markup stays
    /// text); nothing panics, nothing becomes template code.
    #[test]
    fn any_text_in_any_field_renders(texts in proptest::collection::vec("\\PC{0,60}|[\\u{0300}-\\u{036f}#$*_\\\\\\[\\]{}<>@=]{0,30}", 200)) {
        let mut view = fixture("de_b2c.json");
        let lang = view["lang"].clone();
        let dates = (view["issue_date_iso"].clone(), view["kind"].clone());
        let number = view["number"].clone();
        let mut texts = texts.into_iter().cycle();
        scramble(&mut view, &mut texts);
        // Keep the few machine-read keys valid so the text is what varies.
        view["lang"] = lang;
        view["issue_date_iso"] = dates.0;
        view["kind"] = dates.1;
        // The contract refuses an empty number; a document number is never customer text.
        view["number"] = number;
        let pdf = render(&view, "inv_scrambled");
        proptest::prop_assert!(pdf.starts_with(b"%PDF-"));
    }
}

#[test]
fn output_is_deterministic() {
    let view = serde_json::to_vec(&fixture("de_b2c.json")).unwrap();
    let first = renderer().render_pdf(&view, "inv_det").unwrap();

    // Same bytes from a second, concurrent render in other threads and
    // from a fresh renderer.
    let shared = Arc::new(Renderer::new().unwrap());
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let renderer = Arc::clone(&shared);
            let view = view.clone();
            std::thread::spawn(move || renderer.render_pdf(&view, "inv_det").unwrap())
        })
        .collect();
    for thread in threads {
        assert!(
            thread.join().unwrap() == first,
            "output differs between renders"
        );
    }

    // The identifier goes into the PDF's document id.
    let other = renderer().render_pdf(&view, "inv_other").unwrap();
    assert!(other != first, "ident does not affect the PDF");
}

#[test]
fn optional_parts_may_be_missing() {
    let mut view = fixture("de_b2c.json");
    for key in [
        "due_date",
        "service_period",
        "customer_number",
        "buyer_reference",
        "payment",
    ] {
        view[key] = Value::Null;
    }
    for key in [
        "phone",
        "website",
        "vat_id",
        "register",
        "managing_directors",
        "bank",
    ] {
        view["seller"][key] = Value::Null;
    }
    for line in view["lines"].as_array_mut().unwrap() {
        line["service_date"] = Value::Null;
    }
    view["vat_breakdown"] = json!([]);
    view["notes"] = json!([]);
    view.as_object_mut().unwrap().remove("issue_date_iso");
    view["labels"]
        .as_object_mut()
        .unwrap()
        .insert("prepaid".into(), json!("Anzahlung"));
    view["totals"]["prepaid"] = json!("50,00 €");

    let pages = pdf_pages(&render(&view, "inv_min"), "minimal");
    let text = &pages[0];
    assert_contains(
        text,
        &[
            "Rechnung RE-2026-00001",
            "27/123/45678",
            "Anzahlung",
            "50,00 €",
        ],
    );
    for absent in [
        "IBAN",
        "Fällig am",
        "Leistungsdatum",
        "Hinweise",
        "Zahlung",
        "Steuersätzen",
    ] {
        assert!(!text.contains(absent), "{absent:?} printed:\n{text}");
    }
}

#[track_caller]
fn assert_invalid(view: &[u8], expected: &str) {
    match renderer().render_pdf(view, "inv_bad") {
        Err(RenderError::InvalidData(message)) => {
            assert!(
                message.contains(expected),
                "{message:?} should mention {expected:?}"
            )
        }
        Err(other) => panic!("expected InvalidData, got {other:?}"),
        Ok(_) => panic!("invalid view rendered"),
    }
}

#[test]
fn invalid_views_are_errors() {
    let base = fixture("de_b2c.json");

    let mut view = base.clone();
    view.as_object_mut().unwrap().remove("number");
    assert_invalid(&serde_json::to_vec(&view).unwrap(), "number");

    let mut view = base.clone();
    view["seller"]
        .as_object_mut()
        .unwrap()
        .remove("address_lines");
    assert_invalid(&serde_json::to_vec(&view).unwrap(), "seller");

    // A nullable key must still be present.
    let mut view = base.clone();
    view["buyer"].as_object_mut().unwrap().remove("vat_id");
    assert_invalid(&serde_json::to_vec(&view).unwrap(), "buyer");

    let mut view = base.clone();
    view["lines"][1]["quantity"] = json!(2);
    assert_invalid(&serde_json::to_vec(&view).unwrap(), "lines[1].quantity");

    let mut view = base.clone();
    view["labels"].as_object_mut().unwrap().remove("amount_due");
    assert_invalid(&serde_json::to_vec(&view).unwrap(), "amount_due");

    let mut view = base.clone();
    view["lang"] = json!("de\"); #read(\"x");
    assert_invalid(&serde_json::to_vec(&view).unwrap(), "lang");

    let mut view = base;
    view["issue_date_iso"] = json!("20.11.2026");
    assert_invalid(&serde_json::to_vec(&view).unwrap(), "issue_date_iso");

    assert_invalid(b"{not json", "");
    assert_invalid(b"[]", "");
}

#[test]
fn errors_are_displayable() {
    let err = renderer().render_pdf(b"{}", "x").unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with("invalid document view:"), "{message}");
}
